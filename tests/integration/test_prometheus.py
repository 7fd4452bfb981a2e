"""The Prometheus adapter and ``b2tui gates`` against a real Prometheus.

One Prometheus (started by the module fixture) scrapes several synthetic services every
second, each in its own scenario, so every test reads a service nobody else changes:

* ``healthy`` — 50 req/s per track, 40 ms, no errors;
* ``errors`` — 2 % of requests fail;
* ``slow`` — every request takes 300 ms;
* ``idle`` — series exist but no traffic;
* ``split`` — stable healthy, canary 2 % errors;
* ``doomed`` — healthy until a test stops its HTTP server.

Scenarios are set before Prometheus starts so their 5 s windows warm up together; tests
poll (``eventually``) until the adapter reports the expected state and fail showing the
last reading when it never does.
"""

from __future__ import annotations

import io
import itertools
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from b2tui.adapters.prometheus import PrometheusMetrics
from b2tui.config import (
    EnvironmentSettings,
    GateSettings,
    PrometheusSettings,
    Secret,
    Settings,
)
from b2tui.domain.gates import GateResult, GateStatus, Reading, judge_sample
from b2tui.gatespecs import gate_specs
from b2tui.ports import SourceError
from tests.support.metrics_app import MetricsApp
from tests.support.prom import (
    FAST_ERROR_RATE,
    FAST_P95,
    FAST_REQUEST_RATE,
    PromServer,
    ScrapeTarget,
    eventually,
    run_gates_main,
    start_prometheus,
)
from tests.support.services import free_port, require_binary, wait_until

pytestmark = pytest.mark.integration

NAMESPACE = "shop"
SCENARIOS = ("healthy", "errors", "slow", "idle", "split", "doomed")
WAIT = 30.0
GATES = GateSettings()  # defaults: < 0.1 % errors, P95 < 200 ms, >= 1 req/s


@dataclass
class Stack:
    prom: PromServer
    apps: dict[str, MetricsApp]

    def settings(self, **overrides: Any) -> PrometheusSettings:
        return PrometheusSettings(
            url=self.prom.url,
            error_rate=FAST_ERROR_RATE,
            p95_seconds=FAST_P95,
            request_rate=FAST_REQUEST_RATE,
            timeout=5.0,
            **overrides,
        )


