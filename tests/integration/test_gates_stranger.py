"""Gates judged on a stranger's service, configured the way the README says.

A real Prometheus (Debian's) scrapes a checkout service written from prometheus_client's
documentation (``tests/support/shop_service.py``): its own metric and label names
(``shop_http_requests_total{code,service_name,variant}``,
``shop_request_latency_seconds``), ``up`` with only ``job``/``instance``, no 5xx series
until the first error, one scrape target per track, and a stable track with error rates
of its own. Each service below is a pair of instances (stable, canary) in its own job:

* ``healthy`` — 40 ms, no errors;  ``errors`` — healthy until a test makes the canary
  fail 2 %;  ``slow`` — the canary takes 300 ms;  ``idle`` — traffic until a test stops
  it;  ``down`` — the canary instance dies in a test;
* ``noisy`` — stable already fails 0.3 %, the canary too (no worse);
* ``zero`` — stable never fails, the canary fails 0.3 %;
* ``bursty`` — stable's errors switch between 0 and 3 % every 2 s, the canary fails 2 %.

The configuration is TOML text parsed by b2tui's own parser and judged by the same
function ``b2tui gates`` runs; the tests poll until the verdict arrives and fail showing
the last verdict when it never does.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from b2tui.config import Settings, parse_settings
from tests.support.prom import PromServer, run_gates_main, start_prometheus
from tests.support.services import wait_until
from tests.support.shop_service import Load, ShopInstance, scrape_config

pytestmark = pytest.mark.integration

WAIT = 45.0
SERVICES: dict[str, tuple[Load, Load]] = {
    "healthy": (Load(), Load()),
    "errors": (Load(), Load()),
    "slow": (Load(), Load(latency=0.3)),
    "idle": (Load(), Load()),
    "down": (Load(), Load()),
    "noisy": (Load(error_ratio=0.003), Load(error_ratio=0.003)),
    "zero": (Load(), Load(error_ratio=0.003)),
    "bursty": (Load(burst=0.03, burst_period=2.0), Load(error_ratio=0.02)),
}


@dataclass
class Shop:
    prom: PromServer
    instances: dict[tuple[str, str], ShopInstance]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    instances = {
        (name, variant): ShopInstance(name, variant, load)
        for name, loads in SERVICES.items()
        for variant, load in zip(("stable", "canary"), loads, strict=True)
    }
    for inst in instances.values():
        inst.start()
    jobs: dict[str, list[str]] = {}
    for (name, _), inst in instances.items():
        jobs.setdefault(name, []).append(inst.target)
    prom = start_prometheus(
        [], tmp_path_factory.mktemp("prometheus"), json.dumps(scrape_config(jobs))
    )
    try:
        # Every target needs a full 10 s rate window of scrapes before a verdict means
        # anything.
        wait_until(
            lambda: len(prom.query("count_over_time(up[10s]) >= 10")) == len(instances),
            WAIT,
            "Prometheus to hold 10 s of scrapes of every instance",
            step=0.5,
        )
        yield Shop(prom, instances)
    finally:
        prom.stop()
        for inst in instances.values():
            inst.stop()


def config(shop: Shop, service: str, gates: str = "", job: bool = True) -> Settings:
    """A b2tui.toml for ``service`` written from the README's Configuration section."""
    job_line = f'job = "{service}"' if job else ""
    text = f"""
[prometheus]
url = "{shop.prom.url}"
requests = "shop_http_requests_total"
status_label = "code"
latency = "shop_request_latency_seconds"
{job_line}
scrape_interval = "1s"
rate_window = "10s"
timeout = "5s"

[gates]
poll = "1s"
{gates}

[environments.staging]
selector = 'service_name="{service}"'
track_label = "variant"

[environments.production]
selector = 'service_name="{service}"'
track_label = "variant"
"""
    return parse_settings(text, "b2tui.toml")


@dataclass
class Report:
    code: int
    gates: dict[str, dict[str, Any]]
    notices: list[str]

    def __repr__(self) -> str:
        rows = [f"{g}: {d['status']} {d['verdict']}" for g, d in self.gates.items()]
        return f"Report(exit {self.code}; {'; '.join(rows)}; notices={self.notices})"


def gates(settings: Settings, track: str | None = "canary", explain: bool = False) -> Report:
    out = io.StringIO()
    code = run_gates_main(settings, "production", track, True, out, explain)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return Report(
        code,
        {d["gate"]: d for d in lines if "gate" in d},
        [d["notice"] for d in lines if "notice" in d],
    )


def until(settings: Settings, accept: Any, what: str, track: str | None = "canary") -> Report:
    last: list[Report] = []

    def probe() -> bool:
        last[:] = [gates(settings, track)]
        return bool(accept(last[0]))

    try:
        wait_until(probe, WAIT, what, step=0.5)
    except BaseException:
        print("last verdict:", last[0] if last else None)
        raise
    return last[0]


