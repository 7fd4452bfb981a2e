"""The :class:`~b2tui.ports.Cluster` port on a real Kubernetes API server.

Built on the official ``kubernetes`` client. Its calls block, so every port method runs
its work in a thread (``asyncio.to_thread``). Responses are read raw
(``_preload_content=False``) and handled as plain dicts: the client's generated models
validate required fields and would turn a half-filled object into a crash; bodies sent
are plain dicts too.

Connections: one ``ApiClient`` per kube context (``EnvironmentSettings.context``; None
is the kubeconfig's current context), from ``kubeconfig`` / ``$KUBECONFIG`` /
``~/.kube/config``; the in-cluster service account when ``KUBERNETES_SERVICE_HOST`` is
set and no kubeconfig exists.

Conventions — what b2tui expects in the cluster, and what it creates:

* **canary**, ``traffic = "replicas"`` (default): the stable Deployment ``<deployment>``
  runs pods labelled ``<track_label>: stable`` (its selector should include that label).
  b2tui creates ``<deployment>-canary`` from the stable spec with the new image and
  ``<track_label>: canary`` in its selector and pod labels. Both sit behind
  ``<service>``, whose selector must *not* include the track label. The replica split
  comes from :func:`b2tui.domain.canary.replica_split` over the total at the start
  (``replicas`` of the environment, else the stable Deployment's ``spec.replicas``,
  remembered in the canary's ``b2tui.io/canary-total-replicas`` annotation), so 5 % of
  4 replicas reads ``1/4 replicas`` (25 % achieved).
* **canary**, ``traffic = "nginx"``: additionally a Service ``<service>-canary``
  (stable selector + ``track: canary``) and an Ingress ``<ingress>-canary`` copied
  from the stable Ingress, backends pointed at the canary Service, with
  ``nginx.ingress.kubernetes.io/canary: "true"`` and
  ``nginx.ingress.kubernetes.io/canary-weight: "<percent>"``. Exact percentages.
* **canary**, ``traffic = "gateway"``: the Gateway API HTTPRoute ``<route>`` gets
  ``backendRefs`` weights ``100-p`` for ``<service>`` and ``p`` for ``<service>-canary``.
* **promote**: the stable Deployment's template gets the new image and its full
  replica count; once that rollout completes, the canary is scaled to 0 and the traffic
  objects are reset (weight 0 / route 100-0).
* **blue-green**: Deployments ``<deployment>-blue`` and ``<deployment>-green``, pods
  labelled ``<colour_label>: blue|green``; ``<service>``'s selector names the active
  colour. Staging a version sets the idle colour's image and replicas (= the active
  colour's); switching patches the Service selector; retiring scales the old colour to 0.
* **direct** / staging: every file of ``manifests`` (relative to the current directory,
  multi-document YAML) is server-side applied with field manager ``b2tui``; the
  Deployment's container (the one named like the Deployment, else the first) gets the
  image *inside* the applied object, so one apply makes one rollout.
* **rollback**: traffic first — canary weight 0 / Service selector back to the old
  colour / canary replicas 0 — then the Deployment's pod template is restored from the
  ReplicaSet whose ``pod-template-hash`` is the target's (fallback: its revision
  number), minus that label, with the target's replica count. Each step reads the one
  object it may change and writes only when it differs, so a second rollback (same
  process or another) is a no-op that says ``already on rev N`` — never the flip back to
  the bad version that ``kubectl rollout undo`` twice does.

Errors are :class:`~b2tui.ports.SourceError` (reads) or :class:`~b2tui.ports.StepFailed`
(workflow steps), each one line: ``forbidden: cannot patch deployments in namespace prod
(as user ci)``, ``context prod not found in kubeconfig ~/.kube/config``, ``API server
unreachable at https://…: connection refused``, ``deployment web not found in namespace
prod``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.watch.watch import iter_resp_lines

from b2tui.config import EnvironmentSettings
from b2tui.domain.canary import replica_split
from b2tui.domain.phases import Strategy, Traffic
from b2tui.ports import (
    PodInfo,
    PodPhase,
    Revision,
    RollbackResult,
    RolloutState,
    SourceError,
    StepFailed,
    TrafficSplit,
)

FIELD_MANAGER = "b2tui"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
TOTAL_ANNOTATION = "b2tui.io/canary-total-replicas"
"""On the canary Deployment: the replica total the canary split is computed over."""
NGINX_CANARY = "nginx.ingress.kubernetes.io/canary"
NGINX_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
COLOURS = ("blue", "green")

T = TypeVar("T")


# --- errors ------------------------------------------------------------------------------


class KubeApiError(SourceError):
    """A failed API request; ``status`` is the HTTP status (0 when unreachable)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class _Op:
    """What a request does, for its error message."""

    verb: str
    resource: str
    namespace: str | None = None
    name: str | None = None


_SINGULAR = {"ingresses": "ingress", "httproutes": "HTTPRoute", "replicasets": "replicaset"}


def _singular(resource: str) -> str:
    return _SINGULAR.get(resource, resource[:-1] if resource.endswith("s") else resource)


def _status_message(body: str | bytes | None) -> str:
    if not body:
        return ""
    try:
        doc = json.loads(body)
    except (ValueError, TypeError):
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
        return text.strip().splitlines()[0][:200] if text.strip() else ""
    return str(doc.get("message", "")) if isinstance(doc, dict) else ""


def _unreachable_reason(exc: BaseException) -> str:
    reason: Any = getattr(exc, "reason", None) or exc
    text = str(reason)
    m = re.search(r"\[Errno -?\d+\] ([^')\"]+)", text)
    if m:
        return m.group(1).strip().lower()
    if isinstance(reason, urllib3.exceptions.TimeoutError) or "timed out" in text.lower():
        return "timed out"
    text = re.sub(r"<[^>]+>:\s*", "", text)
    return text.splitlines()[0][:160] if text else type(exc).__name__


def describe_error(exc: BaseException, op: _Op, url: str, user: str, context: str) -> KubeApiError:
    """One readable line for a failed request: what, where, and how to fix it."""
    ns = op.namespace or "(cluster)"
    if isinstance(exc, ApiException) and exc.status:
        status = int(exc.status)
        msg = _status_message(exc.body)
        if status == 403:
            m = re.search(r'User "([^"]+)"', msg)
            who = m.group(1) if m else user
            return KubeApiError(
                f"forbidden: cannot {op.verb} {op.resource} in namespace {ns} (as user {who});"
                " grant it in the Role (see deploy/rbac.yaml)",
                status,
            )
        if status == 401:
            return KubeApiError(
                f"unauthorized: the API server at {url} rejected the credentials of context"
                f" {context}; refresh them (kubectl config view --minify)",
                status,
            )
        if status == 404 and op.name:
            return KubeApiError(
                f"{_singular(op.resource)} {op.name} not found in namespace {ns}", status
            )
        what = f"{op.resource}/{op.name}" if op.name else op.resource
        detail = f": {msg}" if msg else ""
        return KubeApiError(
            f"{op.verb} {what} in namespace {ns} failed: HTTP {status} {exc.reason or ''}"
            f"{detail}".replace("  ", " "),
            status,
        )
    return KubeApiError(f"API server unreachable at {url}: {_unreachable_reason(exc)}", 0)


def _is_transport_error(exc: BaseException) -> bool:
    if isinstance(exc, ApiException):
        return not exc.status
    return isinstance(exc, urllib3.exceptions.HTTPError | OSError)


# --- pure helpers (unit-tested) ---------------------------------------------------------


def _parse_time(value: str | None) -> datetime:
    if not value:
        return datetime.fromtimestamp(0, UTC)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


# Worse first: the reason a pod shows is its worst container's.
_SEVERITY = {
    "OOMKilled": 0,
    "CrashLoopBackOff": 1,
    "ImagePullBackOff": 2,
    "ErrImagePull": 3,
    "InvalidImageName": 4,
    "CreateContainerConfigError": 5,
    "CreateContainerError": 6,
    "RunContainerError": 7,
    "Error": 8,
    "ContainerCreating": 50,
    "PodInitializing": 51,
    "Completed": 60,
}


