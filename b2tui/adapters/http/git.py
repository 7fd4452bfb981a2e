"""git for the readiness check ``code_merged`` and the range of deployed commits.

git runs as a subprocess with no terminal prompt, C locale and a timeout; a missing
git or a path that is not a checkout is :class:`GitUnavailable`, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from pathlib import Path

from b2tui.ports import CheckResult

LAST_DEPLOYED_FILE = ".b2tui-last-deployed"
"""File in the repo holding the sha of the last deployed commit (issue closing)."""

_GIT_TIMEOUT = 15.0
_SHA = re.compile(r"[0-9a-f]{40}")


class GitUnavailable(Exception):
    """git is missing or ``repo`` is not a usable checkout; ``str()`` says which."""


async def run_git(git: str, repo: str, *args: str) -> tuple[int, str, str]:
    """Run ``git -C repo args``; (exit code, stdout, first stderr line)."""
    if not await asyncio.to_thread(os.path.isdir, repo):
        raise GitUnavailable(f"repository {repo} does not exist; set service.repo")
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
        raise GitUnavailable(f"{git} not found; install git") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), _GIT_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise GitUnavailable(f"git {args[0]} in {repo} took over {_GIT_TIMEOUT:g} s") from None
    finally:
        if proc.returncode is None:  # cancelled: do not leave git running
            proc.kill()
    error = err.decode(errors="replace").strip().splitlines()
    first = error[0].removeprefix("fatal: ") if error else ""
    if proc.returncode == 128 and "not a git repository" in first:
        raise GitUnavailable(f"{repo} is not a git repository")
    return proc.returncode or 0, out.decode(errors="replace").strip(), first


async def head_commit(git: str, repo: str, rev: str = "HEAD") -> str:
    rc, out, err = await run_git(git, repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if rc != 0:
        raise GitUnavailable(f"{rev} is not a commit in {repo}" + (f": {err}" if err else ""))
    return out


async def code_merged(git: str, repo: str) -> CheckResult:
    """The readiness item ``code_merged``: is HEAD of ``repo`` on ``origin/main`` or ``main``?

    ``origin/main`` is as of the last fetch (b2tui does not fetch); ``main`` is used when
    there is no remote. Anything git cannot tell is unknown, to be signed off by hand.
    """
    try:
        head = await head_commit(git, repo)
        base = None
        for ref, name in (
            ("refs/remotes/origin/main", "origin/main"),
            ("refs/heads/main", "main"),
        ):
            rc, _, _ = await run_git(git, repo, "rev-parse", "--verify", "--quiet", ref)
            if rc == 0:
                base = name
                break
        if base is None:
            return CheckResult(
                None, f"neither origin/main nor main exists in {repo}; sign off by hand"
            )
        rc, _, err = await run_git(git, repo, "merge-base", "--is-ancestor", head, base)
    except GitUnavailable as e:
        return CheckResult(None, f"cannot tell: {e}; sign off by hand")
    short = head[:7]
    fetched = " (as of the last fetch)" if base.startswith("origin/") else ""
    if rc == 0:
        return CheckResult(True, f"HEAD {short} is on {base}{fetched}")
    if rc == 1:
        return CheckResult(False, f"HEAD {short} is not on {base}{fetched}; merge it to main first")
    return CheckResult(None, f"git merge-base failed in {repo}: {err or f'exit {rc}'}")


def read_marker(path: Path) -> str | None:
    """The recorded last deployed sha; None when missing or not a sha."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text if _SHA.fullmatch(text) else None


def write_marker(path: Path, sha: str) -> None:
    """Record ``sha`` as the last deployed commit."""
    path.write_text(sha + "\n", encoding="utf-8")


async def deployed_commit(git: str, repo: str, version: str) -> str:
    """``version`` when it names a commit (sha, tag) in ``repo``, else HEAD."""
    if version and not version.startswith("-"):
        with contextlib.suppress(GitUnavailable):
            return await head_commit(git, repo, version)
    return await head_commit(git, repo)


async def commit_authors(
    git: str, repo: str, version: str, people: dict[str, str]
) -> tuple[list[str], list[str]]:
    """(accounts, emails) of the authors and committers of the deployed commits: those
    after the last deployed commit (``.b2tui-last-deployed``) up to ``version``, or
    ``version`` alone. Emails pass through the repository's ``.mailmap`` (``%aE``); accounts
    come from ``people`` (email → account). Outside git: nobody."""
    try:
        sha = await deployed_commit(git, repo, version)
        since = read_marker(Path(repo) / LAST_DEPLOYED_FILE)
        rng = ["-200", f"{since}..{sha}"] if since and since != sha else ["-1", sha]
        code, out, _ = await run_git(git, repo, "log", "--format=%aE%x00%cE", *rng)
        if code != 0 and len(rng) == 2 and rng[0] == "-200":
            code, out, _ = await run_git(git, repo, "log", "--format=%aE%x00%cE", "-1", sha)
    except GitUnavailable:
        return [], []
    if code != 0:
        return [], []
    emails = sorted(
        {e.strip().lower() for line in out.splitlines() for e in line.split("\0")} - {""}
    )
    accounts = sorted({people[e] for e in emails if e in people})
    return accounts, emails
