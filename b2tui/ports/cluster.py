"""The cluster ports: what runs in an environment, and how its traffic is split.

:class:`Cluster` is what the engine drives a run through, per environment
:class:`Target` (built once from the environment's settings).
:class:`Workloads` and :class:`TrafficControl` are the capability ports of one
:class:`Target` (``b2tui status``, ``b2tui rollback`` outside a run). Kubernetes and the
sandbox implement them.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from b2tui.config import EnvironmentSettings, HttpCheck
from b2tui.domain.images import short_digest, split_image
from b2tui.domain.phases import Strategy
from b2tui.domain.phases import Traffic as TrafficMode
from b2tui.domain.records import copy_fields
from b2tui.domain.revision import Revision
from b2tui.ports.tools import CheckResult


@dataclass(frozen=True)
class Target:
    """One environment's workloads as the cluster adapters name them.

    Built once per environment at the composition root (``Target.of(env)``): a capability
    port (:class:`Workloads`, :class:`TrafficControl`) gets this, not the whole
    environment record, so an adapter reads only names, labels and limits.
    """

    name: str
    """The environment (``production``)."""
    context: str | None
    """Kube context (None: the kubeconfig's current one)."""
    namespace: str
    deployment: str
    """The stable Deployment, and the base name of ``-canary`` / ``-blue`` / ``-green``."""
    service: str
    track_label: str = "track"
    colour_label: str = "color"
    strategy: Strategy = Strategy.CANARY
    traffic: TrafficMode = TrafficMode.REPLICAS
    ingress: str | None = None
    route: str | None = None
    replicas: int | None = None
    """Replica total for the canary math; None reads it from the stable Deployment."""
    manifests: tuple[str, ...] = ()
    rollout_timeout: float = 600.0
    preview_service: str | None = None
    """The Service the checks reach the new version through (blue-green's idle colour,
    the canary's pods)."""
    canary_header: str | None = None
    """Canary: the request header its router sends to the canary (nginx, gateway)."""
    canary_header_value: str = "always"

    @classmethod
    def of(cls, env: EnvironmentSettings) -> Target:
        """The target of ``env`` (built once, where the environment is chosen)."""
        return copy_fields(cls, env)

    @property
    def canary(self) -> str:
        """The canary Deployment."""
        return f"{self.deployment}-canary"

    @property
    def canary_service(self) -> str:
        return f"{self.service}-canary"

    def colour_deployment(self, colour: str) -> str:
        return f"{self.deployment}-{colour}"

    def track_deployment(self, track: str | None) -> str:
        """The Deployment of a track: stable is ``deployment``, others ``deployment-<track>``."""
        if track in (None, "", "stable"):
            return self.deployment
        return f"{self.deployment}-{track}"


class PodPhase(StrEnum):
    RUNNING = "Running"
    PENDING = "Pending"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class PodInfo:
    """A pod as the control room shows it."""

    name: str
    track: str
    """``stable``, ``canary``, ``blue``, ``green`` or ``""``."""
    phase: PodPhase
    reason: str
    """Waiting/terminated reason: ``CrashLoopBackOff``, ``ImagePullBackOff``, ``OOMKilled``…"""
    ready: bool
    restarts: int
    created: datetime
    image: str
    node: str = ""

    @property
    def crash_looping(self) -> bool:
        return self.reason in ("CrashLoopBackOff", "Error", "OOMKilled") and not self.ready

    @property
    def tag(self) -> str:
        """Image tag, ``latest`` when none; a digest-only reference shows its short digest."""
        _, tag, digest = split_image(self.image)
        return tag or (short_digest(digest) if digest else "latest")


@dataclass(frozen=True)
class RolloutState:
    """Progress of a Deployment rollout, as ``kubectl rollout status`` judges it."""

    complete: bool
    failed: bool = False
    message: str = ""
    updated: int = 0
    ready: int = 0
    desired: int = 0


@dataclass(frozen=True)
class TrafficSplit:
    """Traffic on the new version after a change."""

    asked_percent: int
    achieved_percent: float
    detail: str = ""
    """E.g. ``1/10 replicas`` or ``canary-weight=5``."""


@dataclass(frozen=True)
class RollbackResult:
    changed: bool
    """False when the workload already ran the target (a second request)."""
    detail: str = ""


@dataclass(frozen=True)
class DeploymentStatus:
    """One Deployment of an environment, as ``b2tui status`` lists it."""

    name: str
    revision: str
    image: str
    ready: int
    desired: int
    track: str
    """``stable``, ``canary``, ``blue`` or ``green``."""


@runtime_checkable
class Workloads(Protocol):
    """What runs in one environment, and putting a known revision back."""

    async def current_revision(self, env: Target) -> Revision:
        """The revision serving now (the stable Deployment, or the active colour)."""
        ...

    async def revisions(self, env: Target) -> list[Revision]:
        """Earlier revisions still restorable, newest first, without the current one:
        older ReplicaSets of the serving Deployment (as ``kubectl rollout undo`` picks
        them), or for blue-green the other colour while it still has replicas."""
        ...

    async def workloads(self, env: Target) -> list[DeploymentStatus]:
        """The environment's Deployments (stable, canary, blue, green) that exist."""
        ...

    async def pods(self, env: Target) -> list[PodInfo]:
        """Pods of the environment's workloads."""
        ...

    def rollback(self, env: Target, target: Revision) -> Awaitable[RollbackResult]:
        """Restore ``target``: traffic first, then the workload. Idempotent. The call may
        send the first request before the result is awaited."""
        ...


@runtime_checkable
class TrafficControl(Protocol):
    """How the environment's traffic is split now."""

    async def traffic(self, env: Target) -> TrafficSplit:
        """On the canary, or on the active colour (blue-green)."""
        ...


@runtime_checkable
class Cluster(Protocol):
    """Kubernetes (or the sandbox): workloads, pods and traffic of one environment."""

    async def current_revision(self, env: Target) -> Revision:
        """The revision serving production now: recorded at run start as the rollback target."""
        ...

    async def check_target(self, env: Target) -> list[str]:
        """Problems with the target (context, namespace, services down); empty when fine."""
        ...

    async def deploy(self, env: Target, image: str) -> None:
        """Apply the environment's manifests and set the image (staging, direct)."""
        ...

    async def rollout(self, env: Target, track: str | None = None) -> RolloutState:
        """Rollout progress of the environment's Deployment (or of one track's)."""
        ...

    async def pods(self, env: Target) -> list[PodInfo]:
        """Pods of the environment's workloads, with derived state and track."""
        ...

    async def set_canary(self, env: Target, image: str, percent: int) -> TrafficSplit:
        """Run ``image`` as canary next to stable and give it ``percent`` of the traffic."""
        ...

    async def promote(self, env: Target, image: str) -> None:
        """After 100 %: stable runs ``image``; the canary is scaled away."""
        ...

    async def stage_colour(self, env: Target, image: str) -> str:
        """Blue-green: deploy ``image`` to the idle colour; return that colour."""
        ...

    async def preview(self, env: Target, colour: str) -> str:
        """Blue-green: point ``env.preview_service`` at ``colour`` (created from the live
        Service when missing); return the URL it answers at through the API server's
        service proxy. Raises StepFailed when it would select the live colour."""
        ...

    async def preview_check(self, env: Target, check: HttpCheck) -> CheckResult:
        """One smoke check (its method, path and headers) sent through the API server's
        service proxy to the preview Service (blue-green's idle colour, the canary's pods)
        or, for a canary with ``canary_header`` and no preview Service, to
        ``<service>-canary``; with its retries."""
        ...

    async def canary_preview(self, env: Target, image: str, percent: int) -> str:
        """Canary, before its first weight: run ``image`` as the canary (the replicas of
        ``percent``, stable untouched), route ``env.canary_header`` to it (nginx, gateway)
        and/or point ``env.preview_service`` at its pods; return the URL the checks reach
        it at through the API server's service proxy. Raises StepFailed when the router
        cannot route by header or nothing reaches the canary."""
        ...

    async def withdraw_canary(self, env: Target) -> bool:
        """Canary: its header route and weight gone, its pods scaled to 0 (what a rollback
        does to the canary); True when anything changed."""
        ...

    async def switch_colour(self, env: Target, colour: str) -> TrafficSplit:
        """Blue-green: point the Service selector at ``colour``."""
        ...

    async def retire_colour(self, env: Target, colour: str) -> None:
        """Blue-green: scale the old colour down once the monitoring window ended green."""
        ...

    def rollback(self, env: Target, target: Revision) -> Awaitable[RollbackResult]:
        """Restore ``target``: traffic first, then the canary scaled down. Idempotent. The
        call may send the first request before the result is awaited."""
        ...

    async def scan_logs(
        self, env: Target, patterns: tuple[str, ...], since_seconds: float
    ) -> dict[str, int]:
        """Matches per pattern in the recent logs of the new pods."""
        ...
