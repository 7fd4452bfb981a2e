"""Who is at the keyboard, as the operating system vouches for it.

The name is the account of the process's **real uid** (``pwd.getpwuid(os.getuid())``),
never an environment variable: ``$USER``, ``$LOGNAME`` and ``$B2TUI_USER`` can be typed in
by anyone. Groups are the account's groups in the system's group database
(``os.getgrouplist``), as ``id NAME`` shows them.

Under ``sudo`` (or ``su``, or any set-uid program) the name says both:
``bob (sudo from alice)``. The *from* part is read from the kernel, not from ``$SUDO_USER``:
the nearest ancestor process that runs with effective uid 0 but another real uid is a
set-uid program that ``alice`` started (``/proc/PID/status``), and nobody can make such a
process without that program; without one, a login uid (``/proc/self/loginuid``, set by
PAM at login and unchangeable without ``CAP_AUDIT_CONTROL``) that differs from the real uid
says who logged in. The *from* part is only written to the audit log: roles are judged on
the real account alone. The sandbox (``b2tui demo``) keeps ``$B2TUI_USER`` for its tests
and demos.

A peer on a Unix socket is named the same way from the uid the kernel gives with
``SO_PEERCRED`` (:func:`person_of_uid`).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import socket

from b2tui.domain.people import Person

NO_LOGIN_UID = 4294967295
"""``/proc/self/loginuid`` of a process outside any login session."""


def account(uid: int) -> str:
    """The account name of ``uid`` (``uid 1234`` when the passwd database has none)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def groups_of(name: str, uid: int) -> frozenset[str]:
    """The names of the groups ``name`` belongs to (primary and supplementary)."""
    try:
        gid = pwd.getpwuid(uid).pw_gid
        gids = os.getgrouplist(name, gid)
    except (KeyError, OSError):
        return frozenset()
    out = set()
    for g in gids:
        with contextlib.suppress(KeyError):
            out.add(grp.getgrgid(g).gr_name)
    return frozenset(out)


def person_of_uid(uid: int, *, via: str | None = None) -> Person:
    """The :class:`Person` of ``uid`` on this host, ``via`` as the *from* part."""
    name = account(uid)
    display = f"{name}@{socket.gethostname()}"
    if via:
        display += f" ({via})"
    return Person(name=name, display=display, groups=groups_of(name, uid))


def this_process() -> Person:
    """Who runs this process: its real uid, and who it came from (see the module)."""
    uid = os.getuid()
    return person_of_uid(uid, via=invoked_by(uid))


def invoked_by(uid: int, pid: int | None = None) -> str | None:
    """``sudo from alice`` when a set-uid ancestor was started by another account, or
    ``login alice`` when the login uid is another account's; None otherwise."""
    pid = os.getpid() if pid is None else pid
    for _ in range(16):
        ppid, _ruid, _euid, _comm = _status(pid)
        if ppid <= 1:
            break
        _, ruid, euid, comm = _status(ppid)
        if euid == 0 and ruid not in (0, uid, -1):
            return f"{comm} from {account(ruid)}"
        pid = ppid
    try:
        with open("/proc/self/loginuid") as f:
            login = int(f.read().strip())
    except (OSError, ValueError):
        return None
    if login not in (NO_LOGIN_UID, uid):
        return f"login {account(login)}"
    return None


def _status(pid: int) -> tuple[int, int, int, str]:
    """(parent pid, real uid, effective uid, command name) of ``pid``; -1s when unknown."""
    ppid = ruid = euid = -1
    comm = "?"
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key == "PPid":
                    ppid = int(value)
                elif key == "Uid":
                    ruid, euid = (int(x) for x in value.split()[:2])
                elif key == "Name":
                    comm = value.strip()
    except (OSError, ValueError):
        pass
    return ppid, ruid, euid, comm


def sandbox_person() -> Person:
    """The demo's operator: ``$B2TUI_USER`` when set (tests and demos), else this process."""
    me = this_process()
    named = os.environ.get("B2TUI_USER")
    if not named:
        return me
    return Person(
        name=named, display=f"{named}@{socket.gethostname()}", groups=me.groups, verified=False
    )
