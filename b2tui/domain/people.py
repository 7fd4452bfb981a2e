"""Who may sign what: people, roles and the four-eyes rules, as pure functions.

A :class:`Person` is who the operating system (or the API server) says is at the keyboard:
an account name, its groups, and the name the audit log writes. :class:`Roles` is the
``[roles]`` table: a role is a list of accounts, ``group:NAME`` Unix groups and
``kube-group:NAME`` Kubernetes groups. :func:`sign_refusal` says whether a person may sign
a checklist item now, and if not, one line naming who may and why not this person. Nothing
here does I/O: the identity is vouched for by the adapters, the rules are decided here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from b2tui.domain.checklist import ChecklistItem, ItemSpec

CODE_AUTHOR = "code-author"
"""The role every author of the deployed commits holds (besides its configured members)."""

AUTHOR = "author"
"""``not_by`` value: an author or committer of the deployed commits may not sign."""
STARTER = "starter"
"""``not_by`` value: whoever started the run may not sign."""


def role_of(owner: str) -> str:
    """The role name of an item's owner: ``@tech-lead`` → ``tech-lead``, ``code author`` →
    ``code-author``."""
    return owner.strip().lstrip("@").replace(" ", "-").lower()


@dataclass(frozen=True)
class Person:
    """Someone who acts on a run, as the OS or the API server knows them."""

    name: str
    """Account name (OS user, or the cluster's user name)."""
    display: str
    """The name the audit log and the checklist write, e.g. ``bob@host (sudo from alice)``."""
    groups: frozenset[str] = frozenset()
    """Unix groups of the account (``group:NAME`` in ``[roles]``)."""
    kube_groups: frozenset[str] = frozenset()
    """Groups the API server authenticated (``kube-group:NAME``)."""
    verified: bool = True
    """False when nothing vouched for ``name`` (a cluster user name the server did not
    confirm): such a person holds no role."""
    inbox_role: str | None = None
    """Set for a sender known through a role's sign-off inbox in the cluster: the API
    server let them write that inbox (RBAC on it names the role's users and groups), so
    they hold that role — and no other, whatever ``name`` they claim."""


def person_named(display: str, *, verified: bool = False) -> Person:
    """A person known only by an audit name (``bob@host (sudo from alice)`` → account
    ``bob``): a cluster user name, a test's operator. Unverified by default: such a
    person holds no role."""
    name = display.split(" (", 1)[0].split("@", 1)[0].strip() or display
    return Person(name=name, display=display, verified=verified)


@dataclass(frozen=True)
class Roles:
    """The ``[roles]`` table: role → members (``alice``, ``group:deployers``,
    ``kube-group:leads``). ``configured`` False: no table, anyone may sign."""

    members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    configured: bool = False

    def holds(self, person: Person, role: str, authors: frozenset[str] = frozenset()) -> bool:
        """True when ``person`` is a member of ``role`` (authors hold ``code-author``)."""
        if not person.verified:
            return False
        if person.inbox_role is not None:
            return role == person.inbox_role
        if role == CODE_AUTHOR and person.name in authors:
            return True
        for entry in self.members.get(role, ()):
            if entry.startswith("group:"):
                if entry[6:] in person.groups:
                    return True
            elif entry.startswith("kube-group:"):
                if entry[11:] in person.kube_groups:
                    return True
            elif entry == person.name:
                return True
        return False

    def roles_of(self, person: Person, authors: frozenset[str] = frozenset()) -> list[str]:
        """Every role ``person`` holds, in the table's order."""
        names = list(self.members)
        if CODE_AUTHOR not in names:
            names.append(CODE_AUTHOR)
        return [r for r in names if self.holds(person, r, authors)]

    def who(self, role: str, authors: frozenset[str] = frozenset()) -> str:
        """The members of ``role`` for a message: ``alice, group:deployers``."""
        members = list(self.members.get(role, ()))
        if role == CODE_AUTHOR:
            members += sorted(a for a in authors if a not in members)
        return ", ".join(members) or "nobody"


@dataclass(frozen=True)
class SignContext:
    """What the sign-off rules need to know about the run."""

    roles: Roles = field(default_factory=Roles)
    authors: frozenset[str] = frozenset()
    """Accounts of the authors and committers of the deployed commits (mapped from their
    emails by ``[people]``)."""
    author_emails: tuple[str, ...] = ()
    """The emails themselves, for messages."""
    starter: str | None = None
    """Account that started the run."""


def sign_refusal(item: ChecklistItem, person: Person, ctx: SignContext) -> str | None:
    """None when ``person`` may sign ``item`` now, else one line: who may sign, and why
    not this person. ``item`` is one that waits for a sign-off (see
    :func:`b2tui.engine.intents.signable`)."""
    role = item_role(item)
    if AUTHOR in item.not_by and person.name in ctx.authors:
        emails = ", ".join(ctx.author_emails) or "the deployed commits"
        return (
            f"{item.title}: you ({person.name}) wrote the deployed commits ({emails});"
            f" someone else must sign it ({_may(ctx, role)})"
        )
    if STARTER in item.not_by and ctx.starter is not None and person.name == ctx.starter:
        return (
            f"{item.title}: you ({person.name}) started this run; someone else must"
            f" approve it ({_may(ctx, role)})"
        )
    if person.name in item.signatures:
        return (
            f"{item.title}: you ({person.name}) signed it already; it needs"
            f" {item.signers} different people ({len(item.signatures)} of {item.signers})"
        )
    # Manual items and automatic ones whose check could not tell alike: only the role.
    if ctx.roles.configured and not ctx.roles.holds(person, role, ctx.authors):
        if not person.verified:
            return (
                f"{item.title}: {_may(ctx, role)}; your name {person.name!r} is not"
                " verified by the API server, so it holds no role"
            )
        return f"{item.title}: {_may(ctx, role)}; you ({person.name}) are not in it"
    return None


def item_role(item: ChecklistItem | ItemSpec) -> str:
    """The role that may sign ``item``: its ``role``, else the one its owner names."""
    return item.role or role_of(item.owner)


def _may(ctx: SignContext, role: str) -> str:
    if not ctx.roles.configured:
        return "anyone else may sign"
    return f"role {role} may sign: {ctx.roles.who(role, ctx.authors)}"


PAGED_BY_DEFAULT = ("on-call", "tech-lead")
"""Roles paged on a rollback when ``[notify] page_roles`` is not set: the reference
workflow's on-call engineer and the tech lead it pages for root-cause analysis."""


@dataclass(frozen=True)
class Responder:
    """One entry of a role the pagers name: an account (with the email ``[people]`` maps to
    it, if any) or a group."""

    role: str
    member: str
    """``alice``, ``group:deployers`` or ``kube-group:leads``."""
    email: str | None = None

    def __str__(self) -> str:
        return f"{self.role}: {self.member}" + (f" <{self.email}>" if self.email else "")


def responders(
    roles: Roles, people: Mapping[str, str], page_roles: tuple[str, ...] | None
) -> tuple[Responder, ...]:
    """Who a rollback pages: the members of ``page_roles`` (default
    :data:`PAGED_BY_DEFAULT`, those ``[roles]`` has), each account with its email from
    ``[people]`` (email → account). Empty without ``[roles]``: the pagers' own routing
    decides then."""
    if not roles.configured:
        return ()
    email_of: dict[str, str] = {}
    for email, account in people.items():
        email_of.setdefault(account, email)
    out: list[Responder] = []
    for role in PAGED_BY_DEFAULT if page_roles is None else page_roles:
        for member in roles.members.get(role, ()):
            plain = not member.startswith(("group:", "kube-group:"))
            out.append(Responder(role, member, email_of.get(member) if plain else None))
    return tuple(out)
