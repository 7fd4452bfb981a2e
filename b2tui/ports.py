"""The ports the engine drives a run through. Adapters implement them.

Every method is ``async``: adapters with blocking clients (kubernetes, docker,
…) run them in threads (``asyncio.to_thread``) so the event loop
never blocks. Failures are raised as :class:`SourceError` (or :class:`StepFailed` for a
step of the workflow) with a message fit for one line on the screen — never a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from b2tui.config import EnvironmentSettings, HttpCheck
from b2tui.domain.checklist import ChecklistItem
from b2tui.domain.events import Event
from b2tui.domain.gates import Reading
from b2tui.domain.phases import Strategy
from b2tui.domain.phases import Traffic as TrafficMode
from b2tui.domain.records import copy_fields
from b2tui.masking import mask

LineSink = Callable[[str], None]
"""Receives one line of streamed output (build, push, command)."""


class _MaskedError(Exception):
    """An error whose message is masked when it is made: it often quotes a server."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(mask(a) if isinstance(a, str) else a for a in args))


class SourceError(_MaskedError):
    """A data source or target failed; ``str()`` is one readable line."""


class StepFailed(_MaskedError):
    """A workflow step failed (build error, push denied, rollout failed)."""


# --- Cluster -----------------------------------------------------------------------------


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

    @classmethod
    def of(cls, env: EnvironmentSettings | Target) -> Target:
        """The target of ``env`` (itself when it is one already)."""
        if isinstance(env, Target):
            return env
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


Place = EnvironmentSettings | Target
"""What a cluster adapter method accepts: the environment record (the engine's
:class:`Cluster` calls) or its :class:`Target` (the capability ports)."""


@dataclass(frozen=True)
class Revision:
    """What a workload runs at a point in time: the rollback target."""

    deployment: str
    """Deployment that serves the known-good version."""
    revision: str
    """ReplicaSet revision number (``deployment.kubernetes.io/revision``) or colour."""
    image: str
    """Container image of that revision."""
    colour: str | None = None
    """Active colour (blue-green), None otherwise."""
    replicas: int = 1
    template_hash: str | None = None
    """``pod-template-hash`` of that revision's ReplicaSet: identifies the template even
    after Kubernetes renumbers the revision on a rollback."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "revision": self.revision,
            "image": self.image,
            "colour": self.colour,
            "replicas": self.replicas,
            "template_hash": self.template_hash,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Revision:
        return cls(
            deployment=d["deployment"],
            revision=str(d["revision"]),
            image=d["image"],
            colour=d.get("colour"),
            replicas=int(d.get("replicas", 1)),
            template_hash=d.get("template_hash"),
        )

    def describe(self) -> str:
        """Short text: ``b2connect rev 7 (…/b2connect:prod-1a2b3c4)``."""
        colour = f" {self.colour}" if self.colour else ""
        return f"{self.deployment}{colour} rev {self.revision} ({self.image})"


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
        """Image tag, ``latest`` when none."""
        tail = self.image.rsplit("/", 1)[-1]
        return tail.split(":", 1)[1] if ":" in tail else "latest"


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

    async def rollback(self, env: Target, target: Revision) -> RollbackResult:
        """Restore ``target``: traffic first, then the workload. Idempotent."""
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

    async def current_revision(self, env: EnvironmentSettings) -> Revision:
        """The revision serving production now: recorded at run start as the rollback target."""
        ...

    async def check_target(self, env: EnvironmentSettings) -> list[str]:
        """Problems with the target (context, namespace, services down); empty when fine."""
        ...

    async def deploy(self, env: EnvironmentSettings, image: str) -> None:
        """Apply the environment's manifests and set the image (staging, direct)."""
        ...

    async def rollout(self, env: EnvironmentSettings, track: str | None = None) -> RolloutState:
        """Rollout progress of the environment's Deployment (or of one track's)."""
        ...

    async def pods(self, env: EnvironmentSettings) -> list[PodInfo]:
        """Pods of the environment's workloads, with derived state and track."""
        ...

    async def set_canary(self, env: EnvironmentSettings, image: str, percent: int) -> TrafficSplit:
        """Run ``image`` as canary next to stable and give it ``percent`` of the traffic."""
        ...

    async def promote(self, env: EnvironmentSettings, image: str) -> None:
        """After 100 %: stable runs ``image``; the canary is scaled away."""
        ...

    async def stage_colour(self, env: EnvironmentSettings, image: str) -> str:
        """Blue-green: deploy ``image`` to the idle colour; return that colour."""
        ...

    async def switch_colour(self, env: EnvironmentSettings, colour: str) -> TrafficSplit:
        """Blue-green: point the Service selector at ``colour``."""
        ...

    async def retire_colour(self, env: EnvironmentSettings, colour: str) -> None:
        """Blue-green: scale the old colour down once the monitoring window ended green."""
        ...

    async def rollback(self, env: EnvironmentSettings, target: Revision) -> RollbackResult:
        """Restore ``target``: traffic first, then the canary scaled down. Idempotent."""
        ...

    async def scan_logs(
        self, env: EnvironmentSettings, patterns: tuple[str, ...], since_seconds: float
    ) -> dict[str, int]:
        """Matches per pattern in the recent logs of the new pods."""
        ...


