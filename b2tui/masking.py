"""One place that hides secrets in everything b2tui prints, stores or sends.

Every output path goes through :func:`mask` (text) or :func:`mask_data` (events, state
dicts, notification payloads): the engine's event fan-out (so the store, the TUI and the
headless printer see masked events), the state file, notification payloads and the
changelog, error texts built from what a server answered, the CLI's stderr lines and
every :mod:`logging` record (a log-record factory masks the message when it is made).

What is hidden:

- the *value* of every configured secret (``env:``/``file:``/inline), registered when
  settings are loaded (:func:`register_settings`) and whenever a :class:`Secret` is
  revealed, in every encoding it may travel in: as is, percent-encoded, JSON-escaped
  (the solidus escaped as ``\\/`` too), hex, base64 (also inside a longer base64 run,
  such as ``Basic base64(user:password)``);
- URL userinfo passwords and query values (``?token=abc`` → ``?token=***``);
- every ``Authorization``/``Proxy-Authorization``/``Cookie``/``Set-Cookie`` value and
  every ``Basic``/``Bearer`` credential, known or not, encoded or decoded.

Values shorter than :data:`MIN_SECRET` characters are not registered: they are flags,
not credentials, and masking ``1`` would garble every number in a message.

This module imports nothing from b2tui, so every layer may use it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

MASK = "***"
"""What a secret is replaced with."""

MIN_SECRET = 4
"""Shorter values are not treated as secrets (see the module docstring)."""

SECRET_NAME = re.compile(r"(?i)auth|token|key|secret|cookie|session|passw|credential")
"""Header, field and query names whose values are credentials."""

_URL = re.compile(r"""(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>`\\]+""")
_SCHEME_CRED = re.compile(r"""(?i)\b(basic|bearer)(\s+|%20|\+)([^\s"',;<>&)\]}\\]+)""")
_HEADER_CRED = re.compile(
    r"""(?i)\b((?:proxy-)?authorization|set-cookie|cookie|x-api-key|api-key|private-token)"""
    r"""(["']?\s*[:=]\s*["']?)([^"'\r\n]+)"""
)
_HEADER_WORDS = ("authorization", "cookie", "api-key", "private-token")
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")

T = TypeVar("T")


def _encodings(value: str) -> set[str]:
    """The forms ``value`` may travel in: percent-, JSON-, hex- and base64-encoded."""
    raw = value.encode()
    escaped = json.dumps(value)[1:-1]
    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        escaped,
        escaped.replace("/", "\\/"),  # encoders that escape the solidus (PHP, some Go)
        json.dumps(value, ensure_ascii=False)[1:-1],
        raw.hex(),
        raw.hex().upper(),
    }
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode()
        forms |= {encoded, encoded.rstrip("=")}
    forms |= {f.lower() for f in list(forms) if "%" in f}  # %2F and %2f
    return {f for f in forms if len(f) >= MIN_SECRET}


SEEN_ENTRIES = 4096
"""Masked texts remembered (then forgotten at once and remembered anew)."""
SEEN_LENGTH = 512
"""Longer texts (build output, request bodies) are masked each time, not remembered."""


class Masker:
    """A registry of secret values and the rules that hide them.

    Thread-safe: registration may happen in a worker thread (a ``file:`` secret read
    off the event loop) while the loop masks an event.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._forms: dict[str, str] = {}
        self._ordered: list[tuple[str, str]] = []
        self._pattern: re.Pattern[str] | None = None
        self._seen: dict[str, str] = {}
        """Texts masked since the registry last changed, and what they became: an idle
        room masks the same gate reasons and log prefixes with every sample."""

    def add(self, value: str | None, *, shown_as: str = MASK) -> None:
        """Hide ``value`` (and its encodings) from now on; short or empty values are ignored.

        Args:
            value: The secret.
            shown_as: What it reads as instead, e.g. its ``env:NAME`` source.
        """
        if not value or len(value) < MIN_SECRET or value == shown_as:
            return
        with self._lock:
            if value in self._values and self._forms.get(value) == shown_as:
                return
            self._values.add(value)
            for form in _encodings(value):
                # A plain *** beats a friendlier name registered for the same form.
                if self._forms.get(form) != MASK:
                    self._forms[form] = shown_as
            self._ordered = sorted(self._forms.items(), key=lambda kv: len(kv[0]), reverse=True)
            self._pattern = re.compile("|".join(re.escape(f) for f, _ in self._ordered))
            self._seen = {}

    def add_basic(self, user: str, password: str) -> None:
        """Hide HTTP basic credentials: the password, and ``base64(user:password)``."""
        self.add(password)
        if password:
            self.add(f"{user}:{password}")

    def add_url(self, url: str) -> None:
        """Hide what :func:`mask_url` hides in ``url`` wherever it appears on its own."""
        try:
            parts = urllib.parse.urlsplit(url)
            password = parts.password
        except ValueError:
            return
        if password:
            self.add_basic(urllib.parse.unquote(parts.username or ""), password)
            self.add_basic(parts.username or "", password)
            self.add(urllib.parse.unquote(password))
        for pair in parts.query.split("&"):
            name, eq, raw = pair.partition("=")
            # In a URL every query value is masked; on its own in free text only one
            # that is named like a credential or long enough to be one ("json" is not).
            if eq and (SECRET_NAME.search(name) or len(raw) >= 8):
                self.add(raw)
                self.add(urllib.parse.unquote_plus(raw))

    def clear(self) -> None:
        """Forget every registered value (tests)."""
        with self._lock:
            self._values.clear()
            self._forms.clear()
            self._ordered = []
            self._pattern = None
            self._seen = {}

    def __contains__(self, value: str) -> bool:
        return value in self._values

    def text(self, text: str) -> str:
        """``text`` with every secret hidden (see the module docstring)."""
        if not text:
            return text
        # A registration replaces the dict: a result computed with the rules of before
        # is stored in the old one, which nothing reads any more.
        seen = self._seen
        done = seen.get(text)
        if done is None:
            done = self._masked(text)
            if len(text) <= SEEN_LENGTH:
                if len(seen) >= SEEN_ENTRIES:
                    seen.clear()
                seen[text] = done
        return done

    def _masked(self, text: str) -> str:
        if "://" in text:
            text = _URL.sub(lambda m: _mask_url_in_text(m.group(0)), text)
        lower = text.lower()  # cheap keyword checks spare the regexes most texts
        if any(w in lower for w in _HEADER_WORDS):
            text = _HEADER_CRED.sub(_keep_prefix(3), text)
        if "basic" in lower or "bearer" in lower:
            text = _SCHEME_CRED.sub(_scheme_masked, text)
        pattern, forms = self._pattern, self._forms
        if pattern is not None:
            # Base64 runs first: a secret inside one (Basic user:password) hides it whole.
            text = _B64_RUN.sub(self._b64_run, text)
            text = pattern.sub(lambda m: forms.get(m.group(0), MASK), text)
        return text

    def _b64_run(self, m: re.Match[str]) -> str:
        """A base64 run hiding a secret (at any alignment) becomes ``***``."""
        run = m.group(0)
        values = self._values
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            for cut in range(4):  # the run may start anywhere in the encoded stream
                chunk = run[cut:].rstrip("=")
                rest = len(chunk) % 4  # restore the padding, or drop a dangling char
                chunk = chunk[:-1] if rest == 1 else chunk + "=" * ((4 - rest) % 4)
                if len(chunk) < 4:
                    continue
                try:
                    decoded = decode(chunk).decode("utf-8", errors="ignore")
                except (binascii.Error, ValueError):
                    continue
                if any(v in decoded for v in values):
                    return MASK
        return run

    def data(self, obj: T) -> T:
        """``obj`` with every string in it masked: dicts, lists, tuples, dataclasses.

        The value of a credential-named key (``Authorization``, ``Cookie``, ``password``,
        ``token``…) is masked whole.
        """
        if isinstance(obj, dict | list) and obj:
            try:
                if self._clean_json(json.dumps(obj, ensure_ascii=False)):
                    return obj
            except (TypeError, ValueError):
                pass
        result: T = _walk(obj, self.text)
        return result

    def json(self, obj: Any) -> str:
        """``json.dumps(obj)`` of the masked ``obj``, dumping only once when nothing changes."""
        text = json.dumps(obj, ensure_ascii=False)
        if self._clean_json(text):
            return text
        return json.dumps(_walk(obj, self.text), ensure_ascii=False)

    def _clean_json(self, text: str) -> bool:
        """Would masking leave the value whose JSON is ``text`` unchanged?

        One pass over the JSON finds anything a walk would change: JSON escaping keeps
        every rule's match, and every registered value has a JSON-escaped form.
        """
        if self.text(text) != text:
            return False
        lower = text.lower()
        keys = ("auth", "cookie", "passw", "token", "secret", "key")
        return not (any(k in lower for k in keys) and _CREDENTIAL_KEY_IN_JSON.search(text))


_CREDENTIAL_KEYS = (
    r"(?:(?:proxy-)?authorization|(?:set-)?cookie|password|passwd|token|secret"
    r"|(?:x-)?api[-_]?key|private-token|bearer_token|access_token|refresh_token)"
)
_CREDENTIAL_KEY = re.compile(rf"(?i)^{_CREDENTIAL_KEYS}$")
_CREDENTIAL_KEY_IN_JSON = re.compile(rf'(?i)"{_CREDENTIAL_KEYS}": "(?!")')


def _walk(obj: Any, fn: Any) -> Any:
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, Mapping):
        return {
            k: MASK
            if isinstance(v, str) and v and isinstance(k, str) and _CREDENTIAL_KEY.match(k)
            else _walk(v, fn)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_walk(v, fn) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(_walk(v, fn) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {}
        for f in dataclasses.fields(obj):
            if not f.init:
                continue
            value = getattr(obj, f.name)
            masked = _walk(value, fn)
            if masked is not value and masked != value:
                changes[f.name] = masked
        return dataclasses.replace(obj, **changes) if changes else obj
    return obj


def _keep_prefix(group: int) -> Any:
    def sub(m: re.Match[str]) -> str:
        whole, value = m.group(0), m.group(group)
        if value.strip() in ("", MASK) or value.startswith(MASK):
            return whole
        return whole[: m.start(group) - m.start(0)] + MASK

    return sub


def _scheme_masked(m: re.Match[str]) -> str:
    scheme, space, value = m.group(1), m.group(2), m.group(3)
    # "basic" and "bearer" are words in prose too ("a bearer token"): hide only what
    # looks like a credential, which is what follows them in a header.
    if value.startswith(MASK) or not _looks_secret(value):
        return m.group(0)
    return f"{scheme}{space}{MASK}"


def _looks_secret(value: str) -> bool:
    """Credential-shaped: long, base64-padded, or mixing letters with digits or symbols."""
    if len(value) >= 12 or value.endswith("="):
        return True
    return len(value) >= MIN_SECRET and not value.isalpha()


def _mask_url_in_text(url: str) -> str:
    trail = ""
    while url and url[-1] in ".,;:)]}!?":  # sentence punctuation after a URL
        trail = url[-1] + trail
        url = url[:-1]
    return mask_url(url) + trail


def mask_url(url: str) -> str:
    """The URL fit for display: query values and any password replaced by ``***``.

    ``https://u:pw@host/healthz?token=abc&x=1`` → ``https://u:***@host/healthz?token=***&x=***``.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return MASK
    if password is None and "@" not in parts.netloc and not parts.query and not parts.fragment:
        # Nothing to hide: keep the text exactly (urlunsplit would turn unix:///x into unix:/x).
        return url
    netloc = parts.netloc
    if password is not None or "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}" if ":" in userinfo else f"{MASK}@{hostport}"
    query = "&".join(
        f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else MASK
        for pair in parts.query.split("&")
        if pair
    )
    fragment = MASK if parts.fragment else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


MASKER = Masker()
"""The process's registry: settings register into it, every output path reads it."""


def mask(text: str) -> str:
    """``text`` with every secret hidden (the one function output paths call)."""
    return MASKER.text(text)


def mask_data(obj: T) -> T:
    """``obj`` (event, dict, list, dataclass) with every string in it masked."""
    return MASKER.data(obj)


def mask_json(obj: Any) -> str:
    """The JSON text of ``obj`` masked (for what is written: state file, payloads)."""
    return MASKER.json(obj)


def register(*values: str | None, shown_as: str = MASK) -> None:
    """Hide each value from now on (see :meth:`Masker.add`)."""
    for v in values:
        MASKER.add(v, shown_as=shown_as)


def register_url(url: str) -> None:
    """Hide the userinfo password and query values of ``url`` wherever they appear."""
    MASKER.add_url(url)


def register_basic(user: str, password: str) -> None:
    """Hide HTTP basic credentials, decoded and base64-encoded."""
    MASKER.add_basic(user, password)


def register_secret(value: str) -> None:
    """Hide a configured secret's value; a URL (a webhook) also by its parts."""
    register(value)
    if "://" in value:
        register_url(value)
        _register_webhook(value)


def register_settings(settings: Any) -> None:
    """Register every secret a settings tree holds.

    Walks dataclasses, mappings and sequences: each object with a ``reveal()`` (a
    ``Secret``) is revealed (an unavailable one is skipped: it cannot leak what cannot
    be read); every string that is a URL gives its password and query values; every
    ``headers`` mapping gives the values of credential-named headers. Generic on purpose:
    a secret added to the settings later is covered without touching this module.
    """
    seen: set[int] = set()

    def walk(obj: Any) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        reveal = getattr(obj, "reveal", None)
        if callable(reveal) and not isinstance(obj, type):
            try:
                value = reveal()
            except (ValueError, OSError):
                return
            if isinstance(value, str):
                register_secret(value)
            return
        if isinstance(obj, str):
            if "://" in obj:
                register_url(obj)
            return
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                if isinstance(v, str) and SECRET_NAME.search(str(k)):
                    _register_header(v)
                walk(v)
            return
        if isinstance(obj, list | tuple | set | frozenset):
            for v in obj:
                walk(v)
            return
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            for f in dataclasses.fields(obj):
                walk(getattr(obj, f.name))

    walk(settings)
    prometheus = getattr(settings, "prometheus", None)
    user, password = getattr(prometheus, "username", None), getattr(prometheus, "password", None)
    if password is not None:
        with contextlib.suppress(ValueError, OSError):
            register_basic(user or "", password.reveal())


def _register_header(value: str) -> None:
    """A credential header's value, its ``Bearer``/``Basic`` credential, decoded too."""
    register(value)
    scheme, _, credential = value.partition(" ")
    credential = credential.strip()
    if not credential:
        return
    register(credential)
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credential, validate=True).decode()
        except (binascii.Error, ValueError):
            return
        user, _, password = decoded.partition(":")
        register_basic(user, password)


def _register_webhook(url: str) -> None:
    """For a webhook (a Slack one above all) the path *is* the credential."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return
    path = parts.path.rstrip("/")
    if len(path) > 1:
        register(path)
    last = path.rsplit("/", 1)[-1]
    if len(last) >= 8:
        register(last)


class _MaskingRecordFactory:
    """Wraps the log-record factory so every record's message is masked when made."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.inner(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return record
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            # The traceback text is formatted later from the exception: mask it now.
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return record


def install_log_masking() -> None:
    """Mask every :mod:`logging` record from now on (idempotent)."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, _MaskingRecordFactory):
        logging.setLogRecordFactory(_MaskingRecordFactory(current))


def secrets_in(text: str, values: Iterable[str]) -> list[str]:
    """Which of ``values`` occur in ``text`` in any encoding (for tests and self-checks)."""
    found = []
    for v in values:
        if any(form in text for form in _encodings(v)):
            found.append(v)
    return found


install_log_masking()
