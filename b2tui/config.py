"""``b2tui.toml`` → typed settings.

Every error names the file, the line and the key, and says how to fix it; the CLI
prints each as ``file:line: message`` and exits 2.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from b2tui.domain.canary import DEFAULT_STEPS, CanaryStep
from b2tui.domain.durations import parse_duration
from b2tui.domain.phases import Strategy, Traffic
from b2tui.masking import register_secret


class ConfigError(Exception):
    """One or more problems in a configuration file."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Secret:
    """A secret reference: ``env:NAME``, ``file:PATH`` or (discouraged) a literal.

    ``repr`` and ``str`` never show the value; call :meth:`reveal` where it is used.
    """

    ref: str
    where: str = field(default="", compare=False)
    """``file:line: table.key`` it was configured at (for check-config's messages)."""

    def reveal(self) -> str:
        """The secret's value. Raises ValueError naming the reference when unavailable.

        The value is registered with :mod:`b2tui.masking` first, so whatever it reaches
        (a header a server echoes, an error, a log line) shows ``***`` instead.
        """
        value = self._read()
        register_secret(value)
        return value

    def _read(self) -> str:
        if self.ref.startswith("env:"):
            name = self.ref[4:]
            value = os.environ.get(name)
            if value is None:
                raise ValueError(f"environment variable {name} is not set")
            return value
        if self.ref.startswith("file:"):
            path = Path(self.ref[5:]).expanduser()
            try:
                return path.read_text().strip()
            except OSError as e:
                raise ValueError(f"cannot read secret file {path}: {e.strerror}") from None
        return self.ref

    @property
    def source(self) -> str:
        """Where the secret comes from, safe to display (``env:NAME``, ``file:PATH``)."""
        if self.ref.startswith(("env:", "file:")):
            return self.ref
        return "inline value"

    def __repr__(self) -> str:
        return f"Secret({self.source})"

    __str__ = __repr__


@dataclass(frozen=True)
class ServiceSettings:
    name: str = "b2connect"
    image: str = "registry.example.com/b2connect"
    """Repository; tags become ``<env>-<shortsha>``."""
    repo: str = "."
    """Git checkout the commands run in."""
    prebuilt: bool = False
    """CI builds and pushes the images: a run skips build and push and checks that the
    registry has ``<image>:<env>-<shortsha>`` (or ``run --image REF``) instead."""


@dataclass(frozen=True)
class CommandSettings:
    pull: str = "git pull origin main"
    test: str = "dotnet test B2Connect.slnx -v minimal"
    build: str = "dotnet build B2Connect.slnx"
    smoke: str = "npm run test:e2e -- --smoke"
    timeout: float = 1200.0
    """Seconds each command may run."""


@dataclass(frozen=True)
class DockerSettings:
    context: str = "."
    dockerfile: str = "Dockerfile"
    host: str | None = None
    """Docker daemon URL; None uses DOCKER_HOST or the default socket."""


@dataclass(frozen=True)
class QuerySettings:
    """An optional extra gate: a PromQL query and its maximum."""

    name: str
    query: str
    max: float
    unit: str = ""


@dataclass(frozen=True)
class PrometheusSettings:
    url: str = "http://127.0.0.1:9090"
    bearer_token: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    ca_file: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    # --- by name: b2tui writes the PromQL (see adapters.prometheus.gate_queries) ---
    requests: str = "http_requests_total"
    """Request counter (a Prometheus counter, usually ending in ``_total``)."""
    status_label: str = "status"
    """Label of ``requests`` holding the HTTP status code (``code`` in many libraries)."""
    error_status: str = "5.."
    """Regular expression (RE2) of the status values counted as errors."""
    latency: str = "http_request_duration_seconds"
    """Latency histogram in seconds (its base name; ``_bucket`` is appended)."""
    job: str | None = None
    """Scrape job of the service: the target check becomes ``up{job="…"}``."""
    scrape_interval: float = 15.0
    """How often Prometheus scrapes the service; rate windows are at least 4 of these."""
    rate_window: float | None = None
    """Window of ``rate()``; None: max(4 × scrape_interval, poll), in whole seconds."""
    # --- raw PromQL per gate: overrides the generated query ---
    error_rate: str | None = None
    p95_seconds: str | None = None
    request_rate: str | None = None
    up: str | None = None
    """Target health query; by default ``up{job="…"}`` (with ``job``) or ``up{$selector}``.
    Judged on the series it matches: 0 makes the sample unknown ("target down"); matching
    nothing is a notice, not a verdict."""
    extra: tuple[QuerySettings, ...] = ()
    """Optional gates (DB connections, memory, CPU)."""


