"""Failed API requests as one line each: what, where, and how to fix it.

Every request of the adapter goes through :func:`describe_error` when it fails, so a
403 always reads ``forbidden: cannot <verb> <resource> in namespace N (as user U)``
and an unreachable server ``API server unreachable at <url>: <reason>``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import urllib3
from kubernetes.client.exceptions import ApiException

from b2tui.ports import SourceError, StepFailed

P = ParamSpec("P")
T = TypeVar("T")


class KubeApiError(SourceError):
    """A failed API request; ``status`` is the HTTP status (0 when unreachable)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Op:
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


def describe_error(exc: BaseException, op: Op, url: str, user: str, context: str) -> KubeApiError:
    """One readable line for a failed request: what, where, and how to fix it."""
    ns = op.namespace or "(cluster)"
    if isinstance(exc, ApiException) and exc.status:
        status = int(exc.status)
        msg = _status_message(exc.body)
        if status == 403:
            m = re.search(r'User "([^"]+)"', msg)
            who = m.group(1) if m else user
            # The server names the RBAC verb and resource it refused; an apply that would
            # create the object is refused for `create` with no reason in the message.
            m = re.search(r'cannot (\S+) resource "([^"]+)"', msg)
            if m:
                verb, resource = m.group(1), m.group(2)
            else:
                verb = "create" if op.verb == "apply" else op.verb
                resource = op.resource
            return KubeApiError(
                f"forbidden: cannot {verb} {resource} in namespace {ns} (as user {who});"
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


def is_request_error(exc: BaseException) -> bool:
    """True for what a request raises when it fails: an API status or a transport error."""
    if isinstance(exc, ApiException):
        return True
    return isinstance(exc, urllib3.exceptions.HTTPError | OSError)


def step(fn: Callable[P, T]) -> Callable[P, T]:
    """A workflow step: its failures are :class:`StepFailed`, one line each."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except StepFailed:
            raise
        except SourceError as e:
            raise StepFailed(str(e)) from None

    return run