def env_for(app: str) -> EnvironmentSettings:
    return EnvironmentSettings(
        name="production", namespace=NAMESPACE, selector=f'namespace="{NAMESPACE}",app="{app}"'
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    apps = {name: MetricsApp(name, NAMESPACE) for name in SCENARIOS}
    for track in ("stable", "canary"):
        apps["errors"].set_track(track, error_ratio=0.02)
        apps["slow"].set_track(track, latency=0.3)
        apps["idle"].set_track(track, rate=0)
    apps["split"].set_track("canary", error_ratio=0.02)
    for app in apps.values():
        app.start()
    targets = [ScrapeTarget(a.target, a.app, a.namespace) for a in apps.values()]
    prom = start_prometheus(targets, tmp_path_factory.mktemp("prometheus"))
    try:
        # Wait until every target has a full 5 s window of scrapes: before that, rate()
        # extrapolates from two or three points and tests would judge a warm-up.
        wait_until(
            lambda: len(prom.query("count_over_time(up[5s]) >= 5")) == len(targets),
            WAIT,
            "Prometheus to hold 5 s of scrapes of every target",
            step=0.25,
        )
        yield Stack(prom, apps)
    finally:
        prom.stop()
        for app in apps.values():
            app.stop()


def judged(readings: dict[str, Reading]) -> dict[str, GateResult]:
    return {r.gate: r for r in judge_sample(gate_specs(GATES, PrometheusSettings()), readings)}


async def sample_until(
    stack: Stack, app: str, track: str | None, accept: Any, what: str
) -> dict[str, GateResult]:
    metrics = PrometheusMetrics(stack.settings())

    async def probe() -> dict[str, GateResult]:
        return judged(await metrics.sample(env_for(app), track))

    return await eventually(probe, accept, WAIT, what)


def statuses(results: dict[str, GateResult]) -> dict[str, GateStatus]:
    return {name: r.status for name, r in results.items()}


# --- gates from real measurements ----------------------------------------------------------


async def test_healthy_service_passes_every_gate(stack: Stack) -> None:
    results = await sample_until(
        stack,
        "healthy",
        None,
        lambda r: all(g.status is GateStatus.PASS for g in r.values()),
        "every gate of the healthy service to pass",
    )
    assert results["error_rate"].value == 0.0
    # 40 ms requests land in the (25 ms, 50 ms] bucket; histogram_quantile interpolates.
    assert 25.0 < (results["p95_ms"].value or 0) <= 50.0
    # Two tracks at 50 req/s each.
    assert 90.0 < (results["request_rate"].value or 0) < 110.0


async def test_two_percent_errors_fail_the_error_rate_gate(stack: Stack) -> None:
    results = await sample_until(
        stack,
        "errors",
        None,
        lambda r: r["error_rate"].status is GateStatus.FAIL,
        "the error-rate gate to fail at 2 % errors",
    )
    assert 0.015 < (results["error_rate"].value or 0) < 0.025
    assert results["p95_ms"].status is GateStatus.PASS
    assert results["request_rate"].status is GateStatus.PASS


async def test_300ms_latency_fails_the_p95_gate(stack: Stack) -> None:
    results = await sample_until(
        stack,
        "slow",
        None,
        lambda r: r["p95_ms"].status is GateStatus.FAIL,
        "the P95 gate to fail at 300 ms",
    )
    assert 250.0 < (results["p95_ms"].value or 0) <= 300.0
    assert results["error_rate"].status is GateStatus.PASS


async def test_no_traffic_is_unknown_with_its_reason(stack: Stack) -> None:
    metrics = PrometheusMetrics(stack.settings())
    readings = await eventually(
        lambda: metrics.sample(env_for("idle"), None),
        lambda r: r["request_rate"].value == 0.0,
        WAIT,
        "the idle service to report 0 req/s",
    )
    # Series exist but nothing moves: 0/0 and an empty histogram are NaN in Prometheus.
    assert readings["error_rate"].value is None
    assert "no traffic" in readings["error_rate"].reason
    assert readings["p95_ms"].value is None
    assert "no requests" in readings["p95_ms"].reason
    results = judged(readings)
    assert set(statuses(results).values()) == {GateStatus.UNKNOWN}
    assert "traffic below minimum" in results["request_rate"].reason


async def test_a_target_that_stops_answering_makes_the_sample_unknown(stack: Stack) -> None:
    doomed = stack.apps["doomed"]
    await sample_until(
        stack,
        "doomed",
        None,
        lambda r: all(g.value is not None for g in r.values()),
        "the doomed service to be measured before it dies",
    )
    doomed.stop_serving()
    metrics = PrometheusMetrics(stack.settings())
    readings = await eventually(
        lambda: metrics.sample(env_for("doomed"), None),
        lambda r: r["error_rate"].value is None,
        WAIT,
        "Prometheus to mark the stopped target down",
    )
    # Its old series are still within the 5 s window, yet no gate may pass on them.
    for name in ("error_rate", "p95_ms", "request_rate"):
        assert readings[name].value is None
        assert readings[name].reason.startswith("target down"), readings[name]
        assert doomed.target in readings[name].reason
    assert set(statuses(judged(readings)).values()) == {GateStatus.UNKNOWN}


async def test_canary_and_stable_are_judged_separately(stack: Stack) -> None:
    canary = await sample_until(
        stack,
        "split",
        "canary",
        lambda r: r["error_rate"].status is GateStatus.FAIL,
        "the canary of the split service to fail",
    )
    stable = await sample_until(
        stack,
        "split",
        "stable",
        lambda r: all(g.status is GateStatus.PASS for g in r.values()),
        "the stable track of the split service to pass",
    )
    assert 0.015 < (canary["error_rate"].value or 0) < 0.025
    assert stable["error_rate"].value == 0.0
    # One track's traffic, not the service's.
    assert 40.0 < (canary["request_rate"].value or 0) < 60.0


async def test_history_returns_points_per_gate(stack: Stack) -> None:
    await sample_until(
        stack,
        "healthy",
        "stable",
        lambda r: r["request_rate"].status is GateStatus.PASS,
        "traffic on the healthy service",
    )
    metrics = PrometheusMetrics(stack.settings())
    history = await metrics.history(env_for("healthy"), "stable", seconds=10, step=1)
    assert set(history) == {"error_rate", "p95_ms", "request_rate"}
    for series in history.values():
        assert len(series.points) == 11
        times = [t for t, _ in series.points]
        assert [round(b - a, 3) for a, b in itertools.pairwise(times)] == [1.0] * 10
    rates = history["request_rate"].points
    # The window may reach back into the warm-up (gaps, then a ramp); its end is now.
    last = rates[-1][1]
    assert last is not None and 40.0 < last < 60.0, rates
    assert all(0.0 <= v <= 60.0 for _, v in rates if v is not None), rates
    assert any(v is not None and 25.0 < v <= 50.0 for _, v in history["p95_ms"].points)
    # A fractional step: every point of the grid must meet one Prometheus answered.
    recent = await metrics.history(env_for("healthy"), "stable", seconds=2, step=0.25)
    points = recent["request_rate"].points
    assert len(points) == 9
    assert all(v is not None for _, v in points), points


# --- failures of the source ----------------------------------------------------------------


async def test_unreachable_prometheus_raises_source_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    metrics = PrometheusMetrics(PrometheusSettings(url=url, timeout=2.0))
    with pytest.raises(SourceError) as err:
        await metrics.sample(env_for("healthy"), None)
    message = str(err.value)
    assert url in message
    assert "Connection refused" in message
    assert "\n" not in message


async def test_bad_promql_raises_source_error_with_prometheus_message(stack: Stack) -> None:
    settings = replace(stack.settings(), error_rate="sum(rate(http_requests_total{$selector}[5s])")
    metrics = PrometheusMetrics(settings)
    with pytest.raises(SourceError) as err:
        await metrics.sample(env_for("healthy"), None)
    message = str(err.value)
    assert stack.prom.url in message
    assert "error_rate" in message
    assert "parse error" in message  # Prometheus' own words
    assert "HTTP 400" in message


# --- credentials, against a recording stand-in that answers like Prometheus ----------------


class RecordingPrometheus:
    """An HTTP server answering ``/api/v1/query`` like Prometheus (``up`` = 1, every other
    query 0.5) and recording the Authorization header of each request. With
    ``require`` set, other credentials get a 401 whose body echoes what was sent."""

    def __init__(self, require: str | None = None, tls: tuple[Path, Path] | None = None) -> None:
        self.seen: list[str | None] = []
        self.require = require
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization")
                outer.seen.append(auth)
                if outer.require is not None and auth != outer.require:
                    self._send(401, {"status": "error", "error": f"bad credentials {auth}"})
                    return
                value = "1" if "up" in self.path.split("query=", 1)[-1][:4] else "0.5"
                result = [{"metric": {"instance": "x"}, "value": [1.0, value]}]
                data = {"resultType": "vector", "result": result}
                self._send(200, {"status": "success", "data": data})

            def _send(self, code: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[RecordingPrometheus]:
    server = RecordingPrometheus(require="Bearer s3cr3t-token")
    yield server
    server.close()


async def test_bearer_token_from_env_is_sent(
    recorder: RecordingPrometheus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("B2TUI_TEST_PROM_TOKEN", "s3cr3t-token")
    settings = PrometheusSettings(
        url=recorder.url, bearer_token=Secret("env:B2TUI_TEST_PROM_TOKEN")
    )
    metrics = PrometheusMetrics(settings)
    readings = await metrics.sample(env_for("x"), None)
    assert readings["error_rate"].value == 0.5
    assert readings["p95_ms"].value == 500.0
    # Three gates and the up check, each with the token.
    assert recorder.seen == ["Bearer s3cr3t-token"] * 4
    assert "s3cr3t" not in repr(metrics)


async def test_a_refused_token_is_not_in_the_error(
    recorder: RecordingPrometheus, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("wrong-s3cr3t-value\n")
    settings = PrometheusSettings(url=recorder.url, bearer_token=Secret(f"file:{token_file}"))
    metrics = PrometheusMetrics(settings)
    with pytest.raises(SourceError) as err:
        await metrics.sample(env_for("x"), None)
    message = str(err.value)
    assert recorder.seen[0] == "Bearer wrong-s3cr3t-value"
    assert "401" in message
    assert recorder.url in message
    assert f"file:{token_file}" in message  # where to fix it
    assert "wrong-s3cr3t-value" not in message


async def test_basic_auth_credentials_are_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    server = RecordingPrometheus(require="Basic b3BzOmh1bnRlcjI=")  # ops:hunter2
    try:
        monkeypatch.setenv("B2TUI_TEST_PROM_PASSWORD", "hunter2")
        settings = PrometheusSettings(
            url=server.url, username="ops", password=Secret("env:B2TUI_TEST_PROM_PASSWORD")
        )
        readings = await PrometheusMetrics(settings).sample(env_for("x"), "canary")
        assert readings["request_rate"].value == 0.5
        assert set(server.seen) == {"Basic b3BzOmh1bnRlcjI="}
    finally:
        server.close()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, made with openssl."""
    openssl = require_binary("openssl", "openssl")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_is_verified_against_ca_file(self_signed: tuple[Path, Path]) -> None:
    server = RecordingPrometheus(tls=self_signed)
    try:
        trusted = PrometheusSettings(url=server.url, ca_file=str(self_signed[0]))
        readings = await PrometheusMetrics(trusted).sample(env_for("x"), None)
        assert readings["error_rate"].value == 0.5
        # Without the CA the same server is refused, and the error says where.
        with pytest.raises(SourceError) as err:
            await PrometheusMetrics(PrometheusSettings(url=server.url)).sample(env_for("x"), None)
        assert server.url in str(err.value)
        assert "cannot verify the TLS certificate" in str(err.value)
        assert "ca_file" in str(err.value)
    finally:
        server.close()


async def test_missing_ca_file_is_a_source_error(tmp_path: Path) -> None:
    settings = PrometheusSettings(url="https://127.0.0.1:1", ca_file=str(tmp_path / "nope.pem"))
    with pytest.raises(SourceError, match=r"ca_file .*nope\.pem"):
        await PrometheusMetrics(settings).sample(env_for("x"), None)


# --- b2tui gates end to end ----------------------------------------------------------------


def run_gates(stack: Stack, app: str, as_json: bool = False) -> tuple[int, str]:
    settings = Settings(
        prometheus=stack.settings(), gates=GATES, environments={"production": env_for(app)}
    )
    out = io.StringIO()
    code = run_gates_main(settings, "production", None, as_json, out)
    return code, out.getvalue()


def gates_until(stack: Stack, app: str, as_json: bool, accept: Any, what: str) -> tuple[int, str]:
    """Run ``run_gates_main`` until ``accept(code, text)``; the accepted run's output."""
    last: list[tuple[int, str]] = []

    def probe() -> bool:
        last[:] = [run_gates(stack, app, as_json)]
        return bool(accept(*last[0]))

    wait_until(probe, WAIT, what, step=0.5)
    return last[0]


def test_gates_command_exits_0_when_healthy(stack: Stack) -> None:
    _, text = gates_until(
        stack, "healthy", False, lambda code, _: code == 0, "`b2tui gates` to exit 0"
    )
    rows = {line.split()[0]: line for line in text.splitlines()[2:-1] if not line.startswith(" ")}
    assert list(rows) == ["error_rate", "p95_ms", "request_rate"]
    assert "< 0.10%" in rows["error_rate"] and "PASS" in rows["error_rate"]
    assert "0.00% < 0.10% (absolute" in rows["error_rate"]
    assert "≥ 1.0 req/s" in rows["request_rate"]
    queries = [line for line in text.splitlines() if line.startswith("    query: ")]
    assert len(queries) == 3
    assert 'app="healthy"' in queries[0]
    assert text.splitlines()[-1] == "PASS: all 3 gates pass"


def test_gates_command_exits_1_at_two_percent_errors(stack: Stack) -> None:
    code, text = gates_until(
        stack, "errors", False, lambda _, text: "FAIL" in text, "`b2tui gates` to report a fail"
    )
    assert code == 1
    assert text.splitlines()[-1] == "FAIL: error_rate"


def test_gates_command_json_lines_parse(stack: Stack) -> None:
    code, text = gates_until(
        stack, "errors", True, lambda _, text: '"fail"' in text, "a failing JSON report"
    )
    lines = [json.loads(line) for line in text.splitlines()]
    assert code == 1
    assert [d["gate"] for d in lines] == ["error_rate", "p95_ms", "request_rate"]
    for d in lines:
        assert {"gate", "value", "threshold", "sign", "status", "reason", "track", "rule"} <= set(d)
        assert {"baseline", "requests", "query", "verdict", "detail", "absolute"} <= set(d)
        assert d["track"] is None
        assert d["rule"] == "absolute"
    assert lines[0]["status"] == "fail"
    assert 0.015 < lines[0]["value"] < 0.025
    assert lines[0]["threshold"] == 0.001
    assert lines[0]["sign"] == ">"
    assert lines[0]["verdict"].startswith(f"{lines[0]['value'] * 100:.2f}% > 0.10% (absolute")


def test_gates_command_prints_one_line_when_prometheus_is_down(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    settings = Settings(
        prometheus=PrometheusSettings(url=url, timeout=2.0),
        environments={"production": env_for("healthy")},
    )
    out = io.StringIO()
    assert run_gates_main(settings, "production", None, False, out) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert url in err
    assert out.getvalue() == ""
