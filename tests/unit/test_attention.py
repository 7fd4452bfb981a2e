"""Which events call the on-call, once per occurrence, and the bytes that call them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from b2tui.domain import events as ev
from b2tui.domain.attention import Attention, call_for
from b2tui.domain.phases import Phase
from b2tui.domain.view import RunView, apply
from b2tui.masking import register_secret
from b2tui.ui.terminal_calls import TerminalPrefs, passthrough, sequences

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def started() -> RunView:
    view = RunView()
    apply(
        view,
        ev.RunStarted(
            ts=T0,
            run_id="r1",
            service="shop",
            environment="production",
            strategy="canary",
            version="abc1234",
            image="reg/shop:prod-abc1234",
        ),
    )
    return view


def rings(events: list[ev.Event]) -> list[str]:
    """Fold ``events`` as a session does and take after each: the bodies rung."""
    view, attention, out = started(), Attention(), []
    for e in events:
        apply(view, e)
        attention.see(e, view)
        call = attention.take()
        if call is not None:
            out.append(call.body)
    return out


def check(item: str, state: str, by: str | None = None, s: float = 1) -> ev.ChecklistChanged:
    return ev.ChecklistChanged(
        ts=at(s),
        phase=Phase.READINESS,
        item=item,
        title=item.title(),
        state=state,
        by=by,
        owner="@tech-lead",
        manual=True,
    )


def gate(status: str, s: float, reason: str = "") -> ev.GateSampled:
    return ev.GateSampled(
        ts=at(s),
        phase=Phase.PRODUCTION,
        gate="error_rate",
        value=None if status == "unknown" else 0.0,
        threshold=0.001,
        status=status,
        track="canary",
        reason=reason,
    )


def test_a_due_sign_off_rings_once_and_a_signed_one_not() -> None:
    assert rings([check("review", "pending"), check("review", "pending", s=5)]) == [
        "sign-off due: Review (@tech-lead)"
    ]
    assert rings([check("review", "passed", by="ann")]) == []


def test_automatic_items_and_optional_ones_never_ring() -> None:
    auto = ev.ChecklistChanged(
        ts=at(1), phase=Phase.READINESS, item="tests", title="Tests", state="pending"
    )
    optional = ev.ChecklistChanged(
        ts=at(1),
        phase=Phase.READINESS,
        item="pii",
        title="PII",
        state="pending",
        manual=True,
        required=False,
    )
    assert call_for(auto, started()) is None and call_for(optional, started()) is None


def test_press_n_rings_once_per_wait_and_other_info_notices_never() -> None:
    ready = ev.Notice(ts=at(300), level="info", message="gates green at 5% — press n to go to 25%")
    other = ev.Notice(ts=at(301), level="info", message="the state is saved again")
    assert rings([ready, ready, other]) == ["gates green at 5% — press n to go to 25%"]


def test_a_rollback_rings_once_and_its_end_not_again() -> None:
    start = ev.RollbackStarted(ts=at(10), reason="error_rate 5% > 0.1%", target={"revision": 3})
    done = ev.RollbackCompleted(ts=at(20), target={"revision": 3}, changed=True, duration=10)
    end = ev.RunFinished(ts=at(21), outcome="rolled_back", reason="error_rate")
    assert rings([start, start, done, end]) == ["rollback (engine): error_rate 5% > 0.1%"]


def test_alerts_ring_once_per_kind_of_alert_whatever_the_attempt_number() -> None:
    a1 = ev.Notice(ts=at(1), level="alert", message="rollback attempt 1 failed: 503; retrying")
    a2 = ev.Notice(ts=at(3), level="alert", message="rollback attempt 2 failed: 503; retrying")
    unsaved = ev.Notice(ts=at(4), level="alert", message="the state could not be saved (disk)")
    assert rings([a1, a2, unsaved]) == [a1.message, unsaved.message]


def test_no_data_rings_once_per_streak_of_a_gate_not_each_poll() -> None:
    polls = [
        gate("pass", 0),
        gate("unknown", 5, "connection refused"),
        gate("unknown", 10),
        gate("unknown", 15),
        gate("pass", 20),
        gate("unknown", 25),
    ]
    assert rings(polls) == [
        "canary error_rate NO DATA: connection refused",
        "canary error_rate NO DATA",
    ]


def test_each_pause_rings_and_a_resume_does_not() -> None:
    pause = ev.PauseChanged(ts=at(1), paused=True, reason="3 failing samples: press R")
    resume = ev.PauseChanged(ts=at(2), paused=False, reason="resumed by ann")
    again = ev.PauseChanged(ts=at(3), paused=True, reason="paused by ann")
    assert rings([pause, resume, again]) == [
        "paused: 3 failing samples: press R",
        "paused: paused by ann",
    ]


def test_a_burst_rings_once_led_by_the_urgent_call() -> None:
    view, attention = started(), Attention()
    pause = ev.PauseChanged(ts=at(1), paused=True, reason="gates unknown")
    alert = ev.Notice(ts=at(1), level="alert", message="gates unknown for 3 samples")
    for e in (check("a", "pending"), check("b", "pending"), pause, alert):
        apply(view, e)
        attention.see(e, view)
    call = attention.take()
    assert call is not None and call.urgent
    assert call.body == "gates unknown for 3 samples (+3 more)"
    assert attention.take() is None


def test_blocked_and_aborted_ring_and_success_does_not() -> None:
    assert rings([ev.RunFinished(ts=at(1), outcome="blocked", reason="tests failed")]) == [
        "run blocked: tests failed"
    ]
    assert rings([ev.RunFinished(ts=at(1), outcome="succeeded")]) == []


ROLLBACK = call_for(
    ev.RollbackStarted(ts=at(1), reason="error_rate; a\x1b]0;pwned\x07 b", target={}), started()
)


def test_bell_and_both_notification_forms() -> None:
    assert ROLLBACK is not None
    out = sequences(ROLLBACK, TerminalPrefs())
    assert out.startswith("\a")
    assert "\x1b]9;b2tui: shop ROLLING BACK: rollback (engine): error_rate; a ]0;pwned b\a" in out
    assert (
        "\x1b]777;notify;b2tui: shop ROLLING BACK;rollback (engine): error_rate; a ]0;pwned b\a"
        in out
    )
    # The reason's ESC and BEL are gone: nothing in it ends the sequence early.
    assert out.count("\x1b") == 2 and out.count("\a") == 3


def test_tmux_wraps_each_osc_for_passthrough_and_not_the_bell() -> None:
    assert ROLLBACK is not None
    out = sequences(ROLLBACK, TerminalPrefs(tmux=True))
    osc9 = "\x1b]9;b2tui: shop ROLLING BACK: rollback (engine): error_rate; a ]0;pwned b\a"
    assert out.startswith("\a\x1bPtmux;\x1b\x1b]9;")
    assert passthrough(osc9) in out and out.endswith("\x1b\\")


def test_switches_and_a_dumb_terminal() -> None:
    assert ROLLBACK is not None
    assert sequences(ROLLBACK, TerminalPrefs(bell=False, notify=False)) == ""
    assert sequences(ROLLBACK, TerminalPrefs(notify=False)) == "\a"
    assert "\a" not in sequences(ROLLBACK, TerminalPrefs(bell=False))[:1]
    dumb = TerminalPrefs.of(bell=True, notify=True, environ={"TERM": "dumb", "NO_COLOR": "1"})
    assert sequences(ROLLBACK, dumb) == "\a"
    colourless = TerminalPrefs.of(
        bell=True, notify=True, environ={"TERM": "xterm", "NO_COLOR": "1", "TMUX": "/tmp/x"}
    )
    assert colourless == TerminalPrefs(tmux=True)


def test_a_secret_in_a_reason_never_reaches_the_notification() -> None:
    register_secret("hunter2-token-value")
    call = call_for(
        ev.Notice(ts=at(1), level="alert", message="push failed: token hunter2-token-value"),
        started(),
    )
    assert call is not None
    out = sequences(call, TerminalPrefs())
    assert "hunter2" not in out and "***" in out
