"""The composition root of the one-shot commands (``status``, ``rollback``): which
cluster adapter they run on, and what a rollback leaves in the store.

``--sandbox`` opens the demo's world as the newest sandbox run left it in the state
file (a fresh world when there is none) and saves a changed world back to that run;
otherwise the real cluster through :class:`~b2tui.adapters.kube.KubeCluster`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from b2tui.adapters.kube import KubeCluster
from b2tui.adapters.store import Store, current_user
from b2tui.commands import known_good
from b2tui.commands.kube_cmds import ClusterView, RollbackDone
from b2tui.config import Settings, sandbox_settings
from b2tui.domain.phases import Strategy
from b2tui.ports import RunRecord

DEFAULT_SCENARIO, DEFAULT_SEED = "happy", 7
"""The world ``--sandbox`` shows before any demo ran (as ``b2tui demo`` starts it)."""


@contextmanager
def kube_cluster(*, dry_run: bool = False) -> Iterator[ClusterView]:
    """The real cluster (kubeconfig / in-cluster), closed afterwards."""
    kube = KubeCluster(dry_run=dry_run)
    try:
        yield kube
    finally:
        kube.close()


def newest_sandbox_run(store: Store) -> RunRecord | None:
    return next((r for r in store.runs(limit=1000) if r.params.get("sandbox")), None)


@contextmanager
def sandbox_cluster(store: Store) -> Iterator[tuple[Settings, ClusterView, RunRecord | None]]:
    """The sandbox as the newest demo run left it: (settings, cluster, that run).

    A change the command makes (a rollback) is saved into that run's world snapshot, so
    the next ``status --sandbox`` (or a resumed demo) sees it.
    """
    from b2tui.adapters.sandbox import build_sandbox
    from b2tui.adapters.sandbox.cluster import SandboxCluster
    from b2tui.engine.clock import VirtualClock

    settings = sandbox_settings()
    rec = newest_sandbox_run(store)
    params = dict(rec.params) if rec else {}
    strategy = Strategy(params.get("strategy", Strategy.CANARY.value))
    prod = dataclasses.replace(settings.environment("production"), strategy=strategy)
    settings = dataclasses.replace(
        settings, environments={**settings.environments, "production": prod}
    )
    start = (store.last_time(rec.id) if rec else None) or datetime.now(UTC)
    sandbox = build_sandbox(
        str(params.get("scenario", DEFAULT_SCENARIO)),
        int(params.get("seed", DEFAULT_SEED)),
        VirtualClock(start),
        settings,
        strategy,
    )
    if rec is not None:
        snap = store.get_blob(rec.id, "sandbox")
        if snap:
            sandbox.restore(snap)
        run_id = rec.id
        sandbox.on_change = lambda: store.put_blob(run_id, "sandbox", sandbox.snapshot())
    cluster = sandbox.ports.cluster
    assert isinstance(cluster, SandboxCluster)
    yield settings, cluster, rec


def record_rollback(store: Any, service: str, done: RollbackDone) -> None:
    """The rollback in the audit log (who, when, from, to) and, unless it was a dry
    run, in the store's rollback history (the next rollback's target)."""
    user = current_user()
    mode = " (dry run)" if done.dry_run else ""
    store.audit(
        None,
        user,
        "rollback-cli",
        f"{service}/{done.environment}{mode}: from {done.before.describe()} to"
        f" {done.target.describe()} ({done.source}); {done.result.detail}",
    )
    if not done.dry_run:
        known_good.record_rollback(
            store,
            service,
            done.environment,
            user=user,
            at=datetime.now(UTC).isoformat(),
            source=done.source,
            before=done.before.to_dict(),
            target=done.target.to_dict(),
            changed=done.result.changed,
        )
