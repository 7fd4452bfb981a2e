"""The readiness checklist: items, who owns them and how they are answered."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class ItemKind(StrEnum):
    """How an item gets its answer."""

    AUTOMATIC = "automatic"
    """A command or an API answers it."""
    MANUAL = "manual"
    """A person signs it off; who and when are recorded."""


class ItemState(StrEnum):
    """Where an item stands."""

    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not required for this run (its condition does not apply)."""


@dataclass(frozen=True)
class ChecklistItem:
    """One line of a checklist, with its current answer."""

    key: str
    """Stable identifier, e.g. ``tests_passing``."""
    title: str
    """What a person reads, e.g. "Tests passing"."""
    kind: ItemKind
    """Automatic (answered by a check) or manual (signed off)."""
    owner: str
    """Role that owns the item, e.g. ``@devops-engineer``."""
    required: bool = True
    """False when the item's condition (``required_if``) does not apply to this run."""
    required_if: str | None = None
    """Name of the condition that makes the item required (``pii``, ``migrations``,
    ``direct``, ``emergency``); None when always required."""
    state: ItemState = ItemState.PENDING
    """Current answer."""
    detail: str = ""
    """Why it failed, or the check's short output."""
    signed_by: str | None = None
    """Who signed a manual item off."""
    signed_at: datetime | None = None
    """When it was signed off (the run's clock)."""
    group: str = "readiness"
    """``readiness`` or ``smoke`` (the manual smoke checks)."""
    role: str = ""
    """The ``[roles]`` role that may sign it (empty: derived from ``owner``)."""
    signers: int = 1
    """How many different people must sign it."""
    signatures: tuple[str, ...] = ()
    """Accounts that signed it so far (distinct)."""
    not_by: tuple[str, ...] = ()
    """Who may never sign it: ``author`` (of the deployed commits), ``starter`` (of the run)."""
    check: str = ""
    """How an automatic item is answered: ``command``, ``http``, ``github``; empty: built in."""
    target: str = ""
    """The command or URL of ``check``."""

    @property
    def blocking(self) -> bool:
        """True when the item keeps its phase from completing."""
        return self.required and self.state not in (ItemState.PASSED, ItemState.SKIPPED)

    def signed(self, user: str, at: datetime, account: str | None = None) -> ChecklistItem:
        """Signed by ``user`` (the audit name) of ``account``; passed once ``signers``
        different accounts signed."""
        names = (*self.signatures, account or user)
        by = user if not self.signed_by or len(names) == 1 else f"{self.signed_by}, {user}"
        if len(names) < self.signers:
            more = self.signers - len(names)
            return replace(
                self,
                signatures=names,
                signed_by=by,
                signed_at=at,
                detail=f"signed by {len(names)} of {self.signers}: {more} more needed",
            )
        return replace(
            self, state=ItemState.PASSED, signed_by=by, signed_at=at, detail="", signatures=names
        )

    def answered(self, passed: bool, detail: str = "") -> ChecklistItem:
        return replace(self, state=ItemState.PASSED if passed else ItemState.FAILED, detail=detail)


@dataclass(frozen=True)
class RunConditions:
    """Facts about a run that decide which conditional items are required."""

    pii: bool = False
    """The change touches PII or security: security sign-off is required."""
    migrations: bool = False
    """The change carries DB migrations: a tested migration is required."""
    emergency: bool = False
    """Emergency path: only tests and tech-lead approval are required."""
    direct: bool = False
    """Direct deploy to production: tech-lead approval is required."""
    flags: frozenset[str] = frozenset()
    """Flags the operator set for this run (``b2tui run --flag major-feature``)."""

    def holds(self, condition: str | None) -> bool:
        if condition is None:
            return True
        if condition in CONDITIONS:
            return bool(getattr(self, condition, False))
        return condition in self.flags


CONDITIONS = ("pii", "migrations", "direct", "emergency")
"""The built-in ``required_if`` conditions; any other name is a run flag."""


