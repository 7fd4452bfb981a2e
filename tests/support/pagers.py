"""PagerDuty's Events API v2 and Opsgenie's Alert API on loopback, built from their docs.

**PagerDuty** (developer.pagerduty.com, "Events API v2": send an alert event, resolve):
``POST /v2/enqueue`` with JSON ``routing_key`` (an integration key, 32 characters),
``event_action`` (``trigger`` | ``acknowledge`` | ``resolve``), ``dedup_key`` (at most
255 characters; required for acknowledge and resolve; made up by the server for a
trigger without one) and, for a trigger, ``payload`` with ``summary`` (1–1024
characters), ``source`` and ``severity`` (``critical`` | ``error`` | ``warning`` |
``info``) required, ``timestamp``, ``component``, ``group``, ``class``, ``custom_details``
optional. ``202 {"status": "success", "message": "Event processed", "dedup_key": …}``;
``400 {"status": "invalid event", "message": "Event object is invalid", "errors": […]}``;
``429`` when rate-limited (here with ``Retry-After``).

**Opsgenie** (docs.opsgenie.com, "Alert API"): ``Authorization: GenieKey <key>``;
``POST /v2/alerts`` with ``message`` (required, ≤ 130), ``alias`` (≤ 512), ``description``
(≤ 15000), ``tags``, ``details`` (string map), ``entity``, ``source`` (≤ 100), ``priority``
(``P1``–``P5``); ``POST /v2/alerts/{identifier}/close?identifierType=alias`` with
optional ``user``, ``source``, ``note``. Requests are processed asynchronously:
``202 {"result": "Request will be processed", "took": …, "requestId": …}``; ``422`` for a
body that cannot be processed (``errors`` by field), ``401`` for an unknown key, ``429``
when rate-limited.

``throttle(n, retry_after)`` answers 429 to the next ``n`` requests, and to any request
that comes back before its ``Retry-After`` elapsed (a client that does not honour it
never gets through).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Answer = tuple[int, dict[str, Any], dict[str, str]]


class _Server:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self._throttle = 0
        self._retry_after = 0.0
        self._not_before = 0.0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer._lock:
                    outer.requests.append(("POST", self.path, headers, body))
                    status, payload, extra = outer._throttled() or outer.handle(
                        self.path, headers, body
                    )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self):  # type: ignore[no-untyped-def]
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    def throttle(self, n: int, retry_after: float) -> None:
        self._throttle, self._retry_after = n, retry_after

    def _throttled(self) -> Answer | None:
        now = time.monotonic()
        if self._throttle > 0 or now < self._not_before:
            self._throttle = max(0, self._throttle - 1)
            self._not_before = now + self._retry_after
            seconds = f"{self._retry_after:g}"
            return 429, self.rate_limited(), {"Retry-After": seconds}
        return None

    def rate_limited(self) -> dict[str, Any]:
        raise NotImplementedError

    def handle(self, path: str, headers: dict[str, str], body: Any) -> Answer:
        raise NotImplementedError


class PagerDutyEvents(_Server):
    """``/v2/enqueue``; ``incidents``: dedup_key → ``triggered`` | ``acknowledged`` |
    ``resolved``; ``events``: the accepted events in order."""

    def __init__(self) -> None:
        super().__init__()
        self.incidents: dict[str, str] = {}
        self.events: list[dict[str, Any]] = []

    def rate_limited(self) -> dict[str, Any]:
        return {
            "status": "throttle event",
            "message": "Requests for this service are arriving too quickly. Please retry later.",
        }

    @staticmethod
    def _invalid(*errors: str) -> Answer:
        return (
            400,
            {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": list(errors),
            },
            {},
        )

    def handle(self, path: str, headers: dict[str, str], body: Any) -> Answer:
        if urlsplit(path).path != "/v2/enqueue":
            return 404, {"status": "not found"}, {}
        if not isinstance(body, dict):
            return self._invalid("Event object is not valid JSON")
        errors = []
        key = body.get("routing_key")
        if not isinstance(key, str) or len(key) != 32:
            errors.append("'routing_key' is invalid (an integration key is 32 characters)")
        action = body.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' must be one of trigger, acknowledge, resolve")
        dedup = body.get("dedup_key")
        if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
            errors.append("'dedup_key' must be a string of 1 to 255 characters")
        if action in ("acknowledge", "resolve") and not dedup:
            errors.append("'dedup_key' is required for acknowledge and resolve")
        if action == "trigger":
            payload = body.get("payload")
            if not isinstance(payload, dict):
                errors.append("'payload' is missing")
            else:
                summary = payload.get("summary")
                if not isinstance(summary, str) or not summary.strip():
                    errors.append("'payload.summary' is missing or blank")
                elif len(summary) > 1024:
                    errors.append("'payload.summary' is longer than 1024 characters")
                if not isinstance(payload.get("source"), str) or not payload["source"]:
                    errors.append("'payload.source' is missing or blank")
                if payload.get("severity") not in ("critical", "error", "warning", "info"):
                    errors.append("'payload.severity' must be critical, error, warning or info")
        if errors:
            return self._invalid(*errors)
        dedup = dedup or uuid.uuid4().hex
        self.events.append(body)
        self.incidents[dedup] = {
            "trigger": "triggered",
            "acknowledge": "acknowledged",
            "resolve": "resolved",
        }[action]
        return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup}, {}


class OpsgenieAlerts(_Server):
    """``/v2/alerts`` and ``/v2/alerts/{alias}/close``; ``alerts``: alias → ``open`` |
    ``closed``."""

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.alerts: dict[str, str] = {}
        self.created: list[dict[str, Any]] = []

    def rate_limited(self) -> dict[str, Any]:
        return {
            "message": "You are making too many requests!",
            "took": 0.0,
            "requestId": str(uuid.uuid4()),
        }

    @staticmethod
    def _answer(status: int, **fields: Any) -> Answer:
        return status, {**fields, "took": 0.01, "requestId": str(uuid.uuid4())}, {}

    def handle(self, path: str, headers: dict[str, str], body: Any) -> Answer:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme != "GenieKey" or key != self.api_key:
            return self._answer(401, message="Could not authenticate")
        parts = urlsplit(path)
        segments = parts.path.strip("/").split("/")
        if segments == ["v2", "alerts"]:
            return self._create(body)
        if len(segments) == 4 and segments[:2] == ["v2", "alerts"] and segments[3] == "close":
            kind = parse_qs(parts.query).get("identifierType", ["id"])[0]
            if kind not in ("id", "alias", "tiny"):
                return self._answer(422, message="identifierType must be id, alias or tiny")
            if body is not None and not isinstance(body, dict):
                return self._answer(422, message="Request body is not processable.")
            alias = unquote(segments[2])
            if kind == "alias" and alias in self.alerts:
                self.alerts[alias] = "closed"
            return self._answer(202, result="Request will be processed")
        return self._answer(404, message="Not found")

    def _create(self, body: Any) -> Answer:
        if not isinstance(body, dict):
            return self._answer(422, message="Request body is not processable.")
        errors: dict[str, str] = {}
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            errors["message"] = "Message can not be empty."
        elif len(message) > 130:
            errors["message"] = "Message can not be longer than 130 characters."
        for field, limit in (
            ("alias", 512),
            ("description", 15000),
            ("entity", 512),
            ("source", 100),
        ):
            value = body.get(field)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                errors[field] = f"{field} must be a string of at most {limit} characters."
        if body.get("priority") not in (None, "P1", "P2", "P3", "P4", "P5"):
            errors["priority"] = "Priority should be one of P1, P2, P3, P4, P5."
        details = body.get("details")
        if details is not None and not (
            isinstance(details, dict) and all(isinstance(v, str) for v in details.values())
        ):
            errors["details"] = "Details should be a map of strings."
        responders = body.get("responders")
        if responders is not None:
            # "type is mandatory for each item: team, user, escalation or schedule; either
            # id or name (username for a user) of each responder should be provided";
            # at most 50.
            ok = isinstance(responders, list) and len(responders) <= 50
            for r in responders if ok else ():
                kind = r.get("type") if isinstance(r, dict) else None
                named = "username" if kind == "user" else "name"
                if kind not in ("team", "user", "escalation", "schedule") or not (
                    isinstance(r.get("id"), str) or isinstance(r.get(named), str)
                ):
                    ok = False
            if not ok:
                errors["responders"] = "Responders should be a list of at most 50 valid items."
        if errors:
            return self._answer(
                422,
                message="Request body is not processable. Please check the errors.",
                errors=errors,
            )
        self.created.append(body)
        self.alerts[body.get("alias") or str(uuid.uuid4())] = "open"
        return self._answer(202, result="Request will be processed")
