"""Pure rendering of the pods table: columns fitted to the panel, one row a pod, kubectl
ages, the filter and the sort keys. No Textual here, so it is unit-tested plainly.

Every function takes the run clock's ``now`` explicitly; nothing reads real time.
"""

from __future__ import annotations

from datetime import datetime

from b2tui.ports import PodInfo

POD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Name"),
    ("track", "Track"),
    ("status", "Status"),
    ("ready", "Ready"),
    ("restarts", "Restarts"),
    ("age", "Age"),
    ("tag", "Image tag"),
)
"""(column key, header) of the pods table, in display order."""

POD_DROP_ORDER: tuple[str, ...] = ("tag", "age", "track")
"""Columns left out, in this order, when the table does not fit its panel; name,
status, ready and restarts always stay (restarts matter most when pods crash)."""

MIN_NAME = 12
"""Narrowest the name column gets before another column is dropped."""

CELL_PADDING = 2
"""Columns a DataTable cell adds to its text (one each side)."""

SORTABLE_POD_COLUMNS: tuple[str, ...] = ("name", "track", "status", "restarts", "age")
"""Columns the ``s`` key cycles through."""


def pod_status(pod: PodInfo) -> str:
    """The reason when there is one (``CrashLoopBackOff``), else the phase, as kubectl."""
    return pod.reason or pod.phase.value


def middle_ellipsis(text: str, width: int) -> str:
    """``b2connect-canary-5d8f7c6b9-x2k4p`` → ``b2connect-ca…6b9-x2k4p``: both ends of a
    pod name tell pods apart (deployment at the start, the random suffix at the end)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = (width - 1) // 2
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def fit_pod_columns(width: int, natural: dict[str, int]) -> tuple[tuple[str, ...], int]:
    """Which pod columns fit in ``width`` cells, and how wide the name may be.

    Args:
        width: Cells available to the table (no horizontal scrolling, ever).
        natural: Widest text per column key (headers included).

    Returns:
        Column keys to show (display order) and the name column's width; names longer
        than it are shortened in the middle.
    """
    keys = [k for k, _ in POD_COLUMNS]
    name = natural.get("name", 0)

    def room(cols: list[str]) -> int:
        used = sum(natural.get(k, 0) + CELL_PADDING for k in cols if k != "name")
        return width - used - CELL_PADDING

    # Whole names with every column; else without the image tag; only then shorten
    # names, and drop age, then track, before a name gets narrower than MIN_NAME.
    everything, no_tag = keys, [k for k in keys if k != "tag"]
    for cols in (everything, no_tag):
        if room(cols) >= name:
            return tuple(cols), name
    cols = no_tag
    for drop in POD_DROP_ORDER[1:]:
        if room(cols) >= min(MIN_NAME, name):
            break
        cols = [k for k in cols if k != drop]
    return tuple(cols), max(1, min(name, room(cols)))


def pod_row(pod: PodInfo, now: datetime) -> tuple[str, ...]:
    """Cells of one pod, in :data:`POD_COLUMNS` order."""
    return (
        pod.name,
        pod.track or "–",
        pod_status(pod),
        "yes" if pod.ready else "no",
        str(pod.restarts),
        pod_age((now - pod.created).total_seconds()),
        pod.tag,
    )


def pod_age(seconds: float) -> str:
    """kubectl-style age to the minute: ``<1m``, ``4m``, ``3h12m``, ``2d3h``.

    Coarser than :func:`~b2tui.domain.durations.format_duration` on purpose: a 2000-pod
    table changes a cell once a minute per pod, not on every poll; a young pod's age in
    seconds would change its row at every poll.
    """
    s = int(max(0.0, seconds))
    if s < 60:
        return "<1m"
    m = s // 60
    if m < 60:
        return f"{m}m"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m}m" if m else f"{h}h"
    d, h = divmod(h, 24)
    return f"{d}d{h}h" if h else f"{d}d"


def pod_age_next(seconds: float) -> int:
    """The age (whole seconds) at which :func:`pod_age` of ``seconds`` next changes its text:
    every minute below a day, then every hour."""
    s = int(max(0.0, seconds))
    step = 60 if s < 86400 else 3600
    return (s // step + 1) * step


def pod_matches(row: tuple[str, ...], needle: str) -> bool:
    """Case-insensitive substring match on any cell; an empty filter matches everything."""
    if not needle:
        return True
    n = needle.lower()
    return any(n in cell.lower() for cell in row)


def pod_sort_key(column: str, pod: PodInfo) -> tuple[object, ...]:
    """Sort key of ``pod`` for ``column``; ties break on the name so order is stable."""
    match column:
        case "track":
            return (pod.track, pod.name)
        case "status":
            # Trouble first: not ready, then by reason, so the broken pods top the list.
            return (pod.ready, pod_status(pod), pod.name)
        case "restarts":
            return (-pod.restarts, pod.name)
        case "age":
            return (-pod.created.timestamp(), pod.name)
        case _:
            return (pod.name,)
