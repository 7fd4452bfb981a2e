"""GitHub's REST API: the CI verdict of a commit and closing the issues a deploy fixes.

- :func:`ci_status` answers the readiness items ``tests_passing``/``build_ok`` from the
  combined commit status and the check runs of HEAD.
- :func:`close_issues` comments on and closes the issues named ``Fixes #N`` in the
  commits deployed since the last deploy (kept in :data:`~.git.LAST_DEPLOYED_FILE`).

The token only travels in the ``Authorization`` header; every detail is scrubbed of it.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx

from b2tui.adapters.http.errors import Channel, one_line
from b2tui.adapters.http.git import (
    LAST_DEPLOYED_FILE,
    GitUnavailable,
    deployed_commit,
    head_commit,
    read_marker,
    run_git,
    write_marker,
)
from b2tui.adapters.http.masking import mask_secret_text, redact_in_logs
from b2tui.config import NotifySettings, Secret
from b2tui.ports import CheckResult, Notification

_GITHUB_VERSION = "2022-11-28"
_PASSING = {"success", "neutral", "skipped"}
_FIXES = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):?\s+(?:([\w.-]+/[\w.-]+))?#(\d+)\b", re.I
)


async def _token_and_head(
    notify: NotifySettings, git: str, repo_dir: str, *, unconfigured: str, no_commit: str
) -> tuple[str, str] | CheckResult:
    """The token (registered for masking) and HEAD's sha to ask GitHub about, or the
    unknown result that says why not."""
    if not (notify.github_repo and notify.github_token):
        return CheckResult(None, unconfigured)
    try:
        token = notify.github_token.reveal()
    except ValueError as e:
        return CheckResult(None, f"github_token {notify.github_token.source}: {e}")
    redact_in_logs(token)
    try:
        return token, await head_commit(git, repo_dir)
    except GitUnavailable as e:
        return CheckResult(None, f"{no_commit}: {e}")


async def ci_status(notify: NotifySettings, git: str, repo_dir: str) -> CheckResult:
    """The CI verdict of HEAD of ``repo_dir`` on GitHub; pending or absent CI is unknown.

    Both readiness items read the same verdict: GitHub does not say which check is
    "the tests".
    """
    asked = await _token_and_head(
        notify,
        git,
        repo_dir,
        unconfigured="no CI status source configured; sign off by hand or run validate",
        no_commit="cannot tell which commit to ask CI about",
    )
    if isinstance(asked, CheckResult):
        return asked
    token, sha = asked
    short = sha[:7]
    repo = notify.github_repo
    try:
        async with _github_client(notify, token) as gh:
            status = await gh.get(f"/repos/{repo}/commits/{sha}/status")
            runs = await gh.get(f"/repos/{repo}/commits/{sha}/check-runs", params={"per_page": 100})
    except httpx.HTTPError as e:
        reason = one_line(str(e)) or type(e).__name__
        detail = f"cannot reach GitHub API {notify.github_api}: {reason}"
        return CheckResult(None, mask_secret_text(detail, [token]))
    for response in (status, runs):
        if response.status_code != 200:
            return CheckResult(
                None, mask_secret_text(_github_problem(response, notify, short), [token])
            )
    return _ci_verdict(status.json(), runs.json(), short)


MAX_PAGES = 20
"""Pages of reviews read at most (100 each)."""


async def review_approval(notify: NotifySettings, git: str, repo_dir: str) -> CheckResult:
    """*Code review approved* answered by GitHub: the merged pull request of HEAD of
    ``repo_dir`` (``GET /repos/R/commits/SHA/pulls``) has an ``APPROVED`` review by someone
    other than its author (``GET /repos/R/pulls/N/reviews``, every page of the ``Link``
    header). A reviewer's latest approving or rejecting review counts (a later comment does
    not undo an approval; a dismissal does). Anything else is unknown: people sign it by
    hand, within its role and never its author."""
    asked = await _token_and_head(
        notify,
        git,
        repo_dir,
        unconfigured="no GitHub token: sign the review off by hand",
        no_commit="cannot tell which commit was reviewed",
    )
    if isinstance(asked, CheckResult):
        return asked
    token, sha = asked
    short, repo = sha[:7], notify.github_repo
    try:
        async with _github_client(notify, token) as gh:
            pulls = await gh.get(f"/repos/{repo}/commits/{sha}/pulls", params={"per_page": 100})
            if pulls.status_code != 200:
                problem = _github_problem(pulls, notify, short)
                return CheckResult(None, mask_secret_text(problem, [token]))
            merged = [p for p in pulls.json() if isinstance(p, dict) and p.get("merged_at")]
            if not merged:
                return CheckResult(None, f"no merged pull request contains {short}")
            pr = merged[0]
            number, author = pr.get("number"), str((pr.get("user") or {}).get("login", ""))
            reviews: list[dict[str, Any]] = []
            url: str | None = f"/repos/{repo}/pulls/{number}/reviews?per_page=100"
            for _ in range(MAX_PAGES):
                if url is None:
                    break
                page = await gh.get(url)
                if page.status_code != 200:
                    problem = _github_problem(page, notify, short)
                    return CheckResult(None, mask_secret_text(problem, [token]))
                reviews += [r for r in page.json() if isinstance(r, dict)]
                url = page.links.get("next", {}).get("url")
    except httpx.HTTPError as e:
        reason = one_line(str(e)) or type(e).__name__
        detail = f"cannot reach GitHub API {notify.github_api}: {reason}"
        return CheckResult(None, mask_secret_text(detail, [token]))
    return _review_verdict(reviews, int(number or 0), author)


def _review_verdict(reviews: list[dict[str, Any]], number: int, author: str) -> CheckResult:
    latest: dict[str, str] = {}
    for r in reviews:  # GitHub lists them in chronological order
        login = str((r.get("user") or {}).get("login", ""))
        state = str(r.get("state", ""))
        if state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[login] = state
    approvers = sorted(u for u, st in latest.items() if st == "APPROVED" and u != author)
    if approvers:
        return CheckResult(True, f"PR #{number} approved by {', '.join(approvers)}")
    changes = sorted(u for u, st in latest.items() if st == "CHANGES_REQUESTED")
    why = f"changes requested by {', '.join(changes)}" if changes else "no approval"
    own = " (only its author approved it)" if latest.get(author) == "APPROVED" else ""
    return CheckResult(
        None, f"PR #{number} by {author}: {why} by someone other than its author{own}"
    )


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
    return f"GitHub answered {code}: {one_line(response.text, 100)}"


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


def issues_fixed(messages: list[str], repo: str) -> list[int]:
    """Issue numbers named by ``Fixes #N`` / ``Closes #N`` / ``Resolves #N`` (and the
    other GitHub closing keywords) in commit messages, ``owner/name#N`` only for ``repo``."""
    found: set[int] = set()
    for message in messages:
        for m in _FIXES.finditer(message):
            if m.group(1) is None or m.group(1).lower() == repo.lower():
                found.add(int(m.group(2)))
    return sorted(found)


