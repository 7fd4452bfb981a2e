"""Defaulting and validation, the subset of the API server's that clients notice.

Defaulting matters beyond cosmetics: the Deployment controller hashes the *defaulted*
pod template, so re-applying an old template must default to exactly the same object.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .errors import ApiError, invalid
from .selectors import selector_matches
from .store import Obj, ResourceType

_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _default_container(c: dict[str, Any]) -> None:
    image = c.get("image") or ""
    tag = image.rsplit("/", 1)[-1]
    pinned = (":" in tag and not tag.endswith(":latest")) or "@" in image
    c.setdefault("imagePullPolicy", "IfNotPresent" if pinned else "Always")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for p in c.get("ports") or []:
        p.setdefault("protocol", "TCP")


def default_pod_spec(spec: dict[str, Any]) -> None:
    """The pod spec defaults of the API server (containers, restart and DNS policy …)."""
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if isinstance(c, dict):
            _default_container(c)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")


def _default_workload(spec: dict[str, Any], deployment: bool) -> None:
    spec.setdefault("replicas", 1)
    if deployment:
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            ru.setdefault("maxUnavailable", "25%")
            ru.setdefault("maxSurge", "25%")
    template = spec.get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {}).pop("creationTimestamp", None)
        if isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"])


def _service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName" and "clusterIP" not in spec:
        n = int(hashlib.sha256(obj["metadata"]["name"].encode()).hexdigest()[:4], 16)
        spec["clusterIP"] = f"10.96.{n >> 8}.{(n & 0xFF) or 1}"
    if "clusterIP" in spec:
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for p in spec.get("ports") or []:
        p.setdefault("protocol", "TCP")
        if "port" in p:
            p.setdefault("targetPort", p["port"])
    obj.setdefault("status", {"loadBalancer": {}})


def apply_defaults(rt: ResourceType, obj: Obj) -> None:
    """Fill defaults in place, as the API server's defaulting step does."""
    meta = obj.setdefault("metadata", {})
    if meta.get("labels") == {}:
        del meta["labels"]
    if rt.kind == "Deployment":
        _default_workload(obj.setdefault("spec", {}), deployment=True)
    elif rt.kind == "ReplicaSet":
        _default_workload(obj.setdefault("spec", {}), deployment=False)
    elif rt.kind == "Pod":
        default_pod_spec(obj.setdefault("spec", {}))
    elif rt.kind == "Service":
        _service(obj)
    elif rt.kind == "Namespace":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["status"] = {"phase": "Active"}


def _containers(spec: Any, path: str) -> list[tuple[str, str]]:
    causes = []
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not containers:
        return [(f"{path}.containers", "Required value")]
    for i, c in enumerate(containers):
        if not isinstance(c, dict) or not c.get("name"):
            causes.append((f"{path}.containers[{i}].name", "Required value"))
        if not isinstance(c, dict) or not c.get("image"):
            causes.append((f"{path}.containers[{i}].image", "Required value"))
    return causes


def validate(rt: ResourceType, obj: Obj) -> None:
    """Raise 422 Invalid for the mistakes the real API server rejects."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    causes: list[tuple[str, str]] = []
    if not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
    elif not _DNS1123.match(name) or len(name) > 253:
        causes.append(
            (
                "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                "lower case alphanumeric characters, '-' or '.', and must start and end "
                "with an alphanumeric character",
            )
        )
    spec = obj.get("spec")
    if rt.kind in ("Deployment", "ReplicaSet"):
        spec = spec if isinstance(spec, dict) else {}
        selector = spec.get("selector")
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        if not selector:
            causes.append(("spec.selector", "Required value"))
        elif not selector_matches(selector, labels):
            causes.append(
                (
                    "spec.template.metadata.labels",
                    f"Invalid value: {labels!r}: `selector` does not match template `labels`",
                )
            )
        if not isinstance(spec.get("replicas", 0), int) or spec.get("replicas", 0) < 0:
            causes.append(("spec.replicas", "Invalid value: must be greater than or equal to 0"))
        causes += _containers(template.get("spec"), "spec.template.spec")
    elif rt.kind == "Pod":
        causes += _containers(spec, "spec")
    elif rt.kind == "Service":
        spec = spec if isinstance(spec, dict) else {}
        headless = spec.get("clusterIP") == "None"
        if (
            spec.get("type", "ClusterIP") != "ExternalName"
            and not headless
            and not spec.get("ports")
        ):
            causes.append(("spec.ports", "Required value"))
    if causes:
        raise invalid(rt, name, causes)


def check_immutable(rt: ResourceType, old: Obj, new: Obj) -> None:
    """Fields an update may not change (selector of a Deployment, clusterIP of a Service)."""
    name = old["metadata"]["name"]
    old_selector = (old.get("spec") or {}).get("selector")
    if rt.kind in ("Deployment", "ReplicaSet") and old_selector != (new.get("spec") or {}).get(
        "selector"
    ):
        raise invalid(rt, name, [("spec.selector", "Invalid value: field is immutable")])
    if rt.kind == "Service":
        ospec, nspec = old.get("spec") or {}, new.setdefault("spec", {})
        if "clusterIP" in ospec:
            nspec.setdefault("clusterIP", ospec["clusterIP"])
            nspec.setdefault("clusterIPs", ospec.get("clusterIPs", [ospec["clusterIP"]]))
            if nspec["clusterIP"] != ospec["clusterIP"]:
                raise invalid(rt, name, [("spec.clusterIP", "Invalid value: field is immutable")])


__all__ = ["ApiError", "apply_defaults", "check_immutable", "default_pod_spec", "validate"]
