"""The pods table's model: every pod's row kept between polls, so a poll costs what changed.

A poll of 5,000 pods in which a few changed converts those few into rows; the rest keep
theirs. Ages change with time, not with the pod: each row's age cell is recomputed only
when its text is due to change (``4m`` every minute, ``2d`` every hour), from a heap of
due times. Column widths are kept as counts per width, so the widest cell of a column is
known without rescanning every row. No Textual here, so it is unit-tested plainly.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from b2tui.ports import PodInfo
from b2tui.ui.render_pods import POD_COLUMNS, pod_age, pod_age_next, pod_row

AGE = [k for k, _ in POD_COLUMNS].index("age")
"""Index of the age cell in a row."""


def pod_changes(
    before: Mapping[str, PodInfo], pods: Iterable[PodInfo]
) -> tuple[dict[str, PodInfo], list[PodInfo], list[str]]:
    """Compare a poll with the previous one (``PodInfo`` is a frozen value).

    Returns:
        ``pods`` by name, the pods new or changed since ``before``, and the names of
        pods in ``before`` that are gone.
    """
    now: dict[str, PodInfo] = {}
    changed = []
    for pod in pods:
        name = pod.name
        now[name] = pod
        old = before.get(name)
        if old is not pod and old != pod:
            changed.append(pod)
    kept = len(now) - sum(1 for p in changed if p.name not in before)
    removed = [n for n in before if n not in now] if kept < len(before) else []
    return now, changed, removed


class Widths:
    """How many cells of each width a column holds: its widest cell without a rescan."""

    def __init__(self) -> None:
        self._count: dict[int, int] = {}

    def add(self, width: int) -> None:
        self._count[width] = self._count.get(width, 0) + 1

    def remove(self, width: int) -> None:
        left = self._count[width] - 1
        if left:
            self._count[width] = left
        else:
            del self._count[width]

    def widest(self, floor: int = 0) -> int:
        """Width of the widest cell, at least ``floor`` (a header's width)."""
        return max(floor, max(self._count, default=0))


@dataclass
class RowChanges:
    """What one poll changed in a :class:`PodRows`."""

    rows: set[str] = field(default_factory=set)
    """Pods present whose row is new or whose text changed (the pod, or only its age)."""
    pods: set[str] = field(default_factory=set)
    """Pods present that are new or whose :class:`PodInfo` changed (their sort keys may
    have moved even when no cell did)."""
    removed: set[str] = field(default_factory=set)
    """Pods gone since the last poll."""


class PodRows:
    """The pods of the last poll, their rows (cells in :data:`POD_COLUMNS` order) and each
    column's natural width.

    :meth:`apply` takes a poll's changes (:func:`pod_changes`, computed off the UI
    thread); :meth:`merge` takes a whole poll and finds them itself.
    """

    def __init__(self) -> None:
        self.pods: dict[str, PodInfo] = {}
        """Pods by name."""
        self.rows: dict[str, tuple[str, ...]] = {}
        """Each pod's cells by name."""
        self._widths = [Widths() for _ in POD_COLUMNS]
        self._due: dict[str, datetime] = {}
        """When each row's age text changes next (run clock)."""
        self._heap: list[tuple[datetime, str]] = []
        """``_due`` as a heap; entries no longer in ``_due`` are skipped when popped."""
        self._at: datetime | None = None

    def natural(self) -> dict[str, int]:
        """Widest text per column key over every row, headers included."""
        return {
            key: widths.widest(len(label))
            for (key, label), widths in zip(POD_COLUMNS, self._widths, strict=True)
        }

    def merge(self, pods: Iterable[PodInfo], at: datetime) -> RowChanges:
        """Take a whole poll: every pod of the environment, as of ``at`` (run clock)."""
        _, changed, removed = pod_changes(self.pods, pods)
        return self.apply(changed, removed, at)

    def apply(self, changed: Iterable[PodInfo], removed: Iterable[str], at: datetime) -> RowChanges:
        """Take a poll's changes: new or changed pods, and the names of pods gone."""
        out = RowChanges()
        for name in removed:
            row = self.rows.pop(name, None)
            if row is not None:
                for widths, cell in zip(self._widths, row, strict=True):
                    widths.remove(len(cell))
                del self.pods[name]
                self._due.pop(name, None)
                out.removed.add(name)
        if self._at is not None and at < self._at:
            # The clock went back (a restored run): every age is due now.
            self._due = dict.fromkeys(self._due, at)
            self._heap = [(at, n) for n in self._due]
            heapq.heapify(self._heap)
        self._at = at
        for pod in changed:
            self._set(pod.name, pod_row(pod, at), out)
            self.pods[pod.name] = pod
            out.pods.add(pod.name)
            self._schedule(pod, at)
        for name in self._aged(at, out):
            pod = self.pods[name]
            row = self.rows[name]
            age = pod_age((at - pod.created).total_seconds())
            if age != row[AGE]:
                self._set(name, (*row[:AGE], age, *row[AGE + 1 :]), out)
            self._schedule(pod, at)
        out.removed -= out.rows
        return out

    def _set(self, name: str, row: tuple[str, ...], out: RowChanges) -> None:
        before = self.rows.get(name)
        if before == row:
            return
        for widths, old, new in zip(self._widths, before or row, row, strict=True):
            if before is None or len(old) != len(new):
                if before is not None:
                    widths.remove(len(old))
                widths.add(len(new))
        self.rows[name] = row
        out.rows.add(name)

    def _schedule(self, pod: PodInfo, at: datetime) -> None:
        due = pod.created + timedelta(seconds=pod_age_next((at - pod.created).total_seconds()))
        self._due[pod.name] = due
        heapq.heappush(self._heap, (due, pod.name))
        if len(self._heap) > 2 * len(self._due) + 64:
            # Superseded entries pile up as rows change: rebuild from the live ones.
            self._heap = [(d, n) for n, d in self._due.items()]
            heapq.heapify(self._heap)

    def _aged(self, at: datetime, out: RowChanges) -> list[str]:
        """Pods whose age text is due by ``at`` (not those just converted anyway)."""
        heap, due = self._heap, self._due
        names = []
        while heap and heap[0][0] <= at:
            when, name = heapq.heappop(heap)
            if due.get(name) == when and name not in out.pods:
                names.append(name)
        return names
