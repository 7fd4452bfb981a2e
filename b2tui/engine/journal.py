"""Writes to the store that survive the store failing (disk full, read-only, locked).

The conductor writes every event, state change, audit entry and sign-off through a
:class:`Journal`. While the store takes writes they go straight through, in order. When
one fails, it and every later write are held in memory, in order (a newer state or
snapshot replaces an older one still held), and :meth:`Journal.flush` writes them all in
one transaction once the store takes writes again — so the file never holds half of
what happened, and nothing the driver decided meanwhile is lost.

The journal only holds and retries; the conductor decides what a failing store means for
the run (keep deciding from memory, hold promotion, alert).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from b2tui.domain import events as ev
from b2tui.ports import Store, StoreWriteFailed

if TYPE_CHECKING:
    from b2tui.engine.state import RunState
    from b2tui.ports.clock import Clock


@dataclass
class _Held:
    write: Callable[[], object]
    key: str | None = None


@dataclass
class Journal:
    """In-order writes to ``store``; held in memory while it fails.

    Args:
        store: where the writes go.
    """

    store: Store
    failing: str | None = None
    """The error of the last failed write while writes are held, else None."""
    since: float | None = None
    """``time.monotonic()`` of the first failure of the current outage."""
    attempts: int = 0
    """Failed flushes in the current outage (for the backoff)."""
    _held: list[_Held] = field(default_factory=list)

    @property
    def held(self) -> int:
        """How many writes wait in memory."""
        return len(self._held)

    def write(self, write: Callable[[], object], *, key: str | None = None) -> bool:
        """Write now, or hold it behind earlier held writes. True if it was written.

        ``key`` names a write whose newest value is all that matters (the run's state,
        a snapshot): a held one with the same key is replaced.
        """
        if self._held:
            if key is not None:
                self._held = [h for h in self._held if h.key != key]
            self._held.append(_Held(write, key))
            return False
        try:
            write()
        except StoreWriteFailed as e:
            self._held.append(_Held(write, key))
            self.failing = str(e)
            self.since = time.monotonic()
            self.attempts = 0
            return False
        return True

    def flush(self) -> bool:
        """Write everything held in one transaction. True when nothing is held any more."""
        if not self._held:
            return True
        held = list(self._held)
        try:
            with self.store.transaction():
                for h in held:
                    h.write()
        except StoreWriteFailed as e:
            self.failing = str(e)
            self.attempts += 1
            return False
        del self._held[: len(held)]
        if not self._held:
            self.failing, self.since, self.attempts = None, None, 0
        return not self._held

    def backoff(self) -> float:
        """Real seconds to wait before the next flush: 0.5 s doubling up to 5 s."""
        return min(5.0, 0.5 * 2 ** min(self.attempts, 4))


class HeldWrites:
    """The conductor's side of a failing store (a mixin): write through the :class:`Journal`,
    alert once when the store starts failing, retry in the background, and at the run's
    end wait until everything held is written."""

    if TYPE_CHECKING:  # provided by the Conductor
        store: Store
        clock: Clock
        _journal: Journal
        _flusher: asyncio.Task[None] | None
        _notes: set[asyncio.Task[None]]
        _wake: asyncio.Event

        @property
        def _st(self) -> RunState: ...

        def _emit(self, event: ev.Event) -> None: ...

        def _alert(self, message: str) -> Coroutine[Any, Any, None]: ...

    @property
    def unsaved(self) -> str | None:
        """Why the state file is behind the run (writes held in memory), or None."""
        j = self._journal
        if not j.failing:
            return None
        return f"{j.held} records not saved: {j.failing}"

    def _unsaved(self) -> bool:
        return self._journal.failing is not None

    def _write(self, write: Callable[[], object], *, key: str | None = None) -> None:
        """Write through the journal; the first failure alerts and starts the retries."""
        failing = self._journal.failing
        if self._journal.write(write, key=key) or failing is not None:
            return
        self._on_store_failed()

    def keep_blob(self, key: str, value: dict[str, Any]) -> None:
        """Keep a snapshot with the run (the sandbox world), through the journal."""
        run_id = self._st.run_id
        self._write(partial(self.store.put_blob, run_id, key, value), key=f"blob:{key}")

    def _say(self, level: str, message: str) -> None:
        self._emit(
            ev.Notice(ts=self.clock.now(), phase=self._st.phase, level=level, message=message)
        )

    def _on_store_failed(self) -> None:
        message = (
            f"the state could not be saved ({self._journal.failing}): deciding from memory,"
            " promotion held, a breach still rolls back; retrying"
        )
        self._say("alert", message)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        note = loop.create_task(self._alert(message))
        self._notes.add(note)
        note.add_done_callback(self._notes.discard)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        """Retry the held writes with backoff (real time: a virtual clock must not spin)."""
        j = self._journal
        while j.failing:
            await asyncio.sleep(j.backoff())
            held = j.held
            if j.flush():
                self._say("info", f"the state is saved again ({held} held records written)")
                self._wake.set()
                return

    async def _drain(self) -> None:
        """At the run's end: wait until what was held is written."""
        j = self._journal
        if not j.failing:
            return
        self._say("alert", f"run {self._st.outcome}; waiting for the state file: {j.failing}")
        while j.failing:
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush_loop())
            await asyncio.shield(self._flusher)
