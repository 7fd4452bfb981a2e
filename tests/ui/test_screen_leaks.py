"""No registered secret reaches the control room's screen, the driver's or an attached one's.

The secrets are registered the way a configuration registers them (``register_settings``
over real settings): an ``env:`` reference, a ``file:`` reference, an inline value, a URL's
password, credential headers (``Bearer``, ``Basic``) and Prometheus basic auth. A careless
adapter (one that quotes a server back without masking, as a new port could) then plants
every secret, in every encoding masking promises to catch, in a log line (the rollout
status), a notice (the scrape target's reason), a gate's reason, an error (the pods source
failing) and a toast (the engine stopping with an error), on a real :class:`Conductor`
over the sandbox.

The screens are read from ``export_screenshot`` (the SVG an operator would see, its text
put back together line by line). The test first checks each carrier IS on screen (its
marker and the mask are visible), so the leak check cannot pass by showing nothing, then
that no secret shows, in any encoding, in whole or in part (any 8 characters of one).
Removing the masking from the conductor's event fan-out fails it.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import re
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from b2tui.adapters.sandbox import build_sandbox
from b2tui.adapters.store import Store
from b2tui.config import (
    NotifySettings,
    PrometheusSettings,
    Secret,
    Settings,
    sandbox_settings,
)
from b2tui.domain.gates import TARGET, Reading
from b2tui.domain.view import RunView
from b2tui.engine.clock import SteppedClock
from b2tui.engine.conductor import Conductor
from b2tui.engine.remote import AttachedSession
from b2tui.masking import MASK, register_settings
from b2tui.ports import Intent, PodInfo, RolloutState
from b2tui.screenshots import START
from b2tui.ui.app import ControlRoom, make_app

USER, PASSWORD = "scraper", "inlPw/Hx51+Bn38"
SMOKE_USER, SMOKE_PASSWORD = "smoke", "basicPw/Lc29+Qt73"
SECRETS = {
    "env": "ghEnv/Tq84+Lz02",
    "file": "fileTok/Rm27+Vc64",
    "inline": PASSWORD,
    "url": "urlPw/Gd62+Ks90",
    "header": "hdrTok/Jn45+Wq17",
    "bearer": "bearTok/Wd93+Pe15",
    "basic": SMOKE_PASSWORD,
}
"""Registration path → the secret's value (``/`` and ``+`` so that every encoding differs)."""
PAIRS = ((USER, PASSWORD), (SMOKE_USER, SMOKE_PASSWORD))
"""Basic-auth pairs: ``base64(user:password)`` travels too."""


def _b64(text: str, urlsafe: bool = False) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(text.encode()).decode()


ENCODINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda v: v,
    "percent": lambda v: urllib.parse.quote(v, safe=""),
    "form": urllib.parse.quote_plus,
    "json": lambda v: json.dumps(v)[1:-1],
    "base64": _b64,
    "base64url": lambda v: _b64(v, urlsafe=True).rstrip("="),
}
"""How a secret may travel (built here, not by the module under test)."""


def forms(value: str) -> set[str]:
    """Every form of ``value`` the screen must not show."""
    return {encode(value) for encode in ENCODINGS.values()}


def all_forms() -> set[str]:
    found = set().union(*(forms(v) for v in SECRETS.values()))
    for user, password in PAIRS:
        found |= {_b64(f"{user}:{password}"), _b64(f"{user}:{password}", urlsafe=True)}
    return found


def carrier(marker: str, encoding: str) -> str:
    """``marker`` then every secret in ``encoding`` (and the basic pairs base64-encoded)."""
    encode = ENCODINGS[encoding]
    parts = [f"{key}={encode(value)}" for key, value in SECRETS.items()]
    if encoding.startswith("base64"):
        parts += [f"pair={encode(f'{u}:{p}')}" for u, p in PAIRS]
    return f"{marker} " + " ".join(parts)


