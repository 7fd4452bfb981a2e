"""The pure render functions: run state → text, without Textual."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from b2tui.domain import events as ev
from b2tui.domain.canary import DEFAULT_STEPS
from b2tui.domain.phases import Phase
from b2tui.domain.view import CheckView, RunView, fold
from b2tui.ports import PodInfo, PodPhase
from b2tui.ui import render, render_gates, render_pods

T0 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def _pod(name: str, **kw: object) -> PodInfo:
    base: dict[str, object] = dict(
        name=name,
        track="canary",
        phase=PodPhase.RUNNING,
        reason="",
        ready=True,
        restarts=0,
        created=T0,
        image="reg/b2connect:production-1a2b3c4",
    )
    base.update(kw)
    return PodInfo(**base)  # type: ignore[arg-type]


def test_pod_row_shows_reason_age_and_tag() -> None:
    pod = _pod(
        "b2connect-canary-x",
        phase=PodPhase.RUNNING,
        reason="CrashLoopBackOff",
        ready=False,
        restarts=4,
    )
    row = render_pods.pod_row(pod, T0 + timedelta(minutes=3, seconds=10))
    assert row == (
        "b2connect-canary-x",
        "canary",
        "CrashLoopBackOff",
        "no",
        "4",
        "3m",
        "production-1a2b3c4",
    )


def test_pod_age_is_coarse_like_kubectl() -> None:
    # To the minute: a young pod's row does not change at every poll.
    assert [
        render_pods.pod_age(s) for s in (5, 119, 150, 3600, 3600 + 12 * 60, 86400 * 2 + 3600)
    ] == [
        "<1m",
        "1m",
        "2m",
        "1h",
        "1h12m",
        "2d1h",
    ]


def test_pod_filter_and_sort_keys() -> None:
    row = render_pods.pod_row(_pod("api-1", track="stable"), T0)
    assert render_pods.pod_matches(row, "STAB") and render_pods.pod_matches(row, "")
    assert not render_pods.pod_matches(row, "canary")
    broken = _pod("b", ready=False, restarts=9)
    fine = _pod("a", created=T0 + timedelta(seconds=5))
    pods = [fine, broken]
    assert [p.name for p in sorted(pods, key=lambda p: render_pods.pod_sort_key("status", p))] == [
        "b",
        "a",
    ]
    assert [
        p.name for p in sorted(pods, key=lambda p: render_pods.pod_sort_key("restarts", p))
    ] == [
        "b",
        "a",
    ]
    # Age: youngest first.
    assert [p.name for p in sorted(pods, key=lambda p: render_pods.pod_sort_key("age", p))] == [
        "a",
        "b",
    ]


def _check(
    key: str, state: str, *, owner: str = "code author", manual: bool = True, required: bool = True
) -> CheckView:
    return CheckView(
        key, key.replace("_", " ").title(), state, owner, manual, required, "readiness"
    )


def test_blockers_name_failed_then_waiting_items_with_owner() -> None:
    checks = [
        _check("tests_passing", "failed", owner="@devops-engineer", manual=False),
        _check("review_approved", "pending"),
        _check("security_approved", "skipped", required=False),
        _check("docs_updated", "passed"),
    ]
    assert render.blockers_text(checks) == (
        "failed: Tests Passing (@devops-engineer); blocked by: Review Approved (code author)"
    )
    assert render.blockers_text(checks[2:]) == "all required items passed"


def test_gate_texts_never_make_unknown_look_like_pass() -> None:
    sample = ev.GateSampled(
        ts=T0,
        gate="p95_ms",
        value=None,
        threshold=200,
        status="unknown",
        unit="ms",
        reason="target down",
    )
    assert render_gates.gate_status_text(sample.status) == "NO DATA"
    assert render_gates.gate_value_text(sample) == "– max 200ms"
    ok = ev.GateSampled(
        ts=T0, gate="error_rate", value=0.0005, threshold=0.001, status="pass", unit="%"
    )
    assert render_gates.gate_value_text(ok) == "0.05% < 0.10%"
    rate = ev.GateSampled(
        ts=T0, gate="request_rate", value=0.2, threshold=1.0, status="unknown", unit="req/s"
    )
    assert render_gates.threshold_text(rate) == "min 1.0 req/s"
    assert render_gates.sparkline_points([0.1, None, 0.3]) == [0.1, 0.3]


def test_comparison_sign_is_true_of_the_numbers_shown() -> None:
    bad = ev.GateSampled(
        ts=T0, gate="error_rate", value=0.0502, threshold=0.001, status="fail", unit="%"
    )
    assert render_gates.gate_value_text(bad) == "5.02% > 0.10%"
    low = ev.GateSampled(
        ts=T0, gate="request_rate", value=0.2, threshold=1.0, status="unknown", unit="req/s"
    )
    assert render_gates.gate_value_text(low) == "0.2 req/s < 1.0 req/s"


def test_sparkline_scales_from_zero_to_the_limit_or_the_largest_value_and_marks_the_limit() -> None:
    # A steady 0.01 % under a 0.10 % limit is the lowest bar; the limit marker (first
    # cell, then the axis) is full height: the scale tops at the limit.
    assert render_gates.spark_cells([0.0001] * 4, 0.001, 10) == [
        ("█", "limit"),
        ("│", "limit"),
        *[("▁", "ok")] * 4,
    ]
    # A failing 4.39 % tops the scale and is flagged; the limit marker drops to the
    # bottom; a gap is blank, the limit itself breaks a maximum.
    cells = render_gates.spark_cells([0.0001, None, 0.001, 0.0439], 0.001, 10)
    assert cells == [
        ("▁", "limit"),
        ("│", "limit"),
        ("▁", "ok"),
        (" ", "ok"),
        ("▁", "over"),
        ("█", "over"),
    ]
    # A limit half the largest value sits at half height; a minimum breaks below it.
    mid = render_gates.spark_cells([0.5, 2.0], 1.0, 10, minimum=True)
    assert mid[2:] == [("▃", "over"), ("█", "ok")]
    assert mid[0] == ("▅", "limit")
    # Only the newest samples that fit next to the marker and the axis.
    assert len(render_gates.spark_cells([0.0001] * 50, 0.001, 8)) == 8
    assert render_gates.spark_cells([0.1], 0.1, 2) == []


def test_pod_columns_drop_the_image_first_then_shorten_names() -> None:
    natural = {"name": 32, "track": 6, "status": 16, "ready": 5, "restarts": 8, "age": 4, "tag": 18}
    assert render_pods.fit_pod_columns(200, natural) == (
        tuple(k for k, _ in render_pods.POD_COLUMNS),
        32,
    )
    cols, name = render_pods.fit_pod_columns(90, natural)
    assert "tag" not in cols and "restarts" in cols and name == 32
    cols, name = render_pods.fit_pod_columns(66, natural)
    assert cols == ("name", "track", "status", "ready", "restarts", "age") and name < 32
    cols, name = render_pods.fit_pod_columns(40, natural)
    assert "restarts" in cols and "status" in cols and "age" not in cols
    assert (
        render_pods.middle_ellipsis("b2connect-canary-5d8f7c6b9-x2k4p", 20)
        == "b2connect…c6b9-x2k4p"
    )


def _holding_view():
    return fold(
        [
            ev.RunStarted(
                ts=T0,
                run_id="r1",
                service="b2connect",
                environment="production",
                strategy="canary",
                version="1a2b3c4",
                image="i",
                known_good={"revision": "7", "image": "reg/b2connect:prod-0f0f0f0"},
            ),
            ev.PhaseStarted(ts=T0, phase=Phase.PRODUCTION),
            ev.TrafficChanged(ts=T0, canary_percent=5, achieved_percent=10, detail="1/10 replicas"),
            ev.HoldStarted(ts=T0, seconds=300, until=T0 + timedelta(minutes=5)),
        ]
    )


def test_hold_countdown_and_canary_lines_follow_the_run_clock() -> None:
    view = _holding_view()
    now = T0 + timedelta(seconds=55)
    # Above a minute, to the minute (rounded up); seconds only in the last minute.
    assert render.status_line(view, now) == "hold at 5%: 5m left (until 14:05:00)"
    last = T0 + timedelta(seconds=255)
    assert render.status_line(view, last) == "hold at 5%: 45s left (until 14:05:00)"
    assert render.canary_lines(view, DEFAULT_STEPS, now) == [
        "asked 5% · achieved 10% (1/10 replicas)",
        "next: 50% after hold (at 14:05:00)",
        "rollback → rev 7 reg/b2connect:prod-0f0f0f0",
    ]
    # The running phase to the minute: nothing in it changes every second.
    assert render.phase_summary(view, now) == "▶production <1m"
    assert render.phase_summary(view, T0 + timedelta(seconds=125)) == "▶production 2m"


def test_elapsed_and_countdown_texts_change_once_a_minute() -> None:
    assert [render.elapsed_text(s) for s in (0, 59.9, 60, 3599, 3600, 3660, 86400 + 7200)] == [
        "<1m",
        "<1m",
        "1m",
        "59m",
        "1h00m",
        "1h01m",
        "1d02h",
    ]
    assert [render.countdown_text(s) for s in (-1, 0.5, 59.9, 60, 60.5, 245, 3600, 3601)] == [
        "0s",
        "0s",
        "59s",
        "1m",
        "2m",
        "5m",
        "1h00m",
        "1h01m",
    ]


def test_rollback_and_watcher_texts() -> None:
    view = _holding_view()
    ev_rb = ev.RollbackStarted(ts=T0, reason="operator request", target={}, by="ana")
    from b2tui.domain.view import apply

    apply(view, ev_rb)
    assert render.status_line(view, T0).startswith("ROLLING BACK (ana)")
    header = render.header_text(view, driver="bob@jump pid 7", read_only=True)
    assert header.startswith("watching — driven by bob@jump pid 7")
    assert render.rollback_target_text({}) == "not recorded yet"
    assert render.header_text(view, driver="ana", read_only=False).startswith("ROLLING BACK")
    gone = render.header_text(view, driver="nobody (driver bob is gone)", read_only=True)
    assert gone.startswith("watching — nobody (driver bob is gone); q and run again to take over")
    # An attached room: the lease holder drives, this operator's keys go to it.
    attached = render.header_text(
        view, driver="bob pid 7 on jump1", read_only=False, operator="ana@jump2"
    )
    # Right after the state: an 80-column header cuts the end, not who drives.
    assert attached.startswith("ROLLING BACK · driven by bob pid 7 on jump1 · you: ana@jump2 · ")
    assert "driving as" not in attached


def test_header_leads_with_paused_and_the_outcome() -> None:
    view = _holding_view()
    from b2tui.domain.view import apply

    apply(view, ev.PauseChanged(ts=T0, paused=True, reason="paused by ana"))
    assert render.header_text(view, driver="ana", read_only=False).startswith("PAUSED · PRODUCTION")
    apply(view, ev.RunFinished(ts=T0, outcome="aborted", reason="aborted by ana"))
    assert render.header_text(view, driver="ana", read_only=False).startswith("ABORTED")


def test_countdowns_press_n_and_no_data() -> None:
    view = _holding_view()
    from b2tui.domain.view import apply

    now = T0 + timedelta(minutes=6)
    done = render.Timing(can_advance=True)
    assert render.status_line(view, now, done) == "hold at 5%: hold over — press n"
    assert render.canary_lines(view, DEFAULT_STEPS, now, can_advance=True)[1] == (
        "next: 50% — press n"
    )
    for i in range(3):
        apply(
            view,
            ev.GateSampled(
                ts=T0 + timedelta(seconds=5 * i),
                phase=Phase.PRODUCTION,
                gate="error_rate",
                value=None,
                threshold=0.001,
                status="unknown",
                track="canary",
            ),
        )
    timing = render.Timing(no_data_timeout=600, stale_after=12.5)
    now = T0 + timedelta(seconds=10)
    assert "NO DATA: rollback in 10m unless data returns" in render.status_line(view, now, timing)


def test_only_current_gates_are_shown() -> None:
    view = _holding_view()
    from b2tui.domain.view import apply

    def sample(ts, track, phase=Phase.PRODUCTION):  # type: ignore[no-untyped-def]
        return ev.GateSampled(
            ts=ts,
            phase=phase,
            gate="error_rate",
            value=0.0001,
            threshold=0.001,
            status="pass",
            track=track,
        )

    apply(view, sample(T0, None, Phase.SMOKE))  # staging's, from before production
    apply(view, sample(T0, "canary"))
    apply(view, sample(T0 + timedelta(seconds=60), "stable"))  # the canary stopped
    assert list(render_gates.current_gates(view, 12.5)) == [("stable", "error_rate")]


def test_errors_are_one_short_line() -> None:
    text = render.stale_text(42, "connection refused\nTraceback (most recent call last):")
    assert text == "stale 42s: connection refused"
    assert len(render.one_line("x" * 500)) == 200


def test_ages_are_coarse_so_borders_repaint_rarely() -> None:
    from b2tui.ui.render import age_text

    assert [age_text(s) for s in (None, 0, 9.9, 10, 59, 61, 3600)] == [
        "waiting",
        "<10s ago",
        "<10s ago",
        "10s ago",
        "50s ago",
        "1m ago",
        "1h00m ago",
    ]
    # One second later the text is (almost always) the same: no repaint.
    same = sum(age_text(s) == age_text(s + 1) for s in range(0, 600))
    assert same > 550


def test_header_names_the_tag_and_digest_before_80_columns_cut() -> None:
    view = RunView(
        service="b2connect",
        environment="production",
        strategy="canary",
        phase=Phase.PRODUCTION,
        deployed="registry.example/b2connect:production-1a2b3c4@sha256:" + "ebe1d85d" * 8,
    )
    header = render.header_text(view, driver="ana", read_only=False)
    assert header.startswith(
        "PRODUCTION · b2connect · production · 1a2b3c4 sha256:ebe1d85d · canary"
    )
    # An 80-column header leaves about 64 cells for this text: the digest is inside them.
    assert len(header.split(" · canary")[0]) <= 64
    # A tag that does not carry the environment's name is shown whole.
    other = replace(view, deployed="registry.example/b2connect:v1.2@sha256:" + "ab" * 32)
    assert " · v1.2 sha256:abababab · " in render.header_text(other, driver="a", read_only=False)
