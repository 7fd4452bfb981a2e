"""Writes to the store that survive the store failing (disk full, read-only, locked).

The conductor writes every event, state change, audit entry and sign-off through a
:class:`Journal`. While the store takes writes they go straight through, in order. When
one fails, it and every later write are held in memory, in order (a newer state or
snapshot replaces an older one still held), and :meth:`Journal.flush` writes them all in
one transaction once the store takes writes again — so the file never holds half of
what happened, and nothing the driver decided meanwhile is lost.

The journal only holds and retries; the conductor decides what a failing store means for
the run (keep deciding from memory, hold promotion, alert).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from b2tui.ports import Store, StoreWriteFailed


@dataclass
class _Held:
    write: Callable[[], object]
    key: str | None = None


@dataclass
class Journal:
    """In-order writes to ``store``; held in memory while it fails.

    Args:
        store: where the writes go.
    """

    store: Store
    failing: str | None = None
    """The error of the last failed write while writes are held, else None."""
    since: float | None = None
    """``time.monotonic()`` of the first failure of the current outage."""
    attempts: int = 0
    """Failed flushes in the current outage (for the backoff)."""
    _held: list[_Held] = field(default_factory=list)

    @property
    def held(self) -> int:
        """How many writes wait in memory."""
        return len(self._held)

    def write(self, write: Callable[[], object], *, key: str | None = None) -> bool:
        """Write now, or hold it behind earlier held writes. True if it was written.

        ``key`` names a write whose newest value is all that matters (the run's state,
        a snapshot): a held one with the same key is replaced.
        """
        if self._held:
            if key is not None:
                self._held = [h for h in self._held if h.key != key]
            self._held.append(_Held(write, key))
            return False
        try:
            write()
        except StoreWriteFailed as e:
            self._held.append(_Held(write, key))
            self.failing = str(e)
            self.since = time.monotonic()
            self.attempts = 0
            return False
        return True

    def flush(self) -> bool:
        """Write everything held in one transaction. True when nothing is held any more."""
        if not self._held:
            return True
        held = list(self._held)
        try:
            with self.store.transaction():
                for h in held:
                    h.write()
        except StoreWriteFailed as e:
            self.failing = str(e)
            self.attempts += 1
            return False
        del self._held[: len(held)]
        if not self._held:
            self.failing, self.since, self.attempts = None, None, 0
        return not self._held

    def backoff(self) -> float:
        """Real seconds to wait before the next flush: 0.5 s doubling up to 5 s."""
        return min(5.0, 0.5 * 2 ** min(self.attempts, 4))
