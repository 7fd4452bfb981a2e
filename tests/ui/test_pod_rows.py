"""The pods table's model and the table it feeds: a poll converts, filters, sorts and
measures only what changed, and the result is what converting everything would show."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.widgets.data_table import ColumnKey

from b2tui.ports import PodInfo, PodPhase
from b2tui.ui.messages import PodsPolled
from b2tui.ui.pod_rows import PodRows, pod_changes
from b2tui.ui.render_pods import POD_COLUMNS, pod_age, pod_age_next, pod_row
from b2tui.ui.widgets.pods import PodsPanel

T0 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def _pods(n: int) -> list[PodInfo]:
    return [
        PodInfo(
            name=f"web-{i:04d}",
            track="canary" if i % 10 == 0 else "stable",
            phase=PodPhase.RUNNING,
            reason="",
            ready=True,
            restarts=i % 3,
            created=T0 - timedelta(seconds=37 * i),
            image="reg/web:1a2b3c4",
        )
        for i in range(n)
    ]


def _natural(rows: dict[str, tuple[str, ...]]) -> dict[str, int]:
    return {
        key: max([len(label), *(len(r[i]) for r in rows.values())])
        for i, (key, label) in enumerate(POD_COLUMNS)
    }


def test_pod_age_next_is_when_the_text_changes() -> None:
    for s in (0, 0.5, 5, 119.9, 120, 150, 3599, 3600, 86399.5, 86400, 90000):
        nxt = pod_age_next(s)
        assert pod_age(nxt - 0.001) == pod_age(s) != pod_age(nxt), s
    assert pod_age_next(-3) == 60  # a clock behind the pod's creation shows <1m until 1m


def test_a_poll_converts_only_what_changed_and_matches_converting_everything() -> None:
    model, rng = PodRows(), random.Random(7)
    pods = _pods(300)
    first = model.merge(pods, T0)
    assert first.rows == first.pods == {p.name for p in pods} and not first.removed
    at = T0
    for step in range(40):
        at += timedelta(seconds=rng.choice([0, 1, 2, 7, 61, 3600]))
        pods = [
            replace(p, restarts=p.restarts + 1, reason="CrashLoopBackOff")
            if rng.random() < 0.02
            else p
            for p in pods
            if rng.random() > 0.01
        ]
        pods += [replace(pods[0], name=f"new-{step}", created=at)]
        before = dict(model.rows)
        changes = model.merge([replace(p) for p in pods], at)  # equal values, new objects
        expected = {p.name: pod_row(p, at) for p in pods}
        assert model.rows == expected
        assert changes.rows == {n for n, r in expected.items() if before.get(n) != r}
        assert changes.removed == before.keys() - expected.keys()
        assert model.natural() == _natural(expected)


def test_unchanged_pods_at_the_same_time_change_nothing() -> None:
    model = PodRows()
    model.merge(_pods(50), T0)
    changes = model.merge(_pods(50), T0)
    assert not (changes.rows or changes.pods or changes.removed)


def test_a_poll_is_compared_with_the_last_one_and_queued_polls_fold() -> None:
    a, b, c = _pods(3)
    seen, changed, removed = pod_changes({}, [a, b, c])
    assert changed == [a, b, c] and removed == []
    b2, d = replace(b, ready=False), replace(a, name="web-new")
    seen, changed, removed = pod_changes(seen, [replace(a), b2, d])  # c gone
    assert changed == [b2, d] and removed == ["web-0002"] and list(seen) == [a.name, b.name, d.name]
    # Two polls queued: the newer is handled instead, carrying the older's changes.
    older = PodsPolled([b2, d], frozenset({c.name}), T0)
    c2, b3 = replace(c, restarts=5), replace(b, restarts=4)
    newer = PodsPolled([c2, b3], frozenset({d.name}), T0 + timedelta(seconds=2))
    assert older.can_replace(newer)
    assert newer.changed == [c2, b3] and newer.removed == {d.name}
    model = PodRows()
    model.merge([a, b, c], T0)
    model.apply(newer.changed, newer.removed, newer.at)  # the older one is never handled
    assert model.pods == {a.name: a, b.name: b3, c.name: c2}


def test_ages_follow_a_clock_that_goes_back() -> None:
    model = PodRows()
    pods = _pods(20)
    model.merge(pods, T0 + timedelta(hours=2))
    model.merge(pods, T0)
    assert model.rows == {p.name: pod_row(p, T0) for p in pods}


class _Room(App[None]):
    CSS: ClassVar[str] = "PodsPanel { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield PodsPanel(id="pods")


async def test_the_table_shrinks_a_column_when_its_widest_cell_goes_and_resorts_on_keys() -> None:
    app = _Room()
    pods = _pods(400)
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(PodsPanel)
        table = panel.table
        panel.show_pods(pods, T0)
        await pilot.pause()
        status = table.columns[ColumnKey("status")]
        assert status.content_width == len("Running")
        crashed = [
            replace(p, reason="CrashLoopBackOff") if p.name == "web-0007" else p for p in pods
        ]
        panel.show_pods(crashed, T0)
        await pilot.pause()
        assert status.content_width == len("CrashLoopBackOff")
        panel.show_pods(pods, T0)
        await pilot.pause()
        assert status.content_width == len("Running")
        panel.sort_column = "restarts"
        assert panel.shown_names[0] == "web-0002"
        panel.show_pods([replace(p, restarts=9) if p.name == "web-0300" else p for p in pods], T0)
        assert panel.shown_names[0] == "web-0300"
        panel.filter_text = "web-03"
        panel.show_pods([replace(p, restarts=1) if p.name == "web-0300" else p for p in pods], T0)
        assert panel.shown_names[:2] == ["web-0302", "web-0305"]
        assert "100/400" in str(panel.border_title)
        panel.filter_text = ""
        panel.sort_column = "name"
        table.move_cursor(row=table.get_row_index("web-0398"))
        panel.show_pods(pods[::2], T0)  # half the pods gone in one poll
        assert panel.shown_names == [p.name for p in pods[::2]]
        assert table.get_row_index("web-0398") == 199 and table.row_count == 200
        await pilot.pause()
        assert table.cursor_row == 199
