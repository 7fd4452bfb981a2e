"""Slack incoming webhooks and generic JSON webhooks: Block Kit payloads and the POST.

For a Slack incoming webhook the URL *is* the credential: it is shown only as its
``env:NAME``/``file:PATH`` source, in details and in httpx's log lines.
"""

from __future__ import annotations

from typing import Any

import httpx

from b2tui.adapters.http.errors import Channel, connect_problem, one_line
from b2tui.adapters.http.masking import mask_secret_text, redact_in_logs, webhook_secrets
from b2tui.config import Secret
from b2tui.domain.durations import format_duration
from b2tui.ports import Notification


async def post_webhook(
    channel: str, secret: Secret, payload: dict[str, Any], timeout: float
) -> Channel:
    """POST ``payload`` as JSON to the webhook URL ``secret`` holds; never raises for HTTP."""
    try:
        url = secret.reveal()
    except ValueError as e:
        return channel, False, f"{secret.source}: {e}"
    redact_in_logs(url, secret.source)
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(url, json=payload)
    except httpx.TimeoutException:
        return channel, False, f"timeout after {timeout:g} s posting to {secret.source}"
    except (httpx.HTTPError, httpx.InvalidURL) as e:
        problem = (
            connect_problem(e, httpx.URL(url))
            if isinstance(e, httpx.ConnectError)
            else f"{type(e).__name__}: {one_line(str(e))}"
        )
        return (
            channel,
            False,
            mask_secret_text(f"cannot post to {secret.source}: {problem}", webhook_secrets(url)),
        )
    if response.is_success:
        return channel, True, f"posted to {secret.source} ({response.status_code})"
    body = one_line(response.text, 100)
    detail = f"{secret.source} answered {response.status_code}" + (f": {body}" if body else "")
    return channel, False, mask_secret_text(detail, webhook_secrets(url))


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


def slack_alert_message(note: Notification) -> dict[str, Any]:
    """Block Kit payload for an alert that needs a person (the state cannot be saved)."""
    text = f"{note.service} in {note.environment}, run {note.run_id}: {note.reason}"
    return {
        "text": f"Alert: {text}",
        "blocks": [
            _header(f"⚠️ b2tui alert: {note.service} in {note.environment}"),
            {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(note.reason)}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": _mrkdwn(f"run {note.run_id} · driver {note.by}")}
                ],
            },
        ],
    }
