"""Production strategies, one module each (as Argo Rollouts keeps ``canary.go`` and
``bluegreen.go``): ``canary``, ``blue_green``, ``direct``.

Each module has one entry point, ``async def run(ctx: RunContext) -> None``, written as a
flat run of idempotent steps over the :class:`~b2tui.engine.context.RunContext`: a step
that already happened (``state.done``, or the state it produces) is skipped, so a resumed
run goes on where it stood. A strategy changes production only through
``ctx.production_change`` (retried, rollback when it keeps failing) and judges it only
through ``ctx.sample`` + ``ctx.decide`` (the gate policy). Strategies never import
adapters (import-linter contract) nor each other.

To add a strategy: a new module with ``run(ctx)``, a member of
:class:`~b2tui.domain.phases.Strategy`, and an entry in :data:`STRATEGIES`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from b2tui.domain.phases import Strategy
from b2tui.engine import artifacts
from b2tui.engine.context import RunContext
from b2tui.engine.strategies import blue_green, canary, direct

STRATEGIES: dict[Strategy, Callable[[RunContext], Awaitable[None]]] = {
    Strategy.CANARY: canary.run,
    Strategy.BLUE_GREEN: blue_green.run,
    Strategy.DIRECT: direct.run,
}


async def production(ctx: RunContext) -> None:
    """The production phase: promote the digest staging verified (no second build), then
    the run's strategy."""
    await artifacts.promote(ctx)
    await STRATEGIES[Strategy(ctx.st.strategy)](ctx)
