"""The :class:`~b2tui.ports.Metrics` adapter over the Prometheus HTTP API (httpx)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import ssl
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from b2tui.adapters.prometheus.promql import (
    _MAX_POINTS,
    GateQueries,
    expand_selector,
    gate_queries,
    track_matchers,
)
from b2tui.adapters.prometheus.suggest import Suggestion, _pick_name, suggest_config
from b2tui.adapters.prometheus.values import (
    _one_line,
    _parse_value,
    _root_cause,
    health_reason,
    no_target_notice,
    reading_from_result,
)
from b2tui.config import EnvironmentSettings, PrometheusSettings
from b2tui.domain.gates import TARGET, Gate, Reading
from b2tui.masking import Masker, mask
from b2tui.ports import Series, SourceError


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
            _Query(Gate.ERROR_RATE, q.error_rate),
            _Query(Gate.P95_MS, q.p95_seconds, scale=1000.0),
            _Query(Gate.REQUEST_RATE, q.request_rate),
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
        rate = out[Gate.REQUEST_RATE].value
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
