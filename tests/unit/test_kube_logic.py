"""Pure logic of the Kubernetes adapter: pod state, rollout judgement, template diff, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from b2tui.adapters.kube import (
    _find_rs,
    _Op,
    _retarget_ingress,
    describe_error,
    pod_info,
    pod_reason,
    rollout_state,
    same_template,
    template_without_hash,
)
from b2tui.ports import PodPhase, Revision


def pod(
    *,
    phase: str = "Running",
    ready: bool = True,
    statuses: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    **extra_status: Any,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web-abc-x1",
            "labels": labels if labels is not None else {"app": "web", "track": "canary"},
            "creationTimestamp": "2025-01-02T03:04:05Z",
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [
                {"name": "sidecar", "image": "envoy:1"},
                {"name": "web", "image": "reg/web:prod-abc"},
            ],
        },
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": statuses or [],
            **extra_status,
        },
    }


def waiting(reason: str, restarts: int = 0, last: str | None = None) -> dict[str, Any]:
    cs: dict[str, Any] = {"state": {"waiting": {"reason": reason}}, "restartCount": restarts}
    if last:
        cs["lastState"] = {"terminated": {"reason": last, "exitCode": 137}}
    return cs


def test_running_ready_pod_maps_every_field() -> None:
    info = pod_info(
        pod(
            statuses=[
                {"state": {"running": {}}, "restartCount": 2, "ready": True},
                {"state": {"running": {}}, "restartCount": 1, "ready": True},
            ]
        ),
        container="web",
    )
    assert info.phase is PodPhase.RUNNING
    assert info.ready and info.reason == "" and not info.crash_looping
    assert info.restarts == 3
    assert info.track == "canary"
    assert info.image == "reg/web:prod-abc" and info.tag == "prod-abc"
    assert info.node == "node-1"
    assert info.created.year == 2025 and info.created.tzinfo is not None


def test_colour_label_is_the_track_of_blue_green_pods() -> None:
    info = pod_info(pod(labels={"app": "web", "color": "green"}), colour_label="color")
    assert info.track == "green"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ([waiting("CrashLoopBackOff", 4)], "CrashLoopBackOff"),
        ([waiting("ImagePullBackOff")], "ImagePullBackOff"),
        ([waiting("ErrImagePull")], "ErrImagePull"),
        ([waiting("CrashLoopBackOff", 3, last="OOMKilled")], "OOMKilled"),
        (
            [
                {
                    "state": {"running": {}},
                    "ready": False,
                    "lastState": {"terminated": {"reason": "OOMKilled"}},
                }
            ],
            "OOMKilled",
        ),
        # the worst container wins
        ([waiting("ContainerCreating"), waiting("CrashLoopBackOff")], "CrashLoopBackOff"),
    ],
)
def test_unhealthy_reasons(status: list[dict[str, Any]], reason: str) -> None:
    info = pod_info(pod(ready=False, statuses=status))
    assert info.reason == reason
    assert info.crash_looping is (reason in ("CrashLoopBackOff", "OOMKilled"))


def test_pending_pod_unschedulable() -> None:
    p = pod(phase="Pending", ready=False)
    p["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
    ]
    info = pod_info(p)
    assert info.phase is PodPhase.PENDING
    assert info.reason == "Unschedulable"
    assert not info.ready


def test_terminating_and_init_and_evicted() -> None:
    p = pod()
    p["metadata"]["deletionTimestamp"] = "2025-01-02T03:05:00Z"
    assert pod_reason(p) == "Terminating"
    p = pod(
        phase="Pending",
        ready=False,
        initContainerStatuses=[{"state": {"waiting": {"reason": "ImagePullBackOff"}}}],
    )
    assert pod_reason(p) == "Init:ImagePullBackOff"
    assert pod_reason(pod(phase="Failed", ready=False, reason="Evicted")) == "Evicted"


def deployment(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "generation": status.pop("generation", 2)},
        "spec": {"replicas": 4},
        "status": {"observedGeneration": 2, **status},
    }


@pytest.mark.parametrize(
    ("status", "complete", "failed", "fragment"),
    [
        ({"generation": 3}, False, False, "spec update to be observed"),
        (
            {"updatedReplicas": 2, "replicas": 4, "availableReplicas": 4},
            False,
            False,
            "2 of 4 updated",
        ),
        (
            {"updatedReplicas": 4, "replicas": 5, "availableReplicas": 4},
            False,
            False,
            "1 old replicas",
        ),
        (
            {"updatedReplicas": 4, "replicas": 4, "availableReplicas": 3},
            False,
            False,
            "3 of 4 updated replicas are available",
        ),
        (
            {"updatedReplicas": 4, "replicas": 4, "availableReplicas": 4, "readyReplicas": 4},
            True,
            False,
            "successfully rolled out",
        ),
    ],
)
def test_rollout_state_is_kubectl_rollout_status(
    status: dict[str, Any], complete: bool, failed: bool, fragment: str
) -> None:
    st = rollout_state(deployment(**status))
    assert (st.complete, st.failed) == (complete, failed)
    assert fragment in st.message
    assert st.desired == 4


def test_progress_deadline_exceeded_fails_with_the_condition_message() -> None:
    d = deployment(updatedReplicas=1, replicas=4, availableReplicas=3)
    d["status"]["conditions"] = [
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": 'ReplicaSet "web-5d9" has timed out progressing.',
        }
    ]
    st = rollout_state(d)
    assert st.failed and not st.complete
    assert st.message == 'ReplicaSet "web-5d9" has timed out progressing.'


TEMPLATE = {
    "metadata": {"labels": {"app": "web", "track": "stable"}},
    "spec": {"containers": [{"name": "web", "image": "reg/web:1", "env": []}]},
}


def test_template_diff_ignores_hash_label_and_empty_fields() -> None:
    rs_template = {
        "metadata": {"labels": {"app": "web", "track": "stable", "pod-template-hash": "abc"}},
        "spec": {"containers": [{"name": "web", "image": "reg/web:1"}]},
    }
    assert same_template(TEMPLATE, rs_template)
    assert "pod-template-hash" not in template_without_hash(rs_template)["metadata"]["labels"]
    assert "pod-template-hash" in rs_template["metadata"]["labels"]  # input untouched
    changed = json.loads(json.dumps(TEMPLATE))
    changed["spec"]["containers"][0]["image"] = "reg/web:2"
    assert not same_template(TEMPLATE, changed)


def rs(hash_: str, rev: str, image: str) -> dict[str, Any]:
    return {
        "metadata": {
            "labels": {"pod-template-hash": hash_},
            "annotations": {"deployment.kubernetes.io/revision": rev},
        },
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}},
    }


def test_rollback_target_found_by_hash_even_after_renumbering() -> None:
    # Kubernetes gave the old template a new revision (5) when it was rolled back to once.
    rses = [rs("old", "5", "reg/web:1"), rs("bad", "4", "reg/web:2")]
    target = Revision("web", "3", "reg/web:1", replicas=4, template_hash="old")
    assert _find_rs(rses, target) is rses[0]
    # Without a hash: the revision number, then the newest RS with the image.
    assert _find_rs(rses, Revision("web", "4", "reg/web:2")) is rses[1]
    assert _find_rs(rses, Revision("web", "3", "reg/web:1")) is rses[0]
    assert _find_rs(rses, Revision("web", "3", "reg/web:9")) is None


def test_canary_ingress_points_backends_at_the_canary_service() -> None:
    spec = {
        "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}},
        "rules": [
            {
                "http": {
                    "paths": [
                        {"backend": {"service": {"name": "web"}}},
                        {"backend": {"service": {"name": "api"}}},
                    ]
                }
            }
        ],
    }
    out = _retarget_ingress(spec, "web", "web-canary")
    assert out["defaultBackend"]["service"]["name"] == "web-canary"
    paths = out["rules"][0]["http"]["paths"]
    assert [p["backend"]["service"]["name"] for p in paths] == ["web-canary", "api"]
    assert spec["defaultBackend"]["service"]["name"] == "web"


def api_error(status: int, message: str) -> ApiException:
    e = ApiException(status=status, reason="Forbidden" if status == 403 else "Error")
    e.body = json.dumps({"kind": "Status", "code": status, "message": message})
    return e


def test_forbidden_names_verb_resource_namespace_and_user() -> None:
    msg = (
        'deployments.apps "web" is forbidden: User "ci-bot" cannot patch resource'
        ' "deployments" in API group "apps" in the namespace "prod"'
    )
    err = describe_error(
        api_error(403, msg),
        _Op("patch", "deployments", "prod", "web"),
        "https://k8s:6443",
        "kubeconfig-user",
        "prod",
    )
    assert str(err).startswith(
        "forbidden: cannot patch deployments in namespace prod (as user ci-bot)"
    )
    assert "\n" not in str(err) and err.status == 403


def test_not_found_and_unreachable_are_one_line() -> None:
    err = describe_error(
        api_error(404, 'deployments.apps "web" not found'),
        _Op("get", "deployments", "prod", "web"),
        "u",
        "me",
        "ctx",
    )
    assert str(err) == "deployment web not found in namespace prod"
    refused = urllib3.exceptions.MaxRetryError(
        None,
        "/version",  # type: ignore[arg-type]
        urllib3.exceptions.NewConnectionError(
            None,
            "Failed to establish a new connection: [Errno 111] Connection refused",  # type: ignore[arg-type]
        ),
    )
    err = describe_error(refused, _Op("get", "version"), "http://127.0.0.1:1", "me", "ctx")
    assert str(err) == "API server unreachable at http://127.0.0.1:1: connection refused"
    assert err.status == 0


def test_ports_without_protocol_get_tcp_before_server_side_apply() -> None:
    from b2tui.adapters.kube.apply import fill_port_protocols

    svc: dict[str, Any] = {
        "kind": "Service",
        "spec": {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]},
    }
    fill_port_protocols(svc)
    assert [p["protocol"] for p in svc["spec"]["ports"]] == ["TCP", "UDP"]
    deploy: dict[str, Any] = {
        "kind": "Deployment",
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [{"name": "i", "ports": [{"containerPort": 1}]}],
                    "containers": [{"name": "web", "ports": [{"containerPort": 8080}]}],
                }
            }
        },
    }
    fill_port_protocols(deploy)
    pod = deploy["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["ports"][0]["protocol"] == "TCP"
    assert pod["containers"][0]["ports"][0]["protocol"] == "TCP"
    other: dict[str, Any] = {"kind": "ConfigMap", "data": {"ports": "80"}}
    fill_port_protocols(other)
    assert other == {"kind": "ConfigMap", "data": {"ports": "80"}}
