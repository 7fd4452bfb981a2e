"""Revisions of an environment's workload: the one serving, the earlier ones still
restorable, and putting one back.

Functions over an :class:`~b2tui.adapters.kube.client.Api` and a
:class:`~b2tui.ports.Target`, called by :class:`~b2tui.adapters.kube.cluster.KubeCluster`
(``current_revision``, ``revisions``, the workload step of ``rollback``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from b2tui.adapters.kube import bluegreen
from b2tui.adapters.kube import objects as o
from b2tui.adapters.kube.client import Api
from b2tui.adapters.kube.objects import Obj
from b2tui.domain.phases import Strategy
from b2tui.ports import Revision, StepFailed, Target


def serving(api: Api, target: Target) -> tuple[str, str | None]:
    """(Deployment, colour) serving now: stable, or the active colour."""
    if target.strategy is Strategy.BLUE_GREEN:
        colour = bluegreen.active_colour(api, target)
        return target.colour_deployment(colour), colour
    return target.deployment, None


def current(api: Api, target: Target, list_pods: Callable[[], list[Obj]]) -> Revision:
    """The revision serving now (the stable Deployment, or the active colour).

    ``list_pods`` lists the workloads' pods; called only for a tag-only image."""
    name, colour = serving(api, target)
    deploy = api.deployment(target.namespace, name)
    rs = o.current_rs(deploy, api.replicasets(target.namespace, deploy))
    image = o.image_of(deploy, target.deployment)
    # A tag-only image: the digest its pods run, as the kubelet reports it.
    digest = None if "@" in image else o.running_digest(list_pods(), image)
    return Revision(
        deployment=name,
        revision=o.revision_of(deploy) or o.revision_of(rs) or "0",
        image=image,
        colour=colour,
        replicas=o.replicas(deploy),
        template_hash=o.template_hash(rs),
        digest=digest,
    )


def earlier(api: Api, target: Target) -> list[Revision]:
    """Earlier revisions still restorable, newest first (see :class:`~b2tui.ports.Workloads`).

    Canary and direct: the serving Deployment's other ReplicaSets by revision number,
    as ``kubectl rollout undo`` picks the previous one; each keeps today's replica
    count. Blue-green: the idle colour, while it still has replicas.
    """
    ns = target.namespace
    name, colour = serving(api, target)
    if colour is not None:
        idle = bluegreen.other(colour)
        d = api.maybe_deployment(ns, target.colour_deployment(idle))
        if d is None or o.replicas(d) == 0:
            return []
        rs = o.current_rs(d, api.replicasets(ns, d))
        return [
            Revision(
                deployment=o.name(d),
                revision=o.revision_of(d) or o.revision_of(rs) or "0",
                image=o.image_of(d, target.deployment),
                colour=idle,
                replicas=o.replicas(d),
                template_hash=o.template_hash(rs),
            )
        ]
    deploy = api.deployment(ns, name)
    rses = api.replicasets(ns, deploy)
    now = o.current_rs(deploy, rses)
    older = [
        rs
        for rs in rses
        if o.template_hash(rs) != o.template_hash(now)
        and not o.same_template(o.template(rs), o.template(deploy))
    ]
    older.sort(key=o.rev_number, reverse=True)
    return [
        Revision(
            deployment=name,
            revision=o.revision_of(rs) or "0",
            image=o.image_of(rs, target.deployment),
            replicas=o.replicas(deploy),
            template_hash=o.template_hash(rs),
        )
        for rs in older
    ]


def restore_workload(api: Api, where: Target, target: Revision) -> tuple[Obj, str | None]:
    """Pod template and replicas of ``target`` back on its Deployment, written only when
    they differ. Returns the Deployment as read and what changed (None: nothing).

    Raises StepFailed when the revision's ReplicaSet is gone.
    """
    ns = where.namespace
    deploy = api.deployment(ns, target.deployment)
    want = o.find_rs(api.replicasets(ns, deploy), target)
    if want is None:
        raise StepFailed(
            f"revision {target.revision} of {target.deployment} ({target.image}) is gone:"
            f" no ReplicaSet with pod-template-hash {target.template_hash} in namespace {ns}"
            " (revisionHistoryLimit?); roll forward with a new deploy"
        )
    want_tmpl = o.template_without_hash(o.template(want))
    ops: list[dict[str, Any]] = []
    if not o.same_template(o.template(deploy), want_tmpl):
        ops.append({"op": "add", "path": "/spec/template", "value": want_tmpl})
    if o.replicas(deploy) != target.replicas:
        ops.append({"op": "add", "path": "/spec/replicas", "value": target.replicas})
    if not ops:
        return deploy, None
    api.patch_deployment(ns, target.deployment, ops, "application/json-patch+json")
    if ops[0]["path"] == "/spec/template":
        return deploy, f"{target.deployment} back to {target.image}"
    return deploy, f"{target.deployment} at {target.replicas} replicas"
