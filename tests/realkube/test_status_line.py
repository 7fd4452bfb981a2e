"""`b2tui status --line` on the kube store: the line of a run another host drives, from
one request to the real API server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realkube.attach import start_holding_driver, two_kubeconfigs
from tests.realkube.cluster import RealKube

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(10)


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