@dataclass(frozen=True)
class GateSettings:
    error_rate_max: float = 0.001
    p95_max_ms: float = 200.0
    min_request_rate: float = 1.0
    consecutive_failures: int = 3
    poll: float = 5.0
    no_data_timeout: float = 600.0
    unknown_pause_after: int = 3
    """Consecutive unknown samples that pause promotion and alert."""
    auto_rollback: bool = True
    # --- canary against baseline (stable over the same window) ---
    rule: str = "absolute"
    """Default rule of the canary's gates: ``absolute`` | ``relative``."""
    error_rate_rule: str | None = None
    """``absolute`` | ``relative``; None: ``rule``."""
    p95_rule: str | None = None
    """``absolute`` | ``relative`` | ``mann-whitney``; None: ``rule``."""
    error_rate_factor: float = 1.5
    error_rate_margin: float = 0.0005
    error_rate_ceiling: float = 0.01
    p95_factor: float = 1.2
    p95_margin_ms: float = 20.0
    p95_ceiling_ms: float = 500.0
    min_requests: int = 50
    """Requests each track needs in the window before canary and stable are compared."""
    mw_confidence: float = 0.98
    mw_tolerance: float = 0.25
    mw_effect_min: float = 1.1
    mw_min_shift_ms: float = 10.0
    mw_min_samples: int = 10


@dataclass(frozen=True)
class HttpCheck:
    url: str
    method: str = "GET"
    expect_status: int = 200
    body_contains: str | None = None
    timeout: float = 5.0
    retries: int = 2
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SmokeSettings:
    http: tuple[HttpCheck, ...] = ()
    manual: tuple[str, ...] = (
        "Can users login?",
        "Can create product?",
        "Can checkout?",
        "Can view admin dashboard?",
        "Error handling working?",
    )
    log_patterns: tuple[str, ...] = (
        "(?i)exception",
        "(?i)database .* (error|timeout)",
        "(?i)security",
    )
    stable_for: float = 300.0
    """Seconds staging must stay green before production may start."""


@dataclass(frozen=True)
class EnvironmentSettings:
    name: str
    context: str | None = None
    namespace: str = "default"
    deployment: str = "app"
    service: str = "app"
    manifests: tuple[str, ...] = ()
    selector: str = ""
    """PromQL label matchers substituted for ``$selector``."""
    track_label: str = "track"
    strategy: Strategy = Strategy.CANARY
    traffic: Traffic = Traffic.REPLICAS
    canary_steps: tuple[CanaryStep, ...] = DEFAULT_STEPS
    monitoring_window: float = 1800.0
    rollout_timeout: float = 600.0
    colour_label: str = "color"
    ingress: str | None = None
    """Stable Ingress name (traffic = nginx)."""
    route: str | None = None
    """HTTPRoute name (traffic = gateway)."""
    replicas: int | None = None
    """Replica count for the canary math; None reads it from the stable Deployment."""


@dataclass(frozen=True)
class NotifySettings:
    deployments_webhook: Secret | None = None
    incident_webhook: Secret | None = None
    webhook: Secret | None = None
    """A generic JSON webhook receiving every notification."""
    changelog: str | None = "CHANGELOG.md"
    github_token: Secret | None = None
    github_repo: str | None = None
    """``owner/name`` whose issues ``Fixes #N`` closes."""
    github_api: str = "https://api.github.com"


@dataclass(frozen=True)
class ReadinessSettings:
    pii: bool = False
    migrations: bool = False
    emergency_hold_factor: float = 0.2
    """Holds are multiplied by this on the emergency path."""