def pod_reason(pod: dict[str, Any]) -> str:
    """The reason a pod is not plainly running, as ``kubectl get pods`` / k9s show it.

    ``CrashLoopBackOff`` whose last termination was ``OOMKilled`` shows ``OOMKilled``:
    the cause is what the operator needs. Empty for a healthy or plain pending pod.
    """
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "Terminating"
    for cs in status.get("initContainerStatuses") or []:
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        term = state.get("terminated") or {}
        if waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return f"Init:{waiting['reason']}"
        if term and term.get("exitCode", 0) != 0:
            return f"Init:{term.get('reason') or 'Error'}"
    reasons: list[str] = []
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        waiting = state.get("waiting") or {}
        term = state.get("terminated") or {}
        if waiting.get("reason"):
            if waiting["reason"] == "CrashLoopBackOff" and last.get("reason") == "OOMKilled":
                reasons.append("OOMKilled")
            else:
                reasons.append(waiting["reason"])
        elif term:
            reasons.append(term.get("reason") or ("Error" if term.get("exitCode") else "Completed"))
        elif last.get("reason") == "OOMKilled" and not cs.get("ready"):
            reasons.append("OOMKilled")
    if reasons:
        return min(reasons, key=lambda r: _SEVERITY.get(r, 20))
    if status.get("reason"):
        return str(status["reason"])  # Evicted, NodeLost …
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return str(cond.get("reason") or "Unschedulable")
    return ""


def pod_info(
    pod: dict[str, Any],
    *,
    track_label: str = "track",
    colour_label: str = "color",
    container: str | None = None,
) -> PodInfo:
    """Map a Pod object (dict) to the control room's :class:`PodInfo`.

    Args:
        pod: the Pod as the API returns it.
        track_label: label naming the canary track (``stable``/``canary``).
        colour_label: label naming the blue-green colour, used when there is no track.
        container: container whose image is shown; the first one when absent.
    """
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    labels = meta.get("labels") or {}
    try:
        phase = PodPhase(status.get("phase") or "Pending")
    except ValueError:
        phase = PodPhase.UNKNOWN
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    restarts = sum(int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or [])
    containers = spec.get("containers") or [{}]
    chosen = next((c for c in containers if c.get("name") == container), containers[0])
    return PodInfo(
        name=str(meta.get("name", "")),
        track=str(labels.get(track_label) or labels.get(colour_label) or ""),
        phase=phase,
        reason=pod_reason(pod),
        ready=ready,
        restarts=restarts,
        created=_parse_time(meta.get("creationTimestamp")),
        image=str(chosen.get("image", "")),
        node=str(spec.get("nodeName") or ""),
    )


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return None


