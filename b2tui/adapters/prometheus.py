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

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import ssl
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from b2tui.config import EnvironmentSettings, PrometheusSettings
from b2tui.domain.gates import TARGET, Reading
from b2tui.masking import Masker, mask
from b2tui.ports import Series, SourceError

__all__ = [
    "TARGET",
    "GateQueries",
    "PrometheusMetrics",
    "expand_selector",
    "gate_queries",
    "health_reason",
    "reading_from_result",
    "suggest_config",
    "track_matchers",
]


# Prometheus refuses range queries with more points than this per series.
_MAX_POINTS = 11_000

_PLACEHOLDER = r"\$selector\b"

# Why a NaN is not a number, per gate: the operator should read the cause, not "NaN".
_NAN_REASONS = {
    "error_rate": "no traffic (NaN: 0 requests / 0 requests)",
    "p95_ms": "no requests observed (NaN from an empty histogram)",
}


# --- pure helpers (unit-tested without a server) -----------------------------------------


def _escape_label_value(value: str) -> str:
    """A PromQL double-quoted string literal's body for ``value``."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def track_matchers(env: EnvironmentSettings, track: str | None) -> str:
    """The label matchers ``$selector`` stands for: the environment's selector, plus the
    track matcher when ``track`` is given. May be empty.

    The configured selector may be written with or without braces and with stray commas
    (``{app="x",}``); both are normalised so the result is a plain ``a="b",c="d"`` list.
    """
    parts = [p for p in [env.selector.strip().strip("{}").strip().strip(",").strip()] if p]
    if track:
        parts.append(f'{env.track_label}="{_escape_label_value(track)}"')
    return ",".join(parts)


def expand_selector(query: str, matchers: str) -> str:
    """Replace ``$selector`` in a PromQL query with ``matchers``.

    With empty ``matchers`` the placeholder is removed together with its comma, and an
    empty ``{$selector}`` disappears entirely, so ``x{status=~"5..",$selector}`` becomes
    ``x{status=~"5.."}`` and ``up{$selector}`` becomes ``up`` — both still valid PromQL.

    Args:
        query: PromQL text, possibly containing ``$selector`` (zero or more times).
        matchers: Comma-separated label matchers such as ``app="shop",track="canary"``.
    """
    if matchers:
        return re.sub(_PLACEHOLDER, lambda _: matchers, query)
    out = re.sub(r"\{\s*" + _PLACEHOLDER + r"\s*,?\s*\}", "", query)
    out = re.sub(r",\s*" + _PLACEHOLDER, "", out)
    out = re.sub(_PLACEHOLDER + r"\s*,\s*", "", out)
    return re.sub(_PLACEHOLDER, "", out)


def promql_duration(seconds: float) -> str:
    """``60`` → ``1m``, ``90`` → ``90s``, ``4.2`` → ``5s`` (whole seconds, rounded up)."""
    whole = max(1, math.ceil(seconds - 1e-9))
    return f"{whole // 60}m" if whole % 60 == 0 else f"{whole}s"


def rate_window(prom: PrometheusSettings, poll: float) -> float:
    """Seconds of the ``rate()`` window: ``rate_window``, else max(4 × scrape interval,
    poll) — rate() needs at least two scrapes in the window, four survive a missed
    scrape, and a window shorter than the poll would skip traffic between samples."""
    if prom.rate_window is not None:
        return float(max(1, math.ceil(prom.rate_window - 1e-9)))
    return float(max(1, math.ceil(max(4 * prom.scrape_interval, poll) - 1e-9)))


@dataclass(frozen=True)
class GateQueries:
    """The PromQL templates of one configuration (``$selector`` not yet expanded)."""

    error_rate: str
    p95_seconds: str
    request_rate: str
    up: str
    window: float
    """Seconds of the rate window (to turn a rate into a request count)."""
    generated: tuple[str, ...]
    """Names of the gates whose query b2tui wrote (the others are raw overrides)."""


def gate_queries(prom: PrometheusSettings, poll: float = 5.0) -> GateQueries:
    """The gate queries for ``[prometheus]``: raw PromQL where given, else generated by
    name.

    * ``request_rate``: ``sum(rate(<requests>{$selector}[W]))``;
    * ``error_rate``: ``(sum(rate(<requests>{<status_label>=~"<error_status>",$selector}[W]))
      or vector(0)) / sum(rate(<requests>{$selector}[W]))`` — no 5xx series reads 0 while
      requests exist; no request series stays empty and 0 requests is NaN (unknown);
    * ``p95_seconds``: ``histogram_quantile(0.95, sum by (le) (rate(<latency>_bucket{…}[W])))``;
    * ``up``: ``up{job="<job>"}`` with ``job``, else ``up{$selector}``.
    """
    window = rate_window(prom, poll)
    w = promql_duration(window)
    req = prom.requests
    errors = f'{prom.status_label}=~"{_escape_label_value(prom.error_status)}"'
    hist = prom.latency.removesuffix("_bucket")
    generated = {
        "request_rate": f"sum(rate({req}{{$selector}}[{w}]))",
        "error_rate": (
            f"(sum(rate({req}{{{errors},$selector}}[{w}])) or vector(0))"
            f" / sum(rate({req}{{$selector}}[{w}]))"
        ),
        "p95_seconds": (
            f"histogram_quantile(0.95, sum by (le) (rate({hist}_bucket{{$selector}}[{w}])))"
        ),
        "up": (f'up{{job="{_escape_label_value(prom.job)}"}}' if prom.job else "up{$selector}"),
    }
    raw = {
        "request_rate": prom.request_rate,
        "error_rate": prom.error_rate,
        "p95_seconds": prom.p95_seconds,
        "up": prom.up,
    }
    chosen: dict[str, str] = {k: raw[k] or v for k, v in generated.items()}
    return GateQueries(
        error_rate=chosen["error_rate"],
        p95_seconds=chosen["p95_seconds"],
        request_rate=chosen["request_rate"],
        up=chosen["up"],
        window=window,
        generated=tuple(k for k in generated if not raw[k]),
    )


def _parse_value(raw: Any) -> float | None:
    """Prometheus sends sample values as strings ("0.5", "NaN", "+Inf")."""
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def reading_from_result(name: str, result_type: str, result: Any, *, scale: float = 1.0) -> Reading:
    """Turn the ``data`` of an instant query into one gate reading.

    Args:
        name: Gate name (``error_rate``, ``p95_ms`` …); also picks the NaN explanation.
        result_type: ``data.resultType`` (``vector``, ``scalar``, ``matrix``, ``string``).
        result: ``data.result``.
        scale: Factor applied to a finite value (1000 turns seconds into ms).
    """
    if result_type == "scalar":
        pair = result
    elif result_type == "vector":
        if not result:
            return Reading(name, None, "no series yet")
        if len(result) > 1:
            return Reading(
                name,
                None,
                f"{len(result)} series; the query must return one (aggregate it, e.g. sum(...))",
            )
        pair = result[0].get("value")
    else:
        return Reading(name, None, f"query returns a {result_type}, not an instant vector")
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return Reading(name, None, "malformed sample in the answer")
    value = _parse_value(pair[1])
    if value is None:
        return Reading(name, None, f"not a number: {str(pair[1])[:40]}")
    if math.isnan(value):
        return Reading(name, None, _NAN_REASONS.get(name, "NaN"))
    if math.isinf(value):
        sign = "+" if value > 0 else "-"
        return Reading(name, None, f"infinite value ({sign}Inf)")
    return Reading(name, value * scale)


def health_reason(result: list[dict[str, Any]], query: str) -> str | None:
    """Why the targets behind a sample are unhealthy, from the result of ``up{…}``; None
    when every matching target is up, or when nothing matched (see :func:`no_target_notice`).

    Args:
        result: ``data.result`` of the ``up`` query (a vector).
        query: The expanded ``up`` query.
    """
    if not result:
        return None
    down = [
        s.get("metric", {}).get("instance", "?")
        for s in result
        if _parse_value((s.get("value") or [None, None])[1]) == 0.0
    ]
    if not down:
        return None
    shown = ", ".join(down[:3]) + (", …" if len(down) > 3 else "")
    return f"target down: {len(down)} of {len(result)} ({shown})"


def no_target_notice(query: str, job_set: bool) -> str:
    """The one notice for an ``up`` query that matched nothing: what to set."""
    if job_set:
        how = "check [prometheus] job against the job names of `b2tui gates --explain`"
    else:
        how = (
            'set [prometheus] job = "<scrape job of the service>" (on most Prometheus'
            " servers up carries only job and instance); `b2tui gates --explain` lists them"
        )
    return f"no scrape target: {query} matched nothing, so a down target goes unnoticed; {how}"


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception behind an httpx error (``Connection refused``, a TLS
    verification failure) — httpx's own message is often just "All connection attempts
    failed"."""
    seen = {id(error)}
    while True:
        nxt = error.__cause__ or error.__context__
        if nxt is None or id(nxt) in seen:
            return error
        seen.add(id(nxt))
        error = nxt


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- the adapter -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Query:
    """One gate's PromQL and how to read its value."""

    name: str
    promql: str
    scale: float = 1.0