@dataclass(frozen=True)
class StoreSettings:
    backend: str = "sqlite"
    """``sqlite`` (embedded default, one host) or ``kube`` (Lease + ConfigMaps)."""
    namespace: str | None = None
    """kube: namespace of the run's objects; default: the production environment's."""
    context: str | None = None
    """kube: kubeconfig context; default: the production environment's."""


@dataclass(frozen=True)
class Settings:
    service: ServiceSettings = field(default_factory=ServiceSettings)
    commands: CommandSettings = field(default_factory=CommandSettings)
    docker: DockerSettings = field(default_factory=DockerSettings)
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    gates: GateSettings = field(default_factory=GateSettings)
    smoke: SmokeSettings = field(default_factory=SmokeSettings)
    readiness: ReadinessSettings = field(default_factory=ReadinessSettings)
    environments: dict[str, EnvironmentSettings] = field(default_factory=dict)
    notify: NotifySettings = field(default_factory=NotifySettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    path: str | None = None
    """File the settings came from (None for built-in defaults)."""

    def environment(self, name: str) -> EnvironmentSettings:
        try:
            return self.environments[name]
        except KeyError:
            where = self.path or "configuration"
            known = ", ".join(sorted(self.environments)) or "none"
            raise ConfigError(
                [
                    f"{where}: environment {name!r} is not defined (defined: {known});"
                    f" add an [environments.{name}] table"
                ]
            ) from None


# --- parsing -----------------------------------------------------------------------------

_Conv = Callable[[Any], Any]


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError("expected a string")
    return v


def _opt_str(v: Any) -> str | None:
    return _str(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError("expected true or false")
    return v


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError("expected a number")
    if not math.isfinite(v):
        raise ValueError(f"must be a finite number, not {v}")
    return float(v)


def _nonneg(v: Any) -> float:
    x = _number(v)
    if x < 0:
        raise ValueError("must not be negative")
    return x


def _positive(v: Any) -> float:
    x = _number(v)
    if x <= 0:
        raise ValueError("must be greater than 0")
    return x


def _ratio(v: Any) -> float:
    x = _number(v)
    if not 0 <= x <= 1:
        raise ValueError(f"is a ratio from 0 to 1 (0.001 = 0.1 %), not {v:g}")
    return x


def _open_unit(v: Any) -> float:
    x = _number(v)
    if not 0 < x < 1:
        raise ValueError(f"must be between 0 and 1 (exclusive), not {v:g}")
    return x


def _at_least_one(v: Any) -> float:
    x = _number(v)
    if x < 1:
        raise ValueError(f"must be at least 1 (a multiplier of stable's value), not {v:g}")
    return x


def _hold_factor(v: Any) -> float:
    x = _number(v)
    if not 0 < x <= 1:
        raise ValueError(f"must be greater than 0 and at most 1, not {v:g}")
    return x


def _url(v: Any) -> str:
    text = _str(v)
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f'{text!r} is not an http(s) URL; write e.g. "http://127.0.0.1:9090"')
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"{text!r} has a bad port") from None
    return text


_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def _metric(v: Any) -> str:
    text = _str(v).strip()
    if not _METRIC_NAME.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a Prometheus metric name (letters, digits, _ and :),"
            ' e.g. "http_requests_total"'
        )
    return text


def _label(v: Any) -> str:
    text = _str(v).strip()
    if not _LABEL_NAME.fullmatch(text):
        raise ValueError(f"{text!r} is not a Prometheus label name (letters, digits and _)")
    return text


def _regex(v: Any) -> str:
    text = _str(v)
    try:
        re.compile(text)
    except re.error as e:
        raise ValueError(f"bad regular expression {text!r}: {e}") from None
    return text