def status(report: Report, gate: str) -> str:
    return str(report.gates[gate]["status"]) if gate in report.gates else "absent"


# --- the workflow's defaults (absolute limits) ---------------------------------------------


def test_healthy_canary_passes_every_gate(shop: Shop) -> None:
    r = until(config(shop, "healthy"), lambda r: r.code == 0, "the healthy canary to pass")
    err, p95, rate = r.gates["error_rate"], r.gates["p95_ms"], r.gates["request_rate"]
    assert err["value"] == 0.0
    assert err["verdict"].startswith("0.00% < 0.10% (absolute")
    # 40 ms in prometheus_client's default (25 ms, 50 ms] bucket.
    assert 25.0 < p95["value"] <= 50.0
    assert 150.0 < rate["value"] < 250.0
    # The sample size: ~10 s of 200 req/s.
    assert 1500 < err["requests"] < 2500
    assert 'service_name="healthy"' in err["query"] and 'variant="canary"' in err["query"]
    assert r.notices == []
    # The service has never failed: there is no 5xx series at all, yet the gate reads 0.
    assert shop.prom.query('shop_http_requests_total{service_name="healthy",code="500"}') == []


def test_two_percent_canary_errors_fail_once_the_first_5xx_appears(shop: Shop) -> None:
    settings = config(shop, "errors")
    until(settings, lambda r: r.code == 0, "the canary to pass before its errors")
    assert shop.prom.query('shop_http_requests_total{service_name="errors",code="500"}') == []
    shop.instances[("errors", "canary")].set_load(error_ratio=0.02)
    # It fails from the first errors on; wait until the window holds only failing traffic.
    r = until(
        settings,
        lambda r: status(r, "error_rate") == "fail" and r.gates["error_rate"]["value"] > 0.015,
        "2 % errors to fail",
    )
    err = r.gates["error_rate"]
    assert 0.015 < err["value"] < 0.025
    assert err["sign"] == ">"
    assert err["verdict"].startswith(f"{err['value'] * 100:.2f}% > 0.10% (absolute")
    assert r.code == 1
    assert status(r, "p95_ms") == "pass"


def test_300ms_canary_fails_p95(shop: Shop) -> None:
    r = until(config(shop, "slow"), lambda r: status(r, "p95_ms") == "fail", "P95 to fail")
    p95 = r.gates["p95_ms"]
    assert p95["value"] > 250.0  # 300 ms lands in the (250 ms, 500 ms] bucket
    assert p95["verdict"].startswith(f"{p95['value']:.0f}ms > 200ms (absolute")
    assert status(r, "error_rate") == "pass"


def test_no_traffic_is_unknown(shop: Shop) -> None:
    settings = config(shop, "idle")
    until(settings, lambda r: r.code == 0, "traffic on the idle service first")
    shop.instances[("idle", "canary")].set_load(rate=0.0)
    r = until(
        settings,
        lambda r: r.gates["request_rate"]["value"] == 0.0,
        "the canary's request rate to drop to 0",
    )
    assert {d["status"] for d in r.gates.values()} == {"unknown"}
    assert "no traffic" in r.gates["error_rate"]["reason"]
    assert r.code == 1


def test_a_dead_target_is_unknown(shop: Shop) -> None:
    settings = config(shop, "down")
    until(settings, lambda r: r.code == 0, "the service to pass before it dies")
    dead = shop.instances[("down", "canary")]
    dead.stop_serving()
    r = until(
        settings,
        lambda r: r.gates["error_rate"]["status"] == "unknown",
        "Prometheus to see the canary instance down",
    )
    for d in r.gates.values():
        assert d["status"] == "unknown"
        assert d["reason"].startswith("target down: 1 of 2")
        assert dead.target in d["reason"]


def test_up_that_matches_nothing_is_a_notice_not_a_verdict(shop: Shop) -> None:
    # Without `job`, the target check is up{service_name="healthy"}: on this Prometheus up
    # has only job and instance, so it matches nothing.
    r = until(config(shop, "healthy", job=False), lambda r: r.code == 0, "gates to pass")
    [notice] = r.notices
    assert 'up{service_name="healthy"} matched nothing' in notice
    assert "set [prometheus] job" in notice


# --- canary against stable ----------------------------------------------------------------


