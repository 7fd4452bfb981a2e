"""A GitHub REST API double for pull requests and their reviews, written from GitHub's
documentation (not from b2tui's client):

- ``GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls`` — "List pull requests
  associated with a commit": a JSON array of pull request objects (``number``, ``state``,
  ``user.login``, ``merged_at`` — null unless merged); an unknown commit answers 422 with
  ``{"message": "No commit found for SHA: …"}`` and an unknown repository 404.
- ``GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews`` — "List reviews for a pull
  request", chronological, ``per_page`` (default 30, max 100) and ``page`` (from 1); when
  there are more pages a ``Link`` header names ``rel="next"`` and ``rel="last"``. A review
  has ``id``, ``user.login``, ``state`` (``APPROVED``, ``CHANGES_REQUESTED``,
  ``COMMENTED``, ``DISMISSED``, ``PENDING``), ``submitted_at`` and ``commit_id``.

Every request must carry ``Authorization: Bearer <token>``; otherwise 401
``{"message": "Requires authentication"}``.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DOCS = "https://docs.github.com/rest"


@dataclass
class GitHubReviews:
    """The server's data: ``pulls[sha]`` → pull requests, ``reviews[number]`` → reviews."""

    repo: str
    token: str
    pulls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        data = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                data.paths.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {data.token}":
                    return self._send(401, {"message": "Requires authentication"})
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                owner_repo = re.escape(data.repo)
                m = re.fullmatch(rf"/repos/{owner_repo}/commits/([0-9a-f]+)/pulls", url.path)
                if m:
                    if m.group(1) not in data.pulls:
                        return self._send(
                            422, {"message": f"No commit found for SHA: {m.group(1)}"}
                        )
                    return self._send(200, data.pulls[m.group(1)])
                m = re.fullmatch(rf"/repos/{owner_repo}/pulls/(\d+)/reviews", url.path)
                if m and int(m.group(1)) in data.reviews:
                    per_page = min(int(query.get("per_page", ["30"])[0]), 100)
                    page = int(query.get("page", ["1"])[0])
                    items = data.reviews[int(m.group(1))]
                    last = max(1, -(-len(items) // per_page))
                    chunk = items[(page - 1) * per_page : page * per_page]
                    links = []
                    base = f"http://{self.headers['Host']}{url.path}"
                    if page < last:
                        links.append(f'<{base}?per_page={per_page}&page={page + 1}>; rel="next"')
                        links.append(f'<{base}?per_page={per_page}&page={last}>; rel="last"')
                    return self._send(200, chunk, {"Link": ", ".join(links)} if links else {})
                return self._send(404, {"message": "Not Found", "documentation_url": DOCS})

            def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def review(n: int, login: str, state: str, sha: str = "0" * 40) -> dict[str, Any]:
    """A review object as the documentation shows it."""
    return {
        "id": n,
        "user": {"login": login, "type": "User"},
        "body": "",
        "state": state,
        "submitted_at": f"2026-01-05T14:{n % 60:02d}:00Z",
        "commit_id": sha,
        "author_association": "MEMBER",
    }


def pull(number: int, author: str, *, merged: bool = True) -> dict[str, Any]:
    """A pull request object (the fields the documentation lists that matter here)."""
    return {
        "number": number,
        "state": "closed" if merged else "open",
        "user": {"login": author, "type": "User"},
        "merged_at": "2026-01-05T15:00:00Z" if merged else None,
        "base": {"ref": "main"},
    }
