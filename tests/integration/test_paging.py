"""Paging: PagerDuty (Events API v2) and Opsgenie (Alert API) channels against loopback
servers built from their public documentation (``tests/support/pagers.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from b2tui.adapters.http import WebhookNotifier
from b2tui.adapters.http.channels import REGISTRY, Context, build_channels, dedup_key
from b2tui.config import ConfigError, NotifySettings, Secret, parse_settings
from b2tui.domain.people import responders
from b2tui.ports import Notification
from tests.support.pagers import OpsgenieAlerts, PagerDutyEvents

ROOT = Path(__file__).parents[2]
ROUTING_KEY = "R0UT1NGKEYr0ut1ngkeyR0UT1NGKEY32"  # 32 characters, as PagerDuty's
GENIE_KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"


def note(kind: str, **kw: object) -> Notification:
    base: dict[str, object] = {
        "kind": kind,
        "service": "b2connect",
        "environment": "production",
        "version": "d7f213f",
        "image": "registry.example.com/b2connect:production-d7f213f",
        "run_id": "r-20261206-001",
        "by": "engine",
        "duration": 600.0,
        "reason": "error_rate 5.17% over 0.10% for 3 samples",
        "target": "rev 7 registry.example.com/b2connect:prod-9f3c2a1",
        "gates": {"canary:error_rate": "5.17%"},
    }
    base.update(kw)
    return Notification(**base)  # type: ignore[arg-type]


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyEvents]:
    with PagerDutyEvents() as pd:
        yield pd


@pytest.fixture
def opsgenie() -> Iterator[OpsgenieAlerts]:
    with OpsgenieAlerts(GENIE_KEY) as og:
        yield og


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_KEY", ROUTING_KEY)
    monkeypatch.setenv("GENIE_KEY", GENIE_KEY)


def settings(pd: PagerDutyEvents | None = None, og: OpsgenieAlerts | None = None) -> NotifySettings:
    return NotifySettings(
        changelog=None,
        pagerduty_routing_key=Secret("env:PD_KEY") if pd else None,
        pagerduty_api=pd.url if pd else "https://events.pagerduty.com",
        opsgenie_api_key=Secret("env:GENIE_KEY") if og else None,
        opsgenie_api=og.url if og else "https://api.opsgenie.com",
    )


def test_channels_are_built_from_config_and_declare_their_secrets() -> None:
    s = NotifySettings(
        incident_webhook=Secret("env:SLACK"),
        pagerduty_routing_key=Secret("env:PD_KEY"),
        opsgenie_api_key=Secret("file:/run/secrets/genie"),
    )
    channels = build_channels(s, Context())
    assert [c.name for c in channels] == ["slack incident", "changelog", "pagerduty", "opsgenie"]
    assert [c.secrets for c in channels] == [
        (Secret("env:SLACK"),),
        (),
        (Secret("env:PD_KEY"),),
        (Secret("file:/run/secrets/genie"),),
    ]
    assert build_channels(NotifySettings(changelog=None), Context()) == []
    assert len(REGISTRY) == 7


async def test_a_rollback_triggers_and_its_verified_recovery_resolves(
    keys: None, pagerduty: PagerDutyEvents, opsgenie: OpsgenieAlerts
) -> None:
    notifier = WebhookNotifier(settings(pagerduty, opsgenie))
    key = dedup_key(note("rollback"))
    assert await notifier.notify(note("rollback")) == [
        ("pagerduty", True, f"trigger {key}"),
        ("opsgenie", True, f"create alert {key}"),
    ]
    assert pagerduty.incidents == {key: "triggered"} and opsgenie.alerts == {key: "open"}
    trigger = pagerduty.events[0]
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["summary"].startswith("b2connect production: rollback of d7f213f")
    assert await notifier.notify(note("incident", recovered=True)) == [
        ("pagerduty", True, f"resolve {key}"),
        ("opsgenie", True, f"close alert {key}"),
    ]
    assert pagerduty.incidents == {key: "resolved"} and opsgenie.alerts == {key: "closed"}
    _, path, headers, _ = opsgenie.requests[-1]
    assert path.endswith("/close?identifierType=alias") and headers["authorization"] == (
        f"GenieKey {GENIE_KEY}"
    )


TEAM = """
[store]
backend = "kube"            # names are the cluster's: not looked up on this host

