"""A real HTTP server on loopback that records requests and answers from a route table.

Used in place of Slack, a generic webhook, the GitHub API and smoke-check targets: the
adapters talk to it through their real HTTP client, so headers, bodies, timeouts and
refused connections are the real thing.

    with HttpRecorder() as rec:
        rec.route("POST", "/hook", Reply(500, "boom"))
        ...
        assert rec.requests[0].json == {...}
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One canned answer."""

    status: int = 200
    body: str | bytes | dict[str, Any] | list[Any] = "ok"
    """Text, bytes, or a value sent as JSON."""
    delay: float = 0.0
    """Seconds to wait before answering (timeouts)."""
    headers: dict[str, str] = field(default_factory=dict)
    echo: str | None = None
    """``"text"`` or ``"json"``: answer with the request itself (request line, every
    header, the body), as servers do that quote a bad request back in their error
    (``invalid header Basic …``); ``body`` is then ignored."""


@dataclass(frozen=True)
class Recorded:
    """A request as the server saw it."""

    method: str
    path: str
    """Path without the query string."""
    query: str
    headers: dict[str, str]
    """Header names lower-cased."""
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON; None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler sleeping through a delay must not block shutdown
    recorder: HttpRecorder

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout test) leaves a broken pipe; that is expected.
        pass


def _credentials_first(header: tuple[str, str]) -> bool:
    """Sort key: credential headers first (clients cut long error bodies short)."""
    return header[0].lower() not in ("authorization", "cookie")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urllib.parse.urlsplit(self.path)
        rec = Recorded(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        reply = self.server.recorder._record(rec)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.echo is not None:
            headers = [f"{k}: {v}" for k, v in sorted(self.headers.items(), key=_credentials_first)]
            said = f"{self.command} {self.path}"
            if reply.echo == "json":
                body_text = body.decode("utf-8", errors="replace")
                echoed = {"error": f"bad request {said}", "headers": headers, "body": body_text}
                payload, ctype = json.dumps(echoed).encode(), "application/json"
            else:
                # As a proxy does: "invalid header Basic YjJ0dWk6…" (no header name).
                quoted = [
                    f"invalid header {v}" if k.lower() == "authorization" else f"{k}: {v}"
                    for k, v in sorted(self.headers.items(), key=_credentials_first)
                ]
                # The headers first: clients cut long errors, and these are the point.
                text = "bad request: " + "; ".join(quoted) + f"; in {said}; body: "
                payload, ctype = text.encode() + body, "text/plain; charset=utf-8"
        elif isinstance(reply.body, dict | list):
            payload = json.dumps(reply.body).encode()
            ctype = "application/json"
        elif isinstance(reply.body, str):
            payload, ctype = reply.body.encode(), "text/plain; charset=utf-8"
        else:
            payload, ctype = reply.body, "application/octet-stream"
        self.send_response(reply.status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test reads .requests instead


class HttpRecorder:
    """A ``ThreadingHTTPServer`` on ``127.0.0.1`` (a free port) recording every request.

    Routes map ``(METHOD, path)`` to a sequence of :class:`Reply`; each request takes
    the next one and the last repeats, so "fails twice, then succeeds" is
    ``route("GET", "/x", Reply(503), Reply(503), Reply(200))``. Unrouted requests get
    404 with a GitHub-like JSON body.
    """

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.recorder = self
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], list[Reply]] = {}
        self._served: dict[tuple[str, str], int] = {}
        self._requests: list[Recorded] = []
        # A short poll interval keeps shutdown (every test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="http-recorder",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def route(self, method: str, path: str, *replies: Reply) -> None:
        """Answer ``method path`` with ``replies`` in order (the last one repeats)."""
        with self._lock:
            self._routes[(method.upper(), path)] = list(replies) or [Reply()]
            self._served[(method.upper(), path)] = 0

    @property
    def requests(self) -> list[Recorded]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str, method: str | None = None) -> list[Recorded]:
        return [
            r for r in self.requests if r.path == path and (method is None or r.method == method)
        ]

    def _record(self, rec: Recorded) -> Reply:
        with self._lock:
            self._requests.append(rec)
            key = (rec.method, rec.path)
            replies = self._routes.get(key)
            if not replies:
                return Reply(404, {"message": "Not Found"})
            n = self._served[key]
            self._served[key] = n + 1
            return replies[min(n, len(replies) - 1)]

    def start(self) -> HttpRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HttpRecorder:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def running_recorder() -> Iterator[HttpRecorder]:
    """Generator for a pytest fixture: ``recorder = pytest.fixture(running_recorder)``."""
    with HttpRecorder() as rec:
        yield rec
