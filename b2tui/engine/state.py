"""The persisted state of a run: everything needed to resume it after a kill.

Saved as JSON in the store after every transition. Times are ISO strings on the run's
clock, so a resumed run keeps its holds' original deadlines.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from b2tui.domain.checklist import ChecklistItem, ItemKind, ItemState
from b2tui.domain.gates import GateStatus, GateTracker
from b2tui.domain.phases import Phase
from b2tui.domain.revision import Artifact, Revision, Rollback


class Step(StrEnum):
    """A checkpoint inside a phase: a step once done is skipped when the run resumes.

    Stored in :attr:`RunState.done` as its value, or ``<value>:<arg>`` for a step done once
    per image or weight (``build:<tag>``, ``push:<tag>``, ``rollout:<pct>``) — the format
    runs recorded before this type existed already use, so they resume unchanged.
    """

    ITEMS = "items"
    """Readiness: the checklist was built and announced."""
    PULL = "pull"
    TEST = "test"
    BUILD = "build"
    """Validate: the build command passed; with an image tag: that image was built."""
    PUSH = "push"
    """The image (tag as arg) was pushed."""
    CHECK_IMAGE = "check"
    """A pre-built image (tag as arg) was found in its registry (no build, no push)."""
    DEPLOY = "deploy"
    """Staging apply, or production's rolling update (direct)."""
    MANUAL_ITEMS = "manual_items"
    SMOKE_COMMAND = "smoke_cmd"
    HTTP = "http"
    LOGS = "logs"
    GO_PRODUCTION = "go-production"
    """The operator (or autopilot) said go after staging was verified."""
    CANARY = "canary"
    """Production canary: the first step was asked for."""
    ROLLOUT = "rollout"
    """The canary's pods at a weight (arg) were ready."""
    STAGE = "stage"
    """Blue-green: the idle colour was deployed."""
    PROMOTE = "promote"
    """Production: the digest staging verified was checked and tagged for production."""
    MONITORING_ITEMS = "monitoring_items"
    """Monitoring: its manual and automatic checks were added to the checklist."""
    PREVIEW = "preview"
    """The smoke checks passed on the new version before users: blue-green's idle colour,
    the canary before its first weight."""
    SWITCH = "switch"
    """Blue-green: the operator (or autopilot) said go for the switch."""

    def at(self, arg: object = "") -> str:
        """The stored checkpoint: ``build`` or ``build:<tag>``."""
        return f"{self.value}:{arg}" if arg != "" else self.value


