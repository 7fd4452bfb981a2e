"""A real Prometheus for integration tests, and helpers to wait on what it measures.

:func:`start_prometheus` runs ``/usr/bin/prometheus`` on a free loopback port with a
generated configuration that scrapes the given targets every second (with static
``app``/``namespace`` labels and ``honor_labels`` so the app's own ``track`` label
survives), waits for ``/-/ready`` and returns a handle whose :meth:`~PromServer.stop`
kills it. When Prometheus does not come up the test fails with the tail of its log.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

import pytest

from b2tui.adapters.prometheus import PrometheusMetrics
from b2tui.commands.gates import gates_main
from b2tui.config import Settings
from tests.support.services import free_port, require_binary

T = TypeVar("T")

# Test queries use 5-second windows: rate() needs two scrapes inside the window, which
# with a 1 s scrape interval takes ~2 s instead of the minute of the production [1m].
FAST_ERROR_RATE = (
    'sum(rate(http_requests_total{status=~"5..",$selector}[5s]))'
    " / sum(rate(http_requests_total{$selector}[5s]))"
)
FAST_P95 = (
    "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{$selector}[5s]))"
    " by (le))"
)
FAST_REQUEST_RATE = "sum(rate(http_requests_total{$selector}[5s]))"


@dataclass(frozen=True)
class ScrapeTarget:
    """One ``host:port`` scraped with static ``app`` and ``namespace`` labels."""

    address: str
    app: str
    namespace: str


@dataclass
class PromServer:
    """A running Prometheus."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def query(self, promql: str) -> list[dict[str, object]]:
        """Instant query through plain urllib (independent of the adapter under test)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = json.load(resp)
        result: list[dict[str, object]] = body["data"]["result"]
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def prometheus_config(targets: list[ScrapeTarget]) -> str:
    """A Prometheus configuration scraping ``targets`` every second (YAML is JSON)."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "b2tui-test",
                "honor_labels": True,
                "static_configs": [
                    {"targets": [t.address], "labels": {"app": t.app, "namespace": t.namespace}}
                    for t in targets
                ],
            }
        ],
    }
    return json.dumps(config, indent=2)


def start_prometheus(
    targets: list[ScrapeTarget], workdir: Path, config_text: str | None = None
) -> PromServer:
    """Start Prometheus scraping ``targets`` (or with ``config_text``, a whole
    configuration of the test's own); return once it answers ``/-/ready``."""
    binary = require_binary("prometheus", "prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(config_text if config_text is not None else prometheus_config(targets))
    log = workdir / "prometheus.log"
    port = free_port()
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = PromServer(process, port, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"prometheus exited with {process.returncode}:\n{server.log_tail()}", pytrace=False
            )
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    pytest.fail(f"prometheus not ready after 30s:\n{server.log_tail()}", pytrace=False)


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    within: float,
    what: str,
    step: float = 0.5,
) -> T:
    """Await ``probe()`` until ``accept`` approves its value; return that value.

    On timeout the test fails naming ``what`` and showing the last value seen, so a
    failure says what the adapter measured instead of just "timed out".
    """
    deadline = time.monotonic() + within
    last: object = "nothing (every probe raised)"
    while True:
        try:
            value = await probe()
        except Exception as e:  # a probe may fail while data is still arriving
            last = f"{type(e).__name__}: {e}"
        else:
            if accept(value):
                return value
            last = value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {within:.0f}s waiting for {what}; last: {last}")
        await asyncio.sleep(step)


def run_gates_main(
    settings: Settings,
    env: str,
    track: str | None,
    as_json: bool,
    out: TextIO,
    explain: bool = False,
) -> int:
    """``b2tui gates`` composed as the CLI composes it: ``gates_main`` on the environment
    ``env`` of ``settings`` and the Prometheus adapter."""
    return gates_main(
        settings,
        settings.environment(env),
        track,
        as_json,
        out,
        explain,
        metrics=lambda: PrometheusMetrics(settings.prometheus, settings.gates.poll),
    )
