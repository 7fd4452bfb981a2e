"""The control room: a Textual app over a :class:`~b2tui.engine.api.RunSession`.

The app shows the session's :class:`~b2tui.domain.view.RunView` and forwards intents;
it decides nothing. Data flows one way: the session calls back on each event, the
callback posts :class:`RunChanged` (coalesced), and the handler redraws the panels the
event touched. Pods come from an optional ``pods()`` poll that reschedules itself after
each poll finishes, so polls never overlap; that data flow (events, pods, the engine
worker, the bell) lives in :mod:`b2tui.ui.feed`. What the keys do lives in
:mod:`b2tui.ui.keys`, the bindings and when each key acts in :mod:`b2tui.ui.bindings`.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import ClassVar, Required, TypedDict, Unpack

from textual import constants, events, on
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Container
from textual.driver import Driver
from textual.filter import ANSIToTruecolor, LineFilter, Monochrome, NoColor
from textual.notifications import SeverityLevel
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Tab, Tabs

from b2tui.config import Settings
from b2tui.domain.attention import Attention
from b2tui.domain.canary import DEFAULT_STEPS, CanaryStep
from b2tui.engine.api import Action, RunSession
from b2tui.ports import PodInfo
from b2tui.ports.clock import Clock
from b2tui.startup import release_collector
from b2tui.ui import partial_update
from b2tui.ui.bindings import (
    DANGEROUS_BINDINGS,
    SAFE_BINDINGS,
    SIGN_BINDING,
    TAKE_OVER_BINDING,
)
from b2tui.ui.commands import RunCommands
from b2tui.ui.feed import POD_POLL, RoomFeed
from b2tui.ui.keys import OperatorKeys
from b2tui.ui.messages import ALL_PANELS
from b2tui.ui.render import Timing
from b2tui.ui.terminal_calls import TerminalPrefs
from b2tui.ui.ticks import next_change
from b2tui.ui.widgets.canary import CanaryPanel
from b2tui.ui.widgets.checklist import ChecklistPanel
from b2tui.ui.widgets.header import RunHeader
from b2tui.ui.widgets.log import LogPanel
from b2tui.ui.widgets.metrics import MetricsPanel
from b2tui.ui.widgets.panel import Panel
from b2tui.ui.widgets.pods import PodsPanel
from b2tui.ui.widgets.timeline import TimelinePanel

WIDE = 120
"""Columns from which the panels sit in one grid; below, they go in tabs."""
COLOUR_MODES = ("full", "16", "none")
"""Colour modes a caller can fix instead of ``auto`` (see :class:`RoomOptions`)."""


def _css_path() -> Path:
    """``b2tui/styles`` when installed (the wheel force-includes it), else the repo's."""
    name = "control_room.tcss"
    installed = Path(__file__).parent.parent / "styles" / name
    if installed.exists():
        return installed
    return Path(__file__).parent.parent.parent / "styles" / name


TICK_SLACK = 0.01
"""Real seconds the clock tick wakes after the moment a label changes (never before it)."""
TICK_FLOOR = 0.05
"""Shortest wait between two clock ticks at real time or slower."""


def clock_speed(clock: Clock) -> float | None:
    """Run seconds per real second of ``clock`` (its ``speed``), or None for a clock
    whose time jumps (virtual, replayed, followed): the room then ticks every second."""
    speed = getattr(clock, "speed", None)
    if isinstance(speed, int | float) and speed > 0:
        return float(speed)
    return None


GREETING = "resumed"
"""Title of the greeting toast; a phase change does not clear it."""


