"""``b2tui.toml`` → typed settings.

Every error names the file, the line and the key, and says how to fix it; the CLI
prints each as ``file:line: message`` and exits 2.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    error_rate: str = (
        # `or vector(0)`: a service that never answered 5xx has no such series at all,
        # which would read as "no data" forever instead of 0 %.
        '(sum(rate(http_requests_total{status=~"5..",$selector}[1m])) or vector(0))'
        " / sum(rate(http_requests_total{$selector}[1m]))"
    )
    p95_seconds: str = (
        "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{$selector}[1m]))"
        " by (le))"
    )
    request_rate: str = "sum(rate(http_requests_total{$selector}[1m]))"
    up: str = "up{$selector}"
    """Target health; 0 makes every gate of the sample unknown ("target down")."""
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


def _nonneg(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError("expected a number")
    if v < 0:
        raise ValueError("must not be negative")
    return float(v)


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
        if v < 0:
            raise ValueError("must not be negative")
        return float(v)
    if not isinstance(v, str):
        raise TypeError('expected a duration string such as "30s" or "5m"')
    return parse_duration(v)


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
    "service": {"name": _str, "image": _str, "repo": _str},
    "commands": {
        "pull": _str,
        "test": _str,
        "build": _str,
        "smoke": _str,
        "timeout": _duration,
    },
    "docker": {"context": _str, "dockerfile": _str, "host": _opt_str},
    "prometheus": {
        "url": _str,
        "bearer_token": _secret,
        "username": _opt_str,
        "password": _secret,
        "ca_file": _opt_str,
        "headers": _str_map,
        "timeout": _duration,
        "error_rate": _str,
        "p95_seconds": _str,
        "request_rate": _str,
        "up": _str,
        "db_connections": _str,
        "memory": _str,
        "cpu": _str,
    },
    "gates": {
        "error_rate_max": _nonneg,
        "p95_max_ms": _nonneg,
        "min_request_rate": _nonneg,
        "consecutive_failures": _posint,
        "poll": _duration,
        "no_data_timeout": _duration,
        "unknown_pause_after": _posint,
        "auto_rollback": _bool,
        "db_connections_max": _nonneg,
        "memory_max_bytes": _nonneg,
        "cpu_max_cores": _nonneg,
    },
    "smoke": {
        "http": lambda v: v,
        "manual": _str_list,
        "log_patterns": _regex_list,
        "stable_for": _duration,
    },
    "readiness": {"pii": _bool, "migrations": _bool, "emergency_hold_factor": _nonneg},
    "notify": {
        "deployments_webhook": _secret,
        "incident_webhook": _secret,
        "webhook": _secret,
        "changelog": _str,
        "github_token": _secret,
        "github_repo": _str,
        "github_api": _str,
    },
}

_ENV_KEYS: dict[str, _Conv] = {
    "context": _str,
    "namespace": _str,
    "deployment": _str,
    "service": _str,
    "manifests": _str_list,
    "selector": _str,
    "track_label": _str,
    "strategy": _enum(Strategy),
    "traffic": _enum(Traffic),
    "canary_steps": _steps,
    "monitoring_window": _duration,
    "rollout_timeout": _duration,
    "colour_label": _str,
    "ingress": _str,
    "route": _str,
    "replicas": _posint,
}

_HTTP_KEYS: dict[str, _Conv] = {
    "url": _str,
    "method": _str,
    "expect_status": _posint,
    "body_contains": _str,
    "timeout": _duration,
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
    if "production" not in envs:
        problems.append(
            f"{file}:1: missing environment: add an [environments.production] table"
            " (context, namespace, deployment, service)"
        )
    if "staging" not in envs:
        problems.append(
            f"{file}:1: missing environment: add an [environments.staging] table"
            " (context, namespace, deployment, service, manifests)"
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
        path=file,
    )


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Read and parse a configuration file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{p}:0: file not found; create one with `b2tui init`"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"{p}:0: cannot read: {e}"]) from None
    return parse_settings(text, str(p))


def find_config(start: Path | None = None) -> Path | None:
    """``b2tui.toml`` in the current directory or ``$B2TUI_CONFIG``."""
    env = os.environ.get("B2TUI_CONFIG")
    if env:
        return Path(env)
    p = (start or Path.cwd()) / "b2tui.toml"
    return p if p.exists() else None


def sandbox_settings() -> Settings:
    """Built-in settings for the embedded sandbox (no file needed)."""
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
        replicas=10,
    )
    return Settings(
        service=ServiceSettings(name="b2connect", image="registry.sandbox/b2connect", repo="."),
        environments={"staging": staging, "production": production},
        notify=NotifySettings(changelog=None),
    )
