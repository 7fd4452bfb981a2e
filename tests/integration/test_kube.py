"""KubeCluster and ``b2tui status`` / ``rollback`` against a real HTTP Kubernetes API server.

Each test starts ``tests.kubeapi.KubeApiServer`` on a free loopback port, seeds it from
``tests/fixtures/*.yaml``, writes a kubeconfig pointing at it and talks to it through the
official ``kubernetes`` client — no mocks.
"""

from __future__ import annotations

import asyncio
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
from b2tui.domain.phases import Strategy, Traffic
from b2tui.ports import Cluster, SourceError, StepFailed
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
BG = replace(PROD, namespace="prod-bg", strategy=Strategy.BLUE_GREEN)
STAGING = replace(
    PROD, name="staging", namespace="staging", manifests=(str(FIXTURES / "staging.yaml"),)
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


def image(api: KubeApiServer, ns: str, name: str) -> str:
    return str(deploy_obj(api, ns, name)["spec"]["template"]["spec"]["containers"][0]["image"])


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


def test_kube_cluster_implements_the_port(kube: KubeCluster) -> None:
    assert isinstance(kube, Cluster)


# --- canary ------------------------------------------------------------------------------


async def test_canary_by_replicas_5_50_100_then_promote(
    api: KubeApiServer, kube: KubeCluster
) -> None:
    seed(api, "production.yaml")
    await settle(kube, PROD)
    assert await kube.check_target(PROD) == []

    split = await kube.set_canary(PROD, NEW, 5)
    assert (split.asked_percent, split.achieved_percent, split.detail) == (5, 25.0, "1/4 replicas")
    assert (replicas(api, "prod", "web-canary"), replicas(api, "prod", "web")) == (1, 3)
    canary = deploy_obj(api, "prod", "web-canary")
    assert canary["spec"]["selector"]["matchLabels"] == {"app": "web", "track": "canary"}
    assert canary["spec"]["template"]["metadata"]["labels"]["track"] == "canary"
    assert image(api, "prod", "web-canary") == NEW
    await settle(kube, PROD, "canary")
    pods = await kube.pods(PROD)
    assert sorted(p.track for p in pods if p.ready) == ["canary", "stable", "stable", "stable"]
    assert {p.image for p in pods if p.track == "canary"} == {NEW}

    split = await kube.set_canary(PROD, NEW, 50)
    assert (split.achieved_percent, split.detail) == (50.0, "2/4 replicas")
    split = await kube.set_canary(PROD, NEW, 100)
    assert (split.achieved_percent, split.detail) == (100.0, "4/4 replicas")
    assert (replicas(api, "prod", "web-canary"), replicas(api, "prod", "web")) == (4, 0)

    await kube.promote(PROD, NEW)
    assert image(api, "prod", "web") == NEW
    assert replicas(api, "prod", "web") == 4
    assert replicas(api, "prod", "web-canary") == 0
    rev = await kube.current_revision(PROD)
    assert (rev.image, rev.replicas, rev.revision) == (NEW, 4, "2")
    assert rev.template_hash


async def test_canary_by_nginx_weight(api: KubeApiServer, kube: KubeCluster) -> None:
    seed(api, "production.yaml")
    env = replace(PROD, traffic=Traffic.NGINX, ingress="web")
    start = await kube.current_revision(env)

    split = await kube.set_canary(env, NEW, 5)
    assert (split.achieved_percent, split.detail) == (5.0, "canary-weight=5")
    ing = api.get_object("/apis/networking.k8s.io/v1/namespaces/prod/ingresses/web-canary")
    assert ing is not None
    notes = ing["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/canary"] == "true"
    assert notes["nginx.ingress.kubernetes.io/canary-weight"] == "5"
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "web-canary"
    svc = api.get_object("/api/v1/namespaces/prod/services/web-canary")
    assert svc is not None and svc["spec"]["selector"] == {"app": "web", "track": "canary"}
    assert replicas(api, "prod", "web") == 4  # weights, not replicas, split the traffic

    await kube.set_canary(env, NEW, 50)
    assert (await kube.traffic(env)).achieved_percent == 50.0

    result = await kube.rollback(env, start)
    assert result.changed
    ing = api.get_object("/apis/networking.k8s.io/v1/namespaces/prod/ingresses/web-canary")
    assert ing is not None
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "0"
    assert replicas(api, "prod", "web-canary") == 0


HTTPROUTE = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: prod}
spec:
  parentRefs: [{name: public}]
  hostnames: [shop.b2connect.local]
  rules:
    - matches: [{path: {type: PathPrefix, value: /}}]
      backendRefs: [{name: web, port: 80}]
