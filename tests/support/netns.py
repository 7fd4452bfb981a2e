"""A "pod" the API server's service proxy will talk to: an HTTP server in a network
namespace of its own, on a non-loopback address.

The API server refuses to proxy to loopback (and link-local) endpoints, and the test
cluster has no pod network. So a test makes one: a network namespace joined to the host
by a veth pair (``10.<a>.<b>.1`` on the host, ``.2`` inside), and a tiny HTTP server
inside it. The fake kubelet gives the pods of the colour under test that address
(``RealKube.pod_ip``), the endpoints controller puts it in the Service's Endpoints, and
``/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/`` reaches the server.

The server answers every GET with the status and body in ``<dir>/reply`` (``"200 ok"``
by default); ``answer(...)`` changes them. ``requests()`` lists what it was sent.
Needs root and ``ip`` (iproute2).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.services import IN_CI, require_binary, wait_until

SERVER = textwrap.dedent(
    """
    import http.server, json, sys
    reply = sys.argv[3]
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            with open(reply + ".seen", "a") as seen:
                seen.write(json.dumps({"path": self.path, "headers": dict(self.headers)}) + "\\n")
            status, _, body = open(reply).read().partition(" ")
            data = body.encode()
            self.send_response(int(status))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        def log_message(self, *a):
            pass
    http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
    """
)


@dataclass
class PodServer:
    """The server in its namespace."""

    ip: str
    port: int
    reply: Path

    def answer(self, status: int, body: str = "ok") -> None:
        self.reply.write_text(f"{status} {body}")

    def requests(self) -> list[dict[str, Any]]:
        """Every GET the server answered so far: ``path`` and ``headers`` (as sent)."""
        seen = self.reply.with_name(self.reply.name + ".seen")
        if not seen.exists():
            return []
        return [json.loads(line) for line in seen.read_text().splitlines() if line]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextmanager
def pod_server(tmp: Path, port: int = 8080) -> Iterator[PodServer]:
    """An HTTP server in a fresh network namespace; everything is removed afterwards."""
    require_binary("ip", "iproute2")
    if os.geteuid() != 0:
        msg = "a network namespace needs root"
        if IN_CI:
            pytest.fail(msg + " (CI=true: a missing service is a failure)", pytrace=False)
        pytest.skip(msg)
    tag = secrets.token_hex(3)
    ns, host, peer = f"b2t-{tag}", f"b2h{tag}", f"b2p{tag}"
    net = f"10.{200 + int(tag[:2], 16) % 50}.{int(tag[2:4], 16)}"
    ip = f"{net}.2"
    tmp.mkdir(parents=True, exist_ok=True)
    reply = tmp / "reply"
    reply.write_text("200 ok")
    proc: subprocess.Popen[bytes] | None = None
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", host, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", ns)
        _ip("addr", "add", f"{net}.1/30", "dev", host)
        _ip("link", "set", host, "up")
        _ip("netns", "exec", ns, "ip", "addr", "add", f"{ip}/30", "dev", peer)
        _ip("netns", "exec", ns, "ip", "link", "set", peer, "up")
        _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, ip, str(port), str(reply)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def up() -> bool:
            try:
                return httpx.get(f"http://{ip}:{port}/", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 10, f"the pod server on {ip}:{port}", step=0.1)
        yield PodServer(ip, port, reply)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)
        subprocess.run(["ip", "link", "del", host], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
