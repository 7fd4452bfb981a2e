"""The test Kubernetes API server, exercised through the official client and kubectl.

These tests pin the behaviour b2tui's Kubernetes adapter relies on, so that a test of the
adapter that passes here would pass against a real API server too.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.kubeapi import KubeApiServer
from tests.support.services import require_binary, wait_until

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REVISION = "deployment.kubernetes.io/revision"
STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[KubeApiServer]:
    with KubeApiServer(ready_delay=0.1) as server:
        yield server


@pytest.fixture
def api_client(kube: KubeApiServer, tmp_path: Path) -> Iterator[client.ApiClient]:
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace="staging")
    api = config.new_client_from_config(config_file=str(kubeconfig))
    yield api
    api.close()


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def deployment(name: str, image: str, replicas: int = 2, **labels: str) -> dict[str, Any]:
    labels = {"app": name, **labels}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def status_of(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    """The ``Status`` body of a failed call."""
    body: dict[str, Any] = json.loads(exc.value.body)
    assert body["kind"] == "Status" and body["code"] == exc.value.status
    return body


def make_namespace(core: client.CoreV1Api, name: str = "staging") -> None:
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def replicasets(apps: client.AppsV1Api, ns: str = "staging") -> dict[str, Any]:
    return {rs.metadata.name: rs for rs in apps.list_namespaced_replica_set(ns).items}


def rollout_done(apps: client.AppsV1Api, name: str, ns: str = "staging") -> bool:
    """kubectl's own criterion for `rollout status` success."""
    d = apps.read_namespaced_deployment(name, ns)
    s = d.status
    want = d.spec.replicas
    return (
        (s.observed_generation or 0) >= d.metadata.generation
        and (s.updated_replicas or 0) == want
        and (s.replicas or 0) == want
        and (s.available_replicas or 0) == want
    )


def set_image(apps: client.AppsV1Api, name: str, image: str, ns: str = "staging") -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}}
    apps.patch_namespaced_deployment(name, ns, patch, _content_type=STRATEGIC)


