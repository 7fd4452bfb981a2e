"""The four PATCH flavours the API server accepts.

* JSON merge patch (RFC 7386): objects merge, ``null`` deletes, lists replace.
* Strategic merge patch: like merge patch, but lists of objects with a merge key
  (``containers`` by ``name``, ``ports`` by ``containerPort`` …) merge element-wise, and the
  ``$patch`` / ``$setElementOrder`` / ``$retainKeys`` directives kubectl sends are honoured
  or dropped.
* JSON patch (RFC 6902): a list of add/remove/replace/move/copy/test operations.
* Server-side apply: here a strategic merge of the applied configuration (field ownership
  is not tracked; ``force`` and ``fieldManager`` are accepted).
"""

from __future__ import annotations

import copy
from typing import Any

JSON = Any


class PatchError(ValueError):
    """The patch cannot be applied to the object (the API server answers 422)."""


class PatchDecodeError(PatchError):
    """The patch itself is malformed (the API server answers 400 BadRequest)."""


# Merge keys of the lists b2tui and kubectl touch, by field name. The real server takes
# them from the OpenAPI schema (x-kubernetes-patch-merge-key); this is the subset in use.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}
# ``ports`` merges by ``containerPort`` in a container and by ``port`` in a Service.
_PORT_KEYS = ("containerPort", "port")


def merge_patch(target: JSON, patch: JSON) -> JSON:
    """RFC 7386 JSON merge patch; returns a new value."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field in MERGE_KEYS:
        return MERGE_KEYS[field]
    if field == "ports":
        for key in _PORT_KEYS:
            if all(isinstance(i, dict) and key in i for i in items):
                return key
    return None


def strategic_merge_patch(target: JSON, patch: JSON) -> JSON:
    """Strategic merge patch of ``patch`` onto ``target``; returns a new value."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k.startswith("$setElementOrder/") or k in ("$retainKeys", "$patch"):
            continue  # ordering hints: our lists keep the target's order plus appended items
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            if isinstance(result.get(name), list):
                result[name] = [x for x in result[name] if x not in v]
            continue
        if v is None:
            result.pop(k, None)
        elif isinstance(v, dict):
            merged = strategic_merge_patch(result.get(k), v)
            if merged is None:
                result.pop(k, None)
            else:
                result[k] = merged
        elif isinstance(v, list):
            result[k] = _merge_list(k, result.get(k), v)
        else:
            result[k] = copy.deepcopy(v)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(field: str, target: Any, patch: list[Any]) -> list[Any]:
    old = target if isinstance(target, list) else []
    key = _merge_key(field, [p for p in patch if isinstance(p, dict)] or old)
    if key is None or not all(isinstance(p, dict) for p in patch):
        if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
            return [p for p in patch if not (isinstance(p, dict) and "$patch" in p)]
        return copy.deepcopy(patch)
    if any(p.get("$patch") == "replace" for p in patch):
        return [copy.deepcopy(p) for p in patch if "$patch" not in p]
    out = copy.deepcopy(old)
    for item in patch:
        idx = next(
            (i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == item.get(key)),
            None,
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
        elif idx is None:
            out.append(strategic_merge_patch({}, item))
        else:
            out[idx] = strategic_merge_patch(out[idx], item)
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: JSON, parts: list[str], path: str) -> tuple[JSON, str]:
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise PatchError(f"doc is missing path: {path!r}")
    return cur, parts[-1]


def _get(doc: JSON, path: str) -> JSON:
    parts = _pointer(path)
    if not parts:
        return doc
    parent, last = _parent(doc, parts, path)
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise PatchError(f"doc is missing path: {path!r}")


def _add(doc: JSON, path: str, value: JSON) -> JSON:
    parts = _pointer(path)
    if not parts:
        return value
    parent, last = _parent(doc, parts, path)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f"index out of range in {path!r}")
    else:
        raise PatchError(f"doc is missing path: {path!r}")
    return doc


def _remove(doc: JSON, path: str) -> JSON:
    parts = _pointer(path)
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent, last = _parent(doc, parts, path)
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
    else:
        raise PatchError(f"doc is missing path: {path!r}")
    return doc


def json_patch(target: JSON, ops: JSON) -> JSON:
    """RFC 6902 JSON patch; returns a new value or raises :class:`PatchError`."""
    if not isinstance(ops, list):
        raise PatchDecodeError(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchDecodeError(f"invalid JSON patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind == "replace" and path == "":
            doc = copy.deepcopy(op.get("value"))
        elif kind == "replace":
            _get(doc, path)
            doc = _add(_remove(doc, path), path, copy.deepcopy(op.get("value")))
        elif kind == "move":
            value = _get(doc, op["from"])
            doc = _add(_remove(doc, op["from"]), path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op["from"])))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise PatchError(f"testing value {path!r} failed")
        else:
            raise PatchDecodeError(f"unknown JSON patch operation {kind!r}")
    return doc


def apply_patch(target: JSON, applied: JSON) -> JSON:
    """Server-side apply, simplified: the applied configuration merged strategically."""
    return strategic_merge_patch(target or {}, applied)
