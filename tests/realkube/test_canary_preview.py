"""The canary's smoke checks before its first weight, on the real control plane.

``canary_preview`` brings the canary up with no weight and makes it reachable: an NGINX
canary Ingress carrying ``canary-by-header`` (and no weight yet), an HTTPRoute header-match
rule in front of the weighted one (Gateway API's CRD, ``manifests/httproute-crd.yaml``),
or, with ``traffic = "replicas"``, a preview Service on the canary's pods. The checks reach
the canary's "pod" (an HTTP server in a network namespace, ``tests/support/netns.py``)
through the API server's service proxy; the test writes the Endpoints (the test cluster's
pods have no Node, so the endpoints controller cannot). ``withdraw_canary`` takes it all
away again, stable never having changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from b2tui.adapters.kube import KubeCluster
from b2tui.config import HttpCheck
from b2tui.domain.phases import Traffic
from b2tui.ports import StepFailed, Target
from tests.realkube.cluster import RealKube
from tests.realkube.waits import settle
from tests.support.netns import PodServer, pod_server

pytestmark = pytest.mark.integration

OLD = "registry.local/web:prod-0000000"
NEW = "registry.local/web:prod-3333333"
CANARY = "nginx.ingress.kubernetes.io/canary"
WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
BY_HEADER = "nginx.ingress.kubernetes.io/canary-by-header"
BY_VALUE = "nginx.ingress.kubernetes.io/canary-by-header-value"
ROUTE = "gateway.networking.k8s.io/v1"
CHECK = HttpCheck(url="https://shop.b2connect.local/healthz", body_contains="ok", retries=0)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PodServer]:
    with pod_server(tmp_path / "pod") as s:
        yield s


@pytest.fixture
def kube(realkube: RealKube, kube_ns: str, tmp_path: Path) -> Iterator[KubeCluster]:
    cfg = realkube.write_kubeconfig(tmp_path / "kubeconfig", user="tester", namespace=kube_ns)
    k = KubeCluster(str(cfg), watch_backoff_cap=0.5, watch_timeout=2)
    yield k
    k.close()


def endpoints(kube: RealKube, ns: str, service: str, server: PodServer) -> dict[str, Any]:
    """The Endpoints of ``service``: the canary's pods, all at the test's server."""
    pods = kube.list("v1", "Pod", ns, "app=web,track=canary")
    refs = [
        {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"]}
        for p in pods
        if (p.get("status") or {}).get("podIP") == server.ip
    ]
    assert refs, f"no canary pod at {server.ip} in {ns}"
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": service, "namespace": ns},
        "subsets": [
            {
                "addresses": [{"ip": server.ip, "targetRef": r} for r in refs],
                "ports": [{"name": "http", "port": server.port, "protocol": "TCP"}],
            }
        ],
    }


def stable(kube: RealKube, ns: str) -> tuple[str, int]:
    d = kube.deployment(ns, "web")
    return d["spec"]["template"]["spec"]["containers"][0]["image"], int(d["spec"]["replicas"])


def replicas(kube: RealKube, ns: str, name: str) -> int:
    return int(kube.deployment(ns, name)["spec"]["replicas"])


async def up(realkube: RealKube, kube: KubeCluster, env: Target, ip: str) -> str:
    """The canary up for its checks (its pods at ``ip``), rolled out; the proxy URL."""
    realkube.pod_ip(env.namespace, {"app": "web", "track": "canary"}, ip)
    url = await kube.canary_preview(env, NEW, 5)
    await settle(kube, env, "canary")
    return url


async def test_nginx_routes_the_header_to_the_canary_before_any_weight(
    realkube: RealKube, kube: KubeCluster, prod: Target, server: PodServer
) -> None:
    ns = prod.namespace
    env = replace(prod, traffic=Traffic.NGINX, ingress="web", canary_header="X-Canary")
    await settle(kube, env)
    before = stable(realkube, ns)

    url = await up(realkube, kube, env, server.ip)
    assert url.endswith(f"/api/v1/namespaces/{ns}/services/web-canary:http/proxy")
    ing = realkube.get("networking.k8s.io/v1", "Ingress", ns, "web-canary")
    assert ing is not None
    notes = ing["metadata"]["annotations"]
    assert (notes[CANARY], notes[BY_HEADER], notes[BY_VALUE]) == ("true", "X-Canary", "always")
    assert WEIGHT not in notes  # no user reaches it yet
    assert (await kube.traffic(env)).achieved_percent == 0.0
    assert replicas(realkube, ns, "web-canary") == 1
    assert stable(realkube, ns) == before

    realkube.apply(endpoints(realkube, ns, "web-canary", server))
    ok = await kube.preview_check(env, replace(CHECK, headers={"X-Canary": "always"}))
    assert ok.passed, ok.detail
    assert server.requests()[-1]["path"] == "/healthz"
    assert server.requests()[-1]["headers"]["X-Canary"] == "always"
    server.answer(500, "boom")
    bad = await kube.preview_check(env, CHECK)
    assert not bad.passed
    assert bad.detail == "expected 200, got 500 (GET web-canary/healthz (service proxy))"

    # The first weight keeps the header route; a withdrawal removes both.
    await kube.set_canary(env, NEW, 5)
    ing = realkube.get("networking.k8s.io/v1", "Ingress", ns, "web-canary")
    assert ing is not None
    notes = ing["metadata"]["annotations"]
    assert (notes[WEIGHT], notes[BY_HEADER]) == ("5", "X-Canary")
    assert await kube.withdraw_canary(env)
    ing = realkube.get("networking.k8s.io/v1", "Ingress", ns, "web-canary")
    assert ing is not None
    notes = ing["metadata"]["annotations"]
    assert notes[WEIGHT] == "0" and BY_HEADER not in notes and BY_VALUE not in notes
    assert replicas(realkube, ns, "web-canary") == 0
    assert stable(realkube, ns) == before
    assert not await kube.withdraw_canary(env)  # idempotent


HTTPROUTE = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: public}]
  hostnames: [shop.b2connect.local]
  rules:
    - matches: [{path: {type: PathPrefix, value: /api}}]
      backendRefs: [{name: web, port: 80}]
"""