def rollout_state(deploy: dict[str, Any]) -> RolloutState:
    """Judge a Deployment's rollout exactly as ``kubectl rollout status`` does."""
    meta = deploy.get("metadata") or {}
    spec = deploy.get("spec") or {}
    st = deploy.get("status") or {}
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    updated = int(st.get("updatedReplicas") or 0)
    ready = int(st.get("readyReplicas") or 0)
    available = int(st.get("availableReplicas") or 0)
    current = int(st.get("replicas") or 0)
    name = meta.get("name", "")

    def waiting(message: str) -> RolloutState:
        return RolloutState(False, False, message, updated, ready, desired)

    if int(meta.get("generation") or 0) > int(st.get("observedGeneration") or 0):
        return waiting(f"waiting for deployment {name} spec update to be observed")
    progressing = _condition(deploy, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        msg = progressing.get("message") or f"deployment {name} exceeded its progress deadline"
        return RolloutState(False, True, str(msg), updated, ready, desired)
    if updated < desired:
        return waiting(f"{updated} of {desired} updated replicas")
    if current > updated:
        return waiting(f"{current - updated} old replicas are pending termination")
    if available < updated:
        return waiting(f"{available} of {updated} updated replicas are available")
    return RolloutState(
        True, False, f"deployment {name} successfully rolled out", updated, ready, desired
    )


def _prune(value: Any) -> Any:
    """Drop empty values so that defaulted-away fields compare equal."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [], "")}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def template_without_hash(template: dict[str, Any]) -> dict[str, Any]:
    """A ReplicaSet's pod template as a Deployment would carry it (no ``pod-template-hash``)."""
    t = copy.deepcopy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return t


def same_template(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True when two pod templates are equal, ignoring the hash label and empty fields."""
    return bool(_prune(template_without_hash(a)) == _prune(template_without_hash(b)))


def app_container_index(spec: dict[str, Any], deployment: str) -> int:
    """Index of the application container: the one named like the Deployment, else 0."""
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    for i, c in enumerate(containers):
        if c.get("name") == deployment:
            return i
    return 0


def _image_of(deploy: dict[str, Any], name: str) -> str:
    spec = deploy.get("spec") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    if not containers:
        return ""
    return str(containers[app_container_index(spec, name)].get("image", ""))


def selector_string(labels: dict[str, str]) -> str:
    """``matchLabels`` as a label selector query (``app=web,track=stable``)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _match_labels(deploy: dict[str, Any]) -> dict[str, str]:
    return dict(((deploy.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})


def _revision_of(obj: dict[str, Any]) -> str:
    return str(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION, ""))


def _rev_number(obj: dict[str, Any]) -> int:
    try:
        return int(_revision_of(obj) or 0)
    except ValueError:
        return 0


def _replicas(deploy: dict[str, Any]) -> int:
    r = (deploy.get("spec") or {}).get("replicas")
    return 1 if r is None else int(r)


# --- connections -------------------------------------------------------------------------


@dataclass
class _Conn:
    """One API client (one kube context) and the typed APIs on it."""

    api: client.ApiClient
    context: str
    user: str
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = str(self.api.configuration.host)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.net = client.NetworkingV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.version = client.VersionApi(self.api)


def _default_kubeconfig() -> str:
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


# --- the pod watch -----------------------------------------------------------------------


class _Expired(Exception):
    """The watch's resourceVersion is older than the server's history (HTTP 410)."""


class PodWatch:
    """A cache of one namespace's pods matching a selector, fed by list + watch.

    A daemon thread lists the pods, then watches from the list's ``resourceVersion``.
    A dropped or timed-out stream resumes from the last version seen; a 410 (history
    compacted) relists; any other error backs off exponentially (capped at
    ``backoff_cap``) and retries. Nothing raises out of the thread: the last error is in
    :attr:`last_error`, and :attr:`live` says whether the cache can be trusted right now.

    Args:
        core: the ``CoreV1Api`` to use.
        namespace: namespace to watch.
        selector: label selector of the pods.
        describe: turns an exception into a one-line :class:`KubeApiError`.
        request_timeout: seconds for the list request (and the watch's connect).
        watch_timeout: ``timeoutSeconds`` asked of the server for each watch stream.
        backoff_base: first retry delay after an error, doubled per consecutive error.
        backoff_cap: longest retry delay.
    """

    def __init__(
        self,
        core: client.CoreV1Api,
        namespace: str,
        selector: str,
        *,
        describe: Callable[[BaseException, _Op], KubeApiError],
        request_timeout: float = 10.0,
        watch_timeout: int = 240,
        backoff_base: float = 0.2,
        backoff_cap: float = 30.0,
    ) -> None:
        self.namespace = namespace
        self.selector = selector
        self._core = core
        self._describe = describe
        self._request_timeout = request_timeout
        self._watch_timeout = watch_timeout
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._pods: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._live = threading.Event()
        self._resp: Any = None
        self.resource_version: str | None = None
        """Last resourceVersion seen (list, event or bookmark): where a resume starts."""
        self.last_error: str | None = None
        """The last error, one line; cleared by the next successful list or watch."""
        self.errors = 0
        """Errors since start (each one was retried after a backoff)."""
        self.relists = 0
        """Lists after the first one (410 Expired, or recovery from an error in a list)."""
        self.resumes = 0
        """Watch streams reopened from the last resourceVersion."""
        self.last_backoff = 0.0
        """Delay before the latest retry, seconds."""
        self._thread = threading.Thread(
            target=self._run, name=f"b2tui-podwatch-{namespace}", daemon=True
        )

    # public

    def start(self) -> PodWatch:
        self._thread.start()
        return self

    @property
    def streaming(self) -> bool:
        """True while a watch stream is open."""
        return self._resp is not None

    @property
    def live(self) -> bool:
        """True while the cache follows the server (listed, and watching or about to)."""
        return self._live.is_set()

    def wait_live(self, timeout: float) -> bool:
        return self._live.wait(timeout)

    def snapshot(self) -> list[dict[str, Any]]:
        """The cached pods (copies of the dicts' top level)."""
        with self._lock:
            return list(self._pods.values())

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread: closes the open stream so a blocked read returns at once."""
        self._stop.set()
        self._live.clear()
        resp = self._resp
        if resp is not None:
            for closer in ("shutdown", "close"):
                with contextlib.suppress(Exception):
                    getattr(resp, closer)()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # thread

    def _run(self) -> None:
        need_list = True
        delay = self._backoff_base
        while not self._stop.is_set():
            try:
                if need_list:
                    self._list()
                    need_list = False
                progressed = self._watch_once()
                if not self._stop.is_set():
                    self.resumes += 1
                delay = self._backoff_base
                if not progressed:
                    # A stream that closes at once, repeatedly, must not spin.
                    self._stop.wait(self._backoff_base)
            except _Expired:
                need_list = True
                self.relists += 1
            except Exception as e:  # nothing escapes the thread: record, back off, retry
                if self._stop.is_set():
                    break
                err = (
                    e
                    if isinstance(e, KubeApiError)
                    else self._describe(e, _Op("watch", "pods", self.namespace))
                )
                self.last_error = str(err)
                self.errors += 1
                self._live.clear()
                if isinstance(e, KubeApiError) and e.status == 410:
                    need_list = True
                self.last_backoff = delay
                self._stop.wait(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self._backoff_cap)

    def _list(self) -> None:
        op = _Op("list", "pods", self.namespace)
        try:
            resp: Any = self._core.list_namespaced_pod(
                self.namespace,
                label_selector=self.selector or None,
                _preload_content=False,
                _request_timeout=self._request_timeout,
            )
            doc = json.loads(resp.data or b"{}")
        except ApiException as e:
            raise self._describe(e, op) from None
        pods = {p["metadata"]["name"]: p for p in doc.get("items") or []}
        with self._lock:
            self._pods = pods
        self.resource_version = str((doc.get("metadata") or {}).get("resourceVersion") or "")
        self.last_error = None
        self._live.set()

    def _watch_once(self) -> bool:
        """Follow one watch stream until it ends; True if it delivered anything."""
        op = _Op("watch", "pods", self.namespace)
        try:
            resp: Any = self._core.list_namespaced_pod(
                self.namespace,
                label_selector=self.selector or None,
                watch=True,
                resource_version=self.resource_version or None,
                allow_watch_bookmarks=True,
                timeout_seconds=self._watch_timeout,
                _preload_content=False,
                # read timeout above the server-side timeout: silence means a dead peer
                _request_timeout=(self._request_timeout, self._watch_timeout + 30),
            )
        except ApiException as e:
            raise self._describe(e, op) from None
        self._resp = resp
        self._live.set()
        self.last_error = None
        progressed = False
        try:
            for line in iter_resp_lines(resp):
                if self._stop.is_set():
                    break
                if not line.strip():
                    continue
                progressed = True
                self._apply(json.loads(line))
        except (
            urllib3.exceptions.ProtocolError,
            urllib3.exceptions.ReadTimeoutError,
            ConnectionError,
        ):
            # A dropped stream is routine (load balancers, API server restarts): resume.
            pass
        finally:
            self._resp = None
            with contextlib.suppress(Exception):
                resp.release_conn()
        return progressed

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 0)
            if code == 410:
                raise _Expired()
            raise KubeApiError(
                f"watch pods in namespace {self.namespace} failed: HTTP {code}"
                f" {obj.get('message', '')}".rstrip(),
                code,
            )
        meta = obj.get("metadata") or {}
        rv = meta.get("resourceVersion")
        if kind in ("ADDED", "MODIFIED"):
            with self._lock:
                self._pods[meta["name"]] = obj
        elif kind == "DELETED":
            with self._lock:
                self._pods.pop(meta.get("name", ""), None)
        if rv:
            self.resource_version = str(rv)


# --- the adapter -------------------------------------------------------------------------


@dataclass(frozen=True)
class DeploymentStatus:
    """One Deployment of an environment, as ``b2tui status`` lists it."""

    name: str
    revision: str
    image: str
    ready: int
    desired: int
    track: str
    """``stable``, ``canary``, ``blue`` or ``green``."""


_APPLY_KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "Service"): ("services", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "StatefulSet"): ("statefulsets", True),
    ("networking.k8s.io/v1", "Ingress"): ("ingresses", True),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): ("httproutes", True),
    ("policy/v1", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ("horizontalpodautoscalers", True),
}


class KubeCluster:
    """The :class:`~b2tui.ports.Cluster` port on a Kubernetes API server.

    Args:
        kubeconfig: kubeconfig path; None uses ``$KUBECONFIG`` or ``~/.kube/config``
            (in-cluster config when neither exists and ``KUBERNETES_SERVICE_HOST`` is set).
        dry_run: send ``dryRun=All`` with every change made by :meth:`deploy`.
        request_timeout: seconds per API request.
        watch_backoff_cap: longest retry delay of the pod watches, seconds.
    """

    def __init__(
        self,
        kubeconfig: str | None = None,
        *,
        dry_run: bool = False,
        request_timeout: float = 10.0,
        watch_backoff_cap: float = 30.0,
    ) -> None:
        self.kubeconfig = kubeconfig or _default_kubeconfig()
        self.dry_run = dry_run
        self.request_timeout = request_timeout
        self.watch_backoff_cap = watch_backoff_cap
        self._conns: dict[str | None, _Conn] = {}
        self._watches: dict[tuple[str | None, str, str], PodWatch] = {}
        self._selectors: dict[tuple[str | None, str, str], str] = {}
        self._lock = threading.Lock()

    # --- connections and requests ------------------------------------------------------

    def _conn(self, env: EnvironmentSettings) -> _Conn:
        with self._lock:
            conn = self._conns.get(env.context)
            if conn is None:
                conn = self._connect(env.context)
                self._conns[env.context] = conn
            return conn

    def _connect(self, context: str | None) -> _Conn:
        path = self.kubeconfig
        exists = any(Path(p).expanduser().exists() for p in path.split(os.pathsep) if p)
        if not exists:
            if os.environ.get("KUBERNETES_SERVICE_HOST"):
                cfg = client.Configuration()
                try:
                    config.load_incluster_config(client_configuration=cfg)
                except ConfigException as e:
                    raise KubeApiError(f"in-cluster configuration failed: {e}") from None
                return _Conn(client.ApiClient(cfg), context or "in-cluster", "serviceaccount")
            raise KubeApiError(
                f"kubeconfig {path} not found and not running in a cluster;"
                " set KUBECONFIG or pass the kubeconfig path"
            )
        try:
            contexts, active = config.list_kube_config_contexts(config_file=path)
        except (ConfigException, OSError, yaml.YAMLError) as e:
            raise KubeApiError(f"cannot read kubeconfig {path}: {e}") from None
        names = [c["name"] for c in contexts or []]
        name = context or (active or {}).get("name")
        entry = next((c for c in contexts or [] if c["name"] == name), None)
        if entry is None:
            known = ", ".join(names) or "none"
            raise KubeApiError(f"context {name} not found in kubeconfig {path} (contexts: {known})")
        try:
            api = config.new_client_from_config(
                config_file=path, context=name, persist_config=False
            )
        except (ConfigException, OSError, ValueError) as e:
            raise KubeApiError(f"kubeconfig {path}, context {name}: {e}") from None
        user = str((entry.get("context") or {}).get("user") or "unknown")
        return _Conn(api, str(name), user)

    def _describe(self, conn: _Conn) -> Callable[[BaseException, _Op], KubeApiError]:
        return lambda e, op: describe_error(e, op, conn.url, conn.user, conn.context)

    def _raw(self, conn: _Conn, op: _Op, fn: Callable[..., Any], *args: Any, **kw: Any) -> bytes:
        kw.setdefault("_request_timeout", self.request_timeout)
        try:
            resp = fn(*args, _preload_content=False, **kw)
            return bytes(resp.data or b"")
        except Exception as e:
            if isinstance(e, ApiException) or _is_transport_error(e):
                raise describe_error(e, op, conn.url, conn.user, conn.context) from None
            raise

    def _call(self, conn: _Conn, op: _Op, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        data = self._raw(conn, op, fn, *args, **kw)
        return json.loads(data) if data else {}

    def _get(self, conn: _Conn, op: _Op, fn: Callable[..., Any], *args: Any) -> Any:
        """A read that answers None on 404."""
        try:
            return self._call(conn, op, fn, *args)
        except KubeApiError as e:
            if e.status == 404:
                return None
            raise

    def _deployment(self, conn: _Conn, ns: str, name: str) -> dict[str, Any]:
        return dict(
            self._call(
                conn,
                _Op("get", "deployments", ns, name),
                conn.apps.read_namespaced_deployment,
                name,
                ns,
            )
        )

    def _maybe_deployment(self, conn: _Conn, ns: str, name: str) -> dict[str, Any] | None:
        return self._get(
            conn,
            _Op("get", "deployments", ns, name),
            conn.apps.read_namespaced_deployment,
            name,
            ns,
        )

    def _patch_deployment(
        self, conn: _Conn, ns: str, name: str, body: Any, content_type: str
    ) -> dict[str, Any]:
        return dict(
            self._call(
                conn,
                _Op("patch", "deployments", ns, name),
                conn.apps.patch_namespaced_deployment,
                name,
                ns,
                body,
                _content_type=content_type,
            )
        )

    def _scale(self, conn: _Conn, ns: str, name: str, replicas: int) -> dict[str, Any]:
        return dict(
            self._call(
                conn,
                _Op("patch", "deployments/scale", ns, name),
                conn.apps.patch_namespaced_deployment_scale,
                name,
                ns,
                {"spec": {"replicas": replicas}},
                _content_type="application/merge-patch+json",
            )
        )

    def _replicasets(self, conn: _Conn, ns: str, deploy: dict[str, Any]) -> list[dict[str, Any]]:
        """ReplicaSets owned by ``deploy``."""
        doc = self._call(
            conn,
            _Op("list", "replicasets", ns),
            conn.apps.list_namespaced_replica_set,
            ns,
            label_selector=selector_string(_match_labels(deploy)) or None,
        )
        uid = (deploy.get("metadata") or {}).get("uid")
        return [
            rs
            for rs in doc.get("items") or []
            if any(
                o.get("uid") == uid for o in (rs.get("metadata") or {}).get("ownerReferences") or []
            )
        ]

    def _current_rs(self, deploy: dict[str, Any], rses: list[dict[str, Any]]) -> dict[str, Any]:
        rev = _revision_of(deploy)
        tmpl = (deploy.get("spec") or {}).get("template") or {}
        for rs in rses:
            if rev and _revision_of(rs) == rev:
                return rs
        for rs in rses:
            if same_template((rs.get("spec") or {}).get("template") or {}, tmpl):
                return rs
        return {}

    # --- names --------------------------------------------------------------------------

    @staticmethod
    def _canary_name(env: EnvironmentSettings) -> str:
        return f"{env.deployment}-canary"

    @staticmethod
    def _track_deployment(env: EnvironmentSettings, track: str | None) -> str:
        if track in (None, "", "stable"):
            return env.deployment
        return f"{env.deployment}-{track}"

    # --- Cluster port -------------------------------------------------------------------

    async def current_revision(self, env: EnvironmentSettings) -> Revision:
        """The revision serving now (the stable Deployment, or the active colour)."""
        return await asyncio.to_thread(self._current_revision, env)

    def _current_revision(self, env: EnvironmentSettings) -> Revision:
        conn = self._conn(env)
        colour = None
        name = env.deployment
        if env.strategy is Strategy.BLUE_GREEN:
            colour = self._active_colour(conn, env)
            name = f"{env.deployment}-{colour}"
        deploy = self._deployment(conn, env.namespace, name)
        rs = self._current_rs(deploy, self._replicasets(conn, env.namespace, deploy))
        return Revision(
            deployment=name,
            revision=_revision_of(deploy) or _revision_of(rs) or "0",
            image=_image_of(deploy, env.deployment),
            colour=colour,
            replicas=_replicas(deploy),
            template_hash=((rs.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL),
        )

    def _active_colour(self, conn: _Conn, env: EnvironmentSettings) -> str:
        svc = self._call(
            conn,
            _Op("get", "services", env.namespace, env.service),
            conn.core.read_namespaced_service,
            env.service,
            env.namespace,
        )
        colour = ((svc.get("spec") or {}).get("selector") or {}).get(env.colour_label)
        if colour not in COLOURS:
            raise KubeApiError(
                f"service {env.service} in namespace {env.namespace} selects no colour: add"
                f" {env.colour_label}: blue (or green) to its selector for blue-green"
            )
        return str(colour)

    async def check_target(self, env: EnvironmentSettings) -> list[str]:
        """Problems with the target: context, API server, namespace, Deployment, Service.

        For an environment with ``manifests`` only the context, the API server and (when
        readable) the namespace are checked: the manifests create the rest.
        """
        return await asyncio.to_thread(self._check_target, env)

    def _check_target(self, env: EnvironmentSettings) -> list[str]:
        try:
            conn = self._conn(env)
            self._call(conn, _Op("get", "version"), conn.version.get_code)
        except SourceError as e:
            return [str(e)]
        problems: list[str] = []
        ns = env.namespace
        try:
            if (
                self._get(conn, _Op("get", "namespaces", None, ns), conn.core.read_namespace, ns)
                is None
            ):
                return [f"namespace {ns} does not exist (context {conn.context})"]
        except KubeApiError as e:
            if e.status != 403:  # a namespaced Role cannot read namespaces: not a problem
                problems.append(str(e))
        if env.manifests:
            # The environment's manifests create its Deployment and Service when the run
            # applies them (after this check): their absence now is not a problem.
            return problems
        wanted: list[tuple[_Op, Callable[..., Any], tuple[Any, ...]]] = []
        if env.strategy is Strategy.BLUE_GREEN:
            try:
                colour = self._active_colour(conn, env)
                name = f"{env.deployment}-{colour}"
                wanted.append(
                    (
                        _Op("get", "deployments", ns, name),
                        conn.apps.read_namespaced_deployment,
                        (name, ns),
                    )
                )
            except SourceError as e:
                problems.append(str(e))
        else:
            wanted.append(
                (
                    _Op("get", "deployments", ns, env.deployment),
                    conn.apps.read_namespaced_deployment,
                    (env.deployment, ns),
                )
            )
            wanted.append(
                (
                    _Op("get", "services", ns, env.service),
                    conn.core.read_namespaced_service,
                    (env.service, ns),
                )
            )
        if env.strategy is Strategy.CANARY and env.traffic is Traffic.NGINX and env.ingress:
            wanted.append(
                (
                    _Op("get", "ingresses", ns, env.ingress),
                    conn.net.read_namespaced_ingress,
                    (env.ingress, ns),
                )
            )
        if env.strategy is Strategy.CANARY and env.traffic is Traffic.GATEWAY and env.route:
            wanted.append(
                (
                    _Op("get", "httproutes", ns, env.route),
                    conn.custom.get_namespaced_custom_object,
                    ("gateway.networking.k8s.io", "v1", ns, "httproutes", env.route),
                )
            )
        for op, fn, args in wanted:
            try:
                self._call(conn, op, fn, *args)
            except SourceError as e:
                problems.append(str(e))
        return problems

    # deploy ----------------------------------------------------------------------------

    async def deploy(self, env: EnvironmentSettings, image: str) -> None:
        """Server-side apply the environment's manifests with ``image`` set."""
        await asyncio.to_thread(self._step, self._deploy, env, image)

    def _step(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a workflow step: its failures are :class:`StepFailed`, one line each."""
        try:
            return fn(*args)
        except StepFailed:
            raise
        except SourceError as e:
            raise StepFailed(str(e)) from None

    def _load_manifests(self, env: EnvironmentSettings) -> list[tuple[str, dict[str, Any]]]:
        docs: list[tuple[str, dict[str, Any]]] = []
        for name in env.manifests:
            path = Path(name)
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise StepFailed(
                    f"manifest {name} not found (paths are relative to {Path.cwd()})"
                ) from None
            except OSError as e:
                raise StepFailed(f"cannot read manifest {name}: {e.strerror}") from None
            try:
                loaded = list(yaml.safe_load_all(text))
            except yaml.YAMLError as e:
                mark = getattr(e, "problem_mark", None)
                line = f":{mark.line + 1}" if mark is not None else ""
                problem = getattr(e, "problem", None) or str(e).splitlines()[0]
                raise StepFailed(f"{name}{line}: not valid YAML: {problem}") from None
            for i, doc in enumerate(loaded):
                if doc is None:
                    continue
                if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
                    raise StepFailed(f"{name}: document {i + 1} has no kind/apiVersion")
                docs.append((name, doc))
        return docs

    def _resource_of(self, conn: _Conn, api_version: str, kind: str) -> tuple[str, bool] | None:
        known = _APPLY_KINDS.get((api_version, kind))
        if known:
            return known
        # Anything else: ask discovery, as kubectl does.
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            doc = json.loads(self._request(conn, _Op("get", "discovery"), "GET", base))
        except KubeApiError:
            return None
        for r in doc.get("resources") or []:
            if r.get("kind") == kind and "/" not in r.get("name", ""):
                return str(r["name"]), bool(r.get("namespaced"))
        return None

    def _request(
        self,
        conn: _Conn,
        op: _Op,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> bytes:
        """A request to any API path through the client (auth, TLS, proxy as configured)."""
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            params = conn.api.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            resp = conn.api.call_api(*params, _request_timeout=self.request_timeout)
            data = resp.read()
            if not 200 <= resp.status <= 299:
                ApiException.from_response(
                    http_resp=resp, body=data.decode(errors="replace"), data=None
                )
            return bytes(data or b"")
        except Exception as e:
            if isinstance(e, ApiException) or _is_transport_error(e):
                raise describe_error(e, op, conn.url, conn.user, conn.context) from None
            raise

    def _deploy(self, env: EnvironmentSettings, image: str) -> None:
        conn = self._conn(env)
        docs = self._load_manifests(env)
        image_set = False
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        if self.dry_run:
            query.append(("dryRun", "All"))
        for file, doc in docs:
            doc = copy.deepcopy(doc)
            api_version, kind = str(doc["apiVersion"]), str(doc["kind"])
            meta = doc.setdefault("metadata", {})
            name = meta.get("name")
            if not name:
                raise StepFailed(f"{file}: a {kind} has no metadata.name")
            res = self._resource_of(conn, api_version, kind)
            if res is None:
                raise StepFailed(
                    f"{file}: kind {kind} ({api_version}) is not served by the API server at"
                    f" {conn.url}"
                )
            plural, namespaced = res
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            if namespaced:
                ns = meta.setdefault("namespace", env.namespace)
                path = f"{base}/namespaces/{ns}/{plural}/{name}"
            else:
                ns = None
                path = f"{base}/{plural}/{name}"
            if kind == "Deployment" and name == env.deployment:
                # The image goes into the applied object: one apply, one rollout (not the
                # manifest's placeholder image first and ours a moment later).
                containers = (
                    ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
                ).get("containers") or []
                if containers:
                    containers[app_container_index(doc["spec"], env.deployment)]["image"] = image
                    image_set = True
            self._request(
                conn,
                # No name: a 404 here means the namespace is missing; show the server's words.
                _Op("apply", plural, ns),
                "PATCH",
                path,
                query=query,
                body=doc,
                content_type="application/apply-patch+yaml",
            )
        if not image_set:
            deploy = self._deployment(conn, env.namespace, env.deployment)
            self._set_image(conn, env, env.deployment, deploy, image, dry_run=self.dry_run)

    def _set_image(
        self,
        conn: _Conn,
        env: EnvironmentSettings,
        name: str,
        deploy: dict[str, Any],
        image: str,
        *,
        replicas: int | None = None,
        annotations: dict[str, str] | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        spec = deploy.get("spec") or {}
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        if not containers:
            raise StepFailed(f"deployment {name} in namespace {env.namespace} has no containers")
        cname = containers[app_container_index(spec, env.deployment)]["name"]
        body: dict[str, Any] = {
            "spec": {"template": {"spec": {"containers": [{"name": cname, "image": image}]}}}
        }
        if replicas is not None:
            body["spec"]["replicas"] = replicas
        if annotations:
            body["metadata"] = {"annotations": annotations}
        return dict(
            self._call(
                conn,
                _Op("patch", "deployments", env.namespace, name),
                conn.apps.patch_namespaced_deployment,
                name,
                env.namespace,
                body,
                dry_run="All" if dry_run else None,
                _content_type="application/strategic-merge-patch+json",
            )
        )

    # rollout ---------------------------------------------------------------------------

    async def rollout(self, env: EnvironmentSettings, track: str | None = None) -> RolloutState:
        """Rollout progress of the Deployment of ``track`` (when None: stable, or for
        blue-green the colour the Service selects)."""
        return await asyncio.to_thread(self._rollout, env, track)

    def _rollout(self, env: EnvironmentSettings, track: str | None) -> RolloutState:
        conn = self._conn(env)
        if track is None and env.strategy is Strategy.BLUE_GREEN:
            # A blue-green pair has no Deployment named env.deployment: the one serving is
            # the active colour (what a rollback restores and recovery must wait for).
            name = f"{env.deployment}-{self._active_colour(conn, env)}"
        else:
            name = self._track_deployment(env, track)
        return rollout_state(self._deployment(conn, env.namespace, name))

    def _wait_rollout(self, conn: _Conn, env: EnvironmentSettings, name: str) -> RolloutState:
        deadline = time.monotonic() + env.rollout_timeout
        while True:
            state = rollout_state(self._deployment(conn, env.namespace, name))
            if state.complete:
                return state
            if state.failed:
                raise StepFailed(f"rollout of {name} failed: {state.message}")
            if time.monotonic() > deadline:
                raise StepFailed(
                    f"rollout of {name} not complete after {env.rollout_timeout:.0f}s:"
                    f" {state.message}"
                )
            time.sleep(0.2)

    # pods ------------------------------------------------------------------------------

    async def pods(self, env: EnvironmentSettings) -> list[PodInfo]:
        """Pods of the environment's workloads, served from a live watch when there is one."""
        return await asyncio.to_thread(self._pods, env)

    def _selector(self, conn: _Conn, env: EnvironmentSettings) -> str:
        """The workloads' label selector, without the track/colour label."""
        key = (env.context, env.namespace, env.deployment)
        with self._lock:
            cached = self._selectors.get(key)
        if cached is not None:
            return cached
        labels: dict[str, str] | None = None
        for name in (env.deployment, *(f"{env.deployment}-{c}" for c in COLOURS)):
            d = self._maybe_deployment(conn, env.namespace, name)
            if d is not None:
                labels = _match_labels(d)
                break
        if labels is None:
            svc = self._get(
                conn,
                _Op("get", "services", env.namespace, env.service),
                conn.core.read_namespaced_service,
                env.service,
                env.namespace,
            )
            if svc is None:
                raise KubeApiError(
                    f"deployment {env.deployment} not found in namespace {env.namespace}", 404
                )
            labels = dict((svc.get("spec") or {}).get("selector") or {})
        for drop in (env.track_label, env.colour_label):
            labels.pop(drop, None)
        sel = selector_string(labels)
        with self._lock:
            self._selectors[key] = sel
        return sel

    def watch(self, env: EnvironmentSettings) -> PodWatch:
        """The pod watch of ``env`` (started on first use). Blocking: call from a thread."""
        conn = self._conn(env)
        sel = self._selector(conn, env)
        key = (env.context, env.namespace, sel)
        with self._lock:
            w = self._watches.get(key)
            if w is None:
                w = PodWatch(
                    conn.core,
                    env.namespace,
                    sel,
                    describe=self._describe(conn),
                    request_timeout=self.request_timeout,
                    backoff_cap=self.watch_backoff_cap,
                ).start()
                self._watches[key] = w
                fresh = True
            else:
                fresh = False
        if fresh:
            # The first list is the watch's own; wait briefly rather than list twice.
            w.wait_live(min(2.0, self.request_timeout))
        return w

    def _list_pods(self, conn: _Conn, env: EnvironmentSettings) -> list[dict[str, Any]]:
        doc = self._call(
            conn,
            _Op("list", "pods", env.namespace),
            conn.core.list_namespaced_pod,
            env.namespace,
            label_selector=self._selector(conn, env) or None,
        )
        return list(doc.get("items") or [])

    def _pods(self, env: EnvironmentSettings) -> list[PodInfo]:
        conn = self._conn(env)
        w = self.watch(env)
        raw = w.snapshot() if w.live else self._list_pods(conn, env)
        infos = [
            pod_info(
                p,
                track_label=env.track_label,
                colour_label=env.colour_label,
                container=env.deployment,
            )
            for p in raw
        ]
        return sorted(infos, key=lambda p: (p.track, p.name))

    # canary ----------------------------------------------------------------------------

    async def set_canary(self, env: EnvironmentSettings, image: str, percent: int) -> TrafficSplit:
        """Run ``image`` as the canary and give it ``percent`` of the traffic."""
        return await asyncio.to_thread(self._step, self._set_canary, env, image, percent)

    def _total(
        self, env: EnvironmentSettings, stable: dict[str, Any], canary: dict[str, Any] | None
    ) -> int:
        if env.replicas:
            return env.replicas
        note = ((canary or {}).get("metadata") or {}).get("annotations") or {}
        if note.get(TOTAL_ANNOTATION, "").isdigit():
            return max(1, int(note[TOTAL_ANNOTATION]))
        return max(1, _replicas(stable) + (_replicas(canary) if canary else 0))

    def _canary_body(
        self,
        env: EnvironmentSettings,
        stable: dict[str, Any],
        image: str,
        replicas: int,
        total: int,
    ) -> dict[str, Any]:
        spec = copy.deepcopy(stable.get("spec") or {})
        spec.pop("paused", None)
        spec["replicas"] = replicas
        sel = dict(spec.get("selector") or {})
        sel["matchLabels"] = {**(sel.get("matchLabels") or {}), env.track_label: "canary"}
        spec["selector"] = sel
        tmeta = spec.setdefault("template", {}).setdefault("metadata", {})
        tlabels = {**(tmeta.get("labels") or {}), env.track_label: "canary"}
        tlabels.pop(HASH_LABEL, None)
        tmeta["labels"] = tlabels
        containers = (spec["template"].get("spec") or {}).get("containers") or []
        if containers:
            containers[app_container_index(spec, env.deployment)]["image"] = image
        smeta = stable.get("metadata") or {}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": self._canary_name(env),
                "namespace": env.namespace,
                "labels": {**(smeta.get("labels") or {}), env.track_label: "canary"},
                "annotations": {TOTAL_ANNOTATION: str(total)},
            },
            "spec": spec,
        }

    def _ensure_canary(
        self, conn: _Conn, env: EnvironmentSettings, image: str, percent: int
    ) -> tuple[int, int]:
        """Create or update the canary Deployment; returns (canary, total) replicas."""
        ns = env.namespace
        stable = self._deployment(conn, ns, env.deployment)
        name = self._canary_name(env)
        canary = self._maybe_deployment(conn, ns, name)
        total = self._total(env, stable, canary)
        split = replica_split(percent, total)
        if canary is None:
            self._call(
                conn,
                _Op("create", "deployments", ns, name),
                conn.apps.create_namespaced_deployment,
                ns,
                self._canary_body(env, stable, image, split.canary, total),
            )
        else:
            self._set_image(
                conn,
                env,
                name,
                canary,
                image,
                replicas=split.canary,
                annotations={TOTAL_ANNOTATION: str(total)},
            )
        return split.canary, total

    def _set_canary(self, env: EnvironmentSettings, image: str, percent: int) -> TrafficSplit:
        conn = self._conn(env)
        ns = env.namespace
        canary, total = self._ensure_canary(conn, env, image, percent)
        if env.traffic is Traffic.REPLICAS:
            # Canary up first, stable down after: capacity never dips below the total.
            stable = replica_split(percent, total).stable
            self._scale(conn, ns, env.deployment, stable)
            achieved = 100.0 * canary / (canary + stable) if canary + stable else 0.0
            return TrafficSplit(percent, achieved, f"{canary}/{canary + stable} replicas")
        self._ensure_canary_service(conn, env)
        if env.traffic is Traffic.NGINX:
            self._set_nginx_weight(conn, env, percent, create=True)
            return TrafficSplit(percent, float(percent), f"canary-weight={percent}")
        self._set_route_weight(conn, env, percent)
        return TrafficSplit(percent, float(percent), f"weights {100 - percent}/{percent}")

    def _ensure_canary_service(self, conn: _Conn, env: EnvironmentSettings) -> None:
        ns = env.namespace
        name = f"{env.service}-canary"
        if (
            self._get(
                conn, _Op("get", "services", ns, name), conn.core.read_namespaced_service, name, ns
            )
            is not None
        ):
            return
        svc = self._call(
            conn,
            _Op("get", "services", ns, env.service),
            conn.core.read_namespaced_service,
            env.service,
            ns,
        )
        spec = svc.get("spec") or {}
        ports = [{k: v for k, v in p.items() if k != "nodePort"} for p in spec.get("ports") or []]
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": {
                    **((svc.get("metadata") or {}).get("labels") or {}),
                    env.track_label: "canary",
                },
            },
            "spec": {
                "selector": {**(spec.get("selector") or {}), env.track_label: "canary"},
                "ports": ports,
            },
        }
        self._call(
            conn, _Op("create", "services", ns, name), conn.core.create_namespaced_service, ns, body
        )

    def _set_nginx_weight(
        self, conn: _Conn, env: EnvironmentSettings, percent: int, *, create: bool
    ) -> bool:
        """Set the canary Ingress weight; returns True when it changed."""
        ns = env.namespace
        ingress = str(env.ingress)
        name = f"{ingress}-canary"
        cur = self._get(
            conn, _Op("get", "ingresses", ns, name), conn.net.read_namespaced_ingress, name, ns
        )
        if cur is None:
            if not create:
                return False
            stable = self._call(
                conn,
                _Op("get", "ingresses", ns, ingress),
                conn.net.read_namespaced_ingress,
                ingress,
                ns,
            )
            spec = _retarget_ingress(stable.get("spec") or {}, env.service, f"{env.service}-canary")
            body = {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": (stable.get("metadata") or {}).get("labels") or {},
                    "annotations": {NGINX_CANARY: "true", NGINX_WEIGHT: str(percent)},
                },
                "spec": spec,
            }
            self._call(
                conn,
                _Op("create", "ingresses", ns, name),
                conn.net.create_namespaced_ingress,
                ns,
                body,
            )
            return True
        notes = (cur.get("metadata") or {}).get("annotations") or {}
        if notes.get(NGINX_WEIGHT) == str(percent) and notes.get(NGINX_CANARY) == "true":
            return False
        self._call(
            conn,
            _Op("patch", "ingresses", ns, name),
            conn.net.patch_namespaced_ingress,
            name,
            ns,
            {"metadata": {"annotations": {NGINX_CANARY: "true", NGINX_WEIGHT: str(percent)}}},
            _content_type="application/merge-patch+json",
        )
        return True

    def _route(self, conn: _Conn, env: EnvironmentSettings) -> dict[str, Any]:
        return dict(
            self._call(
                conn,
                _Op("get", "httproutes", env.namespace, env.route),
                conn.custom.get_namespaced_custom_object,
                "gateway.networking.k8s.io",
                "v1",
                env.namespace,
                "httproutes",
                str(env.route),
            )
        )

    def _set_route_weight(self, conn: _Conn, env: EnvironmentSettings, percent: int) -> bool:
        """Set the HTTPRoute backend weights; returns True when they changed."""
        route = self._route(conn, env)
        rules = copy.deepcopy((route.get("spec") or {}).get("rules") or [])
        canary_svc = f"{env.service}-canary"
        found = False
        for rule in rules:
            refs = rule.get("backendRefs") or []
            stable_ref = next((r for r in refs if r.get("name") == env.service), None)
            if stable_ref is None:
                continue
            found = True
            others = [r for r in refs if r.get("name") not in (env.service, canary_svc)]
            canary_ref = {k: v for k, v in stable_ref.items() if k != "weight"}
            canary_ref["name"] = canary_svc
            rule["backendRefs"] = [
                *others,
                {**stable_ref, "weight": 100 - percent},
                {**canary_ref, "weight": percent},
            ]
        if not found:
            raise StepFailed(
                f"HTTPRoute {env.route} in namespace {env.namespace} has no backendRef to"
                f" service {env.service}; add one"
            )
        if rules == (route.get("spec") or {}).get("rules"):
            return False
        self._call(
            conn,
            _Op("patch", "httproutes", env.namespace, env.route),
            conn.custom.patch_namespaced_custom_object,
            "gateway.networking.k8s.io",
            "v1",
            env.namespace,
            "httproutes",
            str(env.route),
            {"spec": {"rules": rules}},
            _content_type="application/merge-patch+json",
        )
        return True

    async def promote(self, env: EnvironmentSettings, image: str) -> None:
        """Stable runs ``image`` at full scale; then the canary and its traffic go away."""
        await asyncio.to_thread(self._step, self._promote, env, image)

    def _promote(self, env: EnvironmentSettings, image: str) -> None:
        conn = self._conn(env)
        ns = env.namespace
        stable = self._deployment(conn, ns, env.deployment)
        canary = self._maybe_deployment(conn, ns, self._canary_name(env))
        total = self._total(env, stable, canary)
        self._set_image(conn, env, env.deployment, stable, image, replicas=total)
        self._wait_rollout(conn, env, env.deployment)
        self._reset_traffic(conn, env)

    def _reset_traffic(self, conn: _Conn, env: EnvironmentSettings) -> bool:
        """All traffic to stable, canary scaled to 0; True when anything changed."""
        changed = False
        if env.traffic is Traffic.NGINX and env.ingress:
            changed |= self._set_nginx_weight(conn, env, 0, create=False)
        elif env.traffic is Traffic.GATEWAY and env.route:
            changed |= self._set_route_weight(conn, env, 0)
        canary = self._maybe_deployment(conn, env.namespace, self._canary_name(env))
        if canary is not None and _replicas(canary) != 0:
            self._scale(conn, env.namespace, self._canary_name(env), 0)
            changed = True
        return changed

    # blue-green ------------------------------------------------------------------------

    async def stage_colour(self, env: EnvironmentSettings, image: str) -> str:
        """Deploy ``image`` to the idle colour at the active colour's scale; return it."""
        return await asyncio.to_thread(self._step, self._stage_colour, env, image)

    def _stage_colour(self, env: EnvironmentSettings, image: str) -> str:
        conn = self._conn(env)
        ns = env.namespace
        active = self._active_colour(conn, env)
        idle = COLOURS[1 - COLOURS.index(active)]
        active_d = self._deployment(conn, ns, f"{env.deployment}-{active}")
        name = f"{env.deployment}-{idle}"
        cur = self._maybe_deployment(conn, ns, name)
        if cur is not None:
            self._set_image(conn, env, name, cur, image, replicas=_replicas(active_d))
            return idle
        spec = copy.deepcopy(active_d.get("spec") or {})
        label = env.colour_label
        spec["selector"] = {
            **(spec.get("selector") or {}),
            "matchLabels": {**_match_labels(active_d), label: idle},
        }
        tmeta = spec.setdefault("template", {}).setdefault("metadata", {})
        tmeta["labels"] = {
            k: v for k, v in (tmeta.get("labels") or {}).items() if k != HASH_LABEL
        } | {label: idle}
        containers = (spec["template"].get("spec") or {}).get("containers") or []
        if containers:
            containers[app_container_index(spec, env.deployment)]["image"] = image
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": {**((active_d.get("metadata") or {}).get("labels") or {}), label: idle},
            },
            "spec": spec,
        }
        self._call(
            conn,
            _Op("create", "deployments", ns, name),
            conn.apps.create_namespaced_deployment,
            ns,
            body,
        )
        return idle

    async def switch_colour(self, env: EnvironmentSettings, colour: str) -> TrafficSplit:
        """Point the Service selector at ``colour``."""
        return await asyncio.to_thread(self._step, self._switch_colour, env, colour)

    def _patch_selector(self, conn: _Conn, env: EnvironmentSettings, colour: str) -> None:
        self._call(
            conn,
            _Op("patch", "services", env.namespace, env.service),
            conn.core.patch_namespaced_service,
            env.service,
            env.namespace,
            {"spec": {"selector": {env.colour_label: colour}}},
            _content_type="application/merge-patch+json",
        )

    def _switch_colour(self, env: EnvironmentSettings, colour: str) -> TrafficSplit:
        if colour not in COLOURS:
            raise StepFailed(f"colour must be blue or green, not {colour!r}")
        self._patch_selector(self._conn(env), env, colour)
        return TrafficSplit(100, 100.0, f"selector {env.colour_label}={colour}")

    async def retire_colour(self, env: EnvironmentSettings, colour: str) -> None:
        """Scale ``colour`` to 0 (after the monitoring window ended green)."""
        await asyncio.to_thread(self._step, self._retire_colour, env, colour)

    def _retire_colour(self, env: EnvironmentSettings, colour: str) -> None:
        conn = self._conn(env)
        if self._active_colour(conn, env) == colour:
            raise StepFailed(f"{colour} serves traffic now: switch away before retiring it")
        self._scale(conn, env.namespace, f"{env.deployment}-{colour}", 0)

    # rollback --------------------------------------------------------------------------

    async def rollback(self, env: EnvironmentSettings, target: Revision) -> RollbackResult:
        """Traffic back to ``target`` first, then its workload. Idempotent."""
        return await asyncio.to_thread(self._step, self._rollback, env, target)

    def _rollback(self, env: EnvironmentSettings, target: Revision) -> RollbackResult:
        conn = self._conn(env)
        ns = env.namespace
        notes: list[str] = []
        # 1. Traffic. The first request reads the one traffic object and fixes it.
        if target.colour:
            traffic_changed = self._restore_colour(conn, env, target)
            if traffic_changed:
                notes.append(f"traffic back to {target.colour}")
        else:
            traffic_changed = self._reset_traffic(conn, env)
            if traffic_changed:
                notes.append("canary out of traffic")
        # 2. The workload: pod template and replicas of the target revision.
        deploy = self._deployment(conn, ns, target.deployment)
        rses = self._replicasets(conn, ns, deploy)
        want = _find_rs(rses, target)
        if want is None:
            raise StepFailed(
                f"revision {target.revision} of {target.deployment} ({target.image}) is gone:"
                f" no ReplicaSet with pod-template-hash {target.template_hash} in namespace {ns}"
                " (revisionHistoryLimit?); roll forward with a new deploy"
            )
        want_tmpl = template_without_hash((want.get("spec") or {}).get("template") or {})
        cur_tmpl = (deploy.get("spec") or {}).get("template") or {}
        ops: list[dict[str, Any]] = []
        if not same_template(cur_tmpl, want_tmpl):
            ops.append({"op": "add", "path": "/spec/template", "value": want_tmpl})
        if _replicas(deploy) != target.replicas:
            ops.append({"op": "add", "path": "/spec/replicas", "value": target.replicas})
        if ops:
            self._patch_deployment(conn, ns, target.deployment, ops, "application/json-patch+json")
            if ops[0]["path"] == "/spec/template":
                notes.append(f"{target.deployment} back to {target.image}")
            else:
                notes.append(f"{target.deployment} at {target.replicas} replicas")
        if not notes:
            rev = _revision_of(deploy) or target.revision
            return RollbackResult(False, f"already on rev {rev} ({target.image})")
        return RollbackResult(True, "; ".join(notes))

    def _restore_colour(self, conn: _Conn, env: EnvironmentSettings, target: Revision) -> bool:
        colour = str(target.colour)
        svc = self._call(
            conn,
            _Op("get", "services", env.namespace, env.service),
            conn.core.read_namespaced_service,
            env.service,
            env.namespace,
        )
        if ((svc.get("spec") or {}).get("selector") or {}).get(env.colour_label) == colour:
            return False
        old = self._deployment(conn, env.namespace, target.deployment)
        if _replicas(old) == 0:
            # Retired already: a Service pointed at no pods is worse than a short wait.
            self._scale(conn, env.namespace, target.deployment, target.replicas)
            self._wait_rollout(conn, env, target.deployment)
        self._patch_selector(conn, env, colour)
        return True

    # logs ------------------------------------------------------------------------------

    async def scan_logs(
        self, env: EnvironmentSettings, patterns: tuple[str, ...], since_seconds: float
    ) -> dict[str, int]:
        """Lines matching each pattern in the recent logs of the new pods."""
        return await asyncio.to_thread(self._scan_logs, env, patterns, since_seconds)

    def _new_pods(self, conn: _Conn, env: EnvironmentSettings) -> list[dict[str, Any]]:
        pods = [
            p
            for p in self._list_pods(conn, env)
            if not (p.get("metadata") or {}).get("deletionTimestamp")
        ]
        canary = [
            p
            for p in pods
            if ((p.get("metadata") or {}).get("labels") or {}).get(env.track_label) == "canary"
        ]
        if canary:
            return canary
        # Otherwise the pods of the newest ReplicaSet among them.
        rs_list = self._call(
            conn,
            _Op("list", "replicasets", env.namespace),
            conn.apps.list_namespaced_replica_set,
            env.namespace,
            label_selector=self._selector(conn, env) or None,
        )
        rses = [rs for rs in rs_list.get("items") or [] if _replicas(rs) > 0]
        if not rses:
            return pods
        newest = max(
            rses,
            key=lambda rs: (
                (rs.get("metadata") or {}).get("creationTimestamp", ""),
                _rev_number(rs),
            ),
        )
        h = ((newest.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL)
        return [
            p for p in pods if ((p.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL) == h
        ]

    def _scan_logs(
        self, env: EnvironmentSettings, patterns: tuple[str, ...], since_seconds: float
    ) -> dict[str, int]:
        conn = self._conn(env)
        compiled = [(p, re.compile(p)) for p in patterns]
        counts = dict.fromkeys(patterns, 0)
        for pod in self._new_pods(conn, env):
            meta = pod.get("metadata") or {}
            name = str(meta.get("name"))
            containers = (pod.get("spec") or {}).get("containers") or [{}]
            cname = next(
                (c["name"] for c in containers if c.get("name") == env.deployment),
                containers[0].get("name"),
            )
            try:
                text = self._raw(
                    conn,
                    _Op("get", "pods/log", env.namespace, name),
                    conn.core.read_namespaced_pod_log,
                    name,
                    env.namespace,
                    container=cname,
                    since_seconds=max(1, math.ceil(since_seconds)),
                    tail_lines=2000,
                ).decode(errors="replace")
            except KubeApiError as e:
                if e.status in (400, 404):  # not started yet, or gone: nothing to scan
                    continue
                raise
            for line in text.splitlines():
                for p, rx in compiled:
                    if rx.search(line):
                        counts[p] += 1
        return counts

    # status (b2tui status) -------------------------------------------------------------

    async def workloads(self, env: EnvironmentSettings) -> list[DeploymentStatus]:
        """The environment's Deployments (stable, canary, blue, green) that exist."""
        return await asyncio.to_thread(self._workloads, env)

    def _workloads(self, env: EnvironmentSettings) -> list[DeploymentStatus]:
        conn = self._conn(env)
        doc = self._call(
            conn,
            _Op("list", "deployments", env.namespace),
            conn.apps.list_namespaced_deployment,
            env.namespace,
        )
        tracks = {
            env.deployment: "stable",
            self._canary_name(env): "canary",
            **{f"{env.deployment}-{c}": c for c in COLOURS},
        }
        out = []
        for d in doc.get("items") or []:
            name = (d.get("metadata") or {}).get("name")
            if name not in tracks:
                continue
            st = d.get("status") or {}
            out.append(
                DeploymentStatus(
                    name=name,
                    revision=_revision_of(d),
                    image=_image_of(d, env.deployment),
                    ready=int(st.get("readyReplicas") or 0),
                    desired=_replicas(d),
                    track=tracks[name],
                )
            )
        return sorted(out, key=lambda s: list(tracks).index(s.name))

    async def traffic(self, env: EnvironmentSettings) -> TrafficSplit:
        """The traffic split now: on the canary, or on the active colour (blue-green)."""
        return await asyncio.to_thread(self._traffic, env)

    def _traffic(self, env: EnvironmentSettings) -> TrafficSplit:
        conn = self._conn(env)
        ns = env.namespace
        if env.strategy is Strategy.BLUE_GREEN:
            colour = self._active_colour(conn, env)
            return TrafficSplit(100, 100.0, f"{colour} active ({env.colour_label}={colour})")
        if env.traffic is Traffic.NGINX and env.ingress:
            ing = self._get(
                conn,
                _Op("get", "ingresses", ns, f"{env.ingress}-canary"),
                conn.net.read_namespaced_ingress,
                f"{env.ingress}-canary",
                ns,
            )
            w = ((ing or {}).get("metadata") or {}).get("annotations", {}).get(NGINX_WEIGHT, "0")
            p = int(w) if str(w).isdigit() else 0
            return TrafficSplit(p, float(p), f"canary-weight={p}")
        if env.traffic is Traffic.GATEWAY and env.route:
            weights = {}
            for rule in (self._route(conn, env).get("spec") or {}).get("rules") or []:
                for ref in rule.get("backendRefs") or []:
                    weights[ref.get("name")] = int(ref.get("weight", 1))
            s, c = weights.get(env.service, 1), weights.get(f"{env.service}-canary", 0)
            p = round(100.0 * c / (s + c)) if s + c else 0
            return TrafficSplit(p, 100.0 * c / (s + c) if s + c else 0.0, f"weights {s}/{c}")
        stable = self._maybe_deployment(conn, ns, env.deployment)
        canary = self._maybe_deployment(conn, ns, self._canary_name(env))
        s = _replicas(stable) if stable else 0
        c = _replicas(canary) if canary else 0
        achieved = 100.0 * c / (s + c) if s + c else 0.0
        return TrafficSplit(round(achieved), achieved, f"{c}/{s + c} replicas")

    # lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every pod watch and close the API clients."""
        with self._lock:
            watches = list(self._watches.values())
            conns = list(self._conns.values())
            self._watches.clear()
            self._conns.clear()
        for w in watches:
            w.stop()
        for c in conns:
            with contextlib.suppress(Exception):
                c.api.close()


def _retarget_ingress(spec: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A copy of an Ingress spec whose backends on service ``old`` point at ``new``."""
    spec = copy.deepcopy(spec)

    def fix(backend: dict[str, Any] | None) -> None:
        svc = (backend or {}).get("service")
        if svc and svc.get("name") == old:
            svc["name"] = new

    fix(spec.get("defaultBackend"))
    for rule in spec.get("rules") or []:
        for path in ((rule.get("http") or {}).get("paths")) or []:
            fix(path.get("backend"))
    return spec


def _find_rs(rses: list[dict[str, Any]], target: Revision) -> dict[str, Any] | None:
    """The ReplicaSet of ``target``: by template hash, else revision, else image."""

    def labels(rs: dict[str, Any]) -> dict[str, str]:
        return dict((rs.get("metadata") or {}).get("labels") or {})

    if target.template_hash:
        for rs in rses:
            if labels(rs).get(HASH_LABEL) == target.template_hash:
                return rs
    for rs in rses:
        if _revision_of(rs) == target.revision:
            return rs
    by_image = [rs for rs in rses if _image_of(rs, target.deployment) == target.image]
    return max(by_image, key=_rev_number) if by_image else None
