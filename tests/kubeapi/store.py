"""Object store of the test API server: resource types, one resourceVersion counter, history.

The store is the single source of truth shared by the HTTP handlers and the controllers.
Every write goes through :meth:`Store.put` / :meth:`Store.remove`, which bump the global
resourceVersion, append a watch event to the history (what a resumed watch replays) and
hand the event to every live watch queue.
"""

from __future__ import annotations

import bisect
import builtins
import contextlib
import copy
import queue
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]


def now_iso() -> str:
    """RFC 3339 UTC timestamp with second precision, as the API server writes them."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the URL space and what it is called."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    bump_generation: bool = False
    """Whether a change of ``spec`` increments ``metadata.generation`` (workloads do)."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """``plural.group`` (``deployments.apps``; just ``pods`` for the core group)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular(self) -> str:
        return self.kind.lower()


_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",)),
    ResourceType("", "v1", "pods", "Pod", short_names=("po",), subresources=("log", "status")),
    ResourceType("", "v1", "services", "Service", short_names=("svc",)),
    ResourceType("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    ResourceType("", "v1", "events", "Event", short_names=("ev",)),
    ResourceType(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short_names=("deploy",),
        subresources=("status", "scale"),
        bump_generation=True,
    ),
    ResourceType(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        short_names=("rs",),
        subresources=("status", "scale"),
        bump_generation=True,
    ),
    ResourceType(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        short_names=("ing",),
        bump_generation=True,
    ),
    ResourceType(
        "gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", bump_generation=True
    ),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease"),
)

BY_KIND: dict[str, ResourceType] = {r.kind: r for r in RESOURCES}


def resource_for(group: str, version: str, plural: str) -> ResourceType | None:
    """The served resource at ``/apis/<group>/<version>/<plural>`` (core group: ``""``)."""
    for r in RESOURCES:
        if r.group == group and r.version == version and r.plural == plural:
            return r
    return None


def verbs() -> list[str]:
    return list(_VERBS)


@dataclass
class Event:
    """One change, as a watch sends it."""

    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    resource: ResourceType
    namespace: str
    obj: Obj
    prev: Obj | None = None
    """The object before this change (for selector transitions in watches)."""


@dataclass(eq=False)
class WatchQueue:
    """A live watch: the events it still has to send, and whether it was cut off."""

    resource: ResourceType
    namespace: str | None
    events: queue.Queue[Event | None] = field(default_factory=queue.Queue)
    dropped: bool = False
    closers: list[Any] = field(default_factory=list)
    """Callables that close the watch's socket, for :meth:`Store.drop_watches`."""


