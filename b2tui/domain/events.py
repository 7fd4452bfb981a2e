"""Timeline events: what the engine emits and the TUI, the JSON printer and the store consume.

Every event is a frozen dataclass named in the past tense with ``ts`` (the run's clock)
and ``phase`` (or None). ``to_dict`` gives the JSON-lines contract:
``{"ts": ISO-8601, "event": kind, "phase": phase|null, ...fields}``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from b2tui.domain.gates import Comparison, GateResult, GateStatus, Rule
from b2tui.domain.phases import Phase
from b2tui.domain.records import copy_fields

_REGISTRY: dict[str, type[Event]] = {}


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of all events."""

    kind: ClassVar[str] = "event"
    ts: datetime
    """When it happened, on the run's clock (timezone-aware UTC)."""
    phase: Phase | None = None
    """Phase the run was in, or None outside phases."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.kind] = cls

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ts": self.ts.isoformat(),
            "event": self.kind,
            "phase": self.phase.value if self.phase else None,
        }
        for f in dataclasses.fields(self):
            if f.name in ("ts", "phase"):
                continue
            out[f.name] = _plain(getattr(self, f.name))
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Phase):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def event_from_dict(data: dict[str, Any]) -> Event:
    """Inverse of :meth:`Event.to_dict` (used when the store replays a run)."""
    cls = _REGISTRY.get(data["event"])
    if cls is None:
        raise ValueError(f"unknown event kind {data['event']!r}")
    kwargs: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for k, v in data.items():
        if k == "event" or k not in names:
            continue
        if k == "ts" or (k in ("until",) and isinstance(v, str)):
            kwargs[k] = datetime.fromisoformat(v)
        elif k == "phase":
            kwargs[k] = Phase(v) if v else None
        else:
            kwargs[k] = v
    return cls(**kwargs)


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    run_id: str
    service: str
    environment: str
    strategy: str
    version: str
    """Commit (short sha) being deployed."""
    image: str
    """Image reference the run deploys."""
    emergency: bool = False
    scenario: str | None = None
    """Sandbox scenario, None on a real cluster."""
    known_good: dict[str, Any] = field(default_factory=dict)
    """The rollback target recorded at start (revision, image, colour)."""


@dataclass(frozen=True, kw_only=True)
class ArtifactPinned(Event):
    """The image an environment gets, pinned by digest: staging's after its one build and
    push (or the pre-built tag resolved), production's when it promotes that digest."""

    kind: ClassVar[str] = "artifact"
    environment: str
    image: str
    """The pinned reference deployed there: ``repo:<env>-<sha>@sha256:…``."""
    digest: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class RunResumed(Event):
    kind: ClassVar[str] = "run_resumed"
    run_id: str
    by: str
    """Who resumed it (user@host)."""


@dataclass(frozen=True, kw_only=True)
class PhaseStarted(Event):
    kind: ClassVar[str] = "phase_started"


@dataclass(frozen=True, kw_only=True)
class PhaseCompleted(Event):
    kind: ClassVar[str] = "phase_completed"
    duration: float
    """Seconds the phase took on the run's clock."""


@dataclass(frozen=True, kw_only=True)
class ChecklistChanged(Event):
    kind: ClassVar[str] = "check"
    item: str
    title: str
    state: str
    by: str | None = None
    detail: str = ""
    owner: str = ""
    manual: bool = False
    required: bool = True
    group: str = "readiness"
    """``readiness`` or ``smoke`` (the manual smoke checks)."""


@dataclass(frozen=True, kw_only=True)
class CommandStarted(Event):
    kind: ClassVar[str] = "command_started"
    name: str
    command: str


@dataclass(frozen=True, kw_only=True)
class CommandFinished(Event):
    kind: ClassVar[str] = "command_finished"
    name: str
    exit_code: int | None
    """None when the command timed out or was cancelled."""
    duration: float
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class LogLine(Event):
    kind: ClassVar[str] = "log"
    source: str
    """``build``, ``push``, ``test``, ``kube``…"""
    line: str


@dataclass(frozen=True, kw_only=True)
class GateSampled(Event):
    kind: ClassVar[str] = "gate"
    gate: str
    value: float | None
    threshold: float
    status: str
    track: str | None = None
    """``canary``, ``stable`` or None for the whole service."""
    reason: str = ""
    unit: str = ""
    environment: str = ""
    """Environment sampled (``staging`` during smoke, else production)."""
    comparison: str = "max"
    """``max`` (the value must stay below ``threshold``) or ``min`` (reach at least it)."""
    rule: str = "absolute"
    """Rule that decided: ``absolute``, ``relative`` (against stable) or ``mann-whitney``."""
    absolute: float | None = None
    """The configured absolute limit (``threshold`` may be derived from the baseline)."""
    baseline: float | None = None
    """Stable's value over the same window, when the canary was compared with it."""
    requests: float | None = None
    """Requests behind ``value`` (sample size)."""
    baseline_requests: float | None = None
    """Requests behind ``baseline``."""
    detail: str = ""
    """How the limit was derived, or why the comparison fell back to the absolute limit."""
    query: str = ""
    """The query as sent (``$selector`` expanded)."""

    def result(self) -> GateResult:
        """The verdict as a :class:`~b2tui.domain.gates.GateResult` (for
        :func:`~b2tui.domain.gates.verdict_text`)."""
        return copy_fields(
            GateResult,
            self,
            status=GateStatus(self.status),
            comparison=Comparison(self.comparison),
            rule=Rule(self.rule),
        )

    @classmethod
    def of(
        cls,
        r: GateResult,
        *,
        ts: datetime,
        phase: Phase | None,
        track: str | None,
        environment: str,
    ) -> GateSampled:
        """The event of one judged gate."""
        return copy_fields(
            cls,
            r,
            ts=ts,
            phase=phase,
            track=track,
            environment=environment,
            status=r.status.value,
            comparison=r.comparison.value,
            rule=r.rule.value,
        )


@dataclass(frozen=True, kw_only=True)
class TrafficChanged(Event):
    kind: ClassVar[str] = "traffic"
    canary_percent: int
    """Percent asked for the new version."""
    achieved_percent: float
    """Percent the traffic mechanism achieves (replica ratio may differ)."""
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class HoldStarted(Event):
    kind: ClassVar[str] = "hold"
    seconds: float
    until: datetime


@dataclass(frozen=True, kw_only=True)
class StageChanged(Event):
    kind: ClassVar[str] = "monitoring_stage"
    stage: str
    number: int
    until: datetime


@dataclass(frozen=True, kw_only=True)
class RollbackStarted(Event):
    kind: ClassVar[str] = "rollback_started"
    reason: str
    target: dict[str, Any]
    by: str = "engine"


@dataclass(frozen=True, kw_only=True)
class RollbackCompleted(Event):
    kind: ClassVar[str] = "rollback_completed"
    target: dict[str, Any]
    changed: bool
    """False when the workload already ran the target (idempotent no-op)."""
    duration: float
    recovered: bool = True
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class Notice(Event):
    kind: ClassVar[str] = "notice"
    level: str
    """``info``, ``warn`` or ``alert``."""
    message: str


@dataclass(frozen=True, kw_only=True)
class OperatorActed(Event):
    kind: ClassVar[str] = "operator"
    user: str
    action: str
    detail: str = ""
    accepted: bool = True


@dataclass(frozen=True, kw_only=True)
class PauseChanged(Event):
    kind: ClassVar[str] = "paused"
    paused: bool
    reason: str


@dataclass(frozen=True, kw_only=True)
class Notified(Event):
    kind: ClassVar[str] = "notified"
    channel: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    outcome: str
    reason: str = ""
