"""The :class:`~b2tui.ports.Checks` port: HTTP smoke checks and readiness answers."""

from __future__ import annotations

from b2tui.adapters.http.git import code_merged
from b2tui.adapters.http.github import ci_status, review_approval
from b2tui.adapters.http.smoke import check_http
from b2tui.config import HttpCheck, Settings
from b2tui.domain.checklist import ChecklistItem
from b2tui.ports import CheckResult, Commands


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

    async def http(self, check: HttpCheck) -> CheckResult:
        """Request ``check.url`` until it answers as expected (:func:`~.smoke.check_http`)."""
        return await check_http(check, self._backoff)

    async def readiness(self, item: ChecklistItem) -> CheckResult:
        """Answer an automatic readiness item; unknown keys are unknown, not failures.

        The team's own items (``[[readiness.items]]``): ``kind = "command"`` passes on exit
        0 and fails otherwise (a command that cannot start or times out is unknown);
        ``kind = "http"`` passes on a 200 answer to GET, fails on another status, and is
        unknown when the server cannot be reached; ``kind = "github"`` is the CI verdict
        of the deployed commit, as ``tests_passing``.
        """
        if item.check == "command":
            return await self._command(item)
        if item.check == "http":
            check = HttpCheck(url=item.target, expect_status=200, retries=0)
            res = await check_http(check, self._backoff)
            if res.passed is False and "expected 200, got" not in res.detail:
                return CheckResult(None, res.detail)  # unreachable: could not tell
            return res
        if item.check == "github":
            return await ci_status(self._settings.notify, self._git, self._settings.service.repo)
        if item.check == "github-review":
            notify, repo = self._settings.notify, self._settings.service.repo
            return await review_approval(notify, self._git, repo)
        if item.key == "code_merged":
            return await code_merged(self._git, self._settings.service.repo)
        if item.key in ("tests_passing", "build_ok"):
            return await ci_status(self._settings.notify, self._git, self._settings.service.repo)
        return CheckResult(None, f"no automatic check for {item.key}")

    async def _command(self, item: ChecklistItem) -> CheckResult:
        if self._commands is None:
            return CheckResult(None, "no command runner")
        lines: list[str] = []
        res = await self._commands.run(
            item.key,
            item.target,
            cwd=self._settings.service.repo,
            timeout=self._settings.commands.timeout,
            on_line=lines.append,
        )
        last = res.tail.strip().splitlines()[-1:] or lines[-1:] or [""]
        if res.exit_code is None:
            return CheckResult(None, f"`{item.target}` timed out after {res.duration:.0f} s")
        if res.exit_code == 0:
            return CheckResult(True, f"`{item.target}`: exit 0 {last[0]}".strip())
        return CheckResult(False, f"`{item.target}`: exit {res.exit_code} {last[0]}".strip())
