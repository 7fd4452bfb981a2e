"""Images, commands, checks and notifications of the sandbox.

Output is scripted but paced on the run's clock: each line arrives after the simulated
time it would take (a test run is quiet for half a minute, then reports), so the demo
streams like the real tools and a virtual clock runs it in no time. Durations vary a
little per seed and command; nothing comes from ``random``.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from b2tui.adapters.sandbox.noise import unit
from b2tui.adapters.sandbox.world import World
from b2tui.config import HttpCheck
from b2tui.domain.checklist import ChecklistItem
from b2tui.domain.images import split_image
from b2tui.ports import CheckResult, CommandResult, LineSink, Notification, StepFailed

if TYPE_CHECKING:
    from b2tui.ports.clock import Clock

Script = list[tuple[float, str]]
"""(seconds before the line, line)."""

_TAIL = 12


def _hex(*parts: object, length: int = 64) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:length]


def _stretch(script: Script, factor: float) -> Script:
    return [(d * factor, line) for d, line in script]


class _Paced:
    """Plays scripts line by line on the clock."""

    def __init__(self, clock: Clock, seed: int) -> None:
        self.clock = clock
        self.seed = seed

    def factor(self, *what: object) -> float:
        """0.9–1.1: how much slower or faster this run of ``what`` is."""
        return 0.9 + 0.2 * unit(self.seed, "duration", *what)

    async def play(
        self, script: Script, on_line: LineSink, limit: float | None = None
    ) -> tuple[bool, list[str]]:
        """Emit the lines; return (finished within ``limit`` seconds, last lines)."""
        tail: deque[str] = deque(maxlen=_TAIL)
        elapsed = 0.0
        for delay, line in script:
            if limit is not None and elapsed + delay > limit:
                await self.clock.sleep(max(0.0, limit - elapsed))
                return False, list(tail)
            await self.clock.sleep(delay)
            elapsed += delay
            on_line(line)
            tail.append(line)
        return True, list(tail)


# --- images ------------------------------------------------------------------------------


class SandboxImages:
    """``docker build`` and ``docker push`` into the sandbox's registry.

    Args:
        world: records built and pushed images (persisted with the snapshot).
        clock: paces the output.
        changed: called after every mutation.
    """

    def __init__(self, world: World, clock: Clock, changed: Callable[[], None]) -> None:
        self.world = world
        self._paced = _Paced(clock, world.seed)
        self._changed = changed

    async def build(self, tag: str, on_line: LineSink) -> str:
        """Build ``tag`` (~40 s of classic builder steps); return the image id."""
        seed = self.world.seed
        image_id = "sha256:" + _hex(seed, tag, "image")
        layers = [_hex(seed, tag, "layer", i, length=12) for i in range(12)]
        steps = [
            (0.8, "FROM mcr.microsoft.com/dotnet/sdk:8.0 AS build", layers[0], True),
            (0.2, "WORKDIR /src", layers[1], True),
            (0.3, "COPY *.slnx Directory.Build.props ./", layers[2], False),
            (0.4, "COPY src/*/*.csproj ./src/", layers[3], False),
            (12.5, "RUN dotnet restore B2Connect.slnx", layers[4], False),
            (0.9, "COPY . .", layers[5], False),
            (
                17.0,
                "RUN dotnet publish src/B2Connect.Api -c Release -o /app --no-restore",
                layers[6],
                False,
            ),
            (0.6, "FROM mcr.microsoft.com/dotnet/aspnet:8.0", layers[7], True),
            (0.2, "WORKDIR /app", layers[8], True),
            (1.1, "COPY --from=build /app .", layers[9], False),
            (0.2, "EXPOSE 8080", layers[10], False),
            (0.3, 'ENTRYPOINT ["dotnet", "B2Connect.Api.dll"]', image_id[7:19], False),
        ]
        script: Script = [(0.6, "Sending build context to Docker daemon  18.42MB")]
        for i, (secs, step, layer, cached) in enumerate(steps, 1):
            script.append((0.1, f"Step {i}/{len(steps)} : {step}"))
            if cached:
                script.append((secs, " ---> Using cache"))
            elif step.startswith("RUN dotnet restore"):
                script += [
                    (0.1, f" ---> Running in {_hex(seed, tag, 'ctr', i, length=12)}"),
                    (1.4, "  Determining projects to restore..."),
                    (
                        secs - 1.5,
                        "  Restored /src/src/B2Connect.Api/B2Connect.Api.csproj (in 9.8 sec).",
                    ),
                ]
            elif step.startswith("RUN dotnet publish"):
                script += [
                    (0.1, f" ---> Running in {_hex(seed, tag, 'ctr', i, length=12)}"),
                    (
                        5.0,
                        "  B2Connect.Domain -> /src/src/B2Connect.Domain/bin/Release/net8.0/"
                        "B2Connect.Domain.dll",
                    ),
                    (
                        4.0,
                        "  B2Connect.Catalog -> /src/src/B2Connect.Catalog/bin/Release/net8.0/"
                        "B2Connect.Catalog.dll",
                    ),
                    (
                        6.0,
                        "  B2Connect.Api -> /src/src/B2Connect.Api/bin/Release/net8.0/"
                        "B2Connect.Api.dll",
                    ),
                    (secs - 15.1, "  B2Connect.Api -> /app/"),
                ]
            else:
                script.append((secs, f" ---> {layer}"))
            if not cached:
                script.append((0.1, f" ---> {layer}"))
        script += [
            (0.2, f"Successfully built {image_id[7:19]}"),
            (0.1, f"Successfully tagged {tag}"),
        ]
        await self._paced.play(_stretch(script, self._paced.factor("build", tag)), on_line)
        self.world.images[tag] = {"id": image_id, "digest": None}
        self._changed()
        return image_id

    async def push(self, tag: str, on_line: LineSink) -> str:
        """Push ``tag`` (~15 s of layer progress); return its ``sha256:`` digest."""
        image = self.world.images.get(tag)
        if image is None:
            raise StepFailed(f"push {tag}: no such image in the sandbox; build it first")
        seed = self.world.seed
        repo, _, version = tag.rpartition(":")
        layers = [
            (_hex(seed, tag, "push", i, length=12), size)
            for i, size in enumerate((48.1, 31.6, 12.2, 3.4, 0.6))
        ]
        script: Script = [(0.4, f"The push refers to repository [{repo}]")]
        script += [(0.05, f"{layer}: Preparing") for layer, _ in layers]
        script += [(0.3, f"{layer}: Waiting") for layer, _ in layers[2:]]
        for layer, size in layers:
            if size < 1:
                script.append((0.5, f"{layer}: Layer already exists"))
                continue
            for frac in (0.25, 0.5, 0.75, 1.0):
                done = size * frac
                bar = "=" * int(frac * 49) + ">"
                script.append(
                    (size * 0.035, f"{layer}: Pushing [{bar:<50}]  {done:.1f}MB/{size:.1f}MB")
                )
            script.append((0.2, f"{layer}: Pushed"))
        pushed = "sha256:" + _hex(seed, tag, "manifest")
        script.append((0.4, f"{version}: digest: {pushed} size: 1789"))
        await self._paced.play(_stretch(script, self._paced.factor("push", tag)), on_line)
        image["digest"] = pushed
        self._changed()
        return pushed

    async def check(self, tag: str) -> str:
        """The digest of ``tag`` (or of ``repo@sha256:…``) in the sandbox's registry."""
        repo, _, pinned = split_image(tag)
        if pinned is not None:
            for ref, image in self.world.images.items():
                if image.get("digest") == pinned and split_image(ref)[0] == repo:
                    return pinned
            raise StepFailed(f"image {tag} is not in the sandbox registry anymore")
        digest = (self.world.images.get(tag) or {}).get("digest")
        if not digest:
            raise StepFailed(f"image {tag} is not in the sandbox registry: push it first")
        return str(digest)

    async def retag(self, source: str, tag_ref: str) -> str:
        """Give the manifest ``source`` (``repo@sha256:…``) the tag of ``tag_ref``."""
        digest = await self.check(source)
        found = next(i for i in self.world.images.values() if i.get("digest") == digest)
        self.world.images[tag_ref] = {"id": found.get("id"), "digest": digest}
        self._changed()
        return digest


