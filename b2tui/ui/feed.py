"""What flows into the control room: the session's events, the pods poll, the engine
worker, and the on-call's bell and write-up (an app mixin of :class:`~b2tui.ui.app.ControlRoom`).

Nothing here draws directly: events and polls post messages, and their handlers redraw
only while there is a screen (:attr:`RoomFeed.drawable`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, ScreenStackError
from textual.css.query import NoMatches

from b2tui.domain import events as ev
from b2tui.domain.attention import Attention, Call
from b2tui.engine.api import RunSession
from b2tui.masking import mask
from b2tui.ports import PodInfo
from b2tui.ports.clock import Clock
from b2tui.ui.messages import ALL_PANELS, PodsPolled, RunChanged, SourceFailed
from b2tui.ui.pod_rows import pod_changes
from b2tui.ui.render import one_line
from b2tui.ui.terminal_calls import TerminalPrefs, sequences

if TYPE_CHECKING:
    from b2tui.ui.widgets.header import RunHeader
    from b2tui.ui.widgets.panel import Panel
    from b2tui.ui.widgets.pods import PodsPanel

    _Room = App[None]
else:
    _Room = object

POD_POLL = 2.0
"""Seconds between pod polls (real time) while the source answers."""
POD_POLL_MAX = 30.0
"""Longest backoff between failing pod polls."""

PANELS_BY_EVENT: dict[type[ev.Event], frozenset[str]] = {
    ev.GateSampled: frozenset({"metrics"}),
    ev.ChecklistChanged: frozenset({"checklist"}),
    ev.LogLine: frozenset({"log"}),
    ev.CommandStarted: frozenset({"log"}),
    ev.CommandFinished: frozenset({"log"}),
    ev.OperatorActed: frozenset({"log"}),
    ev.Notified: frozenset({"log"}),
    ev.Notice: frozenset({"log", "timeline"}),
}
"""Panels an event touches; an event not listed (phase, traffic, hold, rollback…)
touches every panel."""


def error_line(e: BaseException) -> str:
    """One masked line for a failure shown on screen."""
    # Masked before it is cut: a source's error may quote a credential back.
    return one_line(mask(str(e))) or type(e).__name__


class RoomFeed(_Room):
    """Events, pods and the engine into the room; the bell and the write-up out."""

    session: RunSession
    clock: Clock
    terminal: TerminalPrefs
    _attention: Attention
    _ring_due: bool
    _postmortem: Callable[[], str] | None
    _pods_source: Callable[[], Awaitable[list[PodInfo]]] | None
    _runner: Callable[[], Awaitable[object]] | None
    _pod_delay: float
    _pods_seen: dict[str, PodInfo]
    _engine_error: str | None
    _header: RunHeader
    _pods_panel: PodsPanel
    _panels: tuple[Panel, ...]

    if TYPE_CHECKING:

        def _redraw(self, kinds: set[str]) -> None: ...

        def _schedule_tick(self) -> None: ...

    # --- data in --------------------------------------------------------------------------

    def _on_event(self, event: ev.Event) -> None:
        # Called by the session on the loop for every event: only post, never draw here.
        self.post_message(RunChanged(event.ts, set(PANELS_BY_EVENT.get(type(event), ALL_PANELS))))
        self._offer_postmortem(event)
        if self._attention.see(event, self.session.view) and not self._ring_due:
            # After the messages already queued: a burst (a checklist becoming due, a
            # pause and its alert) rings once.
            self._ring_due = True
            self.call_later(self._ring)

    def _offer_postmortem(self, event: ev.Event) -> None:
        if isinstance(event, ev.RollbackCompleted) and self._postmortem is not None:
            self.notify(
                "press w to write the incident up (postmortem-<run>.md, then --github)",
                title="rolled back",
                severity="warning",
                timeout=60,
            )

    async def action_postmortem(self) -> None:
        """``w``: write the run's incident write-up (after a rollback, or any ended run)."""
        view = self.session.view
        if self._postmortem is None:
            self.notify("no write-up here: run `b2tui postmortem RUN` in a shell")
            return
        if view.rollback_started is None and not view.finished:
            self.notify("the write-up is offered once the run rolled back or ended")
            return
        try:
            said = await asyncio.to_thread(self._postmortem)
        except Exception as e:
            self.notify(error_line(e), title="write-up failed", severity="error")
            return
        self.notify(mask(said), title="write-up", timeout=30)

    def _ring(self) -> None:
        """Call the on-call: the bell and a desktop notification, once per occurrence."""
        self._ring_due = False
        call = self._attention.take()
        if call is None or self._driver is None or not self.is_running:
            return
        data = sequences(call, self.terminal)
        if data:
            self._driver.write(data)

    def on_run_changed(self, message: RunChanged) -> None:
        self._redraw_if_mounted(message.kinds)

    @property
    def drawable(self) -> bool:
        """True while there is a screen to draw on. Events, polls and timers keep
        arriving while the app closes (R, then q at once; a test leaving ``run_test``):
        once the screens are gone there is nothing to draw, and nothing must try."""
        return self.is_running and bool(self.screen_stack)

    def _redraw_if_mounted(self, kinds: set[str]) -> None:
        if not self.drawable:
            return
        try:
            self._redraw(kinds)
        except (NoMatches, ScreenStackError):
            return

    @work(exclusive=True, group="poll-pods", exit_on_error=False)
    async def _poll_pods(self) -> None:
        """Poll pods once, then schedule the next poll: polls never overlap."""
        assert self._pods_source is not None
        try:
            pods = await self._pods_source()
        except Exception as e:
            # Failures are data: the panel turns stale and says why; back off.
            self.post_message(SourceFailed("pods", error_line(e), self.clock.now()))
            self._pod_delay = min(self._pod_delay * 2, POD_POLL_MAX)
        else:
            at = self.clock.now()
            # Compared with the last poll in a thread: 5,000 pods take milliseconds, and
            # the UI thread then handles only what changed.
            seen, changed, removed = await asyncio.to_thread(pod_changes, self._pods_seen, pods)
            self._pods_seen = seen
            self.post_message(PodsPolled(changed, frozenset(removed), at))
            self._pod_delay = POD_POLL
        if self.is_running:
            self.set_timer(self._pod_delay, self._poll_pods, name="poll-pods")

    def on_pods_polled(self, message: PodsPolled) -> None:
        if not self.drawable:
            return
        self._pods_panel.show_changes(message.changed, message.removed, message.at)
        self._schedule_tick()  # the pods' age starts again

    def on_source_failed(self, message: SourceFailed) -> None:
        if not self.drawable:
            return
        if message.source == "pods":
            self._pods_panel.show_error(message.error)
            self._schedule_tick()  # "stale 4s: …" counts seconds
            return
        self._engine_error = message.error
        for panel in self._panels:
            if panel is not self._pods_panel:
                panel.error = message.error
        self._header.show_clock(self.clock.now(), message.error)
        self._schedule_tick()
        self.notify(message.error, title="engine stopped", severity="error", timeout=30)
        view = self.session.view
        stopped = Call(
            f"{view.run_id}:engine-stopped",
            f"b2tui: {view.service or 'run'} engine stopped",
            message.error,
            urgent=True,
        )
        if self._attention.note(stopped) and not self._ring_due:
            self._ring_due = True
            self.call_later(self._ring)

    async def _run_engine(self) -> None:
        assert self._runner is not None
        try:
            await self._runner()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.post_message(SourceFailed("engine", error_line(e), self.clock.now()))
