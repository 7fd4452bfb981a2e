"""An append-only log in ConfigMaps: numbered chunks under the 1 MiB object limit.

A journal named ``P`` is the ConfigMaps ``P-0``, ``P-1``, … Each holds records under
zero-padded sequence keys (``0000000042``: JSON text), all sequence numbers of chunk
``n`` below those of chunk ``n + 1``. Only the newest chunk grows. Every write carries
the resourceVersion it was computed from (a merge patch with ``metadata.resourceVersion``
is a precondition on the API server): two writers never give out one number twice, and a
write computed from a stale chunk is refused with 409 and redone from a fresh read.

A full chunk is first *closed* (annotation ``b2tui.io/closed``, again with its
resourceVersion, so a late append to it fails), then the next one is created; a writer
killed between the two leaves a closed last chunk, and the next writer creates the
successor. A closed chunk never changes again, so a reader caches it and from then on
reads only the newest chunk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from b2tui.adapters.kube.errors import KubeApiError

CHUNK_BYTES = 64 * 1024
"""Bytes of records per chunk. Far below the 1 MiB limit on purpose: the API server
writes the whole object to etcd on every append, so a small chunk keeps that cheap."""

CLOSED = "b2tui.io/closed"
KEY_WIDTH = 10


def key(seq: int) -> str:
    return f"{seq:0{KEY_WIDTH}d}"


class Conflict(Exception):
    """A precondition failed (409); read again and retry."""


@dataclass
class Chunk:
    index: int
    resource_version: str
    records: dict[int, str] = field(default_factory=dict)
    closed: bool = False

    @property
    def size(self) -> int:
        return sum(len(v) + KEY_WIDTH for v in self.records.values())

    @property
    def last(self) -> int:
        return max(self.records, default=0)


class ObjectApi(Protocol):
    """The ConfigMap calls a journal needs (the store implements them)."""

    def get_configmap(self, name: str) -> dict[str, Any] | None: ...

    def create_configmap(self, obj: dict[str, Any]) -> dict[str, Any]: ...

    def patch_configmap(self, name: str, body: dict[str, Any]) -> dict[str, Any]: ...


def chunk_from(obj: Mapping[str, Any], index: int) -> Chunk:
    meta = obj.get("metadata") or {}
    data = obj.get("data") or {}
    records = {int(k): str(v) for k, v in data.items() if k.isdigit()}
    return Chunk(
        index,
        str(meta.get("resourceVersion") or ""),
        records,
        (meta.get("annotations") or {}).get(CLOSED) == "true",
    )


class Journal:
    """One append-only log.

    Args:
        api: ConfigMap get/create/patch (merge patch) for the store's namespace.
        prefix: object name prefix (``b2tui-<run>-events``).
        labels: labels every chunk carries (kind, run, service).
        chunk_bytes: bytes of records per chunk before a new one is started.
    """

    def __init__(
        self,
        api: ObjectApi,
        prefix: str,
        labels: Mapping[str, str],
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.api = api
        self.prefix = prefix
        self.labels = dict(labels)
        self.chunk_bytes = chunk_bytes
        self._chunks: dict[int, Chunk] = {}
        self._lock = threading.RLock()

    def name(self, index: int) -> str:
        return f"{self.prefix}-{index}"

    # --- reading ------------------------------------------------------------------------

    def observe(self, obj: Mapping[str, Any]) -> None:
        """Take a chunk seen elsewhere (a watch event) into the cache if it is newer."""
        name = str((obj.get("metadata") or {}).get("name") or "")
        tail = name.removeprefix(self.prefix + "-")
        if not name.startswith(self.prefix + "-") or not tail.isdigit():
            return
        chunk = chunk_from(obj, int(tail))
        with self._lock:
            have = self._chunks.get(chunk.index)
            if have is None or _rv(chunk.resource_version) >= _rv(have.resource_version):
                self._chunks[chunk.index] = chunk

    def refresh(self) -> None:
        """Read the chunks that may have changed: the newest cached one onwards."""
        with self._lock:
            start = self._open_index()
            index = start
            while True:
                obj = self.api.get_configmap(self.name(index))
                if obj is None:
                    break
                self._chunks[index] = chunk_from(obj, index)
                index += 1

    def _open_index(self) -> int:
        """The first chunk that may still change (the newest cached, or 0)."""
        if not self._chunks:
            return 0
        return max(self._chunks)

    def records(self, after: int = 0, *, fresh: bool = True) -> list[tuple[int, str]]:
        """Records with a sequence number above ``after``, in order."""
        with self._lock:
            if fresh:
                self.refresh()
            out = [
                (seq, text)
                for index in sorted(self._chunks)
                for seq, text in self._chunks[index].records.items()
                if seq > after
            ]
        out.sort()
        return out

    def last_seq(self) -> int:
        with self._lock:
            return max((c.last for c in self._chunks.values()), default=0)

    # --- writing ------------------------------------------------------------------------

    def append(self, texts: list[str], attempts: int = 20) -> list[int]:
        """Append records (in order); return their sequence numbers."""
        if not texts:
            return []
        with self._lock:
            for _ in range(attempts):
                try:
                    return self._append_once(texts)
                except Conflict:
                    self.refresh()
            raise KubeApiError(
                f"configmap {self.prefix}: {attempts} conflicting writes in a row; try again", 409
            )

    def append_linked(self, build: Callable[[str | None], str], attempts: int = 20) -> int:
        """Append one record computed from the journal's last record (None: empty), as a
        hash chain needs; return its sequence number. The write carries the resourceVersion
        the last record was read under, so a record another writer appended meanwhile
        makes it fail (409) and the record is built again from a fresh read."""
        with self._lock:
            if not self._chunks:
                self.refresh()
            for _ in range(attempts):
                last = self._last_record()
                try:
                    return self._append_once([build(last)])[0]
                except Conflict:
                    self.refresh()
            raise KubeApiError(
                f"configmap {self.prefix}: {attempts} conflicting writes in a row; try again", 409
            )

    def _last_record(self) -> str | None:
        for index in sorted(self._chunks, reverse=True):
            records = self._chunks[index].records
            if records:
                return records[max(records)]
        return None

    def _append_once(self, texts: list[str]) -> list[int]:
        if not self._chunks:
            self.refresh()
        out: list[int] = []
        pending = list(texts)
        while pending:
            if not self._chunks:
                seq = 1
                batch = self._fit(pending, 0)
                self._create(0, {key(seq + i): t for i, t in enumerate(batch)})
                out += range(seq, seq + len(batch))
                del pending[: len(batch)]
                continue
            last = self._chunks[max(self._chunks)]
            seq = last.last + 1 if last.records else self._first_of(last.index)
            batch = self._fit(pending, last.size)
            if last.closed or (not batch and last.records):
                if not last.closed:
                    self._close(last)
                nxt = self._fit(pending, 0)
                self._create(last.index + 1, {key(seq + i): t for i, t in enumerate(nxt)})
                out += range(seq, seq + len(nxt))
                del pending[: len(nxt)]
                continue
            if not batch:  # one record bigger than a chunk: it gets an empty chunk of its own
                batch = pending[:1]
            body = {
                "metadata": {"resourceVersion": last.resource_version},
                "data": {key(seq + i): t for i, t in enumerate(batch)},
            }
            obj = self._patch(last.index, body)
            self._chunks[last.index] = chunk_from(obj, last.index)
            out += range(seq, seq + len(batch))
            del pending[: len(batch)]
        return out

    def _first_of(self, index: int) -> int:
        before = [c.last for i, c in self._chunks.items() if i < index]
        return max(before, default=0) + 1

    def _fit(self, pending: list[str], used: int) -> list[str]:
        """The longest prefix of ``pending`` that fits in a chunk holding ``used`` bytes."""
        out: list[str] = []
        for t in pending:
            used += len(t) + KEY_WIDTH
            if used > self.chunk_bytes and (out or used - len(t) - KEY_WIDTH > 0):
                break
            out.append(t)
        return out

    def _patch(self, index: int, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.api.patch_configmap(self.name(index), body)
        except KubeApiError as e:
            if e.status in (404, 409):
                raise Conflict() from None
            raise

    def _close(self, chunk: Chunk) -> None:
        body = {
            "metadata": {
                "resourceVersion": chunk.resource_version,
                "annotations": {CLOSED: "true"},
            }
        }
        obj = self._patch(chunk.index, body)
        self._chunks[chunk.index] = chunk_from(obj, chunk.index)

    def _create(self, index: int, data: dict[str, str]) -> None:
        obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.name(index),
                "labels": {**self.labels, "b2tui.io/chunk": str(index)},
            },
            "data": data,
        }
        try:
            made = self.api.create_configmap(obj)
        except KubeApiError as e:
            if e.status == 409:  # another writer made it first
                raise Conflict() from None
            raise
        self._chunks[index] = chunk_from(made, index)


def _rv(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0
