"""Runs in the cluster: the run ConfigMap (record and state), its blobs, and its events.

``ConfigMap b2tui-run-<run>`` holds the record and the state; its label
``b2tui.io/finished`` selects the unfinished run and the history. Every change is a merge
patch under the resourceVersion last read; a conflict reads again and recomputes.

Events are written behind (:class:`EventWriter`): a writer thread sends what the engine
emitted in batches, in order, to the run's events journal, so a build streaming a
thousand log lines costs a handful of requests and never blocks the event loop. Every
other write waits for the pending events first, keeping the order; a SIGKILL loses at
most the events of the last moments, never state.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from b2tui.adapters.kube.errors import KubeApiError
from b2tui.adapters.kube_store.api import NamespaceApi
from b2tui.adapters.kube_store.objects import (
    FINISHED,
    KIND,
    RUN,
    blob_name,
    dumps,
    run_configmap,
    run_name,
    run_record,
    run_selector,
    slug,
)
from b2tui.adapters.store.common import known_good, unique_run
from b2tui.domain.events import Event, event_from_dict
from b2tui.masking import mask, mask_data
from b2tui.ports import RunRecord, StoreError, StoreWriteFailed

log = logging.getLogger(__name__)


class Runs:
    """The run ConfigMaps of one namespace.

    Args:
        api: the namespace's calls.
        flush: waits until the events handed over so far are written (before each write).
    """

    def __init__(self, api: NamespaceApi, flush: Callable[[], None]) -> None:
        self.api = api
        self._flush = flush
        self._objects: dict[str, dict[str, Any]] = {}
        """Run ConfigMaps as last read or written (for their resourceVersion)."""
        self._lock = threading.Lock()

    def record(self, rec: RunRecord) -> None:
        """Create the ConfigMap of ``rec`` (the caller holds the lease)."""
        obj = run_configmap(rec)
        made = self.api.guard(
            f"create run {rec.id}", lambda: self.api.create_configmap(obj), write=True
        )
        with self._lock:
            self._objects[rec.id] = made

    def _update(self, run_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Merge-patch the run ConfigMap with ``change(current)`` under its resourceVersion;
        on a conflict read it again and recompute."""
        name = run_name(run_id)
        self._flush()
        for _ in range(10):
            with self._lock:
                cur = self._objects.get(run_id)
            if cur is None:
                cur = self.api.get_configmap(name)
                if cur is None:
                    raise StoreError(f"kube store {self.api.path}: run {run_id} does not exist")
            body = change(cur)
            body.setdefault("metadata", {})["resourceVersion"] = cur["metadata"]["resourceVersion"]
            try:
                got = self.api.patch_configmap(name, body)
            except KubeApiError as e:
                if e.status == 409:
                    with self._lock:
                        self._objects.pop(run_id, None)
                    continue
                raise StoreWriteFailed(
                    f"kube store {self.api.path}: update run {run_id}: {e}"
                ) from None
            with self._lock:
                self._objects[run_id] = got
            return
        raise StoreError(
            f"kube store {self.api.path}: run {run_id}: ten conflicting writes in a row"
        )

    def save_state(self, run_id: str, state: dict[str, Any], clock: datetime) -> None:
        def change(cur: dict[str, Any]) -> dict[str, Any]:
            record = json.loads(cur["data"]["record"])
            record["clock"] = clock.isoformat()
            return {"data": {"state": dumps(mask_data(state)), "record": dumps(record)}}

        self._update(run_id, change)

    def finish(self, run_id: str, outcome: str, reason: str, at: datetime) -> None:
        def change(cur: dict[str, Any]) -> dict[str, Any]:
            record = json.loads(cur["data"]["record"])
            record.update(
                outcome=outcome,
                reason=mask(reason),
                finished_at=at.isoformat(),
                clock=at.isoformat(),
            )
            return {"metadata": {"labels": {FINISHED: "true"}}, "data": {"record": dumps(record)}}

        self._update(run_id, change)

    def get(self, run_id: str) -> RunRecord | None:
        obj = self.api.guard(f"read run {run_id}", lambda: self.api.get_configmap(run_name(run_id)))
        if obj is None:
            return None
        with self._lock:
            self._objects[run_id] = obj
        return run_record(obj)

    def known(self, run_id: str) -> RunRecord | None:
        """The run as last read or written here, else as the server has it."""
        with self._lock:
            cached = self._objects.get(run_id)
        return run_record(cached) if cached else self.get(run_id)

    def matching(self, selector: str) -> list[RunRecord]:
        """The runs ``selector`` selects, newest first."""
        items = self.api.guard("list runs", lambda: self.api.list_configmaps(selector))
        recs = [run_record(o) for o in items if "record" in (o.get("data") or {})]
        recs.sort(key=lambda r: (r.started_at, r.id), reverse=True)
        return recs

    def unfinished(
        self, service: str | None, *, sandbox: bool | None, environment: str | None
    ) -> RunRecord | None:
        sel = run_selector(
            finished=False, service=service, environment=environment, sandbox=sandbox
        )
        recs = [r for r in self.matching(sel) if r.outcome is None]
        if service:
            recs = [r for r in recs if r.service == service]
        return recs[0] if recs else None

    def unique(self, rec: RunRecord) -> RunRecord:
        """``rec`` with an id no run has yet (two runs of one commit in one second)."""
        return unique_run(rec, lambda rid: self.api.get_configmap(run_name(rid)) is not None)

    def last_known_good(self, service: str, environment: str) -> dict[str, Any] | None:
        newest = self.matching(run_selector(service=service, environment=environment))[:1]
        return known_good(newest[0] if newest else None)

    # --- blobs ---------------------------------------------------------------------------

    def put_blob(self, run_id: str, key: str, value: dict[str, Any]) -> None:
        name = blob_name(run_id, key)
        text = dumps(mask_data(value))

        def write() -> None:
            cur = self.api.get_configmap(name)
            if cur is None:
                self.api.create_configmap(
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": name, "labels": {KIND: "blob", RUN: slug(run_id, 63)}},
                        "data": {"value": text},
                    }
                )
            else:
                rv = cur["metadata"]["resourceVersion"]
                self.api.patch_configmap(
                    name, {"metadata": {"resourceVersion": rv}, "data": {"value": text}}
                )

        self.api.guard(f"write {key}", write, write=True)

    def get_blob(self, run_id: str, key: str) -> dict[str, Any] | None:
        name = blob_name(run_id, key)
        obj = self.api.guard(f"read {key}", lambda: self.api.get_configmap(name))
        return json.loads(obj["data"]["value"]) if obj else None


