"""A fault-injecting HTTP proxy in front of the real kube-apiserver.

The real control plane answers as a real one does; a test of what a client does when the
server misbehaves needs faults on demand. :class:`FaultProxy` listens on plain HTTP on
127.0.0.1, forwards every request to the apiserver over TLS (verified against its CA)
unchanged, streams the answer back (watches included), and on request:

* answers the next matching requests with an HTTP error (``fault(..., status=500)``), a
  ``Status`` object as the apiserver writes one;
* holds them for a while before forwarding (``fault(..., status=0, delay=1.5)``: a slow
  server);
* cuts every open watch stream mid-way, without the terminating chunk (``drop_watches``).

It records each request as ``(method, path?query)`` in :attr:`requests`, in the order it
received them, so a test can say which request went first. A client reaches it with a
kubeconfig from :meth:`write_kubeconfig` (the user's token, ``http://`` server)::

    with fault_proxy(realkube) as proxy:
        kubeconfig = proxy.write_kubeconfig(tmp_path / "kubeconfig", namespace=ns)
        proxy.fault("GET", r"/pods\\?.*watch=true", status=500, times=3)
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.realkube.cluster import RealKube

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}
)


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    delay: float
    message: str


class FaultProxy(ThreadingHTTPServer):
    """A plain-HTTP proxy to ``kube``'s apiserver that injects faults on demand.

    :func:`fault_proxy` runs one for the length of a ``with`` block.
    """

    daemon_threads = True

    def __init__(self, kube: RealKube) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.kube = kube
        up = urlsplit(kube.url)
        self._upstream = (up.hostname or "127.0.0.1", up.port or 443)
        self._tls = ssl.create_default_context(cafile=str(kube.ca_file))
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._watches: set[tuple[socket.socket, socket.socket]] = set()
        """Open watch streams: the client's socket and the apiserver's."""
        self.requests: list[tuple[str, str]] = []
        """``(method, path?query)`` of every request received, in order."""

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- faults --------------------------------------------------------------------------

    def fault(
        self,
        method: str,
        path_regex: str,
        *,
        status: int = 500,
        times: int = 1,
        delay: float = 0.0,
        message: str = "injected fault",
    ) -> None:
        """Make the next ``times`` matching requests fail with ``status`` after ``delay`` s.

        ``method`` is an HTTP method or ``"*"``; ``path_regex`` is searched in
        ``path?query``. ``status=0`` only delays, then forwards (a slow server).
        """
        with self._lock:
            self._faults.append(
                _Fault(method.upper(), re.compile(path_regex), status, times, delay, message)
            )

    def drop_watches(self) -> None:
        """Cut every open watch stream abruptly (no terminating chunk)."""
        with self._lock:
            socks, self._watches = list(self._watches), set()
        for pair in socks:
            for s in pair:  # the client first: it sees the cut before anything else
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def write_kubeconfig(
        self,
        path: str | Path,
        *,
        user: str = "tester",
        namespace: str = "default",
        context: str = "test",
    ) -> Path:
        """A kubeconfig for ``user`` (a static-token user of the control plane) through
        this proxy."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": user, "user": {"token": self.kube.tokens[user]}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": context, "user": user, "namespace": namespace},
                }
            ],
            "current-context": context,
        }
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(yaml.safe_dump(config, sort_keys=False))
        p.chmod(0o600)
        return p

    # --- used by the handler -------------------------------------------------------------

    def _take_fault(self, method: str, target: str) -> _Fault | None:
        with self._lock:
            self.requests.append((method, target))
            for f in self._faults:
                if f.times > 0 and f.method in ("*", method) and f.path.search(target):
                    f.times -= 1
                    if f.times == 0:
                        self._faults.remove(f)
                    return f
        return None

    def _watching(self, pair: tuple[socket.socket, socket.socket], on: bool) -> None:
        with self._lock:
            if on:
                self._watches.add(pair)
            else:
                self._watches.discard(pair)

    def _connect(self, timeout: float | None) -> http.client.HTTPSConnection:
        host, port = self._upstream
        return http.client.HTTPSConnection(host, port, context=self._tls, timeout=timeout)


@contextlib.contextmanager
def fault_proxy(kube: RealKube) -> Iterator[FaultProxy]:
    """A :class:`FaultProxy` to ``kube``, serving until the block ends (watches cut then)."""
    proxy = FaultProxy(kube)
    thread = threading.Thread(
        target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True
    )
    thread.start()
    try:
        yield proxy
    finally:
        proxy.drop_watches()
        proxy.shutdown()
        proxy.server_close()
        thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    server: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _any(self) -> None:
        proxy = self.server
        method = self.command
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        fault = proxy._take_fault(method, self.path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                self._status(fault.status, fault.message)
                return
        watch = "watch=true" in self.path or "watch=1" in self.path
        conn = proxy._connect(None if watch else 60.0)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(method, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            if watch:
                self._stream(resp, conn)
            else:
                data = resp.read()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
        except (OSError, ValueError):  # a side closed, or the stream was cut
            self.close_connection = True
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

    def _stream(self, resp: http.client.HTTPResponse, conn: http.client.HTTPSConnection) -> None:
        """Pass a watch's events on as they come, until either side or a drop ends it."""
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        assert conn.sock is not None
        pair = (self.connection, conn.sock)
        self.server._watching(pair, True)
        try:
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            self.server._watching(pair, False)

    def _status(self, code: int, message: str) -> None:
        """A ``Status`` body, as the apiserver writes its errors."""
        body = json.dumps(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": "InternalError" if code >= 500 else "BadRequest",
                "code": code,
            }
        ).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
