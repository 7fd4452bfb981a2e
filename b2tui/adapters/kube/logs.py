"""Log scanning: lines matching each pattern in the recent logs of the new pods."""

from __future__ import annotations

import math
import re

from b2tui.adapters.kube import objects as o
from b2tui.adapters.kube.client import Api
from b2tui.adapters.kube.errors import KubeApiError, Op
from b2tui.adapters.kube.objects import HASH_LABEL, Obj
from b2tui.ports import Target


def new_pods(api: Api, target: Target, pods: list[Obj], selector: str) -> list[Obj]:
    """The pods of the new version among ``pods``: the canary's, else the newest
    ReplicaSet's."""
    live = [p for p in pods if not o.terminating(p)]
    canary = [p for p in live if o.labels(p).get(target.track_label) == "canary"]
    if canary:
        return canary
    rs_list = api.call(
        Op("list", "replicasets", target.namespace),
        api.conn.apps.list_namespaced_replica_set,
        target.namespace,
        label_selector=selector or None,
    )
    rses = [rs for rs in o.items(rs_list, "items") if o.replicas(rs) > 0]
    if not rses:
        return live
    newest = max(rses, key=lambda rs: (o.meta(rs).get("creationTimestamp", ""), o.rev_number(rs)))
    h = o.template_hash(newest)
    return [p for p in live if o.labels(p).get(HASH_LABEL) == h]


def scan(
    api: Api, target: Target, pods: list[Obj], patterns: tuple[str, ...], since: float
) -> dict[str, int]:
    """Matches per pattern in the last ``since`` seconds of each pod's app container."""
    compiled = [(p, re.compile(p)) for p in patterns]
    counts = dict.fromkeys(patterns, 0)
    for pod in pods:
        name = o.name(pod)
        cs = o.items(pod, "spec", "containers") or [{}]
        cname = next(
            (c["name"] for c in cs if c.get("name") == target.deployment), cs[0].get("name")
        )
        try:
            text = api.raw(
                Op("get", "pods/log", target.namespace, name),
                api.conn.core.read_namespaced_pod_log,
                name,
                target.namespace,
                container=cname,
                since_seconds=max(1, math.ceil(since)),
                tail_lines=2000,
            ).decode(errors="replace")
        except KubeApiError as e:
            if e.status in (400, 404):  # not started yet, or gone: nothing to scan
                continue
            raise
        for line in text.splitlines():
            for p, rx in compiled:
                if rx.search(line):
                    counts[p] += 1
    return counts
