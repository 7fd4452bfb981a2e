"""The controllers a Deployment needs to roll out: deployment, replicaset, kubelet, GC.

One background thread ticks every ~50 ms and, holding the store lock, reconciles every
object once. Writes that change nothing do not bump the resourceVersion (see
:meth:`Store.put`), so an idle cluster produces no watch events.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .store import BY_KIND, Obj, Store, now_iso

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes' rand.SafeEncodeString
CRASH_INTERVAL = 1.0
"""Seconds between restarts of a crash-looping container (restartCount grows this fast)."""

DEPLOY = BY_KIND["Deployment"]
RS = BY_KIND["ReplicaSet"]
POD = BY_KIND["Pod"]


def template_hash(template: dict[str, Any]) -> str:
    """Stable short hash of a pod template, ignoring its own ``pod-template-hash`` label."""
    t = copy.deepcopy(template)
    (t.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    digest = int.from_bytes(
        hashlib.sha256(json.dumps(t, sort_keys=True).encode()).digest()[:8], "big"
    )
    out = []
    for _ in range(10):
        digest, r = divmod(digest, len(_SAFE))
        out.append(_SAFE[r])
    return "".join(out)


def revision(obj: Obj) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _owned_by(obj: Obj, uid: str) -> bool:
    return any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])


def _owner_ref(owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _int_or_percent(value: Any, total: int, default: str, round_up: bool) -> int:
    v = default if value is None else value
    if isinstance(v, int):
        return v
    pct = int(str(v).rstrip("%"))
    q, r = divmod(total * pct, 100)
    return q + (1 if round_up and r else 0)


def _condition(
    old: list[dict[str, Any]], ctype: str, status: str, reason: str, message: str
) -> dict[str, Any]:
    """A condition keeping the old timestamps while nothing about it changed."""
    prev = next((c for c in old if c.get("type") == ctype), None)
    now = now_iso()
    if prev and (prev.get("status"), prev.get("reason"), prev.get("message")) == (
        status,
        reason,
        message,
    ):
        return prev
    return {
        "type": ctype,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": (
            prev["lastTransitionTime"]
            if prev and prev.get("status") == status and "lastTransitionTime" in prev
            else now
        ),
        "reason": reason,
        "message": message,
    }


@dataclass
class Settings:
    """Knobs shared with :class:`KubeApiServer` (mutable while running)."""

    ready_delay: float = 0.2
    progress_deadline: float | None = None
    crash_images: set[str] = field(default_factory=lambda: {"crash"})


class Controllers:
    """Deployment, ReplicaSet, kubelet and garbage-collector loops over one :class:`Store`."""

    def __init__(self, store: Store, settings: Settings, tick: float = 0.05) -> None:
        self.store = store
        self.settings = settings
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._born: dict[str, float] = {}  # pod uid -> monotonic creation time
        self._started: dict[str, str] = {}  # pod uid -> startedAt timestamp
        self._progress: dict[str, tuple[tuple[Any, ...], float]] = {}
        self.errors: list[str] = []
        """Reconcile failures (a bug in the test server), kept for debugging."""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kubeapi-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.reconcile()
            except Exception as exc:  # keep ticking: one bad object must not stop the world
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def reconcile(self) -> None:
        """One pass of every controller, atomically with respect to API requests."""
        with self.store.lock:
            self._collect_garbage()
            now = time.monotonic()
            for pod in self.store.list(POD):
                self._kubelet(pod, now)
            for rs in self.store.list(RS):
                self._replicaset(rs)
            for d in self.store.list(DEPLOY):
                self._deployment(d, now)

    # --- garbage collector -----------------------------------------------------------------

    def _collect_garbage(self) -> None:
        # Owners first, so a deleted Deployment takes its ReplicaSets and then their pods.
        for rt in (RS, POD):
            uids = {
                o["metadata"]["uid"]
                for k in ("Deployment", "ReplicaSet")
                for o in self.store.list(BY_KIND[k])
            }
            for obj in self.store.list(rt):
                refs = [
                    r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")
                ]
                if refs and not any(r.get("uid") in uids for r in refs):
                    self.store.remove(rt, obj["metadata"]["namespace"], obj["metadata"]["name"])
        live = {p["metadata"]["uid"] for p in self.store.list(POD)}
        for uid in list(self._born):
            if uid not in live:
                self._born.pop(uid, None)
                self._started.pop(uid, None)

    # --- kubelet ---------------------------------------------------------------------------

    def _kubelet(self, pod: Obj, now: float) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        uid = meta["uid"]
        born = self._born.setdefault(uid, now)
        age = now - born
        containers = spec.get("containers") or []
        created = meta["creationTimestamp"]
        spec.setdefault("nodeName", "node-1")
        old_status = pod.get("status") or {}
        status: dict[str, Any] = {
            "hostIP": "10.0.0.1",
            "startTime": created,
            "qosClass": "BestEffort",
        }
        conds = old_status.get("conditions") or []
        crashing = any(
            marker in (c.get("image") or "")
            for c in containers
            for marker in self.settings.crash_images
        )
        if age < self.settings.ready_delay:
            status["phase"] = "Pending"
            ready = False
            statuses = [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                }
                for c in containers
            ]
        else:
            started = self._started.setdefault(uid, now_iso())
            status["phase"] = "Running"
            status["podIP"] = _pod_ip(uid)
            status["podIPs"] = [{"ip": status["podIP"]}]
            restarts = 1 + int((age - self.settings.ready_delay) / CRASH_INTERVAL)
            ready = not crashing
            statuses = []
            for c in containers:
                image = c.get("image", "")
                base = {
                    "name": c["name"],
                    "image": image,
                    "imageID": f"{image}@sha256:{hashlib.sha256(image.encode()).hexdigest()}",
                    "containerID": "containerd://"
                    + hashlib.sha256((uid + c["name"]).encode()).hexdigest(),
                }
                if crashing:
                    base.update(
                        ready=False,
                        started=False,
                        restartCount=restarts,
                        state={
                            "waiting": {
                                "reason": "CrashLoopBackOff",
                                "message": f"back-off 10s restarting failed container={c['name']}"
                                f" pod={meta['name']}_{meta['namespace']}({uid})",
                            }
                        },
                        lastState={
                            "terminated": {
                                "exitCode": 1,
                                "reason": "Error",
                                "startedAt": started,
                                "finishedAt": started,
                            }
                        },
                    )
                else:
                    base.update(
                        ready=True,
                        started=True,
                        restartCount=0,
                        state={"running": {"startedAt": started}},
                    )
                statuses.append(base)
        names = ",".join(c["name"] for c in containers)
        not_ready = ("ContainersNotReady", f"containers with unready status: [{names}]")
        status["conditions"] = [
            _pod_condition(conds, "Initialized", "True", "", ""),
            _pod_condition(
                conds, "Ready", "True" if ready else "False", *(("", "") if ready else not_ready)
            ),
            _pod_condition(
                conds,
                "ContainersReady",
                "True" if ready else "False",
                *(("", "") if ready else not_ready),
            ),
            _pod_condition(conds, "PodScheduled", "True", "", ""),
        ]
        status["containerStatuses"] = statuses
        pod["status"] = status
        self.store.put(POD, pod)

    # --- replicaset ------------------------------------------------------------------------

    def _replicaset(self, rs: Obj) -> None:
        meta, spec = rs["metadata"], rs.get("spec") or {}
        ns, uid = meta["namespace"], meta["uid"]
        want = int(spec.get("replicas", 1))
        pods = [p for p in self.store.list(POD, ns) if _owned_by(p, uid)]
        if len(pods) < want:
            for _ in range(want - len(pods)):
                self._create_pod(rs)
        elif len(pods) > want:
            # Remove unready and young pods first, as the ReplicaSet controller does.
            pods.sort(key=lambda p: (_pod_ready(p), p["metadata"]["creationTimestamp"]))
            for p in pods[: len(pods) - want]:
                self.store.remove(POD, ns, p["metadata"]["name"])
        pods = [p for p in self.store.list(POD, ns) if _owned_by(p, uid)]
        ready = sum(1 for p in pods if _pod_ready(p))
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        rs["status"] = {
            "replicas": len(pods),
            "fullyLabeledReplicas": sum(
                1
                for p in pods
                if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
            ),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": meta.get("generation", 1),
        }
        # The API server omits zero counts; so do we, so clients see the same shape.
        rs["status"] = {k: v for k, v in rs["status"].items() if v or k == "replicas"}
        self.store.put(RS, rs)

    def _create_pod(self, rs: Obj) -> None:
        meta, tmpl = rs["metadata"], copy.deepcopy((rs.get("spec") or {}).get("template") or {})
        suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        pmeta = tmpl.get("metadata") or {}
        pod = {
            "metadata": {
                "name": f"{meta['name']}-{suffix}",
                "namespace": meta["namespace"],
                "labels": pmeta.get("labels") or {},
                "annotations": pmeta.get("annotations") or {},
                "ownerReferences": [_owner_ref(rs)],
            },
            "spec": {**(tmpl.get("spec") or {}), "nodeName": "node-1"},
            "status": {"phase": "Pending"},
        }
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        self.store.put(POD, pod)

    # --- deployment ------------------------------------------------------------------------

    def _deployment(self, d: Obj, now: float) -> None:
        meta, spec = d["metadata"], d.get("spec") or {}
        ns, uid = meta["namespace"], meta["uid"]
        template = spec.get("template") or {}
        h = template_hash(template)
        desired = int(spec.get("replicas", 1))
        rses = [r for r in self.store.list(RS, ns) if _owned_by(r, uid)]
        new = next(
            (r for r in rses if (r["metadata"].get("labels") or {}).get(HASH_LABEL) == h), None
        )
        olds = [r for r in rses if r is not new]
        max_old = max((revision(r) for r in olds), default=0)
        if spec.get("paused"):
            return
        if new is None:
            new = self._create_rs(d, h, max_old + 1)
        elif revision(new) <= max_old:
            # Rolling back to an old template reuses its ReplicaSet with a fresh revision.
            new["metadata"].setdefault("annotations", {})[REVISION] = str(max_old + 1)
            new = self.store.put(RS, new)
        rev = str(revision(new))
        if (meta.get("annotations") or {}).get(REVISION) != rev:
            meta.setdefault("annotations", {})[REVISION] = rev
            d = self.store.put(DEPLOY, d)
            meta = d["metadata"]

        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        new_status = new.get("status") or {}
        old_pods = sum((r.get("status") or {}).get("replicas", 0) for r in olds)
        if recreate:
            for r in olds:
                self._scale(r, 0)
            if old_pods == 0:
                self._scale(new, desired)
        else:
            self._scale(new, desired)
            new_available = new_status.get("availableReplicas", 0)
            if new_available >= desired and new_status.get("replicas", 0) == desired:
                for r in olds:
                    self._scale(r, 0)

        rses = [r for r in self.store.list(RS, ns) if _owned_by(r, uid)]
        new = next(r for r in rses if r["metadata"]["name"] == new["metadata"]["name"])
        new_status = new.get("status") or {}
        total = sum((r.get("status") or {}).get("replicas", 0) for r in rses)
        ready = sum((r.get("status") or {}).get("readyReplicas", 0) for r in rses)
        available = sum((r.get("status") or {}).get("availableReplicas", 0) for r in rses)
        updated = new_status.get("replicas", 0)
        spec_total = sum(int((r.get("spec") or {}).get("replicas", 0)) for r in rses)
        max_unavailable = _int_or_percent(
            ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable"),
            desired,
            "25%",
            round_up=False,
        )
        old_status = d.get("status") or {}
        old_conds = old_status.get("conditions") or []
        available_cond = (
            _condition(
                old_conds,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
            if available >= desired - (0 if recreate else max_unavailable)
            else _condition(
                old_conds,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        )
        rs_name = new["metadata"]["name"]
        signature = (rs_name, meta.get("generation"), total, updated, ready, available)
        prev = self._progress.get(uid)
        if prev is None or prev[0] != signature:
            self._progress[uid] = (signature, now)
        since = self._progress[uid][1]
        deadline = self.settings.progress_deadline
        if deadline is None:
            deadline = float(spec.get("progressDeadlineSeconds", 600))
        complete = updated == desired and total == desired and available == desired
        if complete:
            progressing = _condition(
                old_conds,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif now - since > deadline:
            progressing = _condition(
                old_conds,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        else:
            progressing = _condition(
                old_conds,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" is progressing.',
            )
        status: dict[str, Any] = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(spec_total - available, 0),
            "conditions": [available_cond, progressing],
        }
        status = {k: v for k, v in status.items() if v or k in ("observedGeneration", "conditions")}
        if status != old_status:
            d["status"] = status
            self.store.put(DEPLOY, d)

    def _create_rs(self, d: Obj, h: str, rev: int) -> Obj:
        meta, spec = d["metadata"], d.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        tmeta = template.setdefault("metadata", {})
        tmeta.setdefault("labels", {})[HASH_LABEL] = h
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        replicas = int(spec.get("replicas", 1))
        rs = {
            "metadata": {
                "name": f"{meta['name']}-{h}",
                "namespace": meta["namespace"],
                "labels": dict(tmeta["labels"]),
                "annotations": {
                    REVISION: str(rev),
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                    "deployment.kubernetes.io/max-replicas": str(
                        replicas
                        + _int_or_percent(
                            ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get(
                                "maxSurge"
                            ),
                            replicas,
                            "25%",
                            round_up=True,
                        )
                    ),
                },
                "ownerReferences": [_owner_ref(d)],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0},
        }
        return self.store.put(RS, rs)

    def _scale(self, rs: Obj, replicas: int) -> None:
        if int((rs.get("spec") or {}).get("replicas", 0)) != replicas:
            rs = copy.deepcopy(rs)
            rs["spec"]["replicas"] = replicas
            self.store.put(RS, rs)


def _pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _pod_ip(uid: str) -> str:
    n = int(uid.replace("-", "")[:6], 16)
    return f"10.244.{(n >> 8) % 250 + 1}.{n % 250 + 2}"


def _pod_condition(
    old: list[dict[str, Any]], ctype: str, status: str, reason: str, message: str
) -> dict[str, Any]:
    prev = next((c for c in old if c.get("type") == ctype), None)
    if prev and prev.get("status") == status and prev.get("reason", "") == reason:
        return prev
    cond: dict[str, Any] = {"type": ctype, "status": status, "lastTransitionTime": now_iso()}
    if reason:
        cond.update(reason=reason, message=message)
    return cond
