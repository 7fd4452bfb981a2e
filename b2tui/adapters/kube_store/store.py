"""The Kubernetes store: a run lives in the cluster, not in one host's SQLite file.

``[store] backend = "kube"``. Objects, all in the store's namespace and labelled
``app.kubernetes.io/managed-by=b2tui``:

* ``Lease b2tui-<service>-<env>`` (coordination.k8s.io/v1): the driver lease —
  ``holderIdentity``, ``renewTime``, ``leaseDurationSeconds``; every take and renewal is
  an update with the resourceVersion it read, so of two drivers racing on two hosts the
  API server lets exactly one write through.
* ``ConfigMap b2tui-run-<run>``: the run record and its state (``record``, ``state``),
  label ``b2tui.io/finished`` for ``unfinished_run`` and ``history``.
* ``ConfigMap b2tui-run-<run>-events-N``, ``…-audit-N``, ``…-signoffs-N`` and
  ``b2tui-audit-N`` (audit outside a run): append-only journals
  (:mod:`b2tui.adapters.kube_store.journal`), chunked far below the 1 MiB object limit.
* ``ConfigMap b2tui-intents-<service>-<env>``: the inbox operators on other hosts write
  intents to (:mod:`b2tui.adapters.kube_store.intents`).

Every write carries a resourceVersion precondition. Events are written behind: a writer
thread sends what the engine emitted in batches, in order, so a build streaming a
thousand log lines costs a handful of requests and never blocks the event loop; state,
outcome, sign-offs, audit entries and the lease are written at once (after the pending
events, keeping the order). A SIGKILL loses at most the events of the last moments, never
state. No CRD or controller is needed in the cluster.

The lease expires ``leaseDurationSeconds`` after its ``renewTime`` as the holder wrote
it, so the hosts' clocks must agree to within a fraction of the TTL (NTP does that).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from b2tui.adapters.kube.client import Api, Conn
from b2tui.adapters.kube.errors import KubeApiError, Op
from b2tui.adapters.kube_store.journal import CHUNK_BYTES, Journal, dumps
from b2tui.adapters.kube_store.watch import ConfigMapWatch
from b2tui.adapters.lease_keeper import LeaseKeeper
from b2tui.adapters.store.sqlite import _held_by_another
from b2tui.domain.events import Event, event_from_dict
from b2tui.masking import mask, mask_data
from b2tui.ports import AuditEntry, Claim, Lease, RunRecord, StoreError, StoreWriteFailed

log = logging.getLogger(__name__)

MANAGED = {"app.kubernetes.io/managed-by": "b2tui"}
KIND = "b2tui.io/kind"
RUN = "b2tui.io/run"
SERVICE = "b2tui.io/service"
ENVIRONMENT = "b2tui.io/environment"
FINISHED = "b2tui.io/finished"
SANDBOX = "b2tui.io/sandbox"

_RETRIES = (0.1, 0.3, 1.0)
"""Back-off before retrying a write the server could not take (unreachable, 5xx, 429)."""


def slug(text: str, limit: int = 40) -> str:
    """A DNS-label-safe rendering of ``text``; a hash suffix keeps distinct inputs apart."""
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if s == text and len(s) <= limit:
        return s
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


def _retryable(e: KubeApiError) -> bool:
    return e.status == 0 or e.status == 429 or e.status >= 500


class RunDriven(StoreError):
    """Another process holds the lease of this service and environment: no new run."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"a run of this service and environment is driven by {holder}")
        self.holder = holder


