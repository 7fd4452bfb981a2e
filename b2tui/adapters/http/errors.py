"""What the HTTP adapters report: one line per failure, one result per channel."""

from __future__ import annotations

import httpx

Channel = tuple[str, bool, str]
"""One notification channel's result: (channel, ok, detail)."""


def one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def connect_problem(exc: httpx.HTTPError, url: httpx.URL) -> str:
    """``connection refused to host:port`` and friends, from a transport error."""
    where = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
            return f"connection refused to {where}"
        cause = cause.__cause__ or cause.__context__
    reason = one_line(str(exc)) or type(exc).__name__
    return f"cannot connect to {where}: {reason}"
