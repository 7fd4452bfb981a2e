"""The :class:`~b2tui.ports.Notifier` port: every channel a deployment note goes to."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from b2tui.adapters.http.changelog import write_changelog
from b2tui.adapters.http.errors import Channel, one_line
from b2tui.adapters.http.github import close_issues
from b2tui.adapters.http.masking import LOGGER, mask_secret_text, webhook_secrets
from b2tui.adapters.http.slack import (
    post_webhook,
    slack_alert_message,
    slack_deployed_message,
    slack_incident_message,
)
from b2tui.config import NotifySettings, Secret
from b2tui.masking import mask_data
from b2tui.ports import Notification

log = logging.getLogger(LOGGER)


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
        """Send ``note`` to every configured channel; one result per channel.

        The note is masked first (:func:`b2tui.masking.mask_data`): a reason quoting a
        server's error must not carry a secret into Slack, a webhook, the changelog or
        a GitHub comment.
        """
        s = self._settings
        self._secrets()  # registers every channel's secret before anything is masked
        note = mask_data(note)
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
        if note.kind in ("incident", "alert") and s.incident_webhook is not None:
            message = slack_incident_message if note.kind == "incident" else slack_alert_message
            results.append(
                await self._guard(
                    "slack incident",
                    self._post,
                    "slack incident",
                    s.incident_webhook,
                    message(note),
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
                results += await close_issues(
                    s, s.github_token, s.github_repo, note, self._git, self._repo
                )
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
        detail = mask_secret_text(f"{type(e).__name__}: {one_line(str(e))}", self._secrets())
        log.warning("notification channel %s failed: %s", channel, detail)
        return channel, False, detail

    def _secrets(self) -> list[str]:
        s = self._settings
        values = []
        for secret in (s.deployments_webhook, s.incident_webhook, s.webhook, s.github_token):
            if secret is not None:
                with contextlib.suppress(ValueError):
                    value = secret.reveal()
                    values += webhook_secrets(value) if "://" in value else [value]
        return values

    async def _post(self, channel: str, secret: Secret, payload: dict[str, Any]) -> Channel:
        return await post_webhook(channel, secret, payload, self._timeout)

    async def _changelog(self, note: Notification) -> Channel:
        assert self._settings.changelog is not None
        path = Path(self._repo) / self._settings.changelog
        return await write_changelog(path, note, self._today())