@dataclass(frozen=True)
class ItemSpec:
    """Definition of an item before a run answers it."""

    key: str
    title: str
    kind: ItemKind
    owner: str
    required_if: str | None = None
    emergency: bool = False
    """Kept on the emergency path (which drops every other item)."""
    role: str = ""
    """The ``[roles]`` role that may sign it (empty: derived from ``owner``)."""
    signers: int = 1
    not_by: tuple[str, ...] = ()
    check: str = ""
    """Automatic items: ``command``, ``http``, ``github`` (empty: b2tui's built-in check)."""
    target: str = ""
    """The command or URL of ``check``."""


READINESS_ITEMS: tuple[ItemSpec, ...] = (
    ItemSpec("code_merged", "Code merged to main", ItemKind.AUTOMATIC, "@devops-engineer"),
    ItemSpec(
        "tests_passing", "Tests passing", ItemKind.AUTOMATIC, "@devops-engineer", emergency=True
    ),
    ItemSpec("build_ok", "Build succeeds", ItemKind.AUTOMATIC, "@devops-engineer"),
    ItemSpec(
        "review_approved",
        "Code review approved",
        ItemKind.MANUAL,
        "code author",
        role="reviewer",
        not_by=("author",),
    ),
    ItemSpec(
        "security_approved", "Security approved", ItemKind.MANUAL, "@security-engineer", "pii"
    ),
    ItemSpec("docs_updated", "Documentation updated", ItemKind.MANUAL, "code author"),
    ItemSpec(
        "migration_tested", "DB migration tested", ItemKind.MANUAL, "@devops-engineer", "migrations"
    ),
    ItemSpec("rollback_plan", "Rollback plan known", ItemKind.MANUAL, "@devops-engineer"),
    ItemSpec(
        "tech_lead_approval",
        "Tech-lead approval",
        ItemKind.MANUAL,
        "@tech-lead",
        "direct",
        emergency=True,
        not_by=("starter",),
    ),
)
"""The readiness checklist of the workflow (docs/DESIGN.md, "The workflow")."""


def build_checklist(
    specs: tuple[ItemSpec, ...] | list[ItemSpec],
    conditions: RunConditions,
    *,
    emergency_path: bool = True,
) -> list[ChecklistItem]:
    """Items for a run: conditional ones are marked not required when they don't apply.

    On the emergency path (readiness; ``emergency_path`` False: smoke keeps its items)
    only the items flagged ``emergency`` stay required, and the tech-lead approval becomes
    required whatever the strategy.
    """
    items: list[ChecklistItem] = []
    for spec in specs:
        if conditions.emergency and emergency_path:
            required = spec.emergency
        else:
            required = conditions.holds(spec.required_if)
        items.append(
            ChecklistItem(
                key=spec.key,
                title=spec.title,
                kind=spec.kind,
                owner=spec.owner,
                required=required,
                required_if=spec.required_if,
                state=ItemState.PENDING if required else ItemState.SKIPPED,
                role=spec.role,
                signers=spec.signers,
                not_by=spec.not_by,
                check=spec.check,
                target=spec.target,
            )
        )
    return items


def manual_items(titles: list[str], owner: str = "@qa-engineer") -> list[ChecklistItem]:
    """Manual smoke checks ("Can users login?") as checklist items."""
    return [
        ChecklistItem(
            key=f"smoke_{i + 1}", title=t, kind=ItemKind.MANUAL, owner=owner, group="smoke"
        )
        for i, t in enumerate(titles)
    ]


def blockers(items: list[ChecklistItem]) -> list[ChecklistItem]:
    """Items still keeping their phase from completing."""
    return [i for i in items if i.blocking]


def blocker_text(items: list[ChecklistItem]) -> str:
    """One line naming what blocks, e.g. "waiting for: Code review approved (code author)"."""
    failed = [i for i in items if i.required and i.state is ItemState.FAILED]
    pending = [i for i in items if i.required and i.state is ItemState.PENDING]
    parts = []
    if failed:
        parts.append("failed: " + ", ".join(i.title for i in failed))
    if pending:
        parts.append("waiting for: " + ", ".join(f"{i.title} ({i.owner})" for i in pending))
    return "; ".join(parts)
