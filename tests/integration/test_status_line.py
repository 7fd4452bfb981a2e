"""`b2tui status --line` as tmux runs it: a real process, against a store a run writes."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from b2tui.adapters.store import Store
from b2tui.ports import RunRecord
from tests.support.services import wait_until

ROOT = Path(__file__).parents[2]
DEMO = [sys.executable, "-m", "b2tui", "demo", "--headless", "--speed", "30"]


def status_line(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "b2tui", "status", "--line", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def imported(res: subprocess.CompletedProcess[str]) -> set[str]:
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in res.stderr.splitlines()
        if line.startswith("import time:")
    }


def test_the_line_follows_a_demo_run_and_imports_no_textual(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    assert status_line("--sandbox", "--state", str(db)).stdout == "b2tui: no demo run yet\n"
    demo = subprocess.Popen(
        [*DEMO, "--state", str(db), "--scenario", "prod-error-spike"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    seen: list[str] = []

    def shown(text: str) -> bool:
        res = status_line("--sandbox", "--state", str(db))
        assert res.returncode == 0, res.stderr[-2000:]
        assert not {m for m in imported(res) if m.split(".")[0] in ("textual", "kubernetes")}
        seen.append(res.stdout.strip())
        return text in seen[-1]

    try:
        wait_until(lambda: shown("▶ PRODUCTION 5%"), 120, "the canary's first step")
        wait_until(lambda: shown("✗ rolled back"), 120, "the rollback")
    finally:
        demo.kill()
        demo.wait()
    assert any("▶ READINESS" in s or "▶ VALIDATE" in s or "▶ STAGING" in s for s in seen)
    assert seen[-1].startswith("b2connect ✗ rolled back: error_rate")


def test_a_real_run_in_the_sqlite_store_by_config(tmp_path: Path) -> None:
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text('[service]\nname = "shop"\n[environments.production]\nnamespace = "p"\n')
    db = tmp_path / "s.db"
    assert status_line("--config", str(cfg), "--state", str(db)).stdout == "shop: no run yet\n"
    now = datetime.now(UTC)
    store = Store(db)
    store.create_run(
        RunRecord(
            id="r1",
            service="shop",
            environment="production",
            strategy="canary",
            version="1a2b3c4",
            image="reg/shop:production-1a2b3c4",
            emergency=False,
            params={},
            state={},
            clock=now,
            started_at=now,
            commit_at=None,
            finished_at=None,
            outcome=None,
            reason=None,
            created_by="ann@jump",
        )
    )
    hold = (now + timedelta(minutes=4, seconds=30)).isoformat()
    state = {
        "phase": "production",
        "canary_percent": 5,
        "hold_until": hold,
        "trackers": {"canary": {"last": "pass", "consecutive_failures": 0}},
    }
    store.save_state("r1", state, now)
    store.close()
    res = status_line("--config", str(cfg), "--state", str(db))
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.startswith("shop ▶ PRODUCTION 5% · gates ✓ · hold 4m")
    other = status_line("--config", str(cfg), "--env", "staging", "--state", str(db))
    assert other.returncode == 2 and "environment 'staging' is not defined" in other.stderr


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    not_ours = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(not_ours)) as conn:
        conn.execute("create table t(a)")
    for args, says in (
        (["--sandbox", "--state", str(not_ours)], "is not b2tui's state file"),
        (["--sandbox", "--json"], "--line and --json exclude each other"),
        (["--sandbox", "--bogus"], "unknown argument '--bogus'"),
        (["--config", str(tmp_path / "missing.toml")], "file not found"),
    ):
        res = subprocess.run(
            [sys.executable, "-m", "b2tui", "status", "--line", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert res.returncode == 2 and says in res.stderr, (args, res.stderr)
        assert len(res.stderr.splitlines()) == 1 and res.stdout == ""


def test_a_bad_config_gets_the_full_readers_line_and_exit_2(tmp_path: Path) -> None:
    """The fast path reads only what the line uses; where that is wrong or missing, the
    message is the one ``load_settings`` gives (b2tui/quickstatus.py: lean_settings)."""
    from b2tui.config import ConfigError, load_settings

    def full_says(cfg: Path, env: str) -> str:
        try:
            load_settings(cfg).environment(env)
        except ConfigError as e:
            return e.problems[0]
        raise AssertionError(f"{cfg} is valid")

    kube = '[store]\nbackend = "kube"\n'
    cases = {
        "toml": '[service]\nname = "shop"\n[environments.production\n',
        "no-env": f"{kube}[environments.staging]\n",
        "none": '[service]\nname = "shop"\n',
        "backend": '[store]\nbackend = "etcd"\n[environments.production]\n',
        "typo": f'{kube}namespce = "b2tui"\n[environments.production]\n',
        "type": f"{kube}[environments.production]\nnamespace = 5\n",
    }
    env = {k: v for k, v in os.environ.items() if k != "B2TUI_CONFIG"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "b2tui", "status", "--line", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=env,
        )

    for name, text in cases.items():
        cfg = tmp_path / f"{name}.toml"
        cfg.write_text(text)
        res = run("--config", str(cfg))
        assert (res.returncode, res.stdout) == (2, ""), (name, res)
        assert res.stderr == full_says(cfg, "production") + "\n", name
    ok = tmp_path / "ok.toml"
    ok.write_text(f"{kube}[environments.production]\n")
    res = run("--config", str(ok), "--state", str(tmp_path / "s.db"))
    assert res.returncode == 2 and res.stderr == (
        f'b2tui: --state is for the SQLite store; {ok} sets [store] "kube"\n'
    )
    res = run()
    assert res.returncode == 2 and res.stderr == (
        "b2tui: no --config given and no ./b2tui.toml; or pass --sandbox\n"
    )


def test_an_error_of_the_line_masks_the_configs_secrets(tmp_path: Path) -> None:
    """The lean reader registers no secret; an error that echoes one (here a kube context
    that is also the Prometheus password) is masked with the full reader's secrets."""
    (tmp_path / "b2tui.toml").write_text(
        '[service]\nname = "shop"\n\n[store]\nbackend = "kube"\ncontext = "hunter2-ctx"\n\n'
        '[prometheus]\nurl = "https://ops:hunter2-ctx@prom.example:9090"\n\n'
        '[environments.production]\nnamespace = "shop"\n'
    )
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
        'clusters:\n- name: c\n  cluster: {server: "https://127.0.0.1:1"}\n'
        "contexts:\n- name: a\n  context: {cluster: c, user: u}\n"
        "users:\n- name: u\n  user: {token: t}\n"
    )
    res = subprocess.run(
        [sys.executable, "-m", "b2tui", "status", "--line"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONPATH": str(ROOT)},
    )
    assert res.returncode == 1, res
    assert "context *** not found in kubeconfig" in res.stderr
    assert "hunter2" not in res.stderr + res.stdout
