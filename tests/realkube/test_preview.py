"""Blue-green preview on the real control plane: b2tui points a preview Service at the idle
colour and the smoke checks reach that colour's "pod" through the API server's service
proxy. The pod is an HTTP server in a network namespace of the test's
(``tests/support/netns.py``) behind an Endpoints object the test writes. The fake kubelet
gives the idle colour's pods the server's address (the proxy checks that an address names a
pod with that IP); the test cluster's pods are unbound (no Node), so the endpoints
controller cannot write Endpoints for them (their ``nodeName`` is empty) and the test's
object stays as written."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from b2tui.adapters.kube import KubeCluster
from b2tui.config import HttpCheck
from b2tui.domain.phases import Strategy
from b2tui.ports import StepFailed, Target
from tests.realkube.cluster import RealKube
from tests.realkube.seed import FIXTURES, production
from tests.support.netns import PodServer, pod_server

pytestmark = pytest.mark.integration

NEW = "registry.local/web:prod-2222222"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PodServer]:
    with pod_server(tmp_path) as s:
        yield s


@pytest.fixture
def bg(realkube: RealKube, kube_ns: str) -> Target:
    realkube.apply_yaml((FIXTURES / "bluegreen.yaml").read_text(), namespace=kube_ns)
    return replace(production(kube_ns), strategy=Strategy.BLUE_GREEN, preview_service="web-preview")


@pytest.fixture
def kube(realkube: RealKube, kube_ns: str, tmp_path: Path) -> Iterator[KubeCluster]:
    cfg = realkube.write_kubeconfig(tmp_path / "kubeconfig", user="tester", namespace=kube_ns)
    k = KubeCluster(str(cfg), watch_backoff_cap=0.5, watch_timeout=2)
    yield k
    k.close()


def pod_endpoints(
    kube: RealKube, ns: str, name: str, colour: str, server: PodServer
) -> dict[str, object]:
    """The Endpoints of Service ``name``: the ``colour`` pods, all at the test's server."""
    pods = kube.list("v1", "Pod", ns, f"app=web,color={colour}")
    assert pods, f"no {colour} pods in {ns}"
    refs = [
        {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"]}
        for p in pods
        if p.get("status", {}).get("podIP") == server.ip
    ]
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": ns},
        "subsets": [
            {
                "addresses": [{"ip": server.ip, "targetRef": r} for r in refs],
                "ports": [{"name": "http", "port": server.port, "protocol": "TCP"}],
            }
        ],
    }


def selector(kube: RealKube, ns: str, name: str) -> dict[str, str]:
    svc = kube.get("v1", "Service", ns, name)
    assert svc is not None
    return dict(svc["spec"]["selector"])


async def test_checks_reach_the_idle_colour_through_the_preview_service(
    realkube: RealKube, kube: KubeCluster, bg: Target, server: PodServer
) -> None:
    ns = bg.namespace
    realkube.pod_ip(ns, {"app": "web", "color": "green"}, server.ip)
    assert await kube.stage_colour(bg, NEW) == "green"
    for _ in range(600):
        if (await kube.rollout(bg, "green")).complete:
            break
        await asyncio.sleep(0.05)
    realkube.apply(pod_endpoints(realkube, ns, "web-preview", "green", server))

    url = await kube.preview(bg, "green")
    # Created from the live Service, on the idle colour; the live one did not move.
    assert url.endswith(f"/api/v1/namespaces/{ns}/services/web-preview:http/proxy")
    assert selector(realkube, ns, "web-preview") == {"app": "web", "color": "green"}
    assert selector(realkube, ns, "web") == {"app": "web", "color": "blue"}

    check = HttpCheck(url="https://shop.example/healthz", body_contains="ok", retries=0)
    ok = await kube.preview_check(bg, check)
    assert ok.passed, ok.detail
    assert ok.detail.startswith("200 in ")

    server.answer(500, "boom")
    bad = await kube.preview_check(bg, check)
    assert not bad.passed
    assert bad.detail == "expected 200, got 500 (GET web-preview/healthz (service proxy))"

    # A second preview (the next run, other colour) moves the same Service.
    await kube.preview(bg, "green")
    with pytest.raises(StepFailed, match="would select the live colour blue"):
        await kube.preview(bg, "blue")
    assert selector(realkube, ns, "web") == {"app": "web", "color": "blue"}


async def test_a_preview_service_that_is_the_live_one_is_refused(
    realkube: RealKube, kube: KubeCluster, bg: Target
) -> None:
    live = replace(bg, preview_service="web")
    with pytest.raises(StepFailed) as err:
        await kube.preview(live, "green")
    assert str(err.value) == (
        "preview Service web is the live Service: it selects the live colour; name another"
        " Service in preview_service"
    )
    assert selector(realkube, bg.namespace, "web") == {"app": "web", "color": "blue"}