# --- commands ----------------------------------------------------------------------------


_PULL: Script = [
    (0.9, "From github.com:b2connect/b2connect"),
    (0.4, " * branch            main       -> FETCH_HEAD"),
    (1.1, "Updating 4e1d0b7..a1b2c3d"),
    (0.1, "Fast-forward"),
    (0.1, " src/B2Connect.Catalog/ProductService.cs           | 24 ++++++++++++++++++------"),
    (0.0, " tests/B2Connect.Tests/Catalog/ProductServiceTests.cs | 31 +++++++++++++++++++++++"),
    (0.1, " 2 files changed, 49 insertions(+), 6 deletions(-)"),
]

_PROJECTS = ("B2Connect.Domain", "B2Connect.Catalog", "B2Connect.Checkout", "B2Connect.Api")

_RESTORE: Script = [
    (1.2, "  Determining projects to restore..."),
    (1.6, "  All projects are up-to-date for restore."),
]

_TEST_HEAD: Script = [
    *_RESTORE,
    *[(2.2, f"  {p} -> /src/src/{p}/bin/Debug/net8.0/{p}.dll") for p in _PROJECTS],
    (1.9, "  B2Connect.Tests -> /src/tests/B2Connect.Tests/bin/Debug/net8.0/B2Connect.Tests.dll"),
    (
        0.6,
        "Test run for /src/tests/B2Connect.Tests/bin/Debug/net8.0/B2Connect.Tests.dll"
        " (.NETCoreApp,Version=v8.0)",
    ),
    (0.3, "Microsoft (R) Test Execution Command Line Tool Version 17.9.0 (x64)"),
    (0.1, "Copyright (c) Microsoft Corporation.  All rights reserved."),
    (0.1, ""),
    (0.4, "Starting test execution, please wait..."),
    (0.5, "A total of 1 test files matched the specified pattern."),
]