class PrometheusMetrics:
    """Gate readings and history from a Prometheus server (implements ``Metrics``).

    Args:
        settings: ``[prometheus]``: URL, credentials, TLS, the gate queries. Thresholds
            are not the adapter's business: the caller judges readings
            (:func:`~b2tui.domain.gates.judge_sample`).
    """

    def __init__(self, settings: PrometheusSettings, poll: float = 5.0) -> None:
        self._settings = settings
        self._gq = gate_queries(settings, poll)
        parts = urlsplit(settings.url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourceError(
                f"[prometheus] url {_one_line(parts.geturl(), 80)!r} is not an http(s) URL;"
                ' set e.g. url = "http://127.0.0.1:9090"'
            )
        # Userinfo in the URL becomes basic auth; the URL we keep and show has none, so
        # it can be printed and logged (httpx logs request URLs) without leaking it.
        self._url_auth = (parts.username or "", parts.password or "") if parts.username else None
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.url = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
        """Base URL without credentials: safe to display."""
        self._ssl: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return f"PrometheusMetrics({self.url})"

    @property
    def queries(self) -> GateQueries:
        """The gate queries in use (templates, ``$selector`` unexpanded)."""
        return self._gq

    # --- queries ---

    def _queries(self) -> list[_Query]:
        s, q = self._settings, self._gq
        queries = [
            _Query("error_rate", q.error_rate),
            _Query("p95_ms", q.p95_seconds, scale=1000.0),
            _Query("request_rate", q.request_rate),
        ]
        queries += [_Query(x.name, x.query) for x in s.extra]
        return queries

    # --- Metrics port ---

    async def sample(self, env: EnvironmentSettings, track: str | None) -> dict[str, Reading]:
        """One reading per gate (``error_rate``, ``p95_ms``, ``request_rate``, extras),
        each with its expanded query and the requests in the window behind it, plus the
        ``target`` reading of the target check.

        The gate queries and the target-health query run concurrently in one client.

        Raises:
            SourceError: Prometheus unreachable, refused the request or the query.
        """
        matchers = track_matchers(env, track)
        queries = self._queries()
        up_queries: list[str] = []
        up = self._gq.up.strip()
        if up:
            up_queries.append(expand_selector(up, matchers))
            broad = expand_selector(up, track_matchers(env, None))
            if track and broad != up_queries[0]:
                # The track label usually sits on the series (the app exports it), not on
                # the scrape target; then up{…,track="canary"} matches nothing and we judge
                # the targets of the whole selector instead.
                up_queries.append(broad)
        expanded = [expand_selector(q.promql, matchers) for q in queries]
        requests = [
            ("/api/v1/query", {"query": e}, q.name) for q, e in zip(queries, expanded, strict=True)
        ]
        requests += [("/api/v1/query", {"query": u}, "up") for u in up_queries]
        data = await self._fetch_all(requests)
        gate_data, up_data = data[: len(queries)], data[len(queries) :]
        target: Reading | None = None
        if up_data:
            chosen, query = up_data[0], up_queries[0]
            if not chosen.get("result") and len(up_data) > 1:
                chosen, query = up_data[1], up_queries[1]
            result = list(chosen.get("result") or [])
            reason = health_reason(result, query)
            if not result:
                notice = no_target_notice(up_queries[-1], bool(self._settings.job))
                target = Reading(TARGET, None, notice, query=up_queries[-1])
            elif reason is not None:
                out = {
                    q.name: Reading(q.name, None, reason, query=e)
                    for q, e in zip(queries, expanded, strict=True)
                }
                out[TARGET] = Reading(TARGET, 0.0, reason, query=query)
                return out
            else:
                target = Reading(TARGET, float(len(result)), f"{len(result)} up", query=query)
        out = {
            q.name: replace(
                reading_from_result(
                    q.name, str(d.get("resultType", "")), d.get("result"), scale=q.scale
                ),
                query=e,
            )
            for q, d, e in zip(queries, gate_data, expanded, strict=True)
        }
        rate = out["request_rate"].value
        if rate is not None:
            count = round(rate * self._gq.window, 1)
            out = {n: replace(r, requests=count) for n, r in out.items()}
        if target is not None:
            out[TARGET] = target
        return out

    async def history(
        self, env: EnvironmentSettings, track: str | None, seconds: float, step: float
    ) -> dict[str, Series]:
        """Range query per gate over the last ``seconds``, one point per ``step``.

        Every step of the window gets a point; where Prometheus has no value (no series,
        NaN, ±Inf, more than one series) the point is ``None`` so a sparkline shows a gap.

        Raises:
            SourceError: as :meth:`sample`.
        """
        if seconds <= 0 or step <= 0:
            raise ValueError("history needs seconds > 0 and step > 0")
        # Whole milliseconds, as Prometheus evaluates them, so our grid of points lines
        # up exactly with the timestamps it answers with.
        step_ms = max(round(step * 1000), math.ceil(seconds * 1000 / _MAX_POINTS), 1)
        end_ms = round(time.time() * 1000)
        start_ms = end_ms - round(seconds * 1000)
        grid_ms = range(start_ms, end_ms + 1, step_ms)
        matchers = track_matchers(env, track)
        queries = self._queries()
        params = {
            "start": f"{start_ms / 1000:.3f}",
            "end": f"{end_ms / 1000:.3f}",
            "step": f"{step_ms / 1000:.3f}",
        }
        answers = await self._fetch_all(
            [
                (
                    "/api/v1/query_range",
                    {"query": expand_selector(q.promql, matchers), **params},
                    q.name,
                )
                for q in queries
            ]
        )
        out: dict[str, Series] = {}
        for q, d in zip(queries, answers, strict=True):
            result = d.get("result") or []
            by_ms: dict[int, float | None] = {}
            # Several series cannot be one sparkline; like sample(), show nothing rather
            # than a guess.
            if d.get("resultType") == "matrix" and len(result) == 1:
                for t, raw in result[0].get("values", []):
                    v = _parse_value(raw)
                    by_ms[round(float(t) * 1000)] = (
                        v * q.scale if v is not None and math.isfinite(v) else None
                    )
            out[q.name] = Series(q.name, [(ms / 1000, by_ms.get(ms)) for ms in grid_ms])
        return out

    async def explain(self, env: EnvironmentSettings, hints: tuple[str, ...] = ()) -> Suggestion:
        """What the configured names find on this Prometheus, and a config fragment
        that would match the series found (``b2tui gates --explain``).

        Raises:
            SourceError: as :meth:`sample`.
        """
        s = self._settings
        hist = s.latency.removesuffix("_bucket") + "_bucket"
        since = f"{time.time() - 3600:.0f}"
        first = await self._fetch_any(
            [
                ("/api/v1/label/__name__/values", {"start": since}, "metric names"),
                ("/api/v1/series", {"match[]": s.requests, "start": since}, "series"),
                ("/api/v1/series", {"match[]": hist, "start": since}, "series"),
            ]
        )
        names = [str(n) for n in first[0]] if isinstance(first[0], list) else []
        counter = [dict(x) for x in first[1]] if isinstance(first[1], list) else []
        histogram = [dict(x) for x in first[2]] if isinstance(first[2], list) else []
        pending = []
        if not counter:
            cand = _pick_name(s.requests, False, names, ("request",), "_total")
            if cand:
                pending.append(("counter", cand))
        if not histogram:
            cand = _pick_name(hist, False, names, ("latency", "duration"), "_bucket")
            if cand:
                pending.append(("histogram", cand))
        if pending:
            more = await self._fetch_any(
                [
                    ("/api/v1/series", {"match[]": name, "start": since}, "series")
                    for _, name in pending
                ]
            )
            for (kind, _), found in zip(pending, more, strict=True):
                rows = [dict(x) for x in found] if isinstance(found, list) else []
                if kind == "counter":
                    counter = rows
                else:
                    histogram = rows
        return suggest_config(
            s,
            env,
            names=names,
            counter_series=counter[:2000],
            histogram_series=histogram[:1],
            hints=hints,
        )

    async def _fetch_any(self, requests: list[tuple[str, dict[str, str], str]]) -> list[Any]:
        """Like :meth:`_fetch_all` for API paths whose ``data`` is a list."""
        async with self._client() as client:
            answers = await asyncio.gather(
                *(self._get(client, p, q, g, raw=True) for p, q, g in requests),
                return_exceptions=True,
            )
        for a in answers:
            if isinstance(a, BaseException):
                raise a
        return list(answers)

    # --- HTTP ---

    async def _fetch_all(
        self, requests: list[tuple[str, dict[str, str], str]]
    ) -> list[dict[str, Any]]:
        """GET every ``(path, params, gate)`` concurrently over one client; their ``data``.

        All requests finish (or time out) before the first failure, in request order, is
        raised: no task is left running against a closed client.
        """
        async with self._client() as client:
            answers = await asyncio.gather(
                *(self._get(client, path, params, gate) for path, params, gate in requests),
                return_exceptions=True,
            )
        data: list[dict[str, Any]] = []
        for a in answers:
            if isinstance(a, BaseException):
                raise a
            data.append(a)
        return data

    def _client(self) -> httpx.AsyncClient:
        """A client for one sample.

        A fresh client per call keeps the adapter independent of any one event loop
        (httpx pools are loop-bound) and re-reads ``file:`` secrets, so a rotated
        service-account token is picked up on the next poll.
        """
        s = self._settings
        headers = {"Accept": "application/json", **s.headers}
        auth: httpx.BasicAuth | None = None
        try:
            if s.bearer_token is not None and (s.username or s.password or self._url_auth):
                raise SourceError(
                    "[prometheus] sets both bearer_token and username/password;"
                    " keep only one of them"
                )
            if s.bearer_token is not None:
                headers["Authorization"] = f"Bearer {s.bearer_token.reveal()}"
            elif s.username or s.password:
                password = s.password.reveal() if s.password is not None else ""
                auth = httpx.BasicAuth(s.username or "", password)
            elif self._url_auth is not None:
                auth = httpx.BasicAuth(*self._url_auth)
        except ValueError as e:
            # Secret.reveal names the reference (env var / file), never the value.
            raise SourceError(f"Prometheus credentials for {self.url}: {e}") from None
        return httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            auth=auth,
            verify=self._verify(),
            timeout=s.timeout,
            follow_redirects=False,
        )

    def _verify(self) -> ssl.SSLContext | bool:
        if not self._settings.ca_file:
            return True
        if self._ssl is None:
            try:
                self._ssl = ssl.create_default_context(cafile=self._settings.ca_file)
            except (OSError, ssl.SSLError) as e:
                why = getattr(e, "strerror", None) or str(e)
                raise SourceError(
                    f"[prometheus] ca_file {self._settings.ca_file}: cannot load ({why})"
                ) from None
        return self._ssl

    def _secrets(self) -> list[str]:
        """Credential values to scrub from any text we quote (best effort)."""
        s = self._settings
        values = [p for p in (self._url_auth or ()) if p]
        for secret in (s.bearer_token, s.password):
            if secret is not None:
                with contextlib.suppress(ValueError):
                    values.append(secret.reveal())
        values += [v for k, v in s.headers.items() if k.lower() in ("authorization", "cookie")]
        return [v for v in values if len(v) >= 4]

    def _scrub(self, text: str) -> str:
        """``text`` (often what the server answered) with every secret masked."""
        masker = Masker()
        for secret in self._secrets():
            masker.add(secret)
        if self._url_auth:
            masker.add_basic(*self._url_auth)
        if self._settings.password is not None:
            with contextlib.suppress(ValueError):
                masker.add_basic(self._settings.username or "", self._settings.password.reveal())
        return _one_line(masker.text(mask(text)))

    async def _get(
        self,
        client: httpx.AsyncClient,
        path: str,
        params: dict[str, str],
        gate: str,
        *,
        raw: bool = False,
    ) -> Any:
        """GET an API path; the ``data`` object of a successful answer."""
        where = f"Prometheus at {self.url}"
        # Ask the server to give up before we do, so it does not keep evaluating.
        params = {**params, "timeout": f"{max(self._settings.timeout - 0.5, 0.5):g}"}
        try:
            resp = await client.get(path, params=params)
        except httpx.TimeoutException:
            raise SourceError(
                f"{where} did not answer the {gate} query within {self._settings.timeout:g}s;"
                " check [prometheus] url and timeout"
            ) from None
        except httpx.ConnectError as e:
            cause = _root_cause(e)
            if isinstance(cause, ssl.SSLCertVerificationError):
                raise SourceError(
                    f"cannot verify the TLS certificate of {where}: {cause.verify_message};"
                    " set [prometheus] ca_file to the CA that signed it"
                ) from None
            if isinstance(cause, OSError) and cause.errno:
                why = os.strerror(cause.errno)  # "Connection refused", not asyncio's wording
            else:
                why = str(cause) or type(e).__name__
            raise SourceError(
                f"cannot connect to {where}: {self._scrub(why)};"
                " is it running and is [prometheus] url right?"
            ) from None
        except httpx.HTTPError as e:
            raise SourceError(f"{where}: {type(e).__name__}: {self._scrub(str(e))}") from None
        body: Any = None
        with contextlib.suppress(ValueError):
            body = resp.json()
        if resp.status_code in (401, 403):
            cred = self._credential_hint()
            raise SourceError(
                f"{where} refused the request (HTTP {resp.status_code} {resp.reason_phrase});"
                f" check {cred}"
            )
        if resp.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
            if isinstance(body, dict) and body.get("error"):
                kind = f" {body['errorType']}" if body.get("errorType") else ""
                detail = f"{kind}: {body['error']}"
            else:
                detail = f": {resp.text}" if resp.text.strip() else ""
            verb = "rejected" if 400 <= resp.status_code < 500 else "failed"
            hint = ""
            if resp.status_code == 404:
                hint = "; [prometheus] url must be the base URL that /api/v1/query is under"
            raise SourceError(
                self._scrub(
                    f"{where} {verb} the {gate} query (HTTP {resp.status_code}{detail}){hint}"
                )
            )
        data = body.get("data")
        if raw:
            return data
        if not isinstance(data, dict):
            raise SourceError(f"{where}: answer to the {gate} query has no data")
        return data

    def _credential_hint(self) -> str:
        s = self._settings
        if s.bearer_token is not None:
            return f"[prometheus] bearer_token ({s.bearer_token.source})"
        if s.username or s.password or self._url_auth:
            return "[prometheus] username/password"
        return "[prometheus] credentials (none are configured)"


