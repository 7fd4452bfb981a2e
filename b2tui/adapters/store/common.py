"""What every store does the same way, whatever it writes to (a SQLite file, the cluster).

Who this process is (``user@host``), who holds a driver lease, the id a new run gets when
its own is taken, and the rollback target a run recorded: plain functions over the port's
records, so the SQLite store and the kube store answer these questions alike.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from b2tui.domain.people import Person
from b2tui.ports import Lease, RunRecord


def current_user(*, sandbox: bool = False) -> str:
    """``user@host`` of this process (the account of its real uid, never ``$USER``), for
    the audit log and the lease; under sudo ``bob@host (sudo from alice)``. The sandbox
    keeps ``$B2TUI_USER`` for its tests and demos (:mod:`b2tui.adapters.identity`)."""
    return current_person(sandbox=sandbox).display


def current_person(*, sandbox: bool = False) -> Person:
    """Who this process is (see :func:`current_user`)."""
    from b2tui.adapters.identity import sandbox_person, this_process

    return sandbox_person() if sandbox else this_process()


def ours(lease: Lease) -> bool:
    """True if this process (host and pid) holds ``lease``."""
    return lease.host == socket.gethostname() and lease.pid == os.getpid()


def held_by_another(lease: Lease, now: float) -> bool:
    """True unless the lease is expired, ours, or its process on this host is dead (a
    SIGKILLed driver need not wait out its lease)."""
    if lease.expires <= now or ours(lease):
        return False
    return not (lease.host == socket.gethostname() and not _pid_alive(lease.pid))


def other_driver(lease: Lease | None) -> Lease | None:
    """``lease`` if another live process holds it now, else None (the run is free)."""
    return lease if lease is not None and held_by_another(lease, time.time()) else None


def unique_run(rec: RunRecord, taken: Callable[[str], bool]) -> RunRecord:
    """``rec`` with an id no run has yet (two runs of one commit in one second): the first
    of ``<id>-2``, ``<id>-3``, … that ``taken`` says is free, also in its state's ``run_id``.
    """
    base, rid, n = rec.id, rec.id, 1
    while taken(rid):
        n += 1
        rid = f"{base}-{n}"
    if rid == rec.id:
        return rec
    state = dict(rec.state)
    if state.get("run_id") == base:
        state["run_id"] = rid
    return replace(rec, id=rid, state=state)


def known_good(rec: RunRecord | None) -> dict[str, Any] | None:
    """The rollback target ``rec`` recorded (``state["known_good"]``), or None."""
    kg = rec.state.get("known_good") if rec is not None else None
    return dict(kg) if kg else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped by its parent) is not a live driver.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True
