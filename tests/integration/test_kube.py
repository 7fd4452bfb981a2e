"""KubeCluster against ``tests.kubeapi`` for what a real apiserver does not do on demand.

The adapter's behaviour on a real control plane (canary by replicas, ingress-nginx and
Gateway API weights, blue-green, promote, rollback and its idempotence, RBAC 403s,
server-side apply and dry runs, failed rollouts, the watch's resume and 410 relist) is
tested in ``tests/realkube/test_kube_adapter.py``. Here each test starts
``tests.kubeapi.KubeApiServer`` for faults: a stream dropped mid-watch, HTTP 500s, a
server slower than the request timeout, and pod logs (a real apiserver serves them only
from a kubelet, which the real control plane here does not have). ``b2tui status`` /
``rollback`` are tested here as well, through the official ``kubernetes`` client — no
mocks.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from b2tui.adapters.kube import KubeCluster, PodWatch
from b2tui.commands.kube_cmds import rollback_main, status_main
from b2tui.config import EnvironmentSettings, Settings
from b2tui.domain.phases import Traffic
from b2tui.ports import Revision, RollbackResult
from tests.kubeapi import KubeApiServer
from tests.support.services import free_port, wait_until

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures"
OLD = "registry.local/web:prod-0000000"
NEW = "registry.local/web:prod-1111111"

PROD = EnvironmentSettings(
    name="production",
    context="test",
    namespace="prod",
    deployment="web",
    service="web",
    rollout_timeout=20.0,
)


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


def deploy_obj(api: KubeApiServer, ns: str, name: str) -> dict[str, Any]:
    obj = api.get_object(f"/apis/apps/v1/namespaces/{ns}/deployments/{name}")
    assert obj is not None, f"deployment {name} missing"
    return obj


def replicas(api: KubeApiServer, ns: str, name: str) -> int:
    return int(deploy_obj(api, ns, name)["spec"]["replicas"])


async def settle(kube: KubeCluster, env: EnvironmentSettings, track: str | None = None) -> None:
    """Wait for the rollout of ``track`` to complete (bounded)."""
    for _ in range(200):
        st = await kube.rollout(env, track)
        assert not st.failed, st.message
        if st.complete:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"rollout of {track or 'stable'} did not complete: {st.message}")


async def test_scan_logs_counts_patterns_in_new_pods(api: KubeApiServer, kube: KubeCluster) -> None:
    seed(api, "production.yaml")
    api.set_pod_log(
        "prod-1111111",
        "boot\nSystem.Exception: boom\ndatabase connection timeout\nException again\n",
    )
    await kube.set_canary(PROD, NEW, 50)
    await settle(kube, PROD, "canary")
    counts = await kube.scan_logs(
        PROD, ("(?i)exception", "(?i)database .* (error|timeout)", "(?i)security"), 300
    )
    # two canary pods, each with two exception lines and one database line
    assert counts == {"(?i)exception": 4, "(?i)database .* (error|timeout)": 2, "(?i)security": 0}
    logs = [p for _, p in api.requests if p.split("?")[0].endswith("/log")]
    assert logs and all("sinceSeconds=300" in p and "tailLines=2000" in p for p in logs)


# --- the pod watch -----------------------------------------------------------------------


async def live_watch(api: KubeApiServer, kube: KubeCluster) -> PodWatch:
    seed(api, "production.yaml")
    await settle(kube, PROD)
    w = await asyncio.to_thread(kube.watch, PROD)
    wait_until(lambda: w.live and len(w.snapshot()) == 4, 10, "the watch cache to fill")
    wait_until(lambda: w.streaming, 10, "the watch stream to open")
    return w


def cache_follows(api: KubeApiServer, w: PodWatch, n: int) -> bool:
    names = {p["metadata"]["name"] for p in w.snapshot()}
    server = {p["metadata"]["name"] for p in api.list_objects("Pod", "prod")}
    return w.live and len(names) == n and names == server


def scale(api: KubeApiServer, n: int) -> None:
    d = deploy_obj(api, "prod", "web")
    d["spec"]["replicas"] = n
    d.pop("status", None)
    api.apply_yaml(json.dumps(d))


async def test_watch_resumes_after_a_dropped_stream(api: KubeApiServer, kube: KubeCluster) -> None:
    w = await live_watch(api, kube)
    api.requests.clear()
    api.drop_watches()
    scale(api, 6)
    wait_until(lambda: cache_follows(api, w, 6), 10, "the cache to see the new pods")
    assert w.resumes >= 1 and w.relists == 0
    resumed = [p for m, p in api.requests if "watch=true" in p]
    assert resumed and "resourceVersion=" in resumed[0] and "resourceVersion=0" not in resumed[0]
    # pods() serves the cache: no list request while the watch is live
    api.requests.clear()
    assert len(await kube.pods(PROD)) == 6
    assert not [p for m, p in api.requests if "/pods" in p and "watch" not in p]


async def test_watch_backs_off_on_server_errors(api: KubeApiServer, kube: KubeCluster) -> None:
    w = await live_watch(api, kube)
    api.fault("GET", r"/pods\?.*watch=true", status=500, times=3)
    api.drop_watches()
    wait_until(lambda: w.errors >= 3, 10, "three failed watch attempts")
    assert w.last_backoff > 0.2  # doubled at least once
    scale(api, 3)
    wait_until(lambda: cache_follows(api, w, 3), 10, "the cache to recover")


async def test_watch_survives_a_slow_server(api: KubeApiServer, kubeconfig: Path) -> None:
    seed(api, "production.yaml")
    kube = KubeCluster(str(kubeconfig), request_timeout=0.5, watch_backoff_cap=0.5)
    try:
        await settle(kube, PROD)
        # The watch's first lists answer after 1.5 s, past the request timeout: the first
        # attempt and urllib3's three retries time out, the retry after the backoff works.
        api.fault("GET", r"/namespaces/prod/pods\?(?!.*watch)", status=0, delay=1.5, times=4)
        w = await asyncio.to_thread(kube.watch, PROD)
        wait_until(lambda: w.errors >= 1, 10, "the slow list to time out")
        assert w.last_error is not None and "timed out" in w.last_error
        scale(api, 2)
        wait_until(lambda: cache_follows(api, w, 2), 15, "the cache to recover")
    finally:
        kube.close()


# --- rollback: the first write needs no read ---------------------------------------------


def rollback_requests(api: KubeApiServer, mark: int) -> list[tuple[str, str]]:
    """Requests since ``mark``, without the rollback thread's warm-up (``GET /version``)."""
    return [r for r in api.requests[mark:] if not r[1].startswith("/version")]


