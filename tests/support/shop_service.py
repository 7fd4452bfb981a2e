"""A web shop's checkout service, instrumented the way prometheus_client's documentation
shows — written without looking at what b2tui expects.

It does NOT share b2tui's defaults:

* the request counter is ``shop_http_requests_total`` (prometheus_client appends
  ``_total`` to the counter ``shop_http_requests``) with the status in label ``code``
  and the HTTP method in ``method``;
* latency is the histogram ``shop_request_latency_seconds`` with prometheus_client's
  default buckets;
* the service and its release track are labels the app sets itself: ``service_name``
  and ``variant`` (``stable``/``canary``) — so ``up`` has only ``job`` and ``instance``
  (the scrape config adds nothing);
* label sets are not pre-initialised: there is **no** ``code="500"`` series until the
  first request fails;
* every track is its own process-like instance (its own port, registry and scrape
  target), as pods are.

Traffic is generated inside the instance (no sockets per request, to keep the shared
machine quiet) through the same handler a real ``GET /checkout`` goes through:
``rate`` requests per second, a fraction ``error_ratio`` answered 500 — spread evenly,
so 0.3 % is 3 in every 1000 — each taking ``latency`` seconds, or, with ``burst``, the
error ratio switching between 0 and ``burst`` every ``burst_period`` seconds (a noisy
service). ``GET /checkout`` on the port serves one real request the same way.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import MetricsHandler


@dataclass
class Load:
    """How the instance is being used."""

    rate: float = 200.0
    """Requests per second."""
    error_ratio: float = 0.0
    """Fraction answered 500."""
    latency: float = 0.04
    """Seconds per request."""
    burst: float | None = None
    """When set, the error ratio alternates between 0 and this."""
    burst_period: float = 2.0
    """Seconds of each half of a burst cycle."""


class ShopInstance:
    """One instance (pod) of the checkout service.

    Args:
        service: Value of its ``service_name`` label.
        variant: Value of its ``variant`` label (``stable`` or ``canary``).
        load: Initial traffic.
    """

    def __init__(self, service: str, variant: str, load: Load | None = None) -> None:
        self.service = service
        self.variant = variant
        self.load = load or Load()
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "shop_http_requests",
            "HTTP requests handled by the checkout service.",
            ["code", "method", "service_name", "variant"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "shop_request_latency_seconds",
            "Time to answer a checkout request.",
            ["service_name", "variant"],
            registry=self.registry,
        )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._carry = 0.0
        self._error_carry = 0.0
        self._started = time.monotonic()
        self.port = 0

    def handle(self, method: str = "GET") -> int:
        """Serve one checkout request; its status code."""
        with self._lock:
            load = self.load
            ratio = load.error_ratio
            if load.burst is not None:
                phase = int((time.monotonic() - self._started) / load.burst_period) % 2
                ratio = load.burst if phase else 0.0
            self._error_carry += ratio
            failed = self._error_carry >= 1.0
            if failed:
                self._error_carry -= 1.0
            seconds = load.latency
        code = 500 if failed else 200
        self.requests.labels(str(code), method, self.service, self.variant).inc()
        self.latency.labels(self.service, self.variant).observe(seconds)
        return code

    def set_load(self, **changes: Any) -> None:
        """Change the traffic (``rate``, ``error_ratio``, ``latency``, ``burst``…)."""
        with self._lock:
            for k, v in changes.items():
                setattr(self.load, k, v)

    # --- lifecycle ---

    def start(self) -> ShopInstance:
        """Listen on a free loopback port (``/metrics``, ``/checkout``); start the load."""
        metrics = MetricsHandler.factory(self.registry)
        instance = self

        class Handler(metrics):  # type: ignore[valid-type,misc]
            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    super().do_GET()
                    return
                if self.path.startswith("/checkout"):
                    code = instance.handle()
                    self.send_response(code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_error(404)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        serve = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        drive = threading.Thread(target=self._drive, daemon=True)
        for t in (serve, drive):
            t.start()
        self._threads = [serve, drive]
        return self

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop_serving(self) -> None:
        """The instance dies: its port closes and scrapes fail."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def stop(self) -> None:
        self._stop.set()
        self.stop_serving()
        for t in self._threads:
            t.join(timeout=5)

    def _drive(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.05):
            now = time.monotonic()
            with self._lock:
                self._carry += self.load.rate * (now - last)
                n = int(self._carry)
                self._carry -= n
            last = now
            for _ in range(n):
                self.handle()


def scrape_config(jobs: dict[str, list[str]], interval: str = "1s") -> dict[str, Any]:
    """A plain Prometheus configuration: one job per service, static targets, no
    relabelling — so ``up`` carries ``job`` and ``instance`` only."""
    return {
        "global": {
            "scrape_interval": interval,
            "evaluation_interval": interval,
            "scrape_timeout": interval,
        },
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": targets}]}
            for job, targets in jobs.items()
        ],
    }
