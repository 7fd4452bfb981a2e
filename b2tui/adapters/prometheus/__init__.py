"""Prometheus as the :class:`~b2tui.ports.Metrics` port: gate readings and sparkline history.

This adapter talks to the HTTP API (``/api/v1/query``, ``/api/v1/query_range``) with
**httpx** rather than prometheus-api-client, because httpx is natively async (the queries
of one sample run concurrently on the event loop, no thread hops), hands us the status
code and Prometheus' JSON ``error`` text directly instead of a wrapped string, and does
not retry behind our back (prometheus-api-client retries 5xx and connection errors with
a one-second backoff, which would stall a 5-second poll).

How *unknown* is decided — a gate reading has ``value=None`` and a ``reason`` when:

* the query returns no series (``"no series yet"``);
* it returns more than one series (``"3 series; …"``): a gate needs one number, so the
  query must aggregate (``sum(...)``), and picking one would be a guess;
* the value is ``NaN`` — for the error rate that is 0/0, i.e. no traffic in the window;
  for P95 it is a histogram with no observations;
* the value is ``+Inf``/``-Inf`` (e.g. P95 above the highest histogram bucket);
* the scrape target is not healthy: the ``up`` query (``up{job="…"}`` with ``job``,
  else ``up{$selector}``) is sent with every sample; if any matching target reports
  ``0`` every reading of the sample is unknown with ``"target down: …"``. Old series
  linger in a rate window after a target dies, so without this check a dead service
  could keep passing on stale numbers. When ``up`` matches *nothing* (on a typical
  Prometheus ``up`` carries only ``job``/``instance``, not the app's labels) that is
  not a verdict on every gate: the sample carries a ``target`` reading whose reason is
  one notice saying what to set, and the gates are judged on their own data.

By default the queries are generated from metric *names* (:func:`gate_queries`): the
request counter, its status label and the latency histogram, with a rate window of at
least four scrape intervals. An absent 5xx series counts as 0 while requests exist (a
service that never failed has no such series). Raw PromQL per gate overrides.

Anything that prevents an answer — connection refused, timeout, HTTP 4xx/5xx, a PromQL
parse error — raises :class:`~b2tui.ports.SourceError` with one line naming the URL and,
for rejected queries, Prometheus' own error text. Credentials never appear in messages,
reprs or logs: they are sent as headers only and scrubbed from any text we quote.
"""

from b2tui.adapters.prometheus.metrics import PrometheusMetrics
from b2tui.adapters.prometheus.promql import (
    GateQueries,
    expand_selector,
    gate_queries,
    track_matchers,
)
from b2tui.adapters.prometheus.suggest import suggest_config
from b2tui.adapters.prometheus.values import health_reason, no_target_notice, reading_from_result
from b2tui.domain.gates import TARGET

__all__ = [
    "TARGET",
    "GateQueries",
    "PrometheusMetrics",
    "expand_selector",
    "gate_queries",
    "health_reason",
    "no_target_notice",
    "reading_from_result",
    "suggest_config",
    "track_matchers",
]


# Prometheus refuses range queries with more points than this per series.
