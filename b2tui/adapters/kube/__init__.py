"""The :class:`~b2tui.ports.Cluster` port on a real Kubernetes API server (package).

Built on the official ``kubernetes`` client. Its calls block, so every port method runs
its work in a thread (one decorator, :func:`.client.threaded`). Responses are read raw
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
  number), minus that label, with the target's replica count. When this process set the
  canary, the first write goes out before any read: a JSON patch, prepared then, that
  tests what was written and resets it (refused, the rollback reads first). Each step
  reads the one object it may change and writes only when it differs, so a second
  rollback (same process or another) is a no-op that says ``already on rev N`` — never
  the flip back to the bad version that ``kubectl rollout undo`` twice does. Rollbacks
  run on a thread and connections of their own (:mod:`.rollback`).

Errors are :class:`~b2tui.ports.SourceError` (reads) or :class:`~b2tui.ports.StepFailed`
(workflow steps), each one line: ``forbidden: cannot patch deployments in namespace prod
(as user ci)``, ``context prod not found in kubeconfig ~/.kube/config``, ``API server
unreachable at https://…: connection refused``, ``deployment web not found in namespace
prod``.

Where each concern lives: :mod:`.errors` (one line per failed request), :mod:`.objects`
and :mod:`.pods` (pure helpers over API objects), :mod:`.client` (connections, requests,
the threading decorator), :mod:`.watch` (:class:`PodWatch`), :mod:`.apply`,
:mod:`.canary`, :mod:`.bluegreen`, :mod:`.logs`, :mod:`.rollback` (the prepared first
write, the rollback thread), :mod:`.traffic` (one router per
provider behind ``TrafficRouter``, picked once per environment by
:func:`.traffic.factory.router_for`) and :mod:`.cluster` (:class:`KubeCluster`).
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from b2tui.adapters.kube.canary import TOTAL_ANNOTATION
    from b2tui.adapters.kube.client import threaded
    from b2tui.adapters.kube.cluster import KubeCluster
    from b2tui.adapters.kube.errors import KubeApiError, Op, describe_error
    from b2tui.adapters.kube.objects import (
        HASH_LABEL,
        REVISION_ANNOTATION,
        app_container_index,
        find_rs,
        rollout_state,
        same_template,
        selector_string,
        template_without_hash,
    )
    from b2tui.adapters.kube.pods import pod_info, pod_reason
    from b2tui.adapters.kube.traffic.nginx import NGINX_CANARY, NGINX_WEIGHT, retarget_ingress
    from b2tui.adapters.kube.watch import PodWatch
    from b2tui.ports import DeploymentStatus

# The package's names are loaded on first use (PEP 562), so that importing one module of
# it (the kube store imports ``.client`` and ``.errors``; ``b2tui status --line`` only
# those) does not import the whole adapter.
_WHERE = {
    "TOTAL_ANNOTATION": "canary",
    "threaded": "client",
    "KubeCluster": "cluster",
    "KubeApiError": "errors",
    "Op": "errors",
    "describe_error": "errors",
    "HASH_LABEL": "objects",
    "REVISION_ANNOTATION": "objects",
    "app_container_index": "objects",
    "find_rs": "objects",
    "rollout_state": "objects",
    "same_template": "objects",
    "selector_string": "objects",
    "template_without_hash": "objects",
    "pod_info": "pods",
    "pod_reason": "pods",
    "NGINX_CANARY": "traffic.nginx",
    "NGINX_WEIGHT": "traffic.nginx",
    "retarget_ingress": "traffic.nginx",
    "PodWatch": "watch",
}
_OLDER = {"_Op": "Op", "_find_rs": "find_rs", "_retarget_ingress": "retarget_ingress"}
"""Older names, kept for callers of the single-module adapter."""


def __getattr__(name: str) -> Any:
    if name == "DeploymentStatus":
        from b2tui.ports import DeploymentStatus

        return DeploymentStatus
    real = _OLDER.get(name, name)
    if real not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[real]}"), real)
    globals()[name] = value
    return value


__all__ = [
    "HASH_LABEL",
    "NGINX_CANARY",
    "NGINX_WEIGHT",
    "REVISION_ANNOTATION",
    "TOTAL_ANNOTATION",
    "DeploymentStatus",
    "KubeApiError",
    "KubeCluster",
    "Op",
    "PodWatch",
    "app_container_index",
    "describe_error",
    "find_rs",
    "pod_info",
    "pod_reason",
    "retarget_ingress",
    "rollout_state",
    "same_template",
    "selector_string",
    "template_without_hash",
    "threaded",
]