class KubeStore:
    """The Store port on a Kubernetes namespace.

    Args:
        conn: the API connection (kubeconfig context, or in-cluster).
        namespace: where the run's objects live.
        chunk_bytes: bytes per journal chunk (tests make it small).
        request_timeout: seconds per request.
    """

    def __init__(
        self,
        conn: Conn,
        namespace: str,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        request_timeout: float = 10.0,
    ) -> None:
        self.conn = conn
        self.namespace = namespace
        self.chunk_bytes = chunk_bytes
        self.api = Api(conn, request_timeout)
        self.path = f"kube:{conn.context}/{namespace}"
        self._runs: dict[str, dict[str, Any]] = {}
        """Run ConfigMaps as last read or written (for their resourceVersion)."""
        self._journals: dict[str, Journal] = {}
        self._lock = threading.RLock()
        self._leases: dict[str, dict[str, Any]] = {}
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._idle = threading.Condition()
        self._pending = 0
        self.write_error: str | None = None
        """The writer thread's last failure (it retries); None once a write got through."""
        self._watches: list[ConfigMapWatch] = []

    @property
    def location(self) -> str:
        """``kube:<context>/<namespace>``, for messages."""
        return self.path

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Each write here is one object written atomically by the API server; there is no
        multi-object transaction. The block's writes are in the cluster when it ends."""
        yield
        self.flush()

    # --- raw ConfigMap calls (a journal's ObjectApi) -------------------------------------

    def _cm_path(self, name: str | None = None) -> str:
        base = f"/api/v1/namespaces/{self.namespace}/configmaps"
        return f"{base}/{name}" if name else base

    def _req(self, op: Op, method: str, path: str, **kw: Any) -> dict[str, Any]:
        for delay in (*_RETRIES, None):
            try:
                data = self.api.request(op, method, path, **kw)
                return dict(json.loads(data)) if data else {}
            except KubeApiError as e:
                if delay is None or not _retryable(e):
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def get_configmap(self, name: str) -> dict[str, Any] | None:
        try:
            return self._req(
                Op("get", "configmaps", self.namespace, name), "GET", self._cm_path(name)
            )
        except KubeApiError as e:
            if e.status == 404:
                return None
            raise

    def create_configmap(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta["labels"] = {**MANAGED, **(meta.get("labels") or {})}
        return self._req(
            Op("create", "configmaps", self.namespace, meta.get("name")),
            "POST",
            self._cm_path(),
            body=obj,
        )

    def patch_configmap(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._req(
            Op("patch", "configmaps", self.namespace, name),
            "PATCH",
            self._cm_path(name),
            body=body,
            content_type="application/merge-patch+json",
        )

    def list_configmaps(self, selector: str) -> list[dict[str, Any]]:
        doc = self._req(
            Op("list", "configmaps", self.namespace),
            "GET",
            self._cm_path(),
            query=[("labelSelector", selector)],
        )
        return list(doc.get("items") or [])

    def _guard(self, what: str, fn: Callable[[], Any], *, write: bool = False) -> Any:
        """Run a store call; an API failure becomes a :class:`StoreError` line
        (:class:`StoreWriteFailed` for a write: nothing of it was kept)."""
        try:
            return fn()
        except KubeApiError as e:
            cls = StoreWriteFailed if write else StoreError
            raise cls(f"kube store {self.path}: {what}: {e}") from None

    # --- journals ------------------------------------------------------------------------

    def _journal(self, kind: str, run_id: str | None) -> Journal:
        name = f"b2tui-run-{slug(run_id)}-{kind}" if run_id else f"b2tui-{kind}"
        with self._lock:
            j = self._journals.get(name)
            if j is None:
                labels = {KIND: kind, RUN: slug(run_id, 63) if run_id else "none"}
                j = Journal(self, name, labels, self.chunk_bytes)
                self._journals[name] = j
            return j

    # --- runs ------------------------------------------------------------------------------

    @staticmethod
    def run_name(run_id: str) -> str:
        return f"b2tui-run-{slug(run_id)}"

    def create_run(self, rec: RunRecord) -> None:
        """Record a run, lease first: of two hosts starting a run of one service and
        environment at once, one takes the lease and records its run; the other records
        nothing and gets :class:`RunDriven` (:meth:`claim_run` is the usual way in)."""
        owner = f"{rec.created_by} pid {os.getpid()} on {socket.gethostname()}"
        name = self.lease_name(rec.service, rec.environment)
        won, holder, _ = self._take(name, rec.id, owner, 15.0)
        if not won:
            raise RunDriven(holder.owner if holder else "another process")
        self._record_run(rec)

    def _record_run(self, rec: RunRecord) -> None:
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
        obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.run_name(rec.id),
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
        made = self._guard(f"create run {rec.id}", lambda: self.create_configmap(obj), write=True)
        with self._lock:
            self._runs[rec.id] = made

    def _update_run(self, run_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Merge-patch the run ConfigMap with ``change(current)`` under its resourceVersion;
        on a conflict read it again and recompute."""
        name = self.run_name(run_id)
        self.flush()
        for _ in range(10):
            with self._lock:
                cur = self._runs.get(run_id)
            if cur is None:
                cur = self.get_configmap(name)
                if cur is None:
                    raise StoreError(f"kube store {self.path}: run {run_id} does not exist")
            body = change(cur)
            body.setdefault("metadata", {})["resourceVersion"] = cur["metadata"]["resourceVersion"]
            try:
                got = self.patch_configmap(name, body)
            except KubeApiError as e:
                if e.status == 409:
                    with self._lock:
                        self._runs.pop(run_id, None)
                    continue
                raise StoreWriteFailed(
                    f"kube store {self.path}: update run {run_id}: {e}"
                ) from None
            with self._lock:
                self._runs[run_id] = got
            return
        raise StoreError(f"kube store {self.path}: run {run_id}: ten conflicting writes in a row")

    def save_state(self, run_id: str, state: dict[str, Any], clock: datetime) -> None:
        def change(cur: dict[str, Any]) -> dict[str, Any]:
            record = json.loads(cur["data"]["record"])
            record["clock"] = clock.isoformat()
            return {"data": {"state": dumps(mask_data(state)), "record": dumps(record)}}

        self._update_run(run_id, change)

    def finish_run(self, run_id: str, outcome: str, reason: str, at: datetime) -> None:
        def change(cur: dict[str, Any]) -> dict[str, Any]:
            record = json.loads(cur["data"]["record"])
            record.update(
                outcome=outcome,
                reason=mask(reason),
                finished_at=at.isoformat(),
                clock=at.isoformat(),
            )
            return {"metadata": {"labels": {FINISHED: "true"}}, "data": {"record": dumps(record)}}

        self._update_run(run_id, change)

    @staticmethod
    def _record(obj: dict[str, Any]) -> RunRecord:
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

    def get_run(self, run_id: str) -> RunRecord | None:
        obj = self._guard(f"read run {run_id}", lambda: self.get_configmap(self.run_name(run_id)))
        if obj is None:
            return None
        with self._lock:
            self._runs[run_id] = obj
        return self._record(obj)

    def _run_objects(self, selector: str) -> list[RunRecord]:
        items = self._guard(
            "list runs", lambda: self.list_configmaps(f"{KIND}=run,{selector}".rstrip(","))
        )
        recs = [self._record(o) for o in items if "record" in (o.get("data") or {})]
        recs.sort(key=lambda r: (r.started_at, r.id), reverse=True)
        return recs

    def unfinished_run(
        self,
        service: str | None = None,
        *,
        sandbox: bool | None = None,
        environment: str | None = None,
    ) -> RunRecord | None:
        """The newest run without an outcome (for ``service``, kind and environment if
        given)."""
        sel = f"{FINISHED}=false"
        if service:
            sel += f",{SERVICE}={slug(service, 63)}"
        if environment:
            sel += f",{ENVIRONMENT}={slug(environment, 63)}"
        if sandbox is not None:
            sel += f",{SANDBOX}={'true' if sandbox else 'false'}"
        recs = [r for r in self._run_objects(sel) if r.outcome is None]
        if service:
            recs = [r for r in recs if r.service == service]
        return recs[0] if recs else None

    def claim_run(
        self,
        service: str,
        environment: str,
        *,
        sandbox: bool,
        owner: str,
        ttl: float,
        new: RunRecord | None = None,
    ) -> Claim:
        """The active run of ``service`` in ``environment`` and its lease, or ``new`` with
        the lease. The Lease decides: it is taken (an update under the resourceVersion
        read) before a run is recorded, so of two hosts claiming at once exactly one wins;
        the other gets the winner as ``holder`` (and the run once it is recorded)."""
        self.flush()
        name = self.lease_name(service, environment)

        def active() -> RunRecord | None:
            return self.unfinished_run(service, sandbox=sandbox, environment=environment)

        existing = active()
        if existing is None and new is not None:
            new = self._unique(new)
        target = existing or new
        if target is None:
            return Claim(None, False)
        won, holder, previous = self._take(name, target.id, owner, ttl)
        if not won:
            return Claim(existing or active(), False, holder=holder)
        existing = active() or existing
        if existing is not None:
            if existing.id != target.id:  # recorded by the previous holder meanwhile
                self._take(name, existing.id, owner, ttl)
            return Claim(existing, True, previous=previous)
        if new is None:
            self.release_lease(target.id)
            return Claim(None, False)
        self._record_run(new)
        return Claim(new, True, created=True, previous=previous)

    def _unique(self, rec: RunRecord) -> RunRecord:
        """``rec`` with an id no run has yet (two runs of one commit in one second)."""
        from dataclasses import replace

        base, rid, n = rec.id, rec.id, 1
        while self.get_configmap(self.run_name(rid)) is not None:
            n += 1
            rid = f"{base}-{n}"
        if rid == rec.id:
            return rec
        state = dict(rec.state)
        if state.get("run_id") == base:
            state["run_id"] = rid
        return replace(rec, id=rid, state=state)

    def runs(self, limit: int = 100) -> list[RunRecord]:
        return self._run_objects("")[:limit]

    def last_known_good(self, service: str, environment: str) -> dict[str, Any] | None:
        """Rollback target recorded by the newest run of ``service`` to ``environment``."""
        sel = f"{SERVICE}={slug(service, 63)},{ENVIRONMENT}={slug(environment, 63)}"
        for r in self._run_objects(sel)[:1]:
            kg = r.state.get("known_good")
            if kg:
                return dict(kg)
        return None

    def last_time(self, run_id: str) -> datetime | None:
        """Newest run-clock time recorded for a run (its state or its last event)."""
        rec = self.get_run(run_id)
        times = [rec.clock] if rec and rec.clock else []
        evs = self.events(run_id, after=max(0, self._journal("events", run_id).last_seq() - 1))
        if evs:
            times.append(evs[-1][1].ts)
        return max(times) if times else None

    # --- events (written behind, in order) -------------------------------------------------

    def append_event(self, run_id: str, event: Event) -> int:
        j = self._journal("events", run_id)
        text = dumps(mask_data(event.to_dict()))
        with self._idle:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_loop, name="b2tui-kube-store-writer", daemon=True
                )
                self._writer.start()
            self._pending += 1
            self._queue.put((run_id, text))
        return j.last_seq() + self._pending

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 500:
                    nxt = self._queue.get_nowait()
                    if nxt is None:
                        self._queue.put(None)
                        break
                    batch.append(nxt)
            by_run: dict[str, list[str]] = {}
            for run_id, text in batch:
                by_run.setdefault(run_id, []).append(text)
            for run_id, texts in by_run.items():
                delay = 0.2
                while True:
                    try:
                        self._journal("events", run_id).append(texts)
                        self.write_error = None
                        break
                    except KubeApiError as e:
                        self.write_error = str(e)
                        log.warning("kube store: events not written yet (retrying): %s", e)
                        time.sleep(delay)
                        delay = min(delay * 2, 5.0)
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every event handed to :meth:`append_event` is written."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreError(
                        f"kube store {self.path}: {self._pending} events not written:"
                        f" {self.write_error or 'the API server is slow'}"
                    )
                self._idle.wait(left)

    def events(self, run_id: str, after: int = 0) -> list[tuple[int, Event]]:
        j = self._journal("events", run_id)
        fresh = not any(w.live and w.run_id == run_id for w in self._watches)
        rows = self._guard(f"read events of {run_id}", lambda: j.records(after, fresh=fresh))
        return [(seq, event_from_dict(json.loads(text))) for seq, text in rows]

    # --- sign-offs and audit -------------------------------------------------------------

    def sign_off(self, run_id: str, item: str, user: str, run_ts: datetime) -> None:
        rec = {
            "item": item,
            "user": user,
            "run_ts": run_ts.isoformat(),
            "wall_ts": datetime.now().astimezone().isoformat(),
        }
        j = self._journal("signoffs", run_id)
        self._guard("record a sign-off", lambda: j.append([dumps(mask_data(rec))]), write=True)

    def signoffs(self, run_id: str) -> dict[str, tuple[str, datetime]]:
        j = self._journal("signoffs", run_id)
        out: dict[str, tuple[str, datetime]] = {}
        for _, text in self._guard("read sign-offs", lambda: j.records()):
            d = json.loads(text)
            out[d["item"]] = (d["user"], datetime.fromisoformat(d["run_ts"]))
        return out

    def audit(
        self,
        run_id: str | None,
        user: str,
        action: str,
        detail: str = "",
        *,
        accepted: bool = True,
        run_ts: datetime | None = None,
    ) -> None:
        rec = {
            "run_id": run_id,
            "wall_ts": datetime.now().astimezone().isoformat(),
            "run_ts": run_ts.isoformat() if run_ts else None,
            "user": user,
            "action": action,
            "detail": mask(detail),
            "accepted": accepted,
        }
        j = self._journal("audit", run_id)
        self._guard("write the audit log", lambda: j.append([dumps(rec)]), write=True)

    def audit_log(self, run_id: str | None = None) -> list[AuditEntry]:
        if run_id is not None:
            rows = [
                json.loads(t)
                for _, t in self._guard(
                    "read the audit log", lambda: self._journal("audit", run_id).records()
                )
            ]
        else:
            rows = []
            for obj in self._guard(
                "read the audit log", lambda: self.list_configmaps(f"{KIND}=audit")
            ):
                rows += [json.loads(v) for k, v in (obj.get("data") or {}).items() if k.isdigit()]
            rows.sort(key=lambda d: d["wall_ts"])
        return [
            AuditEntry(
                i + 1,
                d["run_id"],
                d["wall_ts"],
                d["run_ts"],
                d["user"],
                d["action"],
                d["detail"],
                bool(d["accepted"]),
            )
            for i, d in enumerate(rows)
        ]

    # --- blobs -----------------------------------------------------------------------------

    def put_blob(self, run_id: str, key: str, value: dict[str, Any]) -> None:
        name = f"{self.run_name(run_id)}-blob-{slug(key)}"
        text = dumps(mask_data(value))

        def write() -> None:
            cur = self.get_configmap(name)
            if cur is None:
                self.create_configmap(
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": name, "labels": {KIND: "blob", RUN: slug(run_id, 63)}},
                        "data": {"value": text},
                    }
                )
            else:
                rv = cur["metadata"]["resourceVersion"]
                self.patch_configmap(
                    name, {"metadata": {"resourceVersion": rv}, "data": {"value": text}}
                )

        self._guard(f"write {key}", write, write=True)

    def get_blob(self, run_id: str, key: str) -> dict[str, Any] | None:
        name = f"{self.run_name(run_id)}-blob-{slug(key)}"
        obj = self._guard(f"read {key}", lambda: self.get_configmap(name))
        return json.loads(obj["data"]["value"]) if obj else None

    # --- the lease -------------------------------------------------------------------------

    def lease_name(self, service: str, environment: str) -> str:
        return f"b2tui-{slug(service, 25)}-{slug(environment, 25)}"

    def _lease_path(self, name: str | None = None) -> str:
        base = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"
        return f"{base}/{name}" if name else base

    def _lease_of(self, run_id: str) -> str:
        with self._lock:
            cached = self._runs.get(run_id)
        rec = self._record(cached) if cached else self.get_run(run_id)
        if rec is None:
            raise StoreError(f"kube store {self.path}: run {run_id} does not exist")
        return self.lease_name(rec.service, rec.environment)

    def _get_lease(self, name: str) -> dict[str, Any] | None:
        try:
            return self._req(
                Op("get", "leases", self.namespace, name), "GET", self._lease_path(name)
            )
        except KubeApiError as e:
            if e.status == 404:
                return None
            raise

    @staticmethod
    def _holder(obj: dict[str, Any]) -> Lease | None:
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

    def acquire_lease(self, run_id: str, owner: str, ttl: float) -> tuple[bool, Lease | None]:
        """Take or renew the driver lease of the run's service and environment.

        Free when absent, released, expired, ours, or held by a dead process on this host.
        The write is an update with the resourceVersion just read: of two hosts racing,
        the API server accepts one and answers 409 to the other, which has lost.
        """
        self.flush()
        name = self._guard("find the lease", lambda: self._lease_of(run_id))
        won, holder, _ = self._take(name, run_id, owner, ttl)
        return won, holder

    def keep_lease(self, run_id: str, owner: str, ttl: float) -> _LeaseKeeper:
        """Renew our lease every ``ttl / 3`` seconds from a thread until stopped."""
        keeper = _LeaseKeeper(self, self._lease_of(run_id), run_id, owner, ttl)
        keeper.start()
        return keeper

    def _take(
        self, name: str, run_id: str, owner: str, ttl: float
    ) -> tuple[bool, Lease | None, Lease | None]:
        """(won, holder now, the lapsed lease of another process this take replaced)."""
        host, pid, now = socket.gethostname(), os.getpid(), time.time()
        seconds = max(1, math.ceil(ttl))
        cur = self._guard(f"read lease {name}", lambda: self._get_lease(name))
        prev = self._holder(cur) if cur else None
        if prev is not None and _held_by_another(prev, now):
            return False, prev, None
        ours = prev is not None and prev.host == host and prev.pid == pid
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
            spec["leaseTransitions"] = int(old_spec.get("leaseTransitions") or 0) + (
                1 if cur else 0
            )
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": spec,
        }
        try:
            if cur is None:
                got = self._req(
                    Op("create", "leases", self.namespace, name),
                    "POST",
                    self._lease_path(),
                    body=body,
                )
            else:
                meta["resourceVersion"] = cur["metadata"]["resourceVersion"]
                got = self._req(
                    Op("update", "leases", self.namespace, name),
                    "PUT",
                    self._lease_path(name),
                    body=body,
                )
        except KubeApiError as e:
            if e.status == 409:  # another host wrote first: it holds the lease now
                latest = self._guard(f"read lease {name}", lambda: self._get_lease(name))
                return False, self._holder(latest) if latest else None, None
            raise StoreWriteFailed(f"kube store {self.path}: lease {name}: {e}") from None
        with self._lock:
            self._leases[run_id] = got
        # The conductor audits a take-over of a lapsed lease (``Claim.previous``).
        return True, self._holder(got), prev if prev is not None and not ours else None

    def lease(self, run_id: str) -> Lease | None:
        name = self._guard("find the lease", lambda: self._lease_of(run_id))
        cur = self._guard(f"read lease {name}", lambda: self._get_lease(name))
        if cur is None:
            return None
        ann = (cur.get("metadata") or {}).get("annotations") or {}
        if ann.get("b2tui.io/run") not in (None, run_id):
            return None
        return self._holder(cur)

    def driver(self, run_id: str) -> Lease | None:
        """The lease of another live process driving ``run_id``, or None if it is free."""
        lease = self.lease(run_id)
        return lease if lease is not None and _held_by_another(lease, time.time()) else None

    def release_lease(self, run_id: str) -> None:
        with contextlib.suppress(StoreError):
            self.flush()
        name = self._lease_of(run_id)
        cur = self._get_lease(name)
        holder = self._holder(cur) if cur else None
        if cur is None or holder is None:
            return
        if holder.host != socket.gethostname() or holder.pid != os.getpid():
            return
        body = {
            "metadata": {"resourceVersion": cur["metadata"]["resourceVersion"]},
            "spec": {"holderIdentity": None, "renewTime": None},
        }
        with contextlib.suppress(KubeApiError):  # a conflict: someone else took it meanwhile
            self._req(
                Op("patch", "leases", self.namespace, name),
                "PATCH",
                self._lease_path(name),
                body=body,
                content_type="application/merge-patch+json",
            )

    # --- following a run -----------------------------------------------------------------

    def follow(self, run_id: str, on_change: Callable[[], None]) -> Callable[[], None]:
        """Watch the run's ConfigMaps; call ``on_change`` (from a thread) after each change
        has reached the cache :meth:`events` reads. Returns the function that stops it."""
        journal = self._journal("events", run_id)

        def seen(obj: dict[str, Any]) -> None:
            journal.observe(obj)
            on_change()

        w = ConfigMapWatch(self, f"{RUN}={slug(run_id, 63)}", seen, run_id=run_id).start()
        self._watches.append(w)

        def stop() -> None:
            w.stop()
            with contextlib.suppress(ValueError):
                self._watches.remove(w)

        return stop

    def close(self) -> None:
        with contextlib.suppress(StoreError):
            self.flush(timeout=10.0)
        for w in list(self._watches):
            w.stop()
        self._queue.put(None)


class _LeaseKeeper(LeaseKeeper):
    """Renews one Lease every ``ttl / 3`` seconds on its own thread.

    A renewal is the same resourceVersion-guarded update as a take: if another process
    took the lease (ours had lapsed), the renewal fails and :attr:`lost` names it. A
    failing API server is retried every second and reported in :attr:`failing`.
    """

    errors = (StoreError, KubeApiError)

    def __init__(self, store: KubeStore, name: str, run_id: str, owner: str, ttl: float) -> None:
        super().__init__(f"b2tui-kube-lease-{run_id}", ttl)
        self._store, self._name, self._run_id, self._owner = store, name, run_id, owner

    def _renew_once(self) -> Lease | None:
        won, holder, _ = self._store._take(self._name, self._run_id, self._owner, self._ttl)
        return None if won else holder
