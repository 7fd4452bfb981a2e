"""Configuration: the contract keys, defaults, and errors with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from b2tui.config import ConfigError, Secret, load_settings, parse_settings, secret_problems
from b2tui.domain.phases import Strategy, Traffic

EXAMPLE = Path(__file__).parents[2] / "b2tui" / "example.toml"

MINIMAL = """
[environments.staging]
namespace = "s"

[environments.production]
namespace = "p"
"""


def test_example_config_parses_with_the_seed_defaults() -> None:
    s = load_settings(EXAMPLE)
    prod = s.environment("production")
    assert prod.strategy is Strategy.CANARY and prod.traffic is Traffic.REPLICAS
    assert [(st.weight, st.hold) for st in prod.canary_steps] == [(5, 300), (50, 300), (100, 0)]
    assert prod.monitoring_window == 1800
    assert s.gates.error_rate_max == 0.001 and s.gates.p95_max_ms == 200
    assert s.gates.consecutive_failures == 3 and s.gates.poll == 5
    assert s.commands.timeout == 1200
    # By name: b2tui writes the PromQL.
    assert s.prometheus.requests == "http_requests_total"
    assert s.prometheus.latency == "http_request_duration_seconds"
    assert s.prometheus.error_rate is None and s.prometheus.p95_seconds is None
    assert s.gates.rule == "absolute"


def test_defaults_for_a_minimal_file() -> None:
    s = parse_settings(MINIMAL)
    assert s.gates.no_data_timeout == 600
    assert s.environment("production").canary_steps[0].weight == 5


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_settings(text, "b2tui.toml")
    return e.value.problems


def test_unknown_key_names_file_line_and_key() -> None:
    text = MINIMAL + "\n[gates]\nerror_rate_maxx = 0.01\n"
    [p] = problems(text)
    line = text.splitlines().index("error_rate_maxx = 0.01") + 1
    assert p.startswith(f"b2tui.toml:{line}: unknown key gates.error_rate_maxx")


def test_wrong_type_and_negative_threshold() -> None:
    text = MINIMAL + '\n[gates]\np95_max_ms = "fast"\nerror_rate_max = -1\npoll = "5 minutes"\n'
    ps = problems(text)
    assert any("gates.p95_max_ms: expected a number" in p for p in ps)
    assert any("gates.error_rate_max: is a ratio from 0 to 1" in p for p in ps)
    assert any("gates.poll:" in p and "not a duration" in p for p in ps)
    assert all(p.startswith("b2tui.toml:") for p in ps)


def test_missing_environment() -> None:
    [p] = problems('[service]\nname = "x"\n')
    assert "no environment: add an [environments.production] table" in p


def test_one_environment_is_enough() -> None:
    # status / rollback / gates need only the environment they name; a run checks both.
    settings = parse_settings('[environments.production]\nnamespace = "p"\n', "b2tui.toml")
    assert list(settings.environments) == ["production"]


def test_broken_toml_is_one_line() -> None:
    [p] = problems('[service]\nname = "x\n')
    assert p.startswith("b2tui.toml:2: not valid TOML")


def test_bad_canary_steps() -> None:
    text = MINIMAL.replace(
        'namespace = "p"', 'namespace = "p"\ncanary_steps = [{ weight = 50 }, { weight = 5 }]'
    )
    [p] = problems(text)
    assert "weights must increase" in p


def test_secret_never_shows_its_value(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOOK", "https://hooks.example/T000/SECRET")
    s = Secret("env:HOOK")
    assert s.reveal() == "https://hooks.example/T000/SECRET"
    assert "SECRET" not in repr(s) and "SECRET" not in str(s)
    f = tmp_path / "tok"
    f.write_text("abc\n")
    assert Secret(f"file:{f}").reveal() == "abc"
    with pytest.raises(ValueError, match="NOPE is not set"):
        Secret("env:NOPE").reveal()


# --- fuzzed values: each one line with file:line, none accepted ---------------------------

BASE = MINIMAL + "\n[prometheus]\n[gates]\n"


def set_key(table: str, line: str) -> str:
    """MINIMAL with ``line`` added to ``[table]``."""
    if table.startswith("environments."):
        return MINIMAL.replace('namespace = "p"', f'namespace = "p"\n{line}')
    return MINIMAL + f"\n[{table}]\n{line}\n"


@pytest.mark.parametrize(
    ("table", "line", "expected"),
    [
        ("gates", "error_rate_max = nan", "must be a finite number"),
        ("gates", "error_rate_max = 5", "is a ratio from 0 to 1"),
        ("gates", "p95_max_ms = inf", "must be a finite number"),
        ("gates", "p95_max_ms = 0", "must be greater than 0"),
        ("gates", "min_request_rate = -inf", "must be a finite number"),
        ("gates", 'poll = "0s"', "must be longer than 0"),
        ("gates", "poll = 0", "must be longer than 0"),
        ("gates", 'no_data_timeout = "0s"', "must be longer than 0"),
        ("gates", "error_rate_factor = 0.5", "must be at least 1"),
        ("gates", "mw_confidence = 1.0", "between 0 and 1"),
        ("gates", 'rule = "relativ"', "expected one of absolute | relative"),
        ("gates", 'p95_rule = "t-test"', "mann-whitney"),
        ("gates", "error_rate_ceiling = 0.0001", "below gates.error_rate_max"),
        ("environments.production", 'monitoring_window = "0s"', "must be longer than 0"),
        ("environments.production", 'rollout_timeout = "0s"', "must be longer than 0"),
        ("commands", 'timeout = "0s"', "must be longer than 0"),
        ("prometheus", 'timeout = "0s"', "must be longer than 0"),
        ("prometheus", 'scrape_interval = "0s"', "must be longer than 0"),
        ("prometheus", 'url = "not a url"', "is not an http(s) URL"),
        ("prometheus", 'url = "ftp://prom:9090"', "is not an http(s) URL"),
        ("prometheus", 'url = "http://prom:99999"', "bad port"),
        ("prometheus", "error_rate = 'sum(rate(x[1m]))'", "has no $selector"),
        ("prometheus", "error_rate = 'sum(rate(x{$selecter}[1m]))'", "uses $selecter"),
        ("prometheus", "p95_seconds = 'sum(rate(x{$selector}[1m])'", "unclosed '('"),
        ("prometheus", "request_rate = 'sum(rate(x{$selector}]1m]))'", "unbalanced ']'"),
        ("prometheus", "request_rate = 'sum(rate(x{$selector}[1m])))'", "unbalanced ')'"),
        ("prometheus", "error_rate = 'sum(x{app=\"a})'", "unterminated string"),
        ("prometheus", "up = 'up{job=\"a\"'", "unclosed '{'"),
        ("prometheus", "up = 'up{$job}'", "uses $job"),
        ("prometheus", 'requests = "shop-requests"', "not a Prometheus metric name"),
        ("prometheus", "error_rate = 'sum(x{code=~\"5(..\",$selector})'", "bad regular expression"),
        ("prometheus", 'status_label = "status code"', "not a Prometheus label name"),
        ("prometheus", 'error_status = "5(.."', "bad regular expression"),
        ("smoke", 'log_patterns = ["(?i)ok", "[unclosed"]', "bad regular expression"),
        ("environments.production", "selector = 'app=web'", "not a list of label matchers"),
        ("environments.production", "selector = 'app=~\"(web\"'", "bad regular expression"),
        ("environments.production", 'track_label = "track-name"', "not a Prometheus label"),
        (
            "environments.production",
            "canary_steps = [{ weight = 5 }, { weight = 5 }, { weight = 100 }]",
            "weights must increase",
        ),
        (
            "environments.production",
            "canary_steps = [{ weight = 5 }, { weight = 50 }]",
            "last step must have weight = 100",
        ),
        (
            "environments.production",
            "canary_steps = [{ weight = 0 }, { weight = 100 }]",
            "1 to 100",
        ),
        ("readiness", "emergency_hold_factor = 0", "greater than 0"),
        ("notify", 'github_api = "api.github.com"', "is not an http(s) URL"),
    ],
)
def test_fuzzed_values_are_refused_with_file_and_line(table: str, line: str, expected: str) -> None:
    text = set_key(table, line)
    ps = problems(text)
    assert len(ps) == 1, ps
    lineno = text.splitlines().index(line) + 1
    assert ps[0].startswith(f"b2tui.toml:{lineno}: "), ps[0]
    assert expected in ps[0], ps[0]
    assert "\n" not in ps[0]


@pytest.mark.parametrize(
    "line",
    [
        'error_rate = \'(sum(rate(x{code=~"5..",$selector}[1m])) or vector(0))'
        " / sum(rate(x{$selector}[1m]))'",
        "up = 'up{job=\"shop\"}'",
        "p95_seconds = 'histogram_quantile(0.95, sum by (le) (rate(x_bucket{$selector}[1m])))'",
        "error_rate = 'sum(x{a=\"{\",$selector})'",
    ],
)
def test_sound_promql_is_accepted(line: str) -> None:
    key, _, quoted = line.partition(" = ")
    settings = parse_settings(set_key("prometheus", line))
    # Taken as written: the query reaches the gate it was given for, unchanged.
    assert getattr(settings.prometheus, key) == quoted.strip("'")


def test_unresolvable_secrets_are_named_with_file_and_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("B2TUI_TEST_MISSING", raising=False)
    monkeypatch.setenv("B2TUI_TEST_SET", "https://hooks.example/T0/s3cr3t")
    text = MINIMAL + (
        '\n[notify]\nincident_webhook = "env:B2TUI_TEST_MISSING"\n'
        'deployments_webhook = "env:B2TUI_TEST_SET"\n'
        f'github_token = "file:{tmp_path}/nonexistent"\n'
    )
    lines = text.splitlines()
    ps = secret_problems(parse_settings(text, "b2tui.toml"))
    assert len(ps) == 2, ps
    missing = lines.index('incident_webhook = "env:B2TUI_TEST_MISSING"') + 1
    assert ps[0].startswith(f"b2tui.toml:{missing}: notify.incident_webhook:")
    assert "B2TUI_TEST_MISSING is not set" in ps[0]
    token = next(i for i, ln in enumerate(lines) if ln.startswith("github_token")) + 1
    assert ps[1].startswith(f"b2tui.toml:{token}: notify.github_token:")
    assert "nonexistent" in ps[1]
    assert not any("s3cr3t" in p for p in ps)
    assert secret_problems(parse_settings(text), ("prometheus",)) == []


def test_a_webhook_secret_that_is_not_a_url_is_named_not_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("B2TUI_TEST_HOOK", "hooks.example/T0/s3cr3t")
    text = MINIMAL + '\n[notify]\nwebhook = "env:B2TUI_TEST_HOOK"\n'
    [p] = secret_problems(parse_settings(text, "b2tui.toml"))
    line = text.splitlines().index('webhook = "env:B2TUI_TEST_HOOK"') + 1
    assert p == (
        f"b2tui.toml:{line}: notify.webhook: the value of env:B2TUI_TEST_HOOK is not an http(s) URL"
    )
