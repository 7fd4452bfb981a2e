"""KubeCluster and PodWatch against the real control plane (kube-apiserver 1.20.2).

Each test gets its own namespace on the session's ``realkube`` (etcd + apiserver +
controller-manager + fake kubelet), seeds it from ``tests/fixtures/*.yaml`` and talks to
it through the official ``kubernetes`` client as user ``tester`` (cluster-admin by a
ClusterRoleBinding, so the apiserver's audit log tells its requests from the fixtures').
The Deployment and ReplicaSet controllers, revisions, defaulting, validation, RBAC,
server-side apply, ``dryRun``, watches and 410 after an etcd compaction are the real
server's. What a real server does not give on demand (HTTP 500s, a slow server, a dropped
stream) is tested in ``test_faults.py`` through a fault-injecting proxy; pod logs (no
kubelet here) in ``tests/integration/test_kube.py`` against ``tests/kubeapi``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from b2tui.adapters.kube import KubeCluster
from b2tui.domain.phases import Strategy, Traffic
from b2tui.ports import Cluster, SourceError, StepFailed, Target
from tests.realkube.cluster import RealKube
from tests.realkube.seed import FIXTURES, production, staging_manifest
from tests.realkube.waits import cache_follows, live_watch, settle
from tests.support.kustomize import overlay
from tests.support.services import free_port, require_binary, wait_until

pytestmark = pytest.mark.integration

OLD = "registry.local/web:prod-0000000"
NEW = "registry.local/web:prod-1111111"


@pytest.fixture
def kubeconfig(realkube: RealKube, kube_ns: str, tmp_path: Path) -> Path:
    return realkube.write_kubeconfig(tmp_path / "kubeconfig", user="tester", namespace=kube_ns)


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeCluster]:
    k = KubeCluster(str(kubeconfig), watch_backoff_cap=0.5, watch_timeout=2)
    yield k
    k.close()


def deployment(kube: RealKube, ns: str, name: str) -> dict[str, Any]:
    return kube.deployment(ns, name)


def image(kube: RealKube, ns: str, name: str) -> str:
    return str(deployment(kube, ns, name)["spec"]["template"]["spec"]["containers"][0]["image"])


def replicas(kube: RealKube, ns: str, name: str) -> int:
    return int(deployment(kube, ns, name)["spec"]["replicas"])


def test_kube_cluster_implements_the_port(kube: KubeCluster) -> None:
    assert isinstance(kube, Cluster)


# --- canary ------------------------------------------------------------------------------


async def test_canary_by_replicas_5_50_100_then_promote(
    realkube: RealKube, kube: KubeCluster, prod: Target
) -> None:
    ns = prod.namespace
    await settle(kube, prod)
    assert await kube.check_target(prod) == []

    split = await kube.set_canary(prod, NEW, 5)
    assert (split.asked_percent, split.achieved_percent, split.detail) == (5, 25.0, "1/4 replicas")
    assert (replicas(realkube, ns, "web-canary"), replicas(realkube, ns, "web")) == (1, 3)
    canary = deployment(realkube, ns, "web-canary")
    assert canary["spec"]["selector"]["matchLabels"] == {"app": "web", "track": "canary"}
    assert canary["spec"]["template"]["metadata"]["labels"]["track"] == "canary"
    assert image(realkube, ns, "web-canary") == NEW
    await settle(kube, prod, "canary")

    async def ready_tracks() -> list[str]:
        return sorted(p.track for p in await kube.pods(prod) if p.ready)

    for _ in range(200):  # the stable pod scaled away is deleted by the fake kubelet
        if await ready_tracks() == ["canary", "stable", "stable", "stable"]:
            break
        await asyncio.sleep(0.05)
    assert await ready_tracks() == ["canary", "stable", "stable", "stable"]
    assert {p.image for p in await kube.pods(prod) if p.track == "canary"} == {NEW}

    split = await kube.set_canary(prod, NEW, 50)
    assert (split.achieved_percent, split.detail) == (50.0, "2/4 replicas")
    split = await kube.set_canary(prod, NEW, 100)
    assert (split.achieved_percent, split.detail) == (100.0, "4/4 replicas")
    assert (replicas(realkube, ns, "web-canary"), replicas(realkube, ns, "web")) == (4, 0)

    await kube.promote(prod, NEW)
    assert image(realkube, ns, "web") == NEW
    assert replicas(realkube, ns, "web") == 4
    assert replicas(realkube, ns, "web-canary") == 0
    rev = await kube.current_revision(prod)
    # The real Deployment controller numbered the new template's ReplicaSet 2.
    assert (rev.image, rev.replicas, rev.revision) == (NEW, 4, "2")
    # The digest its pods run, as the kubelet reports it in imageID.
    assert rev.digest == "sha256:" + hashlib.sha256(NEW.encode()).hexdigest()
    rses = realkube.list("apps/v1", "ReplicaSet", ns, "app=web,track=stable")
    assert rev.template_hash in {rs["metadata"]["labels"]["pod-template-hash"] for rs in rses}


async def test_canary_by_nginx_weight_on_a_real_ingress(
    realkube: RealKube, kube: KubeCluster, prod: Target
) -> None:
    ns = prod.namespace
    env = replace(prod, traffic=Traffic.NGINX, ingress="web")
    start = await kube.current_revision(env)

    split = await kube.set_canary(env, NEW, 5)
    assert (split.achieved_percent, split.detail) == (5.0, "canary-weight=5")
    ing = realkube.get("networking.k8s.io/v1", "Ingress", ns, "web-canary")
    assert ing is not None
    notes = ing["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/canary"] == "true"
    assert notes["nginx.ingress.kubernetes.io/canary-weight"] == "5"
    assert ing["spec"]["ingressClassName"] == "nginx"
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "web-canary"
    svc = realkube.get("v1", "Service", ns, "web-canary")
    assert svc is not None and svc["spec"]["selector"] == {"app": "web", "track": "canary"}
    assert replicas(realkube, ns, "web") == 4  # weights, not replicas, split the traffic

    await kube.set_canary(env, NEW, 50)
    assert (await kube.traffic(env)).achieved_percent == 50.0

    result = await kube.rollback(env, start)
    assert result.changed
    ing = realkube.get("networking.k8s.io/v1", "Ingress", ns, "web-canary")
    assert ing is not None
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "0"
    assert replicas(realkube, ns, "web-canary") == 0


HTTPROUTE = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: public}]
  hostnames: [shop.b2connect.local]
  rules:
    - matches: [{path: {type: PathPrefix, value: /}}]
      backendRefs: [{name: web, port: 80}]
"""


