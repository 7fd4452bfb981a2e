"""The pods table: updated in place by pod name, sortable, filterable."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import DataTable, Input

from b2tui.ports import PodInfo
from b2tui.ui.render import (
    POD_COLUMNS,
    SORTABLE_POD_COLUMNS,
    pod_matches,
    pod_row,
    pod_sort_key,
)
from b2tui.ui.widgets.panel import Panel


class PodsPanel(Panel):
    """Pods of the environment: name, track, status, ready, restarts, age, image tag.

    Rows are keyed by pod name and updated cell by cell, so a poll that changes one
    pod repaints one row, and the cursor and scroll position survive every poll.
    """

    BORDER_TITLE = "Pods"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "close_filter",
            "Close filter",
            show=False,
            id="pods.close_filter",
            tooltip="Hide the filter (keeps it applied); empty it to show every pod",
        ),
    ]

    sort_column: reactive[str] = reactive("name", init=False)
    """Column the rows are ordered by (one of ``SORTABLE_POD_COLUMNS``)."""
    filter_text: reactive[str] = reactive("", init=False)
    """Case-insensitive substring a row must contain to be shown."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._pods: dict[str, PodInfo] = {}
        self._rows: dict[str, tuple[str, ...]] = {}
        self._shown: dict[str, tuple[str, ...]] = {}
        self._title = ""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter pods (name, track, status, tag)", id="pods-filter")
        table: DataTable[str] = DataTable(id="pods-table", cursor_type="row", zebra_stripes=True)
        for key, label in POD_COLUMNS:
            table.add_column(label, key=key)
        yield table

    @property
    def table(self) -> DataTable[str]:
        return self.query_one("#pods-table", DataTable)

    @property
    def shown_names(self) -> list[str]:
        """Pod names in display order (after filter and sort)."""
        return [str(row.key.value) for row in self.table.ordered_rows]

    def show_pods(self, pods: list[PodInfo], at: datetime) -> None:
        """Merge a poll's result into the table (``at``: the run clock at the poll)."""
        self._pods = {p.name: p for p in pods}
        self._rows = {p.name: pod_row(p, at) for p in pods}
        self.error = None
        self.data_at = at
        self._sync()

    def show_error(self, error: str) -> None:
        """The poll failed: keep the last rows, mark them stale with the error."""
        self.error = error

    def cycle_sort(self) -> str:
        """Sort by the next sortable column; returns its key."""
        i = SORTABLE_POD_COLUMNS.index(self.sort_column)
        self.sort_column = SORTABLE_POD_COLUMNS[(i + 1) % len(SORTABLE_POD_COLUMNS)]
        return self.sort_column

    def open_filter(self) -> None:
        """Show the filter input and focus it."""
        self.add_class("-filtering")
        self.query_one("#pods-filter", Input).focus()

    def action_close_filter(self) -> None:
        self.remove_class("-filtering")
        self.table.focus()

    def watch_sort_column(self) -> None:
        self._sort()
        self._update_title()

    def watch_filter_text(self) -> None:
        self._sync()

    @on(Input.Changed, "#pods-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()

    @on(Input.Submitted, "#pods-filter")
    def _filter_submitted(self) -> None:
        self.table.focus()

    def _sync(self) -> None:
        table = self.table
        wanted = {n: r for n, r in self._rows.items() if pod_matches(r, self.filter_text)}
        changed = False
        for name in [n for n in self._shown if n not in wanted]:
            table.remove_row(name)
            del self._shown[name]
            changed = True
        for name, row in wanted.items():
            old = self._shown.get(name)
            if old is None:
                table.add_row(*row, key=name)
                changed = True
            elif old != row:
                for (col, _), before, after in zip(POD_COLUMNS, old, row, strict=True):
                    if before != after:
                        table.update_cell(name, col, after)
                        changed = changed or col in ("track", "status", "restarts")
            self._shown[name] = row
        if changed:
            self._sort()
        self._update_title()

    def _sort(self) -> None:
        if not self._shown:
            return
        column = self.sort_column
        pods = self._pods

        # Sort on the name cell and look the pod up: typed keys (restarts as numbers,
        # age by creation time) rather than the display strings.
        def key(name: str) -> tuple[object, ...]:
            pod = pods.get(name)
            return pod_sort_key(column, pod) if pod is not None else (name,)

        self.table.sort("name", key=key)

    def _update_title(self) -> None:
        total, shown = len(self._rows), len(self._shown)
        count = f"{shown}/{total}" if self.filter_text else str(total)
        flt = f" /{self.filter_text}" if self.filter_text else ""
        title = f"Pods {count} · sort {self.sort_column}{flt}"
        if title != self._title:
            self._title = title
            self.border_title = Content(title)