# --- Metrics -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """Points for a sparkline: (epoch seconds, value or None for a gap)."""

    name: str
    points: list[tuple[float, float | None]] = field(default_factory=list)


@runtime_checkable
class Metrics(Protocol):
    """Prometheus (or the sandbox). Gate names: ``error_rate`` (ratio), ``p95_ms``,
    ``request_rate`` (req/s), and any configured extra gates."""

    async def sample(self, env: EnvironmentSettings, track: str | None) -> dict[str, Reading]:
        """One reading per gate for ``track`` (``canary``/``stable``) or the whole service.

        Missing data is a :class:`Reading` with ``value=None`` and a reason; a source
        that cannot be reached raises :class:`SourceError`.
        """
        ...

    async def history(
        self, env: EnvironmentSettings, track: str | None, seconds: float, step: float
    ) -> dict[str, Series]:
        """Range query per gate over the last ``seconds`` for sparklines."""
        ...


# --- Images, commands, checks, notifications ---------------------------------------------


@runtime_checkable
class Images(Protocol):
    async def build(self, tag: str, on_line: LineSink) -> str:
        """Build ``tag`` from the configured context; return the image id. Raises StepFailed."""
        ...

    async def push(self, tag: str, on_line: LineSink) -> str:
        """Push ``tag``; return its digest. Raises StepFailed."""
        ...

    async def check(self, tag: str) -> str:
        """The digest of ``tag`` in its registry, for an image built elsewhere (CI).

        Raises StepFailed with one line when the registry does not have it or cannot say.
        """
        ...


@dataclass(frozen=True)
class CommandResult:
    exit_code: int | None
    """None when the command timed out or was cancelled."""
    duration: float
    timed_out: bool = False
    tail: str = ""
    """Last lines of output, for the failure message."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@runtime_checkable
class Commands(Protocol):
    async def run(
        self, name: str, command: str, *, cwd: str, timeout: float, on_line: LineSink
    ) -> CommandResult:
        """Run a shell command, streaming its output; cancellation kills it."""
        ...


@dataclass(frozen=True)
class CheckResult:
    passed: bool | None
    """True pass, False fail, None unknown (could not tell)."""
    detail: str = ""


@runtime_checkable
class Checks(Protocol):
    async def readiness(self, item: ChecklistItem) -> CheckResult:
        """Answer an automatic readiness item (code merged, tests passing, build ok)."""
        ...

    async def http(self, check: HttpCheck) -> CheckResult:
        """One HTTP smoke check with its retries."""
        ...


@dataclass(frozen=True)
class Notification:
    """What a notifier sends; never carries a secret."""

    kind: str
    """``deployed``, ``incident`` (a rollback) or ``alert`` (needs a person now: the state
    cannot be saved)."""
    service: str
    environment: str
    version: str
    image: str
    run_id: str
    by: str
    duration: float
    reason: str = ""
    target: str = ""
    gates: dict[str, str] = field(default_factory=dict)
    """Gate name → display value at the time."""


@runtime_checkable
class Notifier(Protocol):
    async def notify(self, note: Notification) -> list[tuple[str, bool, str]]:
        """Send to every configured channel; return (channel, ok, detail) per channel.

        A channel failing is reported, not raised: a notification never decides a run.
        """
        ...


# --- Store -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """A row of ``runs``."""

    id: str
    service: str
    environment: str
    strategy: str
    version: str
    image: str
    emergency: bool
    params: dict[str, Any]
    state: dict[str, Any]
    clock: datetime | None
    started_at: datetime
    commit_at: datetime | None
    finished_at: datetime | None
    outcome: str | None
    reason: str | None
    created_by: str


@dataclass(frozen=True)
class Lease:
    """Who drives a run: held by one process, renewed while it lives."""

    owner: str
    """``user@host pid N on host`` of the driver."""
    host: str
    pid: int
    expires: float
    """Wall-clock (``time.time()``) second the lease lapses unless renewed."""


@dataclass(frozen=True)
class Claim:
    """The answer of :meth:`Store.claim_run`: which run is active and who drives it."""

    run: RunRecord | None
    """The active run of the service and environment (found or just created); None when
    there is none and none was offered."""
    driver: bool
    """True: this process now holds the run's lease and drives it."""
    created: bool = False
    """True: ``run`` is the new record offered to the claim."""
    holder: Lease | None = None
    """The live lease of another process when ``driver`` is False."""
    previous: Lease | None = None
    """A lapsed lease (expired, or its process is gone) this claim took over."""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    run_id: str | None
    wall_ts: str
    run_ts: str | None
    user: str
    action: str
    detail: str
    accepted: bool


