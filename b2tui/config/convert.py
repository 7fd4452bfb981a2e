"""Validation of single values: one converter per key type and the key tables.

A converter takes the raw TOML value and returns the typed one, or raises ``TypeError`` /
``ValueError`` with a message that says how to fix it (the loader adds file, line and
key). ``promql_problem`` checks a raw PromQL query before any server sees it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from b2tui.config.schema import MonitoringCheck, Secret
from b2tui.domain.canary import CanaryStep
from b2tui.domain.durations import parse_duration
from b2tui.domain.phases import Strategy, Traffic

Converter = Callable[[Any], Any]


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


def _number_where(ok: Callable[[float], bool], problem: str) -> Converter:
    """A number that ``ok`` accepts; else ``ValueError(problem)``, where ``{v:g}`` in
    ``problem`` names the value given."""

    def conv(v: Any) -> float:
        x = _number(v)
        if not ok(x):
            raise ValueError(problem.format(v=v))
        return x

    return conv


_nonneg = _number_where(lambda x: x >= 0, "must not be negative")
_positive = _number_where(lambda x: x > 0, "must be greater than 0")
_ratio = _number_where(lambda x: 0 <= x <= 1, "is a ratio from 0 to 1 (0.001 = 0.1 %), not {v:g}")
_open_unit = _number_where(lambda x: 0 < x < 1, "must be between 0 and 1 (exclusive), not {v:g}")
_at_least_one = _number_where(
    lambda x: x >= 1, "must be at least 1 (a multiplier of stable's value), not {v:g}"
)
_hold_factor = _number_where(
    lambda x: 0 < x <= 1, "must be greater than 0 and at most 1, not {v:g}"
)


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


def _promql_conv(*, need_selector: bool) -> Converter:
    def conv(v: Any) -> str:
        text = _str(v)
        why = promql_problem(text, need_selector=need_selector)
        if why:
            raise ValueError(f"PromQL {why}")
        return text

    return conv


_promql = _promql_conv(need_selector=True)
_promql_up = _promql_conv(need_selector=False)


def _rule(*allowed: str) -> Converter:
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


STAGES = ("high alert", "key metrics", "settle")


def _monitoring_manual(v: Any) -> tuple[MonitoringCheck, ...]:
    """``["Spot check key features", { check = "No data issues", stage = "settle",
    owner = "@qa-engineer" }]``: a string is due in the key-metrics stage."""
    if not isinstance(v, list):
        raise TypeError("expected a list of strings or { check, stage, owner } tables")
    out = []
    for x in v:
        if isinstance(x, str):
            out.append(MonitoringCheck(x))
            continue
        if not isinstance(x, dict) or not isinstance(x.get("check"), str):
            raise TypeError('each entry is a string or a table with check = "…"')
        unknown = sorted(set(x) - {"check", "stage", "owner"})
        if unknown:
            raise ValueError(f"unknown key {unknown[0]} (allowed: check, owner, stage)")
        stage = _choice(x.get("stage", "key metrics"), STAGES)
        out.append(MonitoringCheck(x["check"], stage, _str(x.get("owner", "@devops-engineer"))))
    return tuple(out)


def _regex_list(v: Any) -> tuple[str, ...]:
    return tuple(_regex(p) for p in _str_list(v))


def _str_map(v: Any) -> dict[str, str]:
    if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
        raise TypeError("expected a table of strings")
    return dict(v)


def _choice(v: Any, allowed: tuple[str, ...]) -> str:
    if v not in allowed:
        raise ValueError(f"expected one of {' | '.join(allowed)}")
    return str(v)


def _enum(cls: Any) -> Converter:
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


SECTION_KEYS: dict[str, dict[str, Converter]] = {
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
    "monitoring": {
        "http": lambda v: v,
        "manual": _monitoring_manual,
        "log_patterns": _regex_list,
    },
    "store": {
        "backend": lambda v: _choice(v, ("sqlite", "kube")),
        "namespace": _str,
        "context": _str,
    },
    "terminal": {"bell": _bool, "notify": _bool},
    "readiness": {"pii": _bool, "migrations": _bool, "emergency_hold_factor": _hold_factor},
    "notify": {
        "deployments_webhook": _secret,
        "incident_webhook": _secret,
        "webhook": _secret,
        "changelog": _str,
        "github_token": _secret,
        "github_repo": _str,
        "github_api": _url,
        "pagerduty_routing_key": _secret,
        "pagerduty_api": _url,
        "opsgenie_api_key": _secret,
        "opsgenie_api": _url,
        "page_roles": _str_list,
    },
}

ENVIRONMENT_KEYS: dict[str, Converter] = {
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
    "preview_service": _str,
    "preview_url": _url,
}

HTTP_CHECK_KEYS: dict[str, Converter] = {
    "url": _url,
    "method": _str,
    "expect_status": _posint,
    "body_contains": _str,
    "timeout": _pos_duration,
    "retries": lambda v: int(_nonneg(v)),
    "headers": _str_map,
}
