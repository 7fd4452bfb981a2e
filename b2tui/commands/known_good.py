"""The last known-good revision of a service in an environment, from the store's history.

One rule for ``b2tui rollback`` outside a run, on any :class:`~b2tui.ports.Store`
backend (SQLite or the cluster's ConfigMaps), through its ``runs`` and blobs only:

* the newest run of the service to the environment that *settled* — succeeded (its
  ``known_good`` is what it replaced: rollback after promotion) or rolled back (what it
  restored) — gives the target;
* unless a ``b2tui rollback`` came after that run: then its target wins, so a second
  rollback stays where the first one went (``kubectl rollout undo`` twice flips back);
* aborted and blocked runs never touched production and do not count;
* with neither, None: the command falls back to the previous ReplicaSet revision.

The newest CLI rollback is kept as one blob per service and environment; the audit log
keeps every one (who, when, from, to).
"""

from __future__ import annotations

from typing import Any

from b2tui.ports import RunRecord

SETTLED = ("succeeded", "rolled_back")
BLOB = "cli-rollback"


def _key(service: str, environment: str) -> str:
    """The blob's owner id: no run has it (run ids start with ``r``)."""
    return f"rollbacks-{service}-{environment}"


def last_settled_run(store: Any, service: str, environment: str) -> RunRecord | None:
    """The newest run of ``service`` to ``environment`` that succeeded or rolled back."""
    for rec in store.runs(10_000):
        if rec.service == service and rec.environment == environment and rec.outcome in SETTLED:
            return rec
    return None


def known_good(store: Any, service: str, environment: str) -> dict[str, Any] | None:
    """The revision ``b2tui rollback`` restores (a :class:`~b2tui.ports.Revision` dict)."""
    run = last_settled_run(store, service, environment)
    last = store.get_blob(_key(service, environment), BLOB)
    if last and last.get("after_run") == (run.id if run else None) and last.get("target"):
        return dict(last["target"])
    if run is not None and run.state.get("known_good"):
        return dict(run.state["known_good"])
    return None


def record_rollback(
    store: Any,
    service: str,
    environment: str,
    *,
    user: str,
    at: str,
    source: str,
    before: dict[str, Any],
    target: dict[str, Any],
    changed: bool,
) -> None:
    """Remember a CLI rollback: the next one stays on ``target`` until a run settles."""
    run = last_settled_run(store, service, environment)
    store.put_blob(
        _key(service, environment),
        BLOB,
        {
            "user": user,
            "at": at,
            "source": source,
            "before": before,
            "target": target,
            "changed": changed,
            "after_run": run.id if run else None,
        },
    )
