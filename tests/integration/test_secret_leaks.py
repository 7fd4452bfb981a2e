"""No planted secret reaches anything b2tui writes, along every failing path, for real.

Secrets are planted as ``env:`` and ``file:`` references and inline values: Prometheus
basic auth (password from a file), a bearer token, URL userinfo and a cookie header; a
token in a ``[[smoke.http]]`` URL query and an ``Authorization`` header of that check;
Slack webhook URLs whose path is the credential; a GitHub token. Each path then fails
against a real HTTP server on loopback that quotes the request back in its error body
(request line, every header — ``invalid header Basic YjJ0dWk6…`` — and the body), and
b2tui runs as a subprocess. stdout, stderr, the raw bytes of the SQLite state file (WAL
included) and every file the run wrote are searched for every planted value in every
encoding it could travel in: as is, percent-encoded, JSON-escaped, base64 (standard and
URL-safe, padded or not) and ``base64(user:password)``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from b2tui.adapters.http import LAST_DEPLOYED_FILE
from tests.integration.test_real_run import (
    Result,
    Rig,
    Workspace,
    healthy_metrics,  # noqa: F401  (fixture)
    make_workspace,
    real_run,
    reset_canary_on_rollback,
    rig,  # noqa: F401  (fixture)
)
from tests.support.docker_services import (
    dockerd,  # noqa: F401  (fixture)
    registry,  # noqa: F401  (fixture)
)
from tests.support.http_recorder import HttpRecorder, Reply

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def encodings(value: str) -> set[str]:
    """Every form ``value`` may travel in, built here, not by the module under test."""
    raw = value.encode()
    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        json.dumps(value)[1:-1],
    }
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        forms |= {enc(raw).decode(), enc(raw).decode().rstrip("=")}
    return forms


def leaks(blob: bytes, planted: Iterable[str], where: str) -> list[str]:
    """``where: value (form)`` for every planted value found in ``blob`` in any encoding."""
    found = []
    for value in planted:
        for form in encodings(value):
            if form.encode() in blob:
                found.append(f"{where}: {value!r} as {form!r}")
    return found


def run_cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b2tui", *args],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def echo_server() -> Iterator[HttpRecorder]:
    """A Prometheus stand-in that rejects every query, quoting the request back."""
    with HttpRecorder() as rec:
        rec.route("GET", "/api/v1/query", Reply(400, echo="text"))
        yield rec


# --- Prometheus: every credential style, echoed back in the error ----------------------

PROM_USER = "b2tui"
PROM_PASSWORD = "promPass-Wq83zLx0"
PROM_TOKEN = "promTok-Hs61vBn4"
URL_PASSWORD = "urlPass-Cj27dKe9"
COOKIE = "cookieVal-Ng45tRy2"


@pytest.mark.parametrize(
    "style",
    ["basic-file", "bearer-env", "url-userinfo", "cookie-inline"],
)
def test_gates_against_an_echoing_prometheus_show_no_secret(
    style: str, echo_server: HttpRecorder, tmp_path: Path
) -> None:
    password_file = tmp_path / "prom-password"
    password_file.write_text(PROM_PASSWORD + "\n")
    url = echo_server.url
    creds = {
        "basic-file": f'username = "{PROM_USER}"\npassword = "file:{password_file}"\n',
        "bearer-env": 'bearer_token = "env:B2_PROM_TOKEN"\n',
        "url-userinfo": "",
        "cookie-inline": f'headers = {{ Cookie = "sid={COOKIE}" }}\n',
    }[style]
    if style == "url-userinfo":
        url = url.replace("http://", f"http://{PROM_USER}:{URL_PASSWORD}@")
    config = tmp_path / "b2tui.toml"
    config.write_text(
        f'[prometheus]\nurl = "{url}"\n{creds}'
        '[environments.staging]\nnamespace = "staging"\n'
        '[environments.production]\nnamespace = "prod"\nselector = \'app="web"\'\n'
    )
    planted = {
        "basic-file": [PROM_PASSWORD, f"{PROM_USER}:{PROM_PASSWORD}"],
        "bearer-env": [PROM_TOKEN],
        "url-userinfo": [URL_PASSWORD, f"{PROM_USER}:{URL_PASSWORD}"],
        "cookie-inline": [COOKIE],
    }[style]
    res = run_cli(
        ["gates", "--config", str(config), "--env", "production"],
        tmp_path,
        {"B2_PROM_TOKEN": PROM_TOKEN, "HOME": str(tmp_path)},
    )
    # The server really did get (and echo) the credential: otherwise nothing is tested.
    sent = echo_server.requests[0].headers
    assert "authorization" in sent or "cookie" in sent
    assert res.returncode == 1, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and "rejected" in lines[0] and "***" in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    found = leaks(res.stdout.encode(), planted, "stdout") + leaks(
        res.stderr.encode(), planted, "stderr"
    )
    assert not found, "\n".join(found) + "\n" + res.stderr


# --- real runs: smoke, GitHub, webhooks, changelog, the state file ---------------------

SMOKE_QUERY = "smokeQ-Rt55pW0kz"
SMOKE_HEADER = "smokeHdr-Yb63mC1s"
GITHUB_TOKEN = "ghp_fileTok7Hq2Vn5Lm"
DEPLOY_HOOK_SECRET = "hookDep-Kx9s2Qa7"
INCIDENT_HOOK_SECRET = "hookInc-Pm4d7Wz3"
DEPLOY_PATH = f"/services/T9/B9/{DEPLOY_HOOK_SECRET}"
INCIDENT_PATH = f"/services/T9/B8/{INCIDENT_HOOK_SECRET}"
RUN_PLANTED = [
    PROM_TOKEN,
    COOKIE,
    SMOKE_QUERY,
    SMOKE_HEADER,
    GITHUB_TOKEN,
    DEPLOY_HOOK_SECRET,
    INCIDENT_HOOK_SECRET,
]
GH_REPO = "acme/b2connect"


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    out = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, env=env, capture_output=True, text=True
    )
    return out.stdout.strip()


def planted_workspace(root: Path, on: Rig, rec: HttpRecorder, smoke: Reply) -> Workspace:
    """The e2e workspace with a secret in every place a secret can be configured.

    The recorder plays the smoke target, both Slack webhooks and the GitHub API; every
    error answer quotes the request (its credentials included) back.
    """
    ws = make_workspace(root, on, rec)
    repo = ws.root / "repo"
    # A deploy since the last one that fixes an issue: the notifier will close #7.
    (repo / LAST_DEPLOYED_FILE).write_text(_git(repo, "rev-parse", "HEAD") + "\n")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "Fix the cart\n\nFixes #7")
    head = _git(repo, "rev-parse", "HEAD")
    token_file = ws.root / "github-token"
    token_file.write_text(GITHUB_TOKEN + "\n")
    text = ws.config.read_text()
    smoke_url = f'url = "{rec.url}/healthz"'
    test_cmd = 'test = "echo 412 passed"'
    assert smoke_url in text and "[prometheus]\n" in text and test_cmd in text
    # A command that prints a secret from its environment: its log lines are stored too.
    text = text.replace(test_cmd, 'test = "echo using $B2_PROM_TOKEN; echo 412 passed"')
    text = text.replace(
        smoke_url,
        f'url = "{rec.url}/healthz?token={SMOKE_QUERY}&v=1"\n'
        f'headers = {{ Authorization = "Bearer {SMOKE_HEADER}" }}\nretries = 0',
    )
    text = text.replace(
        "[prometheus]\n",
        '[prometheus]\nbearer_token = "env:B2_PROM_TOKEN"\n'
        f'headers = {{ Cookie = "sid={COOKIE}" }}\n',
    )
    text += (
        f'github_token = "file:{token_file}"\n'
        f'github_repo = "{GH_REPO}"\ngithub_api = "{rec.url}/gh"\n'
    )
    ws.config.write_text(text)
    ws.env.update(
        B2_PROM_TOKEN=PROM_TOKEN,
        B2_DEPLOY_HOOK=f"{rec.url}{DEPLOY_PATH}",
        B2_INCIDENT_HOOK=f"{rec.url}{INCIDENT_PATH}",
    )
    rec.route("GET", "/healthz", smoke)
    rec.route("POST", DEPLOY_PATH, Reply(500, echo="json"))
    rec.route("POST", INCIDENT_PATH, Reply(500, echo="json"))
    rec.route("GET", f"/gh/repos/{GH_REPO}/commits/{head}/status", Reply(500, echo="text"))
    rec.route("GET", f"/gh/repos/{GH_REPO}/commits/{head}/check-runs", Reply(500, echo="text"))
    rec.route("POST", f"/gh/repos/{GH_REPO}/issues/7/comments", Reply(500, echo="json"))
    return ws


def assert_nothing_leaked(ws: Workspace, res: Result) -> None:
    """No planted value in stdout, stderr, the state file (+ WAL) or any file written."""
    found = leaks(res.stdout.encode(), RUN_PLANTED, "stdout")
    found += leaks(res.stderr.encode(), RUN_PLANTED, "stderr")
    # Only the config and the token file may hold a secret: the operator wrote those.
    written = [
        p
        for p in ws.root.rglob("*")
        if p.is_file() and p.name not in ("b2tui.toml", "github-token")
    ]
    assert ws.state in written and ws.changelog.exists() is (ws.changelog in written)
    for path in written:
        found += leaks(path.read_bytes(), RUN_PLANTED, str(path.relative_to(ws.root)))
    assert not found, "\n".join(found) + "\n" + res.tail()


def assert_secrets_were_sent(rec: HttpRecorder, res: Result) -> None:
    """The servers did receive (and quote back) the secrets, and the test command printed
    one: the test is not vacuous."""
    printed = [e["line"] for e in res.of("log") if e["source"] == "test"]
    assert "using ***" in printed, printed
    smoke = rec.requests_to("/healthz", "GET")
    assert smoke and SMOKE_QUERY in smoke[0].query
    assert smoke[0].headers["authorization"] == f"Bearer {SMOKE_HEADER}"
    github = [r for r in rec.requests if r.path.startswith("/gh/")]
    assert github and all(r.headers["authorization"] == f"Bearer {GITHUB_TOKEN}" for r in github)


@pytest.fixture
def run_recorder() -> Iterator[HttpRecorder]:
    with HttpRecorder() as rec:
        yield rec


def test_a_successful_run_with_failing_channels_leaks_nothing(
    rig: Rig,  # noqa: F811
    run_recorder: HttpRecorder,
    healthy_metrics: None,  # noqa: F811
    tmp_path: Path,
) -> None:
    """CI status, the deployments webhook and closing #7 all fail with echoed requests."""
    ws = planted_workspace(tmp_path, rig, run_recorder, Reply(200, "ok"))
    res = real_run(ws, "5ec0de1a2b3c")
    assert res.code == 0, res.tail()
    notified = {e["channel"]: e for e in res.of("notified")}
    assert not notified["slack deployments"]["ok"], notified
    assert notified["changelog"]["ok"], notified
    assert not notified["github #7"]["ok"], notified
    assert run_recorder.requests_to(DEPLOY_PATH, "POST")
    assert run_recorder.requests_to(f"/gh/repos/{GH_REPO}/issues/7/comments", "POST")
    assert_secrets_were_sent(run_recorder, res)
    assert_nothing_leaked(ws, res)
    assert "***" in res.stdout  # the quoted requests were masked, not dropped


