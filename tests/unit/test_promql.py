"""Pure parts of the Prometheus adapter: ``$selector`` expansion and answer parsing."""

from __future__ import annotations

import pytest

from b2tui.adapters.prometheus import (
    expand_selector,
    gate_queries,
    health_reason,
    no_target_notice,
    reading_from_result,
    suggest_config,
    track_matchers,
)
from b2tui.config import EnvironmentSettings, GateSettings, PrometheusSettings, QuerySettings
from b2tui.domain.gates import Comparison, GateStatus, Reading, judge
from b2tui.gatespecs import gate_specs

ERRORS = (
    'sum(rate(http_requests_total{status=~"5..",$selector}[1m]))'
    " / sum(rate(http_requests_total{$selector}[1m]))"
)


def env(
    selector: str = 'namespace="shop",app="web"', track_label: str = "track"
) -> EnvironmentSettings:
    return EnvironmentSettings(name="production", selector=selector, track_label=track_label)


# --- $selector ---------------------------------------------------------------------------


def test_selector_and_track_replace_every_placeholder() -> None:
    matchers = track_matchers(env(), "canary")
    assert matchers == 'namespace="shop",app="web",track="canary"'
    assert expand_selector(ERRORS, matchers) == (
        'sum(rate(http_requests_total{status=~"5..",namespace="shop",app="web",track="canary"}[1m]))'
        ' / sum(rate(http_requests_total{namespace="shop",app="web",track="canary"}[1m]))'
    )


def test_whole_service_has_no_track_matcher() -> None:
    assert track_matchers(env(), None) == 'namespace="shop",app="web"'


def test_track_alone_when_the_selector_is_empty() -> None:
    q = expand_selector(ERRORS, track_matchers(env(""), "stable"))
    assert '{status=~"5..",track="stable"}' in q
    assert '{track="stable"}' in q


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('x{status=~"5..",$selector}', 'x{status=~"5.."}'),
        ('x{status=~"5..", $selector}', 'x{status=~"5.."}'),
        ('x{$selector,status=~"5.."}', 'x{status=~"5.."}'),
        ("up{$selector}", "up"),
        ("up{ $selector }", "up"),
        ("sum(rate(x{$selector}[1m])) by (le)", "sum(rate(x[1m])) by (le)"),
        ('x{a="1",$selector,b="2"}', 'x{a="1",b="2"}'),
        ("no placeholder", "no placeholder"),
    ],
)
def test_empty_selector_leaves_valid_promql(query: str, expected: str) -> None:
    assert expand_selector(query, track_matchers(env(""), None)) == expected


@pytest.mark.parametrize("selector", ['{app="web"}', 'app="web",', ' app="web" '])
def test_selector_written_with_braces_or_trailing_comma_is_normalised(selector: str) -> None:
    assert track_matchers(env(selector), "canary") == 'app="web",track="canary"'


def test_custom_track_label_and_quotes_in_the_track_are_escaped() -> None:
    assert track_matchers(env("", "version"), 'a"b\\c') == 'version="a\\"b\\\\c"'


def test_a_longer_word_is_not_a_placeholder() -> None:
    assert expand_selector("x{$selectors}", 'a="1"') == "x{$selectors}"


# --- answers -----------------------------------------------------------------------------


def vector(*values: str) -> list[dict[str, object]]:
    return [{"metric": {"i": str(n)}, "value": [1700000000.0, v]} for n, v in enumerate(values)]


def test_a_single_value_is_read_and_scaled() -> None:
    r = reading_from_result("p95_ms", "vector", vector("0.182"), scale=1000)
    assert r == Reading("p95_ms", 182.0)
    assert reading_from_result("error_rate", "vector", vector("0")) == Reading("error_rate", 0.0)


def test_empty_result_is_no_series_yet() -> None:
    r = reading_from_result("error_rate", "vector", [])
    assert r.value is None
    assert r.reason == "no series yet"


def test_nan_error_rate_means_no_traffic() -> None:
    r = reading_from_result("error_rate", "vector", vector("NaN"))
    assert r.value is None
    assert "no traffic" in r.reason


def test_nan_p95_means_no_requests_observed() -> None:
    r = reading_from_result("p95_ms", "vector", vector("NaN"), scale=1000)
    assert r.value is None
    assert "no requests observed" in r.reason


def test_nan_of_an_extra_gate_says_nan() -> None:
    assert reading_from_result("memory", "vector", vector("NaN")).reason == "NaN"


@pytest.mark.parametrize(("raw", "sign"), [("+Inf", "+"), ("-Inf", "-")])
def test_infinities_are_unknown(raw: str, sign: str) -> None:
    r = reading_from_result("p95_ms", "vector", vector(raw), scale=1000)
    assert r.value is None
    assert r.reason == f"infinite value ({sign}Inf)"


def test_more_than_one_series_says_so() -> None:
    r = reading_from_result("error_rate", "vector", vector("0.1", "0.2", "0.3"))
    assert r.value is None
    assert r.reason.startswith("3 series")
    assert "sum(" in r.reason


def test_scalar_results_are_read() -> None:
    assert reading_from_result("cpu", "scalar", [1.0, "2.5"]) == Reading("cpu", 2.5)


def test_range_vector_result_is_unknown_with_reason() -> None:
    r = reading_from_result("cpu", "matrix", [{"metric": {}, "values": [[1.0, "1"]]}])
    assert r.value is None
    assert "matrix" in r.reason


def test_garbage_value_is_unknown() -> None:
    assert reading_from_result("cpu", "vector", vector("abc")).value is None


def test_unknown_readings_never_pass_a_gate() -> None:
    for raw in ("NaN", "+Inf"):
        reading = reading_from_result("error_rate", "vector", vector(raw))
        spec = gate_specs(GateSettings(), PrometheusSettings())[0]
        assert judge(spec, reading).status is GateStatus.UNKNOWN


