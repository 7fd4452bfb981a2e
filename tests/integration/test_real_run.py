"""``b2tui run --headless --json`` end to end, as a subprocess, against real services.

Nothing here is faked at the client level: the run goes through the real adapters
(``build_ports``) to

* the real Kubernetes control plane (``tests/realkube``: etcd + kube-apiserver +
  kube-controller-manager 1.20.2, a fake kubelet marking pods Ready) through the official
  client, with the token of the ``b2tui`` ServiceAccount that ``deploy/rbac.yaml`` makes
  (its Role and a RoleBinding in each namespace of the run, nothing more); production
  seeded from ``tests/fixtures/production.yaml`` and ``bluegreen.yaml``, staging created by
  the run's own server-side apply of ``tests/fixtures/staging.yaml`` (moved to its
  namespace; its Service ports have no ``protocol``, which b2tui fills in);
* a real ``dockerd`` and ``docker-registry`` (build from a ``FROM scratch`` context, push);
* a real Prometheus scraping three ``prometheus_client`` apps (staging, production with a
  ``stable`` and a ``canary`` track, blue-green), whose error ratios the tests change;
* an HTTP recorder standing in for the smoke target and the Slack webhooks;
* real git (readiness) and real shell commands (validate, smoke).

Durations are shortened in each test's ``b2tui.toml`` so one run takes ~20–40 s of real
time. The services are module-scoped; the cluster state carries over between tests, so
every assertion about "before" uses what the run itself recorded (``run_started``'s
``known_good``), never a fixture constant.
"""

from __future__ import annotations

import json
import os
import pwd
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from b2tui.adapters.kube import KubeCluster
from b2tui.adapters.store import Store
from b2tui.config import EnvironmentSettings
from b2tui.domain.phases import Strategy
from b2tui.ports import Target
from tests.realkube.cluster import RealKube
from tests.realkube.seed import rbac_docs, staging_manifest
from tests.support.docker_services import (
    DockerEngine,
    Registry,
    dockerd,  # noqa: F401  (fixture)
    registry,  # noqa: F401  (fixture)
)
from tests.support.http_recorder import HttpRecorder, Reply
from tests.support.kustomize import overlay
from tests.support.metrics_app import MetricsApp
from tests.support.netns import pod_server
from tests.support.prom import (
    FAST_ERROR_RATE,
    FAST_P95,
    FAST_REQUEST_RATE,
    PromServer,
    ScrapeTarget,
    start_prometheus,
)
from tests.support.services import free_port, require_binary, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
RUN_TIMEOUT = 150.0
"""Seconds one ``b2tui run`` may take before the test kills it (a run takes ~20–40 s)."""

OPERATOR = "e2e-operator"
"""``B2TUI_USER`` (and ``USER``) of the subprocess: outside the sandbox b2tui must ignore
it and sign as the account of its real uid."""
HOOK_SECRET = "s3cr3tXYZ"
DEPLOY_HOOK_PATH = f"/services/T0/B0/{HOOK_SECRET}"
INCIDENT_HOOK_PATH = f"/services/T0/B1/{HOOK_SECRET}"

STAGING, PROD, BG = "e2e-staging", "e2e-prod", "e2e-prod-bg"
"""The run's namespaces on the session's real control plane."""

TRACKS = {STAGING: ("stable",), PROD: ("stable", "canary"), BG: ("stable",)}
"""Metrics app per namespace and the ``track`` label values of its series."""

PHASES = ["readiness", "validate", "staging", "smoke", "production", "monitoring"]


# --- the rig -----------------------------------------------------------------------------


@dataclass
class Rig:
    """The module's running services."""

    kube: RealKube
    kubeconfig: Path
    docker: DockerEngine
    registry: Registry
    prom: PromServer
    staging_app: MetricsApp
    prod_app: MetricsApp
    bg_app: MetricsApp

    def deployment(self, ns: str, name: str) -> dict[str, Any]:
        return self.kube.deployment(ns, name)

    def image(self, ns: str, name: str) -> str:
        spec = self.deployment(ns, name)["spec"]
        return str(spec["template"]["spec"]["containers"][0]["image"])

    def replicas(self, ns: str, name: str) -> int:
        return int(self.deployment(ns, name)["spec"]["replicas"])

    def manifest_digest(self, tag: str, repo: str = "b2connect") -> str:
        """The registry's digest for ``repo:tag`` (a manifest HEAD, as a client asks)."""
        resp = httpx.head(
            f"{self.registry.url}/v2/{repo}/manifests/{tag}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
            timeout=5,
        )
        assert resp.status_code == 200, (tag, resp.status_code)
        return str(resp.headers["Docker-Content-Digest"])

    def tags(self, repo: str = "b2connect") -> list[str]:
        body = httpx.get(f"{self.registry.url}/v2/{repo}/tags/list", timeout=5).json()
        return list(body.get("tags") or [])


def _healthy(app: MetricsApp) -> None:
    """Back to 50 req/s, no errors, 40 ms on every track the app was started with."""
    for track in TRACKS[app.namespace]:
        app.set_track(track, rate=50.0, error_ratio=0.0, latency=0.04)


def run_kubeconfig(kube: RealKube, work: Path) -> Path:
    """deploy/rbac.yaml for the run: the ServiceAccount ``b2tui`` in production's namespace,
    the Role and a RoleBinding to that ServiceAccount in every namespace of the run (as the
    file's header says a user extends ``subjects``); a kubeconfig with its token."""
    for ns in (STAGING, PROD, BG):
        for doc in rbac_docs(ns):
            if doc["kind"] == "ServiceAccount" and ns != PROD:
                continue
            for subject in doc.get("subjects") or []:
                subject["namespace"] = PROD
            kube.apply(doc)
    token = kube.service_account_token(PROD, "b2tui")
    return kube.write_kubeconfig(
        work / "kubeconfig", token=token, context="test", namespace=PROD, user_name="b2tui"
    )


