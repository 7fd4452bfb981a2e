"""The HTTP adapters' side of :mod:`b2tui.masking`: what of a URL or header is secret.

Secrets (webhook URLs, tokens, query strings) never leave the ``http`` adapters: every
detail goes through :func:`mask_secret_text` (which registers the values it is given
with :mod:`b2tui.masking` and masks with it), URLs are shown through :func:`mask_url` or
as their ``env:NAME``/``file:PATH`` source, and httpx's request log lines are masked by
:mod:`b2tui.masking`'s log-record factory (httpx logs each request URL at INFO level).
"""

from __future__ import annotations

import re
import urllib.parse

from b2tui.masking import MASK, Masker, mask, mask_url, register

__all__ = [
    "LOGGER",
    "MASK",
    "SECRET_HEADER",
    "mask_secret_text",
    "mask_url",
    "redact_in_logs",
    "url_secrets",
    "webhook_secrets",
]

LOGGER = "b2tui.adapters.http"
"""The logger of these adapters."""

SECRET_HEADER = re.compile(r"(?i)auth|token|key|secret|cookie|session|password")
"""Header names whose values are credentials."""


def mask_secret_text(text: str, secrets: list[str]) -> str:
    """``text`` with each of ``secrets``, and everything :func:`b2tui.masking.mask` hides.

    Every encoding of each value is hidden (percent, JSON, base64), as for registered
    secrets; these values are not registered for the whole process (a smoke URL's query
    values mean nothing outside its own messages).

    Args:
        text: An error message, a response body, a log line.
        secrets: Values that must not appear; empty and very short ones are ignored.
    """
    local = Masker()
    for secret in secrets:
        local.add(secret)
    return local.text(mask(text))


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that :func:`mask_url` hides, for scrubbing free text.

    Values shorter than four characters are left out: they are flags, not tokens, and
    scrubbing ``1`` from a message would garble every number in it.
    """
    if mask_url(url) == url:
        return []
    parts = urllib.parse.urlsplit(url)
    values = [v for _, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
    raw = [p.split("=", 1)[1] for p in parts.query.split("&") if "=" in p]
    return [url] + [v for v in (*values, *raw, parts.password or "") if len(v) >= 4]


def webhook_secrets(url: str) -> list[str]:
    """A webhook URL and the parts of it a server may echo back (path, last segment).

    For a Slack incoming webhook the path *is* the credential.
    """
    parts = urllib.parse.urlsplit(url)
    last = parts.path.rstrip("/").rsplit("/", 1)[-1]
    found = [url, parts.path + ("?" + parts.query if parts.query else ""), parts.query]
    if len(parts.path) > 1:
        found.append(parts.path)
    if len(last) >= 8:
        found.append(last)
    return found + url_secrets(url)


def redact_in_logs(secret: str, shown_as: str = MASK) -> None:
    """Make every log line (httpx's request lines included) show ``secret`` as ``shown_as``."""
    register(secret, shown_as=shown_as)