@dataclass
class RunState:
    run_id: str
    """Identifier, e.g. ``r20260105-140000-1a2b3c4``."""
    service: str
    environment: str
    """Production environment name."""
    staging: str
    """Staging environment name."""
    strategy: str
    version: str
    """Short commit sha being deployed."""
    image_repo: str
    """Image repository; tags are ``<env>-<version>``."""
    image: str | None = None
    """A pre-built image (``run --image REF``) deployed to every environment as is;
    None: ``<image_repo>:<env>-<version>``."""
    prebuilt: bool = False
    """Build and push are skipped; the registry is asked for the image instead."""
    emergency: bool = False
    known_good: Revision | None = None
    """Rollback target recorded at start."""
    artifact: Artifact | None = None
    """The image staging verified, by digest: production deploys exactly this."""
    phase: Phase = Phase.READINESS
    phase_open: bool = False
    """True once ``phase_started`` was emitted for ``phase``."""
    phase_started: str | None = None
    done: list[str] = field(default_factory=list)
    """Checkpoints of the current phase already passed (:meth:`Step.at`); see :meth:`did`."""
    checklist: list[dict[str, Any]] = field(default_factory=list)
    """Readiness and manual smoke items (serialised :class:`ChecklistItem`)."""
    awaiting: str | None = None
    """Message when the run waits for the operator's advance (``n``)."""
    advance_requested: bool = False
    paused: bool = False
    pause_reason: str = ""
    pause_by: str = ""
    """Who paused: an operator's name, or ``engine:no-data`` for an automatic pause."""
    production_touched: bool = False
    """True once production received anything: from then on rollback is possible."""
    canary_percent: int = 0
    """Weight applied now."""
    requested_percent: int | None = None
    """Weight the canary loop should apply next (operator or autopilot)."""
    hold_until: str | None = None
    colour: str | None = None
    """Blue-green: the colour the new version was staged on."""
    stable_since: str | None = None
    """Smoke: start of the current streak of green staging samples."""
    monitoring_started: str | None = None
    stage_number: int = 0
    trackers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per scope (``staging``, ``canary``, ``service``): serialised GateTracker."""
    notified: list[str] = field(default_factory=list)
    """Keys of one-time notices already emitted (so a resume does not repeat them)."""
    rollback: Rollback | None = None
    """Set when a rollback started."""
    outcome: str | None = None
    reason: str = ""
    flags: list[str] = field(default_factory=list)
    """Run flags the operator set (``b2tui run --flag major-feature``): ``required_if``."""
    authors: list[str] = field(default_factory=list)
    """Accounts of the authors and committers of the deployed commits (``[people]``)."""
    author_emails: list[str] = field(default_factory=list)
    """Their emails, as git records them (after ``.mailmap``)."""
    starter: str = ""
    """Account that started the run (may not approve it where an item says ``starter``)."""

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: the fields are already JSON-shaped (lists and dicts of
        # plain values), and this runs after every sample — asdict's deep copy was most
        # of a run's CPU time.
        d = {f.name: getattr(self, f.name) for f in _FIELDS}
        d["phase"] = self.phase.value
        d["known_good"] = self.known_good.to_dict() if self.known_good else {}
        d["artifact"] = self.artifact.to_dict() if self.artifact else None
        d["rollback"] = self.rollback.to_dict() if self.rollback else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunState:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        kwargs["phase"] = Phase(kwargs.get("phase", Phase.READINESS.value))
        kwargs["known_good"] = Revision.maybe(kwargs.get("known_good"))
        kwargs["artifact"] = Artifact.from_dict(kwargs.get("artifact"))
        kwargs["rollback"] = Rollback.from_dict(kwargs.get("rollback"))
        return cls(**kwargs)

    # --- typed accessors -------------------------------------------------------------

    @property
    def target(self) -> Revision:
        """The rollback target; a run without one was blocked before anything changed."""
        if self.known_good is None:
            raise RuntimeError(f"run {self.run_id} has no rollback target recorded")
        return self.known_good

    def did(self, step: Step, arg: object = "") -> bool:
        """True when ``step`` (for ``arg``) is done in the current phase."""
        return step.at(arg) in self.done

    def items(self) -> list[ChecklistItem]:
        return [item_from_dict(d) for d in self.checklist]

    def set_items(self, items: list[ChecklistItem]) -> None:
        self.checklist = [item_to_dict(i) for i in items]

    def tracker(self, scope: str) -> GateTracker:
        d = self.trackers.get(scope)
        if d is None:
            return GateTracker()
        return GateTracker(
            consecutive_failures=d["consecutive_failures"],
            consecutive_unknowns=d["consecutive_unknowns"],
            unknown_since=d["unknown_since"],
            last=GateStatus(d["last"]),
        )

    def put_tracker(self, scope: str, t: GateTracker) -> None:
        self.trackers[scope] = {
            "consecutive_failures": t.consecutive_failures,
            "consecutive_unknowns": t.consecutive_unknowns,
            "unknown_since": t.unknown_since,
            "last": t.last.value,
        }


_FIELDS = dataclasses.fields(RunState)


def item_to_dict(i: ChecklistItem) -> dict[str, Any]:
    d = dataclasses.asdict(i)
    d["kind"] = i.kind.value
    d["state"] = i.state.value
    d["signed_at"] = i.signed_at.isoformat() if i.signed_at else None
    return d


def item_from_dict(d: dict[str, Any]) -> ChecklistItem:
    d = dict(d)
    d["kind"] = ItemKind(d["kind"])
    d["state"] = ItemState(d["state"])
    d["signed_at"] = datetime.fromisoformat(d["signed_at"]) if d.get("signed_at") else None
    d.setdefault("group", "readiness")
    for name in ("signatures", "not_by"):
        d[name] = tuple(d.get(name) or ())
    return ChecklistItem(**d)


def ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
