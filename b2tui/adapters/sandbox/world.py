"""The simulated cluster: Deployments, ReplicaSets, pods and Services over clock time.

The state holds only what changes on a mutation (a new template, a new replica count,
a pod's creation and scheduled deletion, the Service selector); everything that moves
with time alone — a pod turning Ready, a crash-looping container's restart count, which
pods serve traffic — is *derived* from that state and a time ``t``. So reading never
mutates, a snapshot taken after any mutation resumes exactly, and the past can be asked
about (metrics history) as well as the present.

Rolling updates behave like a Deployment with a generous surge: every new pod is
created at once and each old pod is removed when a new one becomes Ready, so capacity
never dips. A new pod that never becomes Ready (a crash loop) keeps its old partner
running, as Kubernetes does, and the rollout never completes.

Deterministic for a seed: pod names, readiness delays and nodes come from a hash of the
seed and the pod's identity, never from ``random``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from b2tui.adapters.sandbox.scenarios import Faults
from b2tui.config import Settings
from b2tui.domain.canary import ReplicaSplit, replica_split
from b2tui.domain.phases import Strategy
from b2tui.ports import (
    PodInfo,
    PodPhase,
    Revision,
    RollbackResult,
    RolloutState,
    SourceError,
    StepFailed,
    TrafficSplit,
)

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""Characters Kubernetes uses for generated names (no vowels, no look-alikes)."""

KNOWN_GOOD_SHA = "9f3c2a1"
"""Commit the sandbox's environments run when a run starts."""

PROGRESS_DEADLINE = 600.0
"""``progressDeadlineSeconds``: a rollout without progress for this long has failed."""

CRASH_EVERY = 30.0
"""Seconds between restarts of a crash-looping container."""

PRUNE_AFTER = 3600.0
"""Pods deleted longer ago than this are forgotten (bounds state and history)."""

LAYOUT_PLAIN = "plain"
LAYOUT_CANARY = "canary"
LAYOUT_BLUE_GREEN = "blue-green"
COLOURS = ("blue", "green")


def digest(*parts: object) -> int:
    """A stable 64-bit hash of ``parts`` (the same on every run and platform)."""
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big")


def unit(*parts: object) -> float:
    """A stable number in [0, 1) from ``parts``: the sandbox's only source of noise."""
    return digest(*parts) / 2.0**64


def _encode(n: int, length: int) -> str:
    out = []
    for _ in range(length):
        n, r = divmod(n, len(ALPHABET))
        out.append(ALPHABET[r])
    return "".join(out)


def template_hash(deployment: str, image: str) -> str:
    """``pod-template-hash`` of a Deployment's template (9–10 characters, like Kubernetes).

    It depends on the template only (the Deployment and its image), not on the seed:
    the same template always gets the same ReplicaSet, which is what makes a rollback
    reuse the old one.
    """
    n = digest("template", deployment, image)
    return _encode(n >> 1, 9 + (n & 1))


@dataclass(slots=True)
class PodRecord:
    """A pod's identity and lifetime; its state at a time is derived from these."""

    seq: int
    """Sequence number within its ReplicaSet: gives the name suffix and the noise."""
    created: float
    """Epoch seconds of creation."""
    deleted: float | None = None
    """Epoch seconds at which it is (or will be) gone; None while it is meant to stay."""

    def alive(self, t: float) -> bool:
        return self.created <= t and (self.deleted is None or t < self.deleted)


@dataclass
class ReplicaSet:
    """One template of a Deployment and the pods created from it."""

    hash: str
    image: str
    revision: int
    """``deployment.kubernetes.io/revision``: renumbered when a rollback reuses it."""
    created: float
    pods: list[PodRecord] = field(default_factory=list)
    next_seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "image": self.image,
            "revision": self.revision,
            "created": self.created,
            "next_seq": self.next_seq,
            "pods": [[p.seq, p.created, p.deleted] for p in self.pods],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReplicaSet:
        return cls(
            hash=d["hash"],
            image=d["image"],
            revision=int(d["revision"]),
            created=float(d["created"]),
            next_seq=int(d["next_seq"]),
            pods=[
                PodRecord(int(s), float(c), None if x is None else float(x))
                for s, c, x in d["pods"]
            ],
        )