class RoomOptions(TypedDict, total=False):
    """What a control room is built with besides the settings and the session."""

    clock: Required[Clock]
    """The run's clock; every age and countdown on screen is measured on it."""
    pods: Callable[[], Awaitable[list[PodInfo]]] | None
    """Returns the environment's pods; polled while the app runs (default: none)."""
    runner: Callable[[], Awaitable[object]] | None
    """Returns the engine's run coroutine; run as a worker from mount, and cancelled
    (nothing else) on quit (default: none)."""
    user: str
    """Who signs off and acts (``user@host``), recorded by the engine (default
    ``operator``)."""
    colours: str
    """``auto`` (the terminal's: ``TERM``/``COLORTERM`` and ``NO_COLOR``, the default),
    or one of :data:`COLOUR_MODES` fixed by the caller whatever the terminal says:
    ``full`` (the truecolor theme), ``16`` (the ANSI theme of a 16-colour terminal) or
    ``none`` (as under ``NO_COLOR``). The snapshot tests pick one, so what they draw
    does not depend on the terminal they run in."""
    greeting: str | None
    """Said once as a toast when the room opens (default: nothing), e.g. that an
    unfinished run was resumed instead of the one asked for."""
    postmortem: Callable[[], str] | None
    """Writes the run's incident write-up (blocking; run in a thread) and returns what to
    say; offered after a rollback, on key ``w`` (default: none)."""


