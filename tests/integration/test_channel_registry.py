"""A notification channel nobody ships, added through the registry alone: the notifier
sends through it and masks its secret without a line of b2tui changing (ARCHITECTURE.md,
"How to add a notification channel")."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from b2tui.adapters.http import WebhookNotifier
from b2tui.adapters.http import channels as ch
from b2tui.adapters.http.errors import Channel
from b2tui.config import NotifySettings, Secret
from b2tui.ports import Notification
from tests.support.pagers import _Server

HOOK_PATH = "/webhookb2/8f7e6d5c-team-hook-s3cr3t/IncomingWebhook"


class TeamsDouble(_Server):
    """An incoming webhook that refuses cards without a title, quoting the URL it was
    called on in its error (servers do echo their URLs)."""

    def handle(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any, dict]:
        if not isinstance(body, dict) or not body.get("title"):
            return 400, {"error": f"card without a title posted to {self.url}{path}"}, {}
        return 200, {"ok": True}, {}


@dataclasses.dataclass(frozen=True)
class ToyTeams:
    """The toy channel: a card on every rollback."""

    hook: Secret
    name: str = "teams"

    @property
    def secrets(self) -> tuple[Secret, ...]:
        return (self.hook,)

    async def send(self, note: Notification) -> list[Channel]:
        if note.kind != "rollback":
            return []
        card = {"title": f"{note.service}: rollback" if note.reason else "", "text": note.reason}
        async with httpx.AsyncClient(timeout=5) as client:
            res = await client.post(self.hook.reveal(), json=card)
        return [(self.name, res.is_success, f"{res.status_code} {res.text}")]


@pytest.fixture
def teams(monkeypatch: pytest.MonkeyPatch) -> Iterator[TeamsDouble]:
    with TeamsDouble() as server:
        monkeypatch.setenv("TEAMS_HOOK", server.url + HOOK_PATH)
        monkeypatch.setattr(ch, "REGISTRY", list(ch.REGISTRY))  # gone after the test
        ch.register(lambda s, ctx: ToyTeams(Secret("env:TEAMS_HOOK")))
        yield server


def note(reason: str) -> Notification:
    return Notification(
        kind="rollback",
        service="b2connect",
        environment="production",
        version="d7f213f",
        image="registry.example.com/b2connect:production-d7f213f",
        run_id="r1",
        by="engine",
        duration=60.0,
        reason=reason,
    )


async def test_a_registered_channel_is_sent_to_and_its_secret_never_shown(
    teams: TeamsDouble,
) -> None:
    notifier = WebhookNotifier(NotifySettings(changelog=None))
    assert await notifier.notify(note("error_rate 5.17% over 0.10%")) == [
        ("teams", True, '200 {"ok": true}')
    ]
    assert teams.requests[0][1] == HOOK_PATH
    # The server's refusal quotes the secret URL: the result shows it masked.
    [(name, ok, detail)] = await notifier.notify(note(""))
    assert (name, ok) == ("teams", False)
    assert "400" in detail and "s3cr3t" not in detail and "***" in detail, detail
