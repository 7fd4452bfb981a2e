"""The thread that keeps a driver's lease alive, shared by every store.

A store subclasses :class:`LeaseKeeper` with one renewal (:meth:`LeaseKeeper._renew_once`)
and the errors that mean "the store is failing, try again". The loop is the same for all:
renew every ``ttl / 3`` seconds on its own thread (a busy event loop cannot starve it, the
interpreter switches threads every few milliseconds), retry a failing store every second
and report it in :attr:`failing`, and stop for good once another process holds the lease
(:attr:`lost`).
"""

from __future__ import annotations

import threading

from b2tui.ports import Lease


class LeaseKeeper(threading.Thread):
    """Renews one lease until stopped or lost. Subclasses implement the renewal."""

    errors: tuple[type[BaseException], ...] = ()
    """Exceptions of a failing store: retried, shown in :attr:`failing`."""

    def __init__(self, name: str, ttl: float) -> None:
        super().__init__(name=name, daemon=True)
        self._ttl = ttl
        self._stopped = threading.Event()
        self._lost: Lease | None = None
        self._failing: str | None = None
        self.renewals = 0
        """Successful renewals so far (for tests and diagnostics)."""

    @property
    def lost(self) -> Lease | None:
        """The lease of the process that took ours over, once that happened."""
        return self._lost

    @property
    def failing(self) -> str | None:
        """Why the last renewal failed, while the store fails; None when it works."""
        return self._failing

    def stop(self) -> None:
        self._stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)

    def _renew_once(self) -> Lease | None:
        """Renew the lease; return the other holder when it is no longer ours."""
        raise NotImplementedError

    def _describe(self, error: BaseException) -> str:
        """One line for :attr:`failing`."""
        return str(error)

    def _close(self) -> None:
        """Release what the renewals opened (called once, when the thread ends)."""

    def run(self) -> None:
        interval = self._ttl / 3
        try:
            while not self._stopped.wait(interval):
                try:
                    holder = self._renew_once()
                except self.errors as e:
                    self._failing = self._describe(e)
                    interval = min(1.0, self._ttl / 3)
                    continue
                self._failing = None
                interval = self._ttl / 3
                if holder is not None:
                    self._lost = holder
                    return
                self.renewals += 1
        finally:
            self._close()