_TEST_PASS: Script = [
    *_TEST_HEAD,
    (27.0, ""),
    (
        0.2,
        "Passed!  - Failed:     0, Passed:   412, Skipped:     0, Total:   412,"
        " Duration: 27 s - B2Connect.Tests.dll (net8.0)",
    ),
]

_TEST_FAIL: Script = [
    *_TEST_HEAD,
    (
        14.0,
        "  Failed B2Connect.Tests.Catalog.ProductServiceTests.CreateProduct_RejectsNegativePrice"
        " [12 ms]",
    ),
    (0.0, "  Error Message:"),
    (0.0, "   Assert.Throws() Failure: No exception was thrown"),
    (0.0, "   Expected: typeof(System.ArgumentOutOfRangeException)"),
    (0.0, "  Stack Trace:"),
    (
        0.0,
        "     at B2Connect.Tests.Catalog.ProductServiceTests.CreateProduct_RejectsNegativePrice()"
        " in /src/tests/B2Connect.Tests/Catalog/ProductServiceTests.cs:line 58",
    ),
    (9.0, "  Failed B2Connect.Tests.Checkout.CheckoutTests.Total_IncludesVatPerLine [3 ms]"),
    (0.0, "  Error Message:"),
    (0.0, "   Assert.Equal() Failure: Values differ"),
    (0.0, "   Expected: 119.00"),
    (0.0, "   Actual:   100.00"),
    (0.0, "  Stack Trace:"),
    (
        0.0,
        "     at B2Connect.Tests.Checkout.CheckoutTests.Total_IncludesVatPerLine()"
        " in /src/tests/B2Connect.Tests/Checkout/CheckoutTests.cs:line 112",
    ),
    (4.0, ""),
    (
        0.2,
        "Failed!  - Failed:     2, Passed:   410, Skipped:     0, Total:   412,"
        " Duration: 27 s - B2Connect.Tests.dll (net8.0)",
    ),
]

_BUILD: Script = [
    (0.8, "MSBuild version 17.9.8+b34f75857 for .NET"),
    *_RESTORE,
    (6.5, "  B2Connect.Domain -> /src/src/B2Connect.Domain/bin/Debug/net8.0/B2Connect.Domain.dll"),
    (
        5.5,
        "  B2Connect.Catalog -> /src/src/B2Connect.Catalog/bin/Debug/net8.0/B2Connect.Catalog.dll",
    ),
    (
        4.5,
        "  B2Connect.Checkout -> /src/src/B2Connect.Checkout/bin/Debug/net8.0/"
        "B2Connect.Checkout.dll",
    ),
    (6.0, "  B2Connect.Api -> /src/src/B2Connect.Api/bin/Debug/net8.0/B2Connect.Api.dll"),
    (3.5, "  B2Connect.Tests -> /src/tests/B2Connect.Tests/bin/Debug/net8.0/B2Connect.Tests.dll"),
    (0.3, ""),
    (0.0, "Build succeeded."),
    (0.0, "    0 Warning(s)"),
    (0.0, "    0 Error(s)"),
    (0.0, ""),
    (0.0, "Time Elapsed 00:00:29.84"),
]

_SMOKE_TESTS = (
    ("users can log in", 2.4),
    ("create a product", 3.9),
    ("checkout with a saved card", 5.2),
    ("admin dashboard loads", 2.8),
    ("error page for an unknown product", 1.6),
)


def _smoke(ok: bool) -> Script:
    script: Script = [
        (0.6, "> b2connect-e2e@1.4.0 test:e2e"),
        (0.0, "> playwright test --grep @smoke"),
        (0.0, ""),
        (1.8, f"Running {len(_SMOKE_TESTS)} tests using 2 workers"),
    ]
    for i, (title, secs) in enumerate(_SMOKE_TESTS, 1):
        mark = "✓" if ok else "✘"
        script.append(
            (
                secs,
                f"  {mark}  {i} [chromium] › smoke.spec.ts:{6 + 9 * i}:5 ›"
                f" @smoke {title} ({secs:.1f}s)",
            )
        )
    total = sum(s for _, s in _SMOKE_TESTS) + 2.4
    if ok:
        script.append((0.4, f"  {len(_SMOKE_TESTS)} passed ({total:.1f}s)"))
    else:
        script += [
            (
                0.4,
                "  Error: page.goto: net::ERR_HTTP_RESPONSE_CODE_FAILURE at"
                " https://staging.b2connect.internal/",
            ),
            (0.0, f"  {len(_SMOKE_TESTS)} failed ({total:.1f}s)"),
        ]
    return script


