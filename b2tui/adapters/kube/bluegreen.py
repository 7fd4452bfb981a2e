"""Blue-green: Deployments ``<deployment>-blue`` and ``<deployment>-green``, pods labelled
``<colour_label>: blue|green``; ``<service>``'s selector names the active colour.

Staging a version sets the idle colour's image and replicas (= the active colour's);
switching patches the Service selector; retiring scales the old colour to 0.
"""

from __future__ import annotations

from b2tui.adapters.kube import objects as o
from b2tui.adapters.kube.client import Api
from b2tui.adapters.kube.errors import KubeApiError, Op
from b2tui.adapters.kube.objects import COLOURS
from b2tui.ports import Revision, StepFailed, Target, TrafficSplit


def active_colour(api: Api, target: Target) -> str:
    """The colour ``<service>`` selects; one line saying how to fix a selector without."""
    svc = api.service(target.namespace, target.service)
    colour = o.service_selector(svc).get(target.colour_label)
    if colour not in COLOURS:
        raise KubeApiError(
            f"service {target.service} in namespace {target.namespace} selects no colour: add"
            f" {target.colour_label}: blue (or green) to its selector for blue-green"
        )
    return str(colour)


def other(colour: str) -> str:
    return COLOURS[1 - COLOURS.index(colour)]


def stage(api: Api, target: Target, image: str) -> str:
    """Deploy ``image`` to the idle colour at the active colour's scale; return it."""
    ns = target.namespace
    active = active_colour(api, target)
    idle = other(active)
    active_d = api.deployment(ns, target.colour_deployment(active))
    name = target.colour_deployment(idle)
    cur = api.maybe_deployment(ns, name)
    if cur is not None:
        api.set_image(target, name, cur, image, replicas=o.replicas(active_d))
        return idle
    label = target.colour_label
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {**o.labels(active_d), label: idle},
        },
        "spec": o.derived_spec(active_d, label, idle, target.deployment, image),
    }
    api.create_deployment(ns, body)
    return idle


def patch_selector(api: Api, target: Target, colour: str) -> None:
    api.call(
        Op("patch", "services", target.namespace, target.service),
        api.conn.core.patch_namespaced_service,
        target.service,
        target.namespace,
        {"spec": {"selector": {target.colour_label: colour}}},
        _content_type="application/merge-patch+json",
    )


def switch(api: Api, target: Target, colour: str) -> TrafficSplit:
    """Point the Service selector at ``colour``."""
    if colour not in COLOURS:
        raise StepFailed(f"colour must be blue or green, not {colour!r}")
    patch_selector(api, target, colour)
    return TrafficSplit(100, 100.0, f"selector {target.colour_label}={colour}")


def retire(api: Api, target: Target, colour: str) -> None:
    """Scale ``colour`` to 0; refused while it serves."""
    if active_colour(api, target) == colour:
        raise StepFailed(f"{colour} serves traffic now: switch away before retiring it")
    api.scale(target.namespace, target.colour_deployment(colour), 0)


def restore(api: Api, target: Target, revision: Revision) -> bool:
    """The Service back on ``revision``'s colour (scaled up first if retired); True when
    the selector changed."""
    colour = str(revision.colour)
    svc = api.service(target.namespace, target.service)
    if o.service_selector(svc).get(target.colour_label) == colour:
        return False
    old = api.deployment(target.namespace, revision.deployment)
    if o.replicas(old) == 0:
        # Retired already: a Service pointed at no pods is worse than a short wait.
        api.scale(target.namespace, revision.deployment, revision.replicas)
        api.wait_rollout(target.namespace, revision.deployment, target.rollout_timeout)
    patch_selector(api, target, colour)
    return True


def traffic(api: Api, target: Target) -> TrafficSplit:
    colour = active_colour(api, target)
    return TrafficSplit(100, 100.0, f"{colour} active ({target.colour_label}={colour})")