# --- up ----------------------------------------------------------------------------------


def up(*pairs: tuple[str, str]) -> list[dict[str, object]]:
    return [{"metric": {"instance": i}, "value": [1.0, v]} for i, v in pairs]


def test_all_targets_up_is_healthy() -> None:
    assert health_reason(up(("a:80", "1"), ("b:80", "1")), "up") is None


def test_one_target_down_names_it() -> None:
    reason = health_reason(up(("a:80", "1"), ("b:80", "0")), "up")
    assert reason == "target down: 1 of 2 (b:80)"


def test_no_target_matched_is_not_a_verdict_but_one_notice() -> None:
    assert health_reason([], 'up{app="web"}') is None
    notice = no_target_notice('up{app="web"}', job_set=False)
    assert notice.startswith('no scrape target: up{app="web"} matched nothing')
    assert "set [prometheus] job" in notice
    assert "--explain" in notice


# --- queries by name ---------------------------------------------------------------------


def test_queries_by_name_use_the_services_own_names() -> None:
    prom = PrometheusSettings(
        requests="shop_http_requests_total",
        status_label="code",
        latency="shop_request_latency_seconds",
        job="shop",
        scrape_interval=15.0,
    )
    q = gate_queries(prom, poll=5.0)
    assert q.window == 60.0
    assert q.request_rate == "sum(rate(shop_http_requests_total{$selector}[1m]))"
    assert q.error_rate == (
        '(sum(rate(shop_http_requests_total{code=~"5..",$selector}[1m])) or vector(0))'
        " / sum(rate(shop_http_requests_total{$selector}[1m]))"
    )
    assert q.p95_seconds == (
        "histogram_quantile(0.95, sum by (le)"
        " (rate(shop_request_latency_seconds_bucket{$selector}[1m])))"
    )
    assert q.up == 'up{job="shop"}'
    assert q.generated == ("request_rate", "error_rate", "p95_seconds", "up")


def test_without_a_job_up_is_judged_on_the_selector() -> None:
    assert gate_queries(PrometheusSettings()).up == "up{$selector}"


@pytest.mark.parametrize(
    ("scrape", "poll", "window", "text"),
    [
        (15.0, 5.0, 60.0, "1m"),
        (1.0, 1.0, 4.0, "4s"),
        (30.0, 5.0, 120.0, "2m"),
        (1.0, 7.5, 8.0, "8s"),
    ],
)
def test_rate_window_is_four_scrapes_or_the_poll(
    scrape: float, poll: float, window: float, text: str
) -> None:
    q = gate_queries(PrometheusSettings(scrape_interval=scrape), poll)
    assert q.window == window
    assert f"[{text}]" in q.request_rate


def test_raw_promql_overrides_only_its_gate() -> None:
    q = gate_queries(PrometheusSettings(error_rate="sum(x{$selector})", rate_window=90.0))
    assert q.error_rate == "sum(x{$selector})"
    assert "[90s]" in q.request_rate
    assert "error_rate" not in q.generated


def test_histogram_name_given_with_its_bucket_suffix() -> None:
    q = gate_queries(PrometheusSettings(latency="lat_seconds_bucket"))
    assert "rate(lat_seconds_bucket{$selector}" in q.p95_seconds


def test_quotes_in_the_job_are_escaped() -> None:
    assert gate_queries(PrometheusSettings(job='a"b')).up == 'up{job="a\\"b"}'


# --- --explain ---------------------------------------------------------------------------


def test_suggestion_from_a_strangers_series() -> None:
    series = [
        {"__name__": "shop_http_requests_total", "code": c, "service_name": "shop",
         "variant": v, "job": "shop", "instance": f"127.0.0.1:{p}"}
        for c in ("200", "500") for v, p in (("stable", 1), ("canary", 2))
    ]  # fmt: skip
    buckets = [{"__name__": "shop_request_latency_seconds_bucket", "le": "0.1"}]
    s = suggest_config(
        PrometheusSettings(),
        EnvironmentSettings(name="production", selector='app="shop"'),
        names=["shop_http_requests_total", "shop_request_latency_seconds_bucket", "up"],
        counter_series=series,
        histogram_series=buckets,
        hints=("shop",),
    )
    assert s.fragment == (
        "[prometheus]\n"
        'requests = "shop_http_requests_total"\n'
        'status_label = "code"\n'
        'latency = "shop_request_latency_seconds"\n'
        'job = "shop"\n'
        "\n"
        "[environments.production]\n"
        "selector = 'service_name=\"shop\"'\n"
        'track_label = "variant"\n'
    )
    assert any("label variant: canary, stable" in line for line in s.lines)


def test_no_counter_no_fragment() -> None:
    s = suggest_config(
        PrometheusSettings(),
        EnvironmentSettings(name="production"),
        names=["up"],
        counter_series=[],
        histogram_series=[],
    )
    assert s.fragment == ""
    assert "no series" in s.lines[0]


# --- gate specs --------------------------------------------------------------------------


def test_gate_specs_follow_the_settings() -> None:
    prom = PrometheusSettings(extra=(QuerySettings("memory", "sum(x)", 2e9, "B"),))
    specs = gate_specs(GateSettings(error_rate_max=0.01, p95_max_ms=250, min_request_rate=2), prom)
    assert [(s.name, s.threshold, s.comparison, s.unit, s.traffic_guard) for s in specs] == [
        ("error_rate", 0.01, Comparison.MAX, "%", False),
        ("p95_ms", 250, Comparison.MAX, "ms", False),
        ("request_rate", 2, Comparison.MIN, "req/s", True),
        ("memory", 2e9, Comparison.MAX, "B", False),
    ]
