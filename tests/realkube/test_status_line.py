"""`b2tui status --line` on the kube store: the line of a run another host drives, from
one request to the real API server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.realkube.attach import start_holding_driver, two_kubeconfigs
from tests.realkube.cluster import RealKube

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_line_of_a_run_in_the_cluster_takes_one_request(
    realkube: RealKube, kube_ns: str, tmp_path: Path, procs: list
) -> None:
    a, b = two_kubeconfigs(realkube, kube_ns, tmp_path)
    start_holding_driver(realkube, kube_ns, b, tmp_path / "driver.log", procs)
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text(
        f'[service]\nname = "b2connect"\n[store]\nbackend = "kube"\nnamespace = "{kube_ns}"\n'
        '[environments.production]\nnamespace = "p"\n'
    )
    mark = realkube.audit_mark()
    res = subprocess.run(
        [sys.executable, "-m", "b2tui", "status", "--line", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "KUBECONFIG": str(a)},
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("b2connect ▶ PRODUCTION "), res.stdout
    assert "%" in res.stdout
    requests = [r for r in realkube.audit("tester", since=mark) if r.stage == "ResponseComplete"]
    assert [(r.verb, r.resource) for r in requests] == [("list", "configmaps")], requests

    def status(kubeconfig: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "b2tui", "status", "--line", "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        )

    # The same line with TLS verification off in the kubeconfig.
    insecure = realkube.write_kubeconfig(
        tmp_path / "insecure", user="tester", namespace=kube_ns, insecure=True
    )
    again = status(insecure)
    assert again.returncode == 0 and again.stdout.split(" · ")[:2] == res.stdout.split(" · ")[:2]
    # A user RBAC does not let list ConfigMaps: one line naming the refusal, exit 1.
    refused = status(realkube.write_kubeconfig(tmp_path / "nobody", user="nobody"))
    assert refused.returncode == 1 and refused.stdout == ""
    assert len(refused.stderr.splitlines()) == 1 and "403" in refused.stderr, refused.stderr
    assert realkube.tokens["nobody"] not in refused.stderr


def test_replay_of_a_run_on_the_real_control_plane_ends_on_the_live_screen(
    realkube: RealKube, kube_ns: str, tmp_path: Path, procs: list
) -> None:
    """A run driven on the real API server (kube store), rolled back by a key in an
    attached room; its replay from the cluster's journal ends on that room's screen."""
    import asyncio
    import re

    from b2tui.adapters.kube.client import connect
    from b2tui.adapters.kube_store import KubeStore
    from b2tui.domain.view import RunView, apply
    from b2tui.engine.replay import Replay
    from b2tui.ui.app import make_app
    from b2tui.ui.replay import make_replay_app
    from tests.realkube.attach import attached, store_settings, until
    from tests.ui.test_replay import screen_text

    a, b = two_kubeconfigs(realkube, kube_ns, tmp_path)
    run_id = start_holding_driver(realkube, kube_ns, b, tmp_path / "driver.log", procs)
    session = attached(a, kube_ns, run_id)
    settings = store_settings(kube_ns)
    live = make_app(settings, session, clock=session.clock, runner=session.follow, user="tester")
    shown: list[list[str]] = []

    async def drive() -> None:
        async with live.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: session.view.canary_percent > 0, "the canary", 60)
            await pilot.press("R")
            await until(pilot, lambda: session.view.finished, "the run's end", 180)
            # The run's record may say it ended before the attached room has the
            # journal's last events (the watch pushes objects in any order): wait until
            # the room's view is the one the store's events make.
            stored = KubeStore(connect(str(b), None), kube_ns)

            def store_view() -> RunView:
                final = RunView()
                for _, e in stored.events(run_id):
                    final = apply(final, e)
                return final

            try:
                await until(
                    pilot,
                    lambda: session.view == store_view(),
                    "every stored event in the attached room",
                    30,
                )
            finally:
                stored.close()
            await pilot.pause(0.2)
            shown.append(screen_text(live))

    asyncio.run(drive())
    store = KubeStore(connect(str(b), None), kube_ns)
    replay = Replay(run_id, [e for _, e in store.events(run_id)])
    store.close()
    app = make_replay_app(settings, replay)

    async def replayed() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("end")
            await pilot.pause()
            shown.append(screen_text(app))

    asyncio.run(replayed())
    # Ages in the panels' borders follow each room's clock: compared as "age".
    ages = re.compile(r"(<?\d+[smh](\d+[sm])? ago|just now)")
    live_screen, replay_screen = ([ages.sub("age", line) for line in s[1:-1]] for s in shown)
    assert replay.view.outcome is not None and replay.view.outcome.value == "rolled_back"
    assert replay_screen == live_screen
    assert any("ROLLBACK (tester)" in line for line in replay_screen)
