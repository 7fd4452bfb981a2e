"""Following a run another process drives: printed events or a read-only control room
(:func:`watch`), the kube store's intents both ways (:func:`follower`,
:func:`serve_intents`), and ``b2tui attach``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from b2tui.cli.loading import load, open_store
from b2tui.cli.parser import UsageError
from b2tui.cli.printer import Printer
from b2tui.cli.room import pods_env, run_app, signalled_exit, targets
from b2tui.config import Settings, sandbox_settings

if TYPE_CHECKING:
    from b2tui.engine.watch import Watcher


TAKE_OVER = -2
"""Returned by a headless ``--take-over`` watcher once the driver is gone: claim and drive."""


async def until_driven(once: Callable[[bool], Awaitable[int]]) -> int:
    """Open a run with ``once(take_over)`` until it ends other than by :data:`TAKE_OVER`.

    The first try opens the run as usual (``take_over=False``); when that process ended
    watching a run whose driver is gone and asked to take it over, the next try claims it
    (``take_over=True``). Returns the exit status of the last try.
    """
    code = await once(False)
    while code == TAKE_OVER:
        code = await once(True)
    return code


async def watch(
    watcher: Watcher,
    args: argparse.Namespace,
    headless: bool,
    holder: str,
    *,
    settings: Settings | None = None,
    pods: Callable[[], Any] | None = None,
) -> int:
    """Follow a run another process drives: printed events, or a read-only control room.

    With ``--take-over`` a headless watcher returns ``TAKE_OVER`` once the driver is gone, so
    the caller claims the run and drives it.
    """
    print(f"b2tui: watching — run {watcher.run_id} is driven by {holder}", file=sys.stderr)
    if headless:
        printer = Printer(sys.stdout, args.json)
        for e in watcher.history():
            printer(e)
        watcher.subscribe(printer)
        take_over = bool(getattr(args, "take_over", False))
        await watcher.follow(until_gone=take_over)
        if take_over and watcher.driver_gone and not watcher.view.finished:
            print(
                f"b2tui: taking over run {watcher.run_id} ({watcher.driver_gone})",
                file=sys.stderr,
            )
            return TAKE_OVER
    else:
        from b2tui.ui.app import make_app

        app = make_app(
            settings or sandbox_settings(),
            watcher,
            clock=watcher.clock,
            pods=pods,
            runner=watcher.follow,
        )
        signalled = await run_app(app)
        if signalled:
            return signalled
        if getattr(app, "take_over_requested", False) and not watcher.view.finished:
            return TAKE_OVER  # the take-over key: claim the run and drive it here
    return watcher.view.outcome.exit_code if watcher.view.outcome else 0


def item_roles(settings: Settings) -> dict[str, str]:
    """Every checklist item key of ``settings`` → the role that may sign it."""
    from b2tui.domain.checklist import READINESS_ITEMS, manual_items
    from b2tui.domain.people import item_role

    specs = settings.readiness.items if settings.readiness.items is not None else READINESS_ITEMS
    out = {s.key: item_role(s) for s in (*specs, *settings.smoke.items)}
    for i in manual_items(list(settings.smoke.manual)):
        out.setdefault(i.key, item_role(i))
    return out


def kube_intents(store: Any, settings: Settings, env: str) -> Any:
    """The kube store's inboxes of this service and environment: with ``[roles]`` each
    role's sign-offs go through its own inbox (RBAC lets only that role patch it)."""
    from b2tui.adapters.kube_store import KubeIntents

    roles = dict(settings.roles.members) if settings.roles.configured else None
    return KubeIntents(
        store, settings.service.name, env, roles=roles, item_roles=item_roles(settings)
    )


def follower(store: Any, settings: Settings, env: str, run_id: str) -> Any:
    """Who follows a run another process drives: with the kube store an attached session
    (intents as records, if RBAC allows), else a read-only watcher."""
    if settings.store.backend != "kube":
        return local_follower(store, settings.service.name, env, run_id)
    from b2tui.engine.remote import AttachedSession

    return AttachedSession(store, run_id, kube_intents(store, settings, env))


def serve_intents(store: Any, settings: Settings, env: str, session: Any) -> Callable[[], None]:
    """Driver side: apply intents other hosts send (kube store) or sign-offs other
    terminals send (SQLite store: a Unix socket, the kernel names the sender); on the
    event loop."""
    if settings.store.backend != "kube":
        return serve_local(store.location, settings.service.name, env, session)
    from dataclasses import replace

    from b2tui.domain.people import Person
    from b2tui.engine.remote import apply_intent
    from b2tui.ports import Intent

    loop = asyncio.get_running_loop()
    inbox = kube_intents(store, settings, env)

    def apply_claimed(intent: Intent) -> None:
        if intent.role:
            # From a role's sign-off inbox: the API server let the sender write it, so
            # they hold that role (and no other). A user's own inbox names them too; in
            # the role's group inbox the name is their client's claim, and says so.
            name = " ".join(intent.user.split()) or "unknown"
            said = "" if intent.named else ", name as sent"
            person = Person(
                name=name,
                display=f"{name} (RBAC: role {intent.role}{said})",
                inbox_role=intent.role,
            )
            session.vouch(person)
            apply_intent(session, replace(intent, user=person.display))
            return
        # The name in an intent is the sender's claim: never a person this process vouched for.
        untrusted = getattr(session, "untrusted_names", None)
        with untrusted() if untrusted is not None else contextlib.nullcontext():
            apply_intent(session, intent)

    def arrived(intent: Intent) -> None:
        loop.call_soon_threadsafe(apply_claimed, intent)

    return inbox.serve(session.run_id, arrived)


