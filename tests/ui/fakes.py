"""A scripted :class:`~b2tui.engine.api.RunSession` that folds a list of events.

Used only for the UI's development-time unit checks (layout of a view the real engine
would take long to reach); the pilot and snapshot tests use the real Conductor.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from b2tui.domain import events as ev
from b2tui.domain.phases import Phase
from b2tui.domain.view import RunView, apply
from b2tui.engine.api import Action, IntentResult


class ScriptedSession:
    """Folds events given to :meth:`emit`; refuses every intent listed in ``refuse``."""

    def __init__(self, *, read_only: bool = False, refuse: dict[Action, str] | None = None):
        self.view = RunView()
        self.read_only = read_only
        self.refuse = dict(refuse or {})
        self.calls: list[tuple[str, object]] = []
        self._subs: list[Callable[[ev.Event], None]] = []

    @property
    def driver(self) -> str:
        return "ana@jump pid 42"

    def subscribe(self, callback: Callable[[ev.Event], None]) -> Callable[[], None]:
        self._subs.append(callback)
        return lambda: self._subs.remove(callback)

    def emit(self, *events: ev.Event) -> None:
        for e in events:
            apply(self.view, e)
            for cb in list(self._subs):
                cb(e)

    def why_not(self, action: Action, item: str | None = None) -> str | None:
        return self.refuse.get(action)

    def _ok(self, name: str, arg: object = None) -> IntentResult:
        self.calls.append((name, arg))
        return IntentResult(True, f"{name} accepted")

    def advance(self, user: str) -> IntentResult:
        return self._ok("advance")

    def step_canary(self, delta: int, user: str) -> IntentResult:
        return self._ok("step_canary", delta)

    def set_canary(self, percent: int, user: str) -> IntentResult:
        return self._ok("set_canary", percent)

    def toggle_pause(self, user: str) -> IntentResult:
        return self._ok("toggle_pause")

    def sign_off(self, item: str, user: str) -> IntentResult:
        return self._ok("sign_off", item)

    def rollback(self, user: str, reason: str = "operator request") -> IntentResult:
        return self._ok("rollback", reason)


T0 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def canary_script(t0: datetime = T0) -> list[ev.Event]:
    """A run holding its canary at 5 %, with gates and a log."""

    def at(s: float) -> datetime:
        return t0 + timedelta(seconds=s)

    out: list[ev.Event] = [
        ev.RunStarted(
            ts=at(0),
            run_id="r1",
            service="b2connect",
            environment="production",
            strategy="canary",
            version="1a2b3c4",
            image="reg/b2connect:production-1a2b3c4",
            known_good={"revision": "7", "image": "reg/b2connect:prod-0f0f0f0"},
        ),
        ev.PhaseStarted(ts=at(0), phase=Phase.READINESS),
        ev.ChecklistChanged(
            ts=at(1),
            item="review_approved",
            title="Code review approved",
            state="pending",
            owner="code author",
            manual=True,
        ),
        ev.PhaseCompleted(ts=at(60), phase=Phase.READINESS, duration=60),
        ev.PhaseStarted(ts=at(60), phase=Phase.PRODUCTION),
        ev.TrafficChanged(ts=at(70), canary_percent=5, achieved_percent=10, detail="1/10 replicas"),
        ev.HoldStarted(ts=at(70), seconds=300, until=at(370)),
        ev.LogLine(ts=at(71), source="kube", line="canary scaled to 1"),
    ]
    for i in range(10):
        out.append(
            ev.GateSampled(
                ts=at(75 + 5 * i),
                gate="error_rate",
                value=0.0004 + i * 1e-5,
                threshold=0.001,
                status="pass",
                track="canary",
                unit="%",
            )
        )
        out.append(
            ev.GateSampled(
                ts=at(75 + 5 * i),
                gate="p95_ms",
                value=None,
                threshold=200,
                status="unknown",
                track="stable",
                unit="ms",
                reason="no data",
            )
        )
    return out
