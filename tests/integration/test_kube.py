"""KubeCluster against ``tests.kubeapi`` for what the real control plane cannot serve.

Pod logs: a real apiserver serves them from a kubelet, and the real control plane here
(``tests/realkube``) has none. Everything else of the adapter is tested on the real
kube-apiserver: its behaviour in ``tests/realkube/test_kube_adapter.py``, and faults (HTTP
500s, a slow server, watch streams cut mid-way) through the fault-injecting proxy in
``tests/realkube/test_faults.py``. An unreachable server needs no server at all.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from b2tui.adapters.kube import KubeCluster
from b2tui.commands.kube_cmds import rollback_main, status_main
from b2tui.config import EnvironmentSettings
from b2tui.ports import Target
from tests.kubeapi import KubeApiServer
from tests.realkube.waits import settle
from tests.support.services import free_port

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures"
NEW = "registry.local/web:prod-1111111"

PROD = EnvironmentSettings(
    name="production",
    context="test",
    namespace="prod",
    deployment="web",
    service="web",
    rollout_timeout=20.0,
)
PROD_TARGET = Target.of(PROD)


@pytest.fixture
def api() -> Iterator[KubeApiServer]:
    with KubeApiServer(ready_delay=0.05) as server:
        yield server


@pytest.fixture
def kubeconfig(api: KubeApiServer, tmp_path: Path) -> Path:
    return api.write_kubeconfig(tmp_path / "kubeconfig", context="test")


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeCluster]:
    k = KubeCluster(str(kubeconfig), watch_backoff_cap=0.5)
    yield k
    k.close()


def seed(api: KubeApiServer, fixture: str) -> None:
    api.apply_yaml((FIXTURES / fixture).read_text())


async def test_scan_logs_counts_patterns_in_new_pods(api: KubeApiServer, kube: KubeCluster) -> None:
    seed(api, "production.yaml")
    api.set_pod_log(
        "prod-1111111",
        "boot\nSystem.Exception: boom\ndatabase connection timeout\nException again\n",
    )
    await kube.set_canary(PROD_TARGET, NEW, 50)
    await settle(kube, PROD_TARGET, "canary")
    counts = await kube.scan_logs(
        PROD_TARGET, ("(?i)exception", "(?i)database .* (error|timeout)", "(?i)security"), 300
    )
    # two canary pods, each with two exception lines and one database line
    assert counts == {"(?i)exception": 4, "(?i)database .* (error|timeout)": 2, "(?i)security": 0}
    logs = [p for _, p in api.requests if p.split("?")[0].endswith("/log")]
    assert logs and all("sinceSeconds=300" in p and "tailLines=2000" in p for p in logs)


# --- b2tui status / rollback -------------------------------------------------------------


def test_commands_against_an_unreachable_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "test", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    kube = KubeCluster(str(path), request_timeout=2.0)
    try:
        assert status_main(PROD_TARGET, False, io.StringIO(), cluster=kube) == 1
        assert rollback_main(PROD_TARGET, None, False, io.StringIO(), cluster=kube) == 1
    finally:
        kube.close()
    lines = capsys.readouterr().err.splitlines()
    expected = (
        f"b2tui: production (test/prod): API server unreachable at"
        f" http://127.0.0.1:{port}: connection refused"
    )
    assert lines == [expected, expected]
