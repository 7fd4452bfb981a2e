"""A GitHub REST API server on loopback for "Create an issue", built from GitHub's docs.

``POST /repos/{owner}/{repo}/issues`` as docs.github.com/en/rest/issues/issues describes
it (API version 2022-11-28), not as b2tui uses it:

- authentication by ``Authorization: Bearer <token>`` or ``token <token>``; none →
  ``401 Requires authentication``, an unknown token → ``401 Bad credentials``;
- a repository the server does not have (or the token cannot see) → ``404 Not Found``;
- issues disabled in the repository → ``410 Gone``;
- the body validated: ``title`` (string or integer) is required; ``body`` a string or
  null; ``labels`` an array of strings or of objects with ``name``; anything else →
  ``422 Validation Failed`` with ``errors`` (``resource``, ``code``, ``field``);
- created → ``201`` with the issue object (``id``, ``number``, ``html_url``, ``url``,
  ``labels`` as label objects, ``state: open``, ``user``, times) and a ``Location``
  header; labels that do not exist yet are created, as for a token with push access;
- ``fail_with`` makes every request answer that status (a 5xx).

Error bodies carry ``message``, ``documentation_url`` and ``status`` as GitHub's do.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DOCS = "https://docs.github.com/rest/issues/issues#create-an-issue"


class GitHubApi:
    def __init__(self, repos: dict[str, str], *, issues_disabled: set[str] | None = None):
        """``repos``: ``owner/name`` → the token that may write to it."""
        self.repos = repos
        self.issues_disabled = issues_disabled or set()
        self.issues: dict[str, list[dict[str, Any]]] = {r: [] for r in repos}
        self.fail_with: int | None = None
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                headers = {k.lower(): v for k, v in self.headers.items()}
                api.requests.append(("POST", self.path, headers, body))
                status, payload, extra = api.create(self.path, headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> GitHubApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @staticmethod
    def _error(status: int, message: str, **more: Any) -> tuple[int, dict[str, Any], dict]:  # type: ignore[type-arg]
        return (
            status,
            {"message": message, "documentation_url": DOCS, "status": str(status), **more},
            {},
        )

    def create(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any, dict]:
        if self.fail_with == 422:
            return self._error(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "Issue",
                        "code": "custom",
                        "field": "title",
                        "message": "title is too long (maximum is 256 characters)",
                    }
                ],
            )
        if self.fail_with is not None:
            return self._error(self.fail_with, "Server Error")
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "repos" or parts[3] != "issues":
            return self._error(404, "Not Found")
        repo = f"{parts[1]}/{parts[2]}"
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if not auth:
            return self._error(401, "Requires authentication")
        if scheme.lower() not in ("bearer", "token") or token not in self.repos.values():
            return self._error(401, "Bad credentials")
        if self.repos.get(repo) != token:
            return self._error(404, "Not Found")
        if repo in self.issues_disabled:
            return self._error(410, "Issues are disabled for this repo")
        problems = self._validate(body)
        if problems:
            return self._error(422, "Validation Failed", errors=problems)
        issues = self.issues[repo]
        number = len(issues) + 1
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        labels = [
            {
                "id": 1000 + i,
                "node_id": f"LA_{i}",
                "name": name,
                "color": "ededed",
                "default": False,
                "description": None,
                "url": f"{self.url}/repos/{repo}/labels/{name}",
            }
            for i, name in enumerate(
                (lab if isinstance(lab, str) else lab["name"]) for lab in body.get("labels") or []
            )
        ]
        issue = {
            "id": 5000 + number,
            "node_id": f"I_{number}",
            "number": number,
            "url": f"{self.url}/repos/{repo}/issues/{number}",
            "repository_url": f"{self.url}/repos/{repo}",
            "html_url": f"https://github.com/{repo}/issues/{number}",
            "title": str(body["title"]),
            "body": body.get("body"),
            "state": "open",
            "labels": labels,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "comments": 0,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "author_association": "OWNER",
            "user": {"login": "octocat", "id": 1, "type": "User"},
        }
        issues.append(issue)
        return 201, issue, {"Location": issue["url"]}

    @staticmethod
    def _validate(body: Any) -> list[dict[str, str]]:
        if not isinstance(body, dict):
            return [{"resource": "Issue", "code": "invalid", "field": "body"}]
        out = []
        title = body.get("title")
        if title is None or title == "":
            out.append({"resource": "Issue", "code": "missing_field", "field": "title"})
        elif isinstance(title, str) and len(title) > 256:
            out.append(
                {
                    "resource": "Issue",
                    "code": "custom",
                    "field": "title",
                    "message": "title is too long (maximum is 256 characters)",
                }
            )
        elif not isinstance(title, str | int):
            out.append({"resource": "Issue", "code": "invalid", "field": "title"})
        if body.get("body") is not None and not isinstance(body["body"], str):
            out.append({"resource": "Issue", "code": "invalid", "field": "body"})
        labels = body.get("labels")
        if labels is not None and (
            not isinstance(labels, list)
            or not all(isinstance(x, str) or (isinstance(x, dict) and "name" in x) for x in labels)
        ):
            out.append({"resource": "Issue", "code": "invalid", "field": "labels"})
        return out