async def test_canary_by_gateway_route_weights_on_a_crd(
    realkube: RealKube, kube: KubeCluster, prod: Target, httproute_crd: None
) -> None:
    ns = prod.namespace
    realkube.apply_yaml(HTTPROUTE, namespace=ns)
    # The CRD's schema defaulted the weight, as upstream's does.
    route = realkube.get("gateway.networking.k8s.io/v1", "HTTPRoute", ns, "web")
    assert route is not None and route["spec"]["rules"][0]["backendRefs"][0]["weight"] == 1
    env = replace(prod, traffic=Traffic.GATEWAY, route="web")

    split = await kube.set_canary(env, NEW, 20)
    assert (split.achieved_percent, split.detail) == (20.0, "weights 80/20")
    route = realkube.get("gateway.networking.k8s.io/v1", "HTTPRoute", ns, "web")
    assert route is not None
    assert route["spec"]["rules"][0]["backendRefs"] == [
        {"name": "web", "port": 80, "weight": 80},
        {"name": "web-canary", "port": 80, "weight": 20},
    ]
    assert (await kube.traffic(env)).achieved_percent == 20.0

    await kube.promote(env, NEW)
    route = realkube.get("gateway.networking.k8s.io/v1", "HTTPRoute", ns, "web")
    assert route is not None
    assert [r["weight"] for r in route["spec"]["rules"][0]["backendRefs"]] == [100, 0]
    assert image(realkube, ns, "web") == NEW


