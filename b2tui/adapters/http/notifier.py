"""The :class:`~b2tui.ports.Notifier` port: every channel a deployment note goes to."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from b2tui.adapters.http.channels import Context, build_channels
from b2tui.adapters.http.errors import Channel, one_line
from b2tui.adapters.http.masking import LOGGER, mask_secret_text, webhook_secrets
from b2tui.config import NotifySettings
from b2tui.domain.people import Responder
from b2tui.masking import mask_data
from b2tui.ports import Notification

log = logging.getLogger(LOGGER)


class WebhookNotifier:
    """The :class:`~b2tui.ports.Notifier` port: Slack, a JSON webhook, changelog, issues.

    For a ``deployed`` note: a Block Kit message to ``deployments_webhook``, an entry in
    ``changelog`` (relative to ``repo``) and, with ``github_token`` and ``github_repo``,
    the issues closed that the deployed commits name (``Fixes #N``). For an ``incident``
    note: a Block Kit message to ``incident_webhook``. The generic ``webhook`` receives
    every note as ``dataclasses.asdict(note)``. The pagers (PagerDuty, Opsgenie) trigger
    on a ``rollback`` note and resolve on the ``incident`` note of a verified recovery.
    Each channel is an object of :mod:`.channels`, built from ``[notify]`` by its registry.

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
        paged: Who a rollback pages (:func:`b2tui.domain.people.responders`).
    """

    def __init__(
        self,
        settings: NotifySettings,
        repo: str = ".",
        *,
        timeout: float = 10.0,
        git: str = "git",
        today: Callable[[], date] = date.today,
        paged: tuple[Responder, ...] = (),
    ) -> None:
        self._settings = settings
        self._channels = build_channels(
            settings, Context(repo=repo, timeout=timeout, git=git, today=today, paged=paged)
        )
        """The channels ``[notify]`` configures (:mod:`.channels`)."""

    async def notify(self, note: Notification) -> list[Channel]:
        """Send ``note`` to every configured channel; one result per delivery.

        The note is masked first (:func:`b2tui.masking.mask_data`): a reason quoting a
        server's error must not carry a secret into Slack, a webhook, the changelog, a
        GitHub comment or a pager.
        """
        secrets = self._secrets()  # registers every channel's secret before masking
        note = mask_data(note)
        results: list[Channel] = []
        for channel in self._channels:
            try:
                sent = await channel.send(note)
            except Exception as e:  # a bug in one channel must not silence the others
                results.append(self._unexpected(channel.name, e))
                continue
            # What a channel reports may quote a server that echoed its URL or key.
            results += [(c, ok, mask_secret_text(d, secrets)) for c, ok, d in sent]
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
        values = []
        for channel in self._channels:
            for secret in channel.secrets:
                with contextlib.suppress(ValueError):
                    value = secret.reveal()
                    values += webhook_secrets(value) if "://" in value else [value]
        return values
