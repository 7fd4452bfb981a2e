"""Opening a run: unfinished run → lease → driver or watcher → resume or start.

Every way into a run (``b2tui demo``, ``b2tui run``, ``b2tui tui``, the tests) goes
through :func:`open_session`, so the protocol exists once:

1. Look for the service's unfinished run (sandbox or real) in the store.
2. Let the caller build a conductor for what it saw (:class:`Attempt`): the sandbox world
   of that run, or a new run's version.
3. Claim it: the run and its lease are one atomic store transaction
   (:meth:`~b2tui.engine.conductor.Conductor.claim`). Won: this process drives, the run
   resumed or just started. Lost to a live process: the caller follows it (a
   :class:`~b2tui.engine.watch.Watcher`). The run seen ended meanwhile, or one appeared
   this conductor was not built for: look again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from b2tui.engine.conductor import Conductor
from b2tui.ports import RunRecord, Store


@dataclass
class Attempt:
    """One try at opening: a conductor built for what was seen, and what a new run is."""

    conductor: Conductor
    version: str | None = None
    """Commit of a new run; None: only an unfinished run is taken."""
    emergency: bool = False
    scenario: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    commit_at: datetime | None = None
    accept: Callable[[RunRecord], bool] | None = None
    """May refuse an unfinished run this conductor's ports were not built for."""


@dataclass
class Opened:
    """An open run: this process drives it (``driver``), or another process does and this
    one follows it (``driver`` None: attach a :class:`~b2tui.engine.watch.Watcher`, or with
    the kube store an :class:`~b2tui.engine.remote.AttachedSession`)."""

    run: RunRecord
    driver: Conductor | None = None
    created: bool = False
    """True: a new run was started; False: an unfinished one resumed (or followed)."""
    holder: str = ""
    """Who drives when this process follows."""


async def open_session(
    store: Store,
    prepare: Callable[[RunRecord | None], Awaitable[Attempt]],
    *,
    service: str,
    sandbox: bool,
    take_over: bool = False,
) -> Opened:
    """Open the service's run for this process, as driver or watcher.

    Args:
        store: where runs and leases live.
        prepare: builds the conductor for the unfinished run seen (None: none was), and
            says what a new run would be.
        service: the service whose run is opened.
        sandbox: sandbox runs and real runs are kept apart.
        take_over: record a resume as a take-over (the driver was gone).

    Raises:
        ValueError: the new run's image reference cannot be made (bad input).
    """
    while True:
        seen = store.unfinished_run(service, sandbox=sandbox)
        attempt = await prepare(seen)
        claim = await attempt.conductor.claim(
            version=attempt.version,
            emergency=attempt.emergency,
            scenario=attempt.scenario,
            params=attempt.params,
            commit_at=attempt.commit_at,
            accept=attempt.accept,
            take_over=take_over,
        )
        refused = not claim.driver and claim.holder is None and attempt.accept is not None
        if claim.run is None or refused:
            continue  # the run we saw ended, or one we cannot drive appeared: look again
        if not claim.driver:
            holder = claim.holder.owner if claim.holder else "?"
            return Opened(claim.run, holder=holder)
        return Opened(claim.run, driver=attempt.conductor, created=claim.created)
