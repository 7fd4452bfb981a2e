"""The real control plane test service itself: rollout, crash loop, deletion, 410."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.realkube.cluster import RealKube
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures"


def ready(pod: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def test_a_deployment_rolls_out(realkube: RealKube, kube_ns: str) -> None:
    realkube.apply_yaml((FIXTURES / "production.yaml").read_text(), namespace=kube_ns)

    def rolled_out() -> bool:
        st = realkube.deployment(kube_ns, "web").get("status") or {}
        return st.get("readyReplicas") == 4 and st.get("updatedReplicas") == 4

    wait_until(rolled_out, 60, "web to roll out on the real control plane")
    pods = realkube.pods(kube_ns, "app=web")
    assert len(pods) == 4 and all(ready(p) for p in pods)
    c = pods[0]["status"]["containerStatuses"][0]
    assert c["ready"] and "running" in c["state"]
    assert c["image"] == "registry.local/web:prod-0000000"
    # The Service went through the real apiserver's defaulting and validation.
    svc = realkube.get("v1", "Service", kube_ns, "web")
    assert svc is not None and svc["spec"]["ports"][0]["protocol"] == "TCP"
    assert svc["spec"]["clusterIP"].startswith("10.0.0.")


def test_crash_loop_on_request_and_deletion(realkube: RealKube, kube_ns: str) -> None:
    realkube.apply_yaml((FIXTURES / "staging.yaml").read_text(), namespace=kube_ns)
    wait_until(lambda: sum(map(ready, realkube.pods(kube_ns))) == 2, 60, "2 ready pods")

    realkube.crash(kube_ns, {"app": "web"})
    wait_until(lambda: not any(map(ready, realkube.pods(kube_ns))), 30, "pods to lose Ready")
    waiting = realkube.pods(kube_ns)[0]["status"]["containerStatuses"][0]
    assert waiting["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert waiting["restartCount"] >= 1
    wait_until(
        lambda: realkube.deployment(kube_ns, "web")["status"].get("readyReplicas", 0) == 0,
        30,
        "the Deployment to count no ready replica",
    )

    realkube.heal(kube_ns)
    wait_until(lambda: sum(map(ready, realkube.pods(kube_ns))) == 2, 30, "pods Ready again")

    # Scaling down deletes pods; the fake kubelet finishes their termination.
    realkube.scale(kube_ns, "web", 0)
    wait_until(lambda: realkube.pods(kube_ns) == [], 30, "the pods to be gone")
    assert realkube.kubelet is not None and realkube.kubelet.errors == []


def test_a_watch_from_before_a_compaction_gets_410(realkube: RealKube, kube_ns: str) -> None:
    realkube.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}, namespace=kube_ns
    )
    old_rv = realkube.http.get(f"/api/v1/namespaces/{kube_ns}/configmaps").json()["metadata"][
        "resourceVersion"
    ]
    realkube.compact()

    def gone() -> bool:
        params = {"watch": "true", "resourceVersion": old_rv, "timeoutSeconds": "2"}
        with realkube.http.stream(
            "GET", f"/api/v1/namespaces/{kube_ns}/configmaps", params=params
        ) as r:
            for line in r.iter_lines():
                event = json.loads(line)
                if event["type"] == "ERROR":
                    return bool(event["object"]["code"] == 410)
        return False

    assert gone(), "no 410 Gone after etcd compaction"