def settings_with_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The sandbox's settings holding a secret of every kind, registered as the CLI does."""
    monkeypatch.setenv("B2TUI_LEAK_GITHUB", SECRETS["env"])
    token_file = tmp_path / "bearer"
    token_file.write_text(SECRETS["file"] + "\n")
    url_password = urllib.parse.quote(SECRETS["url"], safe="")
    smoke_basic = _b64(f"{SMOKE_USER}:{SMOKE_PASSWORD}")
    base = sandbox_settings()
    settings = dataclasses.replace(
        base,
        prometheus=PrometheusSettings(
            url=f"http://{USER}:{url_password}@127.0.0.1:9090",
            bearer_token=Secret(f"file:{token_file}"),
            username=USER,
            password=Secret(PASSWORD),
            headers={
                "X-Scope-Token": SECRETS["header"],
                "Authorization": f"Bearer {SECRETS['bearer']}",
                "Proxy-Authorization": f"Basic {smoke_basic}",
            },
        ),
        notify=NotifySettings(changelog=None, github_token=Secret("env:B2TUI_LEAK_GITHUB")),
    )
    register_settings(settings)
    return settings


# --- a careless adapter: quotes what it got back, unmasked ---------------------------------


class _Wrapped:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CarelessMetrics(_Wrapped):
    """The sandbox's readings, but the error-rate gate's reason and the scrape target's
    reason quote the server's answer (every secret in it)."""

    async def sample(self, env: Any, track: str | None) -> dict[str, Reading]:
        readings = await self._inner.sample(env, track)
        if env.name == "production":
            readings["error_rate"] = Reading("error_rate", None, carrier("LEAKGATE", "percent"))
            readings[TARGET] = Reading(TARGET, None, carrier("LEAKNOTE", "base64"))
        return readings


class CarelessCluster(_Wrapped):
    """The sandbox's cluster, but rollout status messages quote the server's answer."""

    async def rollout(self, env: Any, track: str | None = None) -> RolloutState:
        state = await self._inner.rollout(env, track)
        if env.name != "production":
            return state
        return dataclasses.replace(state, message=carrier("LEAKLOG", "plain"))


def _canary_holding(v: RunView) -> bool:
    gate_reasons = [s.reason for s in v.gates.values()]
    return (
        v.canary_percent == 5
        and v.hold_until is not None
        and any("LEAKGATE" in r for r in gate_reasons)
    )


async def _driven(settings: Settings, store: Store) -> Conductor:
    clock = SteppedClock(START)
    sandbox = build_sandbox("happy", 7, clock, settings)
    ports = dataclasses.replace(
        sandbox.ports,
        metrics=CarelessMetrics(sandbox.ports.metrics),
        cluster=CarelessCluster(sandbox.ports.cluster),
    )
    conductor = Conductor(settings, ports, store, clock, user="ana@jump", autopilot=True)
    await conductor.start(version="1a2b3c4d", scenario="happy")
    await conductor.run_until(_canary_holding)
    return conductor


async def _failing_pods() -> list[PodInfo]:
    raise RuntimeError(carrier("LEAKERR", "json"))


async def _failing_engine() -> object:
    raise RuntimeError(carrier("LEAKTOAST", "base64url"))


class _Inbox:
    """An IntentInbox that takes nothing (the room only watches here)."""

    user = "bo@jump"

    def why_not(self) -> str | None:
        return "watching only"

    def submit(self, intent: Intent) -> None:
        raise AssertionError("nothing is sent in this test")

    def serve(self, run_id: str, on_intent: Any) -> Callable[[], None]:
        return lambda: None


# --- reading the screen ----------------------------------------------------------------------

_TEXT = re.compile(r'<text[^>]*clip-path="url\(#terminal-[\w-]*?line-(\d+)\)"[^>]*>([^<]*)</text>')


