"""Telling people: a notification about the run (``deployed``, ``rollback``, ``incident``,
``alert``) through the ``Notifier`` port; each channel's answer is a ``notified`` event.
"""

from __future__ import annotations

import logging

from b2tui.domain import events as ev
from b2tui.domain.gates import format_value
from b2tui.engine.context import RunContext
from b2tui.ports import Notification

log = logging.getLogger(__name__)


async def notify(ctx: RunContext, kind: str, reason: str, *, recovered: bool = False) -> None:
    """Send a notification (``deployed``, ``rollback``, ``incident``, ``alert``); each
    channel's answer is an event."""
    st = ctx.st
    started = ctx.view.started_at or ctx.clock.now()
    gates = {
        f"{track or 'service'}:{g.gate}": format_value(g.value, g.unit)
        for (track, _), g in ctx.view.gates.items()
    }
    target = st.known_good.describe() if st.known_good else ""
    note = Notification(
        kind=kind,
        service=st.service,
        environment=st.environment,
        version=st.version,
        image=ctx.deployed(ctx.env.name),
        run_id=st.run_id,
        by=st.rollback.by if kind in ("incident", "rollback") and st.rollback else ctx.user,
        duration=(ctx.clock.now() - started).total_seconds(),
        reason=reason,
        target=target,
        gates=gates,
        recovered=recovered,
    )
    try:
        results = await ctx.ports.notifier.notify(note)
    except Exception as e:  # a notification never decides a run
        log.warning("notifier failed: %s", e)
        results = [("notifier", False, str(e))]
    for channel, ok, detail in results:
        ctx.emit(
            ev.Notified(ts=ctx.clock.now(), phase=st.phase, channel=channel, ok=ok, detail=detail)
        )
