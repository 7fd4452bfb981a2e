"""A control room on a run another host drives: intents travel as records.

:class:`AttachedSession` follows the run like a :class:`~b2tui.engine.watch.Watcher`
(events from the store, pushed by a watch) and sends each operator action to the
driver through an :class:`~b2tui.ports.IntentInbox`. The driver decides and audits; its
answer comes back as the ``operator_acted`` event. Whether this user may send intents at
all is the cluster's RBAC: without it the session is read-only and the UI binds no
dangerous keys.

:func:`apply_intent` is the driver's half: one intent record onto the session's methods.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import Future, ThreadPoolExecutor

from b2tui.domain import events as ev
from b2tui.domain.view import apply
from b2tui.engine.api import Action, IntentResult, RunSession
from b2tui.engine.watch import Watcher
from b2tui.ports import Intent, IntentInbox, SourceError, Store


class AttachedSession(Watcher):
    """A watcher whose intents go to the driver (when RBAC allows).

    Args:
        store: the shared store (kube).
        run_id: the run.
        inbox: where intents are sent.
    """

    def __init__(self, store: Store, run_id: str, inbox: IntentInbox) -> None:
        super().__init__(store, run_id)
        self.inbox = inbox
        self.user = inbox.user
        self.refusal = inbox.why_not()
        """None when this user may act; else why not (shown as the reason keys are off)."""
        self.read_only = self.refusal is not None
        self._sender: ThreadPoolExecutor | None = None
        self.can_sign = not self.read_only or getattr(inbox, "roles", None) is not None
        """A read-only room still binds ``space`` when sign-offs go through the inboxes
        of ``[roles]`` (RBAC on each decides, item by item)."""
        prefetch = getattr(inbox, "prefetch", None)
        if prefetch is not None:  # here, off the room's loop: keys then ask nothing
            prefetch()

    def why_not(self, action: Action, item: str | None = None) -> str | None:
        if action is Action.SIGN_OFF and getattr(self.inbox, "roles", None) is not None:
            refusal = self.inbox.why_not_sign(item) if item is not None else None
            if refusal is not None:
                return refusal
        elif self.refusal is not None:
            return self.refusal
        if self.driver_gone is not None:
            return f"{self.driver_gone}: no driver to apply it (take the run over to act)"
        if self.view.finished:
            return "the run has finished"
        if action in (Action.ROLLBACK, Action.ABORT) and self.view.rollback_started:
            return "a rollback is already running"
        return None

    def send_now(self, action: Action, arg: str = "") -> IntentResult:
        """Send an intent and wait until the inbox has it (the CLI's ``b2tui abort``)."""
        refusal = self.why_not(action, arg or None)
        if refusal is not None:
            return IntentResult(False, refusal)
        try:
            self.inbox.submit(Intent(self.run_id, action.value, self.user, arg))
        except SourceError as e:
            return IntentResult(False, f"not sent: {e}")
        return IntentResult(True, f"{action.value} sent to {self.driver}")

    def _send(self, action: Action, arg: str = "") -> IntentResult:
        """A key's intent: checked here, written from a thread of its own so the key
        handler never waits on the network; intents leave in the order of the keys. A
        write that fails is said in this room's log (an alert for a rollback or abort)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self.send_now(action, arg)
        refusal = self.why_not(action, arg or None)
        if refusal is not None:
            return IntentResult(False, refusal)
        if self._sender is None:
            self._sender = ThreadPoolExecutor(1, thread_name_prefix="b2tui-intents")
        intent = Intent(self.run_id, action.value, self.user, arg)

        def answered(sent: Future[None]) -> None:  # in the sender thread
            # The room may have closed (and its loop with it) while the write was out.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._sent, action, sent)

        self._sender.submit(self.inbox.submit, intent).add_done_callback(answered)
        return IntentResult(True, f"{action.value} sending to {self.driver}")

    def _sent(self, action: Action, sent: Future[None]) -> None:
        error = sent.exception()
        if error is None:
            return
        level = "alert" if action in (Action.ROLLBACK, Action.ABORT) else "warn"
        why = str(error) if isinstance(error, SourceError) else f"{type(error).__name__}: {error}"
        e = ev.Notice(
            ts=self.clock.now(),
            phase=self.view.phase,
            level=level,
            message=f"{action.value} not sent: {why}",
        )
        apply(self.view, e)
        self._subscribers(e)

    # The user argument is ignored on purpose: the cluster's name for us is what counts.
    def advance(self, user: str) -> IntentResult:
        return self._send(Action.ADVANCE)

    def step_canary(self, delta: int, user: str) -> IntentResult:
        return self._send(Action.CANARY_UP if delta > 0 else Action.CANARY_DOWN)

    def set_canary(self, percent: int, user: str) -> IntentResult:
        return IntentResult(False, "set the canary with +/- from an attached control room")

    def toggle_pause(self, user: str) -> IntentResult:
        return self._send(Action.PAUSE)

    def sign_off(self, item: str, user: str) -> IntentResult:
        return self._send(Action.SIGN_OFF, item)

    def rollback(self, user: str, reason: str = "operator request") -> IntentResult:
        return self._send(Action.ROLLBACK)

    def abort(self, user: str) -> IntentResult:
        return self._send(Action.ABORT)


def apply_intent(session: RunSession, intent: Intent) -> IntentResult:
    """The driver applies an intent from another host as if its operator had pressed the
    key: the same checks, the same audit entry (with the sender's cluster user name)."""
    user = intent.user or "unknown"
    try:
        action = Action(intent.action)
    except ValueError:
        return IntentResult(False, f"unknown intent {intent.action!r} from {user}")
    match action:
        case Action.ADVANCE:
            return session.advance(user)
        case Action.CANARY_UP:
            return session.step_canary(+1, user)
        case Action.CANARY_DOWN:
            return session.step_canary(-1, user)
        case Action.PAUSE:
            return session.toggle_pause(user)
        case Action.SIGN_OFF:
            return session.sign_off(intent.arg, user)
        case Action.ROLLBACK:
            return session.rollback(user, "operator request")
        case Action.ABORT:
            return session.abort(user)
    return IntentResult(False, f"unknown intent {intent.action!r} from {user}")  # pragma: no cover