def test_no_worse_than_a_failing_stable_passes_relative_and_fails_absolute(shop: Shop) -> None:
    relative = until(
        config(shop, "noisy", 'rule = "relative"'),
        lambda r: r.code == 0,
        "the canary (0.3 %) to pass against stable (0.3 %)",
    )
    err = relative.gates["error_rate"]
    assert err["rule"] == "relative"
    assert 0.002 < err["baseline"] < 0.004
    assert err["threshold"] > err["value"]
    assert err["verdict"].startswith(f"{err['value'] * 100:.2f}% < ")
    assert "(relative: stable " in err["verdict"]
    assert err["baseline_requests"] > 1000
    absolute = until(
        config(shop, "noisy"),
        lambda r: status(r, "error_rate") == "fail",
        "the same canary to fail the absolute 0.1 %",
    )
    assert absolute.gates["error_rate"]["rule"] == "absolute"
    assert "> 0.10% (absolute" in absolute.gates["error_rate"]["verdict"]


def test_a_zero_baseline_falls_back_to_the_absolute_limit(shop: Shop) -> None:
    r = until(
        config(shop, "zero", 'rule = "relative"'),
        lambda r: status(r, "error_rate") == "fail",
        "0.3 % canary errors against a stable without errors to fail",
    )
    err = r.gates["error_rate"]
    assert err["rule"] == "absolute"
    assert err["threshold"] == 0.001
    assert err["baseline"] == 0.0
    assert "baseline 0.00%: absolute limit" in err["verdict"]


def test_a_noisy_baseline_cannot_lift_the_limit_past_the_ceiling(shop: Shop) -> None:
    settings = config(shop, "bursty", 'rule = "relative"')
    verdicts: list[dict[str, Any]] = []

    def baseline_moved(r: Report) -> bool:
        # Sampled until stable's bursts moved the baseline (no pause decides how many).
        if status(r, "error_rate") != "unknown":
            verdicts.append(r.gates["error_rate"])
        return len({round(v["baseline"], 3) for v in verdicts}) > 1

    until(settings, baseline_moved, "stable's bursts to move the baseline")
    # Every sample on the way failed, under the ceiling, whatever the baseline said.
    assert [v["status"] for v in verdicts] == ["fail"] * len(verdicts), verdicts
    assert all(v["threshold"] <= 0.01 for v in verdicts), verdicts


def test_mann_whitney_fails_a_slow_canary_over_the_steps_samples(shop: Shop) -> None:
    settings = config(shop, "slow", 'p95_rule = "mann-whitney"\nmw_min_samples = 5')
    r = until(
        settings,
        lambda r: r.gates["p95_ms"]["rule"] == "mann-whitney",
        "enough P95 samples for Mann–Whitney",
    )
    p95 = r.gates["p95_ms"]
    assert p95["status"] == "fail"
    assert p95["verdict"].startswith(f"{p95['value']:.0f}ms vs stable ")
    assert "significantly higher" in p95["verdict"]
    healthy = until(
        config(shop, "healthy", 'p95_rule = "mann-whitney"\nmw_min_samples = 5'),
        lambda r: r.gates["p95_ms"]["rule"] == "mann-whitney",
        "Mann–Whitney on the healthy service",
    )
    assert healthy.gates["p95_ms"]["status"] == "pass"


# --- --explain ------------------------------------------------------------------------------


def test_explain_finds_the_strangers_names_and_its_fragment_works(shop: Shop) -> None:
    # A config with b2tui's default names, as `b2tui init` writes it.
    text = f"""
[prometheus]
url = "{shop.prom.url}"
[environments.staging]
[environments.production]
service = "healthy"
selector = 'app="healthy"'
"""
    judged = io.StringIO()
    assert run_gates_main(parse_settings(text), "production", None, False, judged) == 1
    assert "NO DATA: no series yet" in judged.getvalue()
    assert "hint: no query found a series; `b2tui gates --explain`" in judged.getvalue()
    out = io.StringIO()
    code = run_gates_main(parse_settings(text), "production", None, False, out, explain=True)
    report = out.getvalue()
    assert code == 0, report
    assert (
        "request counter http_requests_total: no series; candidate shop_http_requests_total"
        in report
    )
    fragment = report.split("A configuration that matches these series:\n\n", 1)[1]
    assert 'requests = "shop_http_requests_total"' in fragment
    assert 'status_label = "code"' in fragment
    assert 'latency = "shop_request_latency_seconds"' in fragment
    assert 'job = "healthy"' in fragment
    assert "selector = 'service_name=\"healthy\"'" in fragment
    assert 'track_label = "variant"' in fragment
    # The fragment, merged into the file, makes a working configuration.
    prom, env = fragment.split("[environments.production]\n")
    merged = (
        text.replace("[prometheus]\n", prom.strip() + "\n", 1)
        .replace("selector = 'app=\"healthy\"'\n", "")
        .replace("[environments.production]\n", "[environments.production]\n" + env)
        + '\n[gates]\npoll = "1s"\n'
    )
    merged = merged.replace(
        f'url = "{shop.prom.url}"', f'url = "{shop.prom.url}"\nrate_window = "10s"', 1
    )
    until(parse_settings(merged), lambda r: r.code == 0, "the explained config to pass")
