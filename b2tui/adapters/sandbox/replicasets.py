"""The Deployment controller of the simulated cluster: a new template or replica count.

Rolling updates behave like a Deployment with a generous surge: every new pod is
created at once and each old pod is removed when a new one becomes Ready, so capacity
never dips. A new pod that never becomes Ready (a crash loop) keeps its old partner
running, as Kubernetes does, and the rollout never completes. Removals are scheduled
(a pod's ``deleted`` time), never waited for, so the state stays a function of time.
"""

from __future__ import annotations

import math

from b2tui.adapters.sandbox.noise import template_hash
from b2tui.adapters.sandbox.pods import Lifecycle
from b2tui.adapters.sandbox.state import Deployment, EnvState, PodRecord, ReplicaSet


def reconcile(
    life: Lifecycle,
    env: EnvState,
    dep: Deployment,
    now: float,
    *,
    image: str | None = None,
    replicas: int | None = None,
    pace: list[float] | None = None,
    immediate: bool = False,
) -> list[float]:
    """Move ``dep`` to ``image`` and ``replicas`` at ``now``, as its controller would.

    Args:
        life: when the pods of ``env`` turn Ready.
        pace: ready times of pods created elsewhere: surplus pods of ``dep`` are
            removed one per such time (a canary pod ready → a stable pod goes).
        immediate: remove surplus pods now (traffic must leave at once: rollback).

    Returns:
        Ready times, sorted, of this Deployment's not-yet-ready pods that no old pod
        of its own is waiting for: the pace for another Deployment's scale-down.
    """
    changed = False
    if image is not None and image != dep.image:
        h = template_hash(dep.name, image)
        rs = dep.replicasets.get(h)
        if rs is None:
            rs = dep.replicasets[h] = ReplicaSet(h, image, 0, now)
        # Reusing an old ReplicaSet (a rollback) renumbers it, as Kubernetes does.
        dep.revision += 1
        rs.revision = dep.revision
        dep.current = h
        changed = True
    if replicas is not None and replicas != dep.replicas:
        dep.replicas = replicas
        changed = True
    if changed:
        dep.progress_since = now
    cur = dep.rs
    alive = [p for p in cur.pods if p.alive(now)]
    steady = [p for p in alive if p.deleted is None]
    leaving = [p for p in alive if p.deleted is not None]
    if len(steady) < dep.replicas:
        # Pods whose removal was only scheduled are kept rather than replaced.
        for p in leaving[: dep.replicas - len(steady)]:
            p.deleted = None
            steady.append(p)
        while len(steady) < dep.replicas:
            p = PodRecord(cur.next_seq, now)
            cur.next_seq += 1
            cur.pods.append(p)
            steady.append(p)
    elif len(steady) > dep.replicas:
        ready_now = {id(p): life.ready_at(env, dep, cur, p) <= now for p in steady}
        # The ReplicaSet controller removes not-ready pods first, then the youngest.
        victims = sorted(steady, key=lambda p: (ready_now[id(p)], -p.created, -p.seq))
        _schedule(victims[: len(steady) - dep.replicas], [] if immediate else pace or [], now)
    pending = sorted(r for r in (life.ready_at(env, dep, cur, p) for p in steady) if r > now)
    old = sorted(
        (
            p
            for rs in dep.replicasets.values()
            if rs is not cur
            for p in rs.pods
            if p.alive(now) and p.deleted is None
        ),
        key=lambda p: (p.created, p.seq),
    )
    if old:
        _schedule(old, [] if immediate else pending, now)
        pending = pending[len(old) :]
    return pending


def _schedule(victims: list[PodRecord], times: list[float], now: float) -> None:
    """Remove ``victims[i]`` at ``times[i]`` (never when that is infinite), the rest now."""
    for i, p in enumerate(victims):
        if i < len(times):
            if math.isfinite(times[i]):
                p.deleted = max(now, times[i])
        else:
            p.deleted = now
