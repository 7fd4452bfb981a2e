"""``b2tui status`` and ``b2tui rollback`` as a user runs them, on the real control plane.

Each case is a real ``b2tui`` process with a production-only ``b2tui.toml`` (no staging:
the one-shot commands need only the environment they name) and a kubeconfig for the
session's ``realkube``. What the commands did is read back from the apiserver through
the test's own client, never from b2tui.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pwd
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from b2tui.adapters.kube import KubeCluster
from b2tui.adapters.store import Store
from b2tui.domain.phases import Strategy
from tests.realkube.cluster import RealKube
from tests.realkube.seed import FIXTURES, ROOT, production
from tests.support.services import free_port, wait_until

pytestmark = pytest.mark.integration

V1 = "registry.local/web:prod-0000000"
V2 = "registry.local/web:prod-2222222"


def running(image: str) -> str:
    """How b2tui names a serving revision's image: with the short digest its pods run (the
    fake kubelet's ``imageID``: sha256 of the reference)."""
    return f"{image} sha256:{hashlib.sha256(image.encode()).hexdigest()[:12]}"


def config(tmp_path: Path, ns: str) -> Path:
    path = tmp_path / "b2tui.toml"
    path.write_text(
        '[service]\nname = "web"\nimage = "registry.local/web"\n\n'
        f'[environments.production]\ncontext = "test"\nnamespace = "{ns}"\n'
        'deployment = "web"\nservice = "web"\n'
    )
    return path


def b2tui(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b2tui", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin", "B2TUI_USER": "ana"},
    )


def rolled_out(kube: RealKube, ns: str, image: str) -> bool:
    d = kube.deployment(ns, "web")
    st = d.get("status") or {}
    want = d["spec"]["replicas"]
    return (
        d["spec"]["template"]["spec"]["containers"][0]["image"] == image
        and st.get("observedGeneration", 0) >= d["metadata"]["generation"]
        and st.get("updatedReplicas") == want
        and st.get("availableReplicas") == want
        and st.get("replicas") == want
    )


def set_image(kube: RealKube, ns: str, image: str) -> None:
    """``kubectl set image deployment/web web=IMAGE``: a strategic merge patch."""
    path = kube.resource("apps/v1", "Deployment").path(ns, "web")
    body = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}}
    kube.request(
        "PATCH",
        path,
        content=json.dumps(body),
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    )


@pytest.fixture
def seeded(realkube: RealKube, kube_ns: str, tmp_path: Path) -> tuple[Path, Path]:
    """Production at :v1, rolled forward by hand to a bad :v2; (config, kubeconfig)."""
    realkube.apply_yaml((FIXTURES / "production.yaml").read_text(), namespace=kube_ns)
    wait_until(lambda: rolled_out(realkube, kube_ns, V1), 60, "web at v1")
    set_image(realkube, kube_ns, V2)
    wait_until(lambda: rolled_out(realkube, kube_ns, V2), 60, "web at v2")
    kc = realkube.write_kubeconfig(tmp_path / "kubeconfig", user="tester", namespace=kube_ns)
    return config(tmp_path, kube_ns), kc


def image(kube: RealKube, ns: str) -> str:
    return str(kube.deployment(ns, "web")["spec"]["template"]["spec"]["containers"][0]["image"])