async def canary_at_5(api: KubeApiServer, kube: KubeCluster, env: EnvironmentSettings) -> Revision:
    """Production seeded, the canary set to 5 % by ``kube``; the known-good revision."""
    seed(api, "production.yaml")
    known_good = await kube.current_revision(env)
    await kube.set_canary(env, NEW, 5)
    return known_good


async def test_rollback_after_set_canary_writes_before_it_reads(
    api: KubeApiServer, kube: KubeCluster
) -> None:
    known_good = await canary_at_5(api, kube, PROD)
    assert replicas(api, "prod", "web-canary") == 1
    mark = len(api.requests)
    first = await kube.rollback(PROD, known_good)
    sent = rollback_requests(api, mark)
    # This process scaled the canary to 1: the first request takes it back to 0.
    assert sent[0] == ("PATCH", "/apis/apps/v1/namespaces/prod/deployments/web-canary/scale")
    assert first.changed and first.detail.startswith("canary out of traffic")
    assert replicas(api, "prod", "web-canary") == 0
    assert replicas(api, "prod", "web") == known_good.replicas
    # Idempotent: a second rollback has nothing prepared, reads, and changes nothing.
    mark = len(api.requests)
    again = await kube.rollback(PROD, known_good)
    assert rollback_requests(api, mark)[0][0] == "GET"
    assert not again.changed and again.detail.startswith("already on rev")