async def close_issues(
    notify: NotifySettings, secret: Secret, repo: str, note: Notification, git: str, repo_dir: str
) -> list[Channel]:
    """Close the issues of ``repo`` that the commits deployed by ``note`` fix.

    The deployed range is ``<last deployed>..<deployed commit>`` in ``repo_dir``; the
    first deploy only records the commit. Each issue gets a comment, then is closed; the
    mark moves on only when all of them closed, so failed ones are tried again.
    """
    channel = "github issues"
    try:
        token = secret.reveal()
    except ValueError as e:
        return [(channel, False, f"github_token {secret.source}: {e}")]
    redact_in_logs(token)
    marker = Path(repo_dir) / LAST_DEPLOYED_FILE
    try:
        until = await deployed_commit(git, repo_dir, note.version)
        since = await asyncio.to_thread(read_marker, marker)
        if since is None:
            await asyncio.to_thread(write_marker, marker, until)
            detail = f"first deploy: recorded {until[:7]}; issues close from the next one"
            return [(channel, True, detail)]
        rc, out, err = await run_git(git, repo_dir, "log", "--format=%B%x00", f"{since}..{until}")
        if rc != 0:
            # The recorded commit is gone (history rewritten): start over from here
            # rather than fail on every deploy.
            await asyncio.to_thread(write_marker, marker, until)
            detail = f"git log {since[:7]}..{until[:7]} failed: {err}"
            return [(channel, False, f"{detail}; recorded {until[:7]} for the next deploy")]
    except (GitUnavailable, OSError) as e:
        return [(channel, False, f"cannot read the deployed commits: {e}")]
    messages = [m for m in out.split("\x00") if m.strip()]
    numbers = issues_fixed(messages, repo)
    if not numbers:
        await asyncio.to_thread(write_marker, marker, until)
        return [(channel, True, f"no 'Fixes #N' in {len(messages)} commits since {since[:7]}")]
    comment = (
        f"Deployed to {note.environment} in {note.service} {note.version}"
        f" (run {note.run_id}, by {note.by}); closed by b2tui."
    )
    results: list[Channel] = []
    async with _github_client(notify, token) as gh:
        for n in numbers:
            results.append(await _close_one(gh, repo, n, comment, token))
    if all(ok for _, ok, _ in results):
        await asyncio.to_thread(write_marker, marker, until)
    else:
        # Keep the old mark so the next deploy tries the failed ones again.
        results.append((channel, False, f"kept {since[:7]} as last deployed: will retry"))
    return results


