"""Start-up without the cyclic garbage collector (b2tui/startup.py)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from b2tui import startup


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    startup.release_collector()
    if was:
        gc.enable()
    else:
        gc.disable()


def test_held_until_released() -> None:
    gc.enable()
    startup.hold_collector(grace=3600)
    assert not gc.isenabled()
    startup.release_collector()
    assert gc.isenabled()


def test_a_collector_someone_else_turned_off_stays_off() -> None:
    gc.disable()
    startup.hold_collector(grace=3600)
    startup.release_collector()
    assert not gc.isenabled()


def test_released_by_the_grace_timer_when_nobody_releases_it() -> None:
    gc.enable()
    before = set(threading.enumerate())
    startup.hold_collector(grace=0.01)
    assert not gc.isenabled()
    (timer,) = set(threading.enumerate()) - before
    timer.join(timeout=10)
    assert gc.isenabled()
