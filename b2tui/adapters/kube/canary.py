"""The canary's workload: ``<deployment>-canary`` next to stable, and its Service.

The canary Deployment is made from the stable spec with the new image and
``<track_label>: canary`` in its selector and pod labels. The replica total the split is
computed over (``replicas`` of the environment, else the stable Deployment's) is
remembered in the canary's ``b2tui.io/canary-total-replicas`` annotation. How traffic
reaches it is the router's business (:mod:`b2tui.adapters.kube.traffic`).
"""

from __future__ import annotations

from b2tui.adapters.kube import objects as o
from b2tui.adapters.kube.client import Api
from b2tui.adapters.kube.errors import Op
from b2tui.adapters.kube.objects import Obj
from b2tui.domain.canary import ReplicaSplit, replica_split
from b2tui.ports import Target

TOTAL_ANNOTATION = "b2tui.io/canary-total-replicas"
"""On the canary Deployment: the replica total the canary split is computed over."""


def total_replicas(target: Target, stable: Obj, canary: Obj | None) -> int:
    """The replica total the canary split is computed over."""
    if target.replicas:
        return target.replicas
    note = o.annotations_of(canary)
    if note.get(TOTAL_ANNOTATION, "").isdigit():
        return max(1, int(note[TOTAL_ANNOTATION]))
    return max(1, o.replicas(stable) + (o.replicas(canary) if canary else 0))


def canary_body(target: Target, stable: Obj, image: str, replicas: int, total: int) -> Obj:
    """A new canary Deployment made from ``stable``."""
    spec = o.derived_spec(stable, target.track_label, "canary", target.deployment, image)
    spec.pop("paused", None)
    spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": target.canary,
            "namespace": target.namespace,
            "labels": {**o.labels(stable), target.track_label: "canary"},
            "annotations": {TOTAL_ANNOTATION: str(total)},
        },
        "spec": spec,
    }


def ensure_canary(api: Api, target: Target, image: str, percent: int) -> ReplicaSplit:
    """Create or update the canary Deployment for ``percent``; the replica split."""
    ns = target.namespace
    stable = api.deployment(ns, target.deployment)
    canary = api.maybe_deployment(ns, target.canary)
    total = total_replicas(target, stable, canary)
    split = replica_split(percent, total)
    if canary is None:
        api.create_deployment(ns, canary_body(target, stable, image, split.canary, total))
    else:
        api.set_image(
            target,
            target.canary,
            canary,
            image,
            replicas=split.canary,
            annotations={TOTAL_ANNOTATION: str(total)},
        )
    return split


def scale_down(api: Api, target: Target) -> bool:
    """Canary to 0 replicas; True when it was running."""
    canary = api.maybe_deployment(target.namespace, target.canary)
    if canary is None or o.replicas(canary) == 0:
        return False
    api.scale(target.namespace, target.canary, 0)
    return True


def ensure_canary_service(api: Api, target: Target) -> None:
    """``<service>-canary``: the stable Service's selector plus ``track: canary``."""
    ns = target.namespace
    name = target.canary_service
    if api.maybe_service(ns, name) is not None:
        return
    svc = api.service(ns, target.service)
    ports = [{k: v for k, v in p.items() if k != "nodePort"} for p in o.items(svc, "spec", "ports")]
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {**o.labels(svc), target.track_label: "canary"},
        },
        "spec": {
            "selector": {**o.service_selector(svc), target.track_label: "canary"},
            "ports": ports,
        },
    }
    api.call(Op("create", "services", ns, name), api.conn.core.create_namespaced_service, ns, body)