def test_rollout_revisions_follow_kubernetes(
    kube: KubeApiServer, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    make_namespace(core)
    apps.create_namespaced_deployment("staging", deployment("web", "registry.local/web:1"))
    wait_until(lambda: rollout_done(apps, "web"), 10, "the first rollout")
    (first,) = replicasets(apps).values()
    assert first.metadata.annotations[REVISION] == "1"
    assert first.metadata.name == f"web-{first.metadata.labels['pod-template-hash']}"
    pods = core.list_namespaced_pod("staging", label_selector="app=web").items
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.phase == "Running"
        assert pod.spec.node_name
        assert pod.metadata.owner_references[0].name == first.metadata.name
        assert (
            pod.metadata.labels["pod-template-hash"] == first.metadata.labels["pod-template-hash"]
        )
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"

    set_image(apps, "web", "registry.local/web:2")
    wait_until(lambda: rollout_done(apps, "web"), 10, "the second rollout")
    rses = replicasets(apps)
    second = next(rs for name, rs in rses.items() if name != first.metadata.name)
    assert second.metadata.annotations[REVISION] == "2"
    assert rses[first.metadata.name].spec.replicas == 0
    assert apps.read_namespaced_deployment("web", "staging").metadata.annotations[REVISION] == "2"

    # Re-applying the first template reuses its ReplicaSet under a new revision.
    set_image(apps, "web", "registry.local/web:1")
    wait_until(lambda: rollout_done(apps, "web"), 10, "the rollback rollout")
    rses = replicasets(apps)
    assert set(rses) == {first.metadata.name, second.metadata.name}
    assert rses[first.metadata.name].metadata.annotations[REVISION] == "3"
    assert rses[first.metadata.name].spec.replicas == 2
    assert rses[second.metadata.name].spec.replicas == 0
    d = apps.read_namespaced_deployment("web", "staging")
    assert d.metadata.annotations[REVISION] == "3"
    assert d.metadata.generation == 3
    assert {c.type: c.reason for c in d.status.conditions} == {
        "Available": "MinimumReplicasAvailable",
        "Progressing": "NewReplicaSetAvailable",
    }


def test_label_selectors_on_list(kube: KubeApiServer, core: client.CoreV1Api) -> None:
    kube.apply_yaml(
        """
apiVersion: v1
kind: ConfigMap
metadata: {name: stable, namespace: staging, labels: {app: web, track: stable}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: canary, namespace: staging, labels: {app: web, track: canary}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: plain, namespace: staging, labels: {app: api}}
"""
    )

    def names(selector: str) -> set[str]:
        items = core.list_namespaced_config_map("staging", label_selector=selector).items
        return {cm.metadata.name for cm in items}

    assert names("app=web") == {"stable", "canary"}
    assert names("app==web,track!=canary") == {"stable"}
    assert names("track!=canary") == {"stable", "plain"}  # != matches a missing key
    assert names("track in (stable, canary)") == {"stable", "canary"}
    assert names("app notin (web)") == {"plain"}
    assert names("track") == {"stable", "canary"}
    assert names("!track") == {"plain"}
    assert names("app in (web,api),!track") == {"plain"}
    by_name = core.list_namespaced_config_map("staging", field_selector="metadata.name=canary")
    assert [cm.metadata.name for cm in by_name.items] == ["canary"]
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_config_map("staging", label_selector="app in web")
    assert bad.value.status == 400


def test_list_then_watch_resumes_with_exactly_the_later_events(
    kube: KubeApiServer, core: client.CoreV1Api
) -> None:
    kube.apply_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old, namespace: staging}")
    listed = core.list_namespaced_config_map("staging")
    assert listed.kind == "ConfigMapList"
    assert [cm.metadata.name for cm in listed.items] == ["old"]
    rv = listed.metadata.resource_version

    core.create_namespaced_config_map("staging", {"metadata": {"name": "a"}, "data": {"v": "1"}})
    core.create_namespaced_config_map("staging", {"metadata": {"name": "b"}})
    core.patch_namespaced_config_map("a", "staging", {"data": {"v": "2"}}, _content_type=MERGE)
    core.delete_namespaced_config_map("b", "staging")
    core.create_namespaced_config_map("default", {"metadata": {"name": "elsewhere"}})

    seen = [
        (e["type"], e["object"].metadata.name, (e["object"].data or {}).get("v"))
        for e in watch.Watch().stream(
            core.list_namespaced_config_map, "staging", resource_version=rv, timeout_seconds=1
        )
    ]
    assert seen == [
        ("ADDED", "a", "1"),
        ("ADDED", "b", None),
        ("MODIFIED", "a", "2"),
        ("DELETED", "b", None),
    ]

    # Without a resourceVersion a watch starts with the current state.
    current = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(core.list_namespaced_config_map, "staging", timeout_seconds=1)
    ]
    assert current == [("ADDED", "a"), ("ADDED", "old")]


def test_resuming_a_watch_after_compaction_is_410_expired(
    kube: KubeApiServer, core: client.CoreV1Api
) -> None:
    rv = core.list_namespaced_config_map("staging").metadata.resource_version
    kube.apply_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: staging}")
    kube.compact()

    # The server sends an ERROR event with a 410 Status; the client turns it into an
    # ApiException (after one silent retry when no timeout was given).
    for kwargs in ({"timeout_seconds": 5}, {}):
        with pytest.raises(ApiException) as gone:
            list(
                watch.Watch().stream(
                    core.list_namespaced_config_map, "staging", resource_version=rv, **kwargs
                )
            )
        assert gone.value.status == 410
        assert gone.value.reason.startswith("Expired: too old resource version")

    # Relisting gives a resourceVersion that can be watched from again.
    fresh = core.list_namespaced_config_map("staging").metadata.resource_version
    core.create_namespaced_config_map("staging", {"metadata": {"name": "b"}})
    events = watch.Watch().stream(
        core.list_namespaced_config_map, "staging", resource_version=fresh, timeout_seconds=1
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "b")]


def test_drop_watches_cuts_the_stream(kube: KubeApiServer, core: client.CoreV1Api) -> None:
    rv = core.list_namespaced_config_map("staging").metadata.resource_version
    kube.apply_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: staging}")
    seen: list[str] = []
    failure: list[BaseException] = []
    first = threading.Event()

    def consume() -> None:
        try:
            for e in watch.Watch().stream(
                core.list_namespaced_config_map, "staging", resource_version=rv, timeout_seconds=60
            ):
                seen.append(e["type"])
                first.set()
        except Exception as exc:  # what the client raises on a cut stream
            failure.append(exc)

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    assert first.wait(10), "the watch never delivered its first event"
    kube.drop_watches()
    reader.join(10)
    assert not reader.is_alive(), "the watch kept running after drop_watches()"
    assert seen == ["ADDED"]
    # No terminating chunk: urllib3 reports the cut as a protocol error.
    assert failure and "ended prematurely" in str(failure[0])