# --- blue-green --------------------------------------------------------------------------


@pytest.fixture
def bg(realkube: RealKube, kube_ns: str) -> Target:
    realkube.apply_yaml((FIXTURES / "bluegreen.yaml").read_text(), namespace=kube_ns)
    return replace(production(kube_ns), strategy=Strategy.BLUE_GREEN)


async def test_blue_green_stage_switch_retire(
    realkube: RealKube, kube: KubeCluster, bg: Target
) -> None:
    ns = bg.namespace
    rev = await kube.current_revision(bg)
    assert (rev.colour, rev.deployment, rev.replicas) == ("blue", "web-blue", 3)

    assert await kube.stage_colour(bg, NEW) == "green"
    assert (image(realkube, ns, "web-green"), replicas(realkube, ns, "web-green")) == (NEW, 3)
    await settle(kube, bg, "green")
    assert deployment(realkube, ns, "web-green")["status"]["readyReplicas"] == 3

    split = await kube.switch_colour(bg, "green")
    assert split.achieved_percent == 100.0
    svc = realkube.get("v1", "Service", ns, "web")
    assert svc is not None and svc["spec"]["selector"] == {"app": "web", "color": "green"}
    assert (await kube.current_revision(bg)).colour == "green"

    with pytest.raises(StepFailed, match="green serves traffic now"):
        await kube.retire_colour(bg, "green")
    await kube.retire_colour(bg, "blue")
    assert replicas(realkube, ns, "web-blue") == 0


async def test_blue_green_rollback_switches_back_once(
    realkube: RealKube, kube: KubeCluster, bg: Target, kubeconfig: Path
) -> None:
    ns = bg.namespace
    known_good = await kube.current_revision(bg)
    await kube.stage_colour(bg, NEW)
    await settle(kube, bg, "green")
    await kube.switch_colour(bg, "green")

    first = await kube.rollback(bg, known_good)
    assert first.changed and "traffic back to blue" in first.detail
    svc = realkube.get("v1", "Service", ns, "web")
    assert svc is not None and svc["spec"]["selector"]["color"] == "blue"

    mark = realkube.audit_mark()
    other = KubeCluster(str(kubeconfig))  # a second operator, another process
    try:
        again = await other.rollback(bg, known_good)
    finally:
        other.close()
    assert not again.changed and again.detail.startswith("already on rev")
    assert [r for r in realkube.audit(since=mark) if r.verb not in ("get", "list")] == []
    svc = realkube.get("v1", "Service", ns, "web")
    assert svc is not None and svc["spec"]["selector"]["color"] == "blue"


# --- rollback ----------------------------------------------------------------------------


@pytest.mark.parametrize("moved_on", [False, True], ids=["as-set", "moved-by-another-process"])
async def test_rollback_from_canary_takes_traffic_first(
    realkube: RealKube,
    kube: KubeCluster,
    prod: Target,
    kubeconfig: Path,
    moved_on: bool,
) -> None:
    ns = prod.namespace
    await settle(kube, prod)
    known_good = await kube.current_revision(prod)
    await kube.set_canary(prod, NEW, 50)
    if moved_on:
        other = KubeCluster(str(kubeconfig))
        try:
            await other.set_canary(prod, NEW, 25)
        finally:
            other.close()
    mark = realkube.audit_mark()

    result = await kube.rollback(prod, known_good)
    assert result.changed and "canary out of traffic" in result.detail
    assert (replicas(realkube, ns, "web-canary"), replicas(realkube, ns, "web")) == (0, 4)
    # In the apiserver's own audit log (the rollback thread's warm-up, GET /version,
    # aside): this process set the canary, so its first request is the write that takes
    # it out of traffic, with no read before it. When another process moved the canary
    # on since, the server refuses that patch (it tests for 2 replicas) and the rollback
    # reads the canary, then scales it down.
    requests = [r for r in realkube.audit(since=mark) if not r.uri.startswith("/version")]
    expected = [("patch", 422), ("get", 200), ("patch", 200)] if moved_on else [("patch", 200)]
    assert [(r.verb, r.code) for r in requests[: len(expected)]] == expected
    canary = f"/apis/apps/v1/namespaces/{ns}/deployments/web-canary"
    assert all(r.uri.startswith(canary) for r in requests[: len(expected)])
    assert requests[len(expected) - 1].uri.startswith(f"{canary}/scale")
    assert image(realkube, ns, "web") == OLD


