"""Discovery documents (legacy, not aggregated): what ``kubectl`` reads before anything else."""

from __future__ import annotations

from typing import Any

from .store import RESOURCES, ResourceType, verbs

GIT_VERSION = "v1.32.0"


def _groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for r in RESOURCES:
        if r.group and r.version not in groups.setdefault(r.group, []):
            groups[r.group].append(r.version)
    return groups


def _resources(group: str, version: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in RESOURCES:
        if r.group != group or r.version != version:
            continue
        out.append(_resource(r))
        for sub in r.subresources:
            kind = {"scale": "Scale", "log": "Pod"}.get(sub, r.kind)
            entry: dict[str, Any] = {
                "name": f"{r.plural}/{sub}",
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": ["get"] if sub == "log" else ["get", "patch", "update"],
            }
            if sub == "scale":
                entry.update(group="autoscaling", version="v1")
            out.append(entry)
    return out


def _resource(r: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": [*verbs(), "deletecollection"] if r.namespaced else verbs(),
        "storageVersionHash": r.kind[:8],
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.kind in ("Deployment", "ReplicaSet", "Pod", "Service"):
        entry["categories"] = ["all"]
    return entry


def document(path: str, url: str) -> dict[str, Any] | None:
    """The discovery document served at ``path``, or ``None`` if it is not a discovery path."""
    path = path.rstrip("/") or "/"
    if path == "/version":
        return {
            "major": "1",
            "minor": "32",
            "gitVersion": GIT_VERSION,
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2024-12-11T00:00:00Z",
            "goVersion": "go1.23.4",
            "compiler": "gc",
            "platform": "linux/amd64",
        }
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": url.removeprefix("http://")}
            ],
        }
    if path == "/api/v1":
        return {"kind": "APIResourceList", "groupVersion": "v1", "resources": _resources("", "v1")}
    groups = _groups()
    if path == "/apis":
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in groups.items()],
        }
    parts = path.strip("/").split("/")
    if parts[0] == "apis" and len(parts) == 2 and parts[1] in groups:
        return {"kind": "APIGroup", "apiVersion": "v1", **_group(parts[1], groups[parts[1]])}
    if parts[0] == "apis" and len(parts) == 3 and parts[2] in groups.get(parts[1], []):
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{parts[1]}/{parts[2]}",
            "resources": _resources(parts[1], parts[2]),
        }
    return None


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}