@pytest.fixture(scope="module")
def rig(
    realkube: RealKube,
    dockerd: DockerEngine,  # noqa: F811
    registry: Registry,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Rig]:
    """The real control plane, dockerd + registry, Prometheus scraping three metrics apps."""
    require_binary("git", "git")
    work = tmp_path_factory.mktemp("real-run")
    for ns in (STAGING, PROD, BG):  # only the namespace for staging: the run applies the rest
        realkube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    realkube.apply_yaml((FIXTURES / "production.yaml").read_text(), namespace=PROD)
    realkube.apply_yaml((FIXTURES / "bluegreen.yaml").read_text(), namespace=BG)
    kubeconfig = run_kubeconfig(realkube, work)
    # Staging and blue-green are judged as a whole service (no track in $selector); the
    # canary namespace exports both tracks, so $selector + track="canary" picks one.
    apps = [MetricsApp("web", namespace=ns, tracks=tracks).start() for ns, tracks in TRACKS.items()]
    prom: PromServer | None = None
    try:
        prom = start_prometheus(
            [ScrapeTarget(a.target, a.app, a.namespace) for a in apps], work / "prometheus"
        )
        # Every app scraped and rated before the first run: its gates then start with
        # data, not with Prometheus' own warm-up ("no scrape target").
        rates = 'sum by (namespace) (rate(http_requests_total{app="web"}[5s])) > 0'
        wait_until(
            lambda: prom is not None and len(prom.query(rates)) == len(apps),
            30,
            "Prometheus to rate the requests of every metrics app",
            step=0.25,
        )
        yield Rig(realkube, kubeconfig, dockerd, registry, prom, *apps)
    finally:
        if prom is not None:
            prom.stop()
        for a in apps:
            a.stop()


@pytest.fixture
def recorder() -> Iterator[HttpRecorder]:
    """Smoke target and Slack webhooks of one test."""
    with HttpRecorder() as rec:
        rec.route("GET", "/healthz", Reply(200, "ok"))
        rec.route("POST", DEPLOY_HOOK_PATH, Reply(200, "ok"))
        rec.route("POST", INCIDENT_HOOK_PATH, Reply(200, "ok"))
        yield rec


@pytest.fixture
def healthy_metrics(rig: Rig) -> Iterator[None]:
    """Every metrics app healthy before and after the test."""
    for app in (rig.staging_app, rig.prod_app, rig.bg_app):
        _healthy(app)
    yield
    for app in (rig.staging_app, rig.prod_app, rig.bg_app):
        _healthy(app)


# --- per-test workspace and config -------------------------------------------------------


@dataclass
class Workspace:
    """One test's config, git repo, docker context, changelog and state."""

    root: Path
    config: Path
    state: Path
    changelog: Path
    env: dict[str, str]


def _git_repo(path: Path) -> None:
    path.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    (path / "README.md").write_text("b2connect\n")
    for argv in (["init", "-q", "-b", "main"], ["add", "README.md"], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git", "-C", str(path), *argv], check=True, env=env)


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def make_workspace(
    root: Path, rig: Rig, rec: HttpRecorder, *, blue_green: bool = False, kustomize: bool = False
) -> Workspace:
    """Write ``b2tui.toml`` (short durations) and everything it points at under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    repo = root / "repo"
    _git_repo(repo)
    ctx = root / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello from b2tui\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /\n")
    changelog = root / "CHANGELOG.md"
    # Staging's manifests: the fixture's YAML file, or a Kustomize overlay of it.
    manifest = (
        str(overlay(root / "kustomize", STAGING, replicas=2))
        if kustomize
        else staging_manifest(STAGING, root)
    )
    if blue_green:
        production = f"""
[environments.production]
context = "test"
namespace = "{BG}"
deployment = "web"
service = "web"
selector = 'namespace="{BG}",app="web"'
strategy = "blue-green"
canary_steps = [{{ weight = 100, hold = "3s" }}]
monitoring_window = "8s"
rollout_timeout = "30s"
"""
    else:
        production = f"""
[environments.production]
context = "test"
namespace = "{PROD}"
deployment = "web"
service = "web"
selector = 'namespace="{PROD}",app="web"'
strategy = "canary"
traffic = "replicas"
canary_steps = [{{ weight = 5, hold = "3s" }}, {{ weight = 50, hold = "3s" }}, {{ weight = 100 }}]
monitoring_window = "8s"
rollout_timeout = "30s"
"""
    text = f"""
[service]
name = "b2connect"
image = {_toml_str(f"{rig.registry.host}/b2connect")}
repo = {_toml_str(str(repo))}

[commands]
pull = "true"
test = "echo 412 passed"
build = "true"
smoke = "true"
timeout = "30s"

[docker]
host = {_toml_str(rig.docker.url)}
context = {_toml_str(str(ctx))}

[prometheus]
url = {_toml_str(rig.prom.url)}
error_rate = {_toml_str(FAST_ERROR_RATE)}
p95_seconds = {_toml_str(FAST_P95)}
request_rate = {_toml_str(FAST_REQUEST_RATE)}
timeout = "5s"

[gates]
poll = "1s"
no_data_timeout = "20s"
consecutive_failures = 3

[smoke]
log_patterns = ["(?i)exception", "(?i)panic:"]
stable_for = "2s"

[[smoke.http]]
url = {_toml_str(f"{rec.url}/healthz")}
expect_status = 200

[environments.staging]
context = "test"
namespace = "{STAGING}"
deployment = "web"
service = "web"
manifests = [{_toml_str(manifest)}]
selector = 'namespace="{STAGING}",app="web"'
rollout_timeout = "30s"
{production}
[notify]
deployments_webhook = "env:B2_DEPLOY_HOOK"
incident_webhook = "env:B2_INCIDENT_HOOK"
changelog = {_toml_str(str(changelog))}
"""
    config = root / "b2tui.toml"
    config.write_text(text)
    docker_config = root / "docker-config"
    docker_config.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "KUBECONFIG": str(rig.kubeconfig),
        "DOCKER_CONFIG": str(docker_config),
        "B2TUI_USER": OPERATOR,
        "USER": OPERATOR,
        "B2_DEPLOY_HOOK": f"{rec.url}{DEPLOY_HOOK_PATH}",
        "B2_INCIDENT_HOOK": f"{rec.url}{INCIDENT_HOOK_PATH}",
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
    }
    return Workspace(root, config, root / "state.db", changelog, env)


# --- running b2tui -----------------------------------------------------------------------


@dataclass
class Result:
    """A finished ``b2tui`` process."""

    code: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of(kind)
        assert len(found) == 1, f"expected one {kind} event, got {len(found)}\n{self.tail()}"
        return found[0]

    def tail(self, n: int = 25) -> str:
        lines = self.stdout.splitlines()[-n:]
        return "stdout tail:\n" + "\n".join(lines) + "\nstderr:\n" + self.stderr[-3000:]


def b2tui(
    args: list[str],
    ws: Workspace,
    *,
    env: dict[str, str] | None = None,
    timeout: float = RUN_TIMEOUT,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> Result:
    """Run ``python -m b2tui ARGS`` in ``ws``; stream stdout so ``on_event`` sees each JSON
    event as it is printed (the test reacts to the run, as the world would)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "b2tui", *args],
        cwd=ws.root,
        env=env or ws.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    err: list[str] = []

    def pump_out() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def pump_err() -> None:
        assert proc.stderr is not None
        err.append(proc.stderr.read())

    threads = [threading.Thread(target=f, daemon=True) for f in (pump_out, pump_err)]
    for t in threads:
        t.start()
    out: list[str] = []
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            proc.kill()
            proc.wait()
            for t in threads:
                t.join(timeout=5)
            pytest.fail(
                f"b2tui {' '.join(args[:1])} still running after {timeout:.0f}s; stdout tail:\n"
                + "".join(out[-25:])
                + "\nstderr:\n"
                + "".join(err)[-3000:],
                pytrace=False,
            )
        if line is None:
            break
        out.append(line)
        # ``status --json`` pretty-prints one document; only a run prints JSON lines.
        event = _json_line(line)
        if event is not None and "event" in event:
            events.append(event)
            if on_event is not None:
                on_event(event)
    code = proc.wait(timeout=30)
    for t in threads:
        t.join(timeout=5)
    return Result(code, "".join(out), "".join(err), events)