async def test_rollback_twice_stays_on_known_good(
    realkube: RealKube, kube: KubeCluster, prod: Target, kubeconfig: Path
) -> None:
    ns = prod.namespace
    await settle(kube, prod)
    known_good = await kube.current_revision(prod)
    await kube.set_canary(prod, NEW, 100)
    await kube.promote(prod, NEW)
    assert image(realkube, ns, "web") == NEW
    await settle(kube, prod)

    first = await kube.rollback(prod, known_good)
    assert first.changed
    assert image(realkube, ns, "web") == OLD
    await settle(kube, prod)
    # The real controller renumbered the old template (rev 1 → 3); the hash still names it.
    now = await kube.current_revision(prod)
    assert (now.image, now.template_hash) == (OLD, known_good.template_hash)
    assert now.revision == "3"

    second = await kube.rollback(prod, known_good)
    assert not second.changed
    assert second.detail == f"already on rev 3 ({OLD})"
    other = KubeCluster(str(kubeconfig))
    try:
        third = await other.rollback(prod, known_good)
    finally:
        other.close()
    assert not third.changed
    await settle(kube, prod)
    assert image(realkube, ns, "web") == OLD
    assert (await kube.current_revision(prod)).revision == "3"

    async def images() -> set[str]:
        return {p.image for p in await kube.pods(prod)}

    for _ in range(200):
        if await images() == {OLD}:
            break
        await asyncio.sleep(0.05)
    assert await images() == {OLD}


def without_scale_patch() -> dict[str, Any]:
    """deploy/rbac.yaml's Role minus ``patch deployments/scale``, for user ``nobody``."""
    docs = list(yaml.safe_load_all((Path(__file__).parents[2] / "deploy/rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "Role")
    role["metadata"] = {"name": "b2tui-no-scale"}
    role["rules"] = [r for r in role["rules"] if r["resources"] != ["deployments/scale"]]
    return role


async def test_forbidden_rollback_is_one_readable_line(
    realkube: RealKube, kube: KubeCluster, prod: Target, tmp_path: Path
) -> None:
    ns = prod.namespace
    known_good = await kube.current_revision(prod)
    await kube.set_canary(prod, NEW, 50)
    realkube.apply(without_scale_patch(), namespace=ns)
    realkube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "nobody"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "b2tui-no-scale",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "nobody"}
            ],
        },
        namespace=ns,
    )
    path = realkube.write_kubeconfig(tmp_path / "nobody", user="nobody", namespace=ns)
    nobody = KubeCluster(str(path))
    try:
        with pytest.raises(StepFailed) as info:
            await nobody.rollback(prod, known_good)
    finally:
        nobody.close()
    assert str(info.value).startswith(
        f"forbidden: cannot patch deployments/scale in namespace {ns} (as user nobody)"
    )
    assert "\n" not in str(info.value)
    assert replicas(realkube, ns, "web-canary") == 2  # nothing was half-done


# --- direct / staging --------------------------------------------------------------------