class ControlRoom(RoomFeed, OperatorKeys, App[None]):
    """The control room for one run. Build it with :func:`make_app`.

    This class binds only safe keys; :class:`DrivingControlRoom` adds the keys that
    change the run, so a watcher has no dangerous key bound at all. What the keys do
    comes from :class:`~b2tui.ui.keys.OperatorKeys`, when they act from
    :class:`~b2tui.ui.bindings.KeyRules`.
    """

    CSS_PATH = _css_path()
    TITLE = "b2tui"
    AUTO_FOCUS = "#metrics"
    """The gates panel takes focus as the screen opens (Textual's default, the first
    focusable widget, would focus the pods filter and then hand focus on: two restyles)."""
    BINDINGS: ClassVar[list[BindingType]] = [*SAFE_BINDINGS, TAKE_OVER_BINDING]
    COMMANDS = App.COMMANDS | {RunCommands}

    def __init__(
        self, settings: Settings, session: RunSession, **options: Unpack[RoomOptions]
    ) -> None:
        super().__init__()
        # Partial updates written from the changed cell, not the widget's edge.
        partial_update.install()
        colours = options.get("colours", "auto")
        if colours != "auto" and colours not in COLOUR_MODES:
            raise ValueError(f"colours must be auto or one of {', '.join(COLOUR_MODES)}")
        self._colours = colours
        self._no_colour: LineFilter | None = None
        if colours != "auto":
            # Textual set it from the environment's NO_COLOR; widgets style :nocolor.
            self.no_color = colours == "none"
        if colours == "16" or (
            colours == "auto" and self.console.color_system in ("standard", "windows")
        ):
            # A 16-colour terminal (TERM=xterm): truecolor theme colours rounded to the
            # nearest of 16 turn the footer's accent into bright red; the ANSI theme uses
            # the terminal's own palette instead.
            self.theme = "ansi-dark"
        self.settings = settings
        self.session = session
        self.clock = options["clock"]
        self.user = options.get("user", "operator")
        self._pods_source = options.get("pods")
        self._greeting = options.get("greeting")
        self._runner = options.get("runner")
        self._postmortem = options.get("postmortem")
        self._unsubscribe: Callable[[], None] | None = None
        self._pod_delay = POD_POLL
        self._pods_seen: dict[str, PodInfo] = {}
        """The last poll's pods by name, what the next poll is compared with."""
        self._binding_state: tuple[object, ...] = ()
        self._engine_error: str | None = None
        self.take_over_requested = False
        """Set by the take-over key: the caller claims the run and opens it as driver."""
        self._shown_phase: object = None
        self._shown_driver = ""
        self._speed = clock_speed(self.clock)
        """Run seconds per real second; None: the clock jumps and the room ticks each second."""
        self._tick_timer: Timer | None = None
        self._tick_due = math.inf
        """When the pending clock tick fires (``time.monotonic``), inf without one."""
        self._attention = Attention()
        """Which events call the on-call, each occurrence once (bell, notification)."""
        self._ring_due = False
        self.terminal = TerminalPrefs.of(
            bell=settings.terminal.bell, notify=settings.terminal.notify, environ=os.environ
        )
        """How this terminal is called (``[terminal]``, ``$TERM``, ``$TMUX``)."""
        # Panels are held by reference, never looked up: a timer or poll that fires while
        # the screen is being built or torn down writes to a widget object, which is
        # harmless, instead of querying a DOM that may not hold it (NoMatches).
        self._header = RunHeader(id="header")
        self._pods_panel = PodsPanel(id="pods")
        self._metrics = MetricsPanel(id="metrics")
        self._metrics.stale_after = settings.gates.poll * 2.5
        self._checklist = ChecklistPanel(id="checklist")
        self._timeline = TimelinePanel(id="timeline")
        self._canary = CanaryPanel(id="canary")
        self._log_panel = LogPanel(id="log")
        self._panels: tuple[Panel, ...] = (
            self._pods_panel,
            self._metrics,
            self._checklist,
            self._timeline,
            self._canary,
            self._log_panel,
        )

    def get_driver_class(self) -> type[Driver]:
        """Textual's Linux driver made safe for a terminal that hangs up
        (:mod:`b2tui.ui.terminal`); ``TEXTUAL_DRIVER`` and other platforms keep Textual's."""
        if constants.DRIVER is None and sys.platform != "win32":
            from b2tui.ui.terminal import TerminalDriver

            return TerminalDriver
        return super().get_driver_class()

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters, unless the colour mode is fixed: then only the ANSI
        conversion the theme asks for, plus the ``NO_COLOR`` filter in ``none`` mode
        (what ``NO_COLOR`` or ``TEXTUAL_FILTERS`` say in the environment is ignored)."""
        filters = super().get_line_filters()
        if self._colours == "auto":
            return filters
        kept: list[LineFilter] = [f for f in filters if isinstance(f, ANSIToTruecolor)]
        if self._colours == "none":
            if self._no_colour is None:
                self._no_colour = NoColor() if self.native_ansi_color else Monochrome()
            kept.append(self._no_colour)
        return kept

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Before the panels mount: set later, the class restyles every widget once more
        # before the first frame.
        self._apply_layout(self.size.width)
        yield self._header
        tabs = Tabs(
            Tab("1 Overview", id="overview"),
            Tab("2 Pods", id="pods-tab"),
            Tab("3 Checklist", id="checklist-tab"),
            Tab("4 Log", id="log-tab"),
            id="layout-tabs",
        )
        # The number keys switch tabs; a focused tab bar would swallow the arrows meant
        # for the table below it.
        tabs.can_focus = False
        yield tabs
        with Container(id="body", classes="-tab-overview"):
            yield self._pods_panel
            yield self._metrics
            yield self._checklist
            yield self._timeline
            yield self._canary
            yield self._log_panel
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if not all(widget.is_attached for widget in (self._header, *self._panels)):
            # The app is leaving before its panels were composed (a signal or a hang-up
            # while it started; Textual mounts nothing more once exit was asked): there
            # is nothing to fill, and no engine to start.
            return
        self._unsubscribe = self.session.subscribe(self._on_event)
        self._redraw(set(ALL_PANELS))
        self._tick()
        if self._speed is None:
            self.set_interval(1.0, self._tick, name="clock")
        elif not self.session.drives_here:
            # A driver leaving or taking over is no event of the run: a cheap look each
            # second (the clock's labels wake the room only when they change).
            self.set_interval(1.0, self._follow_driver, name="driver")
        if self._pods_source is not None:
            self._poll_pods()
        else:
            self._pods_panel.error = "no pod source in this session"
        if self._runner is not None:
            self.run_worker(self._run_engine(), name="engine", group="engine", exit_on_error=False)
        if self._greeting:
            self.notify(self._greeting, title=GREETING, severity="warning", timeout=15)

    def on_ready(self) -> None:
        # The first frame is on screen: the garbage collector the console script held
        # off for start-up runs again (b2tui/startup.py).
        release_collector()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout(event.size.width)

    def _apply_layout(self, width: int) -> None:
        # A class toggle, not a recompose: the panels (and the pods table's cursor, sort
        # and filter) are the same widgets in both layouts.
        if self.screen_stack:
            self.screen.set_class(width >= WIDE, "-wide")

    @on(Tabs.TabActivated, "#layout-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        active = (event.tab.id or "overview").removesuffix("-tab")
        self._show_body(active)
        # A click on a tab lands in it, as its number key does.
        if not self._focus_within(active):
            self._focus_view(active)

    # --- drawing ---------------------------------------------------------------------------

    def _redraw(self, kinds: set[str]) -> None:
        view = self.session.view
        now = self.clock.now()
        if "header" in kinds:
            # A driver shows who acts here (stable text); a watcher names the driver; an
            # attached room names the driving host/user (the lease holder) and its own
            # operator, whose keys go to that driver.
            read_only = self.session.read_only
            follows = not self.session.drives_here
            driver = self.session.driver if follows else self.user
            self._shown_driver = self.session.driver if follows else ""
            operator = self.user if follows and not read_only else ""
            self._header.show_run(view, driver=driver, read_only=read_only, operator=operator)
        if "metrics" in kinds:
            self._metrics.show_view(view, now)
        if "checklist" in kinds:
            self._checklist.show_view(view)
        if "timeline" in kinds:
            self._timeline.show_view(view, now, self._timing())
        if "canary" in kinds:
            self._canary.steps = self._steps()
            self._canary.show_view(view, now, can_advance=self._can_advance())
        if "log" in kinds:
            self._log_panel.show_view(view)
        if view.phase != self._shown_phase or view.finished:
            # A toast about the previous phase ("press n to start production") is stale
            # once the phase moved on.
            if self._shown_phase is not None and view.phase != self._shown_phase:
                self._clear_toasts()
            self._shown_phase = view.phase
        # Phase, hold, pause and gates all decide what is allowed: re-ask the engine.
        self._refresh_binding_state()
        # A hold, a countdown or a fresh age may change sooner than the tick waits for.
        self._schedule_tick()

    def _can_advance(self) -> bool:
        return not self.session.read_only and self.session.why_not(Action.ADVANCE) is None

    def _timing(self) -> Timing:
        return Timing(
            no_data_timeout=self.settings.gates.no_data_timeout,
            stable_for=self._timing_stable_for(),
            can_advance=self._can_advance(),
            stale_after=self._metrics.stale_after,
        )

    def _timing_stable_for(self) -> float:
        stable_for = self.settings.smoke.stable_for
        if self.session.view.emergency:
            stable_for *= self.settings.readiness.emergency_hold_factor
        return stable_for

    def _steps(self) -> tuple[CanaryStep, ...]:
        env = self.settings.environments.get(self.session.view.environment or "production")
        return env.canary_steps if env is not None else DEFAULT_STEPS

    def _tick(self) -> None:
        """The clock, ages and countdowns (small labels only): when one of them changes
        (:meth:`_schedule_tick`), or once a second on a clock whose time jumps.

        Called by its timer or directly (on mount, by a replay): the pending timer is
        stopped either way, so one tick stays pending, never two chains of them.
        """
        if self._tick_timer is not None:
            self._tick_timer.stop()
        self._tick_timer, self._tick_due = None, math.inf
        if not self.drawable:
            if self._speed is not None and self.is_running:
                self._tick_timer = self.set_timer(1.0, self._tick, name="clock")
            return
        now = self.clock.now()
        view = self.session.view
        self._header.show_clock(now, self._engine_error)
        self._follow_driver(bindings=False)
        for panel in self._panels:
            panel.show_age(now)
        self._timeline.show_time(view, now, self._timing())
        self._canary.show_view(view, now, can_advance=self._can_advance())
        self._metrics.show_time(view, now)
        # Holds end with time, not with an event: the footer must follow.
        self._refresh_binding_state()
        self._schedule_tick()

    def _follow_driver(self, *, bindings: bool = True) -> None:
        """A driver leaving (or taking over) is no event of the run: follow it here."""
        if not self.drawable or self.session.drives_here:
            return
        if self.session.driver != self._shown_driver:
            self._redraw({"header"})
        if bindings:
            self._refresh_binding_state()  # the take-over key follows the driver too

    def _schedule_tick(self) -> None:
        """Wake the clock tick when the first label measured on the clock changes: the
        next minute of the header clock, a panel's age, a countdown (each second in its
        last minute), a hold's end (the footer's ``n``). Asked again after every redraw
        and pods poll, which may bring a change sooner (or move an age's start later).

        On a clock without a known speed (:func:`clock_speed`) the room ticks every second.
        """
        if self._speed is None or not self.drawable:
            return
        mono = time.monotonic()
        if self._tick_due - mono < 2 * TICK_SLACK:
            # Firing now: a label may have just changed, and measured from now its next
            # change would be the one after.
            return
        settings = self.settings
        timing = Timing(
            no_data_timeout=settings.gates.no_data_timeout,
            stable_for=self._timing_stable_for(),
            stale_after=self._metrics.stale_after,
        )
        wait = next_change(
            self.session.view,
            self.clock.now(),
            timing,
            ((p.data_at, p.error) for p in self._panels),
            clock_shown=self._engine_error is None,
        )
        if wait is None:
            due = math.inf
        else:
            real = wait / self._speed + TICK_SLACK
            # Faster than real time, labels change faster than a person reads: ≤ 1 Hz.
            real = max(real, TICK_FLOOR if self._speed <= 1 else 1.0)
            due = mono + real
        if due > self._tick_due - 0.001:
            # Never later than the tick already set: waking early costs a comparison of
            # equal texts, while moving it later on every redraw (at a fast clock each
            # redraw puts the 1 Hz floor a second ahead) would starve it for good.
            return
        if self._tick_timer is not None:
            self._tick_timer.stop()
            self._tick_timer = None
        self._tick_due = due
        if due < math.inf:
            self._tick_timer = self.set_timer(due - mono, self._tick, name="clock")

    # --- feedback -------------------------------------------------------------------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """One toast at a time: a new one replaces the last (errors stay until read).

        Five sign-offs in a row must not stack five toasts over the table and header.
        """
        for old in list(self._notifications):
            if old.severity != "error":
                self._unnotify(old, refresh=False)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def _clear_toasts(self) -> None:
        """Drop the toasts a phase change made stale (not errors, not the greeting)."""
        for old in list(self._notifications):
            if old.severity != "error" and old.title != GREETING:
                self._unnotify(old, refresh=False)
        self._refresh_notifications()

    @on(DataTable.RowHighlighted, "#checklist-table")
    def _checklist_moved(self) -> None:
        # Whether space may sign off depends on the selected item.
        self._refresh_binding_state()


class SigningWatchRoom(ControlRoom, inherit_bindings=False):
    """A watcher's room on this host's run that may sign: ``space`` sends the sign-off to
    the driver, which judges it under the name the kernel gives this process."""

    BINDINGS: ClassVar[list[BindingType]] = [SIGN_BINDING, *SAFE_BINDINGS, TAKE_OVER_BINDING]


class DrivingControlRoom(ControlRoom, inherit_bindings=False):
    """The control room of the process that drives the run: adds the intent keys."""

    # Intent keys first: the footer lists bindings in order and may be cut at 80 columns.
    BINDINGS: ClassVar[list[BindingType]] = DANGEROUS_BINDINGS + SAFE_BINDINGS


def make_app(
    settings: Settings, session: RunSession, **options: Unpack[RoomOptions]
) -> ControlRoom:
    """The control room for ``session``; the CLI, the tests and the screenshots use it.

    Args:
        settings: Typed settings (canary steps of the run's environment).
        session: The run to show: a driver gets the intent keys, a watcher
            (``session.read_only``) gets none of them.
        **options: The clock and the optional sources (:class:`RoomOptions`).
    """
    cls: type[ControlRoom] = DrivingControlRoom
    if session.read_only:
        cls = SigningWatchRoom if getattr(session, "can_sign", False) else ControlRoom
    return cls(settings, session, **options)
