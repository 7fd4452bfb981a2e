"""What the control room's keys do: the operator's intents, the views they show, the palette.

:class:`OperatorKeys` holds the ``action_*`` handlers the bindings name. An intent asks
the engine first (:meth:`KeyRules._why_not`) and answers a refusal with a toast that says
why, since a dimmed key would otherwise do nothing; an accepted intent goes to the
session and the panels redraw once the handler returns.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.widget import Widget
from textual.widgets import Tabs

from b2tui.engine.api import Action
from b2tui.ui.bindings import INTENTS, KeyRules
from b2tui.ui.messages import ALL_PANELS
from b2tui.ui.render import rollback_target_text
from b2tui.ui.widgets.help import HelpScreen

if TYPE_CHECKING:
    from b2tui.ui.widgets.log import LogPanel
    from b2tui.ui.widgets.metrics import MetricsPanel
    from b2tui.ui.widgets.pods import PodsPanel

TABS = ("overview", "pods", "checklist", "log")
"""Tabs of the narrow layout (and what the number keys 1–4 focus at every width)."""


class OperatorKeys(KeyRules):
    """The ``action_*`` handlers of the control room's keys (an app mixin)."""

    user: str
    take_over_requested: bool
    _pods_panel: PodsPanel
    _metrics: MetricsPanel
    _log_panel: LogPanel

    if TYPE_CHECKING:

        def _redraw(self, kinds: set[str]) -> None: ...

        def _redraw_if_mounted(self, kinds: set[str]) -> None: ...

    # --- views ----------------------------------------------------------------------------

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

    # --- intents --------------------------------------------------------------------------

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
        # handler returns (a rollback's first API request has left inside ``call``), and
        # the screen still says so in the next frame.
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
        self._intent("rollback", lambda: self.session.rollback(self.user, "operator request"))

    def action_sign_off(self) -> None:
        item = self._selected_item()
        if item is None:
            self._refuse("sign_off")
            return
        self.sign_off(item)

    def sign_off(self, item: str) -> None:
        """Sign ``item`` off as the app's user (the palette's "sign off <item>")."""
        if not self._signs_here():
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
        if result.accepted:
            # On to the next pending item: `space` again signs it.
            self._checklist.select_first_signable(self.session.view, self._signable)

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
