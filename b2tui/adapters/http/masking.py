"""Masking for the HTTP adapters: URLs, free text and httpx's own log lines.

Secrets (webhook URLs, tokens, query strings) never leave the ``http`` adapters: every
detail is scrubbed with :func:`mask_secret_text`, URLs are shown through
:func:`mask_url` or as their ``env:NAME``/``file:PATH`` source, and httpx's request log
lines are redacted by a logging filter (httpx logs each request URL at INFO level).
"""

from __future__ import annotations

import logging
import re
import urllib.parse

MASK = "***"
"""What a secret value is replaced with."""

LOGGER = "b2tui.adapters.http"
"""The logger of these adapters; its records are redacted like httpx's."""

SECRET_HEADER = re.compile(r"(?i)auth|token|key|secret|cookie|session|password")
"""Header names whose values are credentials."""


def mask_secret_text(text: str, secrets: list[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``.

    Longer secrets are replaced first, so a URL is masked whole before a token inside
    it; the percent-encoded form of each secret is masked too (it shows up in URLs).

    Args:
        text: An error message, a response body, a log line.
        secrets: Values that must not appear; empty strings are ignored.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
        quoted = urllib.parse.quote(secret, safe="")
        if quoted != secret:
            text = text.replace(quoted, MASK)
    return text


def mask_url(url: str) -> str:
    """The URL fit for display: query values and any password replaced by ``***``.

    ``https://u:pw@host/healthz?token=abc&x=1`` → ``https://u:***@host/healthz?token=***&x=***``.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}"
    query = "&".join(
        f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else MASK
        for pair in parts.query.split("&")
        if pair
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


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


class _LogRedactor(logging.Filter):
    """Rewrites httpx log records so registered secrets never reach a handler.

    httpx logs ``HTTP Request: POST <full URL> ...`` at INFO; for a Slack webhook the
    URL *is* the secret. Filters on a logger run before its records propagate, so one
    filter on the ``httpx`` logger covers every handler (files, caplog, the TUI log).
    """

    def __init__(self) -> None:
        super().__init__()
        self.shown_as: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.shown_as:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        redacted = message
        for secret in sorted(self.shown_as, key=len, reverse=True):
            redacted = redacted.replace(secret, self.shown_as[secret])
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTOR = _LogRedactor()


def redact_in_logs(secret: str, shown_as: str = MASK) -> None:
    """Make httpx (and this module's logger) show ``secret`` as ``shown_as``."""
    if not secret or secret == shown_as:
        return
    _REDACTOR.shown_as[secret] = shown_as
    for name in ("httpx", LOGGER):
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)
