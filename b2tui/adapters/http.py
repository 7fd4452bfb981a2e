"""HTTP and git adapters: smoke checks, readiness answers and notifications.

- :class:`HttpChecks` implements :class:`~b2tui.ports.Checks`: HTTP smoke checks with
  retries, and the automatic readiness items (``code_merged`` from git,
  ``tests_passing``/``build_ok`` from GitHub's commit statuses and check runs).
- :class:`WebhookNotifier` implements :class:`~b2tui.ports.Notifier`: Slack Block Kit
  messages, a generic JSON webhook, a Keep a Changelog entry and closing the GitHub
  issues that the deployed commits fix.

Secrets (webhook URLs, tokens, query strings) never leave this module: every detail is
scrubbed with :func:`mask_secret_text`, URLs are shown through :func:`mask_url` or as
their ``env:NAME``/``file:PATH`` source, and httpx's own request log lines are
redacted by a logging filter (httpx logs each request URL at INFO level).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from b2tui.config import HttpCheck, NotifySettings, Secret, Settings
from b2tui.domain.checklist import ChecklistItem
from b2tui.domain.durations import format_duration
from b2tui.ports import CheckResult, Commands, Notification

log = logging.getLogger(__name__)

MASK = "***"
"""What a secret value is replaced with."""

LAST_DEPLOYED_FILE = ".b2tui-last-deployed"
"""File in the repo holding the sha of the last deployed commit (issue closing)."""

CHANGELOG_HEADER = (
    "# Changelog\n"
    "\n"
    "All notable changes to this project will be documented in this file.\n"
    "\n"
    "The format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/).\n"
    "\n"
    "## [Unreleased]\n"
)
"""Header of a changelog created by b2tui."""

_GIT_TIMEOUT = 15.0
_SECRET_HEADER = re.compile(r"(?i)auth|token|key|secret|cookie|session|password")
_GITHUB_VERSION = "2022-11-28"


# --- masking -----------------------------------------------------------------------------


def mask_secret_text(text: str, secrets: list[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``.

    Longer secrets are replaced first, so a URL is masked whole before a token inside
    it; the percent-encoded form of each secret is masked too (it shows up in URLs).

    Args:
        text: An error message, a response body, a log line.
        secrets: Values that must not appear; empty strings are ignored.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
        quoted = urllib.parse.quote(secret, safe="")
        if quoted != secret:
            text = text.replace(quoted, MASK)
    return text


def mask_url(url: str) -> str:
    """The URL fit for display: query values and any password replaced by ``***``.

    ``https://u:pw@host/healthz?token=abc&x=1`` → ``https://u:***@host/healthz?token=***&x=***``.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}"
    query = "&".join(
        f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else MASK
        for pair in parts.query.split("&")
        if pair
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that :func:`mask_url` hides, for scrubbing free text.

    Values shorter than four characters are left out: they are flags, not tokens, and
    scrubbing ``1`` from a message would garble every number in it.
    """
    if mask_url(url) == url:
        return []
    parts = urllib.parse.urlsplit(url)
    values = [v for _, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
    raw = [p.split("=", 1)[1] for p in parts.query.split("&") if "=" in p]
    return [url] + [v for v in (*values, *raw, parts.password or "") if len(v) >= 4]


def _webhook_secrets(url: str) -> list[str]:
    """A webhook URL and the parts of it a server may echo back (path, last segment).

    For a Slack incoming webhook the path *is* the credential.
    """
    parts = urllib.parse.urlsplit(url)
    last = parts.path.rstrip("/").rsplit("/", 1)[-1]
    found = [url, parts.path + ("?" + parts.query if parts.query else ""), parts.query]
    if len(parts.path) > 1:
        found.append(parts.path)
    if len(last) >= 8:
        found.append(last)
    return found + _url_secrets(url)


class _LogRedactor(logging.Filter):
    """Rewrites httpx log records so registered secrets never reach a handler.

    httpx logs ``HTTP Request: POST <full URL> ...`` at INFO; for a Slack webhook the
    URL *is* the secret. Filters on a logger run before its records propagate, so one
    filter on the ``httpx`` logger covers every handler (files, caplog, the TUI log).
    """

    def __init__(self) -> None:
        super().__init__()
        self.shown_as: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.shown_as:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        redacted = message
        for secret in sorted(self.shown_as, key=len, reverse=True):
            redacted = redacted.replace(secret, self.shown_as[secret])
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTOR = _LogRedactor()


def _redact_in_logs(secret: str, shown_as: str = MASK) -> None:
    """Make httpx (and this module's logger) show ``secret`` as ``shown_as``."""
    if not secret or secret == shown_as:
        return
    _REDACTOR.shown_as[secret] = shown_as
    for name in ("httpx", __name__):
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _connect_problem(exc: httpx.HTTPError, url: httpx.URL) -> str:
    """``connection refused to host:port`` and friends, from a transport error."""
    where = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
            return f"connection refused to {where}"
        cause = cause.__cause__ or cause.__context__
    reason = _one_line(str(exc)) or type(exc).__name__
    return f"cannot connect to {where}: {reason}"


# --- git ---------------------------------------------------------------------------------


class _GitUnavailable(Exception):
    """git is missing or ``repo`` is not a usable checkout; ``str()`` says which."""


async def _git(git: str, repo: str, *args: str) -> tuple[int, str, str]:
    """Run ``git -C repo args``; (exit code, stdout, first stderr line)."""
    if not await asyncio.to_thread(os.path.isdir, repo):
        raise _GitUnavailable(f"repository {repo} does not exist; set service.repo")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        proc = await asyncio.create_subprocess_exec(
            git,
            "-C",
            repo,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except FileNotFoundError:
        raise _GitUnavailable(f"{git} not found; install git") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), _GIT_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise _GitUnavailable(f"git {args[0]} in {repo} took over {_GIT_TIMEOUT:g} s") from None
    finally:
        if proc.returncode is None:  # cancelled: do not leave git running
            proc.kill()
    error = err.decode(errors="replace").strip().splitlines()
    first = error[0].removeprefix("fatal: ") if error else ""
    if proc.returncode == 128 and "not a git repository" in first:
        raise _GitUnavailable(f"{repo} is not a git repository")
    return proc.returncode or 0, out.decode(errors="replace").strip(), first


async def _head(git: str, repo: str, rev: str = "HEAD") -> str:
    rc, out, err = await _git(git, repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if rc != 0:
        raise _GitUnavailable(f"{rev} is not a commit in {repo}" + (f": {err}" if err else ""))
    return out


# --- checks ------------------------------------------------------------------------------


class HttpChecks:
    """The :class:`~b2tui.ports.Checks` port: HTTP smoke checks and readiness answers.

    Readiness answers:

    - ``code_merged``: HEAD of ``service.repo`` is an ancestor of ``origin/main`` (as of
      the last fetch; b2tui does not fetch) or of ``main`` when there is no remote.
    - ``tests_passing`` and ``build_ok``: the CI verdict of HEAD on GitHub (combined
      commit status and check runs) when ``notify.github_repo`` and
      ``notify.github_token`` are set. Both items read the same verdict: GitHub does
      not say which check is "the tests". Pending or absent CI is *unknown*.

    Anything it cannot tell is ``CheckResult(None, why)``: the operator may sign the item
    off by hand; unknown never counts as a pass.

    Args:
        settings: The run's settings (``service.repo``, ``notify.github_*``).
        commands: Accepted so every adapter is wired alike; readiness never runs the
            test or build commands itself, that is the validate phase's job.
        backoff: First retry delay of HTTP checks in seconds; doubles per retry.
        git: The git executable.
    """

    def __init__(
        self,
        settings: Settings,
        commands: Commands | None = None,
        *,
        backoff: float = 0.2,
        git: str = "git",
    ) -> None:
        self._settings = settings
        self._commands = commands
        self._backoff = backoff
        self._git = git

    # -- smoke --------------------------------------------------------------------------

    async def http(self, check: HttpCheck) -> CheckResult:
        """Request ``check.url`` until it answers as expected or the retries are spent.

        Pass detail: ``200 in 12 ms``. Fail detail names the problem, the request (query
        values masked) and the attempts: ``expected 200, got 503 (GET http://h/x, 3
        attempts)``. Redirects are not followed: the status is the endpoint's own.
        """
        shown = f"{check.method.upper()} {mask_url(check.url)}"
        secrets = [
            *_url_secrets(check.url),
            *(v for k, v in check.headers.items() if _SECRET_HEADER.search(k)),
        ]
        _redact_in_logs(check.url, mask_url(check.url))
        attempts = max(1, check.retries + 1)
        problem = ""
        async with httpx.AsyncClient(timeout=check.timeout, follow_redirects=False) as client:
            for attempt in range(attempts):
                if attempt:
                    await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
                ok, problem = await self._attempt(client, check)
                if ok:
                    return CheckResult(True, problem)
        tries = f", {attempts} attempts" if attempts > 1 else ""
        return CheckResult(False, mask_secret_text(f"{problem} ({shown}{tries})", secrets))

    async def _attempt(self, client: httpx.AsyncClient, check: HttpCheck) -> tuple[bool, str]:
        started = time.monotonic()
        try:
            url = httpx.URL(check.url)
            # httpx's timeouts are per network operation; the check's is for the whole
            # exchange, so a server dribbling bytes cannot stretch it.
            async with asyncio.timeout(check.timeout):
                response = await client.request(check.method.upper(), url, headers=check.headers)
        except (TimeoutError, httpx.TimeoutException):
            return False, f"timeout after {check.timeout:g} s"
        except httpx.ConnectError as e:
            return False, _connect_problem(e, httpx.URL(check.url))
        except httpx.HTTPError as e:
            return False, f"{type(e).__name__}: {_one_line(str(e))}"
        except httpx.InvalidURL as e:
            return False, f"invalid URL: {e}"
        elapsed = (time.monotonic() - started) * 1000
        status = response.status_code
        if status != check.expect_status:
            where = response.headers.get("location")
            to = f" to {mask_url(where)}" if where and 300 <= status < 400 else ""
            return False, f"expected {check.expect_status}, got {status}{to}"
        if check.body_contains is not None and check.body_contains not in response.text:
            return False, f"body lacks {check.body_contains!r}"
        return True, f"{status} in {elapsed:.0f} ms"

    # -- readiness ----------------------------------------------------------------------

    async def readiness(self, item: ChecklistItem) -> CheckResult:
        """Answer an automatic readiness item; unknown keys are unknown, not failures."""
        if item.key == "code_merged":
            return await self._code_merged()
        if item.key in ("tests_passing", "build_ok"):
            return await self._ci_status()
        return CheckResult(None, f"no automatic check for {item.key}")

    async def _code_merged(self) -> CheckResult:
        repo = self._settings.service.repo
        try:
            head = await _head(self._git, repo)
            base = None
            for ref, name in (
                ("refs/remotes/origin/main", "origin/main"),
                ("refs/heads/main", "main"),
            ):
                rc, _, _ = await _git(self._git, repo, "rev-parse", "--verify", "--quiet", ref)
                if rc == 0:
                    base = name
                    break
            if base is None:
                return CheckResult(
                    None, f"neither origin/main nor main exists in {repo}; sign off by hand"
                )
            rc, _, err = await _git(self._git, repo, "merge-base", "--is-ancestor", head, base)
        except _GitUnavailable as e:
            return CheckResult(None, f"cannot tell: {e}; sign off by hand")
        short = head[:7]
        fetched = " (as of the last fetch)" if base.startswith("origin/") else ""
        if rc == 0:
            return CheckResult(True, f"HEAD {short} is on {base}{fetched}")
        if rc == 1:
            return CheckResult(
                False, f"HEAD {short} is not on {base}{fetched}; merge it to main first"
            )
        return CheckResult(None, f"git merge-base failed in {repo}: {err or f'exit {rc}'}")

    async def _ci_status(self) -> CheckResult:
        notify = self._settings.notify
        if not (notify.github_repo and notify.github_token):
            return CheckResult(
                None, "no CI status source configured; sign off by hand or run validate"
            )
        try:
            token = notify.github_token.reveal()
        except ValueError as e:
            return CheckResult(None, f"github_token {notify.github_token.source}: {e}")
        _redact_in_logs(token)
        try:
            sha = await _head(self._git, self._settings.service.repo)
        except _GitUnavailable as e:
            return CheckResult(None, f"cannot tell which commit to ask CI about: {e}")
        short = sha[:7]
        repo = notify.github_repo
        try:
            async with _github_client(notify, token) as gh:
                status = await gh.get(f"/repos/{repo}/commits/{sha}/status")
                runs = await gh.get(
                    f"/repos/{repo}/commits/{sha}/check-runs", params={"per_page": 100}
                )
        except httpx.HTTPError as e:
            reason = _one_line(str(e)) or type(e).__name__
            detail = f"cannot reach GitHub API {notify.github_api}: {reason}"
            return CheckResult(None, mask_secret_text(detail, [token]))
        for response in (status, runs):
            if response.status_code != 200:
                return CheckResult(
                    None, mask_secret_text(_github_problem(response, notify, short), [token])
                )
        return _ci_verdict(status.json(), runs.json(), short)


def _github_client(notify: NotifySettings, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=notify.github_api.rstrip("/"),
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": _GITHUB_VERSION,
            "User-Agent": "b2tui",
        },
        timeout=10.0,
    )


def _github_problem(response: httpx.Response, notify: NotifySettings, short: str) -> str:
    code = response.status_code
    source = notify.github_token.source if notify.github_token else "github_token"
    if code in (401, 403):
        return (
            f"GitHub answered {code}: check that the token ({source}) may read {notify.github_repo}"
        )
    if code in (404, 422):
        return f"GitHub does not know commit {short} in {notify.github_repo} (is it pushed?)"
    return f"GitHub answered {code}: {_one_line(response.text, 100)}"


_PASSING = {"success", "neutral", "skipped"}


def _ci_verdict(status: dict[str, Any], runs: dict[str, Any], short: str) -> CheckResult:
    """Combine a commit's statuses and check runs: any failure fails, any pending is unknown."""
    outcomes: list[tuple[str, str, str]] = []  # (name, pass|fail|pending, raw state)
    for s in status.get("statuses") or []:
        state = str(s.get("state", ""))
        kind = {"success": "pass", "pending": "pending"}.get(state, "fail")
        outcomes.append((str(s.get("context", "status")), kind, state))
    for r in runs.get("check_runs") or []:
        if r.get("status") != "completed":
            outcomes.append((str(r.get("name", "check")), "pending", str(r.get("status"))))
        else:
            conclusion = str(r.get("conclusion"))
            kind = "pass" if conclusion in _PASSING else "fail"
            outcomes.append((str(r.get("name", "check")), kind, conclusion))
    if not outcomes:
        return CheckResult(
            None, f"no CI status reported for {short}; sign off by hand or run validate"
        )

    def names(kind: str) -> str:
        found = [f"{n} ({raw})" for n, k, raw in outcomes if k == kind]
        return ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")

    failing = sum(1 for _, k, _ in outcomes if k == "fail")
    pending = sum(1 for _, k, _ in outcomes if k == "pending")
    if failing:
        return CheckResult(False, f"CI of {short}: {failing} failing: {names('fail')}")
    if pending:
        return CheckResult(
            None, f"CI of {short}: {pending} of {len(outcomes)} still running: {names('pending')}"
        )
    return CheckResult(True, f"CI of {short}: {len(outcomes)} checks green")


# --- notifications -----------------------------------------------------------------------


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _field(title: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{title}*\n{_mrkdwn(value or '—')}"[:2000]}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def slack_deployed_message(note: Notification) -> dict[str, Any]:
    """Block Kit payload announcing a finished deployment, with a plain-text fallback."""
    took = format_duration(note.duration)
    return {
        "text": (
            f"{note.service} {note.version} deployed to {note.environment} by {note.by} ({took})"
        ),
        "blocks": [
            _header(f"✅ {note.service} {note.version} deployed to {note.environment}"),
            {
                "type": "section",
                "fields": [
                    _field("Service", note.service),
                    _field("Version", note.version),
                    _field("Environment", note.environment),
                    _field("Duration", took),
                    _field("Deployed by", note.by),
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": _mrkdwn(f"run {note.run_id} · image {note.image} · b2tui"),
                    }
                ],
            },
        ],
    }


def slack_incident_message(note: Notification) -> dict[str, Any]:
    """Block Kit payload for a rollback: reason, gate values and the rollback target."""
    gate_fields = [_field(name, value) for name, value in note.gates.items()][:10]
    blocks: list[dict[str, Any]] = [
        _header(f"🚨 Rollback: {note.service} in {note.environment}"),
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _field("Reason", note.reason)["text"]},
        },
    ]
    if gate_fields:  # Slack rejects a section with an empty fields list
        blocks.append({"type": "section", "fields": gate_fields})
    blocks += [
        {
            "type": "section",
            "fields": [
                _field("Rolled back to", note.target),
                _field("Bad version", note.version),
                _field("Environment", note.environment),
                _field("Triggered by", note.by),
            ],
        },
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": _mrkdwn(f"run {note.run_id} · image {note.image}")}
            ],
        },
    ]
    gates = ", ".join(f"{k} {v}" for k, v in note.gates.items())
    return {
        "text": f"Rollback of {note.service} in {note.environment} to {note.target}: {note.reason}"
        + (f" ({gates})" if gates else ""),
        "blocks": blocks,
    }