def test_every_patch_type(
    kube: KubeApiServer, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    make_namespace(core)
    body = deployment("web", "registry.local/web:1")
    body["spec"]["template"]["spec"]["containers"].append(
        {"name": "sidecar", "image": "registry.local/envoy:1"}
    )
    apps.create_namespaced_deployment("staging", body)

    def containers() -> dict[str, str]:
        d = apps.read_namespaced_deployment("web", "staging")
        return {c.name: c.image for c in d.spec.template.spec.containers}

    # Strategic merge: containers merge by name, the sidecar stays.
    set_image(apps, "web", "registry.local/web:2")
    assert containers() == {"web": "registry.local/web:2", "sidecar": "registry.local/envoy:1"}

    # JSON merge patch: lists are replaced wholesale.
    merge = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "w:3"}]}}}}
    apps.patch_namespaced_deployment("web", "staging", merge, _content_type=MERGE)
    assert containers() == {"web": "w:3"}

    # JSON patch, including a failing `test` operation (422, nothing changes).
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    apps.patch_namespaced_deployment("web", "staging", ops, _content_type=JSON_PATCH)
    assert apps.read_namespaced_deployment("web", "staging").spec.replicas == 3
    bad = [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 9},
    ]
    with pytest.raises(ApiException) as failed:
        apps.patch_namespaced_deployment("web", "staging", bad, _content_type=JSON_PATCH)
    assert failed.value.status == 422
    assert apps.read_namespaced_deployment("web", "staging").spec.replicas == 3

    # Server-side apply creates, then merges; fieldManager is required.
    applied = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "staging"},
        "data": {"mode": "canary"},
    }
    core.patch_namespaced_config_map(
        "settings", "staging", applied, field_manager="b2tui", _content_type=APPLY
    )
    applied["data"] = {"weight": "5"}
    core.patch_namespaced_config_map(
        "settings", "staging", applied, field_manager="b2tui", force=True, _content_type=APPLY
    )
    cm = core.read_namespaced_config_map("settings", "staging")
    assert cm.data == {"mode": "canary", "weight": "5"}
    with pytest.raises(ApiException) as no_manager:
        core.patch_namespaced_config_map("settings", "staging", applied, _content_type=APPLY)
    assert no_manager.value.status == 422

    # A merge patch naming a stale resourceVersion is a conflict.
    stale = {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 1}}
    with pytest.raises(ApiException) as conflict:
        apps.patch_namespaced_deployment("web", "staging", stale, _content_type=MERGE)
    assert conflict.value.status == 409