def test_status_on_a_production_only_config(
    realkube: RealKube, kube_ns: str, seeded: tuple[Path, Path]
) -> None:
    cfg, kc = seeded
    res = b2tui(kc, "status", "--config", str(cfg), "--env", "production", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    pods = realkube.pods(kube_ns, "app=web")
    live = {p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")}
    assert {p["name"] for p in doc["pods"]} >= live and len(live) == 4
    assert [d["image"] for d in doc["deployments"] if d["name"] == "web"] == [V2]
    assert doc["rollback_target"]["image"] == V2
    text = b2tui(kc, "status", "--config", str(cfg), "--env", "production")
    assert text.returncode == 0 and text.stderr == ""
    row = next(line for line in text.stdout.splitlines() if line.startswith("web "))
    assert row.split() == ["web", "stable", "2", V2, "4/4"]


def test_rollback_twice_lands_on_the_previous_image_and_stays(
    realkube: RealKube, kube_ns: str, seeded: tuple[Path, Path], tmp_path: Path
) -> None:
    cfg, kc = seeded
    state = tmp_path / "state.db"
    argv = ["rollback", "--config", str(cfg), "--env", "production", "--state", str(state)]

    first = b2tui(kc, *argv)
    assert first.returncode == 0, first.stderr
    announce, done = first.stdout.splitlines()
    assert announce == (
        f"production: rollback from web rev 2 ({running(V2)}) to web rev 1 ({V1}):"
        " the previous revision (no b2tui run or rollback recorded a known-good one)"
    )
    assert done.startswith(f"production: rolled back: web back to {V1}")
    assert image(realkube, kube_ns) == V1
    wait_until(lambda: rolled_out(realkube, kube_ns, V1), 60, "web back at v1")

    # `kubectl rollout undo` twice flips back to :v2; b2tui stays on the target.
    second = b2tui(kc, *argv, "--json")
    assert second.returncode == 0, second.stderr
    doc = json.loads(second.stdout)
    assert (doc["source"], doc["changed"]) == ("recorded", False), doc
    assert doc["target"]["image"] == V1 and doc["detail"].startswith("already on rev 3")
    assert image(realkube, kube_ns) == V1

    store = Store(state)
    try:
        audit = [a for a in store.audit_log() if a.action == "rollback-cli"]
    finally:
        store.close()
    # The account of the real uid, not B2TUI_USER ("ana"): the OS vouches for it.
    me = pwd.getpwuid(os.getuid()).pw_name
    assert [a.user.split("@")[0] for a in audit] == [me, me]
    assert f"from web rev 2 ({running(V2)}) to web rev 1 ({V1})" in audit[0].detail
    assert all(a.wall_ts for a in audit)


def test_dry_run_changes_nothing(
    realkube: RealKube, kube_ns: str, seeded: tuple[Path, Path], tmp_path: Path
) -> None:
    cfg, kc = seeded
    before: dict[str, Any] = realkube.deployment(kube_ns, "web")
    state = tmp_path / "state.db"
    argv = ["rollback", "--config", str(cfg), "--env", "production", "--state", str(state)]
    res = b2tui(kc, *argv, "--dry-run")
    assert res.returncode == 0, res.stderr
    announce, done = res.stdout.splitlines()
    assert announce.startswith(
        f"production: rollback (dry run) from web rev 2 ({running(V2)}) to web rev 1"
    )
    assert done.startswith(f"production: dry run, nothing changed; would do: web back to {V1}")
    after = realkube.deployment(kube_ns, "web")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert image(realkube, kube_ns) == V2
    # Not a known-good for the next rollback: it still picks the previous revision.
    again = b2tui(kc, *argv, "--dry-run", "--json")
    assert json.loads(again.stdout)["source"] == "previous"


def test_a_user_without_rbac_reads_one_forbidden_line(
    realkube: RealKube, kube_ns: str, seeded: tuple[Path, Path], tmp_path: Path
) -> None:
    cfg, _ = seeded
    kc = realkube.write_kubeconfig(tmp_path / "nobody", user="nobody", namespace=kube_ns)
    for command in ("status", "rollback"):
        res = b2tui(kc, command, "--config", str(cfg), "--state", str(tmp_path / "s.db"))
        assert res.returncode == 1, res.stdout
        [line] = res.stderr.splitlines()
        assert line.startswith(f"b2tui: production (test/{kube_ns}): forbidden: cannot ")
        assert f"in namespace {kube_ns} (as user nobody)" in line
    assert image(realkube, kube_ns) == V2


def test_an_unreachable_server_is_one_line(
    realkube: RealKube, seeded: tuple[Path, Path], tmp_path: Path
) -> None:
    cfg, kc = seeded
    port = free_port()
    dead = tmp_path / "dead"
    dead.write_text(kc.read_text().replace(realkube.url, f"https://127.0.0.1:{port}"))
    for command in ("status", "rollback"):
        res = b2tui(dead, command, "--config", str(cfg), "--state", str(tmp_path / "s.db"))
        assert res.returncode == 1
        [line] = res.stderr.splitlines()
        assert line.endswith(
            f"API server unreachable at https://127.0.0.1:{port}: connection refused"
        )


def test_blue_green_rollback_returns_to_the_other_colour_while_it_is_scaled(
    realkube: RealKube, kube_ns: str, tmp_path: Path
) -> None:
    realkube.apply_yaml((FIXTURES / "bluegreen.yaml").read_text(), namespace=kube_ns)
    kc = realkube.write_kubeconfig(tmp_path / "kubeconfig", user="tester", namespace=kube_ns)
    env = replace(production(kube_ns), strategy=Strategy.BLUE_GREEN)
    kube = KubeCluster(str(kc))
    try:
        # What a blue-green run does up to the switch: green on :v2, the Service on green.
        assert asyncio.run(kube.stage_colour(env, V2)) == "green"
        asyncio.run(kube.switch_colour(env, "green"))
    finally:
        kube.close()
    cfg = config(tmp_path, kube_ns)
    cfg.write_text(cfg.read_text() + 'strategy = "blue-green"\n')
    argv = ["rollback", "--config", str(cfg), "--state", str(tmp_path / "state.db")]

    first = b2tui(kc, *argv)
    assert first.returncode == 0, first.stderr
    announce = first.stdout.splitlines()[0]
    assert announce.startswith("production: rollback from web-green green rev "), announce
    assert f"({running(V2)}) to web-blue blue rev 1 ({V1}): " in announce, announce
    assert announce.endswith(
        "the previous revision (no b2tui run or rollback recorded a known-good one)"
    )
    assert realkube.get("v1", "Service", kube_ns, "web")["spec"]["selector"]["color"] == "blue"

    second = json.loads(b2tui(kc, *argv, "--json").stdout)
    assert (second["source"], second["changed"]) == ("recorded", False), second
    assert realkube.get("v1", "Service", kube_ns, "web")["spec"]["selector"]["color"] == "blue"
