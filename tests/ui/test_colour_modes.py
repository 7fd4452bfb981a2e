"""The colour mode: read from the terminal in ``auto``, fixed by the caller otherwise.

A fixed mode (``full``, ``16``, ``none``) draws the same picture whatever ``TERM``,
``COLORTERM`` and ``NO_COLOR`` say: that is what lets the snapshot tests pass in any
terminal. ``auto`` follows the terminal, as an operator expects.
"""

from __future__ import annotations

import difflib

import pytest
from textual.filter import Monochrome
from textual.theme import BUILTIN_THEMES

from b2tui.screenshots import SceneRun, open_scene
from b2tui.ui.app import COLOUR_MODES, ControlRoom

TERMINALS: dict[str, dict[str, str]] = {
    "unset": {},
    "xterm": {"TERM": "xterm"},
    "xterm-256color": {"TERM": "xterm-256color"},
    "screen-256color": {"TERM": "screen-256color"},
    "dumb": {"TERM": "dumb"},
    "truecolor": {"TERM": "xterm-256color", "COLORTERM": "truecolor"},
    "NO_COLOR": {"TERM": "xterm-256color", "NO_COLOR": "1"},
}
"""Environments an operator's (or CI's) terminal may give the process."""

_READ = ("TERM", "COLORTERM", "NO_COLOR", "TEXTUAL_COLOR_SYSTEM", "TEXTUAL_FILTERS")


def _terminal(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in _READ:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


async def _shot(run: SceneRun, colours: str) -> str:
    app = run.make_app(colours=colours)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()  # the first pods poll
        # Settled as the snapshot plugin settles before its picture: messages handled,
        # animations done, the screen laid out again.
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        await pilot.pause()
        return app.export_screenshot(title="room")


@pytest.mark.parametrize("colours", COLOUR_MODES)
async def test_a_fixed_mode_draws_the_same_in_every_terminal(
    monkeypatch: pytest.MonkeyPatch, colours: str
) -> None:
    run = await open_scene("canary-holding-5")
    await run.conductor.stop()
    shots: dict[str, str] = {}
    for name, env in TERMINALS.items():
        _terminal(monkeypatch, env)
        shots[name] = await _shot(run, colours)
    differing = [name for name, svg in shots.items() if svg != shots["unset"]]
    diff = [
        "\n".join(difflib.unified_diff(shots["unset"].split(">"), shots[n].split(">"), n=0))[:3000]
        for n in differing[:1]
    ]
    assert differing == [], f"colours={colours} draws differently under {differing}: {diff}"


def _theme_of(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], run: SceneRun) -> ControlRoom:
    _terminal(monkeypatch, env)
    return run.make_app(colours="auto")


async def test_auto_follows_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    run = await open_scene("canary-holding-5")
    await run.conductor.stop()
    sixteen = _theme_of(monkeypatch, TERMINALS["xterm"], run)
    assert sixteen.theme == "ansi-dark"
    for name in ("xterm-256color", "screen-256color", "truecolor"):
        app = _theme_of(monkeypatch, TERMINALS[name], run)
        assert app.theme != "ansi-dark", name
        assert BUILTIN_THEMES[app.theme].ansi is False, name
    grey = _theme_of(monkeypatch, TERMINALS["NO_COLOR"], run)
    assert any(isinstance(f, Monochrome) for f in grey.get_line_filters())
    coloured = _theme_of(monkeypatch, TERMINALS["xterm-256color"], run)
    assert not any(isinstance(f, Monochrome) for f in coloured.get_line_filters())


async def test_an_unknown_mode_is_refused() -> None:
    run = await open_scene("canary-holding-5")
    await run.conductor.stop()
    with pytest.raises(ValueError, match="colours must be auto or one of full, 16, none"):
        run.make_app(colours="256")
