"""A tiny instrumented "service" for Prometheus tests: real metrics, synthetic traffic.

It exposes, on ``/metrics`` of a loopback port, what a web service instrumented with
``prometheus_client`` would:

* ``http_requests_total{status,track,app,namespace}`` — a counter per status code;
* ``http_request_duration_seconds{track,app,namespace}`` — a latency histogram.

No real requests are made: a background thread advances the counters as if each track
served ``rate`` requests per second, a fraction ``error_ratio`` of them answered 500, each
taking ``latency`` seconds. Counts follow wall-clock time exactly (fractions carried from
tick to tick), so 2 % errors measure as 2 % and a 300 ms latency as a P95 just under
300 ms within a couple of scrapes. A test changes a track with :meth:`MetricsApp.set_track`;
``rate=0`` means no traffic (the series stay, their rates drop to 0).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import MetricsHandler

# Fine buckets around the 200 ms gate, so interpolated P95s land near the true latency.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 1.0, 2.5, 5.0)


@dataclass
class TrackState:
    """Synthetic traffic of one track."""

    rate: float = 50.0
    """Requests per second; 0 = no traffic."""
    error_ratio: float = 0.0
    """Fraction of requests answered with HTTP 500."""
    latency: float = 0.04
    """Seconds every request takes."""
    pending: float = 0.0
    """Fractional requests carried to the next tick."""
    pending_errors: float = 0.0
    """Fractional errors carried to the next tick."""


class MetricsApp:
    """An HTTP server exposing the metrics of a synthetic service.

    Args:
        app: Value of the ``app`` label.
        namespace: Value of the ``namespace`` label.
        tracks: Track names whose series exist from the start (healthy, 50 req/s).
        tick: Seconds between traffic updates.
    """

    def __init__(
        self,
        app: str,
        namespace: str = "shop",
        tracks: tuple[str, ...] = ("stable", "canary"),
        tick: float = 0.1,
    ) -> None:
        self.app = app
        self.namespace = namespace
        self.tick = tick
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests served.",
            ["status", "track", "app", "namespace"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency.",
            ["track", "app", "namespace"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self._lock = threading.Lock()
        self._tracks: dict[str, TrackState] = {}
        for t in tracks:
            self.set_track(t)
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self.port = 0

    # --- control (from the test) ---

    def set_track(
        self,
        track: str,
        *,
        rate: float | None = None,
        error_ratio: float | None = None,
        latency: float | None = None,
    ) -> None:
        """Change (or create) a track's traffic; omitted arguments keep their value."""
        with self._lock:
            state = self._tracks.setdefault(track, TrackState())
            if rate is not None:
                state.rate = rate
            if error_ratio is not None:
                state.error_ratio = error_ratio
            if latency is not None:
                state.latency = latency
            # Well-instrumented services initialise their label sets, so a 5xx series
            # exists (at 0) before the first error: error-rate queries then see 0, not
            # "no series".
            for status in ("200", "500"):
                self.requests.labels(status, track, self.app, self.namespace)
            self.duration.labels(track, self.app, self.namespace)

    # --- lifecycle ---

    def start(self) -> MetricsApp:
        """Serve ``/metrics`` on a free loopback port and start the traffic thread."""
        registry = self.registry

        class Handler(MetricsHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean

        Handler.registry = registry
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        serve = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop_serving() returns promptly
            name=f"metrics-{self.app}",
        )
        traffic = threading.Thread(target=self._traffic, name=f"traffic-{self.app}")
        for t in (serve, traffic):
            t.daemon = True
            t.start()
        self._threads = [serve, traffic]
        return self

    @property
    def target(self) -> str:
        """``host:port`` for a Prometheus static config."""
        return f"127.0.0.1:{self.port}"

    def stop_serving(self) -> None:
        """Stop answering scrapes (the port closes): Prometheus marks the target down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def stop(self) -> None:
        """Stop serving and generating traffic."""
        self._stop.set()
        self.stop_serving()
        for t in self._threads:
            t.join(timeout=5)

    # --- traffic ---

    def _traffic(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            elapsed, last = now - last, now
            with self._lock:
                for track, state in self._tracks.items():
                    self._advance(track, state, elapsed)

    def _advance(self, track: str, state: TrackState, elapsed: float) -> None:
        state.pending += state.rate * elapsed
        n = int(state.pending)
        if n <= 0:
            return
        state.pending -= n
        state.pending_errors += n * state.error_ratio
        errors = min(int(state.pending_errors), n)
        state.pending_errors -= errors
        labels = (track, self.app, self.namespace)
        self.requests.labels("500", *labels).inc(errors)
        self.requests.labels("200", *labels).inc(n - errors)
        hist = self.duration.labels(*labels)
        for _ in range(n):
            hist.observe(state.latency)