async def test_deploy_staging_manifests_then_rollout_completes(
    realkube: RealKube, kube: KubeCluster, kube_ns: str, kubeconfig: Path, tmp_path: Path
) -> None:
    env = replace(
        production(kube_ns), name="staging", manifests=(staging_manifest(kube_ns, tmp_path),)
    )
    image_ = "registry.local/web:staging-abc1234"
    mark = realkube.audit_mark()
    await kube.deploy(env, image_)
    assert image(realkube, kube_ns, "web") == image_
    applied = [r for r in realkube.audit(since=mark) if r.verb in ("patch", "create")]
    assert len(applied) == 2 and all("fieldManager=b2tui" in r.uri for r in applied)
    assert all(r.code in (200, 201) for r in applied)
    svc = realkube.get("v1", "Service", kube_ns, "web")
    assert svc is not None and svc["spec"]["ports"][0]["protocol"] == "TCP"
    await settle(kube, env)

    dry = KubeCluster(str(kubeconfig), dry_run=True)
    mark = realkube.audit_mark()
    try:
        await dry.deploy(env, "registry.local/web:staging-dryrun")
    finally:
        dry.close()
    assert image(realkube, kube_ns, "web") == image_
    writes = [r for r in realkube.audit(since=mark) if r.verb not in ("get", "list")]
    assert writes and all("dryRun=All" in r.uri for r in writes)
    rses = realkube.list("apps/v1", "ReplicaSet", kube_ns)
    assert len(rses) == 1, "one apply must make one rollout"
    pods = await kube.pods(env)
    assert len(pods) == 2 and all(p.ready and p.image == image_ for p in pods)


async def test_deploy_a_kustomize_overlay(
    realkube: RealKube, kube: KubeCluster, kube_ns: str, tmp_path: Path
) -> None:
    """``manifests`` names a Kustomize overlay: rendered, applied, one rollout."""
    require_binary("kubectl", "kubectl")
    env = replace(
        production(kube_ns),
        name="staging",
        manifests=(str(overlay(tmp_path, kube_ns, replicas=3)),),
    )
    image_ = "registry.local/web:staging-0c0ffee"
    await kube.deploy(env, image_)
    dep = deployment(realkube, kube_ns, "web")
    assert image(realkube, kube_ns, "web") == image_
    assert dep["spec"]["replicas"] == 3
    assert dep["metadata"]["annotations"]["b2tui.dev/overlay"] == "staging"
    assert realkube.get("v1", "Service", kube_ns, "web") is not None
    await settle(kube, env)
    assert len(realkube.list("apps/v1", "ReplicaSet", kube_ns)) == 1


async def test_crash_looping_pods_fail_the_rollout(
    realkube: RealKube, kube: KubeCluster, kube_ns: str, tmp_path: Path
) -> None:
    manifest = staging_manifest(kube_ns, tmp_path, progressDeadlineSeconds=3)
    env = replace(production(kube_ns), name="staging", manifests=(manifest,))
    realkube.crash(kube_ns, image="crash")
    await kube.deploy(env, "registry.local/web:crash-1")
    for _ in range(400):
        st = await kube.rollout(env)
        if st.failed:
            break
        await asyncio.sleep(0.05)
    # The real Deployment controller's ProgressDeadlineExceeded.
    assert st.failed and not st.complete
    assert "progress" in st.message.lower()
    pods = await kube.pods(env)
    assert pods and all(p.reason == "CrashLoopBackOff" and p.crash_looping for p in pods)


# --- target checks and connection errors -------------------------------------------------


async def test_check_target_lists_problems(kube: KubeCluster, prod: Target) -> None:
    assert await kube.check_target(prod) == []
    problems = await kube.check_target(replace(prod, deployment="api", service="api"))
    assert problems == [
        f"deployment api not found in namespace {prod.namespace}",
        f"service api not found in namespace {prod.namespace}",
    ]
    problems = await kube.check_target(replace(prod, namespace="nope"))
    assert problems == ["namespace nope does not exist (context test)"]
    problems = await kube.check_target(replace(prod, context="elsewhere"))
    assert len(problems) == 1
    assert problems[0].startswith("context elsewhere not found in kubeconfig ")


