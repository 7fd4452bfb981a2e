"""Fixtures for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from b2tui.masking import MASKER


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Each test starts with no registered secret: one test's token must not mask another's text."""
    yield
    MASKER.clear()