def screen_text(svg: str) -> str:
    """The exported screen's text, one line per terminal row."""
    rows: dict[int, list[str]] = {}
    for m in _TEXT.finditer(svg):
        rows.setdefault(int(m.group(1)), []).append(html.unescape(m.group(2)))
    lines = ("".join(rows[n]).replace("\xa0", " ").rstrip() for n in sorted(rows))
    return "\n".join(line for line in lines if line)


def leaks(screen: str) -> list[str]:
    """Secret forms of which 8 characters in a row are on ``screen`` (a form cut at a
    panel's edge still counts)."""
    flat = screen.replace("\n", "")
    found = []
    for form in sorted(all_forms()):
        pieces = {form[i : i + 8] for i in range(len(form) - 7)}
        if any(p in flat for p in pieces):
            found.append(form)
    return found


DEADLINE = 120.0
"""Seconds a carrier may take to reach the screen: only a guard against a hang."""


async def _until_shown(pilot: Pilot[None], markers: tuple[str, ...]) -> str:
    """The screen's text once every marker is on it (fails after :data:`DEADLINE`)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        screen = screen_text(pilot.app.export_screenshot())
        missing = [m for m in markers if m not in screen]
        if not missing:
            return screen
        if time.monotonic() > deadline:
            pytest.fail(f"{', '.join(missing)} never reached the screen:\n{screen}")
        await pilot.pause(0.05)


async def _screens(app: ControlRoom, markers: tuple[str, ...]) -> dict[str, str]:
    """The room's screen whole at 200×60 (and with the first gate's details open), then
    each tab at 80×24; each taken once the carriers it should show are on it."""
    shots: dict[str, str] = {}
    panels = tuple(m for m in markers if m != "LEAKGATE")
    async with app.run_test(size=(200, 60)) as pilot:
        shots["200x60"] = await _until_shown(pilot, panels)
        # The gates panel has focus: enter opens the first gate's verdict, its reason.
        await pilot.press("enter")
        shots["200x60 gate details"] = await _until_shown(pilot, ("LEAKGATE",))
        await pilot.press("escape")
        await pilot.resize_terminal(80, 24)
        for tab in "1234":
            await pilot.press(tab)
            await pilot.pause()
            shots[f"80x24 tab {tab}"] = screen_text(app.export_screenshot())
        shots["80x24 tab 4"] = await _until_shown(pilot, ("LEAKLOG", "LEAKNOTE"))
    return shots


CARRIERS = ("LEAKLOG", "LEAKNOTE", "LEAKGATE", "LEAKERR", "LEAKTOAST")


def _check(shots: dict[str, str], carriers: tuple[str, ...]) -> None:
    for name, screen in shots.items():
        found = leaks(screen)
        assert found == [], f"secrets {found} on the {name} screen:\n{screen}"
    seen = "\n".join(shots.values())
    for marker in carriers:  # shown, masked: the check above had something to look at
        assert f"{marker} env={MASK}" in seen, f"{marker} is not on screen masked:\n{seen}"


async def test_no_secret_reaches_the_driver_or_an_attached_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_with_secrets(tmp_path, monkeypatch)
    conductor = await _driven(settings, Store(tmp_path / "state.db"))
    try:
        await conductor.stop()
        driver = make_app(
            settings,
            conductor,
            clock=conductor.clock,
            pods=_failing_pods,
            runner=_failing_engine,
            colours="full",
        )
        _check(await _screens(driver, CARRIERS), CARRIERS)

        # A room attached from another host reads the same run from the store.
        attached = AttachedSession(Store(tmp_path / "state.db"), conductor.run_id, _Inbox())
        room = make_app(
            settings,
            attached,
            clock=conductor.clock,
            pods=_failing_pods,
            runner=attached.follow,
            colours="full",
        )
        # Its engine is the follower, not the failing one: no engine toast here.
        shown = ("LEAKLOG", "LEAKNOTE", "LEAKGATE", "LEAKERR")
        _check(await _screens(room, shown), shown)
    finally:
        await conductor.stop()
