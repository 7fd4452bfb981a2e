"""The control room: a Textual app over a :class:`~b2tui.engine.api.RunSession`.

The app shows the session's :class:`~b2tui.domain.view.RunView` and forwards intents;
it decides nothing. Data flows one way: the session calls back on each event, the
callback posts :class:`RunChanged` (coalesced), and the handler redraws the panels the
event touched. Pods come from an optional ``pods()`` poll that reschedules itself after
each poll finishes, so polls never overlap.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, Tab, Tabs

from b2tui.config import Settings
from b2tui.domain import events as ev
from b2tui.domain.canary import DEFAULT_STEPS, CanaryStep
from b2tui.engine.api import Action, RunSession
from b2tui.engine.clock import Clock
from b2tui.masking import mask
from b2tui.ports import PodInfo
from b2tui.ui.commands import RunCommands
from b2tui.ui.messages import PodsPolled, RunChanged, SourceFailed
from b2tui.ui.render import Timing, one_line, rollback_target_text
from b2tui.ui.widgets.canary import CanaryPanel
from b2tui.ui.widgets.checklist import ChecklistPanel
from b2tui.ui.widgets.header import RunHeader
from b2tui.ui.widgets.help import HelpScreen
from b2tui.ui.widgets.log import LogPanel
from b2tui.ui.widgets.metrics import MetricsPanel
from b2tui.ui.widgets.panel import Panel
from b2tui.ui.widgets.pods import PodsPanel
from b2tui.ui.widgets.timeline import TimelinePanel

WIDE = 120
"""Columns from which the panels sit in one grid; below, they go in tabs."""
POD_POLL = 2.0
"""Seconds between pod polls (real time) while the source answers."""
POD_POLL_MAX = 30.0
"""Longest backoff between failing pod polls."""

GC_PAUSE_AFTER_ROLLBACK = 2.0
"""Seconds the cyclic garbage collector waits after R (see ``action_rollback``)."""

SWITCH_INTERVAL = 0.001
"""Seconds between GIL hand-overs while the app runs (Python's default is 0.005)."""

TABS = ("overview", "pods", "checklist", "log")
"""Tabs of the narrow layout (and what the number keys 1–4 focus at every width)."""

NAVIGATION_HELP: tuple[tuple[str, str, str], ...] = (
    ("1–4", "Overview / Pods / Checklist / Log", "Show that view and focus it (any width)"),
    ("tab", "Next panel", "Move the focus to the next panel (shift+tab: previous)"),
    ("↑ ↓", "Move", "Move the cursor in the focused table or the gates list"),
    ("enter", "Gate details", "On the gates: the selected gate's verdict and last values"),
    ("esc", "Close / clear", "Close a dialog; in the pods filter: clear the filter"),
    (":", "Commands", "Command palette (as ctrl+p)"),
)
"""Keys that are not app bindings (or are hidden from the footer) but a newcomer needs."""

INTENTS: dict[str, Action] = {
    "advance": Action.ADVANCE,
    "canary_up": Action.CANARY_UP,
    "canary_down": Action.CANARY_DOWN,
    "pause": Action.PAUSE,
    "resume": Action.PAUSE,
    "sign_off": Action.SIGN_OFF,
    "rollback": Action.ROLLBACK,
    "abort": Action.ABORT,
}
"""Binding actions that are engine intents (all of them change the run)."""

ALL_PANELS = frozenset({"header", "metrics", "checklist", "timeline", "canary", "log"})
"""Panels a :class:`RunChanged` can name."""

_PANELS_BY_EVENT: dict[type[ev.Event], frozenset[str]] = {
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


def _css_path() -> Path:
    """``b2tui/styles`` when installed (the wheel force-includes it), else the repo's."""
    name = "control_room.tcss"
    installed = Path(__file__).parent.parent / "styles" / name
    if installed.exists():
        return installed
    return Path(__file__).parent.parent.parent / "styles" / name


CANARY_GROUP = Binding.Group("Canary", compact=True)
"""``+`` and ``-`` share one footer entry (``+- Canary``): 80 columns are few."""

SAFE_BINDINGS: list[BindingType] = [
    Binding(
        "l",
        "focus_log",
        "Log",
        show=False,  # 80 columns: the footer keeps the keys that change the run
        id="view.logs",
        tooltip="Show and focus the log (as 4)",
    ),
    Binding(
        "s",
        "sort_pods",
        "Sort pods",
        show=False,
        id="pods.sort",
        tooltip="Sort the pods table by the next column",
    ),
    Binding(
        "slash",
        "filter_pods",
        "Filter pods",
        show=False,
        id="pods.filter",
        key_display="/",
        tooltip="Filter pods by name, track, status or tag",
    ),
    Binding(
        "question_mark", "help", "Help", id="app.help", key_display="?", tooltip="List every key"
    ),
    Binding(
        "q",
        "quit",
        "Quit",
        id="app.quit",
        tooltip="Leave the screen; the run keeps its state and can be reopened",
    ),
    Binding(
        "1",
        "show_tab('overview')",
        "Overview",
        show=False,
        id="view.tab.overview",
        tooltip="Overview (gates, timeline, canary) and focus the gates",
    ),
    Binding(
        "2",
        "show_tab('pods')",
        "Pods",
        show=False,
        id="view.tab.pods",
        tooltip="Show and focus the pods table",
    ),
    Binding(
        "3",
        "show_tab('checklist')",
        "Checklist",
        show=False,
        id="view.tab.checklist",
        tooltip="Show and focus the checklist (arrows pick an item, space signs it)",
    ),
    Binding(
        "4",
        "show_tab('log')",
        "Log",
        show=False,
        id="view.tab.log",
        tooltip="Show and focus the log",
    ),
    Binding(
        "colon",
        "palette",
        "Commands",
        show=False,
        key_display=":",
        id="app.palette.colon",
        tooltip="Command palette (as ctrl+p)",
    ),
]
"""Keys every session gets."""

TAKE_OVER_BINDING = Binding(
    "T",
    "take_over",
    "Take over",
    id="run.take_over",
    tooltip="Drive this run yourself once its driver is gone (audited as a take-over)",
)
"""A watcher's one key that acts: offered once nobody drives the run."""

DANGEROUS_BINDINGS: list[BindingType] = [
    Binding(
        "n",
        "advance",
        "Next",
        id="run.advance",
        tooltip="Advance: promote to the next phase or canary step (only when gates allow)",
    ),
    Binding(
        "plus",
        "canary_up",
        "Up",
        key_display="+",
        id="run.canary_up",
        tooltip="Next canary step (when gates allow)",
        group=CANARY_GROUP,
    ),
    Binding(
        "minus",
        "canary_down",
        "Down",
        key_display="-",
        id="run.canary_down",
        tooltip="Previous canary step",
        group=CANARY_GROUP,
    ),
    Binding(
        "R",
        "rollback",
        "Rollback",
        key_display="R",
        id="run.rollback",
        tooltip="Roll back to the known-good revision now (one key, no dialog)",
    ),
    Binding(
        "A",
        "abort",
        "Abort",
        key_display="A",
        id="run.abort",
        tooltip="End the run: aborted before production is touched, else a rollback",
    ),
    Binding("p", "pause", "Pause", id="run.pause", tooltip="Pause the run (promotion stops)"),
    Binding(
        "p",
        "resume",
        "Resume",
        id="run.resume",
        tooltip="Resume the paused run",
    ),
    Binding(
        "space",
        "sign_off",
        "Sign",
        key_display="spc",
        id="run.sign_off",
        tooltip="Sign off the selected checklist item as you",
    ),
]
"""Keys that change the run: bound only when the session drives (never for a watcher)."""


class ControlRoom(App[None]):
    """The control room for one run. Build it with :func:`make_app`.

    This class binds only safe keys; :class:`DrivingControlRoom` adds the keys that
    change the run, so a watcher has no dangerous key bound at all.
    """

    CSS_PATH = _css_path()
    TITLE = "b2tui"
    BINDINGS: ClassVar[list[BindingType]] = [*SAFE_BINDINGS, TAKE_OVER_BINDING]
    COMMANDS = App.COMMANDS | {RunCommands}

    def __init__(
        self,
        settings: Settings,
        session: RunSession,
        *,
        clock: Clock,
        pods: Callable[[], Awaitable[list[PodInfo]]] | None = None,
        runner: Callable[[], Awaitable[object]] | None = None,
        user: str = "operator",
        colours: str = "auto",
    ) -> None:
        super().__init__()
        if colours == "16" or (
            colours == "auto" and self.console.color_system in ("standard", "windows")
        ):
            # A 16-colour terminal (TERM=xterm): truecolor theme colours rounded to the
            # nearest of 16 turn the footer's accent into bright red; the ANSI theme uses
            # the terminal's own palette instead.
            self.theme = "ansi-dark"
        self.settings = settings
        self.session = session
        self.clock = clock
        self.user = user
        self._pods_source = pods
        self._runner = runner
        self._unsubscribe: Callable[[], None] | None = None
        self._switch_interval = sys.getswitchinterval()
        self._gc_paused = False
        self._pod_delay = POD_POLL
        self._binding_state: tuple[object, ...] = ()
        self._engine_error: str | None = None
        self.take_over_requested = False
        """Set by the take-over key: the caller claims the run and opens it as driver."""
        self._shown_phase: object = None
        self._shown_driver = ""
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

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
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
        # Blocking API calls (a rollback's first request) run in threads while the loop
        # renders the frame the keystroke caused; with the default 5 ms GIL hand-over the
        # request waits behind the render. 1 ms keeps it moving (benchmarks/README.md).
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL))
        self._apply_layout(self.size.width)
        self._unsubscribe = self.session.subscribe(self._on_event)
        self._redraw(set(ALL_PANELS))
        self._tick()
        self.set_interval(1.0, self._tick, name="clock")
        self._metrics.focus()
        if self._pods_source is not None:
            self._poll_pods()
        else:
            self._pods_panel.error = "no pod source in this session"
        if self._runner is not None:
            self.run_worker(self._run_engine(), name="engine", group="engine", exit_on_error=False)

    def _resume_gc(self) -> None:
        if self._gc_paused:
            self._gc_paused = False
            gc.enable()

    def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)
        self._resume_gc()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout(event.size.width)

    def _apply_layout(self, width: int) -> None:
        # A class toggle, not a recompose: the panels (and the pods table's cursor, sort
        # and filter) are the same widgets in both layouts.
        self.screen.set_class(width >= WIDE, "-wide")

    @on(Tabs.TabActivated, "#layout-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        active = (event.tab.id or "overview").removesuffix("-tab")
        self._show_body(active)
        # A click on a tab lands in it, as its number key does.
        if not self._focus_within(active):
            self._focus_view(active)

    def _show_body(self, name: str) -> None:
        body = self.query_one("#body")
        for tab in TABS:
            body.set_class(tab == name, f"-tab-{tab}")

    def _view_target(self, name: str) -> Widget:
        """The widget a view's number key focuses."""
        match name:
            case "pods":
                return self._pods_panel.table
            case "checklist":
                return self._checklist.table
            case "log":
                return self._log_panel.log_view
            case _:
                return self._metrics

    def _focus_within(self, name: str) -> bool:
        focused = self.focused
        panel = {
            "pods": self._pods_panel,
            "checklist": self._checklist,
            "log": self._log_panel,
        }.get(name, self._metrics)
        return focused is not None and (focused is panel or panel in focused.ancestors)

    def _focus_view(self, name: str) -> None:
        if name == "checklist":
            # Land on something space can sign: the first pending item of the phase.
            self._checklist.select_first_signable(self.session.view, self._signable)
        self._view_target(name).focus()

    @property
    def wide(self) -> bool:
        """True when every panel is on screen (grid layout)."""
        return self.screen.has_class("-wide")

    # --- data in --------------------------------------------------------------------------

    def _on_event(self, event: ev.Event) -> None:
        # Called by the session on the loop for every event: only post, never draw here.
        self.post_message(RunChanged(event.ts, set(_PANELS_BY_EVENT.get(type(event), ALL_PANELS))))

    def on_run_changed(self, message: RunChanged) -> None:
        self._redraw_if_mounted(message.kinds)

    def _redraw_if_mounted(self, kinds: set[str]) -> None:
        # Events keep arriving while the app closes (R, then q at once) and while the
        # screen stack changes: with the panels gone there is nothing to draw.
        try:
            self._redraw(kinds)
        except NoMatches:
            return

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

    def _can_advance(self) -> bool:
        return not self.session.read_only and self.session.why_not(Action.ADVANCE) is None

    def _timing(self) -> Timing:
        view = self.session.view
        stable_for = self.settings.smoke.stable_for
        if view.emergency:
            stable_for *= self.settings.readiness.emergency_hold_factor
        return Timing(
            no_data_timeout=self.settings.gates.no_data_timeout,
            stable_for=stable_for,
            can_advance=self._can_advance(),
            stale_after=self._metrics.stale_after,
        )

    def _steps(self) -> tuple[CanaryStep, ...]:
        env = self.settings.environments.get(self.session.view.environment or "production")
        return env.canary_steps if env is not None else DEFAULT_STEPS

    def _tick(self) -> None:
        """Once a second: the clock, ages and countdowns (small labels only)."""
        if not self.is_running:
            return
        now = self.clock.now()
        view = self.session.view
        self._header.show_clock(now, self._engine_error)
        if not self.session.drives_here and self.session.driver != self._shown_driver:
            # A driver leaving (or taking over) is no event of the run: follow it here.
            self._redraw({"header"})
        for panel in self._panels:
            panel.show_age(now)
        self._timeline.show_time(view, now, self._timing())
        self._canary.show_view(view, now, can_advance=self._can_advance())
        self._metrics.show_time(view, now)
        # Holds end with time, not with an event: the footer must follow.
        self._refresh_binding_state()

    @work(exclusive=True, group="poll-pods", exit_on_error=False)
    async def _poll_pods(self) -> None:
        """Poll pods once, then schedule the next poll: polls never overlap."""
        assert self._pods_source is not None
        try:
            pods = await self._pods_source()
        except Exception as e:
            # Failures are data: the panel turns stale and says why; back off.
            self.post_message(SourceFailed("pods", _error_line(e), self.clock.now()))
            self._pod_delay = min(self._pod_delay * 2, POD_POLL_MAX)
        else:
            self.post_message(PodsPolled(pods, self.clock.now()))
            self._pod_delay = POD_POLL
        if self.is_running:
            self.set_timer(self._pod_delay, self._poll_pods, name="poll-pods")

    def on_pods_polled(self, message: PodsPolled) -> None:
        self._pods_panel.show_pods(message.pods, message.at)

    def on_source_failed(self, message: SourceFailed) -> None:
        if message.source == "pods":
            self._pods_panel.show_error(message.error)
            return
        self._engine_error = message.error
        for panel in self._panels:
            if panel is not self._pods_panel:
                panel.error = message.error
        self._header.show_clock(self.clock.now(), message.error)
        self.notify(message.error, title="engine stopped", severity="error", timeout=30)

    async def _run_engine(self) -> None:
        assert self._runner is not None
        try:
            await self._runner()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.post_message(SourceFailed("engine", _error_line(e), self.clock.now()))

    # --- keys -----------------------------------------------------------------------------

    def _selected_item(self) -> str | None:
        return self._checklist.selected_item

    def _signable(self, item: str) -> bool:
        return not self.session.read_only and self.session.why_not(Action.SIGN_OFF, item) is None

    def _why_not(self, action: str) -> str | None:
        if self.session.read_only:
            # Constant text: a watcher's ``driver`` reads the store, and this runs per tick.
            return "read-only: this screen watches a run another process drives"
        intent = INTENTS[action]
        if intent is Action.SIGN_OFF:
            item = self._selected_item()
            if item is None:
                return "no checklist item selected"
            return self.session.why_not(intent, item)
        return self.session.why_not(intent)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Dim (None) an intent the engine refuses now, so the footer tells the truth.

        While the pods filter has the focus every app key is a letter the filter types:
        none of them is listed then (the footer shows what works: esc, enter).
        """
        if isinstance(self.focused, Input) and action in APP_ACTIONS:
            return False
        # One key, two names: the footer says Resume while the run is paused.
        if action in ("pause", "resume") and self.session.view.paused != (action == "resume"):
            return False
        if action in INTENTS:
            if self.session.read_only:
                return False
            return None if self._why_not(action) else True
        if action == "take_over":
            return None if self._driver_gone() is None else True
        return True

    def _driver_gone(self) -> str | None:
        """Why nobody drives the watched run (the watcher's word), or None."""
        return getattr(self.session, "driver_gone", None) if self.session.read_only else None

    def action_take_over(self) -> None:
        """Leave this watching screen so the caller takes the run over and drives it."""
        gone = self._driver_gone()
        if gone is None:
            self.notify(
                f"{self.session.driver} drives this run — take over once its driver is gone",
                severity="warning",
            )
            return
        self.take_over_requested = True
        self.exit()

    async def run_action(
        self,
        action: Any,
        default_namespace: Any = None,
        namespaces: Any = None,
    ) -> bool:
        # Textual skips an action whose check_action is falsy, and None (dimmed) is
        # falsy: a dimmed key would do nothing at all. An operator pressing it must be
        # told why, so refused intents are answered here.
        if (
            isinstance(action, str)
            and action in INTENTS
            and default_namespace in (None, self)
            and not self.session.read_only
            and self.check_action(action, ()) is None
        ):
            self._refuse(action)
            return True
        if action == "take_over" and default_namespace in (None, self):
            self.action_take_over()  # dimmed while the driver lives: say who drives
            return True
        return await super().run_action(action, default_namespace, namespaces)

    def _refuse(self, action: str) -> None:
        reason = self._why_not(action) or "not allowed now"
        phase = self.session.view.phase
        waits_for_signs = phase is not None and phase.value in ("readiness", "smoke")
        if action == "sign_off" or (action == "advance" and waits_for_signs):
            # What the run waits on is a signature: say how to give it.
            reason = self._sign_hint(reason)
        self.notify(reason, title=f"{action.replace('_', ' ')}: not now", severity="warning")

    def _sign_hint(self, reason: str) -> str:
        """Add how to sign when another item could be signed now."""
        pending = [k for k in self.session.view.checks if self._signable(k)]
        if not pending:
            return reason
        title = self.session.view.checks[pending[0]].title
        return f"{reason} — press 3, pick {title!r} with ↑/↓, then space"

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
        for old in list(self._notifications):
            if old.severity != "error":
                self._unnotify(old, refresh=False)
        self._refresh_notifications()

    def _refresh_binding_state(self) -> None:
        """Refresh the footer when what the engine allows changed (and only then)."""
        # Whether each key is allowed, not why not: a hold's reason counts down every
        # second ("holding 5% for 4m12s more") and the footer would repaint with it.
        state = (
            tuple(self._why_not(a) is None for a in INTENTS),
            self.session.view.paused,
            self._driver_gone() is None,
        )
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    def _intent(self, action: str, call: Callable[[], Any]) -> None:
        reason = self._why_not(action)
        if reason:
            self._refuse(action)
            return
        result = call()
        self.notify(
            result.message,
            title=action.replace("_", " "),
            severity="information" if result.accepted else "warning",
        )
        # The session emitted its events synchronously; draw them right after this
        # handler returns, so a rollback's API request (a task the intent just created)
        # is sent before the screen work, and the screen still says so in the next frame.
        self.call_next(self._redraw_if_mounted, set(ALL_PANELS))

    def action_advance(self) -> None:
        self._intent("advance", lambda: self.session.advance(self.user))

    def action_canary_up(self) -> None:
        self._intent("canary_up", lambda: self.session.step_canary(+1, self.user))

    def action_canary_down(self) -> None:
        self._intent("canary_down", lambda: self.session.step_canary(-1, self.user))

    def action_pause(self) -> None:
        self._intent("pause", lambda: self.session.toggle_pause(self.user))

    def action_resume(self) -> None:
        self._intent("resume", lambda: self.session.toggle_pause(self.user))

    def action_abort(self) -> None:
        self._intent("abort", lambda: self.session.abort(self.user))

    def action_rollback(self) -> None:
        # A full garbage collection while this key's frame renders has delayed the
        # rollback's first API request by ~200 ms (benchmarks/rollback_latency.py): hold
        # collections for a moment so the request leaves at once.
        if gc.isenabled():
            gc.disable()
            self._gc_paused = True
            self.set_timer(GC_PAUSE_AFTER_ROLLBACK, self._resume_gc)
        self._intent("rollback", lambda: self.session.rollback(self.user, "operator request"))

    def action_sign_off(self) -> None:
        item = self._selected_item()
        if item is None:
            self._refuse("sign_off")
            return
        self.sign_off(item)

    def sign_off(self, item: str) -> None:
        """Sign ``item`` off as the app's user (the palette's "sign off <item>")."""
        if self.session.read_only:
            return
        reason = self.session.why_not(Action.SIGN_OFF, item)
        if reason:
            self.notify(self._sign_hint(reason), title="sign off: not now", severity="warning")
            return
        result = self.session.sign_off(item, self.user)
        self.notify(
            result.message,
            title="sign off",
            severity="information" if result.accepted else "warning",
        )
        self._redraw(set(ALL_PANELS))

    def action_show_tab(self, name: str) -> None:
        """Show view ``name`` (a tab below 120 columns) and focus it, at every width."""
        if not self.wide:
            tab_id = "overview" if name == "overview" else f"{name}-tab"
            self.query_one("#layout-tabs", Tabs).active = tab_id
            # Now, not when TabActivated arrives: the focus below needs it displayed.
            self._show_body(name)
        self._focus_view(name)

    def action_palette(self) -> None:
        self.action_command_palette()

    def action_focus_log(self) -> None:
        self.action_show_tab("log")

    def action_sort_pods(self) -> None:
        column = self._pods_panel.cycle_sort()
        self.notify(f"pods sorted by {column}", timeout=2)

    def action_filter_pods(self) -> None:
        if not self.wide:
            self.query_one("#layout-tabs", Tabs).active = "pods-tab"
            self._show_body("pods")
        self._pods_panel.open_filter()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_lines()))

    def help_lines(self) -> list[tuple[str, str, str]]:
        """(key, description, tooltip) of every key bound in this session."""
        out = []
        seen: set[str] = set()
        for binding in self._all_bindings():
            key = binding.key_display or self.get_key_display(binding)
            if key in seen:
                continue  # p: Pause / Resume is one line
            seen.add(key)
            desc = binding.description
            if binding.action == "pause":
                desc, tip = "Pause / Resume", "Pause the run (promotion stops) or resume it"
            else:
                tip = binding.tooltip
            out.append((key, desc, tip))
        out.append(("^p", "Commands", "Command palette: every action the run allows now"))
        out.extend(NAVIGATION_HELP)
        return out

    def _all_bindings(self) -> list[Binding]:
        bindings = [b for b in self.BINDINGS if isinstance(b, Binding)]
        hidden = ("show_tab", "palette")
        return [b for b in bindings if not b.action.startswith(hidden)]

    @on(DataTable.RowHighlighted, "#checklist-table")
    def _checklist_moved(self) -> None:
        # Whether space may sign off depends on the selected item.
        self._refresh_binding_state()

    # --- command palette ------------------------------------------------------------------

    def palette_commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        """Commands the palette offers now: only intents the engine would accept."""
        cmds: list[tuple[str, str, Callable[[], object]]] = []
        if not self.session.read_only:
            view = self.session.view
            offered = [
                (
                    "advance",
                    "Advance / promote",
                    "Promote to the next phase or step",
                    self.action_advance,
                ),
                (
                    "canary_up",
                    "Canary: next step",
                    "Raise canary traffic one step",
                    self.action_canary_up,
                ),
                (
                    "canary_down",
                    "Canary: previous step",
                    "Lower canary traffic one step",
                    self.action_canary_down,
                ),
                (
                    "pause",
                    "Resume run" if view.paused else "Pause run",
                    "Toggle the run's pause",
                    self.action_pause,
                ),
                (
                    "abort",
                    "Abort the run",
                    "Aborted before production is touched, else a rollback",
                    self.action_abort,
                ),
                (
                    "rollback",
                    "Roll back now",
                    "Restore " + rollback_target_text(view.known_good),
                    self.action_rollback,
                ),
            ]
            for action, title, help_text, callback in offered:
                if self._why_not(action) is None:
                    cmds.append((title, help_text, callback))
            for key, check in view.checks.items():
                pending = check.manual and check.state not in ("passed", "skipped")
                if pending and self.session.why_not(Action.SIGN_OFF, key) is None:
                    title = f"Sign off: {check.title}"
                    help_text = f"as {self.user} ({check.owner})"
                    cmds.append((title, help_text, partial(self.sign_off, key)))
        cmds.append(("Show logs", "Focus the log panel", self.action_focus_log))
        cmds.append(("Sort pods", "Sort pods by the next column", self.action_sort_pods))
        cmds.append(("Filter pods", "Filter pods by text", self.action_filter_pods))
        cmds.append(("Help: keys", "List every key", self.action_help))
        return cmds