def _selector(v: Any) -> str:
    """Label matchers such as ``namespace="shop",app="web"`` (braces optional)."""
    text = _str(v)
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    body = body.strip().strip(",").strip()
    pos = 0
    while pos < len(body):
        m = _MATCHER.match(body, pos)
        if m is None:
            raise ValueError(
                f"{text!r} is not a list of label matchers; write e.g."
                ' \'namespace="shop",app="web"\' (at: {body[pos:pos + 20]!r})'
            )
        if m.group(2) in ("=~", "!~"):
            try:
                re.compile(m.group(3).encode().decode("unicode_escape"))
            except re.error as e:
                raise ValueError(f"bad regular expression in {m.group(0).strip()}: {e}") from None
        pos = m.end()
    return text


PLACEHOLDERS = ("selector",)
"""``$name``s a PromQL query may contain."""

_CLOSERS = {")": "(", "]": "[", "}": "{"}


def promql_problem(query: str, *, need_selector: bool) -> str | None:
    """What is wrong with a PromQL template, as far as b2tui can tell without Prometheus:
    unbalanced brackets (outside string literals), unknown ``$name``s, a missing
    ``$selector``. None when it looks right."""
    if not query.strip():
        return "is empty"
    stack: list[tuple[str, int]] = []
    names: list[str] = []
    i = 0
    while i < len(query):
        c = query[i]
        if c in "\"'`":
            end = i + 1
            while end < len(query) and query[end] != c:
                end += 2 if query[end] == "\\" and c != "`" else 1
            if end >= len(query):
                return f"has an unterminated string starting at column {i + 1}"
            i = end + 1
            continue
        if c in "([{":
            stack.append((c, i))
        elif c in ")]}":
            if not stack or stack[-1][0] != _CLOSERS[c]:
                return f"has an unbalanced {c!r} at column {i + 1}"
            stack.pop()
        elif c == "$":
            m = re.match(r"\$(\w*)", query[i:])
            names.append(m.group(1) if m else "")
        i += 1
    if stack:
        c, at = stack[-1]
        return f"has an unclosed {c!r} at column {at + 1}"
    for m in re.finditer(r'(=~|!~)\s*"((?:[^"\\]|\\.)*)"', query):
        try:
            re.compile(m.group(2).encode().decode("unicode_escape"))
        except re.error as e:
            return f"has a bad regular expression {m.group(2)!r}: {e}"
    unknown = [n for n in names if n not in PLACEHOLDERS]
    if unknown:
        return f"uses ${unknown[0]}, which b2tui does not know (the only placeholder is $selector)"
    if need_selector and "selector" not in names:
        return (
            "has no $selector, so it would judge every service and track alike;"
            " put $selector in each metric's braces, e.g. x{$selector}"
        )
    return None


def _promql(v: Any) -> str:
    text = _str(v)
    why = promql_problem(text, need_selector=True)
    if why:
        raise ValueError(f"PromQL {why}")
    return text


def _promql_up(v: Any) -> str:
    text = _str(v)
    why = promql_problem(text, need_selector=False)
    if why:
        raise ValueError(f"PromQL {why}")
    return text


def _rule(*allowed: str) -> _Conv:
    def conv(v: Any) -> str:
        text = _str(v)
        if text not in allowed:
            raise ValueError(f"expected one of {' | '.join(allowed)}")
        return text

    return conv


