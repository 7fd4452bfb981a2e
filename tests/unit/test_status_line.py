"""`b2tui status --line`: what the one line says for each state of a run (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from b2tui.adapters.store.sqlite import APPLICATION_ID, default_state_path
from b2tui.commands.status_line import duration, status_line
from b2tui.quickstatus import APPLICATION_ID as QUICK_ID
from b2tui.quickstatus import default_state_path as quick_path

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def line(state: dict[str, Any], outcome: str | None = None, **kw: Any) -> str:
    return status_line(
        service="shop",
        state={"strategy": "canary", **state},
        outcome=outcome,
        reason=kw.get("reason"),
        finished_at=kw.get("finished_at"),
        now=NOW,
    )


def tracker(last: str, fails: int = 0) -> dict[str, Any]:
    return {
        "last": last,
        "consecutive_failures": fails,
        "consecutive_unknowns": 0,
        "unknown_since": None,
    }


def test_a_canary_hold_shows_percent_gates_and_countdown() -> None:
    hold = (NOW + timedelta(seconds=192)).isoformat()
    state = {
        "phase": "production",
        "canary_percent": 5,
        "hold_until": hold,
        "trackers": {"canary": tracker("pass")},
    }
    assert line(state) == "shop ▶ PRODUCTION 5% · gates ✓ · hold 3m12s"


def test_gates_per_scope_failing_and_unknown() -> None:
    state = {
        "phase": "production",
        "canary_percent": 50,
        "trackers": {"canary": tracker("fail", 2), "service": tracker("unknown")},
    }
    assert line(state) == "shop ▶ PRODUCTION 50% · gates canary ✗×2 service ?"


def test_what_it_waits_for() -> None:
    pending = {"kind": "manual", "state": "pending", "group": "readiness", "required": True}
    signed = {**pending, "state": "passed"}
    assert line({"phase": "readiness", "checklist": [pending, pending, signed]}) == (
        "shop ▶ READINESS · 2 sign-offs due"
    )
    assert (
        line(
            {
                "phase": "smoke",
                "awaiting": "staging verified — press n",
                "trackers": {"staging": tracker("pass")},
            }
        )
        == "shop ▶ SMOKE · gates ✓ · press n"
    )
    over = (NOW - timedelta(seconds=1)).isoformat()
    assert line({"phase": "production", "canary_percent": 5, "hold_until": over}).endswith(
        "· hold over"
    )
    assert (
        line(
            {
                "phase": "production",
                "canary_percent": 5,
                "paused": True,
                "pause_reason": "paused by ann",
            }
        )
        == "shop ‖ PRODUCTION 5% · PAUSED: paused by ann"
    )


def test_rollback_and_outcomes() -> None:
    assert line({"phase": "production", "rollback": {"reason": "error_rate 5% > 0.1%"}}) == (
        "shop ⟲ ROLLING BACK: error_rate 5% > 0.1%"
    )
    ago = NOW - timedelta(minutes=12)
    assert line({}, "rolled_back", reason="error_rate", finished_at=ago) == (
        "shop ✗ rolled back 12m00s ago: error_rate"
    )
    assert line({}, "succeeded", reason="", finished_at=ago) == "shop ✓ succeeded 12m00s ago"


def test_the_line_stays_short() -> None:
    long = line({"phase": "production", "rollback": {"reason": "x" * 300}})
    assert len(long) == 80 and long.endswith("…")


def test_durations() -> None:
    assert [duration(s) for s in (-3, 45, 192, 3900)] == ["0s", "45s", "3m12s", "1h05m"]


def test_the_fast_path_reads_the_store_the_sqlite_adapter_writes() -> None:
    assert QUICK_ID == APPLICATION_ID and quick_path() == default_state_path()
