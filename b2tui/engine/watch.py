"""A read-only session: follow a run that another process drives.

The watcher replays the run's events from the store and tails new ones. It accepts no
intents; the UI binds no dangerous keys for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from b2tui.domain import events as ev
from b2tui.domain.view import RunView, apply
from b2tui.engine.api import Action, IntentResult, Subscribers
from b2tui.ports import Lease, Store

log = logging.getLogger(__name__)


class Watcher:
    """Implements :class:`b2tui.engine.api.RunSession` read-only.

    Args:
        store: the store the driver writes to (SQLite in WAL mode allows concurrent reads).
        run_id: the run to follow.
        poll: real seconds between reads of new events.
    """

    read_only = True
    drives_here = False
    lease_check = 5.0
    """Seconds between looks at the lease when the store pushes events."""

    def __init__(self, store: Store, run_id: str, poll: float = 0.5) -> None:
        self.store = store
        self.run_id = run_id
        self.poll = poll
        self.view = RunView()
        self._last = 0
        self._subscribers = Subscribers()
        self._clock = _FollowClock(self.view)
        self._holder: Lease | None = store.lease(run_id)
        self._gone: str | None = None
        self._news = ""
        self._check_driver()
        self._catch_up()
        if self.view.finished:
            self._news = ""

    @property
    def clock(self) -> _FollowClock:
        """The run's clock as this watcher knows it: the newest event's time, moving on
        in real time until the next event arrives."""
        return self._clock

    @property
    def driver(self) -> str:
        if self._gone is not None:
            return f"nobody ({self._gone})"
        return self._holder.owner if self._holder else "nobody"

    @property
    def driver_gone(self) -> str | None:
        """Why nobody drives the run now (``driver … is gone: …``), or None while a live
        process holds its lease. Updated every poll by :meth:`follow`."""
        return self._gone

    def _check_driver(self) -> None:
        """Read the lease: is the run still driven, and by whom? Call before reading new
        events: a driver records the run's end before it gives its lease back."""
        lease = self.store.lease(self.run_id)
        live = self.store.driver(self.run_id)
        if live is None and lease is not None and _this_process(lease):
            live = lease if lease.expires > time.time() else None  # a driver in our process
        if live is not None:
            if self._gone is not None or (self._holder and self._holder.owner != live.owner):
                self._gone = None
                self._news = f"now driven by {live.owner}"
            self._holder = live
            return
        if self._gone is not None:
            return
        if lease is None:
            self._gone = "no process holds the run's lease"
        elif lease.expires <= time.time():
            self._gone = f"driver {lease.owner} is gone: its lease lapsed"
        else:
            self._gone = f"driver {lease.owner} is gone: process {lease.pid} is not running"
        self._news = f"{self._gone} — nobody drives this run; take it over to go on"

    def _poll(self, fetched: list[tuple[int, ev.Event]] | None = None) -> list[ev.Event]:
        """One look at the store: the driver, then the new events, then what to say
        (``fetched``: what :meth:`_fetch` read in a thread)."""
        if fetched is None:
            self._check_driver()
            out = self._catch_up()
        else:
            out = self._fold(fetched)
        if self._news and not self.view.finished:
            level = "alert" if self._gone else "info"
            e = ev.Notice(
                ts=self._clock.now(), phase=self.view.phase, level=level, message=self._news
            )
            apply(self.view, e)
            out.append(e)
        self._news = ""
        return out

    def subscribe(self, callback: Callable[[ev.Event], None]) -> Callable[[], None]:
        return self._subscribers.add(callback)

    def _catch_up(self) -> list[ev.Event]:
        return self._fold(self.store.events(self.run_id, after=self._last))

    def _fold(self, new: list[tuple[int, ev.Event]]) -> list[ev.Event]:
        out = []
        for event_id, e in new:
            self._last = event_id
            apply(self.view, e)
            out.append(e)
        if out:
            self._clock.mark()
        return out

    def history(self) -> list[ev.Event]:
        """The events already folded into the view (what happened before we attached)."""
        return [e for event_id, e in self.store.events(self.run_id) if event_id <= self._last]

    async def follow(self, *, until_gone: bool = False) -> None:
        """Tail events until the run finishes (cancel to stop earlier); with
        ``until_gone``, also return as soon as nobody drives it (to take it over).

        A store that pushes changes (the kube store's watch) wakes the follower, and the
        lease is looked at every ``lease_check`` seconds besides; a local file is read
        every ``poll`` seconds.
        """
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(changed.set)

        stop = self.store.follow(self.run_id, wake)
        try:
            while not self.view.finished:
                changed.clear()
                if stop is None:
                    new = self._poll()
                else:  # a remote store reads over the network: off the event loop
                    new = self._poll(await asyncio.to_thread(self._fetch))
                for e in new:
                    self._subscribers(e)
                if self.view.finished or (until_gone and self._gone is not None):
                    return
                if stop is None:
                    await asyncio.sleep(self.poll)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), self.lease_check)
        finally:
            if stop is not None:
                stop()

    def _fetch(self) -> list[tuple[int, ev.Event]]:
        """The blocking half of a poll (lease, then new events) for a worker thread."""
        self._check_driver()
        new = self.store.events(self.run_id, after=self._last)
        return [(i, e) for i, e in new if i > self._last]

    can_sign = False
    """True when sign-offs go to the driver (:class:`SigningWatcher`)."""

    def why_not(self, action: Action, item: str | None = None) -> str | None:
        if self._gone is not None:
            return f"watching — {self._gone}; take the run over to act"
        return f"watching — driven by {self.driver}"

    def _refuse(self) -> IntentResult:
        return IntentResult(False, f"read-only: this run is driven by {self.driver}")

    def advance(self, user: str) -> IntentResult:
        return self._refuse()

    def step_canary(self, delta: int, user: str) -> IntentResult:
        return self._refuse()

    def set_canary(self, percent: int, user: str) -> IntentResult:
        return self._refuse()

    def toggle_pause(self, user: str) -> IntentResult:
        return self._refuse()

    def sign_off(self, item: str, user: str) -> IntentResult:
        return self._refuse()

    def rollback(self, user: str, reason: str = "operator request") -> IntentResult:
        return self._refuse()

    def abort(self, user: str) -> IntentResult:
        return self._refuse()