async def test_rollback_by_nginx_weight_writes_the_ingress_first(
    api: KubeApiServer, kube: KubeCluster
) -> None:
    env = replace(PROD, traffic=Traffic.NGINX, ingress="web")
    known_good = await canary_at_5(api, kube, env)
    mark = len(api.requests)
    result = await kube.rollback(env, known_good)
    sent = rollback_requests(api, mark)
    assert sent[0] == ("PATCH", "/apis/networking.k8s.io/v1/namespaces/prod/ingresses/web-canary")
    ing = api.get_object("/apis/networking.k8s.io/v1/namespaces/prod/ingresses/web-canary")
    assert ing is not None
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "0"
    assert replicas(api, "prod", "web-canary") == 0
    assert result == RollbackResult(True, "canary out of traffic")


async def test_prepared_rollback_write_is_refused_when_the_canary_changed(
    api: KubeApiServer, kube: KubeCluster, kubeconfig: Path
) -> None:
    known_good = await canary_at_5(api, kube, PROD)
    other = KubeCluster(str(kubeconfig))
    try:
        await other.set_canary(PROD, NEW, 50)  # another process moved the canary on
    finally:
        other.close()
    assert replicas(api, "prod", "web-canary") == 2
    mark = len(api.requests)
    result = await kube.rollback(PROD, known_good)
    methods = [m for m, _ in rollback_requests(api, mark)]
    # The patch tested for 1 replica and was refused; the rollback then read and wrote.
    assert methods[:3] == ["PATCH", "GET", "PATCH"]
    assert result.changed and result.detail.startswith("canary out of traffic")
    assert replicas(api, "prod", "web-canary") == 0
    assert replicas(api, "prod", "web") == known_good.replicas


# --- b2tui status / rollback -------------------------------------------------------------


def settings_for(env: EnvironmentSettings) -> Settings:
    return Settings(environments={"production": env})


def test_status_and_rollback_commands(
    api: KubeApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(api, "production.yaml")
    kube = KubeCluster(str(kubeconfig))
    try:
        known_good = asyncio.run(kube.current_revision(PROD))
        asyncio.run(kube.set_canary(PROD, NEW, 5))
        wait_until(lambda: replicas(api, "prod", "web") == 3, 5, "the canary split")

        out = io.StringIO()
        assert status_main(settings_for(PROD), "production", False, out, cluster=kube) == 0
        text = out.getvalue()
        assert "web-canary  canary" in text and NEW in text
        assert "traffic: 25% on the canary (1/4 replicas)" in text
        # The digest the pods run, from their imageID (the test server's: sha256 of the image).
        short = hashlib.sha256(OLD.encode()).hexdigest()[:12]
        assert f"rollback target (without a recorded run): web rev 1 ({OLD} sha256:{short})" in text

        out = io.StringIO()
        assert status_main(settings_for(PROD), "production", True, out, cluster=kube) == 0
        doc = json.loads(out.getvalue())
        assert [d["name"] for d in doc["deployments"]] == ["web", "web-canary"]
        assert doc["traffic"]["percent"] == 25.0 and len(doc["pods"]) >= 1

        out = io.StringIO()
        assert (
            rollback_main(settings_for(PROD), "production", known_good, False, out, cluster=kube)
            == 0
        )
        announce, done = out.getvalue().splitlines()
        assert announce == (
            f"production: rollback from web rev 1 ({OLD} sha256:{short}) to"
            f" {known_good.describe()}:"
            " the last known-good revision"
        )
        assert done.startswith("production: rolled back: canary out of traffic")
        out = io.StringIO()
        assert rollback_main(settings_for(PROD), "production", None, True, out, cluster=kube) == 0
        doc = json.loads(out.getvalue())
        assert doc["changed"] is False and doc["recorded_target"] is False
        assert replicas(api, "prod", "web-canary") == 0
    finally:
        kube.close()
    assert capsys.readouterr().err == ""


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
        assert (
            status_main(settings_for(PROD), "production", False, io.StringIO(), cluster=kube) == 1
        )
        assert (
            rollback_main(
                settings_for(PROD), "production", None, False, io.StringIO(), cluster=kube
            )
            == 1
        )
    finally:
        kube.close()
    lines = capsys.readouterr().err.splitlines()
    expected = (
        f"b2tui: production (test/prod): API server unreachable at"
        f" http://127.0.0.1:{port}: connection refused"
    )
    assert lines == [expected, expected]