class StoreError(Exception):
    """The state store cannot be opened, read or written. ``str()`` is one line naming the
    file (and the run) and how to fix it."""


class StoreWriteFailed(StoreError):
    """A write did not happen (disk full, read-only, locked); nothing of it was kept and
    retrying it later may succeed."""


class LeaseKeeper(Protocol):
    """Renews a driver lease away from the event loop (a thread, or the kube client's)."""

    @property
    def lost(self) -> Lease | None:
        """The lease of another process that took the run over, or None while it is ours."""
        ...

    @property
    def failing(self) -> str | None:
        """The last renewal's error while renewals fail, else None."""
        ...

    def stop(self) -> None:
        """Stop renewing (the lease is then released by :meth:`Store.release_lease`)."""
        ...


class Store(Protocol):
    """Where runs live: the SQLite store, or (later) a ConfigMap + Lease in the cluster.

    Reads of a damaged record raise :class:`StoreError`; failed writes raise
    :class:`StoreWriteFailed` and leave nothing half-written.
    """

    @property
    def location(self) -> str:
        """Where the state lives (a file path), for messages."""
        ...

    def claim_run(
        self,
        service: str,
        environment: str,
        *,
        sandbox: bool,
        owner: str,
        ttl: float,
        new: RunRecord | None = None,
    ) -> Claim:
        """Take the active run of ``service`` in ``environment`` and its lease — or create
        ``new`` with the lease — in one atomic step. At most one run per service,
        environment and kind (sandbox or real) is unfinished, and at most one live process
        holds its lease; a claim that loses returns the holder (attach as a watcher)."""
        ...

    def create_run(self, rec: RunRecord) -> None: ...

    def save_state(self, run_id: str, state: dict[str, Any], clock: datetime) -> None: ...

    def finish_run(self, run_id: str, outcome: str, reason: str, at: datetime) -> None: ...

    def get_run(self, run_id: str) -> RunRecord | None: ...

    def unfinished_run(
        self, service: str | None = None, *, sandbox: bool | None = None
    ) -> RunRecord | None: ...

    def append_event(self, run_id: str, event: Event) -> int: ...

    def events(self, run_id: str, after: int = 0) -> list[tuple[int, Event]]: ...

    def sign_off(self, run_id: str, item: str, user: str, run_ts: datetime) -> None: ...

    def audit(
        self,
        run_id: str | None,
        user: str,
        action: str,
        detail: str = "",
        *,
        accepted: bool = True,
        run_ts: datetime | None = None,
    ) -> None: ...

    def put_blob(self, run_id: str, key: str, value: dict[str, Any]) -> None: ...

    def get_blob(self, run_id: str, key: str) -> dict[str, Any] | None: ...

    def transaction(self) -> AbstractContextManager[None]:
        """Group writes: all of them happen, or (on an exception) none."""
        ...

    def acquire_lease(self, run_id: str, owner: str, ttl: float) -> tuple[bool, Lease | None]: ...

    def keep_lease(self, run_id: str, owner: str, ttl: float) -> LeaseKeeper:
        """Renew our lease every ``ttl / 3`` seconds off the event loop until stopped."""
        ...

    def lease(self, run_id: str) -> Lease | None: ...

    def driver(self, run_id: str) -> Lease | None:
        """The lease of another live process driving ``run_id``, or None if it is free."""
        ...

    def release_lease(self, run_id: str) -> None: ...

    def follow(self, run_id: str, on_change: Callable[[], None]) -> Callable[[], None] | None:
        """Push changes: call ``on_change`` (from any thread) whenever the run's records
        change, and return the function that stops it; None when this store cannot push
        (the follower then reads on a timer, as with the SQLite file)."""
        ...


@dataclass(frozen=True)
class Intent:
    """An operator action sent by a control room on another host, for the driver to apply."""

    run_id: str
    action: str
    """An :class:`b2tui.engine.api.Action` value."""
    user: str
    """Who sent it, as the cluster knows them (the audit log's name)."""
    arg: str = ""
    """The checklist item of a sign-off; empty otherwise."""
    id: str = ""


class IntentInbox(Protocol):
    """Where intents for a run another host drives are written and claimed."""

    user: str
    """Who this process is to the cluster (written into the intents it sends)."""

    def why_not(self) -> str | None:
        """None when this user may send intents, else one line saying why not."""
        ...

    def submit(self, intent: Intent) -> None:
        """Send ``intent``; raises :class:`SourceError` with one line."""
        ...

    def serve(self, run_id: str, on_intent: Callable[[Intent], None]) -> Callable[[], None]:
        """Driver side: hand every intent for ``run_id`` to ``on_intent`` exactly once
        (from a thread); returns the function that stops it."""
        ...


@dataclass
class Ports:
    """Everything a run needs from the outside world."""

    cluster: Cluster
    metrics: Metrics
    images: Images
    commands: Commands
    checks: Checks
    notifier: Notifier
