"""Pods over time: what each pod of the simulated cluster is, and logs, at a time ``t``.

A pod's record holds only its creation and deletion; turning Ready, a crash-looping
container's restart count and the lines it logs are derived from that, the seed and the
scenario's faults. So the past can be asked about (metrics history) as well as the
present, and reading never mutates.

Deterministic for a seed: name suffixes, readiness delays and nodes come from
:mod:`~b2tui.adapters.sandbox.noise`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from b2tui.adapters.sandbox.noise import ALPHABET, digest, encode, unit
from b2tui.adapters.sandbox.scenarios import Faults
from b2tui.adapters.sandbox.state import Deployment, EnvState, PodRecord, ReplicaSet
from b2tui.ports import PodInfo, PodPhase, RolloutState, SourceError

PROGRESS_DEADLINE = 600.0
"""``progressDeadlineSeconds``: a rollout without progress for this long has failed."""

CRASH_EVERY = 30.0
"""Seconds between restarts of a crash-looping container."""

# Log lines a container writes; log_counts matches patterns against them.
_START_LINES = (
    "info: Microsoft.Hosting.Lifetime[14] Now listening on: http://[::]:8080",
    "info: Microsoft.Hosting.Lifetime[0] Application started. Press Ctrl+C to shut down.",
    "info: Microsoft.Hosting.Lifetime[0] Hosting environment: {Env}",
    "info: Microsoft.EntityFrameworkCore.Migrations[20405] No migrations were applied."
    " The database is already up to date.",
)
_HEALTH_LINE = (
    "info: Microsoft.AspNetCore.Hosting.Diagnostics[2] Request finished HTTP/1.1 GET"
    " http://{service}:8080/healthz - 200 - text/plain 1.4ms"
)
_HEALTH_EVERY = 15.0
_CRASH_LINES = (
    "info: Microsoft.Hosting.Lifetime[0] Hosting environment: {Env}",
    "fail: B2Connect.Api.Startup[0] database migration check failed: connection error"
    " (timeout expired after 15s)",
    "Unhandled exception. System.InvalidOperationException: Unable to resolve service for"
    " type 'B2Connect.Catalog.IProductRepository' while attempting to activate"
    " 'B2Connect.Catalog.ProductService'.",
    "   at Microsoft.Extensions.DependencyInjection.ServiceLookup.CallSiteFactory"
    ".CreateArgumentCallSites(ServiceIdentifier serviceIdentifier, Type implementationType)",
    "   at B2Connect.Api.Program.<Main>$(String[] args) in /src/B2Connect.Api/Program.cs:line 87",
)

Placed = tuple[Deployment, ReplicaSet, PodRecord]
"""A pod with the ReplicaSet and Deployment it belongs to."""


@dataclass(frozen=True)
class _PodKey:
    suffix: str
    delay: float
    """Seconds from creation to Ready."""
    node: str
    phase: float
    """Offset of this pod's crash cycle, so crash-looping pods don't restart in step."""
    drained: bool
    """Shows one restart once a day old (a node drain or an OOM long ago)."""


def alive(env: EnvState, t: float) -> Iterator[Placed]:
    """The pods of ``env`` alive at ``t``, every Deployment, oldest template first."""
    for dep in env.deployments.values():
        for rs in dep.replicasets.values():
            for pod in rs.pods:
                if pod.alive(t):
                    yield dep, rs, pod


class Lifecycle:
    """How the pods of one sandbox live: name, node, readiness, crashes and logs.

    Args:
        seed: noise seed (name suffixes, readiness delays, nodes).
        faults: the scenario's faults (which images crash-loop where).
    """

    def __init__(self, seed: int, faults: Faults) -> None:
        self.seed = seed
        self.faults = faults
        self._keys: dict[tuple[str, str, int], _PodKey] = {}
        self._infos: dict[tuple[str, str, int], PodInfo] = {}
        """Each pod's last :class:`PodInfo`, given again while it is unchanged: a poll's
        unchanged pods are the same objects, which the control room compares first."""
        self._patterns: dict[str, re.Pattern[str]] = {}

    def forget(self) -> None:
        """Drop what was derived from a state that was replaced."""
        self._keys.clear()
        self._infos.clear()

    def _key(self, dep: Deployment, rs: ReplicaSet, pod: PodRecord, env: EnvState) -> _PodKey:
        k = (dep.name, rs.hash, pod.seq)
        key = self._keys.get(k)
        if key is None:
            space = len(ALPHABET) ** 5
            d = digest(self.seed, dep.name, rs.hash, "names")
            # An affine map with a multiplier prime to the space is a bijection: suffixes
            # within a ReplicaSet never collide, whatever the replica count.
            a = (d % (space - 1)) | 1
            if a % 3 == 0:
                a += 2
            suffix = encode((a * pod.seq + (d >> 32)) % space, 5)
            node = f"{env.node_prefix}-node-{1 + digest(self.seed, suffix, 'node') % 3}"
            delay = 10.0 + 10.0 * unit(self.seed, rs.hash, pod.seq, "ready")
            phase = CRASH_EVERY * unit(self.seed, rs.hash, pod.seq, "crash")
            drained = unit(self.seed, rs.hash, pod.seq, "restart") < 0.15
            key = _PodKey(suffix, delay, node, phase, drained)
            self._keys[k] = key
        return key

    def crashes(self, env: EnvState, image: str) -> bool:
        """True when pods of ``image`` crash-loop in ``env`` under this scenario."""
        return self.faults.staging_crash and env.name == "staging" and image != env.baseline_image

    def ready_at(self, env: EnvState, dep: Deployment, rs: ReplicaSet, pod: PodRecord) -> float:
        """When ``pod`` turns Ready (infinity when it never does)."""
        if self.crashes(env, rs.image):
            return math.inf
        return pod.created + self._key(dep, rs, pod, env).delay

    def info(
        self, env: EnvState, dep: Deployment, rs: ReplicaSet, pod: PodRecord, t: float
    ) -> PodInfo:
        """The pod as ``kubectl get pods`` would show it at ``t``."""
        key = self._key(dep, rs, pod, env)
        age = t - pod.created
        restarts = 0
        if self.crashes(env, rs.image):
            # Starts after ~4 s, dies a few seconds later, restarts about every 30 s.
            first_crash = 8.0 + key.phase / 6
            if age < 4.0:
                phase, reason, ready = PodPhase.PENDING, "ContainerCreating", False
            elif age < first_crash:
                phase, reason, ready = PodPhase.RUNNING, "", False
            else:
                restarts = 1 + int((age - first_crash) // CRASH_EVERY)
                phase, reason, ready = PodPhase.RUNNING, "CrashLoopBackOff", False
        elif age < 0.35 * key.delay:
            phase, reason, ready = PodPhase.PENDING, "ContainerCreating", False
        else:
            phase, reason, ready = PodPhase.RUNNING, "", age >= key.delay
            if age > 86400 and key.drained:
                restarts = 1  # an old pod that once hit a node drain or OOM
        k = (dep.name, rs.hash, pod.seq)
        last = self._infos.get(k)
        if (
            last is not None
            and (last.phase, last.reason, last.ready, last.restarts)
            == (phase, reason, ready, restarts)
            and last.image == rs.image
            and last.track == dep.track
        ):
            return last
        info = PodInfo(
            name=f"{dep.name}-{rs.hash}-{key.suffix}",
            track=dep.track,
            phase=phase,
            reason=reason,
            ready=ready,
            restarts=restarts,
            created=datetime.fromtimestamp(pod.created, UTC),
            image=rs.image,
            node=key.node,
        )
        self._infos[k] = info
        return info

    def rollout(self, env: EnvState, dep: Deployment, t: float) -> RolloutState:
        """Rollout progress of ``dep`` at ``t``, judged as ``kubectl rollout status``."""
        cur = dep.rs
        mine = [p for p in cur.pods if p.alive(t) and (p.deleted is None)]
        ready_times = [self.ready_at(env, dep, cur, p) for p in mine]
        ready = sum(1 for r in ready_times if r <= t)
        updated = len(mine)
        old = sum(
            1 for rs in dep.replicasets.values() if rs is not cur for p in rs.pods if p.alive(t)
        )
        desired = dep.replicas
        q = f'deployment "{dep.name}"'
        if updated >= desired and ready >= desired and old == 0:
            return RolloutState(
                True,
                False,
                f"{q} successfully rolled out",
                min(updated, desired),
                min(ready, desired),
                desired,
            )
        progressed = max([dep.progress_since, *(r for r in ready_times if r <= t)])
        if t - progressed > PROGRESS_DEADLINE:
            return RolloutState(
                False, True, f"{q} exceeded its progress deadline", updated, ready, desired
            )
        if updated < desired:
            msg = f"{updated} out of {desired} new replicas have been updated..."
        elif old:
            msg = f"{old} old replicas are pending termination..."
        else:
            msg = f"{ready} of {desired} updated replicas are available..."
        return RolloutState(
            False, False, f"Waiting for {q} rollout to finish: {msg}", updated, ready, desired
        )

    def serving(
        self, env: EnvState, deps: Iterable[Deployment], t: float
    ) -> dict[tuple[str, str], int]:
        """Ready pods of ``deps`` at ``t``, counted per (track, image)."""
        out: dict[tuple[str, str], int] = {}
        for dep in deps:
            for rs in dep.replicasets.values():
                for pod in rs.pods:
                    if pod.alive(t) and self.ready_at(env, dep, rs, pod) <= t:
                        k = (dep.track, rs.image)
                        out[k] = out.get(k, 0) + 1
        return out

    def log_counts(
        self, env: EnvState, patterns: tuple[str, ...], since: float, t: float
    ) -> dict[str, int]:
        """Lines matching each pattern in the logs of the new pods over ``[t - since, t]``.

        New pods are the alive pods of each Deployment's current template that run
        another image than the known-good one (all current pods when there are none).
        """
        pods = [(d, rs, p) for d, rs, p in alive(env, t) if rs is d.rs]
        new = [x for x in pods if x[1].image != env.baseline_image] or pods
        t0 = t - since
        counts: dict[str, int] = {}
        fmt = {"Env": env.name.capitalize(), "service": env.service}
        for dep, rs, pod in new:
            key = self._key(dep, rs, pod, env)
            if self.crashes(env, rs.image):
                # One crash report per container start: at ~4 s, then every 30 s.
                first = pod.created + 4.0 + key.phase / 6
                starts = _occurrences(first, CRASH_EVERY, t0, t)
                for line in _CRASH_LINES:
                    counts[line] = counts.get(line, 0) + starts
            else:
                start = pod.created + 0.35 * key.delay
                if t0 <= start <= t:
                    for line in _START_LINES:
                        counts[line] = counts.get(line, 0) + 1
                ready = pod.created + key.delay
                counts[_HEALTH_LINE] = counts.get(_HEALTH_LINE, 0) + _occurrences(
                    ready, _HEALTH_EVERY, t0, t
                )
        out: dict[str, int] = {}
        for pattern in patterns:
            rx = self._patterns.get(pattern)
            if rx is None:
                try:
                    rx = self._patterns[pattern] = re.compile(pattern)
                except re.error as e:
                    raise SourceError(f"log scan: bad pattern {pattern!r}: {e}") from None
            out[pattern] = sum(n for line, n in counts.items() if rx.search(line.format(**fmt)))
        return out


def _occurrences(first: float, every: float, t0: float, t1: float) -> int:
    """How many of ``first, first + every, …`` fall in ``[t0, t1]``."""
    if t1 < first or t1 < t0:
        return 0
    lo = max(0, math.ceil((t0 - first) / every))
    hi = math.floor((t1 - first) / every)
    return max(0, hi - lo + 1)