def _json_line(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def real_run(ws: Workspace, sha: str, **kw: Any) -> Result:
    return b2tui(
        [
            "run",
            "--config",
            str(ws.config),
            "--headless",
            "--json",
            "--state",
            str(ws.state),
            "--version-sha",
            sha,
        ],
        ws,
        **kw,
    )


def phase_order(res: Result) -> list[str]:
    return [e["phase"] for e in res.of("phase_started")]


def assert_autopilot_signed(res: Result, ws: Workspace) -> None:
    """Manual readiness and smoke items were signed off by autopilot *as the running user*
    (``<account of the real uid>@<host> (autopilot)``, whatever ``$USER`` and
    ``$B2TUI_USER`` say), in the events and in the state database."""
    signer = f"{pwd.getpwuid(os.getuid()).pw_name}@{socket.gethostname()} (autopilot)"
    assert OPERATOR not in json.dumps(res.of("check")), "an environment variable named the operator"
    manual = {e["item"]: e["by"] for e in res.of("check") if e["manual"] and e["state"] == "passed"}
    for key in ("review_approved", "docs_updated", "rollback_plan"):
        assert manual.get(key) == signer, f"{key}: {manual.get(key)!r}\n{res.tail()}"
    assert any(e["group"] == "smoke" for e in res.of("check") if e["manual"] and e["by"])
    store = Store(ws.state)
    try:
        signed = store.signoffs(res.one("run_started")["run_id"])
    finally:
        store.close()
    assert {k for k, (user, _) in signed.items() if user == signer} >= {
        "review_approved",
        "docs_updated",
        "rollback_plan",
    }, signed


def reset_canary_on_rollback(app: MetricsApp, track: str) -> Callable[[dict[str, Any]], None]:
    """When the rollback starts the bad pods go away, and with them their errors."""

    def react(event: dict[str, Any]) -> None:
        if event["event"] == "rollback_started":
            app.set_track(track, error_ratio=0.0)

    return react


# --- case 1: canary to 100 % -------------------------------------------------------------


def test_canary_run_succeeds_end_to_end(
    rig: Rig, recorder: HttpRecorder, healthy_metrics: None, tmp_path: Path
) -> None:
    require_binary("kubectl", "kubectl")
    ws = make_workspace(tmp_path, rig, recorder, kustomize=True)
    sha = "1a2b3c4d5e6f"
    mark = rig.kube.audit_mark()
    res = real_run(ws, sha)

    assert res.code == 0, res.tail()
    finished = res.one("run_finished")
    assert finished["outcome"] == "succeeded", res.tail()
    assert phase_order(res) == PHASES
    assert [e["phase"] for e in res.of("phase_completed")] == PHASES
    assert_autopilot_signed(res, ws)
    cmds = {e["name"]: e["exit_code"] for e in res.of("command_finished")}
    assert cmds == {"pull": 0, "test": 0, "build": 0, "smoke": 0}
    assert any(e["line"] == "412 passed" for e in res.of("log") if e["source"] == "test")

    # Traffic 5 → 50 → 100 % asked; achieved from the replica ratio of 4 stable replicas
    # (5 % of 4 pods is one pod: 25 %).
    traffic = [(e["canary_percent"], e["achieved_percent"], e["detail"]) for e in res.of("traffic")]
    assert traffic == [
        (5, 25.0, "1/4 replicas"),
        (50, 50.0, "2/4 replicas"),
        (100, 100.0, "4/4 replicas"),
    ], res.tail()

    short = sha[:7]
    staging_tag, prod_tag = f"staging-{short}", f"production-{short}"
    assert {staging_tag, prod_tag} <= set(rig.tags())
    repo = f"{rig.registry.host}/b2connect"
    # Built and pushed once; production got the digest staging verified, pinned.
    digest = res.of("artifact")[0]["digest"]
    assert [(a["environment"], a["digest"]) for a in res.of("artifact")] == [
        ("staging", digest),
        ("production", digest),
    ]
    assert rig.image(STAGING, "web") == f"{repo}:{staging_tag}@{digest}"
    assert rig.image(PROD, "web") == f"{repo}:{prod_tag}@{digest}"
    assert rig.manifest_digest(prod_tag) == digest == rig.manifest_digest(staging_tag)
    assert [e["line"] for e in res.of("log") if e["line"].startswith("building ")] == [
        f"building {repo}:{staging_tag}"
    ]
    local = {t for i in rig.docker.client().images(name=repo) for t in i.get("RepoTags") or []}
    assert f"{repo}:{staging_tag}" in local and f"{repo}:{prod_tag}" not in local, local
    assert res.of("artifact")[1]["detail"] == "promoting the digest staging verified"
    assert rig.replicas(PROD, "web") == 4
    assert rig.replicas(PROD, "web-canary") == 0
    # Staging came from a Kustomize overlay (rendered by kubectl kustomize).
    staged = rig.deployment(STAGING, "web")["metadata"].get("annotations") or {}
    assert staged.get("b2tui.dev/overlay") == "staging"

    hooks = recorder.requests_to(DEPLOY_HOOK_PATH, "POST")
    assert len(hooks) == 1
    assert isinstance(hooks[0].json.get("blocks"), list) and hooks[0].json["blocks"]
    assert short in json.dumps(hooks[0].json)
    assert recorder.requests_to(INCIDENT_HOOK_PATH) == []
    assert recorder.requests_to("/healthz", "GET")
    assert f"## [{short}]" in ws.changelog.read_text()
    assert HOOK_SECRET not in res.stdout + res.stderr

    # Every kube call went with the ServiceAccount's token, and its Role refused none
    # (reading the Namespace object is cluster-scoped; check_target does without it).
    calls = rig.kube.audit(user=f"system:serviceaccount:{PROD}:b2tui", since=mark)
    assert {(r.verb, r.namespace) for r in calls if r.verb == "patch"} >= {
        ("patch", STAGING),
        ("patch", PROD),
    }
    assert {(r.verb, r.resource) for r in calls if r.code == 403} <= {("get", "namespaces")}


# --- case 2: errors in the canary --------------------------------------------------------


@dataclass
class RolledBack:
    """Case 2's run, shared with case 4 (status/rollback read the state it left)."""

    ws: Workspace
    result: Result
    recorder: HttpRecorder
    known_good: dict[str, Any]


@pytest.fixture(scope="module")
def rolled_back(rig: Rig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RolledBack]:
    """A canary run whose canary answers 5 % errors: the engine must roll it back."""
    for app in (rig.staging_app, rig.prod_app, rig.bg_app):
        _healthy(app)
    rig.prod_app.set_track("canary", error_ratio=0.05)
    with HttpRecorder() as rec:
        rec.route("GET", "/healthz", Reply(200, "ok"))
        rec.route("POST", DEPLOY_HOOK_PATH, Reply(200, "ok"))
        rec.route("POST", INCIDENT_HOOK_PATH, Reply(200, "ok"))
        try:
            ws = make_workspace(tmp_path_factory.mktemp("rolled-back"), rig, rec)
            res = real_run(
                ws, "bad0c0de99", on_event=reset_canary_on_rollback(rig.prod_app, "canary")
            )
        finally:
            _healthy(rig.prod_app)
        known_good = res.one("run_started")["known_good"]
        yield RolledBack(ws, res, rec, known_good)


def test_canary_errors_roll_back_end_to_end(rig: Rig, rolled_back: RolledBack) -> None:
    res, ws, rec = rolled_back.result, rolled_back.ws, rolled_back.recorder

    assert res.code == 3, res.tail()
    finished = res.one("run_finished")
    assert (finished["outcome"], finished["phase"]) == ("rolled_back", "production"), res.tail()
    started = res.one("rollback_started")
    assert started["phase"] == "production"
    assert started["by"] == "engine"
    assert "error_rate" in started["reason"], started
    assert started["target"] == rolled_back.known_good
    assert phase_order(res) == PHASES[:5]
    assert res.of("traffic")[0]["canary_percent"] == 5
    assert res.one("rollback_completed")["changed"] is True

    kg = rolled_back.known_good
    assert rig.image(PROD, "web") == kg["image"]
    assert rig.replicas(PROD, "web") == kg["replicas"]
    assert rig.replicas(PROD, "web-canary") == 0
    live = {
        p["metadata"]["labels"].get("pod-template-hash")
        for p in rig.kube.pods(PROD)
        if p["metadata"]["labels"].get("track") == "stable"
        and not p["metadata"].get("deletionTimestamp")
    }
    assert live == {kg["template_hash"]}
    current = rig.deployment(PROD, "web")
    assert current["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == kg["revision"]
    assert "bad0c0d" not in rig.image(PROD, "web")

    assert len(rec.requests_to(INCIDENT_HOOK_PATH, "POST")) == 1
    assert rec.requests_to(DEPLOY_HOOK_PATH) == []
    incident = json.dumps(rec.requests_to(INCIDENT_HOOK_PATH)[0].json)
    assert "error_rate" in incident

    # The webhook URLs live only in the process environment: nowhere in what it wrote.
    written = {
        "stdout": res.stdout.encode(),
        "stderr": res.stderr.encode(),
        "state db": b"".join(p.read_bytes() for p in ws.root.glob("state.db*")),
        "changelog": ws.changelog.read_bytes() if ws.changelog.exists() else b"",
    }
    for where, data in written.items():
        assert HOOK_SECRET.encode() not in data, f"webhook secret leaked into {where}"
    assert written["state db"], "no state database written"


# --- case 3: blue-green ------------------------------------------------------------------


def test_blue_green_switches_then_rolls_back(
    rig: Rig, recorder: HttpRecorder, healthy_metrics: None, tmp_path: Path
) -> None:
    def selector() -> dict[str, str]:
        svc = rig.kube.get("v1", "Service", BG, "web")
        assert svc is not None
        return dict(svc["spec"]["selector"])

    ws = make_workspace(tmp_path / "first", rig, recorder, blue_green=True)
    first = real_run(ws, "0b1e001aa")
    assert first.code == 0, first.tail()
    assert first.one("run_finished")["outcome"] == "succeeded"
    old = first.one("run_started")["known_good"]["colour"]
    new = "green" if old == "blue" else "blue"
    assert [e["canary_percent"] for e in first.of("traffic")] == [100]
    assert selector()["color"] == new
    first_digest = first.of("artifact")[-1]["digest"]
    assert rig.image(BG, f"web-{new}").endswith(f":production-0b1e001@{first_digest}")
    assert rig.replicas(BG, f"web-{new}") == 3
    assert rig.replicas(BG, f"web-{old}") == 0
    # The old colour is scaled down only after the monitoring window ended green.
    kinds = [(e["event"], e.get("line", "")) for e in first.events]
    retired = kinds.index(("log", f"old colour {old} scaled down"))
    assert kinds.index(("phase_completed", "")) < retired
    assert [e["phase"] for e in first.events[: retired + 1] if e["event"] == "phase_completed"][
        -1
    ] == "monitoring"
    assert len(recorder.requests_to(DEPLOY_HOOK_PATH, "POST")) == 1

    # Second run: the freshly switched colour answers 5 % errors.
    rig.bg_app.set_track("stable", error_ratio=0.05)
    ws2 = make_workspace(tmp_path / "second", rig, recorder, blue_green=True)
    second = real_run(ws2, "0b1e002bb", on_event=reset_canary_on_rollback(rig.bg_app, "stable"))
    assert second.code == 3, second.tail()
    assert second.one("run_finished")["outcome"] == "rolled_back"
    assert "error_rate" in second.one("rollback_started")["reason"]
    assert second.one("run_started")["known_good"]["colour"] == new
    assert [e["canary_percent"] for e in second.of("traffic")] == [100]
    switched = second.of("traffic")[0]["detail"]
    assert switched == f"selector color={old}", switched
    assert selector()["color"] == new, "selector not back on the known-good colour"
    assert rig.image(BG, f"web-{new}").endswith(f":production-0b1e001@{first_digest}")
    # The rollback target was pinned by digest: the first run's.
    assert second.one("run_started")["known_good"]["image"].endswith(f"@{first_digest}")
    assert rig.replicas(BG, f"web-{new}") == 3
    assert len(recorder.requests_to(INCIDENT_HOOK_PATH, "POST")) == 1


def test_blue_green_smoke_fails_on_the_idle_colour_before_the_switch(
    rig: Rig, recorder: HttpRecorder, healthy_metrics: None, tmp_path: Path
) -> None:
    """The preview Service reaches the idle colour's "pod" (a server in a network namespace,
    answering 500); the run ends aborted before the selector moves."""
    svc = rig.kube.get("v1", "Service", BG, "web")
    assert svc is not None
    live = svc["spec"]["selector"]["color"]
    idle = "green" if live == "blue" else "blue"
    ws = make_workspace(tmp_path / "ws", rig, recorder, blue_green=True)
    go, seen = tmp_path / "go", tmp_path / "target-url"
    # Smoke on the idle colour (B2TUI_TARGET_URL set) waits until the test wrote the
    # preview's Endpoints, and says where it was pointed.
    smoke = (
        f'if [ -n "$B2TUI_TARGET_URL" ]; then echo "$B2TUI_TARGET_URL" > {seen};'
        f" while [ ! -f {go} ]; do sleep 0.1; done; fi"
    )
    text = ws.config.read_text().replace('smoke = "true"', f"smoke = {_toml_str(smoke)}")
    text = text.replace(
        'strategy = "blue-green"', 'strategy = "blue-green"\npreview_service = "web-preview"'
    )
    ws.config.write_text(text)
    with pod_server(tmp_path / "pod") as server:
        server.answer(500, "broken build")
        rig.kube.pod_ip(BG, {"app": "web", "color": idle}, server.ip)

        def endpoints(event: dict[str, Any]) -> None:
            if event["event"] == "command_started" and event["phase"] == "production":
                rig.kube.apply(idle_endpoints(rig.kube, BG, idle, server.ip, server.port))
                go.write_text("go")

        res = real_run(ws, "0b1e003cc", on_event=endpoints)
    assert res.code == 5, res.tail()
    finished = res.one("run_finished")
    assert (finished["outcome"], finished["phase"]) == ("aborted", "production"), finished
    assert finished["reason"] == (
        f"production smoke on the idle colour {idle}: expected 200, got 500"
        f" (GET web-preview/healthz (service proxy), 3 attempts); traffic stays on {live}"
    ), finished
    assert (
        seen.read_text()
        .strip()
        .endswith(f"/api/v1/namespaces/{BG}/services/web-preview:http/proxy")
    )
    svc = rig.kube.get("v1", "Service", BG, "web")
    assert svc is not None and svc["spec"]["selector"]["color"] == live
    preview = rig.kube.get("v1", "Service", BG, "web-preview")
    assert preview is not None and preview["spec"]["selector"]["color"] == idle
    assert not res.of("traffic") and not res.of("rollback_started")
    assert rig.replicas(BG, f"web-{idle}") == 0


def test_canary_smoke_fails_on_the_canary_before_its_first_weight(
    rig: Rig, recorder: HttpRecorder, healthy_metrics: None, tmp_path: Path
) -> None:
    """With ``preview_service`` the canary is brought up with no weight and checked through
    it (its "pod" a server in a network namespace, answering 500); the run ends aborted
    before the first weight, the canary scaled away and stable as it was."""
    before = (rig.image(PROD, "web"), rig.replicas(PROD, "web"))
    ws = make_workspace(tmp_path / "ws", rig, recorder)
    go, seen = tmp_path / "go", tmp_path / "target-url"
    smoke = (
        f'if [ -n "$B2TUI_TARGET_URL" ]; then echo "$B2TUI_TARGET_URL" > {seen};'
        f" while [ ! -f {go} ]; do sleep 0.1; done; fi"
    )
    text = ws.config.read_text().replace('smoke = "true"', f"smoke = {_toml_str(smoke)}")
    text = text.replace(
        'traffic = "replicas"', 'traffic = "replicas"\npreview_service = "web-preview"'
    )
    ws.config.write_text(text)
    with pod_server(tmp_path / "pod") as server:
        server.answer(500, "broken build")
        rig.kube.pod_ip(PROD, {"app": "web", "track": "canary"}, server.ip)

        def endpoints(event: dict[str, Any]) -> None:
            if event["event"] == "command_started" and event["phase"] == "production":
                rig.kube.apply(track_endpoints(rig.kube, PROD, "canary", server.ip, server.port))
                go.write_text("go")

        res = real_run(ws, "0ca7a11e5", on_event=endpoints)
    assert res.code == 5, res.tail()
    finished = res.one("run_finished")
    assert (finished["outcome"], finished["phase"]) == ("aborted", "production"), finished
    assert finished["reason"] == (
        "production smoke on the canary: expected 200, got 500"
        " (GET web-preview/healthz (service proxy), 3 attempts); traffic stays on stable"
    ), finished
    assert (
        seen.read_text()
        .strip()
        .endswith(f"/api/v1/namespaces/{PROD}/services/web-preview:http/proxy")
    )
    preview = rig.kube.get("v1", "Service", PROD, "web-preview")
    assert preview is not None and preview["spec"]["selector"] == {"app": "web", "track": "canary"}
    assert not res.of("traffic") and not res.of("rollback_started")
    assert rig.replicas(PROD, "web-canary") == 0
    assert (rig.image(PROD, "web"), rig.replicas(PROD, "web")) == before


def track_endpoints(kube: RealKube, ns: str, track: str, ip: str, port: int) -> dict[str, Any]:
    """Endpoints of ``web-preview``: the ``track`` pods, all at the test's server."""
    pods = kube.list("v1", "Pod", ns, f"app=web,track={track}")
    refs = [
        {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"]}
        for p in pods
        if (p.get("status") or {}).get("podIP") == ip
    ]
    assert refs, f"no {track} pod at {ip} in {ns}"
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "web-preview", "namespace": ns},
        "subsets": [
            {
                "addresses": [{"ip": ip, "targetRef": r} for r in refs],
                "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            }
        ],
    }


def idle_endpoints(kube: RealKube, ns: str, colour: str, ip: str, port: int) -> dict[str, Any]:
    """Endpoints of ``web-preview``: the ``colour`` pods, all at the test's server (the
    test cluster's pods have no Node, so the endpoints controller cannot write them)."""
    pods = kube.list("v1", "Pod", ns, f"app=web,color={colour}")
    refs = [
        {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"]}
        for p in pods
        if (p.get("status") or {}).get("podIP") == ip
    ]
    assert refs, f"no {colour} pod at {ip} in {ns}"
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "web-preview", "namespace": ns},
        "subsets": [
            {
                "addresses": [{"ip": ip, "targetRef": r} for r in refs],
                "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            }
        ],
    }


# --- case 4: status and rollback commands ------------------------------------------------


def test_status_and_idempotent_rollback(rig: Rig, rolled_back: RolledBack) -> None:
    ws = rolled_back.ws
    kg = rolled_back.known_good
    base = ["--config", str(ws.config), "--env", "production"]

    status = b2tui(["status", *base, "--json"], ws, timeout=60)
    assert status.code == 0, status.tail()
    doc = json.loads(status.stdout)
    deployments = {d["name"]: d for d in doc["deployments"]}
    assert deployments["web"]["image"] == kg["image"]
    assert deployments["web"]["ready"] == deployments["web"]["desired"] == kg["replicas"]
    assert deployments.get("web-canary", {"desired": 0})["desired"] == 0
    assert {p["image"] for p in doc["pods"] if p["ready"]} == {kg["image"]}
    assert doc["rollback_target"]["image"] == kg["image"]
    assert doc["rollback_target"]["revision"] == kg["revision"]
    assert doc["traffic"] == {"percent": 0.0, "detail": f"0/{kg['replicas']} replicas"}

    rb = b2tui(["rollback", *base, "--json", "--state", str(ws.state)], ws, timeout=60)
    assert rb.code == 0, rb.tail()
    out = json.loads(rb.stdout)
    assert out["recorded_target"] is True
    assert out["changed"] is False, out
    assert out["detail"].startswith("already on"), out
    assert out["target"]["image"] == kg["image"]
    assert rig.image(PROD, "web") == kg["image"]
    assert rig.replicas(PROD, "web-canary") == 0

    # The API server unreachable: one line on stderr, no traceback, non-zero exit.
    dead = ws.root / "dead-kubeconfig"
    port = free_port()
    dead.write_text(rig.kubeconfig.read_text().replace(rig.kube.url, f"https://127.0.0.1:{port}"))
    env = {**ws.env, "KUBECONFIG": str(dead)}
    for argv in (
        ["status", *base, "--json"],
        ["rollback", *base, "--state", str(ws.state)],
    ):
        res = b2tui(argv, ws, env=env, timeout=60)
        assert res.code != 0, res.tail()
        lines = res.stderr.splitlines()
        assert len(lines) == 1, res.stderr
        assert "Traceback" not in res.stderr
        assert f"127.0.0.1:{port}" in lines[0], lines[0]
        assert res.stdout == ""


# --- adapter behaviour the real run depends on -------------------------------------------


async def test_kube_target_check_and_blue_green_rollout(rig: Rig) -> None:
    """Two KubeCluster behaviours the end-to-end runs found missing, pinned directly.

    * validate checks staging *before* its manifests are applied: for an environment
      with manifests a missing Deployment/Service is not a problem (it is without them);
    * ``rollout(env)`` of a blue-green environment is the active colour's rollout
      (there is no Deployment named ``env.deployment``), which rollback recovery awaits.
    """
    fresh_ns = rig.kube.namespace("fresh")
    fresh = Target.of(
        EnvironmentSettings(
            name="staging",
            context="test",
            namespace=fresh_ns,
            deployment="web",
            service="web",
            manifests=(str(FIXTURES / "staging.yaml"),),
        )
    )
    bg = Target.of(
        EnvironmentSettings(
            name="production",
            context="test",
            namespace=BG,
            deployment="web",
            service="web",
            strategy=Strategy.BLUE_GREEN,
        )
    )
    # A user who may read namespaces (the run's ServiceAccount may not: its Role is
    # namespaced), so a missing namespace is named as such.
    kubeconfig = rig.kube.write_kubeconfig(
        rig.kubeconfig.with_name("tester-kubeconfig"), user="tester"
    )
    kube = KubeCluster(str(kubeconfig))
    try:
        assert await kube.check_target(fresh) == []
        without = await kube.check_target(replace(fresh, manifests=()))
        assert without == [
            f"deployment web not found in namespace {fresh_ns}",
            f"service web not found in namespace {fresh_ns}",
        ]
        missing_ns = await kube.check_target(replace(fresh, namespace="nowhere"))
        assert len(missing_ns) == 1 and "namespace nowhere" in missing_ns[0]

        colour = (await kube.current_revision(bg)).colour
        state = await kube.rollout(bg)
        assert state.desired == rig.replicas(BG, f"web-{colour}")
    finally:
        kube.close()


# --- b2tui gates through the CLI -----------------------------------------------------------


def test_gates_command_judges_canary_and_stable(
    rig: Rig, recorder: HttpRecorder, healthy_metrics: None, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "gates", rig, recorder)
    base = ["gates", "--config", str(ws.config), "--env", "production", "--json"]
    ok = b2tui([*base, "--track", "stable"], ws, timeout=60)
    assert ok.code == 0, ok.tail()
    rows = {r["gate"]: r for r in map(json.loads, ok.stdout.splitlines())}
    assert {r["status"] for r in rows.values()} == {"pass"}
    assert rows["error_rate"]["track"] == "stable"

    rig.prod_app.set_track("canary", rate=50.0, error_ratio=0.02, latency=0.04)

    def canary_fails() -> bool:
        res = b2tui([*base, "--track", "canary"], ws, timeout=60)
        rows = {r["gate"]: r for r in map(json.loads, res.stdout.splitlines())}
        return res.code == 1 and rows["error_rate"]["status"] == "fail"

    wait_until(canary_fails, 30, "the canary's 2 % errors to fail its error-rate gate", step=1)
    # Stable is judged on its own series: still green next to a failing canary.
    assert b2tui([*base, "--track", "stable"], ws, timeout=60).code == 0


# --- a pre-built image, and a dry run ----------------------------------------------------


def test_a_missing_prebuilt_image_aborts_before_production(
    rig: Rig, recorder: HttpRecorder, healthy_metrics: None, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path, rig, recorder)
    before = rig.deployment(PROD, "web")["metadata"]["resourceVersion"]
    missing = f"{rig.registry.host}/b2connect:ci-does-not-exist"
    res = b2tui(
        [
            "run",
            "--config",
            str(ws.config),
            "--headless",
            "--json",
            "--state",
            str(ws.state),
            "--image",
            missing,
        ],
        ws,
    )
    assert res.code == 5, res.tail()
    finished = res.one("run_finished")
    assert finished["outcome"] == "aborted"
    assert finished["reason"].endswith(
        f"image {missing} is not in registry {rig.registry.host}: push it first (CI), or fix"
        " --image / [service] image"
    ), finished
    logs = [e["line"] for e in res.of("log")]
    assert not any(line.startswith(("building ", "pushing ", "applied ")) for line in logs), logs
    assert rig.deployment(PROD, "web")["metadata"]["resourceVersion"] == before
    assert not res.of("traffic")


def test_a_tag_pushed_again_between_staging_and_production_is_refused(
    rig: Rig, recorder: HttpRecorder, healthy_metrics: None, tmp_path: Path
) -> None:
    """Someone pushes other content under the staging tag while smoke runs: production
    must not start, and the reason names both digests."""
    ws = make_workspace(tmp_path, rig, recorder)
    go = tmp_path / "smoke-may-end"
    # The smoke command waits for the test, so the re-push lands before production.
    text = ws.config.read_text().replace(
        'smoke = "true"', f"smoke = {_toml_str(f'while [ ! -f {go} ]; do sleep 0.1; done')}"
    )
    ws.config.write_text(text)
    other = tmp_path / "other-ctx"
    other.mkdir()
    (other / "other.txt").write_text("not what staging tested\n")
    (other / "Dockerfile").write_text("FROM scratch\nCOPY other.txt /\n")
    sha = "7a6b5c4d3e2f"
    staging_ref = f"{rig.registry.host}/b2connect:staging-{sha[:7]}"
    before = rig.deployment(PROD, "web")["metadata"]["resourceVersion"]

    def repush(event: dict[str, Any]) -> None:
        if event["event"] == "command_started" and event["name"] == "smoke":
            client = rig.docker.client()
            for _ in client.build(path=str(other), tag=staging_ref, decode=True, rm=True):
                pass
            repo, tag = staging_ref.rsplit(":", 1)
            for _ in client.push(repo, tag=tag, stream=True, decode=True):
                pass
            go.write_text("go")

    res = real_run(ws, sha, on_event=repush)
    assert res.code == 5, res.tail()
    finished = res.one("run_finished")
    assert (finished["outcome"], finished["phase"]) == ("aborted", "production"), finished
    verified = res.one("artifact")["digest"]
    now = rig.manifest_digest(f"staging-{sha[:7]}")
    assert now != verified
    assert f"tag {staging_ref} moved since staging" in finished["reason"], finished
    assert f"staging verified {verified}, the registry now has {now}" in finished["reason"]
    assert rig.deployment(PROD, "web")["metadata"]["resourceVersion"] == before
    assert not res.of("traffic")
    assert f"production-{sha[:7]}" not in rig.tags()


def test_dry_run_checks_everything_and_changes_nothing(
    rig: Rig, recorder: HttpRecorder, healthy_metrics: None, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path, rig, recorder)

    def versions() -> dict[str, str | None]:
        objs = {
            "prod/web": rig.kube.get("apps/v1", "Deployment", PROD, "web"),
            "prod/web-canary": rig.kube.get("apps/v1", "Deployment", PROD, "web-canary"),
            "staging/web": rig.kube.get("apps/v1", "Deployment", STAGING, "web"),
        }
        return {k: (o or {}).get("metadata", {}).get("resourceVersion") for k, o in objs.items()}

    before, tags_before = versions(), rig.tags()
    res = b2tui(
        ["run", "--config", str(ws.config), "--dry-run", "--version-sha", "9f8e7d6c5b4a"], ws
    )
    assert res.code == 0, res.tail()
    lines = res.stdout.splitlines()
    assert lines[0].startswith("dry run of b2connect 9f8e7d6: nothing is built, pushed or changed")
    repo = f"{rig.registry.host}/b2connect"
    assert f"would build and push {repo}:staging-9f8e7d6 once" in lines
    assert (
        f"would promote the digest staging verifies to production, tagged {repo}:production-9f8e7d6"
        " (no rebuild)" in lines
    )
    assert any(line.startswith("staging: would apply ") for line in lines), lines
    assert any(
        line.startswith("production: would start the canary ") and "at 5% (" in line
        for line in lines
    ), lines
    assert lines[-1] == "dry run ok: nothing changed"
    # Checked with the test's own client: not one object changed, nothing was pushed.
    assert versions() == before
    assert rig.tags() == tags_before


def _grant_store(rig: Rig, ns: str, subject: dict[str, str], name: str) -> None:
    """deploy/store-rbac.yaml's Role b2tui-store in ``ns``, bound to ``subject``."""
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "store-rbac.yaml").read_text()) if d]
    role = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "b2tui-store")
    role["metadata"]["namespace"] = ns
    rig.kube.apply(role)
    rig.kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": ns},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": role["metadata"]["name"],
            },
            "subjects": [subject],
        }
    )