def cmd_attach(args: argparse.Namespace) -> int:
    settings = load(args.config)
    settings.environment(args.env)
    if settings.store.backend != "kube":
        raise UsageError(
            f'attach follows runs in the cluster: set [store] backend = "kube" in'
            f" {settings.path} (the SQLite store is one host's: use `b2tui tui` there)"
        )
    store = open_store(None, settings=settings, env=args.env)
    try:
        code = asyncio.run(_attach(args, settings, store))
    finally:
        store.close()
    return signalled_exit(code)


async def _attach(args: argparse.Namespace, settings: Settings, store: Any) -> int:
    from b2tui.adapters.real import build_ports

    # Any run in the cluster's store (a sandbox-world run there is a test's, and is
    # attached to the same way).
    rec = await asyncio.to_thread(
        store.unfinished_run, settings.service.name, sandbox=None, environment=args.env
    )
    if rec is None:
        print(
            f"b2tui: no unfinished run of {settings.service.name} to {args.env} in"
            f" {store.location} (`b2tui history --config {settings.path}` lists the others)",
            file=sys.stderr,
        )
        return 1
    session = await asyncio.to_thread(follower, store, settings, args.env, rec.id)
    if session.refusal:
        print(f"b2tui: {session.refusal}", file=sys.stderr)
    if args.headless:
        return await watch(session, args, True, session.driver)
    from b2tui.ui.app import make_app

    ports = build_ports(settings)
    staging = args.staging if args.staging in settings.environments else args.env
    where = targets(settings)

    def pods() -> Any:
        env = pods_env(session.view.phase, staging, args.env)
        return ports.cluster.pods(where[env])

    print(f"b2tui: attached to run {rec.id}, driven by {session.driver}", file=sys.stderr)
    app = make_app(
        settings, session, clock=session.clock, pods=pods, runner=session.follow, user=session.user
    )
    signalled = await run_app(app)
    return signalled or (session.view.outcome.exit_code if session.view.outcome else 0)


def serve_local(state: str, service: str, env: str, session: Any) -> Callable[[], None]:
    """Sign-offs from other terminals of this host (``b2tui sign``), applied on the event
    loop as the person the kernel names (:mod:`b2tui.adapters.local_inbox`)."""
    from concurrent.futures import Future

    from b2tui.adapters.local_inbox import InboxError, LocalInbox
    from b2tui.domain.people import Person
    from b2tui.engine.remote import apply_intent
    from b2tui.ports import Intent

    if state == ":memory:":
        return lambda: None
    loop = asyncio.get_running_loop()

    def apply(person: Person, intent: Intent) -> Future[tuple[bool, str]]:
        answer: Future[tuple[bool, str]] = Future()

        def on_loop() -> None:
            try:
                session.vouch(person)
                result = apply_intent(session, intent)
                answer.set_result((result.accepted, result.message))
            except Exception as e:  # the sender gets one line, the driver goes on
                answer.set_exception(e)

        loop.call_soon_threadsafe(on_loop)
        return answer

    try:
        return LocalInbox(state, service, env).serve(session.run_id, apply)
    except InboxError as e:
        print(f"b2tui: warning: {e}; `b2tui sign` cannot reach this run", file=sys.stderr)
        return lambda: None


def local_follower(store: Any, service: str, env: str, run_id: str) -> Any:
    """A watcher of a run this host drives whose ``space`` sends the sign-off to the
    driver's Unix socket (the driver names this process from the kernel)."""
    from b2tui.adapters.local_inbox import InboxError, LocalInbox, send
    from b2tui.engine.api import IntentResult
    from b2tui.engine.watch import SigningWatcher
    from b2tui.ports import Intent

    inbox = LocalInbox(store.location, service, env)

    def deliver(item: str, pid: int | None) -> IntentResult:
        try:
            answer = send(inbox, Intent(run_id, "sign_off", "", item), pid)
        except InboxError as e:
            return IntentResult(False, f"not delivered: {e}")
        return IntentResult(bool(answer.get("accepted")), str(answer.get("message", "")))

    return SigningWatcher(store, run_id, deliver)
