"""The slice of ``/openapi/v3`` kubectl needs before it will ``apply``.

kubectl (1.27+) validates manifests with ``--validate=strict`` by default: it looks up the
PATCH operation of each kind in the OpenAPI v3 document of its group-version and, when
that operation takes the ``fieldValidation`` query parameter, leaves validation to the
server (otherwise it downloads the protobuf OpenAPI v2 schema, which we do not serve).
Each document therefore describes, per resource, the PATCH operation with its
``x-kubernetes-group-version-kind`` and parameters. The strategic-merge media type is
left out on purpose so kubectl computes apply patches from its built-in types.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .store import RESOURCES, ResourceType


def _gv_path(r: ResourceType) -> str:
    return f"apis/{r.group}/{r.version}" if r.group else f"api/{r.version}"


def _patch_op(r: ResourceType) -> dict[str, Any]:
    query = ["dryRun", "fieldManager", "fieldValidation", "force", "pretty"]
    return {
        "tags": [r.api_version.replace("/", "_")],
        "operationId": f"patch{r.kind}",
        "parameters": [
            {"name": q, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for q in query
        ],
        "requestBody": {
            "content": {
                t: {"schema": {"type": "object"}}
                for t in (
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/apply-patch+yaml",
                )
            },
            "required": True,
        },
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {
            "group": r.group,
            "version": r.version,
            "kind": r.kind,
        },
    }


def gv_document(gv_path: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group-version (``api/v1``, ``apis/apps/v1``)."""
    paths: dict[str, Any] = {}
    for r in RESOURCES:
        if _gv_path(r) != gv_path:
            continue
        ns = "/namespaces/{namespace}" if r.namespaced else ""
        paths[f"/{gv_path}{ns}/{r.plural}/{{name}}"] = {"patch": _patch_op(r)}
    if not paths:
        return None
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def root(url: str = "") -> dict[str, Any]:
    """``/openapi/v3``: where each group-version's document lives (with a content hash)."""
    out: dict[str, Any] = {}
    for gv in sorted({_gv_path(r) for r in RESOURCES}):
        doc = json.dumps(gv_document(gv), sort_keys=True).encode()
        digest = hashlib.sha512(doc).hexdigest()[:128].upper()
        out[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest}"}
    return {"paths": out}


def document(path: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document served at ``path``, if any."""
    if path.rstrip("/") == "/openapi/v3":
        return root()
    if path.startswith("/openapi/v3/"):
        return gv_document(path.removeprefix("/openapi/v3/").strip("/"))
    return None
