"""The kube store's objects as data: names, labels, and the run and Lease bodies (pure).

Names are DNS labels (:func:`slug`); label values are at most 63 characters. Nothing
here talks to the API server: :mod:`b2tui.adapters.kube_store.api` sends these bodies.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from b2tui.ports import Lease, RunRecord

# b2tui.ports and b2tui.masking are imported where they are used: ``b2tui status
# --line`` imports this module for run_selector and run_summary alone, on every tick of
# tmux's status-interval.


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON: what the store writes into ConfigMap data."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


MANAGED = {"app.kubernetes.io/managed-by": "b2tui"}
KIND = "b2tui.io/kind"
RUN = "b2tui.io/run"
SERVICE = "b2tui.io/service"
ENVIRONMENT = "b2tui.io/environment"
FINISHED = "b2tui.io/finished"
SANDBOX = "b2tui.io/sandbox"


def slug(text: str, limit: int = 40) -> str:
    """A DNS-label-safe rendering of ``text``; a hash suffix keeps distinct inputs apart."""
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if s == text and len(s) <= limit:
        return s
    import hashlib  # here: most names are slugs already (status --line imports this module)

    digest = hashlib.sha1(text.encode()).hexdigest()[:6]
    return f"{s[: limit - 7].strip('-')}-{digest}"


def micro_time(epoch: float) -> str:
    """``MicroTime`` as the API server writes it: ``2026-12-02T05:44:50.123456Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


# --- names and labels ----------------------------------------------------------------------


def run_name(run_id: str) -> str:
    """The run's ConfigMap; its journals and blobs are named after it."""
    return f"b2tui-run-{slug(run_id)}"


def lease_name(service: str, environment: str) -> str:
    """The driver Lease of one service and environment."""
    return f"b2tui-{slug(service, 25)}-{slug(environment, 25)}"


def journal_name(kind: str, run_id: str | None) -> str:
    """Prefix of a journal's chunks: ``b2tui-run-<run>-<kind>``, or ``b2tui-<kind>``
    outside a run."""
    return f"{run_name(run_id)}-{kind}" if run_id else f"b2tui-{kind}"


def journal_labels(kind: str, run_id: str | None) -> dict[str, str]:
    return {KIND: kind, RUN: slug(run_id, 63) if run_id else "none"}


def blob_name(run_id: str, key: str) -> str:
    return f"{run_name(run_id)}-blob-{slug(key)}"


def run_selector(
    *,
    finished: bool | None = None,
    service: str | None = None,
    environment: str | None = None,
    sandbox: bool | None = None,
) -> str:
    """The label selector of the run ConfigMaps matching every condition given."""
    sel = [f"{KIND}=run"]
    if finished is not None:
        sel.append(f"{FINISHED}={'true' if finished else 'false'}")
    if service:
        sel.append(f"{SERVICE}={slug(service, 63)}")
    if environment:
        sel.append(f"{ENVIRONMENT}={slug(environment, 63)}")
    if sandbox is not None:
        sel.append(f"{SANDBOX}={'true' if sandbox else 'false'}")
    return ",".join(sel)


# --- the run ConfigMap -----------------------------------------------------------------------


def run_configmap(rec: RunRecord) -> dict[str, Any]:
    """The ConfigMap that records ``rec`` (masked), not finished yet."""
    from b2tui.masking import mask_data

    record = {
        "id": rec.id,
        "service": rec.service,
        "environment": rec.environment,
        "strategy": rec.strategy,
        "version": rec.version,
        "image": rec.image,
        "emergency": rec.emergency,
        "params": rec.params,
        "clock": rec.clock.isoformat() if rec.clock else None,
        "started_at": rec.started_at.isoformat(),
        "commit_at": rec.commit_at.isoformat() if rec.commit_at else None,
        "finished_at": None,
        "outcome": None,
        "reason": None,
        "created_by": rec.created_by,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": run_name(rec.id),
            "labels": {
                KIND: "run",
                RUN: slug(rec.id, 63),
                SERVICE: slug(rec.service, 63),
                ENVIRONMENT: slug(rec.environment, 63),
                FINISHED: "false",
                SANDBOX: "true" if rec.params.get("sandbox") else "false",
            },
        },
        "data": {
            "record": dumps(mask_data(record)),
            "state": dumps(mask_data(rec.state)),
        },
    }


def run_record(obj: dict[str, Any]) -> RunRecord:
    """The run a run ConfigMap records."""
    from b2tui.ports import RunRecord

    d = json.loads(obj["data"]["record"])
    started = _dt(d["started_at"])
    assert started is not None
    return RunRecord(
        id=d["id"],
        service=d["service"],
        environment=d["environment"],
        strategy=d["strategy"],
        version=d["version"],
        image=d["image"],
        emergency=bool(d["emergency"]),
        params=dict(d.get("params") or {}),
        state=json.loads(obj["data"].get("state") or "{}"),
        clock=_dt(d.get("clock")),
        started_at=started,
        commit_at=_dt(d.get("commit_at")),
        finished_at=_dt(d.get("finished_at")),
        outcome=d.get("outcome"),
        reason=d.get("reason"),
        created_by=d["created_by"],
    )


