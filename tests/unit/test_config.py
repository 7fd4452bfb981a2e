"""Configuration: the contract keys, defaults, and errors with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from b2tui.config import ConfigError, Secret, load_settings, parse_settings
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
    assert s.notify.incident_webhook == Secret("env:SLACK_INCIDENT_WEBHOOK")


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
    assert any("gates.error_rate_max: must not be negative" in p for p in ps)
    assert any("gates.poll:" in p and "not a duration" in p for p in ps)
    assert all(p.startswith("b2tui.toml:") for p in ps)


def test_missing_environment() -> None:
    [p] = problems('[environments.staging]\nnamespace = "s"\n')
    assert "add an [environments.production] table" in p


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