async def test_gateway_puts_a_header_match_rule_in_front_before_any_weight(
    realkube: RealKube,
    kube: KubeCluster,
    prod: Target,
    server: PodServer,
    httproute_crd: None,
) -> None:
    ns = prod.namespace
    realkube.apply_yaml(HTTPROUTE, namespace=ns)
    env = replace(
        prod,
        traffic=Traffic.GATEWAY,
        route="web",
        canary_header="x-b2tui-canary",
        canary_header_value="smoke",
    )
    await settle(kube, env)
    before = stable(realkube, ns)

    await up(realkube, kube, env, server.ip)
    route = realkube.get(ROUTE, "HTTPRoute", ns, "web")
    assert route is not None
    twin, weighted = route["spec"]["rules"]
    assert twin["matches"] == [
        {
            "path": {"type": "PathPrefix", "value": "/api"},
            "headers": [{"type": "Exact", "name": "x-b2tui-canary", "value": "smoke"}],
        }
    ]
    assert [(r["name"], r["port"]) for r in twin["backendRefs"]] == [("web-canary", 80)]
    assert [r["name"] for r in weighted["backendRefs"]] == ["web"]
    assert (await kube.traffic(env)).achieved_percent == 0.0
    assert stable(realkube, ns) == before
    # A second call (a resumed run) adds no second rule.
    await kube.canary_preview(env, NEW, 5)
    route = realkube.get(ROUTE, "HTTPRoute", ns, "web")
    assert route is not None and len(route["spec"]["rules"]) == 2

    realkube.apply(endpoints(realkube, ns, "web-canary", server))
    ok = await kube.preview_check(env, CHECK)
    assert ok.passed, ok.detail

    # Weights go on the weighted rule, the header rule stays; the reset removes it.
    await kube.set_canary(env, NEW, 20)
    route = realkube.get(ROUTE, "HTTPRoute", ns, "web")
    assert route is not None
    twin, weighted = route["spec"]["rules"]
    assert [r["name"] for r in twin["backendRefs"]] == ["web-canary"]
    assert [(r["name"], r["weight"]) for r in weighted["backendRefs"]] == [
        ("web", 80),
        ("web-canary", 20),
    ]
    assert (await kube.traffic(env)).achieved_percent == 20.0
    assert await kube.withdraw_canary(env)
    route = realkube.get(ROUTE, "HTTPRoute", ns, "web")
    assert route is not None
    assert [
        [(r["name"], r["weight"]) for r in x["backendRefs"]] for x in route["spec"]["rules"]
    ] == [[("web", 100), ("web-canary", 0)]]
    assert replicas(realkube, ns, "web-canary") == 0
    assert stable(realkube, ns) == before


async def test_replicas_canary_is_checked_through_the_preview_service(
    realkube: RealKube, kube: KubeCluster, prod: Target, server: PodServer
) -> None:
    ns = prod.namespace
    env = replace(prod, preview_service="web-preview")
    await settle(kube, env)
    before = stable(realkube, ns)

    url = await up(realkube, kube, env, server.ip)
    assert url.endswith(f"/api/v1/namespaces/{ns}/services/web-preview:http/proxy")
    svc = realkube.get("v1", "Service", ns, "web-preview")
    assert svc is not None and svc["spec"]["selector"] == {"app": "web", "track": "canary"}
    live = realkube.get("v1", "Service", ns, "web")
    assert live is not None and live["spec"]["selector"] == {"app": "web"}
    assert stable(realkube, ns) == before  # stable is scaled down only by the first weight

    realkube.apply(endpoints(realkube, ns, "web-preview", server))
    ok = await kube.preview_check(env, CHECK)
    assert ok.passed, ok.detail
    server.answer(503, "starting")
    bad = await kube.preview_check(env, CHECK)
    assert bad.detail == "expected 200, got 503 (GET web-preview/healthz (service proxy))"

    assert await kube.withdraw_canary(env)
    assert replicas(realkube, ns, "web-canary") == 0
    assert stable(realkube, ns) == before


async def test_a_header_on_the_replicas_router_is_refused_before_anything_changes(
    realkube: RealKube, kube: KubeCluster, prod: Target
) -> None:
    env = replace(prod, canary_header="X-Canary")
    problems = await kube.check_target(env)
    assert problems == [
        "environments.production: canary_header needs a router that routes by header, and"
        ' traffic = "replicas" cannot: use traffic = "nginx" or "gateway", or drop'
        " canary_header and name a preview_service (the checks then reach the canary's pods"
        " through it)"
    ]
    with pytest.raises(StepFailed) as err:
        await kube.canary_preview(env, NEW, 5)
    assert str(err.value) == problems[0]
    assert realkube.get("apps/v1", "Deployment", prod.namespace, "web-canary") is None
