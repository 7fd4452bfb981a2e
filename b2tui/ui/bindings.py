"""The control room's keys: the binding tables, the help text and when each key acts.

A watcher's room binds only :data:`SAFE_BINDINGS` (and the take-over key); the driver's
room adds :data:`DANGEROUS_BINDINGS`. :class:`KeyRules` answers Textual's
``check_action`` from what the engine allows now, so the footer dims a key the workflow
refuses and the help screen lists exactly the keys bound in this session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding, BindingType
from textual.widgets import Input

from b2tui.engine.api import Action, RunSession

if TYPE_CHECKING:
    from textual.app import App

    from b2tui.ui.widgets.checklist import ChecklistPanel

    # The mixins are typed as the app they end up in; at run time they are plain
    # classes, so Textual's binding and handler machinery sees only the app's MRO.
    _Room = App[None]
else:
    _Room = object

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
    Binding(
        "w",
        "postmortem",
        "Write-up",
        show=False,
        id="run.postmortem",
        tooltip="After a rollback: write the incident up (postmortem-<run>.md)",
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

SIGN_BINDING: BindingType = next(
    b for b in DANGEROUS_BINDINGS if isinstance(b, Binding) and b.action == "sign_off"
)
"""``space``: also bound for a watcher that can send sign-offs to this host's driver."""


APP_ACTIONS = frozenset(
    {
        *INTENTS,
        "focus_log",
        "postmortem",
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


class KeyRules(_Room):
    """Whether each key acts now, and the help text of the keys bound (an app mixin)."""

    session: RunSession
    _checklist: ChecklistPanel
    _binding_state: tuple[object, ...]

    def _selected_item(self) -> str | None:
        return self._checklist.selected_item

    def _signs_here(self) -> bool:
        """True when sign-offs are allowed from this room (a driver, or a watcher that sends
        them to this host's driver)."""
        return not self.session.read_only or bool(getattr(self.session, "can_sign", False))

    def _signable(self, item: str) -> bool:
        return self._signs_here() and self.session.why_not(Action.SIGN_OFF, item) is None

    def _why_not(self, action: str) -> str | None:
        if self.session.read_only and not (action == "sign_off" and self._signs_here()):
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
            if self.session.read_only and not (action == "sign_off" and self._signs_here()):
                return False
            return None if self._why_not(action) else True
        if action == "take_over":
            return None if self._driver_gone() is None else True
        return True

    def _driver_gone(self) -> str | None:
        """Why nobody drives the watched run (the watcher's word), or None."""
        return getattr(self.session, "driver_gone", None) if self.session.read_only else None

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
