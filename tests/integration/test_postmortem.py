"""`b2tui postmortem`: the write-up of a sandbox incident, and filing it on GitHub (a
local server built from GitHub's REST documentation)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.github_api import GitHubApi
from tests.support.services import wait_until

ROOT = Path(__file__).parents[2]
TOKEN = "ghp_postmortemTOKENvalue123"


def b2tui(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b2tui", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A sandbox prod-error-spike run, finished: (state file, run id)."""
    db = tmp_path_factory.mktemp("pm") / "s.db"
    res = b2tui(
        "demo",
        "--headless",
        "--json",
        "--speed",
        "max",
        "--state",
        str(db),
        "--scenario",
        "prod-error-spike",
    )
    assert res.returncode == 3, res.stderr
    run_id = json.loads(res.stdout.splitlines()[0])["run_id"]
    return db, run_id


def test_the_write_up_of_a_rollback(incident: tuple[Path, str]) -> None:
    db, run_id = incident
    res = b2tui("postmortem", run_id, "--state", str(db))
    assert res.returncode == 0, res.stderr
    md = res.stdout
    assert md.startswith("# Incident: b2connect production ")
    assert f"rolled back ({run_id})" in md.splitlines()[0]
    for heading in (
        "## Summary",
        "## What was deployed",
        "## Timeline",
        "## Gates around the breach",
        "## Who pressed what",
        "## Rollback and recovery",
        "## Cause",
        "## Follow-ups",
    ):
        assert heading in md, heading
    assert "range `9f3c2a1.." in md and "- digest: `sha256:" in md
    assert "revision 7, `registry.sandbox/b2connect:prod-9f3c2a1`" in md
    assert "| production | **canary error_rate FAIL**: " in md
    assert "**ROLLBACK** started by engine: error_rate" in md
    assert "### canary error_rate" in md and "| fail ← |" in md
    assert "- time to recover (rollback → restored, gates verified green): 20 s" in md
    assert "| sandbox | sign-off | Code review approved signed off | accepted |" in md
    # Cause and follow-ups are for people to write.
    assert "## Follow-ups\n\n- [ ] \n" in md


def test_to_a_file_and_unknown_runs(incident: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = incident
    out = tmp_path / "pm.md"
    res = b2tui("postmortem", run_id, "--state", str(db), "--output", str(out))
    assert res.returncode == 0 and res.stdout == f"wrote {out}\n"
    assert out.read_text().startswith("# Incident: ")
    bad = b2tui("postmortem", "r-nope", "--state", str(db))
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("b2tui: no run r-nope in ") and len(bad.stderr.splitlines()) == 1


def test_a_run_in_progress_is_marked_so(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    demo = subprocess.Popen(
        [sys.executable, "-m", "b2tui", "demo", "--headless", "--speed", "30", "--state", str(db)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )

    def in_production() -> bool:
        if not db.exists():
            return False
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT id, state FROM runs").fetchall()
        return bool(rows) and json.loads(rows[0][1] or "{}").get("phase") == "production"

    try:
        wait_until(in_production, 120, "the demo in production")
    finally:
        demo.kill()
        demo.wait()
    with sqlite3.connect(db) as conn:
        (run_id,) = conn.execute("SELECT id FROM runs").fetchone()
    res = b2tui("postmortem", run_id, "--state", str(db))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("# Deployment: b2connect production ")
    assert "in progress" in res.stdout.splitlines()[0]
    assert "> **In progress**" in res.stdout


@pytest.fixture
def github() -> Iterator[GitHubApi]:
    with GitHubApi(
        {"acme/shop": TOKEN, "acme/closed": TOKEN}, issues_disabled={"acme/closed"}
    ) as api:
        yield api


def config(tmp_path: Path, api: GitHubApi, repo: str = "acme/shop") -> Path:
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text(
        '[service]\nname = "b2connect"\n[environments.production]\nnamespace = "p"\n'
        f'[notify]\ngithub_token = "env:GH_TOKEN"\ngithub_repo = "{repo}"\n'
        f'github_api = "{api.url}"\n'
    )
    return cfg


def test_github_files_the_issue_and_prints_its_url(
    incident: tuple[Path, str], tmp_path: Path, github: GitHubApi
) -> None:
    db, run_id = incident
    cfg = config(tmp_path, github)
    res = b2tui(
        "postmortem",
        run_id,
        "--config",
        str(cfg),
        "--state",
        str(db),
        "--github",
        env={"GH_TOKEN": TOKEN},
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout == "https://github.com/acme/shop/issues/1\n"
    (issue,) = github.issues["acme/shop"]
    assert [label["name"] for label in issue["labels"]] == ["incident", "deployment"]
    assert issue["title"].startswith("Incident: b2connect production ")
    assert "## Timeline" in issue["body"] and "## Cause" in issue["body"]
    (_, _, headers, _) = github.requests[0]
    assert headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("setup", "code", "says"),
    [
        (
            "bad-token",
            2,
            "GitHub answered 401: Bad credentials: the token (env:GH_TOKEN) is not valid",
        ),
        ("unknown-repo", 2, "GitHub answered 404: Not Found: no repository acme/nope"),
        ("issues-off", 2, "GitHub answered 410: Issues are disabled for this repo"),
        ("422", 2, "GitHub answered 422: Validation Failed (title custom)"),
        ("503", 1, "GitHub answered 503: Server Error"),
    ],
)
def test_github_refusals_are_one_line_and_file_nothing(
    incident: tuple[Path, str],
    tmp_path: Path,
    github: GitHubApi,
    setup: str,
    code: int,
    says: str,
) -> None:
    db, run_id = incident
    repo = {"unknown-repo": "acme/nope", "issues-off": "acme/closed"}.get(setup, "acme/shop")
    token = "ghp_wrongTOKEN999" if setup == "bad-token" else TOKEN
    if setup in ("422", "503"):
        github.fail_with = int(setup)
    cfg = config(tmp_path, github, repo)
    res = b2tui(
        "postmortem",
        run_id,
        "--config",
        str(cfg),
        "--state",
        str(db),
        "--github",
        env={"GH_TOKEN": token},
    )
    assert res.returncode == code, res.stderr
    assert res.stdout == ""
    assert len(res.stderr.splitlines()) == 1 and says in res.stderr, res.stderr
    assert token not in res.stderr
    assert all(not issues for issues in github.issues.values())


def test_github_needs_a_config(incident: tuple[Path, str]) -> None:
    db, run_id = incident
    res = b2tui("postmortem", run_id, "--state", str(db), "--github")
    assert res.returncode == 2 and "--github needs --config F" in res.stderr


def test_the_rooms_writer_puts_the_file_here(
    incident: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from b2tui.cli.postmortem import file_writer

    db, run_id = incident
    monkeypatch.chdir(tmp_path)
    said = file_writer(run_id, str(db), None, None)()
    out = tmp_path / f"postmortem-{run_id}.md"
    assert said == (
        f"wrote {out}; to file it as an issue:"
        f" b2tui postmortem {run_id} --state {db} --config b2tui.toml --github"
    )
    assert out.read_text().startswith("# Incident: b2connect production ")


def test_replay_of_an_unknown_run_or_a_bad_speed_is_one_line(incident: tuple[Path, str]) -> None:
    db, run_id = incident
    for args, says in (
        (["replay", "r-nope", "--state", str(db)], "no run r-nope in "),
        (["replay", run_id, "--state", str(db), "--speed", "0"], "outside 0.1 to 10000"),
    ):
        res = b2tui(*args)
        assert res.returncode == 2 and says in res.stderr, res.stderr
        assert len(res.stderr.splitlines()) == 1