def test_a_rolled_back_run_with_a_failing_incident_webhook_leaks_nothing(
    rig: Rig,  # noqa: F811
    run_recorder: HttpRecorder,
    healthy_metrics: None,  # noqa: F811
    tmp_path: Path,
) -> None:
    ws = planted_workspace(tmp_path, rig, run_recorder, Reply(200, "ok"))
    rig.prod_app.set_track("canary", error_ratio=0.05)
    res = real_run(ws, "bad5ec0de9", on_event=reset_canary_on_rollback(rig.prod_app, "canary"))
    assert res.code == 3, res.tail()
    notified = {e["channel"]: e for e in res.of("notified")}
    assert not notified["slack incident"]["ok"], notified
    assert run_recorder.requests_to(INCIDENT_PATH, "POST")
    assert_secrets_were_sent(run_recorder, res)
    assert_nothing_leaked(ws, res)


def test_a_failing_smoke_check_leaks_nothing(
    rig: Rig,  # noqa: F811
    run_recorder: HttpRecorder,
    healthy_metrics: None,  # noqa: F811
    tmp_path: Path,
) -> None:
    ws = planted_workspace(tmp_path, rig, run_recorder, Reply(503, echo="text"))
    res = real_run(ws, "5a0e5a0e51")
    assert res.code == 5, res.tail()
    finished = res.one("run_finished")
    assert finished["outcome"] == "aborted" and "token=***" in finished["reason"], finished
    assert_secrets_were_sent(run_recorder, res)
    assert_nothing_leaked(ws, res)
