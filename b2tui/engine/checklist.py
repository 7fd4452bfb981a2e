"""The run's checklist items: changing one (saved, then a ``checklist`` event), and
autopilot's sign-offs. Steps over a :class:`~b2tui.engine.context.RunContext`.
"""

from __future__ import annotations

from collections.abc import Callable

from b2tui.domain import events as ev
from b2tui.domain.checklist import ChecklistItem, ItemKind
from b2tui.engine import intents
from b2tui.engine.context import RunContext


def update(ctx: RunContext, key: str, change: Callable[[ChecklistItem], ChecklistItem]) -> str:
    """Change checklist item ``key``, save the state and emit it; returns its title."""
    st = ctx.st
    items = st.items()
    title = key
    for n, i in enumerate(items):
        if i.key == key:
            items[n] = change(i)
            title = i.title
            st.set_items(items)
            ctx.save()
            emit(ctx, items[n])
    return title


def emit(ctx: RunContext, item: ChecklistItem) -> None:
    """A ``checklist`` event for ``item``."""
    ctx.emit(
        ev.ChecklistChanged(
            ts=ctx.clock.now(),
            phase=ctx.st.phase,
            item=item.key,
            title=item.title,
            state=item.state.value,
            by=item.signed_by,
            detail=item.detail,
            owner=item.owner,
            manual=item.kind is ItemKind.MANUAL,
            required=item.required,
            group=item.group,
        )
    )


def autopilot_sign(ctx: RunContext, group: str) -> None:
    """Autopilot signs what its identity may sign; for the rest it says, once per
    item, who is awaited (they sign with ``b2tui sign`` or in a control room)."""
    if not ctx.autopilot or ctx.st.paused:
        return
    for item in ctx.st.items():
        if item.group != group or not intents.signable(item):
            continue
        refusal = ctx.services.may_sign(item.key, ctx.autopilot_user)
        if refusal is None:
            ctx.services.sign_off(item.key, ctx.autopilot_user)
        else:
            ctx.notice_once(
                f"awaits-{item.key}-{len(item.signatures)}",
                "info",
                f"awaiting {refusal} — they sign with `b2tui sign {item.key}`",
            )