class DrivingControlRoom(ControlRoom, inherit_bindings=False):
    """The control room of the process that drives the run: adds the intent keys."""

    # Intent keys first: the footer lists bindings in order and may be cut at 80 columns.
    BINDINGS: ClassVar[list[BindingType]] = DANGEROUS_BINDINGS + SAFE_BINDINGS


APP_ACTIONS = frozenset(
    {
        *INTENTS,
        "focus_log",
        "sort_pods",
        "filter_pods",
        "help",
        "quit",
        "show_tab",
        "palette",
        "take_over",
    }
)
"""Actions of the app's own (letter) keys."""


def _error_line(e: BaseException) -> str:
    # Masked before it is cut: a source's error may quote a credential back.
    return one_line(mask(str(e))) or type(e).__name__


def make_app(
    settings: Settings,
    session: RunSession,
    *,
    clock: Clock,
    pods: Callable[[], Awaitable[list[PodInfo]]] | None = None,
    runner: Callable[[], Awaitable[object]] | None = None,
    user: str = "operator",
    colours: str = "auto",
) -> ControlRoom:
    """The control room for ``session``; the CLI, the tests and the screenshots use it.

    Args:
        settings: Typed settings (canary steps of the run's environment).
        session: The run to show: a driver gets the intent keys, a watcher
            (``session.read_only``) gets none of them.
        clock: The run's clock; every age and countdown on screen is measured on it.
        pods: Returns the environment's pods; polled while the app runs.
        runner: Returns the engine's run coroutine; run as a worker from mount, and
            cancelled (nothing else) on quit.
        user: Who signs off and acts (``user@host``), recorded by the engine.
        colours: ``auto`` (the terminal's), or ``16`` to draw as on a 16-colour
            terminal (the snapshot tests).
    """
    cls = ControlRoom if session.read_only else DrivingControlRoom
    return cls(settings, session, clock=clock, pods=pods, runner=runner, user=user, colours=colours)
