"""KubeCluster when the real apiserver misbehaves: faults injected by a proxy in front of it.

Each test gets its own namespace on the session's ``realkube`` and talks to it through
:class:`~tests.realkube.proxy.FaultProxy` (plain HTTP on loopback, forwarded over TLS to the
kube-apiserver as user ``tester``), which cuts watch streams, answers HTTP 500s and holds
requests past the client's timeout on demand, and records the requests it passed on.
Everything else — objects, controllers, revisions, resourceVersions — is the real server's.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from b2tui.adapters.kube import KubeCluster
from b2tui.commands.kube_cmds import rollback_main, status_main
from b2tui.config import Settings
from b2tui.domain.phases import Traffic
from b2tui.ports import RollbackResult, Target
from tests.realkube.cluster import RealKube
from tests.realkube.proxy import FaultProxy, fault_proxy
from tests.realkube.seed import production_settings
from tests.realkube.waits import cache_follows, live_watch, settle
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

OLD = "registry.local/web:prod-0000000"
NEW = "registry.local/web:prod-1111111"


@pytest.fixture
def proxy(realkube: RealKube) -> Iterator[FaultProxy]:
    with fault_proxy(realkube) as p:
        yield p


@pytest.fixture
def kubeconfig(proxy: FaultProxy, kube_ns: str, tmp_path: Path) -> Path:
    return proxy.write_kubeconfig(tmp_path / "kubeconfig", namespace=kube_ns)


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeCluster]:
    k = KubeCluster(str(kubeconfig), watch_backoff_cap=0.5)
    yield k
    k.close()


def replicas(realkube: RealKube, ns: str, name: str) -> int:
    return int(realkube.deployment(ns, name)["spec"]["replicas"])


# --- the pod watch -----------------------------------------------------------------------


async def test_watch_resumes_after_a_dropped_stream(
    realkube: RealKube, proxy: FaultProxy, kube: KubeCluster, prod: Target
) -> None:
    ns = prod.namespace
    w = await live_watch(kube, prod)
    mark = len(proxy.requests)
    proxy.drop_watches()
    wait_until(lambda: w.resumes >= 1, 20, "a resume after the cut")
    realkube.scale(ns, "web", 6)
    wait_until(lambda: cache_follows(realkube, w, ns, 6), 30, "the cache to see the new pods")
    assert w.relists == 0
    resumed = [p for m, p in proxy.requests[mark:] if "watch=true" in p]
    assert resumed and "resourceVersion=" in resumed[0] and "resourceVersion=0&" not in resumed[0]
    # pods() serves the cache: no list request while the watch is live
    mark = len(proxy.requests)
    assert len(await kube.pods(prod)) == 6
    assert not [p for m, p in proxy.requests[mark:] if "/pods" in p and "watch" not in p]


async def test_watch_backs_off_on_server_errors(
    realkube: RealKube, proxy: FaultProxy, kube: KubeCluster, prod: Target
) -> None:
    ns = prod.namespace
    w = await live_watch(kube, prod)
    proxy.fault("GET", r"/pods\?.*watch=true", status=500, times=3)
    proxy.drop_watches()
    wait_until(lambda: w.errors >= 3, 20, "three failed watch attempts")
    assert w.last_backoff > 0.2  # doubled at least once
    realkube.scale(ns, "web", 3)
    wait_until(lambda: cache_follows(realkube, w, ns, 3), 30, "the cache to recover")


async def test_watch_survives_a_slow_server(
    realkube: RealKube, proxy: FaultProxy, kubeconfig: Path, prod: Target
) -> None:
    ns = prod.namespace
    kube = KubeCluster(str(kubeconfig), request_timeout=0.5, watch_backoff_cap=0.5)
    try:
        await settle(kube, prod)
        # The watch's first lists answer after 1.5 s, past the request timeout: the first
        # attempt and urllib3's three retries time out, the retry after the backoff works.
        proxy.fault("GET", rf"/namespaces/{ns}/pods\?(?!.*watch)", status=0, delay=1.5, times=4)
        w = await asyncio.to_thread(kube.watch, prod)
        wait_until(lambda: w.errors >= 1, 20, "the slow list to time out")
        assert w.last_error is not None and "timed out" in w.last_error
        realkube.scale(ns, "web", 2)
        wait_until(lambda: cache_follows(realkube, w, ns, 2), 30, "the cache to recover")
    finally:
        kube.close()


# --- rollback: the first write needs no read ---------------------------------------------


def writes_and_reads(proxy: FaultProxy, mark: int) -> list[tuple[str, str]]:
    """Requests since ``mark``, without the rollback thread's warm-up (``GET /version``)."""
    return [r for r in proxy.requests[mark:] if not r[1].startswith("/version")]