def test_a_kube_store_run_survives_sigkill_in_a_hold_and_another_user_finishes_it(
    rig: Rig, recorder: HttpRecorder, healthy_metrics: None, tmp_path: Path
) -> None:
    """A run that outlives its host: `b2tui run --headless` with `[store] backend = "kube"` is
    SIGKILLed while it holds the first canary step; `b2tui run --headless` as another
    Kubernetes user (another host: only the cluster is shared) resumes the run from the
    store, keeps the hold's deadline and finishes it; `history` shows it."""
    ws = make_workspace(tmp_path / "ws", rig, recorder)
    text = ws.config.read_text().replace(
        '{ weight = 5, hold = "3s" }', '{ weight = 5, hold = "20s" }'
    )
    ws.config.write_text(text + f'\n[store]\nbackend = "kube"\nnamespace = "{PROD}"\n')
    # The run's own ServiceAccount drives first; user `tester` gets the same rights (the
    # deploy verbs of deploy/rbac.yaml in each namespace, the store's in production's).
    sa = {"kind": "ServiceAccount", "name": "b2tui", "namespace": PROD}
    tester = {"kind": "User", "name": "tester", "apiGroup": "rbac.authorization.k8s.io"}
    _grant_store(rig, PROD, sa, "b2tui-store-sa")
    _grant_store(rig, PROD, tester, "b2tui-store-tester")
    for ns in (STAGING, PROD):
        rig.kube.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "b2tui-tester", "namespace": ns},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "b2tui",
                },
                "subjects": [tester],
            }
        )
    second = rig.kube.write_kubeconfig(
        tmp_path / "tester.kubeconfig", user="tester", context="test", namespace=PROD
    )
    argv = ["run", "--config", str(ws.config), "--headless", "--json", "--version-sha", "c0ffee1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "b2tui", *argv],
        cwd=ws.root,
        env=ws.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + RUN_TIMEOUT
    assert proc.stdout is not None
    for line in proc.stdout:
        event = _json_line(line)
        if event is not None and "event" in event:
            seen.append(event)
            if event["event"] == "hold" and event.get("phase") == "production":
                break
        assert time.monotonic() < deadline, "no production hold:\n" + "".join(map(str, seen[-10:]))
    else:
        pytest.fail(f"the first run ended before its hold (exit {proc.wait()}): {seen[-5:]}")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    hold_until = seen[-1]["until"]

    res = real_run_as(ws, second, "second-op")
    assert res.code == 0, res.tail()
    resumed = res.one("run_resumed")
    # Named by the cluster, not by B2TUI_USER: the kubeconfig's user `tester`, marked
    # unverified (a 1.20 server has no SelfSubjectReview to confirm a client's name).
    assert resumed["by"] == f"tester@{socket.gethostname()} (unverified)", resumed
    # The hold kept its deadline: the next step came at it, no new 20 s hold of 5 %.
    fifty = next(e for e in res.of("traffic") if e["canary_percent"] == 50)
    assert fifty["ts"] >= hold_until
    assert not [e for e in res.of("hold") if e["seconds"] >= 19], "the hold started over"
    assert res.one("run_finished")["outcome"] == "succeeded"
    hist = b2tui(["history", "--config", str(ws.config), "--json"], ws, timeout=30)
    runs = json.loads(hist.stdout)["runs"]
    assert [(r["run_id"], r["outcome"]) for r in runs][:1] == [(resumed["run_id"], "succeeded")], (
        hist.tail()
    )


def real_run_as(ws: Workspace, kubeconfig: Path, user: str) -> Result:
    """`b2tui run --headless --json` (no --state: the kube store) as another cluster user
    (``B2TUI_USER`` set to ``user`` too: b2tui must ignore it)."""
    env = {**ws.env, "KUBECONFIG": str(kubeconfig), "B2TUI_USER": user}
    return b2tui(
        ["run", "--config", str(ws.config), "--headless", "--json", "--version-sha", "c0ffee1"],
        ws,
        env=env,
    )
