"""The errors every port raises: one readable line, never a secret.

A data source or target failing raises :class:`SourceError`, a step of the workflow
:class:`StepFailed`. Both mask their message when it is made, since it often quotes a
server's answer.
"""

from __future__ import annotations

from b2tui.masking import mask


class _MaskedError(Exception):
    """An error whose message is masked when it is made: it often quotes a server."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(mask(a) if isinstance(a, str) else a for a in args))


class SourceError(_MaskedError):
    """A data source or target failed; ``str()`` is one readable line."""


class StepFailed(_MaskedError):
    """A workflow step failed (build error, push denied, rollout failed)."""
