"""Pure helpers over API objects (plain dicts as the server sends them).

Responses are read raw and kept as dicts (the client's generated models would turn a
half-filled object into a crash), so every read of a nested field goes through one of
the typed accessors here: a missing or null field reads as empty, never ``KeyError``.
Nothing in this module does I/O; it is unit-tested with plain values.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from b2tui.ports import Revision, RolloutState

Obj = dict[str, Any]
"""An API object, or a part of one, as decoded JSON."""

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
COLOURS = ("blue", "green")


# --- accessors ---------------------------------------------------------------------------


def field(obj: Obj | None, *path: str) -> Obj:
    """The dict at ``path`` inside ``obj`` (``{}`` when any step is missing or null)."""
    cur: Any = obj or {}
    for key in path:
        cur = cur.get(key) if isinstance(cur, dict) else None
        if cur is None:
            return {}
    return cur if isinstance(cur, dict) else {}


def items(obj: Obj | None, *path: str) -> list[Obj]:
    """The list at ``path`` (its last key names the list); ``[]`` when missing."""
    *parents, last = path
    value = field(obj, *parents).get(last)
    return list(value) if isinstance(value, list) else []


def meta(obj: Obj | None) -> Obj:
    return field(obj, "metadata")


def spec(obj: Obj | None) -> Obj:
    return field(obj, "spec")


def status(obj: Obj | None) -> Obj:
    return field(obj, "status")


def name(obj: Obj | None) -> str:
    return str(meta(obj).get("name") or "")


def labels(obj: Obj | None) -> dict[str, str]:
    return dict(field(obj, "metadata", "labels"))


def annotations_of(obj: Obj | None) -> dict[str, str]:
    return dict(field(obj, "metadata", "annotations"))


def terminating(obj: Obj | None) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def match_labels(deploy: Obj | None) -> dict[str, str]:
    return dict(field(deploy, "spec", "selector", "matchLabels"))


def service_selector(svc: Obj | None) -> dict[str, str]:
    return dict(field(svc, "spec", "selector"))


def template(workload: Obj | None) -> Obj:
    """The pod template of a Deployment or ReplicaSet."""
    return field(workload, "spec", "template")


def containers(workload: Obj | None) -> list[Obj]:
    """The containers of a Deployment's or ReplicaSet's pod template."""
    return items(workload, "spec", "template", "spec", "containers")


def replicas(workload: Obj | None) -> int:
    """``spec.replicas``; 1 when unset, as the API server defaults it."""
    r = spec(workload).get("replicas")
    return 1 if r is None else int(r)


def revision_of(obj: Obj | None) -> str:
    return str(annotations_of(obj).get(REVISION_ANNOTATION, ""))


def rev_number(obj: Obj | None) -> int:
    try:
        return int(revision_of(obj) or 0)
    except ValueError:
        return 0


def template_hash(rs: Obj | None) -> str | None:
    return labels(rs).get(HASH_LABEL)


def condition(obj: Obj | None, kind: str) -> Obj | None:
    for c in items(obj, "status", "conditions"):
        if c.get("type") == kind:
            return dict(c)
    return None


def parse_time(value: str | None) -> datetime:
    if not value:
        return datetime.fromtimestamp(0, UTC)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


# --- workloads ---------------------------------------------------------------------------


def app_container_index(spec_: Obj, deployment: str) -> int:
    """Index of the application container: the one named like the Deployment, else 0.

    Args:
        spec_: a Deployment's ``spec``.
        deployment: the Deployment name the application container is named after.
    """
    for i, c in enumerate(items(spec_, "template", "spec", "containers")):
        if c.get("name") == deployment:
            return i
    return 0


def running_digest(pods: list[Obj], image: str) -> str | None:
    """The digest the kubelet reports for ``image`` in the pods' container statuses
    (``imageID``: ``docker-pullable://repo@sha256:…`` or ``repo@sha256:…``), or None."""
    for pod in pods:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        for c in statuses:
            image_id = str(c.get("imageID") or "")
            if c.get("image") == image and "@sha256:" in image_id:
                return image_id.rsplit("@", 1)[1]
    return None


def image_of(workload: Obj | None, deployment: str) -> str:
    """The application container's image (see :func:`app_container_index`)."""
    cs = containers(workload)
    if not cs:
        return ""
    return str(cs[app_container_index(spec(workload), deployment)].get("image", ""))


def selector_string(labels_: dict[str, str]) -> str:
    """``matchLabels`` as a label selector query (``app=web,track=stable``)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels_.items()))


def _prune(value: Any) -> Any:
    """Drop empty values so that defaulted-away fields compare equal."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [], "")}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def template_without_hash(template_: Obj) -> Obj:
    """A ReplicaSet's pod template as a Deployment would carry it (no ``pod-template-hash``)."""
    t = copy.deepcopy(template_)
    labels_ = (t.get("metadata") or {}).get("labels")
    if isinstance(labels_, dict):
        labels_.pop(HASH_LABEL, None)
    return t


def same_template(a: Obj, b: Obj) -> bool:
    """True when two pod templates are equal, ignoring the hash label and empty fields."""
    return bool(_prune(template_without_hash(a)) == _prune(template_without_hash(b)))


def owned_by(rs: Obj, owner: Obj) -> bool:
    """True when ``owner`` (by uid) is among ``rs``'s ownerReferences."""
    uid = meta(owner).get("uid")
    return any(o.get("uid") == uid for o in items(rs, "metadata", "ownerReferences"))


def current_rs(deploy: Obj, rses: list[Obj]) -> Obj:
    """The ReplicaSet that runs ``deploy``'s template now: by revision, else by template."""
    rev = revision_of(deploy)
    for rs in rses:
        if rev and revision_of(rs) == rev:
            return rs
    for rs in rses:
        if same_template(template(rs), template(deploy)):
            return rs
    return {}


def find_rs(rses: list[Obj], target: Revision) -> Obj | None:
    """The ReplicaSet of ``target``: by template hash, else revision, else image."""
    if target.template_hash:
        for rs in rses:
            if template_hash(rs) == target.template_hash:
                return rs
    for rs in rses:
        if revision_of(rs) == target.revision:
            return rs
    by_image = [rs for rs in rses if image_of(rs, target.deployment) == target.image]
    return max(by_image, key=rev_number) if by_image else None


def rollout_state(deploy: Obj) -> RolloutState:
    """Judge a Deployment's rollout exactly as ``kubectl rollout status`` does."""
    m, sp, st = meta(deploy), spec(deploy), status(deploy)
    desired = int(sp.get("replicas", 1) if sp.get("replicas") is not None else 1)
    updated = int(st.get("updatedReplicas") or 0)
    ready = int(st.get("readyReplicas") or 0)
    available = int(st.get("availableReplicas") or 0)
    current = int(st.get("replicas") or 0)
    name_ = m.get("name", "")

    def waiting(message: str) -> RolloutState:
        return RolloutState(False, False, message, updated, ready, desired)

    if int(m.get("generation") or 0) > int(st.get("observedGeneration") or 0):
        return waiting(f"waiting for deployment {name_} spec update to be observed")
    progressing = condition(deploy, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        msg = progressing.get("message") or f"deployment {name_} exceeded its progress deadline"
        return RolloutState(False, True, str(msg), updated, ready, desired)
    if updated < desired:
        return waiting(f"{updated} of {desired} updated replicas")
    if current > updated:
        return waiting(f"{current - updated} old replicas are pending termination")
    if available < updated:
        return waiting(f"{available} of {updated} updated replicas are available")
    return RolloutState(
        True, False, f"deployment {name_} successfully rolled out", updated, ready, desired
    )


def with_image(spec_: Obj, deployment: str, image: str) -> Obj:
    """``spec_`` (a Deployment spec, changed in place) with the app container on ``image``."""
    cs = items(spec_, "template", "spec", "containers")
    if cs:
        cs[app_container_index(spec_, deployment)]["image"] = image
    return spec_


def derived_spec(source: Obj, label: str, value: str, deployment: str, image: str) -> Obj:
    """A copy of ``source``'s spec whose selector and pods carry ``label: value``, on ``image``.

    The canary (``track: canary``) and the idle colour (``color: green``) are made this
    way from the Deployment that serves now.
    """
    sp = copy.deepcopy(spec(source))
    sel = dict(sp.get("selector") or {})
    sel["matchLabels"] = {**(sel.get("matchLabels") or {}), label: value}
    sp["selector"] = sel
    tmeta = sp.setdefault("template", {}).setdefault("metadata", {})
    tmeta["labels"] = {k: v for k, v in (tmeta.get("labels") or {}).items() if k != HASH_LABEL} | {
        label: value
    }
    return with_image(sp, deployment, image)