async def _close_one(
    gh: httpx.AsyncClient, repo: str, number: int, comment: str, token: str
) -> Channel:
    channel = f"github #{number}"
    try:
        posted = await gh.post(f"/repos/{repo}/issues/{number}/comments", json={"body": comment})
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
        reason = one_line(str(e)) or type(e).__name__
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


class IssueRefused(Exception):
    """GitHub did not create the issue. ``str()`` is one line naming the repository and
    what to fix; ``config`` is True for an answer only a config change fixes (401, 403,
    404, 410, 422), False for one a retry may (5xx, no connection)."""

    def __init__(self, message: str, *, config: bool) -> None:
        super().__init__(message)
        self.config = config


async def create_issue(notify: NotifySettings, title: str, body: str, labels: list[str]) -> str:
    """File an issue in ``[notify] github_repo``; its ``html_url``.

    ``POST /repos/{owner}/{repo}/issues`` with ``title``, ``body`` and ``labels`` (GitHub
    creates labels that do not exist yet, for a token that may push). Raises
    :class:`IssueRefused` with one line; the token never appears in it.
    """
    repo, secret = notify.github_repo, notify.github_token
    if not repo or secret is None:
        raise IssueRefused(
            "--github needs [notify] github_token and github_repo in the config", config=True
        )
    try:
        token = secret.reveal()
    except ValueError as e:
        raise IssueRefused(f"github_token {secret.source}: {e}", config=True) from None
    redact_in_logs(token)
    payload = {"title": title, "body": body, "labels": labels}
    try:
        async with _github_client(notify, token) as gh:
            res = await gh.post(f"/repos/{repo}/issues", json=payload)
    except httpx.HTTPError as e:
        reason = one_line(str(e)) or type(e).__name__
        detail = f"cannot reach GitHub API {notify.github_api}: {reason}"
        raise IssueRefused(mask_secret_text(detail, [token]), config=False) from None
    if res.status_code == 201:
        url = (res.json() or {}).get("html_url") if _is_json(res) else None
        if not url:
            raise IssueRefused("GitHub answered 201 without the issue's html_url", config=False)
        return str(url)
    raise IssueRefused(
        mask_secret_text(_issue_problem(res, notify.github_api, repo, secret.source), [token]),
        config=res.status_code in (401, 403, 404, 410, 422),
    )


def _is_json(res: httpx.Response) -> bool:
    try:
        res.json()
    except ValueError:
        return False
    return True


def _issue_problem(res: httpx.Response, api: str, repo: str, source: str) -> str:
    code = res.status_code
    message = ""
    if _is_json(res) and isinstance(res.json(), dict):
        data = res.json()
        message = str(data.get("message", ""))
        errors = data.get("errors") or []
        if errors and isinstance(errors[0], dict):
            first = errors[0]
            message += f" ({first.get('field', '')} {first.get('code', '')})".replace("( ", "(")
    said = f": {one_line(message, 120)}" if message else ""
    if code == 401:
        return f"GitHub answered 401{said}: the token ({source}) is not valid; renew it"
    if code == 403:
        return f"GitHub answered 403{said}: the token ({source}) may not create issues in {repo}"
    if code == 404:
        return (
            f"GitHub answered 404{said}: no repository {repo} at {api}, or the token ({source})"
            " cannot see it; fix [notify] github_repo or the token's access"
        )
    if code == 410:
        return f"GitHub answered 410{said}: issues are disabled in {repo}"
    if code == 422:
        return f"GitHub answered 422{said}: it refused the issue's fields"
    return f"GitHub answered {code}{said}"