class Gone(Exception):
    """A watch asked for a resourceVersion older than the compaction point (HTTP 410)."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")


class Store:
    """Thread-safe objects, resourceVersion counter, event history and live watches."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._rv = 1
        self._objects: dict[tuple[str, str, str], Obj] = {}
        self._history: list[Event] = []
        self._history_rvs: list[int] = []
        self._compacted = 0
        self._watches: set[WatchQueue] = set()

    # --- reading ---------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        with self.lock:
            return str(self._rv)

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        """A deep copy of the object, or ``None``."""
        with self.lock:
            obj = self._objects.get((rt.key, namespace if rt.namespaced else "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, rt: ResourceType, namespace: str | None = None) -> list[Obj]:
        """Deep copies of the objects of one type (all namespaces when ``namespace`` is None)."""
        with self.lock:
            out = [
                copy.deepcopy(o)
                for (key, ns, _), o in self._objects.items()
                if key == rt.key and (namespace is None or not rt.namespaced or ns == namespace)
            ]
        out.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return out

    # --- writing ---------------------------------------------------------------------------

    def put(self, rt: ResourceType, obj: Obj, *, dry_run: bool = False) -> Obj:
        """Create or replace ``obj``; fills server-owned metadata; returns the stored copy.

        Callers have already decided create vs. update and checked preconditions; ``put``
        keeps the invariants (uid, creationTimestamp, generation, resourceVersion). A write
        that changes nothing is a no-op and keeps the resourceVersion, as in Kubernetes.
        With ``dry_run`` the result is computed but neither stored nor announced.
        """
        with self.lock:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            ns = meta.get("namespace", "") if rt.namespaced else ""
            if not rt.namespaced:
                meta.pop("namespace", None)
            key = (rt.key, ns, meta["name"])
            old = self._objects.get(key)
            obj["kind"] = rt.kind
            obj["apiVersion"] = rt.api_version
            if old is None:
                meta["uid"] = str(uuid.uuid4())
                meta["creationTimestamp"] = now_iso()
                if rt.bump_generation:
                    meta["generation"] = 1
                meta.pop("resourceVersion", None)
                etype = "ADDED"
            else:
                om = old["metadata"]
                meta["uid"] = om["uid"]
                meta["creationTimestamp"] = om["creationTimestamp"]
                meta["resourceVersion"] = om["resourceVersion"]
                if rt.bump_generation:
                    gen = om.get("generation", 1)
                    meta["generation"] = gen + 1 if obj.get("spec") != old.get("spec") else gen
                if obj == old:
                    return copy.deepcopy(old)
                etype = "MODIFIED"
            if dry_run:
                return obj
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            self._objects[key] = obj
            self._record(Event(self._rv, etype, rt, ns, obj, old))
            return copy.deepcopy(obj)

    def remove(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        """Delete an object; returns its last state (with the deletion's resourceVersion)."""
        with self.lock:
            key = (rt.key, namespace if rt.namespaced else "", name)
            old = self._objects.pop(key, None)
            if old is None:
                return None
            self._rv += 1
            gone = copy.deepcopy(old)
            gone["metadata"]["resourceVersion"] = str(self._rv)
            self._record(Event(self._rv, "DELETED", rt, key[1], gone, old))
            return copy.deepcopy(gone)

    def _record(self, ev: Event) -> None:
        self._history.append(ev)
        self._history_rvs.append(ev.rv)
        for w in list(self._watches):
            if w.resource.key == ev.resource.key and (
                w.namespace is None or w.namespace == ev.namespace
            ):
                w.events.put(ev)

    # --- watches ---------------------------------------------------------------------------

    def open_watch(
        self, rt: ResourceType, namespace: str | None, since: int | None
    ) -> tuple[WatchQueue, builtins.list[Event]]:
        """Register a live watch; returns it with the events to send first.

        ``since`` None means "current state": synthetic ADDED events for every object.
        Otherwise the history after ``since`` is replayed; :class:`Gone` when compacted.
        """
        with self.lock:
            if since is None:
                first = [
                    Event(self._rv, "ADDED", rt, o["metadata"].get("namespace", ""), o)
                    for o in self.list(rt, namespace)
                ]
            else:
                if since < self._compacted:
                    raise Gone(since, self._compacted)
                start = bisect.bisect_right(self._history_rvs, since)
                first = [
                    e
                    for e in self._history[start:]
                    if e.resource.key == rt.key and (namespace is None or namespace == e.namespace)
                ]
            w = WatchQueue(rt, namespace)
            self._watches.add(w)
            return w, first

    def close_watch(self, w: WatchQueue) -> None:
        with self.lock:
            self._watches.discard(w)

    def drop_watches(self) -> None:
        """Cut every live watch off mid-stream, as a restarting API server or LB does."""
        with self.lock:
            watches = list(self._watches)
            self._watches.clear()
        for w in watches:
            w.dropped = True
            w.events.put(None)
            for close in w.closers:
                with contextlib.suppress(OSError):
                    close()

    def compact(self) -> None:
        """Forget the history: resuming from any resourceVersion before now gives 410."""
        with self.lock:
            self._compacted = self._rv
            self._history.clear()
            self._history_rvs.clear()