[roles]
on-call = ["erin", "kube-group:sre"]
tech-lead = ["dave"]
qa-engineer = ["quinn"]
devops-engineer = ["alice"]
reviewer = ["rita"]
security-engineer = ["sam"]
product = ["pat"]

[people]
"Dave@Example.com" = "dave"
"erin@example.com" = "erin"

[notify]
pagerduty_routing_key = "env:PD_KEY"
opsgenie_api_key = "env:GENIE_KEY"
{extra}

[environments.production]
namespace = "p"
"""


async def test_a_rollback_pages_the_people_of_the_roles(
    keys: None, pagerduty: PagerDutyEvents, opsgenie: OpsgenieAlerts
) -> None:
    s = parse_settings(TEAM.format(extra=""), "b2tui.toml")
    paged = responders(s.roles, s.people, s.notify.page_roles)
    notify = NotifySettings(
        changelog=None,
        pagerduty_routing_key=s.notify.pagerduty_routing_key,
        pagerduty_api=pagerduty.url,
        opsgenie_api_key=s.notify.opsgenie_api_key,
        opsgenie_api=opsgenie.url,
    )
    results = await WebhookNotifier(notify, paged=paged).notify(note("rollback"))
    assert all(ok for _, ok, _ in results), results
    # The default: the on-call and the tech lead, each account with its [people] email.
    assert pagerduty.events[0]["payload"]["custom_details"]["page"] == [
        "on-call: erin <erin@example.com>",
        "on-call: kube-group:sre",
        "tech-lead: dave <dave@example.com>",
    ]
    alert = opsgenie.created[0]
    assert alert["responders"] == [
        {"type": "user", "username": "erin@example.com"},
        {"type": "user", "username": "dave@example.com"},
    ]
    assert "kube-group:sre" in alert["details"]["page"]

    only_lead = parse_settings(TEAM.format(extra='page_roles = ["tech-lead"]'), "b2tui.toml")
    assert [str(r) for r in responders(only_lead.roles, only_lead.people, ("tech-lead",))] == [
        "tech-lead: dave <dave@example.com>"
    ]
    assert only_lead.notify.page_roles == ("tech-lead",)


async def test_without_roles_the_pagers_name_nobody(
    keys: None, pagerduty: PagerDutyEvents, opsgenie: OpsgenieAlerts
) -> None:
    await WebhookNotifier(settings(pagerduty, opsgenie), paged=()).notify(note("rollback"))
    assert "page" not in pagerduty.events[0]["payload"]["custom_details"]
    assert "responders" not in opsgenie.created[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('page_roles = ["incident-commander"]', "names 'incident-commander', which [roles]"),
    ],
)
def test_paging_a_role_that_does_not_exist_is_one_line(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_settings(TEAM.format(extra=extra), "b2tui.toml")
    assert [p for p in e.value.problems if message in p] == [
        f"b2tui.toml:21: notify.page_roles {message} does not have: add it to [roles] or drop it"
    ], e.value.problems


def test_paging_roles_without_a_roles_table_is_one_line() -> None:
    with pytest.raises(ConfigError) as e:
        parse_settings(
            '[notify]\npage_roles = ["tech-lead"]\n[environments.production]\nnamespace = "p"\n',
            "b2tui.toml",
        )
    assert e.value.problems == [
        "b2tui.toml:2: notify.page_roles names roles, but there is no [roles] table: add one"
        ' (e.g. tech-lead = ["dave"])'
    ]


async def test_a_recovery_not_verified_leaves_the_page_open(
    keys: None, pagerduty: PagerDutyEvents
) -> None:
    notifier = WebhookNotifier(settings(pagerduty))
    await notifier.notify(note("rollback"))
    assert await notifier.notify(note("incident", recovered=False)) == []
    assert list(pagerduty.incidents.values()) == ["triggered"]
    # Deployments and alerts do not page.
    assert await notifier.notify(note("deployed")) == []
    assert await notifier.notify(note("alert")) == []


def test_the_double_refuses_malformed_events_as_pagerduty_does(
    pagerduty: PagerDutyEvents,
) -> None:
    res = httpx.post(
        f"{pagerduty.url}/v2/enqueue",
        json={"routing_key": ROUTING_KEY, "event_action": "trigger", "payload": {"source": "x"}},
    )
    assert res.status_code == 400
    assert res.json()["errors"] == [
        "'payload.summary' is missing or blank",
        "'payload.severity' must be critical, error, warning or info",
    ]


async def test_a_400_is_one_line_without_the_key(
    monkeypatch: pytest.MonkeyPatch, pagerduty: PagerDutyEvents
) -> None:
    monkeypatch.setenv("PD_KEY", "too-short-a-key")
    ((channel, ok, detail),) = await WebhookNotifier(settings(pagerduty)).notify(note("rollback"))
    assert (channel, ok) == ("pagerduty", False)
    assert detail.startswith("trigger: PagerDuty answered 400: Event object is invalid (")
    assert "too-short-a-key" not in detail and "\n" not in detail


async def test_429_retry_after_is_honoured(
    keys: None, pagerduty: PagerDutyEvents, opsgenie: OpsgenieAlerts
) -> None:
    # The servers answer 429 again to a client that comes back before Retry-After.
    pagerduty.throttle(1, retry_after=1)
    opsgenie.throttle(1, retry_after=1)
    results = await WebhookNotifier(settings(pagerduty, opsgenie)).notify(note("rollback"))
    assert [(c, ok) for c, ok, _ in results] == [("pagerduty", True), ("opsgenie", True)]
    assert len(pagerduty.requests) == 2 and len(opsgenie.requests) == 2


async def test_a_long_retry_after_gives_up_with_one_line(
    keys: None, pagerduty: PagerDutyEvents
) -> None:
    pagerduty.throttle(1, retry_after=120)
    ((_, ok, detail),) = await WebhookNotifier(settings(pagerduty)).notify(note("rollback"))
    assert not ok and detail == (
        "trigger: PagerDuty answered 429 (Retry-After 120): Requests for this service are"
        " arriving too quickly. Please retry later."
    )
    assert len(pagerduty.requests) == 1


async def test_opsgenie_refuses_a_wrong_key(
    monkeypatch: pytest.MonkeyPatch, opsgenie: OpsgenieAlerts
) -> None:
    monkeypatch.setenv("GENIE_KEY", "not-the-key-0000")
    ((_, ok, detail),) = await WebhookNotifier(settings(og=opsgenie)).notify(note("rollback"))
    assert not ok and detail == "create: Opsgenie answered 401: Could not authenticate"
    assert opsgenie.alerts == {}


def test_a_sandbox_incident_pages_then_resolves(
    tmp_path: Path, pagerduty: PagerDutyEvents, opsgenie: OpsgenieAlerts
) -> None:
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text(
        '[environments.production]\nnamespace = "p"\n'
        '[notify]\npagerduty_routing_key = "env:PD_KEY"\n'
        f'pagerduty_api = "{pagerduty.url}"\nopsgenie_api_key = "env:GENIE_KEY"\n'
        f'opsgenie_api = "{opsgenie.url}"\n'
    )
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "b2tui",
            "demo",
            "--headless",
            "--json",
            "--speed",
            "max",
            "--scenario",
            "prod-error-spike",
            "--state",
            str(tmp_path / "s.db"),
            "--notify",
            str(cfg),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PD_KEY": ROUTING_KEY, "GENIE_KEY": GENIE_KEY},
    )
    assert res.returncode == 3, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    run_id = events[0]["run_id"]
    key = f"b2tui/b2connect/production/{run_id}"
    assert [(e["event_action"], e["dedup_key"]) for e in pagerduty.events] == [
        ("trigger", key),
        ("resolve", key),
    ]
    assert pagerduty.incidents == {key: "resolved"} and opsgenie.alerts == {key: "closed"}
    notified = [(e["channel"], e["ok"]) for e in events if e["event"] == "notified"]
    assert ("pagerduty", True) in notified and ("opsgenie", True) in notified
    assert ROUTING_KEY not in res.stdout and GENIE_KEY not in res.stdout
    kinds = [e["event"] for e in events]
    assert kinds.index("rollback_started") < kinds.index("rollback_completed")