# --- explain: what the configured names find, and a fragment that would match ----------

_STATUS_LABELS = ("code", "status", "status_code", "http_status", "response_code", "http_code")
_TRACK_VALUES = {"canary", "stable", "baseline", "primary"}
_NOT_SELECTOR = {"__name__", "job", "instance", "le", "quantile"}
_SERVICE_LABELS = ("service", "app", "application", "service_name", "app_kubernetes_io_name")


@dataclass(frozen=True)
class Suggestion:
    """What ``b2tui gates --explain`` found and proposes."""

    lines: tuple[str, ...]
    """What was found, one finding per line."""
    fragment: str
    """TOML that would match the series found (empty when nothing was found)."""


def _label_values(series: list[dict[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for s in series:
        for k, v in s.items():
            out.setdefault(k, set()).add(v)
    return out


def _pick_name(
    configured: str, found: bool, names: list[str], words: tuple[str, ...], suffix: str
) -> str | None:
    if found:
        return configured
    candidates = [n for n in names if n.endswith(suffix) and any(w in n for w in words)]
    candidates.sort(key=lambda n: ("http" not in n, len(n), n))
    return candidates[0] if candidates else None


def _toml(value: str) -> str:
    return "'" + value + "'" if '"' in value and "'" not in value else json.dumps(value)


def suggest_config(
    prom: PrometheusSettings,
    env: EnvironmentSettings,
    *,
    names: list[str],
    counter_series: list[dict[str, str]],
    histogram_series: list[dict[str, str]],
    hints: tuple[str, ...] = (),
) -> Suggestion:
    """Propose ``[prometheus]`` and environment keys from the series Prometheus holds.

    Args:
        prom: The configured names.
        env: The environment (its selector and track label).
        names: Every metric name Prometheus knows (to find candidates).
        counter_series: Label sets of the request counter (configured or candidate).
        histogram_series: Label sets of the latency histogram's ``_bucket`` series.
        hints: Names of the service (``service.name``, the deployment) to pick the
            selector value by.
    """
    lines: list[str] = []
    counter = counter_series[0].get("__name__") if counter_series else None
    hist = (
        histogram_series[0].get("__name__", "").removesuffix("_bucket")
        if histogram_series
        else None
    )
    if counter is None:
        lines.append(f"request counter {prom.requests}: no series; no *request*_total metric found")
    elif counter != prom.requests:
        lines.append(f"request counter {prom.requests}: no series; candidate {counter}")
    else:
        lines.append(f"request counter {counter}: {len(counter_series)} series")
    if hist is None:
        lines.append(f"latency histogram {prom.latency}: no _bucket series found")
    elif hist != prom.latency.removesuffix("_bucket"):
        lines.append(f"latency histogram {prom.latency}: no series; candidate {hist}")
    else:
        lines.append(f"latency histogram {hist}: found")
    values = _label_values(counter_series)
    for k in sorted(values):
        if k != "__name__":
            shown = sorted(values[k])
            more = f", … ({len(shown)})" if len(shown) > 6 else ""
            lines.append(f"  label {k}: {', '.join(shown[:6])}{more}")
    if not counter_series or counter is None:
        return Suggestion(tuple(lines), "")
    status = prom.status_label if prom.status_label in values else None
    if status is None:
        status = next((k for k in _STATUS_LABELS if k in values), None)
    if status is None:
        status = next(
            (k for k, v in values.items() if v and all(re.fullmatch(r"\d{3}|\dxx", x) for x in v)),
            None,
        )
    track = env.track_label if env.track_label in values else None
    if track is None:
        track = next((k for k, v in values.items() if v & _TRACK_VALUES), None)
    skip = _NOT_SELECTOR | {status or "", track or ""}
    configured = [
        m.split("=", 1)[0].strip().rstrip("!~")
        for m in env.selector.strip().strip("{}").split(",")
        if "=" in m
    ]
    selector: dict[str, str] = {}
    for k in configured:
        if k in values and len(values[k]) == 1:
            selector[k] = next(iter(values[k]))
    if not selector:
        for k in [*_SERVICE_LABELS, *sorted(values)]:
            if k in skip or k not in values or k in selector:
                continue
            vals = values[k]
            hit = next((h for h in hints if h in vals), None)
            if hit is not None:
                selector[k] = hit
                break
            if len(vals) == 1 and k in _SERVICE_LABELS:
                selector[k] = next(iter(vals))
                break
    mine = [x for x in counter_series if all(x.get(k) == v for k, v in selector.items())]
    jobs = sorted({x["job"] for x in mine if "job" in x})
    frag = ["[prometheus]", f"requests = {_toml(counter)}"]
    if status:
        frag.append(f"status_label = {_toml(status)}")
    else:
        lines.append("  no label with HTTP status codes found on the counter")
    if hist:
        frag.append(f"latency = {_toml(hist)}")
    if len(jobs) == 1:
        frag.append(f"job = {_toml(jobs[0])}")
    elif jobs:
        lines.append(f"  the counter comes from several jobs: {', '.join(jobs)}; pick one")
    frag.append("")
    frag.append(f"[environments.{env.name}]")
    sel = ",".join(f'{k}="{_escape_label_value(v)}"' for k, v in selector.items())
    frag.append(f"selector = '{sel}'")
    if track:
        frag.append(f"track_label = {_toml(track)}")
    else:
        lines.append(
            "  no label with canary/stable values found: canary and stable cannot be told apart"
        )
    return Suggestion(tuple(lines), "\n".join(frag) + "\n")
