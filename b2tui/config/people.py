"""``[roles]``, ``[people]`` and the team's own checklist (``[[readiness.items]]``,
``[[smoke.items]]``): parsed and checked with file and line.

Roles name OS accounts, ``group:NAME`` Unix groups and ``kube-group:NAME`` Kubernetes
groups. With the SQLite store (one host) every account and group must exist on this host:
a typo would otherwise lock a role out, or let nobody sign. With the kube store the names
are the cluster's and are not looked up here.
"""

from __future__ import annotations

import grp
import pwd
import re
from dataclasses import dataclass, field
from typing import Any

from b2tui.domain.checklist import (
    CONDITIONS,
    READINESS_ITEMS,
    ItemKind,
    ItemSpec,
)
from b2tui.domain.people import AUTHOR, CODE_AUTHOR, STARTER, Roles, role_of

ITEM_KEYS = (
    "key",
    "title",
    "role",
    "kind",
    "command",
    "url",
    "required_if",
    "signers",
    "not_by",
    "emergency",
)
KINDS = ("manual", "command", "http", "github")
_KEY = re.compile(r"[a-z][a-z0-9_-]*")
_NAME = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.@-]*")
BUILTIN = {s.key: s for s in READINESS_ITEMS}


@dataclass
class PeopleSettings:
    """What the tables became."""

    roles: Roles = field(default_factory=Roles)
    people: dict[str, str] = field(default_factory=dict)
    readiness: tuple[ItemSpec, ...] | None = None
    smoke: tuple[ItemSpec, ...] = ()


