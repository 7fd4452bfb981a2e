"""Reading ``b2tui.toml``: TOML → :class:`~b2tui.config.schema.Settings`.

tomllib keeps no positions, so :class:`_Locator` finds the line of each key; every
problem is reported at once as ``file:line: message`` (:class:`ConfigError`).
``secret_problems`` checks that secret references resolve, never showing a value.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from b2tui.config.convert import ENVIRONMENT_KEYS, HTTP_CHECK_KEYS, SECTION_KEYS, Converter
from b2tui.config.people import missing_roles, parse_people
from b2tui.config.schema import (
    CommandSettings,
    ConfigError,
    DockerSettings,
    EnvironmentSettings,
    GateSettings,
    HttpCheck,
    MonitoringSettings,
    NotifySettings,
    PrometheusSettings,
    QuerySettings,
    ReadinessSettings,
    Secret,
    ServiceSettings,
    Settings,
    SmokeSettings,
    StoreSettings,
    TerminalSettings,
)
from b2tui.domain.traffic import PROVIDERS


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
    spec: dict[str, Converter],
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
    import tomllib  # here: `b2tui demo` builds its settings without a file

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
    store = raw.get("store")
    local = not (isinstance(store, dict) and store.get("backend") == "kube")
    team = parse_people(raw, loc.lines, file, problems, local=local)
    for section, value in raw.items():
        if section == "environments":
            continue
        if section not in SECTION_KEYS:
            allowed = ", ".join(sorted([*SECTION_KEYS, "environments", "roles", "people"]))
            problems.append(
                f"{file}:{loc.line_of(section)}: unknown table [{section}] (allowed: {allowed})"
            )
            continue
        if not isinstance(value, dict):
            problems.append(f"{file}:{loc.line_of(section)}: {section} must be a table")
            continue
        parsed[section] = _convert_table(value, SECTION_KEYS[section], section, file, loc, problems)

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
        values = _convert_table(body, ENVIRONMENT_KEYS, table, file, loc, problems)
        envs[name] = EnvironmentSettings(name=name, **values)
    if not envs:
        # Each command needs only the environment it names (a run: staging and
        # production; status/rollback/gates: theirs), and says so when it is missing.
        problems.append(
            f"{file}:1: no environment: add an [environments.production] table"
            " (context, namespace, deployment, service)"
        )
    for name, env in envs.items():
        missing = PROVIDERS[env.traffic].problem(env)
        if missing:
            problems.append(
                f"{file}:{loc.line_of(f'environments.{name}')}: environments.{name}: {missing}"
            )
        cannot = PROVIDERS[env.traffic].header_problem(env)
        if cannot:
            at = loc.line_of(f"environments.{name}", "canary_header")
            problems.append(f"{file}:{at}: environments.{name}: {cannot}")

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
            HttpCheck(**_convert_table(entry, HTTP_CHECK_KEYS, "smoke.http", file, loc, problems))
        )
    manual = smoke.get("manual", SmokeSettings().manual)
    for role, item in missing_roles(team.roles, team.readiness, team.smoke, bool(manual)):
        problems.append(
            f"{file}:{loc.line_of('roles')}: [roles] has no role {role!r}, which {item} needs:"
            f' add {role} = ["user", "group:NAME"] (nobody could sign it otherwise)'
        )
    page_roles = parsed.get("notify", {}).get("page_roles")
    if page_roles and not team.roles.configured:
        problems.append(
            f"{file}:{loc.line_of('notify', 'page_roles')}: notify.page_roles names roles,"
            ' but there is no [roles] table: add one (e.g. tech-lead = ["dave"])'
        )
    for role in page_roles or ():
        if team.roles.configured and role not in team.roles.members:
            problems.append(
                f"{file}:{loc.line_of('notify', 'page_roles')}: notify.page_roles names"
                f" {role!r}, which [roles] does not have: add it to [roles] or drop it"
            )
    monitoring = dict(parsed.get("monitoring", {}))
    mon_http = monitoring.pop("http", [])
    mon_checks: list[HttpCheck] = []
    if not isinstance(mon_http, list):
        problems.append(
            f"{file}:{loc.line_of('monitoring', 'http')}: monitoring.http must be"
            " [[monitoring.http]]"
        )
        mon_http = []
    for entry in mon_http:
        if not isinstance(entry, dict) or "url" not in entry:
            problems.append(
                f"{file}:{loc.line_of('monitoring.http')}: each [[monitoring.http]] needs url"
            )
            continue
        mon_checks.append(
            HttpCheck(
                **_convert_table(entry, HTTP_CHECK_KEYS, "monitoring.http", file, loc, problems)
            )
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
        smoke=SmokeSettings(**smoke, http=tuple(checks), items=team.smoke),
        readiness=ReadinessSettings(**parsed.get("readiness", {}), items=team.readiness),
        environments=envs,
        notify=NotifySettings(**parsed.get("notify", {})),
        store=StoreSettings(**parsed.get("store", {})),
        roles=team.roles,
        people=team.people,
        terminal=TerminalSettings(**parsed.get("terminal", {})),
        monitoring=MonitoringSettings(**monitoring, http=tuple(mon_checks)),
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
            where = secret.where or f"{settings.path or 'b2tui.toml'}:1: {section}.{name}"
            try:
                value = secret.reveal()
            except ValueError as e:
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
