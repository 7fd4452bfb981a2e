"""HTTP smoke checks: request a URL until it answers as expected or the retries are spent."""

from __future__ import annotations

import asyncio
import time

import httpx

from b2tui.adapters.http.errors import connect_problem, one_line
from b2tui.adapters.http.masking import (
    SECRET_HEADER,
    mask_secret_text,
    mask_url,
    redact_in_logs,
    url_secrets,
)
from b2tui.config import HttpCheck
from b2tui.ports import CheckResult


async def check_http(check: HttpCheck, backoff: float) -> CheckResult:
    """Request ``check.url`` until it answers as expected or the retries are spent.

    Pass detail: ``200 in 12 ms``. Fail detail names the problem, the request (query
    values masked) and the attempts: ``expected 200, got 503 (GET http://h/x, 3
    attempts)``. Redirects are not followed: the status is the endpoint's own.

    Args:
        check: The ``[[smoke.http]]`` entry.
        backoff: First retry delay in seconds; doubles per retry.
    """
    shown = f"{check.method.upper()} {mask_url(check.url)}"
    secrets = [
        *url_secrets(check.url),
        *(v for k, v in check.headers.items() if SECRET_HEADER.search(k)),
    ]
    redact_in_logs(check.url, mask_url(check.url))
    attempts = max(1, check.retries + 1)
    problem = ""
    async with httpx.AsyncClient(timeout=check.timeout, follow_redirects=False) as client:
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(backoff * 2 ** (attempt - 1))
            ok, problem = await _attempt(client, check)
            if ok:
                return CheckResult(True, problem)
    tries = f", {attempts} attempts" if attempts > 1 else ""
    return CheckResult(False, mask_secret_text(f"{problem} ({shown}{tries})", secrets))


async def _attempt(client: httpx.AsyncClient, check: HttpCheck) -> tuple[bool, str]:
    started = time.monotonic()
    try:
        url = httpx.URL(check.url)
        # httpx's timeouts are per network operation; the check's is for the whole
        # exchange, so a server dribbling bytes cannot stretch it.
        async with asyncio.timeout(check.timeout):
            response = await client.request(check.method.upper(), url, headers=check.headers)
    except (TimeoutError, httpx.TimeoutException):
        return False, f"timeout after {check.timeout:g} s"
    except httpx.ConnectError as e:
        return False, connect_problem(e, httpx.URL(check.url))
    except httpx.HTTPError as e:
        return False, f"{type(e).__name__}: {one_line(str(e))}"
    except httpx.InvalidURL as e:
        return False, f"invalid URL: {e}"
    elapsed = (time.monotonic() - started) * 1000
    status = response.status_code
    if status != check.expect_status:
        where = response.headers.get("location")
        to = f" to {mask_url(where)}" if where and 300 <= status < 400 else ""
        return False, f"expected {check.expect_status}, got {status}{to}"
    if check.body_contains is not None and check.body_contains not in response.text:
        return False, f"body lacks {check.body_contains!r}"
    return True, f"{status} in {elapsed:.0f} ms"
