"""What a change repaints: the changed cells, not the table, the panel or the row.

Bytes an idle control room sends over SSH are what it repaints; these check the repaints
themselves (the ``idle`` benchmark measures the bytes). A Textual partial update is
written from the start of each changed span (``partial_update``), a pods poll asks for
the spans of the cells it changed (``PodTable``), and a count in the panel's title
repaints the title.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets.data_table import ColumnKey

from b2tui.domain.events import GateSampled
from b2tui.ports import PodInfo, PodPhase
from b2tui.ui import partial_update
from b2tui.ui.app import ControlRoom
from b2tui.ui.partial_update import char_boundary, render_segments
from b2tui.ui.widgets.pods import PodsPanel

T0 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
CONSOLE = Console(color_system=None, force_terminal=True, width=80)


def _strip(*texts: str) -> Strip:
    return Strip([Segment(t, Style(bold=i % 2 == 1)) for i, t in enumerate(texts)])


def test_char_boundary_never_splits_a_wide_character() -> None:
    ascii_ = _strip("name  ", "age")
    assert [char_boundary(ascii_, n) for n in (0, 3, 6, 7, 9, 20)] == [0, 3, 6, 7, 9, 9]
    wide = _strip("ab", "日本", "cd")  # 日 at cells 2-3, 本 at 4-5
    assert [char_boundary(wide, n) for n in (2, 3, 4, 5, 6)] == [2, 2, 4, 4, 6]
    assert [char_boundary(wide, n, up=True) for n in (2, 3, 4, 5, 6, 9)] == [2, 4, 4, 6, 6, 8]


def test_a_partial_update_starts_at_the_changed_span_not_the_widgets_edge() -> None:
    # One line, two chops (widgets): 0-10 and 10-14; the span is cells 6-8 of the first.
    line = {0: _strip("abcdef", "ghij"), 10: _strip("wxyz")}
    chops, ends = [line], [[10, 14]]
    ours = render_segments(chops, [(0, 6, 8)], ends, CONSOLE)
    assert ours == "\x1b[1;7H" + "\x1b[1mgh\x1b[0m"
    # A span inside a wide character starts at the character.
    wide = [{0: _strip("ab", "日本", "cd")}]
    assert render_segments(wide, [(0, 3, 5)], [[8]], CONSOLE) == "\x1b[1;3H\x1b[1m日本\x1b[0m"
    # A span covering whole chops writes them whole, from each chop's edge.
    both = render_segments(chops, [(0, 0, 14)], ends, CONSOLE)
    assert both == "\x1b[1;1Habcdef\x1b[1mghij\x1b[0m\x1b[1;11Hwxyz"


def test_install_patches_textual_once_and_renders_the_same_as_render_segments() -> None:
    assert partial_update.install() and partial_update.install()
    line = {0: _strip("abcdef", "ghij"), 10: _strip("wxyz")}
    update = ChopsUpdate([line, line], [(0, 6, 8), (1, 11, 13)], [[10, 14], [10, 14]])
    assert update.render_segments(CONSOLE) == ("\x1b[1;7H\x1b[1mgh\x1b[0m\n\x1b[2;12Hxy")


# --- the pods table ------------------------------------------------------------------


class _Room(App[None]):
    CSS_PATH = ControlRoom.CSS_PATH  # the panels' borders, as in the control room
    CSS: ClassVar[str] = "PodsPanel { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield PodsPanel(id="pods")


def _pods(n: int) -> list[PodInfo]:
    return [
        PodInfo(
            name=f"web-{i:04d}",
            track="stable",
            phase=PodPhase.RUNNING,
            reason="",
            ready=True,
            restarts=i % 3,
            created=T0 - timedelta(hours=2, seconds=37 * i),
            image="reg/web:1a2b3c4",
        )
        for i in range(n)
    ]


def _record(widget: Widget) -> list[tuple[Region, ...]]:
    """Every repaint ``widget`` marks from now on: its regions, () for all of it."""
    calls: list[tuple[Region, ...]] = []
    real = widget._set_dirty

    def set_dirty(*regions: Region) -> None:
        calls.append(regions)
        real(*regions)

    widget._set_dirty = set_dirty  # type: ignore[method-assign]
    return calls


async def test_a_poll_repaints_the_cells_it_changed_and_a_removal_what_moved() -> None:
    app, pods = _Room(), _pods(300)
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(PodsPanel)
        table = panel.table
        panel.show_pods(pods, T0)
        await pilot.pause()
        assert table.row_count == 300 and table.window_region.bottom < 250
        header = table.header_height
        x = table._row_label_column_width
        for column in table.ordered_columns:
            if column.key == ColumnKey("restarts"):
                restarts = Region(x, 0, column.get_render_width(table), 1)
            x += column.get_render_width(table)

        # web-0003's restarts go from 0 to 1: that cell, on its line, and nothing else.
        calls, frame = _record(table), _record(panel)
        pods[3] = replace(pods[3], restarts=1)
        panel.show_pods(pods, T0)
        await pilot.pause()
        assert calls == [(Region(restarts.x, header + 3, restarts.width, 1),)]
        assert frame == []

        # A pod far below the window goes: nothing in view moved; the count in the title
        # is repainted in the top border row, not the panel.
        calls.clear()
        panel.show_pods(pods[:250] + pods[251:], T0)
        await pilot.pause()
        assert table.row_count == 299
        assert calls == []
        assert frame and all(
            # The border's top row, from its corner: "╭─ Pods 299 · sort name".
            regions == (Region(-panel.content_offset.x, -1, 4 + len("Pods 299 · sort name"), 1),)
            for regions in frame
        ), frame
        assert "Pods 299" in str(panel.border_title)

        # web-0002 goes: the rows from its line down moved up and are repainted; the two
        # above it are not.
        calls.clear()
        panel.show_pods(pods[:2] + pods[3:250] + pods[251:], T0)
        await pilot.pause()
        assert table.get_row_index("web-0003") == 2
        assert calls and all(len(regions) == 1 for regions in calls), calls
        assert min(regions[0].y for regions in calls) == header + 2


async def test_a_changed_cell_is_the_only_cell_of_its_row_rendered_again() -> None:
    from textual.widgets import DataTable

    app, pods = _Room(), _pods(30)
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(PodsPanel)
        panel.show_pods(pods, T0)
        await pilot.pause()
        rendered: list[tuple[int, int]] = []
        real = DataTable._render_cell

        def counting(
            self: DataTable[str], row: int, column: int, *args: object, **kwargs: object
        ) -> object:
            rendered.append((row, column))
            return real(self, row, column, *args, **kwargs)  # type: ignore[arg-type]

        DataTable._render_cell = counting  # type: ignore[assignment,method-assign]
        try:
            pods[3] = replace(pods[3], restarts=7)
            panel.show_pods(pods, T0)
            await pilot.pause()
        finally:
            DataTable._render_cell = real  # type: ignore[method-assign]
        table = panel.table
        restarts = [c.key for c in table.ordered_columns].index(ColumnKey("restarts"))
        row = table.get_row_index("web-0003")
        # Only the restarts cell of web-0003 (the header and row labels are not cells).
        assert [(r, c) for r, c in rendered if r >= 0 and c >= 0] == [(row, restarts)]
        line = table.render_line(table.header_height + row).text
        assert " 7 " in line and "web-0003" in line


# --- scrollbars ------------------------------------------------------------------------


class _Tables(App[None]):
    def compose(self) -> ComposeResult:
        from b2tui.ui.widgets.steady_scroll import SteadyDataTable

        table = SteadyDataTable(id="t")
        table.add_columns("a", "b")
        table.add_rows([(str(i), str(i)) for i in range(50)])  # taller than the screen
        yield table


async def test_a_layout_that_changed_nothing_does_not_repaint_a_tables_scrollbar() -> None:
    from b2tui.ui.widgets.steady_scroll import SteadyDataTable

    app = _Tables()
    async with app.run_test(size=(40, 10)) as pilot:
        await pilot.pause()
        table = app.query_one("#t", SteadyDataTable)
        bar = table.vertical_scrollbar
        refreshed: list[bool] = []
        original = bar.refresh

        def counting(*args: object, **kwargs: object) -> Widget:
            refreshed.append(True)
            return original(*args, **kwargs)  # type: ignore[arg-type]

        bar.refresh = counting  # type: ignore[method-assign]
        app.screen.refresh(layout=True)
        await pilot.pause()
        assert refreshed == [], "an unchanged layout repainted the scrollbar"
        # A table that grew gets its scrollbar updated.
        table.add_rows([(str(i), str(i)) for i in range(50, 80)])
        await pilot.pause()
        app.screen.refresh(layout=True)
        await pilot.pause()
        assert refreshed, "the scrollbar did not follow the table's new height"


async def test_a_label_given_its_text_while_mounting_is_measured_with_that_text() -> None:
    # The compositor measures a widget as its mount is laid out, before the widget counts
    # as mounted, and Textual keeps that measure until a refresh of a mounted widget: a
    # set_text in that window left an attached room's gates summary row blank (width 0,
    # its text set). The label's measure must follow its text, mounted or not.
    from textual.geometry import Size

    from b2tui.ui.widgets.quiet_label import QuietLabel

    class Room(App[None]):
        def compose(self) -> ComposeResult:
            yield Widget(id="box")

    text = "service: pods 0.0 crashing ✓ · req 57.0 req/s ✓"
    app = Room()
    async with app.run_test(size=(80, 6)) as pilot:
        label = QuietLabel(classes="gate-summary")
        box = Size(80, 6)
        assert label.get_content_width(box, box) == 0  # measured while mounting, as ""
        label.set_text(text)
        assert label.get_content_width(box, box) == len(text)
        await app.query_one("#box").mount(label)
        await pilot.pause()
        assert label.region.width == len(text)


# --- gate rows -------------------------------------------------------------------------


class _Gates(App[None]):
    def compose(self) -> ComposeResult:
        from b2tui.ui.widgets.gate_row import GateRow

        yield GateRow("canary", "error_rate")


def _gate(value: float | None, status: str = "pass") -> GateSampled:
    return GateSampled(
        ts=T0, gate="error_rate", value=value, threshold=0.001, status=status, unit="%"
    )


async def test_a_gate_sample_repaints_the_cells_that_read_differently() -> None:
    from b2tui.ui.widgets.gate_row import GateRow

    app = _Gates()
    async with app.run_test(size=(60, 3)) as pilot:
        row = app.query_one(GateRow)
        row.show(_gate(0.0003), [0.0003])
        await pilot.pause()
        before = row.render_lines(Region(0, 0, 60, 1))[0].text
        assert before.startswith("canary err  █│▃") and before.endswith("0.03% < 0.10%       pass")

        # A new sample, same status: the sparkline gains a bar and the value changes; the
        # name and the status are not repainted, every cell that changed is.
        calls = _record(row)
        row.show(_gate(0.0005), [0.0003, 0.0005])
        await pilot.pause()
        after = row.render_lines(Region(0, 0, 60, 1))[0].text
        changed = [x for x, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
        assert changed and len(calls) == 1 and len(calls[0]) == 1, calls
        (region,) = calls[0]
        assert region.y == 0 and region.height == 1
        assert region.x == changed[0] and region.right == changed[-1] + 1
        assert region.x > len("canary err") and region.right <= 60 - len("pass")

        # The same sample object again: nothing.
        calls.clear()
        row.show(row.sample, [0.0003, 0.0005])  # type: ignore[arg-type]
        await pilot.pause()
        assert calls == []

        # A status change restyles the row: all of it is repainted, in the new status.
        calls.clear()
        row.show(_gate(0.0052, "fail"), [0.0003, 0.0005, 0.0052])
        await pilot.pause()
        assert () in calls and row.has_class("-fail") and not row.has_class("-pass")
        assert row.render_lines(Region(0, 0, 60, 1))[0].text.endswith("0.52% > 0.10%       FAIL")