def run_summary(obj: dict[str, Any]) -> dict[str, Any]:
    """What ``b2tui status --line`` shows of a run ConfigMap, read as :func:`run_record`
    reads it (same keys, same values), without building a
    :class:`~b2tui.ports.RunRecord`: ``id``, ``service``, ``strategy``, ``state``,
    ``outcome``, ``reason``, ``started_at`` and ``finished_at``."""
    d = json.loads(obj["data"]["record"])
    started = _dt(d["started_at"])
    assert started is not None
    return {
        "id": d["id"],
        "service": d["service"],
        "strategy": d["strategy"],
        "state": json.loads(obj["data"].get("state") or "{}"),
        "outcome": d.get("outcome"),
        "reason": d.get("reason"),
        "started_at": started,
        "finished_at": _dt(d.get("finished_at")),
    }


# --- the Lease -----------------------------------------------------------------------------


def holder(obj: dict[str, Any]) -> Lease | None:
    """Who a Lease object names as its holder (None when released)."""
    from b2tui.ports import Lease

    spec = obj.get("spec") or {}
    owner = spec.get("holderIdentity")
    if not owner:
        return None
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    renewed = _epoch(spec.get("renewTime")) or 0.0
    duration = float(spec.get("leaseDurationSeconds") or 0)
    try:
        pid = int(ann.get("b2tui.io/pid") or 0)
    except ValueError:
        pid = 0
    return Lease(owner, ann.get("b2tui.io/host", ""), pid, renewed + duration)


def lease_body(
    name: str,
    run_id: str,
    owner: str,
    seconds: int,
    cur: dict[str, Any] | None,
    *,
    ours: bool,
    host: str,
    pid: int,
    now: float,
) -> dict[str, Any]:
    """The Lease ``owner`` (process ``pid`` on ``host``) writes at ``now`` to take or,
    when ``ours``, renew ``cur`` (None: no Lease yet) for ``seconds``. A take counts a
    transition; a renewal keeps ``acquireTime``. With ``cur`` the body carries its
    resourceVersion: the write is refused (409) if another process wrote meanwhile."""
    spec: dict[str, Any] = {
        "holderIdentity": owner,
        "leaseDurationSeconds": seconds,
        "renewTime": micro_time(now),
    }
    meta: dict[str, Any] = {
        "name": name,
        "labels": {**MANAGED, RUN: slug(run_id, 63)},
        "annotations": {
            "b2tui.io/host": host,
            "b2tui.io/pid": str(pid),
            "b2tui.io/run": run_id,
        },
    }
    old_spec = (cur or {}).get("spec") or {}
    if ours:
        spec["acquireTime"] = old_spec.get("acquireTime") or micro_time(now)
        spec["leaseTransitions"] = int(old_spec.get("leaseTransitions") or 0)
    else:
        spec["acquireTime"] = micro_time(now)
        spec["leaseTransitions"] = int(old_spec.get("leaseTransitions") or 0) + (1 if cur else 0)
    if cur is not None:
        meta["resourceVersion"] = cur["metadata"]["resourceVersion"]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}


# --- the sign-off inboxes of [roles] -------------------------------------------------------

SIGN_INBOX = "sign-inbox"
"""``b2tui.io/kind`` of a role's sign-off inbox."""


def sign_inbox_name(service: str, environment: str, role: str, user: str | None = None) -> str:
    """The sign-off inbox of ``role`` for one service and environment (its Kubernetes
    groups write it), or of one ``user`` the role names (that user alone writes it:
    ``…-<role>.<user>``; a slug has no dot, so no role's name can be mistaken for it). The
    driver knows an inbox by this *name* (RBAC's ``resourceNames`` guards it), never by a
    label a writer could patch."""
    name = f"b2tui-sign-{slug(service, 25)}-{slug(environment, 25)}-{slug(role, 40)}"
    return f"{name}.{slug(user, 60)}" if user is not None else name


def role_groups(members: tuple[str, ...]) -> list[str]:
    """The Kubernetes groups of a ``[roles]`` role (its ``kube-group:NAME`` entries)."""
    return [e[11:] for e in members if e.startswith("kube-group:")]


def role_users(members: tuple[str, ...]) -> list[str]:
    """The cluster user names of a ``[roles]`` role (its plain entries; ``group:NAME``, a
    Unix group, means nothing to the API server)."""
    return [e for e in members if ":" not in e]


def signoff_rbac(
    members: dict[str, tuple[str, ...]], service: str, environment: str, namespace: str
) -> list[dict[str, Any]]:
    """Per role: a Role with ``get`` and ``patch`` on the role's inbox alone, bound to its
    Kubernetes groups; and per user the role names, a Role on that user's own inbox bound
    to that user alone (the API server then vouches for the name too). A role with no such
    member gets its Role but no binding (nobody may sign through the cluster)."""
    docs: list[dict[str, Any]] = []

    def grant(inbox: str, subjects: list[dict[str, str]]) -> None:
        meta = {"name": inbox, "namespace": namespace, "labels": dict(MANAGED)}
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": meta,
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["configmaps"],
                        "resourceNames": [inbox],
                        "verbs": ["get", "patch"],
                    }
                ],
            }
        )
        if subjects:
            docs.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": dict(meta),
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Role",
                        "name": inbox,
                    },
                    "subjects": [{**s, "apiGroup": "rbac.authorization.k8s.io"} for s in subjects],
                }
            )

    for role, entries in members.items():
        groups = [{"kind": "Group", "name": g} for g in role_groups(entries)]
        grant(sign_inbox_name(service, environment, role), groups)
        for user in role_users(entries):
            inbox = sign_inbox_name(service, environment, role, user)
            grant(inbox, [{"kind": "User", "name": user}])
    return docs