def _this_process(lease: Lease) -> bool:
    return lease.pid == os.getpid() and lease.host == socket.gethostname()


class _FollowClock:
    """Run time seen from a watcher: the last event's time plus real time since it came."""

    def __init__(self, view: RunView) -> None:
        self._view = view
        self._seen = time.monotonic()

    def mark(self) -> None:
        self._seen = time.monotonic()

    def now(self) -> datetime:
        last = self._view.last_ts
        if last is None:
            return datetime.now(UTC)
        return last + timedelta(seconds=time.monotonic() - self._seen)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class SigningWatcher(Watcher):
    """A watcher of a run this host drives that may sign: each sign-off goes to the driver
    through ``send`` (a thread of its own; the driver names the sender, judges it and
    writes its answer into the run's log, which this watcher shows).

    Args:
        send: delivers a sign-off of an item to the driver of that pid (None: unknown);
            returns the driver's answer.
    """

    can_sign = True

    def __init__(
        self,
        store: Store,
        run_id: str,
        send: Callable[[str, int | None], IntentResult],
        poll: float = 0.5,
    ) -> None:
        super().__init__(store, run_id, poll)
        self._send = send
        self._sender: ThreadPoolExecutor | None = None

    def why_not(self, action: Action, item: str | None = None) -> str | None:
        refusal = super().why_not(action, item)
        if action is not Action.SIGN_OFF or self._gone is not None:
            return refusal
        v = self.view
        if v.finished:
            return "the run has finished"
        group = "smoke" if v.phase is not None and v.phase.value == "smoke" else "readiness"
        waiting = [
            k
            for k, c in v.checks.items()
            if c.required
            and c.state == "pending"
            and c.group == group
            and (c.manual or c.detail.startswith("unknown"))
        ]
        if item is None:
            return None if waiting else "no item waits for a sign-off"
        if item not in waiting:
            check = v.checks.get(item)
            return f"{check.title if check else item} does not wait for a sign-off now"
        return None

    def sign_off(self, item: str, user: str) -> IntentResult:
        refusal = self.why_not(Action.SIGN_OFF, item)
        if refusal is not None:
            return IntentResult(False, refusal)
        if self._sender is None:
            self._sender = ThreadPoolExecutor(1, thread_name_prefix="b2tui-sign")
        pid = self._holder.pid if self._holder is not None else None
        sent = self._sender.submit(self._send, item, pid)
        with contextlib.suppress(RuntimeError):  # no loop (a test's direct call): no notice
            loop = asyncio.get_running_loop()

            def answered(done: Future[IntentResult]) -> None:  # in the sender thread
                with contextlib.suppress(RuntimeError):  # the room's loop closed meanwhile
                    loop.call_soon_threadsafe(self._not_delivered, done)

            sent.add_done_callback(answered)
        return IntentResult(True, f"sign-off sent to {self.driver}: its answer is in the log")

    def _not_delivered(self, done: Future[IntentResult]) -> None:
        """Say so when the sign-off never reached the driver (its refusals it logs itself)."""
        error = done.exception()
        why = f"{type(error).__name__}: {error}" if error else done.result().message
        if error is None and not why.startswith("not delivered"):
            return
        e = ev.Notice(ts=self.clock.now(), phase=self.view.phase, level="warn", message=why)
        apply(self.view, e)
        self._subscribers(e)