class _Lines:
    """Lines of array-of-tables entries and keys (tomllib keeps no positions)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def table(self, name: str) -> int:
        pat = re.compile(r"^\s*\[\s*" + re.escape(name) + r"\s*\]")
        return next((i + 1 for i, line in enumerate(self.lines) if pat.match(line)), 1)

    def key(self, table: str, key: str) -> int:
        start = self.table(table)
        pat = re.compile(r"^\s*\"?" + re.escape(key) + r"\"?\s*=")
        for i in range(start, len(self.lines)):
            if re.match(r"^\s*\[", self.lines[i]):
                break
            if pat.match(self.lines[i]):
                return i + 1
        return start

    def entry(self, name: str, n: int, key: str | None = None) -> int:
        """Line of the ``n``-th ``[[name]]`` (0-based), or of ``key`` inside it."""
        pat = re.compile(r"^\s*\[\[\s*" + re.escape(name) + r"\s*\]\]")
        starts = [i for i, line in enumerate(self.lines) if pat.match(line)]
        if n >= len(starts):
            return 1
        start = starts[n]
        if key is None:
            return start + 1
        kpat = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        for i in range(start + 1, len(self.lines)):
            if re.match(r"^\s*\[", self.lines[i]):
                break
            if kpat.match(self.lines[i]):
                return i + 1
        return start + 1


def parse_people(
    raw: dict[str, Any],
    lines: list[str],
    file: str,
    problems: list[str],
    *,
    local: bool,
) -> PeopleSettings:
    """Pop ``roles``, ``people`` and the item lists out of ``raw`` (the parsed TOML) and
    check them; every problem is appended as ``file:line: message``.

    Args:
        local: the SQLite store (accounts and groups must exist on this host).
    """
    at = _Lines(lines)
    out = PeopleSettings()
    roles_raw = raw.pop("roles", None)
    if roles_raw is not None:
        out.roles = _roles(roles_raw, at, file, problems, local=local)
    people_raw = raw.pop("people", None)
    if people_raw is not None:
        out.people = _people(people_raw, at, file, problems, local=local)
        if out.roles.configured:
            for email, user in out.people.items():
                if not _in_a_role(user, out.roles, local=local):
                    line = at.key("people", next(e for e in people_raw if e.lower() == email))
                    problems.append(
                        f"{file}:{line}: people.{email!r} = {user!r}: {user} is in no role of"
                        f" [roles] (line {at.table('roles')}); a typo here would let the author"
                        " sign their own review: fix the name, or add the account to the role"
                        " they sign for"
                    )
    readiness = raw.get("readiness")
    if isinstance(readiness, dict) and "items" in readiness:
        items = readiness.pop("items")
        out.readiness = _items(items, "readiness.items", at, file, problems, out.roles)
    smoke = raw.get("smoke")
    if isinstance(smoke, dict) and "items" in smoke:
        items = smoke.pop("items")
        out.smoke = _items(items, "smoke.items", at, file, problems, out.roles, smoke=True)
    return out


def _roles(value: Any, at: _Lines, file: str, problems: list[str], *, local: bool) -> Roles:
    if not isinstance(value, dict):
        problems.append(f'{file}:{at.table("roles")}: [roles] must be a table: role = ["user"]')
        return Roles()
    members: dict[str, tuple[str, ...]] = {}
    for role, entries in value.items():
        line = at.key("roles", role)
        if not _KEY.fullmatch(role):
            problems.append(
                f"{file}:{line}: roles.{role}: a role name is lower-case letters, digits, - and _"
            )
            continue
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            problems.append(
                f'{file}:{line}: roles.{role}: expected a list like ["alice", "group:deployers"]'
            )
            continue
        if not entries:
            problems.append(
                f"{file}:{line}: roles.{role} is empty: nobody could sign its items;"
                ' name its people ("alice", "group:NAME") or remove the role'
            )
            continue
        for entry in entries:
            problem = _member_problem(entry, local=local)
            if problem:
                problems.append(f"{file}:{line}: roles.{role}: {problem}")
        members[role] = tuple(entries)
    return Roles(members, configured=True)


def _in_a_role(user: str, roles: Roles, *, local: bool) -> bool:
    """Whether ``user`` is a member of some role: named, or (this host's accounts) in a
    Unix group a role names. With the kube store a ``kube-group:`` member may be anyone
    (the cluster knows its groups, not this file), so such a table holds every user."""
    entries = [e for members in roles.members.values() for e in members]
    if user in entries:
        return True
    if not local:
        return any(e.startswith("kube-group:") for e in entries)
    for entry in entries:
        if entry.startswith("group:"):
            try:
                g = grp.getgrnam(entry[6:])
            except KeyError:
                continue
            if user in g.gr_mem:
                return True
            try:
                if pwd.getpwnam(user).pw_gid == g.gr_gid:
                    return True
            except KeyError:
                pass
    return False


def _member_problem(entry: str, *, local: bool) -> str | None:
    kind, _, name = entry.rpartition(":")
    if kind not in ("", "group", "kube-group") or not _NAME.fullmatch(name):
        return (
            f"{entry!r} is not a member: write a user (alice), group:NAME (a Unix group)"
            " or kube-group:NAME (a Kubernetes group)"
        )
    if not local or kind == "kube-group":
        return None
    if kind == "group":
        try:
            grp.getgrnam(name)
        except KeyError:
            return f"group {name!r} does not exist on this host (getent group {name})"
        return None
    try:
        pwd.getpwnam(name)
    except KeyError:
        return f"user {name!r} does not exist on this host (getent passwd {name})"
    return None


def _people(
    value: Any, at: _Lines, file: str, problems: list[str], *, local: bool
) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        problems.append(
            f"{file}:{at.table('people')}: [people] maps commit emails to users:"
            ' "alice@example.com" = "alice"'
        )
        return {}
    out: dict[str, str] = {}
    for email, user in value.items():
        line = at.key("people", email)
        if "@" not in email:
            problems.append(f"{file}:{line}: people: {email!r} is not an email address")
            continue
        problem = _member_problem(user, local=local) if ":" not in user else "a user, not a group"
        if problem:
            problems.append(f"{file}:{line}: people.{email!r}: {problem}")
            continue
        out[email.lower()] = user
    return out


def _items(
    value: Any,
    name: str,
    at: _Lines,
    file: str,
    problems: list[str],
    roles: Roles,
    *,
    smoke: bool = False,
) -> tuple[ItemSpec, ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        problems.append(f"{file}:{at.key(name.split('.')[0], 'items')}: write [[{name}]] tables")
        return ()
    specs: list[ItemSpec] = []
    seen: dict[str, int] = {}
    for n, entry in enumerate(value):
        here = at.entry(name, n)
        before = len(problems)
        unknown = sorted(set(entry) - set(ITEM_KEYS))
        for key in unknown:
            problems.append(
                f"{file}:{at.entry(name, n, key)}: unknown key {name}.{key}"
                f" (allowed: {', '.join(ITEM_KEYS)})"
            )
        key = entry.get("key")
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            problems.append(
                f'{file}:{here}: each [[{name}]] needs key = "a_name" (lower-case letters,'
                " digits, _ and -)"
            )
            continue
        if key in seen:
            problems.append(
                f"{file}:{at.entry(name, n, 'key')}: {name}: key {key!r} is used twice"
                f" (first at line {seen[key]}); each item needs its own key"
            )
            continue
        seen[key] = at.entry(name, n, "key")
        spec = _item(entry, key, name, n, at, file, problems, roles, smoke=smoke)
        if spec is not None and len(problems) == before:
            specs.append(spec)
    return tuple(specs)


def _item(
    entry: dict[str, Any],
    key: str,
    name: str,
    n: int,
    at: _Lines,
    file: str,
    problems: list[str],
    roles: Roles,
    *,
    smoke: bool,
) -> ItemSpec | None:
    def bad(field_: str, message: str) -> None:
        problems.append(f"{file}:{at.entry(name, n, field_)}: {name}.{field_}: {message}")

    base = None if smoke else BUILTIN.get(key)
    title = entry.get("title", base.title if base else None)
    if not isinstance(title, str) or not title.strip():
        bad("title", f'item {key!r} needs title = "what a person reads"')
        return None
    kind_text = entry.get("kind")
    if kind_text is None:
        kind_text = "manual" if base is None or base.kind is ItemKind.MANUAL else ""
    if kind_text not in (*KINDS, ""):
        bad("kind", f"expected one of {' | '.join(KINDS)}, not {kind_text!r}")
        return None
    if smoke and kind_text != "manual":
        bad("kind", 'smoke items are signed by people: kind = "manual"')
        return None
    target = ""
    if kind_text == "command":
        target = entry.get("command", "")
        if not isinstance(target, str) or not target.strip():
            bad("command", 'kind = "command" needs command = "…" (exit 0 passes)')
            return None
    elif kind_text == "http":
        target = entry.get("url", "")
        if not isinstance(target, str) or not re.match(r"https?://[^/\s]+", target):
            bad("url", 'kind = "http" needs url = "http(s)://…" (200 passes)')
            return None
    role_text = entry.get("role")
    if role_text is None:
        role = base.role or role_of(base.owner) if base else "qa-engineer" if smoke else ""
        if not role:
            bad("role", f'item {key!r} needs role = "…" (who may sign it)')
            return None
    elif not isinstance(role_text, str) or not _KEY.fullmatch(role_text):
        bad("role", "a role name is lower-case letters, digits, - and _")
        return None
    else:
        role = role_text
    if roles.configured and role not in roles.members and role != CODE_AUTHOR:
        known = ", ".join([*roles.members, CODE_AUTHOR])
        bad("role", f"role {role!r} is not in [roles] (known: {known})")
        return None
    required_if = entry.get("required_if", base.required_if if base else None)
    if required_if is not None and (not isinstance(required_if, str) or not required_if):
        bad(
            "required_if",
            f"one of {', '.join(CONDITIONS)}, or a run flag (b2tui run --flag NAME)",
        )
        return None
    signers = entry.get("signers", 1)
    if isinstance(signers, bool) or not isinstance(signers, int) or not 1 <= signers <= 10:
        bad("signers", "how many different people must sign: a whole number from 1 to 10")
        return None
    not_by = entry.get("not_by", list(base.not_by) if base else [])
    if not isinstance(not_by, list) or any(v not in (AUTHOR, STARTER) for v in not_by):
        bad("not_by", f'a list of "{AUTHOR}" (of the deployed commits), "{STARTER}" (of the run)')
        return None
    emergency = entry.get("emergency", base.emergency if base else required_if == "emergency")
    if not isinstance(emergency, bool):
        bad("emergency", "expected true or false (kept on the emergency path)")
        return None
    if kind_text == "":
        kind, check = ItemKind.AUTOMATIC, ""
    elif kind_text == "manual":
        kind, check = ItemKind.MANUAL, ""
    else:
        kind, check = ItemKind.AUTOMATIC, kind_text
    return ItemSpec(
        key,
        title.strip(),
        kind,
        f"@{role}",
        required_if,
        emergency=emergency or required_if == "emergency",
        role=role,
        signers=signers,
        not_by=tuple(not_by),
        check=check,
        target=target,
    )


def missing_roles(
    roles: Roles, readiness: tuple[ItemSpec, ...] | None, smoke: tuple[ItemSpec, ...], manual: bool
) -> list[tuple[str, str]]:
    """(role, item) for every role an item of the checklist in effect needs that ``[roles]``
    lacks (nobody could sign it): the built-in items when none are configured, the manual
    smoke checks (``qa-engineer``) when there are some."""
    if not roles.configured:
        return []
    needs: dict[str, str] = {}
    for spec in (*(READINESS_ITEMS if readiness is None else readiness), *smoke):
        needs.setdefault(spec.role or role_of(spec.owner), spec.key)
    if manual:
        needs.setdefault("qa-engineer", "smoke.manual")
    return [(r, k) for r, k in needs.items() if r not in roles.members and r != CODE_AUTHOR]
