"""An attached session's intents: sent off the event loop, in key order; a failed send is
said in the room. The inbox here is a recording double of the IntentInbox port (the real
kube inbox is tested on the real control plane, tests/realkube/test_kube_store.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from b2tui.adapters.store import Store
from b2tui.domain import events as ev
from b2tui.engine.remote import AttachedSession
from b2tui.ports import Intent, SourceError


class Inbox:
    """Blocks every submit until ``release`` is set; fails when ``error`` is set."""

    user = "tester"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.got: list[tuple[str, str]] = []
        self.threads: set[str] = set()
        self.error: str | None = None

    def why_not(self) -> str | None:
        return None

    def submit(self, intent: Intent) -> None:
        self.release.wait(60)
        self.threads.add(threading.current_thread().name)
        if self.error:
            raise SourceError(self.error)
        self.got.append((intent.action, intent.arg))

    def serve(self, run_id: str, on_intent: Any) -> Any:  # pragma: no cover - driver side
        return lambda: None


async def _until(done: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait until ``done()``; the deadline only guards against a hang (a loaded 2-core
    machine may take seconds to schedule the sender thread)."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        await asyncio.sleep(0.01)


async def _attached(make_rig: Any, tmp_path: Any) -> tuple[AttachedSession, Inbox]:
    rig = make_rig("happy")
    await rig.conductor.start(version="1a2b3c4")
    await rig.conductor.run_until(lambda v: v.canary_percent == 5)
    inbox = Inbox()
    return AttachedSession(Store(tmp_path / "state.db"), rig.conductor.run_id, inbox), inbox


async def test_keys_return_at_once_and_intents_leave_in_order_from_another_thread(
    make_rig: Any, tmp_path: Any
) -> None:
    session, inbox = await _attached(make_rig, tmp_path)
    # The inbox blocks: were the send on the loop, the first call would not return.
    assert session.toggle_pause("x").accepted
    assert session.sign_off("docs", "x").accepted
    assert session.rollback("x").accepted
    assert inbox.got == []
    inbox.release.set()
    await _until(lambda: len(inbox.got) == 3, "the three intents to be sent")
    assert inbox.got == [("pause", ""), ("sign_off", "docs"), ("rollback", "")]
    assert threading.current_thread().name not in inbox.threads
    assert all(name.startswith("b2tui-intents") for name in inbox.threads)


async def test_a_rollback_that_could_not_be_sent_is_an_alert_in_the_room(
    make_rig: Any, tmp_path: Any
) -> None:
    session, inbox = await _attached(make_rig, tmp_path)
    said: list[ev.Event] = []
    session.subscribe(said.append)
    inbox.error = "configmap b2tui-intents-x: forbidden"
    inbox.release.set()
    assert session.rollback("x").accepted
    await _until(lambda: bool(said), "the failed send to be said")
    notices = [e for e in said if isinstance(e, ev.Notice)]
    assert [(n.level, n.message) for n in notices] == [
        ("alert", "rollback not sent: configmap b2tui-intents-x: forbidden")
    ]
    assert session.view.log[-1][2] == "rollback not sent: configmap b2tui-intents-x: forbidden"


class RoleInbox(Inbox):
    """A watcher's inbox (no right to act) with [roles]: sign-offs go by role."""

    roles = ("reviewer", "tech-lead")

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []
        self.known: dict[str, str | None] = {}

    def why_not(self) -> str | None:
        return "tester may not patch the intent inbox: watching only"

    def prefetch(self) -> None:
        self.known = {"review_approved": None, "tech_lead_approval": "not for role tech-lead"}

    def why_not_sign(self, item: str) -> str | None:
        self.asked.append(item)
        return self.known.get(item, "unknown item")


async def test_with_roles_a_watcher_signs_by_role_asked_when_it_opens(
    make_rig: Any, tmp_path: Any
) -> None:
    from b2tui.engine.api import Action

    rig = make_rig("happy")
    await rig.conductor.start(version="1a2b3c4")
    await rig.conductor.run_until(lambda v: v.canary_percent == 5)
    inbox = RoleInbox()
    session = AttachedSession(Store(tmp_path / "state.db"), rig.conductor.run_id, inbox)
    assert session.read_only and session.can_sign
    assert inbox.known, "the role inboxes were asked about when the session opened"
    assert session.why_not(Action.SIGN_OFF) is None  # space stays bound
    assert session.why_not(Action.SIGN_OFF, "review_approved") is None
    assert session.why_not(Action.SIGN_OFF, "tech_lead_approval") == "not for role tech-lead"
    assert session.why_not(Action.ROLLBACK) == inbox.why_not()
    assert not session.rollback("x").accepted