class EventWriter:
    """Writes the runs' events behind, in order, from one thread started on first use.

    Args:
        api: the namespace's calls (the events journals).
    """

    def __init__(self, api: NamespaceApi) -> None:
        self.api = api
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._idle = threading.Condition()
        self._pending = 0
        self.write_error: str | None = None
        """The writer thread's last failure (it retries); None once a write got through."""

    def append(self, run_id: str, event: Event) -> int:
        """Hand ``event`` to the writer; its sequence number once written."""
        j = self.api.journal("events", run_id)
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
                        self.api.journal("events", run_id).append(texts)
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
        """Wait until every event handed to :meth:`append` is written."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreError(
                        f"kube store {self.api.path}: {self._pending} events not written:"
                        f" {self.write_error or 'the API server is slow'}"
                    )
                self._idle.wait(left)

    def read(self, run_id: str, after: int, *, fresh: bool) -> list[tuple[int, Event]]:
        """The events of ``run_id`` after sequence number ``after``; ``fresh``: read the
        newest chunk from the server (no watch keeps the cache current)."""
        j = self.api.journal("events", run_id)
        rows = self.api.guard(f"read events of {run_id}", lambda: j.records(after, fresh=fresh))
        return [(seq, event_from_dict(json.loads(text))) for seq, text in rows]

    def stop(self) -> None:
        """End the writer thread once the events queued so far are written."""
        self._queue.put(None)
