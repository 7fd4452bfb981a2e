"""Notification channels as objects built from ``[notify]``: each declares its secrets.

A channel is built by its entry in :data:`REGISTRY` from the ``[notify]`` settings (None
when its keys are not set), says which :class:`~b2tui.config.Secret` it holds
(:attr:`Channel.secrets`, registered for masking before anything is sent), and sends the
notes that concern it (:meth:`NotifyChannel.send`: one ``(channel, ok, detail)`` per
delivery; [] for a note it ignores). :class:`~b2tui.adapters.http.notifier.WebhookNotifier`
is the loop over them. A new channel is a class and one registry line.

Notes by kind: ``deployed`` (a run succeeded), ``rollback`` (a rollback started — the
pagers trigger), ``incident`` (a rollback finished — the pagers resolve when the service
was verified green, ``note.recovered``), ``alert`` (a person is needed now: the state
cannot be saved).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import httpx

from b2tui.adapters.http.changelog import write_changelog
from b2tui.adapters.http.errors import Channel, connect_problem, one_line
from b2tui.adapters.http.github import close_issues
from b2tui.adapters.http.slack import (
    post_webhook,
    slack_alert_message,
    slack_deployed_message,
    slack_incident_message,
)
from b2tui.config import NotifySettings, Secret
from b2tui.domain.people import Responder
from b2tui.ports import Notification

RETRY_AFTER_MAX = 30.0
"""Longest wait a ``429 Retry-After`` is honoured for (seconds); longer gives up."""
ATTEMPTS = 3
"""Requests per delivery when the pager answers 429."""


@dataclasses.dataclass(frozen=True)
class Context:
    """What channels share besides the settings."""

    repo: str = "."
    """Git checkout of the changelog and the issue range."""
    timeout: float = 10.0
    git: str = "git"
    today: Callable[[], date] = date.today
    paged: tuple[Responder, ...] = ()
    """Who a rollback pages (``[notify] page_roles``), named by the pagers."""


class NotifyChannel(Protocol):
    @property
    def name(self) -> str:
        """Shown in results (``slack incident``, ``pagerduty``…)."""
        ...

    @property
    def secrets(self) -> tuple[Secret, ...]:
        """The secrets this channel holds; their values are masked everywhere."""
        ...

    async def send(self, note: Notification) -> list[Channel]:
        """Deliver ``note`` if it concerns this channel; never raises for a refusal."""
        ...


# --- Slack, the generic webhook, the changelog, GitHub issues ---------------------------------


@dataclasses.dataclass(frozen=True)
class SlackDeployments:
    url: Secret
    ctx: Context
    name: str = "slack deployments"

    @property
    def secrets(self) -> tuple[Secret, ...]:
        return (self.url,)

    async def send(self, note: Notification) -> list[Channel]:
        if note.kind != "deployed":
            return []
        message = slack_deployed_message(note)
        return [await post_webhook(self.name, self.url, message, self.ctx.timeout)]


@dataclasses.dataclass(frozen=True)
class SlackIncident:
    url: Secret
    ctx: Context
    name: str = "slack incident"

    @property
    def secrets(self) -> tuple[Secret, ...]:
        return (self.url,)

    async def send(self, note: Notification) -> list[Channel]:
        if note.kind not in ("incident", "alert"):
            return []
        build = slack_incident_message if note.kind == "incident" else slack_alert_message
        return [await post_webhook(self.name, self.url, build(note), self.ctx.timeout)]


@dataclasses.dataclass(frozen=True)
class JsonWebhook:
    url: Secret
    ctx: Context
    name: str = "webhook"

    @property
    def secrets(self) -> tuple[Secret, ...]:
        return (self.url,)

    async def send(self, note: Notification) -> list[Channel]:
        payload = dataclasses.asdict(note)
        return [await post_webhook(self.name, self.url, payload, self.ctx.timeout)]


@dataclasses.dataclass(frozen=True)
class Changelog:
    path: str
    ctx: Context
    name: str = "changelog"
    secrets: tuple[Secret, ...] = ()

    async def send(self, note: Notification) -> list[Channel]:
        if note.kind != "deployed":
            return []
        return [await write_changelog(Path(self.ctx.repo) / self.path, note, self.ctx.today())]


@dataclasses.dataclass(frozen=True)
class GithubIssues:
    settings: NotifySettings
    token: Secret
    repo: str
    ctx: Context
    name: str = "github issues"

    @property
    def secrets(self) -> tuple[Secret, ...]:
        return (self.token,)

    async def send(self, note: Notification) -> list[Channel]:
        if note.kind != "deployed":
            return []
        return await close_issues(
            self.settings, self.token, self.repo, note, self.ctx.git, self.ctx.repo
        )


# --- pagers ------------------------------------------------------------------------------------


def dedup_key(note: Notification) -> str:
    """One incident per run: ``b2tui/<service>/<environment>/<run id>``."""
    return f"b2tui/{note.service}/{note.environment}/{note.run_id}"


def _summary(note: Notification) -> str:
    return f"{note.service} {note.environment}: rollback of {note.version} — {note.reason}"


async def _post_honouring_429(
    client: httpx.AsyncClient, url: str, payload: dict[str, Any], **kw: Any
) -> httpx.Response:
    """POST, and on ``429`` wait ``Retry-After`` seconds (at most :data:`RETRY_AFTER_MAX`)
    and try again, :data:`ATTEMPTS` times in all; the last answer is returned."""
    res = await client.post(url, json=payload, **kw)
    for _ in range(ATTEMPTS - 1):
        if res.status_code != 429:
            break
        try:
            wait = float(res.headers.get("Retry-After", "1"))
        except ValueError:
            wait = 1.0
        if wait > RETRY_AFTER_MAX:
            break
        await asyncio.sleep(max(0.0, wait))
        res = await client.post(url, json=payload, **kw)
    return res


def _refusal(service: str, res: httpx.Response) -> str:
    try:
        data = res.json()
    except ValueError:
        data = None
    said = ""
    if isinstance(data, dict):
        errors = data.get("errors")
        said = str(data.get("message", ""))
        if isinstance(errors, list) and errors:
            said += f" ({one_line(str(errors[0]), 120)})"
    retry = f" (Retry-After {res.headers['Retry-After']})" if "Retry-After" in res.headers else ""
    return f"{service} answered {res.status_code}{retry}" + (f": {one_line(said)}" if said else "")


@dataclasses.dataclass(frozen=True)
class PagerDuty:
    """PagerDuty Events API v2: ``POST /v2/enqueue`` — ``trigger`` when a rollback starts,
    ``resolve`` when the service was verified green after it; one ``dedup_key`` per run."""

    routing_key: Secret
    api: str
    ctx: Context
    name: str = "pagerduty"

    @property
    def secrets(self) -> tuple[Secret, ...]:
        return (self.routing_key,)

    async def send(self, note: Notification) -> list[Channel]:
        if note.kind == "rollback":
            action = "trigger"
        elif note.kind == "incident" and note.recovered:
            action = "resolve"
        else:
            return []
        try:
            key = self.routing_key.reveal()
        except ValueError as e:
            return [(self.name, False, f"pagerduty_routing_key {self.routing_key.source}: {e}")]
        event: dict[str, Any] = {
            "routing_key": key,
            "event_action": action,
            "dedup_key": dedup_key(note),
        }
        if action == "trigger":
            event["payload"] = {
                "summary": _summary(note)[:1024],
                "source": f"b2tui/{note.service}/{note.environment}",
                "severity": "critical",
                "component": note.service,
                "group": note.environment,
                "class": "deployment rollback",
                "custom_details": {
                    "run": note.run_id,
                    "version": note.version,
                    "image": note.image,
                    "rollback_target": note.target,
                    "by": note.by,
                    "gates": note.gates,
                    **({"page": [str(r) for r in self.ctx.paged]} if self.ctx.paged else {}),
                },
            }
            event["client"] = "b2tui"
        url = self.api.rstrip("/") + "/v2/enqueue"
        try:
            async with httpx.AsyncClient(timeout=self.ctx.timeout) as client:
                res = await _post_honouring_429(client, url, event)
        except httpx.HTTPError as e:
            return [(self.name, False, connect_problem(e, httpx.URL(url)))]
        if res.status_code == 202:
            return [(self.name, True, f"{action} {dedup_key(note)}")]
        return [(self.name, False, f"{action}: {_refusal('PagerDuty', res)}")]


@dataclasses.dataclass(frozen=True)
class Opsgenie:
    """Opsgenie Alert API: ``POST /v2/alerts`` when a rollback starts (``alias`` per run),
    ``POST /v2/alerts/<alias>/close?identifierType=alias`` once verified green."""

    api_key: Secret
    api: str
    ctx: Context
    name: str = "opsgenie"

    @property
    def secrets(self) -> tuple[Secret, ...]:
        return (self.api_key,)

    async def send(self, note: Notification) -> list[Channel]:
        if note.kind not in ("rollback", "incident") or (
            note.kind == "incident" and not note.recovered
        ):
            return []
        try:
            key = self.api_key.reveal()
        except ValueError as e:
            return [(self.name, False, f"opsgenie_api_key {self.api_key.source}: {e}")]
        alias = dedup_key(note)
        base = self.api.rstrip("/") + "/v2/alerts"
        if note.kind == "rollback":
            action, url = "create", base
            body: dict[str, Any] = {
                "message": _summary(note)[:130],
                "alias": alias,
                "description": (
                    f"Run {note.run_id} of {note.service} {note.version} ({note.image}) to"
                    f" {note.environment} is rolling back to {note.target}: {note.reason}."
                    f" Started by {note.by}."
                ),
                "source": "b2tui",
                "tags": ["b2tui", "deployment", "rollback"],
                "entity": f"{note.service}/{note.environment}",
                "priority": "P1",
                "details": {k: str(v) for k, v in note.gates.items()},
            }
            paged = _opsgenie_responders(self.ctx.paged)
            if paged:
                body["responders"] = paged
            if self.ctx.paged:
                body["details"]["page"] = "; ".join(str(r) for r in self.ctx.paged)
            params = None
        else:
            action = "close"
            url = f"{base}/{_quote(alias)}/close"
            body = {"source": "b2tui", "note": "rollback verified: gates green"}
            params = {"identifierType": "alias"}
        headers = {"Authorization": f"GenieKey {key}"}
        try:
            async with httpx.AsyncClient(timeout=self.ctx.timeout) as client:
                res = await _post_honouring_429(client, url, body, headers=headers, params=params)
        except httpx.HTTPError as e:
            return [(self.name, False, connect_problem(e, httpx.URL(url)))]
        if res.status_code == 202:
            return [(self.name, True, f"{action} alert {alias}")]
        return [(self.name, False, f"{action}: {_refusal('Opsgenie', res)}")]


def _opsgenie_responders(paged: tuple[Responder, ...]) -> list[dict[str, str]]:
    """Opsgenie responders for the paged accounts that ``[people]`` gives an email (an
    Opsgenie username is the user's email); groups and accounts without one are named in
    the alert's details only. At most 50, Opsgenie's limit."""
    users = dict.fromkeys(r.email for r in paged if r.email)
    return [{"type": "user", "username": e} for e in users if e][:50]


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


# --- the registry ------------------------------------------------------------------------------

Builder = Callable[[NotifySettings, Context], NotifyChannel | None]


def _changelog(s: NotifySettings, ctx: Context) -> NotifyChannel | None:
    return Changelog(s.changelog, ctx) if s.changelog else None


def _github(s: NotifySettings, ctx: Context) -> NotifyChannel | None:
    if s.github_token is None or not s.github_repo:
        return None
    return GithubIssues(s, s.github_token, s.github_repo, ctx)


REGISTRY: list[Builder] = [
    lambda s, ctx: SlackDeployments(s.deployments_webhook, ctx) if s.deployments_webhook else None,
    lambda s, ctx: SlackIncident(s.incident_webhook, ctx) if s.incident_webhook else None,
    lambda s, ctx: JsonWebhook(s.webhook, ctx) if s.webhook else None,
    _changelog,
    _github,
    lambda s, ctx: (
        PagerDuty(s.pagerduty_routing_key, s.pagerduty_api, ctx)
        if s.pagerduty_routing_key
        else None
    ),
    lambda s, ctx: (
        Opsgenie(s.opsgenie_api_key, s.opsgenie_api, ctx) if s.opsgenie_api_key else None
    ),
]
"""Every channel b2tui knows, in the order a note goes out."""


def register(build: Builder) -> None:
    """Add a channel: ``build`` makes it from ``[notify]`` (None when its keys are not
    set). The notifier sends through it and registers its :attr:`NotifyChannel.secrets`
    for masking; nothing else changes (ARCHITECTURE.md, "How to add a notification
    channel")."""
    REGISTRY.append(build)


def build_channels(settings: NotifySettings, ctx: Context) -> list[NotifyChannel]:
    """The channels ``[notify]`` configures."""
    return [c for build in REGISTRY if (c := build(settings, ctx)) is not None]
