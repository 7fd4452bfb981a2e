"""The control room over a recorded run: ``b2tui replay RUN``.

The same panels as the live room, read-only, over a :class:`~b2tui.engine.replay.Replay`:
``space`` plays and pauses, ``←``/``→`` step one event, ``[``/``]`` jump between phases
(and to the rollback and the end), ``home``/``end`` to the first and last event. The
header's clock is the run's time at the shown event; the bell never rings here.
"""

from __future__ import annotations

from typing import ClassVar, Unpack

from textual.binding import Binding, BindingType

from b2tui.config import Settings
from b2tui.domain import events as ev
from b2tui.engine.replay import Replay
from b2tui.ui.app import ControlRoom, RoomOptions
from b2tui.ui.bindings import SAFE_BINDINGS
from b2tui.ui.messages import ALL_PANELS
from b2tui.ui.terminal_calls import TerminalPrefs

REPLAY_BINDINGS: list[BindingType] = [
    Binding("space", "play", "Play/pause", priority=True, id="replay.play"),
    Binding("left", "step(-1)", "◀ event", priority=True, id="replay.back"),
    Binding("right", "step(1)", "event ▶", priority=True, id="replay.forward"),
    Binding("left_square_bracket", "phase(-1)", "◀ phase", key_display="[", id="replay.phase_back"),
    Binding("right_square_bracket", "phase(1)", "phase ▶", key_display="]", id="replay.phase_next"),
    Binding("home", "seek_start", "Start", show=False, id="replay.start"),
    Binding("end", "seek_end", "End", show=False, id="replay.end"),
]
"""The replay's own keys, first in the footer."""

MAX_WAIT = 2.0
"""Real seconds the player waits at most for the next event (a 5-minute hold at 10×
would otherwise be 30 s of nothing)."""


class ReplayRoom(ControlRoom, inherit_bindings=False):
    """A read-only control room whose run is a :class:`Replay`."""

    BINDINGS: ClassVar[list[BindingType]] = REPLAY_BINDINGS + SAFE_BINDINGS

    def __init__(self, settings: Settings, replay: Replay, **options: Unpack[RoomOptions]) -> None:
        super().__init__(settings, replay, **options)
        self.replay = replay
        self.terminal = TerminalPrefs(bell=False, notify=False)
        self._player: object = None

    def _on_event(self, event: ev.Event) -> None:
        # Positions change by keys and the player, which redraw everything themselves.
        return

    def on_mount(self) -> None:
        super().on_mount()
        self._pods_panel.error = "a replay has no pods: the journal does not record them"
        self._shown()

    def _shown(self) -> None:
        self._redraw_if_mounted(set(ALL_PANELS))
        self._tick()

    # --- keys ---------------------------------------------------------------------------

    def action_play(self) -> None:
        if self.replay.toggle_play():
            self._schedule()
        self._shown()

    def action_step(self, delta: int) -> None:
        self._pause()
        self.replay.step(delta)
        self._shown()

    def action_phase(self, direction: int) -> None:
        self._pause()
        self.replay.next_phase(direction)
        self._shown()

    def action_seek_start(self) -> None:
        self._pause()
        self.replay.seek(0)
        self._shown()

    def action_seek_end(self) -> None:
        self._pause()
        self.replay.seek(len(self.replay.events))
        self._shown()

    # --- the player ------------------------------------------------------------------------

    def _pause(self) -> None:
        if self.replay.playing:
            self.replay.toggle_play()

    def _schedule(self) -> None:
        gap = self.replay.gap()
        if gap is None or not self.replay.playing:
            self._pause()
            return
        # Textual's timers need a positive delay (events of one instant come together).
        self.set_timer(max(0.001, min(gap, MAX_WAIT)), self._advance, name="replay")

    def _advance(self) -> None:
        if not self.replay.playing or not self.drawable:
            return
        # Every event of the same instant at once: a sample's gates arrive together.
        nxt = self.replay.next_ts
        n = self.replay.position
        while n < len(self.replay.events) and self.replay.events[n].ts == nxt:
            n += 1
        self.replay.seek(n)  # the clock moves on from this event
        if self.replay.at_end:
            self._pause()
        self._shown()
        self._schedule()


def make_replay_app(settings: Settings, replay: Replay, *, colours: str = "auto") -> ReplayRoom:
    """The replay room on the replay's clock."""
    return ReplayRoom(settings, replay, clock=replay.clock, user="replay", colours=colours)
