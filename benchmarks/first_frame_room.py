"""The ``room`` process of :mod:`benchmarks.first_frame`: the real control room
(``make_app``) over a pickled :class:`~b2tui.domain.view.RunView`, nothing else.

Run as a script (``python benchmarks/first_frame_room.py HELD``), so that it imports
nothing of the benchmarks; it writes its process CPU after importing what the bare app
imports and at the end of its imports to ``$FIRST_FRAME_MARKS`` when that is set.
"""

from __future__ import annotations

import sys

from b2tui.startup import hold_collector

hold_collector()  # as the console script does (b2tui/entry.py)

import asyncio  # noqa: E402
import os  # noqa: E402
import pickle  # noqa: E402
import time  # noqa: E402

from textual.app import App  # noqa: E402, F401  (what the bare app imports, first)
from textual.widgets import Static  # noqa: E402, F401

TEXTUAL_IMPORTED = time.process_time()

from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

from b2tui.config import sandbox_settings  # noqa: E402
from b2tui.domain.view import RunView  # noqa: E402
from b2tui.ports import PodInfo  # noqa: E402
from b2tui.ui.app import make_app  # noqa: E402


class HeldClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Held:
    """A session that is its view: no engine behind it, every intent refused."""

    read_only = False
    drives_here = True
    driver = "bench@host pid 1"

    def __init__(self, view: RunView) -> None:
        self.view = view

    def subscribe(self, callback: object) -> object:
        return lambda: None

    def why_not(self, action: object, item: object = None) -> str | None:
        return "held for the benchmark"


def main(path: str) -> None:
    imported = time.process_time()
    view, pods, now = pickle.loads(Path(path).read_bytes())

    async def poll() -> list[PodInfo]:
        return list(pods)

    app = make_app(
        sandbox_settings(),
        Held(view),  # type: ignore[arg-type]
        clock=HeldClock(now),
        pods=poll,
        user="bench@host",
    )
    out = os.environ.get("FIRST_FRAME_MARKS")
    if out:
        Path(out).write_text(f"{TEXTUAL_IMPORTED} {imported}\n")
    app.run()


if __name__ == "__main__":
    main(sys.argv[1])