class SandboxCommands:
    """Validation and smoke commands, simulated by name (``pull``, ``test``, ``build``,
    ``smoke``); any other name echoes the command and succeeds.

    Args:
        world: the smoke tests pass only while staging serves.
        clock: paces the output.
    """

    def __init__(self, world: World, clock: Clock) -> None:
        self.world = world
        self.clock = clock
        self._paced = _Paced(clock, world.seed)

    def _script(self, name: str, command: str) -> tuple[Script, int]:
        if name == "pull":
            return _PULL, 0
        if name == "test":
            if self.world.faults.failing_tests:
                return _TEST_FAIL, 1
            return _TEST_PASS, 0
        if name == "build":
            return _BUILD, 0
        if name == "smoke":
            ok = "staging" not in self.world.envs or bool(
                self.world.serving("staging", self.clock.now().timestamp())
            )
            return _smoke(ok), 0 if ok else 1
        return [(1.0, f"(sandbox) simulated: {command}")], 0

    async def run(
        self,
        name: str,
        command: str,
        *,
        cwd: str,
        # The port's signature: simulated seconds on the run's clock, not a real deadline.
        timeout: float,
        on_line: LineSink,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run the simulated ``command``, streaming its output on the clock."""
        script, code = self._script(name, command)
        start = self.clock.now()
        finished, tail = await self._paced.play(
            _stretch(script, self._paced.factor("command", name)), on_line, timeout
        )
        duration = (self.clock.now() - start).total_seconds()
        if not finished:
            return CommandResult(None, duration, timed_out=True, tail="\n".join(tail))
        return CommandResult(code, duration, tail="\n".join(tail))


# --- checks ------------------------------------------------------------------------------


_READINESS = {
    "code_merged": "HEAD a1b2c3d is on origin/main (merged via PR #482)",
    "tests_passing": "CI run #1289 on main: 412 passed, 0 failed",
    "build_ok": "CI build #1289 succeeded in 2m14s",
}


class SandboxChecks:
    """Readiness items and HTTP smoke checks.

    Args:
        world: HTTP checks pass while staging has Ready pods behind its Service.
        clock: checks take a little simulated time.
    """

    def __init__(self, world: World, clock: Clock) -> None:
        self.world = world
        self.clock = clock

    async def readiness(self, item: ChecklistItem) -> CheckResult:
        """Answer an automatic item; items the sandbox cannot answer are unknown."""
        await self.clock.sleep(0.3 + 0.7 * unit(self.world.seed, "readiness", item.key))
        detail = _READINESS.get(item.key)
        if detail is None:
            return CheckResult(None, f"the sandbox has no automatic check for {item.key}")
        return CheckResult(True, detail)

    async def http(self, check: HttpCheck) -> CheckResult:
        """One request to the (staging) Service, with the check's retries."""
        status = 503
        for attempt in range(check.retries + 1):
            ms = 18 + int(40 * unit(self.world.seed, "http", check.url, attempt))
            await self.clock.sleep(ms / 1000)
            now = self.clock.now().timestamp()
            serving = "staging" not in self.world.envs or bool(self.world.serving("staging", now))
            status = 200 if serving else 503
            body = '{"status":"Healthy","service":"b2connect"}' if serving else ""
            if status == check.expect_status and (
                check.body_contains is None or check.body_contains in body
            ):
                return CheckResult(True, f"{status} in {ms} ms")
            if attempt < check.retries:
                await self.clock.sleep(1.0)
        if status != check.expect_status:
            why = "no ready endpoints" if status == 503 else "unexpected status"
            return CheckResult(
                False,
                f"{status} ({why}), expected {check.expect_status} after"
                f" {check.retries + 1} attempts",
            )
        return CheckResult(False, f"body does not contain {check.body_contains!r}")


# --- notifications -----------------------------------------------------------------------


@dataclass
class SandboxNotifier:
    """Records notifications instead of posting them; ``notes`` is what it received."""

    notes: list[Notification]
    changed: Callable[[], None]

    async def notify(self, note: Notification) -> list[tuple[str, bool, str]]:
        """Record ``note``; report the channel it would have gone to."""
        self.notes.append(note)
        self.changed()
        channel = "#deployments" if note.kind == "deployed" else "#incidents"
        return [(channel, True, f"recorded by the sandbox (#{len(self.notes)})")]