def changelog_line(note: Notification) -> str:
    """The ``### Deployed`` list line for ``note``; the run id makes it unique."""
    return (
        f"- {note.service} deployed to {note.environment}: image `{note.image}`"
        f" (run `{note.run_id}`, by {note.by})"
    )


_LINK_REF = re.compile(r"^\[[^\]]+\]:\s*\S")


def add_changelog_entry(path: Path, note: Notification, day: date) -> bool:
    """Record ``note`` in a Keep a Changelog file; False when the run is already there.

    The file is created with :data:`CHANGELOG_HEADER` when missing. A new
    ``## [<version>] - <day>`` section goes first after ``## [Unreleased]`` (newest
    first); a version deployed again (another environment, a re-run) gets another line
    in its existing ``### Deployed`` list. ``Unreleased`` itself is left as people
    wrote it. The file is replaced atomically.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else CHANGELOG_HEADER
    if f"(run `{note.run_id}`" in text:
        return False
    lines = text.splitlines()
    entry = changelog_line(note)
    heading = re.compile(r"^## \[" + re.escape(note.version) + r"\]")
    at = next((i for i, line in enumerate(lines) if heading.match(line)), None)
    if at is not None:
        end = next((i for i in range(at + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        sub = next((i for i in range(at + 1, end) if lines[i].strip() == "### Deployed"), None)
        if sub is not None:
            # After the last item of the list that follows "### Deployed".
            last = None
            pos = sub + 1
            while pos < end and (not lines[pos].strip() or lines[pos].startswith("- ")):
                if lines[pos].startswith("- "):
                    last = pos
                pos += 1
            insert_at = sub + 1 if last is None else last + 1
            new = ["", entry] if last is None else [entry]
        else:
            insert_at = at + 1
            new = ["", "### Deployed", "", entry]
    else:
        first_release = next(
            (
                i
                for i, line in enumerate(lines)
                if line.startswith("## ") and line != "## [Unreleased]"
            ),
            None,
        )
        if first_release is not None:
            insert_at = first_release
        else:
            # After everything but a trailing block of link references.
            insert_at = len(lines)
            while insert_at > 0 and (
                _LINK_REF.match(lines[insert_at - 1]) or not lines[insert_at - 1].strip()
            ):
                insert_at -= 1
        new = [f"## [{note.version}] - {day.isoformat()}", "", "### Deployed", "", entry, ""]
        if insert_at > 0 and lines[insert_at - 1].strip():
            new.insert(0, "")
    lines[insert_at:insert_at] = new
    out = "\n".join(lines).rstrip("\n") + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".changelog-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(out)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


_FIXES = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):?\s+(?:([\w.-]+/[\w.-]+))?#(\d+)\b", re.I
)


def issues_fixed(messages: list[str], repo: str) -> list[int]:
    """Issue numbers named by ``Fixes #N`` / ``Closes #N`` / ``Resolves #N`` (and the
    other GitHub closing keywords) in commit messages, ``owner/name#N`` only for ``repo``."""
    found: set[int] = set()
    for message in messages:
        for m in _FIXES.finditer(message):
            if m.group(1) is None or m.group(1).lower() == repo.lower():
                found.add(int(m.group(2)))
    return sorted(found)


