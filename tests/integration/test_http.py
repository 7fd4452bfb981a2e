"""HttpChecks and WebhookNotifier against a real HTTP server on loopback and real git."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from b2tui.adapters.http import (
    CHANGELOG_HEADER,
    LAST_DEPLOYED_FILE,
    HttpChecks,
    WebhookNotifier,
    issues_fixed,
    mask_secret_text,
    mask_url,
)
from b2tui.config import HttpCheck, NotifySettings, Secret, ServiceSettings, Settings
from b2tui.domain.checklist import ChecklistItem, ItemKind
from b2tui.ports import CheckResult, Checks, Notification, Notifier
from tests.support.http_recorder import HttpRecorder, Reply, running_recorder
from tests.support.services import free_port, require_binary

pytestmark = pytest.mark.integration

recorder = pytest.fixture(running_recorder)

HOOK_SECRET = "T0001/B0002/s3cretHookPath"
TOKEN = "ghp_testtoken_s3cret"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture everything, httpx and httpcore at DEBUG included."""
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "b2tui"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


def _assert_no_secret(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    assert caplog.records, "expected httpx to log the requests"
    for record in caplog.records:
        message = record.getMessage()
        for secret in secrets:
            assert secret not in message, f"{record.name} logged a secret: {message}"


def _checks(**notify: object) -> HttpChecks:
    return HttpChecks(Settings(notify=NotifySettings(**notify)), backoff=0.01)  # type: ignore[arg-type]


def _note(kind: str = "deployed", **kw: object) -> Notification:
    base: dict[str, object] = {
        "kind": kind,
        "service": "b2connect",
        "environment": "production",
        "version": "1.4.2",
        "image": "registry.example.com/b2connect:prod-1a2b3c4",
        "run_id": "r-20250101-001",
        "by": "alice",
        "duration": 1325.0,
    }
    base.update(kw)
    return Notification(**base)  # type: ignore[arg-type]


# --- smoke checks ------------------------------------------------------------------------


def test_adapters_implement_the_ports() -> None:
    assert isinstance(_checks(), Checks)
    assert isinstance(WebhookNotifier(NotifySettings()), Notifier)


async def test_smoke_check_passes(recorder: HttpRecorder) -> None:
    recorder.route("GET", "/healthz", Reply(200, "status: ok"))
    check = HttpCheck(
        url=f"{recorder.url}/healthz", body_contains="ok", headers={"X-Probe": "b2tui"}
    )
    result = await _checks().http(check)
    assert result.passed is True
    assert result.detail.startswith("200 in ") and result.detail.endswith(" ms")
    (req,) = recorder.requests
    assert req.method == "GET" and req.headers["x-probe"] == "b2tui"


async def test_wrong_status_fails_with_detail(recorder: HttpRecorder) -> None:
    recorder.route("GET", "/healthz", Reply(503, "down"))
    result = await _checks().http(HttpCheck(url=f"{recorder.url}/healthz", retries=0))
    assert result.passed is False
    assert result.detail == f"expected 200, got 503 (GET {recorder.url}/healthz)"
    assert len(recorder.requests) == 1


async def test_method_and_expected_status_are_honoured(recorder: HttpRecorder) -> None:
    recorder.route("POST", "/login", Reply(302, "", headers={"Location": "/home?sid=abc"}))
    check = HttpCheck(url=f"{recorder.url}/login", method="post", expect_status=302)
    assert (await _checks().http(check)).passed is True
    result = await _checks().http(HttpCheck(url=f"{recorder.url}/login", method="POST", retries=0))
    assert result.passed is False
    assert "expected 200, got 302 to /home?sid=***" in result.detail


async def test_missing_body_substring_fails(recorder: HttpRecorder) -> None:
    recorder.route("GET", "/healthz", Reply(200, "degraded"))
    check = HttpCheck(url=f"{recorder.url}/healthz", body_contains="ok", retries=0)
    result = await _checks().http(check)
    assert result.passed is False
    assert result.detail.startswith("body lacks 'ok'")


async def test_slow_server_fails_with_timeout(recorder: HttpRecorder) -> None:
    recorder.route("GET", "/slow", Reply(200, "ok", delay=2.0))
    check = HttpCheck(url=f"{recorder.url}/slow", timeout=0.3, retries=0)
    result = await _checks().http(check)
    assert result.passed is False
    assert result.detail.startswith("timeout after 0.3 s")


async def test_retries_until_the_server_recovers(recorder: HttpRecorder) -> None:
    recorder.route("GET", "/healthz", Reply(503), Reply(502), Reply(200, "ok"))
    result = await _checks().http(HttpCheck(url=f"{recorder.url}/healthz", retries=2))
    assert result.passed is True
    assert len(recorder.requests_to("/healthz")) == 3


async def test_retries_exhausted_reports_the_last_problem(recorder: HttpRecorder) -> None:
    recorder.route("GET", "/healthz", Reply(503))
    result = await _checks().http(HttpCheck(url=f"{recorder.url}/healthz", retries=2))
    assert result.passed is False
    assert result.detail.endswith(", 3 attempts)")
    assert len(recorder.requests) == 3


async def test_connection_refused_names_host_and_port() -> None:
    port = free_port()
    check = HttpCheck(url=f"http://127.0.0.1:{port}/healthz", retries=1)
    result = await _checks().http(check)
    assert result.passed is False
    assert result.detail.startswith(f"connection refused to 127.0.0.1:{port}")


async def test_query_values_are_masked_in_details_and_logs(
    recorder: HttpRecorder, debug_logs: pytest.LogCaptureFixture
) -> None:
    recorder.route("GET", "/healthz", Reply(500))
    url = f"{recorder.url}/healthz?token=qs-s3cret&verbose=1"
    result = await _checks().http(HttpCheck(url=url, retries=0))
    assert result.passed is False
    assert "token=***&verbose=***" in result.detail
    assert "qs-s3cret" not in result.detail
    assert recorder.requests[0].query == "token=qs-s3cret&verbose=1"  # the real URL was used
    _assert_no_secret(debug_logs, "qs-s3cret")


def test_mask_helpers() -> None:
    assert mask_url("https://u:pw@h:8443/p?a=1&b") == "https://u:***@h:8443/p?a=***&***"
    text = "POST https://hooks.example/T1%2FX failed: T1/X"
    assert mask_secret_text(text, ["T1/X", ""]) == "POST https://hooks.example/*** failed: ***"


# --- notifications -----------------------------------------------------------------------


def _blocks_text(payload: dict[str, object]) -> str:
    """All text of a Block Kit payload, to assert on what a reader sees."""
    out: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(payload["blocks"])
    return "\n".join(out)


async def test_incident_sends_one_block_kit_message_without_leaking_the_url(
    recorder: HttpRecorder, monkeypatch: pytest.MonkeyPatch, debug_logs: pytest.LogCaptureFixture
) -> None:
    path = f"/services/{HOOK_SECRET}"
    recorder.route("POST", path, Reply(200, "ok"))
    monkeypatch.setenv("SLACK_INCIDENT_WEBHOOK", recorder.url + path)
    notifier = WebhookNotifier(
        NotifySettings(incident_webhook=Secret("env:SLACK_INCIDENT_WEBHOOK"), changelog=None)
    )
    note = _note(
        "incident",
        reason="error rate 2.1 % > 0.1 % for 3 samples",
        target="b2connect rev 7 (registry.example.com/b2connect:prod-0f0f0f0)",
        gates={"error_rate": "2.1 %", "p95_ms": "340 ms"},
    )
    results = await notifier.notify(note)

    assert results == [("slack incident", True, "posted to env:SLACK_INCIDENT_WEBHOOK (200)")]
    (req,) = recorder.requests
    payload = req.json
    assert req.path == path and payload["blocks"][0]["type"] == "header"
    seen = _blocks_text(payload)
    for expected in ("error rate 2.1 % &gt; 0.1 %", "error_rate", "2.1 %", "p95_ms", "340 ms"):
        assert expected in seen
    assert "b2connect rev 7" in seen and "r-20250101-001" in seen
    assert "Rollback" in payload["text"]  # the notification fallback
    _assert_no_secret(debug_logs, HOOK_SECRET, "s3cretHookPath")


async def test_failing_webhook_is_reported_not_raised(
    recorder: HttpRecorder, monkeypatch: pytest.MonkeyPatch, debug_logs: pytest.LogCaptureFixture
) -> None:
    path = f"/generic/{HOOK_SECRET}"
    recorder.route("POST", path, Reply(500, f"internal error at {path}"))
    monkeypatch.setenv("B2TUI_WEBHOOK", recorder.url + path)
    monkeypatch.delenv("SLACK_INCIDENT_WEBHOOK", raising=False)
    settings = NotifySettings(
        webhook=Secret("env:B2TUI_WEBHOOK"),
        incident_webhook=Secret("env:SLACK_INCIDENT_WEBHOOK"),
        changelog=None,
    )
    results = await WebhookNotifier(settings).notify(_note("incident", reason="p95"))

    assert [(c, ok) for c, ok, _ in results] == [("slack incident", False), ("webhook", False)]
    assert results[0][2] == (
        "env:SLACK_INCIDENT_WEBHOOK: environment variable SLACK_INCIDENT_WEBHOOK is not set"
    )
    assert results[1][2].startswith("env:B2TUI_WEBHOOK answered 500")
    assert all(HOOK_SECRET not in d for _, _, d in results)
    assert recorder.requests[0].json["reason"] == "p95"  # plain asdict(note)
    _assert_no_secret(debug_logs, HOOK_SECRET)


async def test_unreachable_webhook_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("B2TUI_WEBHOOK", f"http://127.0.0.1:{port}/hook/{HOOK_SECRET}")
    notifier = WebhookNotifier(NotifySettings(webhook=Secret("env:B2TUI_WEBHOOK"), changelog=None))
    ((channel, ok, detail),) = await notifier.notify(_note())
    assert (channel, ok) == ("webhook", False)
    assert detail == f"cannot post to env:B2TUI_WEBHOOK: connection refused to 127.0.0.1:{port}"


async def test_deployed_posts_block_kit_and_generic_json_and_writes_changelog(
    recorder: HttpRecorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    recorder.route("POST", "/slack", Reply(200, "ok"))
    recorder.route("POST", "/generic", Reply(204, ""))
    monkeypatch.setenv("SLACK_DEPLOYMENTS_WEBHOOK", recorder.url + "/slack")
    monkeypatch.setenv("B2TUI_WEBHOOK", recorder.url + "/generic")
    settings = NotifySettings(
        deployments_webhook=Secret("env:SLACK_DEPLOYMENTS_WEBHOOK"),
        webhook=Secret("env:B2TUI_WEBHOOK"),
        changelog="docs/CHANGELOG.md",
    )
    (tmp_path / "docs").mkdir()
    notifier = WebhookNotifier(settings, repo=str(tmp_path), today=lambda: date(2025, 3, 14))

    results = await notifier.notify(_note())

    assert [(c, ok) for c, ok, _ in results] == [
        ("slack deployments", True),
        ("webhook", True),
        ("changelog", True),
    ]
    slack = recorder.requests_to("/slack")[0].json
    assert [b["type"] for b in slack["blocks"]] == ["header", "section", "context"]
    fields = " ".join(f["text"] for f in slack["blocks"][1]["fields"])
    for expected in ("b2connect", "1.4.2", "production", "22m05s", "alice"):
        assert expected in fields
    assert "r-20250101-001" in slack["blocks"][2]["elements"][0]["text"]
    assert slack["text"] == "b2connect 1.4.2 deployed to production by alice (22m05s)"
    generic = recorder.requests_to("/generic")[0].json
    assert generic["kind"] == "deployed" and generic["run_id"] == "r-20250101-001"

    changelog = (tmp_path / "docs" / "CHANGELOG.md").read_text()
    assert changelog == CHANGELOG_HEADER + (
        "\n"
        "## [1.4.2] - 2025-03-14\n"
        "\n"
        "### Deployed\n"
        "\n"
        "- b2connect deployed to production: image"
        " `registry.example.com/b2connect:prod-1a2b3c4` (run `r-20250101-001`, by alice)\n"
    )

    again = await notifier.notify(_note())
    assert again[-1][0] == "changelog" and "already records" in again[-1][2]
    assert (tmp_path / "docs" / "CHANGELOG.md").read_text() == changelog


async def test_changelog_keeps_newest_first_and_groups_a_version(tmp_path: Path) -> None:
    existing = (
        CHANGELOG_HEADER + "\n- Checkout button copy\n\n## [1.4.1] - 2025-03-01\n\n### Fixed\n\n"
        "- Login loop\n\n[Unreleased]: https://example.com/compare/1.4.1...HEAD\n"
    )
    (tmp_path / "CHANGELOG.md").write_text(existing)
    notifier = WebhookNotifier(
        NotifySettings(), repo=str(tmp_path), today=lambda: date(2025, 3, 14)
    )
    await notifier.notify(_note(environment="staging", run_id="r-1"))
    await notifier.notify(_note(environment="production", run_id="r-2"))
    text = (tmp_path / "CHANGELOG.md").read_text()
    assert text.count("## [1.4.2] - 2025-03-14") == 1
    # Unreleased notes untouched, the new release above 1.4.1, both runs in one list.
    assert text.index("- Checkout button copy") < text.index("## [1.4.2]")
    assert text.index("## [1.4.2]") < text.index("## [1.4.1]")
    section = text[text.index("## [1.4.2]") : text.index("## [1.4.1]")]
    assert section.count("### Deployed") == 1
    assert "to staging" in section and "to production" in section
    assert section.index("run `r-1`") < section.index("run `r-2`")
    assert text.endswith("[Unreleased]: https://example.com/compare/1.4.1...HEAD\n")


# --- git ---------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _commit(repo: Path, message: str) -> str:
    _git(repo, "commit", "--allow-empty", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    require_binary("git", "git")
    path = tmp_path / "repo"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    _commit(path, "initial")
    return path


def _item(key: str) -> ChecklistItem:
    return ChecklistItem(key=key, title=key, kind=ItemKind.AUTOMATIC, owner="@devops")


def _repo_checks(repo: Path, **notify: object) -> HttpChecks:
    settings = Settings(service=ServiceSettings(repo=str(repo)), notify=NotifySettings(**notify))  # type: ignore[arg-type]
    return HttpChecks(settings)


async def test_code_merged_against_a_real_repository(repo: Path, tmp_path: Path) -> None:
    merged = await _repo_checks(repo).readiness(_item("code_merged"))
    assert merged.passed is True and merged.detail.endswith("is on main")

    _git(repo, "checkout", "-q", "-b", "feature")
    _commit(repo, "not merged yet")
    pending = await _repo_checks(repo).readiness(_item("code_merged"))
    assert pending.passed is False and "is not on main" in pending.detail

    plain = tmp_path / "plain"
    plain.mkdir()
    unknown = await _repo_checks(plain).readiness(_item("code_merged"))
    assert unknown.passed is None and "not a git repository" in unknown.detail


async def test_code_merged_prefers_origin_main(repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(repo), str(clone))
    on_remote = await _repo_checks(clone).readiness(_item("code_merged"))
    assert on_remote.passed is True and "origin/main" in on_remote.detail

    _commit(clone, "local only, not pushed")
    local = await _repo_checks(clone).readiness(_item("code_merged"))
    assert local.passed is False and "not on origin/main" in local.detail


async def test_ci_items_without_a_source_and_unknown_items_are_unknown(repo: Path) -> None:
    checks = _repo_checks(repo)
    tests = await checks.readiness(_item("tests_passing"))
    assert tests == (await checks.readiness(_item("build_ok")))
    assert tests.passed is None and tests.detail.startswith("no CI status source configured")
    other = await checks.readiness(_item("docs_updated"))
    assert other.passed is None and other.detail == "no automatic check for docs_updated"


async def test_ci_status_from_the_github_api(
    repo: Path, recorder: HttpRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    sha = _git(repo, "rev-parse", "HEAD")
    base = f"/repos/acme/shop/commits/{sha}"
    green = {"name": "build", "status": "completed", "conclusion": "success"}
    red = {"name": "unit tests", "status": "completed", "conclusion": "failure"}
    running = {"name": "e2e", "status": "in_progress", "conclusion": None}
    recorder.route(
        "GET",
        f"{base}/status",
        Reply(200, {"state": "success", "statuses": [{"context": "ci/lint", "state": "success"}]}),
    )
    recorder.route(
        "GET",
        f"{base}/check-runs",
        Reply(200, {"total_count": 1, "check_runs": [green]}),
        Reply(200, {"total_count": 2, "check_runs": [green, running]}),
        Reply(200, {"total_count": 2, "check_runs": [green, red]}),
    )
    checks = _repo_checks(
        repo,
        github_repo="acme/shop",
        github_token=Secret("env:GITHUB_TOKEN"),
        github_api=recorder.url,
    )
    ok = await checks.readiness(_item("tests_passing"))
    assert ok == CheckResult(True, f"CI of {sha[:7]}: 2 checks green")
    still = await checks.readiness(_item("tests_passing"))
    assert still.passed is None and "e2e (in_progress)" in still.detail
    failed = await checks.readiness(_item("build_ok"))
    assert failed.passed is False and "unit tests (failure)" in failed.detail
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in recorder.requests)


# --- issue closing -----------------------------------------------------------------------


def test_closing_keywords_are_recognised() -> None:
    messages = [
        "Fix crash on checkout\n\nFixes #12",
        "closes #7, Resolved: #8 and acme/shop#9",
        "See #5; other/repo#6 fixes nothing here; fixes other/repo#6",
    ]
    assert issues_fixed(messages, "acme/shop") == [7, 8, 12]


async def test_issues_named_by_the_deployed_commits_are_closed(
    repo: Path, recorder: HttpRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    settings = NotifySettings(
        changelog=None,
        github_token=Secret("env:GITHUB_TOKEN"),
        github_repo="acme/shop",
        github_api=recorder.url,
    )
    notifier = WebhookNotifier(settings, repo=str(repo))
    marker = repo / LAST_DEPLOYED_FILE

    first = await notifier.notify(_note(version="1.4.1"))
    assert first[0][1] is True and first[0][2].startswith("first deploy")
    assert marker.read_text().strip() == _git(repo, "rev-parse", "HEAD")

    _commit(repo, "Fix crash on checkout\n\nFixes #12")
    _commit(repo, "Refactor, no issue")
    head = _commit(repo, "Handle timeouts (closes #7)")
    for n in (7, 12):
        recorder.route("POST", f"/repos/acme/shop/issues/{n}/comments", Reply(201, {"id": n}))
        recorder.route("PATCH", f"/repos/acme/shop/issues/{n}", Reply(200, {"state": "closed"}))

    results = await notifier.notify(_note(version=head[:7]))

    assert results == [
        ("github #7", True, "closed acme/shop#7"),
        ("github #12", True, "closed acme/shop#12"),
    ]
    patches = [r for r in recorder.requests if r.method == "PATCH"]
    assert [r.path for r in patches] == ["/repos/acme/shop/issues/7", "/repos/acme/shop/issues/12"]
    assert all(r.json["state"] == "closed" for r in patches)
    comment = recorder.requests_to("/repos/acme/shop/issues/12/comments")[0].json["body"]
    assert "production" in comment and "r-20250101-001" in comment
    for r in recorder.requests:
        assert r.headers["authorization"] == f"Bearer {TOKEN}"
        assert TOKEN not in r.path + r.query + r.text  # in the header only
    assert marker.read_text().strip() == head

    # Nothing new since: no more API calls.
    before = len(recorder.requests)
    (again,) = await notifier.notify(_note(version=head[:7]))
    assert again[1] is True and again[2].startswith("no 'Fixes #N' in 0 commits")
    assert len(recorder.requests) == before


async def test_failed_issue_close_is_reported_and_retried_next_time(
    repo: Path, recorder: HttpRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    settings = NotifySettings(
        changelog=None,
        github_token=Secret("env:GITHUB_TOKEN"),
        github_repo="acme/shop",
        github_api=recorder.url,
    )
    notifier = WebhookNotifier(settings, repo=str(repo))
    since = _git(repo, "rev-parse", "HEAD")
    (repo / LAST_DEPLOYED_FILE).write_text(since + "\n")
    _commit(repo, "Fixes #3")
    recorder.route("POST", "/repos/acme/shop/issues/3/comments", Reply(403, {"message": TOKEN}))

    results = await notifier.notify(_note())

    assert [(c, ok) for c, ok, _ in results] == [("github #3", False), ("github issues", False)]
    assert results[0][2] == "commenting on acme/shop#3: GitHub answered 403"
    assert all(TOKEN not in d for _, _, d in results)
    assert (repo / LAST_DEPLOYED_FILE).read_text().strip() == since


# --- the review answered by GitHub ------------------------------------------------------


async def test_review_approved_from_github_reviews(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.github_reviews import GitHubReviews, pull, review

    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    sha = _git(repo, "rev-parse", "HEAD")
    gh = GitHubReviews("acme/shop", TOKEN)
    try:
        checks = _repo_checks(
            repo,
            github_repo="acme/shop",
            github_token=Secret("env:GITHUB_TOKEN"),
            github_api=gh.url,
        )
        item = dataclasses.replace(_item("review_approved"), check="github-review")

        # An unknown commit (not pushed): unknown, never a pass.
        unknown = await checks.readiness(item)
        assert unknown.passed is None and "does not know commit" in unknown.detail

        # 150 reviews over two pages: comments, then bob's approval on page 2.
        gh.pulls[sha] = [pull(12, "alice")]
        gh.reviews[12] = [review(i, "carol", "COMMENTED") for i in range(1, 150)]
        gh.reviews[12].append(review(150, "bob", "APPROVED", sha))
        ok = await checks.readiness(item)
        assert ok == CheckResult(True, "PR #12 approved by bob")
        assert any("page=2" in p for p in gh.paths), gh.paths

        # The author's own approval does not count.
        gh.reviews[12] = [review(1, "alice", "APPROVED")]
        own = await checks.readiness(item)
        assert own.passed is None and "only its author approved it" in own.detail

        # An approval later dismissed does not count; a later comment does not undo one.
        gh.reviews[12] = [review(1, "bob", "APPROVED"), review(2, "bob", "DISMISSED")]
        assert (await checks.readiness(item)).passed is None
        gh.reviews[12] = [review(1, "bob", "APPROVED"), review(2, "bob", "COMMENTED")]
        assert (await checks.readiness(item)).passed is True

        # No merged pull request holds the commit: unknown.
        gh.pulls[sha] = [pull(13, "alice", merged=False)]
        none = await checks.readiness(item)
        assert none.passed is None and none.detail == f"no merged pull request contains {sha[:7]}"
        assert TOKEN not in " ".join([unknown.detail, own.detail, none.detail])
    finally:
        gh.close()
