"""Fuzzed configurations, as a user meets them: `b2tui init`, one bad edit, then
`b2tui check-config` and `b2tui run` — each refused with exit 2 and `file:line: message`,
`run` before it touches anything (no state file, no command run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.test_cli import b2tui

pytestmark = pytest.mark.integration

# (text in the file `b2tui init` writes, replacement, what the message must say)
EDITS = [
    ("error_rate_max = 0.001", "error_rate_max = nan", "gates.error_rate_max: must be a finite"),
    ("p95_max_ms = 200", "p95_max_ms = inf", "gates.p95_max_ms: must be a finite"),
    ('poll = "5s"', 'poll = "0s"', "gates.poll: must be longer than 0"),
    (
        'monitoring_window = "30m"',
        'monitoring_window = "0s"',
        "monitoring_window: must be longer than 0",
    ),
    (
        "# request_rate = 'sum(rate(http_requests_total{$selector}[1m]))'",
        "request_rate = 'sum(rate(http_requests_total[1m]))'",
        "has no $selector",
    ),
    (
        "# request_rate = 'sum(rate(http_requests_total{$selector}[1m]))'",
        "request_rate = 'sum(rate(http_requests_total{$selecter}[1m]))'",
        "uses $selecter",
    ),
    (
        "# request_rate = 'sum(rate(http_requests_total{$selector}[1m]))'",
        "request_rate = 'sum(rate(http_requests_total{$selector[1m]))'",
        "PromQL has an unbalanced ')'",
    ),
    ('url = "http://127.0.0.1:9090"', 'url = "not a url"', "is not an http(s) URL"),
    (
        '# deployments_webhook = "env:SLACK_DEPLOYMENTS_WEBHOOK"',
        'deployments_webhook = "env:B2TUI_TEST_MISSING_HOOK"',
        "B2TUI_TEST_MISSING_HOOK is not set",
    ),
    (
        '# bearer_token = "env:PROM_TOKEN"',
        'bearer_token = "file:/nonexistent/prom-token"',
        "cannot read secret file /nonexistent/prom-token",
    ),
    (
        'log_patterns = ["(?i)exception"',
        'log_patterns = ["(?i)exception[", "x"',
        "bad regular expression",
    ),
    ('error_status = "5.."', 'error_status = "5(.."', "bad regular expression"),
    (
        'canary_steps = [ { weight = 5, hold = "5m" }, { weight = 50, hold = "5m" }, '
        "{ weight = 100 } ]",
        "canary_steps = [ { weight = 50 }, { weight = 5 }, { weight = 100 } ]",
        "weights must increase",
    ),
    (
        'canary_steps = [ { weight = 5, hold = "5m" }, { weight = 50, hold = "5m" }, '
        "{ weight = 100 } ]",
        "canary_steps = [ { weight = 5 }, { weight = 50 } ]",
        "last step must have weight = 100",
    ),
]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("init")
    res = b2tui("init", str(d / "b2tui.toml"))
    assert res.returncode == 0, res.stderr
    ok = b2tui("check-config", str(d / "b2tui.toml"))
    assert ok.returncode == 0, ok.stderr  # the example itself is accepted as written
    return (d / "b2tui.toml").read_text()


@pytest.mark.parametrize(("old", "new", "needle"), EDITS, ids=[e[1][:40] for e in EDITS])
def test_each_fuzzed_config_exits_2_with_file_and_line(
    example: str, tmp_path: Path, old: str, new: str, needle: str
) -> None:
    assert old in example, f"the example no longer contains {old!r}"
    text = example.replace(old, new, 1)
    path = tmp_path / "b2tui.toml"
    path.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if new.split(" = ")[1] in ln)
    env = {k: v for k, v in os.environ.items() if k != "B2TUI_TEST_MISSING_HOOK"}
    checked = b2tui("check-config", str(path), env=env)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    [message] = [ln for ln in checked.stderr.splitlines() if needle in ln]
    assert message.startswith(f"{path}:{line}: "), message
    assert "Traceback" not in checked.stderr and "internal error" not in checked.stderr
    state = tmp_path / "state.db"
    run = b2tui(
        "run", "--config", str(path), "--headless", "--state", str(state), env=env, timeout=60
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert any(ln.startswith(f"{path}:{line}: ") and needle in ln for ln in run.stderr.splitlines())
    assert not state.exists()  # refused before anything was touched