Channel = tuple[str, bool, str]

_SHA = re.compile(r"[0-9a-f]{40}")


def _read_marker(path: Path) -> str | None:
    """The recorded last deployed sha; None when missing or not a sha."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text if _SHA.fullmatch(text) else None


def _write_marker(path: Path, sha: str) -> None:
    path.write_text(sha + "\n", encoding="utf-8")


class WebhookNotifier:
    """The :class:`~b2tui.ports.Notifier` port: Slack, a JSON webhook, changelog, issues.

    For a ``deployed`` note: a Block Kit message to ``deployments_webhook``, an entry in
    ``changelog`` (relative to ``repo``) and, with ``github_token`` and ``github_repo``,
    the issues closed that the deployed commits name (``Fixes #N``). For an ``incident``
    note: a Block Kit message to ``incident_webhook``. The generic ``webhook`` receives
    every note as ``dataclasses.asdict(note)``.

    Which commits were deployed: the sha of the last deployed commit is kept in
    ``<repo>/.b2tui-last-deployed`` (add it to ``.gitignore``); each deploy reads
    ``git log <that sha>..<deployed commit>`` and then records the deployed commit. The
    deployed commit is ``note.version`` when it names a commit in ``repo``, else HEAD.
    The first deploy only records the sha, since there is no range to read yet. This
    keeps the notifier self-contained: the run does not have to carry git history.

    Every channel reports ``(channel, ok, detail)``; nothing raises, and no detail
    carries a webhook URL or token, only its ``env:NAME``/``file:PATH`` source.

    Args:
        settings: The ``[notify]`` settings.
        repo: Git checkout the changelog path and the issue range refer to.
        timeout: Seconds each HTTP request may take.
        git: The git executable.
        today: Date for changelog headings (injectable for tests).
    """

    def __init__(
        self,
        settings: NotifySettings,
        repo: str = ".",
        *,
        timeout: float = 10.0,
        git: str = "git",
        today: Callable[[], date] = date.today,
    ) -> None:
        self._settings = settings
        self._repo = repo
        self._timeout = timeout
        self._git = git
        self._today = today

    async def notify(self, note: Notification) -> list[Channel]:
        """Send ``note`` to every configured channel; one result per channel."""
        s = self._settings
        results: list[Channel] = []
        if note.kind == "deployed" and s.deployments_webhook is not None:
            results.append(
                await self._guard(
                    "slack deployments",
                    self._post,
                    "slack deployments",
                    s.deployments_webhook,
                    slack_deployed_message(note),
                )
            )
        if note.kind == "incident" and s.incident_webhook is not None:
            results.append(
                await self._guard(
                    "slack incident",
                    self._post,
                    "slack incident",
                    s.incident_webhook,
                    slack_incident_message(note),
                )
            )
        if s.webhook is not None:
            results.append(
                await self._guard(
                    "webhook", self._post, "webhook", s.webhook, dataclasses.asdict(note)
                )
            )
        if note.kind == "deployed" and s.changelog:
            results.append(await self._guard("changelog", self._changelog, note))
        if note.kind == "deployed" and s.github_token is not None and s.github_repo:
            try:
                results += await self._close_issues(note, s.github_token, s.github_repo)
            except Exception as e:  # a bug here must not turn a deploy into a failure
                results.append(self._unexpected("github issues", e))
        return results

    async def _guard(self, channel: str, fn: Callable[..., Any], *args: Any) -> Channel:
        try:
            result: Channel = await fn(*args)
        except Exception as e:
            return self._unexpected(channel, e)
        return result

    def _unexpected(self, channel: str, e: Exception) -> Channel:
        detail = mask_secret_text(f"{type(e).__name__}: {_one_line(str(e))}", self._secrets())
        log.warning("notification channel %s failed: %s", channel, detail)
        return channel, False, detail

    def _secrets(self) -> list[str]:
        s = self._settings
        values = []
        for secret in (s.deployments_webhook, s.incident_webhook, s.webhook, s.github_token):
            if secret is not None:
                with contextlib.suppress(ValueError):
                    value = secret.reveal()
                    values += _webhook_secrets(value) if "://" in value else [value]
        return values

    async def _post(self, channel: str, secret: Secret, payload: dict[str, Any]) -> Channel:
        try:
            url = secret.reveal()
        except ValueError as e:
            return channel, False, f"{secret.source}: {e}"
        _redact_in_logs(url, secret.source)
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(url, json=payload)
        except httpx.TimeoutException:
            return channel, False, f"timeout after {self._timeout:g} s posting to {secret.source}"
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            problem = (
                _connect_problem(e, httpx.URL(url))
                if isinstance(e, httpx.ConnectError)
                else f"{type(e).__name__}: {_one_line(str(e))}"
            )
            return (
                channel,
                False,
                mask_secret_text(
                    f"cannot post to {secret.source}: {problem}", _webhook_secrets(url)
                ),
            )
        if response.is_success:
            return channel, True, f"posted to {secret.source} ({response.status_code})"
        body = _one_line(response.text, 100)
        detail = f"{secret.source} answered {response.status_code}" + (f": {body}" if body else "")
        return channel, False, mask_secret_text(detail, _webhook_secrets(url))

    async def _changelog(self, note: Notification) -> Channel:
        assert self._settings.changelog is not None
        path = Path(self._repo) / self._settings.changelog
        try:
            added = await asyncio.to_thread(add_changelog_entry, path, note, self._today())
        except OSError as e:
            return "changelog", False, f"cannot write {path}: {e.strerror or e}"
        if not added:
            return "changelog", True, f"{path} already records run {note.run_id}"
        return "changelog", True, f"added {note.version} to {path}"

    async def _close_issues(self, note: Notification, secret: Secret, repo: str) -> list[Channel]:
        channel = "github issues"
        try:
            token = secret.reveal()
        except ValueError as e:
            return [(channel, False, f"github_token {secret.source}: {e}")]
        _redact_in_logs(token)
        marker = Path(self._repo) / LAST_DEPLOYED_FILE
        try:
            until = await self._deployed_commit(note.version)
            since = await asyncio.to_thread(_read_marker, marker)
            if since is None:
                await asyncio.to_thread(_write_marker, marker, until)
                detail = f"first deploy: recorded {until[:7]}; issues close from the next one"
                return [(channel, True, detail)]
            rc, out, err = await _git(
                self._git, self._repo, "log", "--format=%B%x00", f"{since}..{until}"
            )
            if rc != 0:
                # The recorded commit is gone (history rewritten): start over from here
                # rather than fail on every deploy.
                await asyncio.to_thread(_write_marker, marker, until)
                detail = f"git log {since[:7]}..{until[:7]} failed: {err}"
                return [(channel, False, f"{detail}; recorded {until[:7]} for the next deploy")]
        except (_GitUnavailable, OSError) as e:
            return [(channel, False, f"cannot read the deployed commits: {e}")]
        messages = [m for m in out.split("\x00") if m.strip()]
        numbers = issues_fixed(messages, repo)
        if not numbers:
            await asyncio.to_thread(_write_marker, marker, until)
            return [(channel, True, f"no 'Fixes #N' in {len(messages)} commits since {since[:7]}")]
        comment = (
            f"Deployed to {note.environment} in {note.service} {note.version}"
            f" (run {note.run_id}, by {note.by}); closed by b2tui."
        )
        results: list[Channel] = []
        async with _github_client(self._settings, token) as gh:
            for n in numbers:
                results.append(await self._close_one(gh, repo, n, comment, token))
        if all(ok for _, ok, _ in results):
            await asyncio.to_thread(_write_marker, marker, until)
        else:
            # Keep the old mark so the next deploy tries the failed ones again.
            results.append((channel, False, f"kept {since[:7]} as last deployed: will retry"))
        return results

    async def _deployed_commit(self, version: str) -> str:
        """``version`` when it names a commit (sha, tag), else HEAD."""
        if version and not version.startswith("-"):
            with contextlib.suppress(_GitUnavailable):
                return await _head(self._git, self._repo, version)
        return await _head(self._git, self._repo)

    async def _close_one(
        self, gh: httpx.AsyncClient, repo: str, number: int, comment: str, token: str
    ) -> Channel:
        channel = f"github #{number}"
        try:
            posted = await gh.post(
                f"/repos/{repo}/issues/{number}/comments", json={"body": comment}
            )
            if not posted.is_success:
                return (
                    channel,
                    False,
                    mask_secret_text(
                        f"commenting on {repo}#{number}: GitHub answered {posted.status_code}",
                        [token],
                    ),
                )
            closed = await gh.patch(
                f"/repos/{repo}/issues/{number}",
                json={"state": "closed", "state_reason": "completed"},
            )
        except httpx.HTTPError as e:
            reason = _one_line(str(e)) or type(e).__name__
            return channel, False, mask_secret_text(f"cannot reach GitHub API: {reason}", [token])
        if not closed.is_success:
            return (
                channel,
                False,
                mask_secret_text(
                    f"closing {repo}#{number}: GitHub answered {closed.status_code}", [token]
                ),
            )
        return channel, True, f"closed {repo}#{number}"