"""


async def test_canary_by_gateway_route_weights(api: KubeApiServer, kube: KubeCluster) -> None:
    seed(api, "production.yaml")
    api.apply_yaml(HTTPROUTE)
    env = replace(PROD, traffic=Traffic.GATEWAY, route="web")

    split = await kube.set_canary(env, NEW, 20)
    assert (split.achieved_percent, split.detail) == (20.0, "weights 80/20")
    route = api.get_object("/apis/gateway.networking.k8s.io/v1/namespaces/prod/httproutes/web")
    assert route is not None
    refs = route["spec"]["rules"][0]["backendRefs"]
    assert refs == [
        {"name": "web", "port": 80, "weight": 80},
        {"name": "web-canary", "port": 80, "weight": 20},
    ]

    await kube.promote(env, NEW)
    route = api.get_object("/apis/gateway.networking.k8s.io/v1/namespaces/prod/httproutes/web")
    assert route is not None
    assert [r["weight"] for r in route["spec"]["rules"][0]["backendRefs"]] == [100, 0]
    assert image(api, "prod", "web") == NEW


# --- blue-green --------------------------------------------------------------------------


async def test_blue_green_stage_switch_retire(api: KubeApiServer, kube: KubeCluster) -> None:
    seed(api, "bluegreen.yaml")
    rev = await kube.current_revision(BG)
    assert (rev.colour, rev.deployment, rev.replicas) == ("blue", "web-blue", 3)

    assert await kube.stage_colour(BG, NEW) == "green"
    assert (image(api, "prod-bg", "web-green"), replicas(api, "prod-bg", "web-green")) == (NEW, 3)
    await settle(kube, BG, "green")

    split = await kube.switch_colour(BG, "green")
    assert split.achieved_percent == 100.0
    svc = api.get_object("/api/v1/namespaces/prod-bg/services/web")
    assert svc is not None and svc["spec"]["selector"] == {"app": "web", "color": "green"}
    assert (await kube.current_revision(BG)).colour == "green"

    with pytest.raises(StepFailed, match="green serves traffic now"):
        await kube.retire_colour(BG, "green")
    await kube.retire_colour(BG, "blue")
    assert replicas(api, "prod-bg", "web-blue") == 0


async def test_blue_green_rollback_switches_back_once(
    api: KubeApiServer, kube: KubeCluster, kubeconfig: Path
) -> None:
    seed(api, "bluegreen.yaml")
    known_good = await kube.current_revision(BG)
    await kube.stage_colour(BG, NEW)
    await settle(kube, BG, "green")
    await kube.switch_colour(BG, "green")

    first = await kube.rollback(BG, known_good)
    assert first.changed and "traffic back to blue" in first.detail
    svc = api.get_object("/api/v1/namespaces/prod-bg/services/web")
    assert svc is not None and svc["spec"]["selector"]["color"] == "blue"

    other = KubeCluster(str(kubeconfig))  # a second operator, another process
    try:
        again = await other.rollback(BG, known_good)
    finally:
        other.close()
    assert not again.changed and again.detail.startswith("already on rev")
    svc = api.get_object("/api/v1/namespaces/prod-bg/services/web")
    assert svc is not None and svc["spec"]["selector"]["color"] == "blue"


# --- rollback ----------------------------------------------------------------------------


async def test_rollback_from_canary_takes_traffic_first(
    api: KubeApiServer, kube: KubeCluster
) -> None:
    seed(api, "production.yaml")
    await settle(kube, PROD)
    known_good = await kube.current_revision(PROD)
    await kube.set_canary(PROD, NEW, 50)
    api.requests.clear()

    result = await kube.rollback(PROD, known_good)
    assert result.changed and "canary out of traffic" in result.detail
    assert (replicas(api, "prod", "web-canary"), replicas(api, "prod", "web")) == (0, 4)
    # The first request goes to the canary, the first write takes it out of traffic.
    writes = [(m, p) for m, p in api.requests if m != "GET"]
    assert api.requests[0][1].startswith("/apis/apps/v1/namespaces/prod/deployments/web-canary")
    assert writes[0][1].startswith("/apis/apps/v1/namespaces/prod/deployments/web-canary/scale")
    assert image(api, "prod", "web") == OLD


async def test_rollback_twice_stays_on_known_good(
    api: KubeApiServer, kube: KubeCluster, kubeconfig: Path
) -> None:
    seed(api, "production.yaml")
    await settle(kube, PROD)
    known_good = await kube.current_revision(PROD)
    await kube.set_canary(PROD, NEW, 100)
    await kube.promote(PROD, NEW)
    assert image(api, "prod", "web") == NEW

    first = await kube.rollback(PROD, known_good)
    assert first.changed
    assert image(api, "prod", "web") == OLD
    await settle(kube, PROD)
    # Kubernetes renumbered the old template (rev 1 → 3): the hash still identifies it.
    now = await kube.current_revision(PROD)
    assert (now.image, now.template_hash) == (OLD, known_good.template_hash)
    assert now.revision == "3"

    second = await kube.rollback(PROD, known_good)
    assert not second.changed
    assert second.detail == f"already on rev 3 ({OLD})"
    other = KubeCluster(str(kubeconfig))
    try:
        third = await other.rollback(PROD, known_good)
    finally:
        other.close()
    assert not third.changed
    await settle(kube, PROD)
    assert image(api, "prod", "web") == OLD
    assert {p.image for p in await kube.pods(PROD)} == {OLD}


async def test_forbidden_rollback_is_one_readable_line(
    api: KubeApiServer, kube: KubeCluster
) -> None:
    seed(api, "production.yaml")
    known_good = await kube.current_revision(PROD)
    await kube.set_canary(PROD, NEW, 50)
    api.forbid("patch", "deployments/scale", "prod")
    with pytest.raises(StepFailed) as info:
        await kube.rollback(PROD, known_good)
    assert str(info.value).startswith(
        "forbidden: cannot patch deployments/scale in namespace prod (as user tester)"
    )
    assert "\n" not in str(info.value)


# --- direct / staging --------------------------------------------------------------------


async def test_deploy_staging_manifests_then_rollout_completes(
    api: KubeApiServer, kube: KubeCluster, kubeconfig: Path
) -> None:
    image_ = "registry.local/web:staging-abc1234"
    await kube.deploy(STAGING, image_)
    assert image(api, "staging", "web") == image_
    applied = [p for m, p in api.requests if m == "PATCH"]
    assert len(applied) == 3 and all("fieldManager=b2tui" in p for p in applied)
    await settle(kube, STAGING)

    dry = KubeCluster(str(kubeconfig), dry_run=True)
    try:
        await dry.deploy(STAGING, "registry.local/web:staging-dryrun")
    finally:
        dry.close()
    assert image(api, "staging", "web") == image_
    assert all("dryRun=All" in p for m, p in api.requests[-3:] if m == "PATCH")
    rses = api.list_objects("ReplicaSet", "staging")
    assert len(rses) == 1, "one apply must make one rollout"
    pods = await kube.pods(STAGING)
    assert len(pods) == 2 and all(p.ready and p.image == image_ for p in pods)


async def test_crash_image_fails_rollout_and_pods_crash_loop(kubeconfig: Path) -> None:
    with KubeApiServer(ready_delay=0.05, progress_deadline=0.6) as api:
        path = api.write_kubeconfig(kubeconfig, context="test")
        kube = KubeCluster(str(path))
        try:
            await kube.deploy(STAGING, "registry.local/web:crash-1")
            for _ in range(100):
                st = await kube.rollout(STAGING)
                if st.failed:
                    break
                await asyncio.sleep(0.05)
            assert st.failed and not st.complete
            assert "progress" in st.message.lower()
            pods = await kube.pods(STAGING)
            assert pods and all(p.reason == "CrashLoopBackOff" and p.crash_looping for p in pods)
        finally:
            kube.close()


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


# --- target checks and connection errors -------------------------------------------------


async def test_check_target_lists_problems(api: KubeApiServer, kube: KubeCluster) -> None:
    seed(api, "production.yaml")
    assert await kube.check_target(PROD) == []
    problems = await kube.check_target(replace(PROD, deployment="api", service="api"))
    assert problems == [
        "deployment api not found in namespace prod",
        "service api not found in namespace prod",
    ]
    problems = await kube.check_target(replace(PROD, namespace="nope"))
    assert problems == ["namespace nope does not exist (context test)"]
    problems = await kube.check_target(replace(PROD, context="elsewhere"))
    assert len(problems) == 1
    assert problems[0].startswith("context elsewhere not found in kubeconfig ")


async def test_unreachable_api_server_is_one_line(tmp_path: Path) -> None:
    with KubeApiServer() as api:
        path = api.write_kubeconfig(tmp_path / "kubeconfig", context="test")
    kube = KubeCluster(str(path), request_timeout=2.0)
    try:
        with pytest.raises(SourceError) as info:
            await kube.current_revision(PROD)
    finally:
        kube.close()
    assert str(info.value).startswith(f"API server unreachable at {api.url}: ")
    assert "\n" not in str(info.value)


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


async def test_watch_relists_after_410(api: KubeApiServer, kube: KubeCluster) -> None:
    api.bookmark_interval = 600  # no bookmark may move the watch past the compaction
    w = await live_watch(api, kube)
    # A change the pod watch does not see moves the global resourceVersion on, so the
    # compaction point lies after the watch's last version: resuming gets 410 Expired.
    api.apply_yaml("{apiVersion: v1, kind: ConfigMap, metadata: {name: x, namespace: prod}}")
    api.compact()
    api.drop_watches()
    wait_until(lambda: w.relists >= 1, 10, "a relist after 410 Expired")
    scale(api, 5)
    wait_until(lambda: cache_follows(api, w, 5), 10, "the cache to recover")
    assert w.last_error is None and w.errors == 0


async def test_watch_forbidden_reports_and_recovers(api: KubeApiServer, kube: KubeCluster) -> None:
    w = await live_watch(api, kube)
    api.forbid("watch", "pods", "prod")
    api.drop_watches()
    wait_until(lambda: w.last_error is not None, 10, "the watch to report the 403")
    assert w.last_error == (
        "forbidden: cannot watch pods in namespace prod (as user tester);"
        " grant it in the Role (see deploy/rbac.yaml)"
    )
    assert not w.live
    assert len(await kube.pods(PROD)) == 4  # falls back to a list meanwhile
    api.allow("watch", "pods", "prod")
    scale(api, 5)
    wait_until(lambda: cache_follows(api, w, 5), 10, "the cache to recover")
    assert w.last_error is None


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
        assert f"rollback target (without a recorded run): web rev 1 ({OLD})" in text

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
        assert out.getvalue().startswith("production: rolled back: canary out of traffic")
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
