"""The run's record: its state and view, the event fan-out, and writes that survive the
store failing (disk full, read-only, locked).

:class:`RunJournal` is the one collaborator the conductor, the opening of a run, the
operator intents, the run context and the rollback share: it holds the run's
:class:`RunState` and :class:`RunView`, the subscribers and the wake-up event, and every
event, state change, audit entry and sign-off goes through it (``emit``, ``save``,
``write``). The writes go through a :class:`Journal`: while the store takes writes they go
straight through, in order. When one fails, it and every later write are held in memory,
in order (a newer state or snapshot replaces an older one still held), and
:meth:`Journal.flush` writes them all in one transaction once the store takes writes
again — so the file never holds half of what happened, and nothing the driver decided
meanwhile is lost. The run goes on deciding from memory; promotion waits (``unsaved``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from b2tui.domain import events as ev
from b2tui.domain.phases import Outcome
from b2tui.domain.view import RunView, apply
from b2tui.engine.api import Subscribers
from b2tui.engine.state import RunState
from b2tui.masking import mask_data
from b2tui.ports import Store, StoreWriteFailed
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


class RunJournal:
    """One run's state, view and subscribers, and every write about it.

    Args:
        store: where state, events, sign-offs and the audit log are kept.
        clock: the run's clock (timestamps of saves and notices).
    """

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.state: RunState | None = None
        """The run's persisted state; set when a run is started or resumed."""
        self.view = RunView()
        """The run folded from its events."""
        self.subscribers = Subscribers()
        self.wake = asyncio.Event()
        """Set by an intent: a waiting step looks again at once."""
        self.alert: Callable[[str], Coroutine[Any, Any, None]] | None = None
        """Sends an alert notification (the run context's); called when the store fails."""
        self.writes = Journal(store)
        self._flusher: asyncio.Task[None] | None = None
        self._notes: set[asyncio.Task[None]] = set()

    @property
    def st(self) -> RunState:
        if self.state is None:
            raise RuntimeError("no run: call start() or resume() first")
        return self.state

    def emit(self, event: ev.Event) -> None:
        """The one fan-out: store, view, TUI and printers all get the masked event."""
        event = mask_data(event)
        if self.state is not None:
            self.write(partial(self.store.append_event, self.state.run_id, event))
        apply(self.view, event)
        self.subscribers(event)

    def save(self) -> None:
        """Persist the run's state."""
        st = self.st
        self.write(
            partial(self.store.save_state, st.run_id, st.to_dict(), self.clock.now()), key="state"
        )

    def finish(self, outcome: Outcome, reason: str) -> None:
        """Record the run's outcome (once) and wake the loop."""
        st = self.st
        if st.outcome is not None:
            return
        now = self.clock.now()
        st.outcome, st.reason = outcome.value, reason
        st.hold_until = None
        self.save()
        self.write(partial(self.store.finish_run, st.run_id, outcome.value, reason, now))
        self.emit(ev.RunFinished(ts=now, phase=st.phase, outcome=outcome.value, reason=reason))
        self.wake.set()

    @property
    def unsaved(self) -> str | None:
        """Why the state file is behind the run (writes held in memory), or None."""
        j = self.writes
        if not j.failing:
            return None
        return f"{j.held} records not saved: {j.failing}"

    def write(self, write: Callable[[], object], *, key: str | None = None) -> None:
        """Write through the journal; the first failure alerts and starts the retries."""
        failing = self.writes.failing
        if self.writes.write(write, key=key) or failing is not None:
            return
        self._on_store_failed()

    def keep_blob(self, key: str, value: dict[str, Any]) -> None:
        """Keep a snapshot with the run (the sandbox world), through the journal."""
        run_id = self.st.run_id
        self.write(partial(self.store.put_blob, run_id, key, value), key=f"blob:{key}")

    def _say(self, level: str, message: str) -> None:
        self.emit(ev.Notice(ts=self.clock.now(), phase=self.st.phase, level=level, message=message))

    def _on_store_failed(self) -> None:
        message = (
            f"the state could not be saved ({self.writes.failing}): deciding from memory,"
            " promotion held, a breach still rolls back; retrying"
        )
        self._say("alert", message)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self.alert is not None:
            note = loop.create_task(self.alert(message))
            self._notes.add(note)
            note.add_done_callback(self._notes.discard)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        """Retry the held writes with backoff (real time: a virtual clock must not spin)."""
        j = self.writes
        while j.failing:
            await asyncio.sleep(j.backoff())
            held = j.held
            if j.flush():
                self._say("info", f"the state is saved again ({held} held records written)")
                self.wake.set()
                return

    async def drain(self) -> None:
        """At the run's end: wait until what was held is written."""
        j = self.writes
        if not j.failing:
            return
        self._say("alert", f"run {self.st.outcome}; waiting for the state file: {j.failing}")
        while j.failing:
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush_loop())
            await asyncio.shield(self._flusher)

    def stop_retrying(self) -> None:
        """The run's end: no more background retries."""
        if self._flusher is not None:
            self._flusher.cancel()