async def test_unreachable_api_server_is_one_line(realkube: RealKube, tmp_path: Path) -> None:
    path = realkube.write_kubeconfig(tmp_path / "kubeconfig", user="tester")
    url = f"https://127.0.0.1:{free_port()}"
    path.write_text(path.read_text().replace(realkube.url, url))
    kube = KubeCluster(str(path), request_timeout=2.0)
    try:
        with pytest.raises(SourceError) as info:
            await kube.current_revision(production("default"))
    finally:
        kube.close()
    assert str(info.value) == f"API server unreachable at {url}: connection refused"


# --- the pod watch -----------------------------------------------------------------------


async def test_watch_resumes_when_the_server_ends_the_stream(
    realkube: RealKube, kube: KubeCluster, prod: Target
) -> None:
    ns = prod.namespace
    w = await live_watch(kube, prod)
    mark = realkube.audit_mark()
    # The server closes each stream after the watch's timeoutSeconds (2 s here).
    wait_until(lambda: w.resumes >= 1, 20, "the server to end the stream and a resume")
    realkube.scale(ns, "web", 6)
    wait_until(lambda: cache_follows(realkube, w, ns, 6), 30, "the cache to see the new pods")
    assert w.relists == 0 and w.errors == 0
    watches = [r for r in realkube.audit(since=mark) if r.verb == "watch"]
    assert watches and all("resourceVersion=" in r.uri for r in watches)
    assert not any("resourceVersion=0&" in r.uri or r.uri.endswith("=0") for r in watches)
    # pods() serves the cache: no list request while the watch is live
    mark = realkube.audit_mark()
    assert len(await kube.pods(prod)) == 6
    assert [r for r in realkube.audit(since=mark) if r.verb == "list" and "/pods" in r.uri] == []


async def test_watch_relists_after_410_from_a_real_compaction(
    realkube: RealKube, kube: KubeCluster, prod: Target
) -> None:
    ns = prod.namespace
    w = await live_watch(kube, prod)
    # Compact etcd past the watch's last resourceVersion: the next resume gets 410 Gone.
    realkube.compact()
    wait_until(lambda: w.relists >= 1, 20, "a relist after 410 Gone")
    realkube.scale(ns, "web", 5)
    wait_until(lambda: cache_follows(realkube, w, ns, 5), 30, "the cache to recover")
    assert w.last_error is None and w.errors == 0


async def test_watch_forbidden_by_rbac_reports_and_recovers(
    realkube: RealKube, prod: Target, tmp_path: Path
) -> None:
    """A real RoleBinding removed and restored under a running watch."""
    ns = prod.namespace
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "nobody-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "nobody"}],
    }
    realkube.apply(binding, namespace=ns)
    wait_until(
        lambda: (
            realkube.allowed("nobody", "get", "deployments", ns, "apps")
            and realkube.allowed("nobody", "watch", "pods", ns)
        ),
        20,
        "the API server's RBAC to see the new binding",
    )
    path = realkube.write_kubeconfig(tmp_path / "nobody", user="nobody", namespace=ns)
    kube = KubeCluster(str(path), watch_backoff_cap=0.5, watch_timeout=2)
    try:
        w = await live_watch(kube, prod)
        realkube.delete("rbac.authorization.k8s.io/v1", "RoleBinding", ns, "nobody-view")
        wait_until(lambda: w.last_error is not None, 20, "the watch to report the 403")
        assert w.last_error == (
            f"forbidden: cannot watch pods in namespace {ns} (as user nobody);"
            " grant it in the Role (see deploy/rbac.yaml)"
        )
        assert not w.live
        realkube.apply(binding, namespace=ns)
        realkube.scale(ns, "web", 5)
        wait_until(lambda: cache_follows(realkube, w, ns, 5), 30, "the cache to recover")
        assert w.last_error is None
    finally:
        kube.close()
