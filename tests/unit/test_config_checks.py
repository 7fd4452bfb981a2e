"""``[monitoring]`` and ``preview_service``: parsed, and bad input named with its line."""

from __future__ import annotations

import pytest

from b2tui.config import ConfigError, MonitoringCheck, parse_settings

ENVS = """
[environments.production]
strategy = "blue-green"
service = "web"
preview_service = "web-preview"
"""


def test_monitoring_checks_and_preview_parse() -> None:
    s = parse_settings(
        """
[monitoring]
manual = ["Spot check key features", { check = "No data issues", stage = "settle", owner = "@qa" }]
log_patterns = ["(?i)panic"]

[[monitoring.http]]
url = "https://shop.example/healthz"
expect_status = 204
"""
        + ENVS
    )
    assert s.monitoring.manual == (
        MonitoringCheck("Spot check key features", "key metrics", "@devops-engineer"),
        MonitoringCheck("No data issues", "settle", "@qa"),
    )
    assert s.monitoring.log_patterns == ("(?i)panic",)
    assert [(c.url, c.expect_status) for c in s.monitoring.http] == [
        ("https://shop.example/healthz", 204)
    ]
    assert s.environment("production").preview_service == "web-preview"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            '[monitoring]\nmanual = [{ check = "x", stage = "later" }]\n',
            "b2tui.toml:3: monitoring.manual: expected one of high alert | key metrics | settle",
        ),
        (
            '[monitoring]\nmanual = [{ title = "x" }]\n',
            'b2tui.toml:3: monitoring.manual: each entry is a string or a table with check = "…"',
        ),
        (
            '[monitoring]\nlog_patterns = ["(unclosed"]\n',
            "b2tui.toml:3: monitoring.log_patterns: ",
        ),
        ('[[monitoring.http]]\nmethod = "GET"\n', "each [[monitoring.http]] needs url"),
    ],
)
def test_bad_monitoring_input_is_one_line_with_its_place(table: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings("\n" + table + ENVS)
    assert len(err.value.problems) == 1
    assert message in err.value.problems[0], err.value.problems


CANARY = """
[environments.production]
service = "web"
traffic = "{traffic}"
ingress = "web"
route = "web"
canary_header = "{header}"
"""


def test_a_canary_header_parses_with_a_router_that_routes_by_header() -> None:
    for traffic in ("nginx", "gateway"):
        env = parse_settings(CANARY.format(traffic=traffic, header="X-Canary")).environment(
            "production"
        )
        assert (env.canary_header, env.canary_header_value) == ("X-Canary", "always")


def test_a_canary_header_on_the_replicas_router_is_one_line_at_its_key() -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(CANARY.format(traffic="replicas", header="X-Canary"))
    assert err.value.problems == [
        "b2tui.toml:7: environments.production: canary_header needs a router that routes by"
        ' header, and traffic = "replicas" cannot: use traffic = "nginx" or "gateway", or drop'
        " canary_header and name a preview_service (the checks then reach the canary's pods"
        " through it)"
    ]


def test_a_canary_header_that_is_no_header_name_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(CANARY.format(traffic="nginx", header="X Canary"))
    assert len(err.value.problems) == 1
    assert "canary_header" in err.value.problems[0]
    assert "'X Canary' is not an HTTP header name" in err.value.problems[0]