def test_scale_subresource(
    kube: KubeApiServer, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    make_namespace(core)
    apps.create_namespaced_deployment("staging", deployment("web", "registry.local/web:1"))
    wait_until(lambda: rollout_done(apps, "web"), 10, "the first rollout")
    scale = apps.read_namespaced_deployment_scale("web", "staging")
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (2, 2, "app=web")

    apps.patch_namespaced_deployment_scale(
        "web", "staging", {"spec": {"replicas": 4}}, _content_type=MERGE
    )
    wait_until(lambda: rollout_done(apps, "web"), 10, "the scale-up")
    assert len(core.list_namespaced_pod("staging", label_selector="app=web").items) == 4
    assert apps.read_namespaced_deployment("web", "staging").spec.replicas == 4

    apps.replace_namespaced_deployment_scale(
        "web", "staging", {"metadata": {"name": "web"}, "spec": {"replicas": 0}}
    )
    wait_until(
        lambda: not core.list_namespaced_pod("staging", label_selector="app=web").items,
        10,
        "the scale-down to zero",
    )
    # Scaling does not start a new revision.
    assert [rs.metadata.annotations[REVISION] for rs in replicasets(apps).values()] == ["1"]


def test_token_is_required_when_configured(tmp_path: Path) -> None:
    with KubeApiServer(token="s3cret") as kube:
        good = config.new_client_from_config(
            config_file=str(kube.write_kubeconfig(tmp_path / "good"))
        )
        assert client.CoreV1Api(good).read_namespace("default").status.phase == "Active"
        kube.token = "rotated"
        with pytest.raises(ApiException) as unauthorized:
            client.CoreV1Api(good).read_namespace("default")
        assert unauthorized.value.status == 401
        good.close()


def test_dry_run_validates_without_persisting(
    kube: KubeApiServer, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    make_namespace(core)
    made = apps.create_namespaced_deployment(
        "staging", deployment("web", "registry.local/web:1"), dry_run="All"
    )
    assert made.metadata.uid and made.spec.replicas == 2
    assert kube.get_object("/apis/apps/v1/namespaces/staging/deployments/web") is None

    apps.create_namespaced_deployment("staging", deployment("web", "registry.local/web:1"))
    patched = apps.patch_namespaced_deployment(
        "web", "staging", {"spec": {"replicas": 7}}, dry_run="All", _content_type=MERGE
    )
    assert patched.spec.replicas == 7
    stored = kube.get_object("/apis/apps/v1/namespaces/staging/deployments/web")
    assert stored is not None and stored["spec"]["replicas"] == 2

    broken = deployment("api", "registry.local/api:1")
    del broken["spec"]["template"]["spec"]["containers"][0]["image"]
    with pytest.raises(ApiException) as invalid:
        apps.create_namespaced_deployment("staging", broken, dry_run="All")
    assert status_of(invalid)["reason"] == "Invalid"
    assert status_of(invalid)["message"] == (
        'Deployment.apps "api" is invalid: spec.template.spec.containers[0].image: Required value'
    )

    # Conflicts and duplicates answer like the API server.
    with pytest.raises(ApiException) as exists:
        apps.create_namespaced_deployment("staging", deployment("web", "registry.local/web:1"))
    assert status_of(exists)["reason"] == "AlreadyExists"
    assert status_of(exists)["message"] == 'deployments.apps "web" already exists'
    stale = kube.get_object("/apis/apps/v1/namespaces/staging/deployments/web")
    assert stale is not None
    stale["metadata"]["resourceVersion"] = "1"
    with pytest.raises(ApiException) as conflict:
        apps.replace_namespaced_deployment("web", "staging", stale)
    assert status_of(conflict)["reason"] == "Conflict"
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("nope", "staging")
    assert status_of(missing)["reason"] == "NotFound"
    assert status_of(missing)["message"] == 'deployments.apps "nope" not found'


def test_crash_image_hits_the_progress_deadline(tmp_path: Path) -> None:
    with KubeApiServer(ready_delay=0.05, progress_deadline=1.0) as kube:
        api = config.new_client_from_config(
            config_file=str(kube.write_kubeconfig(tmp_path / "kubeconfig"))
        )
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        apps.create_namespaced_deployment("default", deployment("web", "registry.local/web:1"))
        wait_until(lambda: rollout_done(apps, "web", "default"), 10, "the first rollout")
        set_image(apps, "web", "registry.local/web:crash-2", ns="default")

        def progressing() -> Any:
            conds = apps.read_namespaced_deployment("web", "default").status.conditions
            return next(c for c in conds if c.type == "Progressing")

        wait_until(lambda: progressing().reason == "ProgressDeadlineExceeded", 10, "the deadline")
        assert progressing().status == "False"
        d = apps.read_namespaced_deployment("web", "default")
        assert d.status.available_replicas == 2  # the old ReplicaSet keeps serving
        assert d.status.unavailable_replicas == 2

        def crash_pods() -> list[Any]:
            pods = core.list_namespaced_pod("default", label_selector="app=web").items
            return [p for p in pods if "crash" in p.spec.containers[0].image]

        wait_until(
            lambda: all(p.status.container_statuses[0].restart_count >= 2 for p in crash_pods()),
            10,
            "crash-looping pods restarting",
        )
        for pod in crash_pods():
            status = pod.status.container_statuses[0]
            assert status.state.waiting.reason == "CrashLoopBackOff"
            assert status.ready is False
        api.close()


def test_pod_logs_with_tail_and_since(kube: KubeApiServer, core: client.CoreV1Api) -> None:
    kube.apply_yaml((FIXTURES / "staging.yaml").read_text())
    kube.set_pod_log("web:staging", "boot\nconnected to db\nERROR payment gateway timeout\n")
    started: list[str] = []

    def two_started() -> bool:
        # Logs exist once the container runs (Running alone may still be ContainerCreating).
        pods = core.list_namespaced_pod("staging", label_selector="app=web").items
        started[:] = [
            p.metadata.name
            for p in pods
            if any(c.state and c.state.running for c in p.status.container_statuses or [])
        ]
        return len(pods) == 2 and len(started) == 2

    wait_until(two_started, 10, "both staging containers started")
    pod = started[0]
    assert core.read_namespaced_pod_log(pod, "staging").startswith("boot\n")
    tail = core.read_namespaced_pod_log(pod, "staging", tail_lines=1, since_seconds=60)
    assert tail == "ERROR payment gateway timeout\n"
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod_log("web-nope", "staging")
    assert missing.value.status == 404


def test_kubectl_apply_and_rollout_status(kube: KubeApiServer, tmp_path: Path) -> None:
    cached = os.path.expanduser(
        os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "b2tui/kubectl-v1.32.3/kubectl")
    )
    kubectl = require_binary(
        "kubectl", "kubectl", "/usr/bin/kubectl", cached, install="tests/realkube/kubectl.sh"
    )
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace="staging")
    # kubectl caches discovery under $HOME; keep it out of the developer's home.
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": ""}

    def run(*args: str) -> str:
        done = subprocess.run(
            [kubectl, "--kubeconfig", str(kubeconfig), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"kubectl {' '.join(args)} failed: {done.stderr.strip()}"
        return done.stdout

    manifest = FIXTURES / "staging.yaml"
    assert "deployment.apps/web created" in run("apply", "-f", str(manifest))
    run("rollout", "status", "deployment/web", "--timeout=20s")

    # A second apply with a new image: kubectl GETs, then PATCHes with last-applied.
    changed = tmp_path / "staging.yaml"
    changed.write_text(manifest.read_text().replace("staging-0000000", "staging-1111111"))
    assert "deployment.apps/web configured" in run("apply", "-f", str(changed))
    assert ("PATCH", "/apis/apps/v1/namespaces/staging/deployments/web") in [
        (m, p.split("?")[0]) for m, p in kube.requests
    ]
    out = run("rollout", "status", "deployment/web", "--timeout=20s")
    assert 'deployment "web" successfully rolled out' in out
    d = kube.get_object("/apis/apps/v1/namespaces/staging/deployments/web")
    assert d is not None
    assert d["metadata"]["annotations"][REVISION] == "2"
    assert (
        "staging-1111111"
        in d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert any(
        "watch=true" in p and "fieldSelector=metadata.name%3Dweb" in p for _, p in kube.requests
    )
    assert run("get", "pods", "-l", "app=web,track=stable", "-o", "name").count("pod/web-") == 2


def test_leases_httproutes_and_events(
    kube: KubeApiServer, api_client: client.ApiClient, core: client.CoreV1Api
) -> None:
    make_namespace(core)
    leases = client.CoordinationV1Api(api_client)
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "b2tui-run"},
        "spec": {"holderIdentity": "jump-host-1", "leaseDurationSeconds": 15},
    }
    made = leases.create_namespaced_lease("staging", lease)
    # Optimistic concurrency: the second writer with the old resourceVersion loses.
    lease["metadata"]["resourceVersion"] = made.metadata.resource_version
    lease["spec"]["holderIdentity"] = "jump-host-2"
    leases.replace_namespaced_lease("b2tui-run", "staging", lease)
    lease["spec"]["holderIdentity"] = "jump-host-3"
    with pytest.raises(ApiException) as lost:
        leases.replace_namespaced_lease("b2tui-run", "staging", lease)
    assert status_of(lost)["reason"] == "Conflict"
    assert leases.read_namespaced_lease("b2tui-run", "staging").spec.holder_identity == (
        "jump-host-2"
    )

    routes = client.CustomObjectsApi(api_client)
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {
            "rules": [
                {
                    "backendRefs": [
                        {"name": "web-stable", "port": 80, "weight": 95},
                        {"name": "web-canary", "port": 80, "weight": 5},
                    ]
                }
            ]
        },
    }
    routes.create_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", "staging", "httproutes", route
    )
    got = routes.get_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", "staging", "httproutes", "web"
    )
    assert [b["weight"] for b in got["spec"]["rules"][0]["backendRefs"]] == [95, 5]
    assert core.list_namespaced_event("staging").items == []