def _posint(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("expected an integer")
    if v < 1:
        raise ValueError("must be at least 1")
    return v


def _duration(v: Any) -> float:
    if isinstance(v, bool):
        raise TypeError('expected a duration string such as "30s" or "5m"')
    if isinstance(v, int | float):
        if not math.isfinite(v):
            raise ValueError(f'must be a finite duration such as "30s", not {v}')
        if v < 0:
            raise ValueError("must not be negative")
        return float(v)
    if not isinstance(v, str):
        raise TypeError('expected a duration string such as "30s" or "5m"')
    return parse_duration(v)


def _pos_duration(v: Any) -> float:
    seconds = _duration(v)
    if seconds <= 0:
        raise ValueError(f'must be longer than 0 (got {v!r}); write e.g. "30s"')
    return seconds


def _secret(v: Any) -> Secret:
    return Secret(_str(v))


def _str_list(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise TypeError("expected a list of strings")
    return tuple(v)


def _regex_list(v: Any) -> tuple[str, ...]:
    out = _str_list(v)
    for p in out:
        try:
            re.compile(p)
        except re.error as e:
            raise ValueError(f"bad regular expression {p!r}: {e}") from None
    return out


def _str_map(v: Any) -> dict[str, str]:
    if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
        raise TypeError("expected a table of strings")
    return dict(v)


def _choice(v: Any, allowed: tuple[str, ...]) -> str:
    if v not in allowed:
        raise ValueError(f"expected one of {' | '.join(allowed)}")
    return str(v)


def _enum(cls: Any) -> _Conv:
    def conv(v: Any) -> Any:
        try:
            return cls(v)
        except ValueError:
            allowed = " | ".join(m.value for m in cls)
            raise ValueError(f"expected one of {allowed}") from None

    return conv


def _steps(v: Any) -> tuple[CanaryStep, ...]:
    if not isinstance(v, list) or not v:
        raise TypeError('expected a list such as [{ weight = 5, hold = "5m" }, { weight = 100 }]')
    steps = []
    last = 0
    for s in v:
        if not isinstance(s, dict) or "weight" not in s:
            raise TypeError('each step needs a weight, e.g. { weight = 5, hold = "5m" }')
        unknown = set(s) - {"weight", "hold"}
        if unknown:
            raise ValueError(f"unknown step key {sorted(unknown)[0]!r} (allowed: weight, hold)")
        w = s["weight"]
        if isinstance(w, bool) or not isinstance(w, int) or not 0 < w <= 100:
            raise ValueError("weight must be an integer from 1 to 100")
        if w <= last:
            raise ValueError("weights must increase from step to step")
        last = w
        steps.append(CanaryStep(w, _duration(s.get("hold", 0))))
    if steps[-1].weight != 100:
        raise ValueError("the last step must have weight = 100")
    return tuple(steps)


_SECTIONS: dict[str, dict[str, _Conv]] = {
    "service": {"name": _str, "image": _str, "repo": _str, "prebuilt": _bool},
    "commands": {
        "pull": _str,
        "test": _str,
        "build": _str,
        "smoke": _str,
        "timeout": _pos_duration,
    },
    "docker": {"context": _str, "dockerfile": _str, "host": _opt_str},
    "prometheus": {
        "url": _url,
        "bearer_token": _secret,
        "username": _opt_str,
        "password": _secret,
        "ca_file": _opt_str,
        "headers": _str_map,
        "timeout": _pos_duration,
        "requests": _metric,
        "status_label": _label,
        "error_status": _regex,
        "latency": _metric,
        "job": _str,
        "scrape_interval": _pos_duration,
        "rate_window": _pos_duration,
        "error_rate": _promql,
        "p95_seconds": _promql,
        "request_rate": _promql,
        "up": _promql_up,
        "db_connections": _promql,
        "memory": _promql,
        "cpu": _promql,
    },
    "gates": {
        "error_rate_max": _ratio,
        "p95_max_ms": _positive,
        "min_request_rate": _nonneg,
        "consecutive_failures": _posint,
        "poll": _pos_duration,
        "no_data_timeout": _pos_duration,
        "unknown_pause_after": _posint,
        "auto_rollback": _bool,
        "db_connections_max": _nonneg,
        "memory_max_bytes": _nonneg,
        "cpu_max_cores": _nonneg,
        "rule": _rule("absolute", "relative"),
        "error_rate_rule": _rule("absolute", "relative"),
        "p95_rule": _rule("absolute", "relative", "mann-whitney"),
        "error_rate_factor": _at_least_one,
        "error_rate_margin": _ratio,
        "error_rate_ceiling": _ratio,
        "p95_factor": _at_least_one,
        "p95_margin_ms": _nonneg,
        "p95_ceiling_ms": _positive,
        "min_requests": _posint,
        "mw_confidence": _open_unit,
        "mw_tolerance": _nonneg,
        "mw_effect_min": _at_least_one,
        "mw_min_shift_ms": _nonneg,
        "mw_min_samples": _posint,
    },
    "smoke": {
        "http": lambda v: v,
        "manual": _str_list,
        "log_patterns": _regex_list,
        "stable_for": _duration,
    },
    "store": {
        "backend": lambda v: _choice(v, ("sqlite", "kube")),
        "namespace": _str,
        "context": _str,
    },
    "readiness": {"pii": _bool, "migrations": _bool, "emergency_hold_factor": _hold_factor},
    "notify": {
        "deployments_webhook": _secret,
        "incident_webhook": _secret,
        "webhook": _secret,
        "changelog": _str,
        "github_token": _secret,
        "github_repo": _str,
        "github_api": _url,
    },
}

_ENV_KEYS: dict[str, _Conv] = {
    "context": _str,
    "namespace": _str,
    "deployment": _str,
    "service": _str,
    "manifests": _str_list,
    "selector": _selector,
    "track_label": _label,
    "strategy": _enum(Strategy),
    "traffic": _enum(Traffic),
    "canary_steps": _steps,
    "monitoring_window": _pos_duration,
    "rollout_timeout": _pos_duration,
    "colour_label": _str,
    "ingress": _str,
    "route": _str,
    "replicas": _posint,
}

_HTTP_KEYS: dict[str, _Conv] = {
    "url": _url,
    "method": _str,
    "expect_status": _posint,
    "body_contains": _str,
    "timeout": _pos_duration,
    "retries": lambda v: int(_nonneg(v)),
    "headers": _str_map,
}


class _Locator:
    """Finds the line of a key in TOML text (tomllib keeps no positions)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def line_of(self, table: str, key: str | None = None) -> int:
        header = re.compile(r"^\s*\[\[?\s*" + re.escape(table) + r"\s*\]\]?\s*(#.*)?$")
        start = None
        for i, line in enumerate(self.lines):
            if header.match(line):
                start = i
                if key is None:
                    return i + 1
                break
        if key is None:
            return 1
        keypat = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        rng = range(start + 1 if start is not None else 0, len(self.lines))
        for i in rng:
            if start is not None and i > start and re.match(r"^\s*\[", self.lines[i]):
                break
            if keypat.match(self.lines[i]):
                return i + 1
        # Dotted keys or inline tables: fall back to the first mention.
        for i, line in enumerate(self.lines):
            if re.search(r"\b" + re.escape(key) + r"\s*=", line):
                return i + 1
        return (start + 1) if start is not None else 1


def _convert_table(
    data: dict[str, Any],
    spec: dict[str, _Conv],
    table: str,
    file: str,
    loc: _Locator,
    problems: list[str],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        line = loc.line_of(table, key)
        conv = spec.get(key)
        if conv is None:
            allowed = ", ".join(sorted(spec))
            problems.append(f"{file}:{line}: unknown key {table}.{key} (allowed: {allowed})")
            continue
        try:
            out[key] = conv(value)
        except (TypeError, ValueError) as e:
            problems.append(f"{file}:{line}: {table}.{key}: {e}")
            continue
        if isinstance(out[key], Secret):
            out[key] = Secret(out[key].ref, where=f"{file}:{line}: {table}.{key}")
    return out


def parse_settings(text: str, file: str = "b2tui.toml") -> Settings:
    """Parse TOML text into :class:`Settings`; raise :class:`ConfigError` with every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        line = m.group(1) if m else "1"
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        raise ConfigError([f"{file}:{line}: not valid TOML: {msg}"]) from None
    loc = _Locator(text)
    problems: list[str] = []
    parsed: dict[str, dict[str, Any]] = {}
    for section, value in raw.items():
        if section == "environments":
            continue
        if section not in _SECTIONS:
            allowed = ", ".join(sorted([*_SECTIONS, "environments"]))
            problems.append(
                f"{file}:{loc.line_of(section)}: unknown table [{section}] (allowed: {allowed})"
            )
            continue
        if not isinstance(value, dict):
            problems.append(f"{file}:{loc.line_of(section)}: {section} must be a table")
            continue
        parsed[section] = _convert_table(value, _SECTIONS[section], section, file, loc, problems)

    envs: dict[str, EnvironmentSettings] = {}
    raw_envs = raw.get("environments", {})
    if not isinstance(raw_envs, dict):
        problems.append(f"{file}:{loc.line_of('environments')}: environments must be a table")
        raw_envs = {}
    for name, body in raw_envs.items():
        table = f"environments.{name}"
        if not isinstance(body, dict):
            problems.append(f"{file}:{loc.line_of(table)}: [{table}] must be a table")
            continue
        values = _convert_table(body, _ENV_KEYS, table, file, loc, problems)
        envs[name] = EnvironmentSettings(name=name, **values)
    if not envs:
        # Each command needs only the environment it names (a run: staging and
        # production; status/rollback/gates: theirs), and says so when it is missing.
        problems.append(
            f"{file}:1: no environment: add an [environments.production] table"
            " (context, namespace, deployment, service)"
        )
    for name, env in envs.items():
        if env.traffic is Traffic.NGINX and not env.ingress:
            problems.append(
                f"{file}:{loc.line_of(f'environments.{name}')}: environments.{name}:"
                ' traffic = "nginx" needs ingress = "<stable ingress name>"'
            )
        if env.traffic is Traffic.GATEWAY and not env.route:
            problems.append(
                f"{file}:{loc.line_of(f'environments.{name}')}: environments.{name}:"
                ' traffic = "gateway" needs route = "<HTTPRoute name>"'
            )

    checks: list[HttpCheck] = []
    smoke = parsed.get("smoke", {})
    http = smoke.pop("http", [])
    if not isinstance(http, list):
        problems.append(f"{file}:{loc.line_of('smoke', 'http')}: smoke.http must be [[smoke.http]]")
        http = []
    for entry in http:
        if not isinstance(entry, dict) or "url" not in entry:
            problems.append(f"{file}:{loc.line_of('smoke.http')}: each [[smoke.http]] needs url")
            continue
        checks.append(
            HttpCheck(**_convert_table(entry, _HTTP_KEYS, "smoke.http", file, loc, problems))
        )
    if problems:
        raise ConfigError(problems)

    prom = dict(parsed.get("prometheus", {}))
    gates = dict(parsed.get("gates", {}))
    g_defaults = GateSettings()
    for limit_key, ceiling_key in (
        ("error_rate_max", "error_rate_ceiling"),
        ("p95_max_ms", "p95_ceiling_ms"),
    ):
        limit = gates.get(limit_key, getattr(g_defaults, limit_key))
        ceiling = gates.get(ceiling_key, getattr(g_defaults, ceiling_key))
        if ceiling < limit:
            key = ceiling_key if ceiling_key in gates else limit_key
            problems.append(
                f"{file}:{loc.line_of('gates', key)}: gates.{ceiling_key} ({ceiling:g}) is below"
                f" gates.{limit_key} ({limit:g}); the ceiling of the relative rule must be at"
                " least the absolute limit"
            )
    extra = []
    for name, limit_key, unit in (
        ("db_connections", "db_connections_max", ""),
        ("memory", "memory_max_bytes", "B"),
        ("cpu", "cpu_max_cores", "cores"),
    ):
        q = prom.pop(name, None)
        limit = gates.pop(limit_key, None)
        if q is not None and limit is None:
            problems.append(
                f"{file}:{loc.line_of('prometheus', name)}: prometheus.{name} needs"
                f" gates.{limit_key}"
            )
        elif q is not None and limit is not None:
            extra.append(QuerySettings(name, q, limit, unit))
    if problems:
        raise ConfigError(problems)
    return Settings(
        service=ServiceSettings(**parsed.get("service", {})),
        commands=CommandSettings(**parsed.get("commands", {})),
        docker=DockerSettings(**parsed.get("docker", {})),
        prometheus=PrometheusSettings(**prom, extra=tuple(extra)),
        gates=GateSettings(**gates),
        smoke=SmokeSettings(**smoke, http=tuple(checks)),
        readiness=ReadinessSettings(**parsed.get("readiness", {})),
        environments=envs,
        notify=NotifySettings(**parsed.get("notify", {})),
        store=StoreSettings(**parsed.get("store", {})),
        path=file,
    )


def secret_problems(settings: Settings, sections: tuple[str, ...] | None = None) -> list[str]:
    """``file:line: message`` for every secret reference that cannot be resolved now
    (``env:`` variable unset, ``file:`` unreadable), never showing a value.

    Args:
        settings: Parsed settings.
        sections: Only these tables (``prometheus``, ``notify``); None: all.
    """
    out = []
    for section in ("prometheus", "notify"):
        if sections is not None and section not in sections:
            continue
        obj = getattr(settings, section)
        for name in obj.__dataclass_fields__:
            secret = getattr(obj, name)
            if not isinstance(secret, Secret):
                continue
            try:
                value = secret.reveal()
            except ValueError as e:
                where = secret.where or f"{settings.path or 'b2tui.toml'}:1: {section}.{name}"
                how = (
                    f"export {secret.ref[4:]}=… or remove the key"
                    if secret.ref.startswith("env:")
                    else "fix the path or its permissions"
                )
                out.append(f"{where}: {e}; {how}")
                continue
            if name.endswith("webhook"):
                parts = urlsplit(value.strip())
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    where = secret.where or f"{settings.path or 'b2tui.toml'}:1: {section}.{name}"
                    # Never the value: it is a secret.
                    out.append(f"{where}: the value of {secret.source} is not an http(s) URL")
    return out


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Read and parse a configuration file."""
    p = Path(path)
    if p.is_dir():
        where = p / "b2tui.toml"
        raise ConfigError([f"{p}:0: is a directory, not a config file; pass a file like {where}"])
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}:0: file not found; create one with `b2tui init`"]) from None
    except UnicodeDecodeError as e:
        raise ConfigError([f"{p}:0: not UTF-8 text (byte {e.start}); save it as UTF-8"]) from None
    except OSError as e:
        why = e.strerror or type(e).__name__
        problem = f"{p}:0: cannot read ({why}); check the path and its permissions"
        raise ConfigError([problem]) from None
    return parse_settings(text, str(p))


def find_config(start: Path | None = None) -> Path | None:
    """``b2tui.toml`` in the current directory or ``$B2TUI_CONFIG``."""
    env = os.environ.get("B2TUI_CONFIG")
    if env:
        return Path(env)
    p = (start or Path.cwd()) / "b2tui.toml"
    return p if p.exists() else None


SANDBOX_RULES: dict[str, dict[str, str]] = {
    "absolute": {},
    "relative": {"rule": "relative"},
    "mann-whitney": {"rule": "relative", "p95_rule": "mann-whitney"},
}
"""``b2tui demo --rule``: how the canary is judged (the scenarios' baseline variants)."""


def _bench_replicas(default: int = 10) -> int:
    """Production's pod count in the sandbox: 10, or ``B2TUI_BENCH_REPLICAS`` (a
    measurement hook for ``make bench``: idle cost and memory with 200 or 5,000 pods).
    Anything but a whole number from 1 to 100,000 keeps the default."""
    raw = os.environ.get("B2TUI_BENCH_REPLICAS", "")
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= 100_000 else default


def sandbox_settings(rule: str = "absolute") -> Settings:
    """Built-in settings for the embedded sandbox (no file needed).

    Args:
        rule: A key of :data:`SANDBOX_RULES`: the canary against absolute limits, or
            against stable (relative; Mann–Whitney for latency).
    """
    staging = EnvironmentSettings(
        name="staging",
        context="sandbox",
        namespace="b2connect",
        deployment="b2connect",
        service="b2connect",
        manifests=("deploy/staging.yaml",),
        selector='namespace="b2connect",app="b2connect"',
        replicas=2,
    )
    production = EnvironmentSettings(
        name="production",
        context="sandbox",
        namespace="b2connect",
        deployment="b2connect",
        service="b2connect",
        selector='namespace="b2connect",app="b2connect"',
        replicas=_bench_replicas(),
    )
    return Settings(
        gates=GateSettings(**SANDBOX_RULES[rule]),  # type: ignore[arg-type]
        service=ServiceSettings(name="b2connect", image="registry.sandbox/b2connect", repo="."),
        environments={"staging": staging, "production": production},
        notify=NotifySettings(changelog=None),
    )