@dataclass
class Deployment:
    """A Deployment: desired replicas, its current template and its ReplicaSets."""

    name: str
    track: str
    """Value of the pods' track (or colour) label: ``stable``, ``canary``, ``blue``…"""
    replicas: int
    current: str
    """Hash of the ReplicaSet of the current template."""
    revision: int
    """Highest revision number handed out so far."""
    progress_since: float
    """When the last spec change happened (start of the progress deadline)."""
    replicasets: dict[str, ReplicaSet] = field(default_factory=dict)

    @property
    def rs(self) -> ReplicaSet:
        return self.replicasets[self.current]

    @property
    def image(self) -> str:
        return self.rs.image

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "track": self.track,
            "replicas": self.replicas,
            "current": self.current,
            "revision": self.revision,
            "progress_since": self.progress_since,
            "replicasets": [rs.to_dict() for rs in self.replicasets.values()],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Deployment:
        sets = [ReplicaSet.from_dict(x) for x in d["replicasets"]]
        return cls(
            name=d["name"],
            track=d["track"],
            replicas=int(d["replicas"]),
            current=d["current"],
            revision=int(d["revision"]),
            progress_since=float(d["progress_since"]),
            replicasets={rs.hash: rs for rs in sets},
        )


@dataclass
class EnvState:
    """One environment (namespace) of the simulated cluster."""

    name: str
    layout: str
    """``plain`` (one Deployment), ``canary`` (stable + ``-canary``) or ``blue-green``."""
    service: str
    baseline_image: str
    """The known-good image the environment ran when the sandbox was built."""
    deployments: dict[str, Deployment]
    primary: str
    """Deployment that serves when there is no canary (plain and canary layouts)."""
    canary: str | None = None
    colours: dict[str, str] = field(default_factory=dict)
    """Blue-green: colour → Deployment name."""
    selector: list[tuple[float, str]] = field(default_factory=list)
    """Blue-green: history of the Service selector's colour, (since, colour)."""
    full_at: float | None = None
    """Since when the new version has had all of the traffic (None: not, or not now)."""
    node_prefix: str = "sandbox"

    def colour_at(self, t: float) -> str | None:
        """Colour the Service selected at ``t`` (None outside blue-green)."""
        colour = None
        for since, c in self.selector:
            if since <= t:
                colour = c
        return colour

    def dep(self, name: str) -> Deployment:
        """The Deployment called ``name``."""
        return self.deployments[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "layout": self.layout,
            "service": self.service,
            "baseline_image": self.baseline_image,
            "primary": self.primary,
            "canary": self.canary,
            "colours": dict(self.colours),
            "selector": [[t, c] for t, c in self.selector],
            "full_at": self.full_at,
            "node_prefix": self.node_prefix,
            "deployments": [d.to_dict() for d in self.deployments.values()],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnvState:
        deps = [Deployment.from_dict(x) for x in d["deployments"]]
        return cls(
            name=d["name"],
            layout=d["layout"],
            service=d["service"],
            baseline_image=d["baseline_image"],
            primary=d["primary"],
            canary=d.get("canary"),
            colours=dict(d.get("colours", {})),
            selector=[(float(t), str(c)) for t, c in d.get("selector", [])],
            full_at=d.get("full_at"),
            node_prefix=d.get("node_prefix", "sandbox"),
            deployments={x.name: x for x in deps},
        )


@dataclass(frozen=True)
class _PodKey:
    suffix: str
    delay: float
    """Seconds from creation to Ready."""
    node: str
    phase: float
    """Offset of this pod's crash cycle, so crash-looping pods don't restart in step."""


# Log lines a container writes; scan_logs matches patterns against them.
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


class World:
    """The simulated cluster of every environment in the settings.

    Args:
        seed: noise seed (pod names, readiness delays, nodes).
        scenario: scenario name (only recorded; ``faults`` carries the behaviour).
        faults: what misbehaves.
        settings: environments to create (``production`` gets ``strategy``'s layout).
        strategy: production layout: canary (stable + canary Deployments), blue-green
            (``-blue``/``-green``), or direct (one Deployment).
        now: epoch seconds at which the world is built; existing pods are days old.
    """

    def __init__(
        self,
        seed: int,
        scenario: str,
        faults: Faults,
        settings: Settings,
        strategy: Strategy,
        now: float,
    ) -> None:
        self.seed = seed
        self.scenario = scenario
        self.faults = faults
        self.strategy = strategy
        self.envs: dict[str, EnvState] = {}
        self.images: dict[str, dict[str, str | None]] = {}
        """Built images by tag: ``{"id": sha256:…, "digest": sha256:… | None}``."""
        self._keys: dict[tuple[str, str, int], _PodKey] = {}
        self._patterns: dict[str, re.Pattern[str]] = {}
        repo = settings.service.image
        for name, env in settings.environments.items():
            production = name == "production"
            short = "prod" if production else name
            image = f"{repo}:{short}-{KNOWN_GOOD_SHA}"
            history = tuple(f"{repo}:{short}-{sha}" for sha in ("2b7e0d4", "c41a9e8"))
            replicas = env.replicas or (10 if production else 2)
            if production and strategy is Strategy.BLUE_GREEN:
                layout = LAYOUT_BLUE_GREEN
            elif production and strategy is Strategy.CANARY:
                layout = LAYOUT_CANARY
            else:
                layout = LAYOUT_PLAIN
            self.envs[name] = self._initial_env(
                env.name,
                env.deployment,
                env.service,
                layout,
                (*history, image),
                replicas,
                env.context,
                now,
            )

    # --- building ------------------------------------------------------------------------

    def _initial_env(
        self,
        name: str,
        deployment: str,
        service: str,
        layout: str,
        images: tuple[str, ...],
        replicas: int,
        context: str | None,
        now: float,
    ) -> EnvState:
        *older, image = images
        first_rev = 7 if name == "production" else 12
        # The running version went out a few days ago; two older templates sit in the
        # revision history as ``kubectl rollout history`` would show them.
        age = 3 * 86400 + 4 * 3600 + unit(self.seed, name, "age") * 7200

        def make(dep_name: str, track: str, count: int) -> Deployment:
            dep = Deployment(dep_name, track, count, "", first_rev, now - age)
            for i, old in enumerate(older):
                h = template_hash(dep_name, old)
                since = now - age - (len(older) - i) * 5 * 86400
                dep.replicasets[h] = ReplicaSet(h, old, first_rev - len(older) + i, since)
            h = template_hash(dep_name, image)
            rs = ReplicaSet(h, image, first_rev, now - age)
            for _ in range(count):
                created = now - age + unit(self.seed, dep_name, rs.next_seq, "born") * 90
                rs.pods.append(PodRecord(rs.next_seq, created))
                rs.next_seq += 1
            dep.replicasets[h] = rs
            dep.current = h
            return dep

        state = EnvState(
            name, layout, service, image, {}, deployment, node_prefix=context or "sandbox"
        )
        if layout == LAYOUT_BLUE_GREEN:
            for colour in COLOURS:
                dep = make(f"{deployment}-{colour}", colour, replicas if colour == "blue" else 0)
                state.deployments[dep.name] = dep
                state.colours[colour] = dep.name
            state.primary = state.colours["blue"]
            state.selector = [(now - age, "blue")]
        else:
            track = "stable" if name == "production" else ""
            state.deployments[deployment] = make(deployment, track, replicas)
            if layout == LAYOUT_CANARY:
                canary = make(f"{deployment}-canary", "canary", 0)
                state.deployments[canary.name] = canary
                state.canary = canary.name
        return state

    # --- lookup --------------------------------------------------------------------------

    def env(self, name: str) -> EnvState:
        """The environment ``name``. Raises SourceError naming the known ones."""
        try:
            return self.envs[name]
        except KeyError:
            known = ", ".join(self.envs) or "none"
            raise SourceError(
                f"sandbox: no environment {name!r} (known: {known}); add it to the settings"
            ) from None

    def active(self, env: EnvState, t: float) -> Deployment:
        """The Deployment serving when no canary is involved (blue-green: the selected colour)."""
        if env.layout == LAYOUT_BLUE_GREEN:
            colour = env.colour_at(t) or COLOURS[0]
            return env.dep(env.colours[colour])
        return env.dep(env.primary)

    def track_deployment(self, env: EnvState, track: str | None, t: float) -> Deployment:
        """The Deployment behind ``track`` (None: the active one)."""
        if track is None:
            return self.active(env, t)
        if track == "stable" and env.layout != LAYOUT_BLUE_GREEN:
            return env.dep(env.primary)
        if track == "canary" and env.canary:
            return env.dep(env.canary)
        if track in env.colours:
            return env.dep(env.colours[track])
        tracks = ["stable", "canary"] if env.canary else list(env.colours) or ["stable"]
        raise SourceError(
            f"sandbox {env.name}: no track {track!r} with strategy {self.strategy.value}"
            f" (tracks: {', '.join(tracks)})"
        )

    # --- derived state -------------------------------------------------------------------

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
            suffix = _encode((a * pod.seq + (d >> 32)) % space, 5)
            node = f"{env.node_prefix}-node-{1 + digest(self.seed, suffix, 'node') % 3}"
            delay = 10.0 + 10.0 * unit(self.seed, rs.hash, pod.seq, "ready")
            phase = CRASH_EVERY * unit(self.seed, rs.hash, pod.seq, "crash")
            key = _PodKey(suffix, delay, node, phase)
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

    def _alive(self, env: EnvState, t: float) -> Iterator[tuple[Deployment, ReplicaSet, PodRecord]]:
        for dep in env.deployments.values():
            for rs in dep.replicasets.values():
                for pod in rs.pods:
                    if pod.alive(t):
                        yield dep, rs, pod

    def pod_info(
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
            if age > 86400 and unit(self.seed, rs.hash, pod.seq, "restart") < 0.15:
                restarts = 1  # an old pod that once hit a node drain or OOM
        return PodInfo(
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

    def pods(self, name: str, t: float) -> list[PodInfo]:
        """Pods of the environment alive at ``t`` (every Deployment, oldest template first)."""
        env = self.env(name)
        return [self.pod_info(env, dep, rs, pod, t) for dep, rs, pod in self._alive(env, t)]

    def rollout(self, name: str, track: str | None, t: float) -> RolloutState:
        """Rollout progress of a Deployment at ``t``, judged as ``kubectl rollout status``."""
        env = self.env(name)
        dep = self.track_deployment(env, track, t)
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

    def serving(self, name: str, t: float) -> dict[tuple[str, str], int]:
        """Ready pods behind the Service at ``t``, counted per (track, image)."""
        env = self.env(name)
        if env.layout == LAYOUT_BLUE_GREEN:
            deps: Iterable[Deployment] = [self.active(env, t)]
        else:
            deps = env.deployments.values()
        out: dict[tuple[str, str], int] = {}
        for dep in deps:
            for rs in dep.replicasets.values():
                for pod in rs.pods:
                    if pod.alive(t) and self.ready_at(env, dep, rs, pod) <= t:
                        k = (dep.track, rs.image)
                        out[k] = out.get(k, 0) + 1
        return out

    def new_version_present(self, name: str, t: float) -> bool:
        """True when a pod of another image than the known-good one exists at ``t``."""
        env = self.env(name)
        return any(rs.image != env.baseline_image for _, rs, _ in self._alive(env, t))

    def current_revision(self, name: str, t: float) -> Revision:
        """What the environment's active Deployment runs at ``t``."""
        env = self.env(name)
        dep = self.active(env, t)
        colour = dep.track if env.layout == LAYOUT_BLUE_GREEN else None
        return Revision(
            dep.name, str(dep.rs.revision), dep.image, colour, dep.replicas, dep.current
        )

    def log_counts(
        self, name: str, patterns: tuple[str, ...], since: float, t: float
    ) -> dict[str, int]:
        """Lines matching each pattern in the logs of the new pods over ``[t - since, t]``.

        New pods are the alive pods of each Deployment's current template that run
        another image than the known-good one (all current pods when there are none).
        """
        env = self.env(name)
        pods = [(d, rs, p) for d, rs, p in self._alive(env, t) if rs is d.rs]
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

    # --- mutations -----------------------------------------------------------------------

    def _set(
        self,
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
            ready_now = {id(p): self.ready_at(env, dep, cur, p) <= now for p in steady}
            # The ReplicaSet controller removes not-ready pods first, then the youngest.
            victims = sorted(steady, key=lambda p: (ready_now[id(p)], -p.created, -p.seq))
            _schedule(victims[: len(steady) - dep.replicas], [] if immediate else pace or [], now)
        pending = sorted(r for r in (self.ready_at(env, dep, cur, p) for p in steady) if r > now)
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

    def _after_change(self, env: EnvState, now: float) -> None:
        self._update_full_at(env, now)
        for dep in env.deployments.values():
            for rs in dep.replicasets.values():
                rs.pods = [p for p in rs.pods if p.deleted is None or p.deleted > now - PRUNE_AFTER]

    def _update_full_at(self, env: EnvState, now: float) -> None:
        """Record since when the new version has all the traffic (None when it hasn't)."""
        if env.layout == LAYOUT_BLUE_GREEN:
            deps = [self.active(env, now)]
            since = env.selector[-1][0] if env.selector else -math.inf
        else:
            deps = list(env.deployments.values())
            since = -math.inf
        latest = since
        new = False
        for dep in deps:
            for rs in dep.replicasets.values():
                for p in rs.pods:
                    if rs.image == env.baseline_image:
                        if p.deleted is None:
                            env.full_at = None
                            return
                        latest = max(latest, p.deleted)
                    elif p.deleted is None:
                        new = True
        if not new:
            env.full_at = None
        elif env.full_at is None:
            env.full_at = latest if latest > -math.inf else now

    def deploy(self, name: str, image: str, replicas: int | None, now: float) -> None:
        """Set the image of the active Deployment (a rolling update)."""
        env = self.env(name)
        dep = self.active(env, now)
        self._set(env, dep, now, image=image, replicas=replicas or dep.replicas)
        self._after_change(env, now)

    def _canary_layout(self, env: EnvState, what: str) -> tuple[Deployment, Deployment]:
        if env.canary is None:
            raise StepFailed(
                f"sandbox {env.name}: {what} needs stable and canary Deployments, but the"
                f" sandbox was built with strategy {self.strategy.value};"
                " restart the demo with --strategy canary"
            )
        return env.dep(env.primary), env.dep(env.canary)

    def set_canary(
        self, name: str, image: str, percent: int, total: int | None, now: float
    ) -> TrafficSplit:
        """Run ``image`` as canary with the replica share nearest to ``percent``."""
        env = self.env(name)
        stable, canary = self._canary_layout(env, "a canary")
        n = total or (stable.replicas + canary.replicas)
        split: ReplicaSplit = replica_split(percent, n)
        if split.canary >= canary.replicas:
            pace = self._set(env, canary, now, image=image, replicas=split.canary)
            self._set(env, stable, now, replicas=split.stable, pace=pace)
        else:
            pace = self._set(env, stable, now, replicas=split.stable)
            self._set(env, canary, now, image=image, replicas=split.canary, pace=pace)
        self._after_change(env, now)
        return TrafficSplit(percent, split.achieved_percent, f"{split.canary}/{n} replicas")

    def promote(self, name: str, image: str, total: int | None, now: float) -> None:
        """Stable takes ``image`` with every replica; canary pods leave as stable's are Ready."""
        env = self.env(name)
        stable, canary = self._canary_layout(env, "promote")
        n = total or (stable.replicas + canary.replicas)
        pace = self._set(env, stable, now, image=image, replicas=n)
        self._set(env, canary, now, replicas=0, pace=pace)
        self._after_change(env, now)

    def _blue_green(self, env: EnvState, what: str) -> None:
        if env.layout != LAYOUT_BLUE_GREEN:
            raise StepFailed(
                f"sandbox {env.name}: {what} needs blue and green Deployments, but the sandbox"
                f" was built with strategy {self.strategy.value};"
                " restart the demo with --strategy blue-green"
            )

    def stage_colour(self, name: str, image: str, replicas: int | None, now: float) -> str:
        """Deploy ``image`` to the idle colour; return the colour."""
        env = self.env(name)
        self._blue_green(env, "staging a colour")
        active = self.active(env, now)
        idle = next(c for c in COLOURS if env.colours[c] != active.name)
        dep = env.dep(env.colours[idle])
        self._set(env, dep, now, image=image, replicas=replicas or active.replicas)
        self._after_change(env, now)
        return idle

    def switch_colour(self, name: str, colour: str, label: str, now: float) -> TrafficSplit:
        """Point the Service selector at ``colour``."""
        env = self.env(name)
        self._blue_green(env, "switching colour")
        if colour not in env.colours:
            raise StepFailed(f"sandbox {name}: no colour {colour!r} (blue or green)")
        if env.colour_at(now) != colour:
            env.selector.append((now, colour))
        self._after_change(env, now)
        return TrafficSplit(100, 100.0, f"service {env.service} selector {label}={colour}")

    def retire_colour(self, name: str, colour: str, now: float) -> None:
        """Scale ``colour`` to zero; refused while the Service selects it."""
        env = self.env(name)
        self._blue_green(env, "retiring a colour")
        if colour not in env.colours:
            raise StepFailed(f"sandbox {name}: no colour {colour!r} (blue or green)")
        if env.colour_at(now) == colour:
            raise StepFailed(
                f"sandbox {name}: refusing to scale down {colour}: the Service still selects it"
            )
        self._set(env, env.dep(env.colours[colour]), now, replicas=0, immediate=True)
        self._after_change(env, now)

    def rollback(self, name: str, target: Revision, now: float) -> RollbackResult:
        """Restore ``target``: traffic first (selector, canary gone), then its replicas.

        Idempotent: when the environment already runs the target, nothing changes and
        ``changed`` is False.
        """
        env = self.env(name)
        steps: list[str] = []
        if env.layout == LAYOUT_BLUE_GREEN:
            colour = target.colour or COLOURS[0]
            if colour not in env.colours:
                raise StepFailed(f"sandbox {name}: rollback target colour {colour!r} unknown")
            dep = env.dep(env.colours[colour])
            other = env.dep(env.colours[next(c for c in COLOURS if c != colour)])
            if env.colour_at(now) != colour:
                env.selector.append((now, colour))
                steps.append(f"selector → {colour}")
            if other.replicas:
                steps.append(f"{other.name} scaled {other.replicas} → 0")
                self._set(env, other, now, replicas=0, immediate=True)
        else:
            dep = (
                env.dep(target.deployment)
                if target.deployment in env.deployments
                else env.dep(env.primary)
            )
            if env.canary and env.dep(env.canary).replicas:
                canary = env.dep(env.canary)
                steps.append(f"{canary.name} scaled {canary.replicas} → 0")
                self._set(env, canary, now, replicas=0, immediate=True)
        if dep.image != target.image or dep.replicas != target.replicas:
            before = f"rev {dep.rs.revision}, {dep.replicas} replicas"
            self._set(env, dep, now, image=target.image, replicas=target.replicas)
            steps.append(
                f"{dep.name} {before} → rev {dep.rs.revision} ({target.image.rsplit('/', 1)[-1]},"
                f" {dep.replicas} replicas)"
            )
        if not steps:
            return RollbackResult(
                False,
                f"already on the target: {dep.name} rev {dep.rs.revision}"
                f" ({dep.image.rsplit('/', 1)[-1]}, {dep.replicas} replicas)",
            )
        self._after_change(env, now)
        return RollbackResult(True, "; ".join(steps))

    # --- persistence ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (everything a resumed sandbox needs)."""
        return {
            "envs": [e.to_dict() for e in self.envs.values()],
            "images": {k: dict(v) for k, v in self.images.items()},
        }

    def load(self, state: dict[str, Any]) -> None:
        """Replace the state with ``state`` (from :meth:`to_dict`)."""
        envs = [EnvState.from_dict(e) for e in state["envs"]]
        self.envs = {e.name: e for e in envs}
        self.images = {k: dict(v) for k, v in state.get("images", {}).items()}
        self._keys.clear()


def _schedule(victims: list[PodRecord], times: list[float], now: float) -> None:
    """Remove ``victims[i]`` at ``times[i]`` (never when that is infinite), the rest now."""
    for i, p in enumerate(victims):
        if i < len(times):
            if math.isfinite(times[i]):
                p.deleted = max(now, times[i])
        else:
            p.deleted = now


def _occurrences(first: float, every: float, t0: float, t1: float) -> int:
    """How many of ``first, first + every, …`` fall in ``[t0, t1]``."""
    if t1 < first or t1 < t0:
        return 0
    lo = max(0, math.ceil((t0 - first) / every))
    hi = math.floor((t1 - first) / every)
    return max(0, hi - lo + 1)