async def test_rollback_by_nginx_weight_writes_the_ingress_first(
    realkube: RealKube, proxy: FaultProxy, kube: KubeCluster, prod: Target
) -> None:
    ns = prod.namespace
    env = replace(prod, traffic=Traffic.NGINX, ingress="web")
    await settle(kube, env)
    known_good = await kube.current_revision(env)
    await kube.set_canary(env, NEW, 5)
    mark = len(proxy.requests)
    result = await kube.rollback(env, known_good)
    sent = writes_and_reads(proxy, mark)
    assert sent[0] == ("PATCH", f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/web-canary")
    ing = realkube.get("networking.k8s.io/v1", "Ingress", ns, "web-canary")
    assert ing is not None
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "0"
    assert replicas(realkube, ns, "web-canary") == 0
    assert result == RollbackResult(True, "canary out of traffic")
    # Idempotent: a second rollback has nothing prepared, reads first, and changes nothing.
    mark = len(proxy.requests)
    again = await kube.rollback(env, known_good)
    assert writes_and_reads(proxy, mark)[0][0] == "GET"
    assert not again.changed and again.detail.startswith("already on rev")


# --- b2tui status / rollback, in process -------------------------------------------------


def test_status_and_rollback_commands(
    realkube: RealKube,
    prod: Target,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No fault here: the commands' functions on the real server, without the proxy."""
    ns = prod.namespace
    settings = Settings(environments={"production": production_settings(ns)})
    where = Target.of(settings.environment("production"))
    kubeconfig = realkube.write_kubeconfig(tmp_path / "kubeconfig", user="tester", namespace=ns)
    kube = KubeCluster(str(kubeconfig))
    try:
        asyncio.run(settle(kube, prod))
        known_good = asyncio.run(kube.current_revision(prod))
        asyncio.run(kube.set_canary(prod, NEW, 5))
        wait_until(lambda: replicas(realkube, ns, "web") == 3, 10, "the canary split")

        out = io.StringIO()
        assert status_main(where, False, out, cluster=kube) == 0
        text = out.getvalue()
        assert "web-canary  canary" in text and NEW in text
        assert "traffic: 25% on the canary (1/4 replicas)" in text
        # The digest its pods run, from their imageID (the fake kubelet's: sha256 of the image).
        short = hashlib.sha256(OLD.encode()).hexdigest()[:12]
        assert f"rollback target (without a recorded run): web rev 1 ({OLD} sha256:{short})" in text

        out = io.StringIO()
        assert status_main(where, True, out, cluster=kube) == 0
        doc = json.loads(out.getvalue())
        assert [d["name"] for d in doc["deployments"]] == ["web", "web-canary"]
        assert doc["traffic"]["percent"] == 25.0 and len(doc["pods"]) >= 1

        out = io.StringIO()
        assert rollback_main(where, known_good, False, out, cluster=kube) == 0
        announce, done = out.getvalue().splitlines()
        assert announce == (
            f"production: rollback from web rev 1 ({OLD} sha256:{short}) to"
            f" {known_good.describe()}: the last known-good revision"
        )
        assert done.startswith("production: rolled back: canary out of traffic")
        out = io.StringIO()
        assert rollback_main(where, None, True, out, cluster=kube) == 0
        doc = json.loads(out.getvalue())
        assert doc["changed"] is False and doc["recorded_target"] is False
        assert replicas(realkube, ns, "web-canary") == 0
    finally:
        kube.close()
    assert capsys.readouterr().err == ""
