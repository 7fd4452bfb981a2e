"""The :class:`~b2tui.ports.Checks` port: HTTP smoke checks and readiness answers."""

from __future__ import annotations

from b2tui.adapters.http.git import code_merged
from b2tui.adapters.http.github import ci_status
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
        """Answer an automatic readiness item; unknown keys are unknown, not failures."""
        if item.key == "code_merged":
            return await code_merged(self._git, self._settings.service.repo)
        if item.key in ("tests_passing", "build_ok"):
            return await ci_status(self._settings.notify, self._git, self._settings.service.repo)
        return CheckResult(None, f"no automatic check for {item.key}")
