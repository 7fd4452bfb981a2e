"""``b2tui sign ITEM``: sign a checklist item of the run another terminal drives, under
the name the OS (SQLite store) or the API server (kube store) gives this process."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
from typing import Any

from b2tui.cli.loading import load, open_store
from b2tui.cli.parser import UsageError
from b2tui.config import Settings, sandbox_settings

SIGNED, REFUSED = 0, 1
"""Exit status: signed (or sent, kube store); refused or not delivered."""


def cmd_sign(args: argparse.Namespace) -> int:
    demo = bool(getattr(args, "demo", False))
    settings: Settings = sandbox_settings() if demo else load(args.config)
    if not demo:
        settings.environment(args.env)
    if not demo and settings.store.backend == "kube":
        store = open_store(None, settings=settings, env=args.env)
        try:
            return _kube(args, settings, store)
        finally:
            store.close()
    return _local(args, settings, demo=demo)


def _say(args: argparse.Namespace, answer: dict[str, Any]) -> int:
    ok = bool(answer.get("accepted"))
    if args.json:
        print(json.dumps({"item": args.item, **answer}))
    else:
        who = f" as {answer['user']}" if answer.get("user") else ""
        verdict = "signed" if ok else "refused"
        print(f"b2tui: {verdict}{who}: {answer.get('message', '')}", file=sys.stderr)
    return SIGNED if ok else REFUSED


def _local(args: argparse.Namespace, settings: Settings, *, demo: bool) -> int:
    """Ask the driver of this host's run over its Unix socket. The store is read, when
    this account may, only to check that the process answering is the run's driver."""
    from b2tui.adapters.local_inbox import InboxError, LocalInbox, send
    from b2tui.adapters.store import default_state_path
    from b2tui.ports import Intent, StoreError

    service = settings.service.name
    state = str(args.state or default_state_path())
    run_id, pid = "", None
    store = None
    # Only a file this account may write is read reliably (a read-only WAL file hides what
    # is not checkpointed yet); otherwise the driver alone says which run it drives.
    if os.access(state, os.R_OK | os.W_OK):
        with contextlib.suppress(StoreError):
            store = open_store(state, read_only=True)
    if store is not None:
        try:
            rec = store.unfinished_run(service, sandbox=demo)
            if rec is None or rec.environment != args.env:
                where = f"{service} in {args.env} ({state})"
                return _say(args, {"accepted": False, "message": f"no unfinished run of {where}"})
            lease = store.driver(rec.id)
            if lease is None:
                message = f"nobody drives run {rec.id}: start its driver and sign again"
                return _say(args, {"accepted": False, "message": message})
            if lease.host != socket.gethostname():
                message = (
                    f"run {rec.id} is driven on {lease.host}: sign there (the SQLite store is"
                    ' one host\'s; [store] backend = "kube" shares a run)'
                )
                return _say(args, {"accepted": False, "message": message})
            run_id, pid = rec.id, lease.pid
        except StoreError:
            pass
        finally:
            store.close()
    inbox = LocalInbox(state, service, args.env)
    try:
        answer = send(inbox, Intent(run_id, "sign_off", "", args.item), pid)
    except InboxError as e:
        answer = {"accepted": False, "message": f"not delivered: {e}"}
    return _say(args, answer)


def _kube(args: argparse.Namespace, settings: Settings, store: Any) -> int:
    from b2tui.cli.follow import follower
    from b2tui.engine.api import Action

    rec = store.unfinished_run(settings.service.name, sandbox=None, environment=args.env)
    if rec is None:
        raise UsageError(f"no unfinished run of {settings.service.name} in {args.env}")
    session = follower(store, settings, args.env, rec.id)
    result = session.send_now(Action.SIGN_OFF, args.item)
    answer = {"accepted": result.accepted, "message": result.message, "user": session.user}
    if result.accepted:
        answer["message"] += " (the driver decides; `b2tui attach` shows its answer)"
    return _say(args, answer)
