"""``make bench``: every row of the performance table, median and worst of N runs.

Rows (``--only NAME``, repeatable; ``--list`` names them):

* ``rollback``  — ``R`` → first write to the API (in-process test API server; p50/p95/p99/max
  over ``--trials`` presses, 200 by default), next to
  ``kubectl rollout undo`` against the real kube-apiserver (anchor, same run);
* ``idle``      — CPU (% of a core) and output bytes/s of ``b2tui demo`` in a pty at 80×24
  and 120×40, in readiness, canary hold and monitoring, with 200 pods;
* ``pods``      — one pods update handled on the UI thread with 5,000 pods;
* ``rss``       — resident memory of ``b2tui demo`` with 5,000 pods;
* ``startup``   — first frame of ``b2tui demo`` next to a bare Textual app started the same
  way (same interpreter, same pty), alternated in the same run;
* ``status-line`` — ``b2tui status --line`` (the tmux status bar's command) on a run
  holding its first canary step: wall and CPU time per call;
* ``status-line-kube`` — the same on the kube store (real kube-apiserver, one LIST);
* ``apiload``   — requests/min b2tui makes against the real kube-apiserver during a canary
  hold (audit log), next to ``kubectl rollout status`` + ``kubectl get pods -w``;
* ``attach``    — ``R`` in a control room attached (as another user) to a driver process on
  the kube store → the intent write and the driver's first rollback write (audit log);
* ``detection`` — on a real Prometheus at default gate settings: seconds from the canary's
  errors starting to ``rollback_started``.

Each row runs ``--runs`` times (default 10; ``--quick`` makes it 1 and shortens windows)
and prints ``median`` and ``worst``. Rows whose tools are missing (the real control plane,
``prometheus``, ``kubectl``) say so and are skipped. Numbers only: nothing here asserts.

Run: ``make bench [ARGS="--quick --only idle"]`` or ``.venv/bin/python -m benchmarks.suite``.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import dataclasses
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import idle_output
from benchmarks._common import heading, percentile

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
PY = sys.executable


@dataclasses.dataclass
class Opts:
    runs: int
    quick: bool
    window: float
    """Seconds of an idle / API-load window."""
    trials: int = 200
    """Presses of ``R`` in the rollback row (one fresh run each): a p99 wants 200."""


# --- printing ----------------------------------------------------------------------------


def line(what: str, values: Sequence[float], unit: str, goal: str = "", fmt: str = ".1f") -> None:
    """``what: median X, worst Y unit (n=N)  goal …``; worst is the largest value."""
    if not values:
        print(f"   {what}: no measurement")
        return
    med, worst = statistics.median(values), max(values)
    tail = f"   goal {goal}" if goal else ""
    print(
        f"   {what}: median {med:{fmt}} {unit}, worst {worst:{fmt}} {unit} (n={len(values)}){tail}"
    )
    sys.stdout.flush()


def spread(what: str, values: Sequence[float], unit: str, goal: str = "") -> None:
    """``what: p50 X, p95 Y, p99 Z, max W unit (n=N)``: nearest-rank percentiles."""
    if not values:
        return
    p50, p95, p99 = (percentile(values, q) for q in (50, 95, 99))
    tail = f"   goal {goal}" if goal else ""
    print(
        f"   {what}: p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f}, max {max(values):.1f} {unit}"
        f" (n={len(values)}){tail}"
    )
    sys.stdout.flush()


def skip(why: str) -> None:
    print(f"   skipped: {why}")
    sys.stdout.flush()


def _real_kube_reason() -> str | None:
    from tests.realkube.cluster import binaries, missing_reason

    if binaries() is None:
        return "the real control plane is not built (make kube)"
    return missing_reason()


# --- rollback ----------------------------------------------------------------------------


def row_rollback(o: Opts) -> None:
    heading("R → first write to the API (in-process test API server, 80×24 pilot)")
    from benchmarks import rollback_latency

    async def trials() -> list[Any]:
        out = []
        with tempfile.TemporaryDirectory(prefix="b2tui-bench-") as tmp:
            for i in range(o.trials):
                out.append(await rollback_latency.trial(Path(tmp), i, ui=True))
        return out

    done = asyncio.run(trials())
    writes = [t.write * 1000 for t in done]
    line("R → first write", writes, "ms", "≤ 10 ms median, ≤ 25 ms p99")
    spread("R → first write", writes, "ms", "≤ 25 ms p99")
    # Where the slow trials lose their time: each mark's median over the trials at or
    # above the p95 of the write, next to the same over all trials.
    cut = percentile(writes, 95)
    slow = [t for t, w in zip(done, writes, strict=True) if w >= cut]
    for mark in ("intent", "task", "thread", "first", "write", "press"):
        med_all = statistics.median(getattr(t, mark) * 1000 for t in done)
        med_slow = statistics.median(getattr(t, mark) * 1000 for t in slow)
        print(
            f"   R → {mark:6}: median {med_all:.1f} ms;"
            f" trials ≥ p95 ({len(slow)}): {med_slow:.1f} ms"
        )
    sys.stdout.flush()
    reason = _real_kube_reason() or (None if shutil.which("kubectl") else "kubectl not found")
    if reason:
        skip(f"anchor (kubectl rollout undo): {reason}")
        return
    from tests.realkube.cluster import RealKube

    with RealKube() as kube, tempfile.TemporaryDirectory(prefix="b2tui-bench-") as tmp:
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}})
        kube.apply_yaml((FIXTURES / "production.yaml").read_text(), namespace="prod")
        cfg = kube.write_kubeconfig(Path(tmp) / "kubeconfig", user="tester", namespace="prod")
        env = {**os.environ, "KUBECONFIG": str(cfg)}
        kubectl = ["kubectl", "-n", "prod"]

        def image(tag: str) -> None:
            subprocess.run(
                [*kubectl, "set", "image", "deployment/web", f"*=registry.example/web:{tag}"],
                env=env,
                check=True,
                capture_output=True,
            )

        walls = []
        for i in range(max(o.runs, 10)):  # the anchor is a median of at least 10
            image(f"bench-{i}")  # a new revision to undo
            t0 = time.monotonic()
            subprocess.run(
                [*kubectl, "rollout", "undo", "deployment/web"],
                env=env,
                check=True,
                capture_output=True,
            )
            walls.append((time.monotonic() - t0) * 1000)
        line("anchor: kubectl rollout undo (real apiserver, wall)", walls, "ms")
        ours = []
        for run in range(o.runs):
            ns_p, ns_s = f"rprod{run}", f"rstaging{run}"
            for ns in (ns_p, ns_s):
                kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            kube.apply_yaml((FIXTURES / "production.yaml").read_text(), namespace=ns_p)
            c = kube.write_kubeconfig(Path(tmp) / f"r{run}", user="tester", namespace=ns_p)
            ours.append(asyncio.run(_b2tui_hold(kube, str(c), ns_p, ns_s, 0, press_r=True))[0])
        line("b2tui R → first write on the same real apiserver", ours, "ms")
        if ours:
            ratio = statistics.median(walls) / statistics.median(ours)
            print(f"   kubectl / b2tui (medians): {ratio:.1f}×   goal ≥ 7×")


# --- idle --------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (and its reaped children) in seconds, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
        if ln.startswith("VmRSS:"):
            return int(ln.split()[1]) / 1024
    return float("nan")


def _env(replicas: int | None = None) -> dict[str, str]:
    env = idle_output._env()
    if replicas is not None:
        env["B2TUI_BENCH_REPLICAS"] = str(replicas)
    return env


def _drive(db: Path, until: Callable[[tuple[str, int, bool]], bool], env: dict[str, str]) -> None:
    """The demo headless at 60× until ``until(phase, canary %, holding)``; then SIGKILL."""
    proc = subprocess.Popen(
        [str(idle_output.B2TUI), "demo", "--headless", "--speed", "60", "--state", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            st = idle_output._canary_state(db)
            if st is not None and until(st):
                return
            if proc.poll() is not None:
                raise RuntimeError(f"headless demo ended ({proc.returncode}) before {until}")
            time.sleep(0.05)
        raise RuntimeError("headless demo did not reach the state in 300 s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _idle_window(
    args: Sequence[str], cols: int, rows: int, seconds: float, env: dict[str, str]
) -> tuple[float, float, float, float]:
    """(CPU % of a core, bytes/s, RSS MB, CPU % of a core by the threads' schedstat) of
    ``b2tui args`` after settling."""
    term = idle_output.Terminal(args, cols, rows, env)
    try:
        term.read_for(idle_output.SETTLE)
        if term.proc.poll() is not None:
            raise RuntimeError(f"b2tui {' '.join(args)} exited with {term.proc.returncode}")
        pid = term.proc.pid
        cpu0, ns0, t0 = _cpu_seconds(pid), _threads_ns(pid), time.monotonic()
        data = term.read_for(seconds)
        cpu1, ns1, t1 = _cpu_seconds(pid), _threads_ns(pid), time.monotonic()
        rss = _rss_mb(pid)
    finally:
        term.close()
    n = sum(len(c) for _, c in data)
    span = t1 - t0
    return (cpu1 - cpu0) / span * 100, n / span, rss, (ns1 - ns0) / 1e9 / span * 100


def _threads_ns(pid: int) -> int:
    """Nanoseconds on a CPU of ``pid``'s live threads (``/proc/PID/task/*/schedstat``):
    finer than the 100 Hz ticks of utime+stime, but a thread that ends is no longer
    counted."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):  # a thread just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total


STATES: dict[str, tuple[Callable[[tuple[str, int, bool]], bool] | None, list[str]]] = {
    "readiness": (None, ["--speed", "1"]),
    # As idle_output.py: the held run goes on by autopilot.
    "canary hold": (
        lambda s: s[0] == "production" and s[1] > 0 and s[2],
        ["--speed", "1", "--autopilot"],
    ),
    "monitoring": (lambda s: s[0] == "monitoring", ["--speed", "1", "--autopilot"]),
}
"""State → (how the headless demo is driven to it first, how it is reopened)."""


def row_idle(o: Opts, pods: int = 200) -> None:
    heading(f"idle CPU and output of b2tui demo in a pty, {pods} pods, {o.window:g} s windows")
    env = _env(pods)
    for state, (until, reopen) in STATES.items():
        for cols, rows in ((80, 24), (120, 40)):
            cpu, out, fine = [], [], []
            for _ in range(o.runs):
                with tempfile.TemporaryDirectory(prefix="b2tui-bench-") as tmp:
                    db = Path(tmp) / "state.db"
                    if until is not None:
                        _drive(db, until, env)
                    args = ["demo", *reopen, "--state", str(db)]
                    c, b, _, ns = _idle_window(args, cols, rows, o.window, env)
                cpu.append(c)
                out.append(b / 1000)
                fine.append(ns)
            line(f"{state}, {cols}×{rows}: CPU", cpu, "% of a core", "≤ 0.5 %", ".2f")
            line(f"{state}, {cols}×{rows}: CPU (schedstat)", fine, "% of a core", "≤ 0.5 %", ".3f")
            goal = "≤ 0.5 KB/s" if cols == 80 else "≤ 1 KB/s"
            line(f"{state}, {cols}×{rows}: output", out, "KB/s", goal, ".2f")


# --- pods on the UI thread, RSS ------------------------------------------------------------


def _pods(n: int, gen: int) -> list[Any]:
    from b2tui.ports import PodInfo, PodPhase

    at = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        canary = i % 20 == 0
        out.append(
            PodInfo(
                name=f"web-{'canary' if canary else 'stable'}-{i:05d}",
                track="canary" if canary else "stable",
                phase=PodPhase.RUNNING,
                reason="",
                # Each update changes a few pods, as a rollout would.
                ready=(i + gen) % 250 != 0,
                restarts=(i + gen) // 250 % 3,
                created=at,
                image="registry.sandbox/b2connect:1a2b3c4",
                node=f"node-{i % 40}",
            )
        )
    return out


def row_pods(o: Opts, n: int = 5000) -> None:
    heading(f"one pods update on the UI thread, {n} pods (the control room under run_test)")
    from b2tui.ui.messages import PodsPolled
    from b2tui.ui.pod_rows import pod_changes

    diffs: list[float] = []

    async def measure() -> list[float]:
        from b2tui.adapters.sandbox import build_sandbox
        from b2tui.adapters.store import Store
        from b2tui.config import sandbox_settings
        from b2tui.engine.clock import SteppedClock
        from b2tui.engine.conductor import Conductor
        from b2tui.ui.app import make_app
        from benchmarks.rollback_latency import START

        settings = sandbox_settings()
        clock = SteppedClock(START)
        sandbox = build_sandbox("happy", 7, clock, settings)
        conductor = Conductor(settings, sandbox.ports, Store(":memory:"), clock, user="bench")
        await conductor.start(version="1a2b3c4d", scenario="happy")
        app = make_app(settings, conductor, clock=clock, user="bench")
        times = []
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            seen, changed, _ = pod_changes({}, _pods(n, 0))
            app.on_pods_polled(PodsPolled(changed, frozenset(), clock.now()))  # the first fill
            await pilot.pause()
            for gen in range(1, o.runs + 1):
                # What the poll does in its thread: compare with the last poll.
                pods = _pods(n, gen)
                t0 = time.perf_counter()
                seen, changed, removed = pod_changes(seen, pods)
                diffs.append((time.perf_counter() - t0) * 1000)
                msg = PodsPolled(changed, frozenset(removed), clock.now())
                t0 = time.perf_counter()
                app.on_pods_polled(msg)  # what the loop runs for one poll's message
                times.append((time.perf_counter() - t0) * 1000)
                await pilot.pause()
        await conductor.stop()
        return times

    line("handler time", asyncio.run(measure()), "ms", "≤ 10 ms median, ≤ 25 ms worst")
    line("the poll's diff, in its thread (not on the UI thread)", diffs, "ms")


def row_rss(o: Opts, n: int = 5000) -> None:
    heading(f"RSS of b2tui demo (readiness, 120×40) with {n} pods")
    env = _env(n)
    rss = []
    for _ in range(o.runs):
        with tempfile.TemporaryDirectory(prefix="b2tui-bench-") as tmp:
            args = ["demo", "--speed", "1", "--state", str(Path(tmp) / "s.db")]
            rss.append(_idle_window(args, 120, 40, 3.0, env)[2])
    line("VmRSS", rss, "MB", "≤ 100 MB", ".0f")


# --- start-up ----------------------------------------------------------------------------

BARE = """
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("bare-ready")
Bare().run()
"""


def _first_frame(
    argv: list[str],
    marker: bytes,
    env: dict[str, str],
    cwd: Path = ROOT,
    cpu: Callable[[int], float] | None = None,
) -> tuple[float, float]:
    """Seconds from spawn to the first output holding ``marker`` (in a 120×40 pty), and
    the CPU seconds the process had used by then (on a loaded machine wall time is mostly
    waiting for a core): ``cpu(pid)``, by default utime+stime from ``/proc``."""
    master, slave = os.openpty()
    idle_output._set_size(slave, 120, 40)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=cwd,
        preexec_fn=idle_output._controlling_tty,
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    try:
        while time.monotonic() - t0 < 60:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
                if marker in seen:
                    return time.monotonic() - t0, (cpu or _cpu_seconds)(proc.pid)
            if proc.poll() is not None:
                break
        raise RuntimeError(f"{argv[1:]} drew no {marker!r} ({seen[-200:]!r})")
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


def row_startup(o: Opts) -> None:
    heading("first frame: b2tui demo vs a bare Textual app (same python, same pty, alternated)")
    env = {**_env(), "NO_COLOR": "1"}
    # Both sides from bytecode, as after `pip install`: Textual's was compiled when it was
    # installed, b2tui's (an editable install) only if an import could write it, which
    # PYTHONDONTWRITEBYTECODE=1 prevents; compiling b2tui on every spawn costs it ~0.1 s CPU.
    compileall.compile_dir(ROOT / "b2tui", quiet=1)
    demo, bare = [], []
    with tempfile.TemporaryDirectory(prefix="b2tui-bench-") as tmp:
        for i in range(o.runs):
            state = str(Path(tmp) / f"s{i}.db")
            # The timeline's running phase: drawn with the first frame of the control room.
            demo.append(
                _first_frame([PY, "-m", "b2tui", "demo", "--state", state], b"readiness", env)
            )
            bare.append(_first_frame([PY, "-c", BARE], b"bare-ready", env))
    for i, what in enumerate(("wall", "CPU")):
        line(f"b2tui demo ({what})", [d[i] for d in demo], "s", fmt=".2f")
        line(f"bare Textual app ({what})", [b[i] for b in bare], "s", fmt=".2f")
        ratios = [d[i] / b[i] for d, b in zip(demo, bare, strict=True)]
        line(f"ratio (pairwise, {what})", ratios, "×", "≤ 1.2×", ".2f")


def row_status_line(o: Opts) -> None:
    heading("b2tui status --line (tmux status bar): wall and CPU per call, SQLite store")
    env = _env()
    compileall.compile_dir(ROOT / "b2tui", quiet=1)  # bytecode, as after `pip install`
    with tempfile.TemporaryDirectory(prefix="b2tui-bench-") as tmp:
        db = Path(tmp) / "s.db"
        _drive(db, lambda s: s[0] == "production" and s[1] > 0 and s[2], env)
        argv = [str(idle_output.B2TUI), "status", "--line", "--sandbox", "--state", str(db)]
        walls, cpus, shown = _time_calls(argv, env, max(o.runs, 3))
    _status_line_figures(walls, cpus, shown)


def _time_calls(
    argv: list[str], env: dict[str, str], runs: int
) -> tuple[list[float], list[float], str]:
    """``runs`` processes of ``argv`` one after another: wall ms (``perf_counter``), CPU ms
    (``os.times`` of the children) each, and what the last one printed."""
    walls, cpus, shown = [], [], ""
    for _ in range(runs):
        before = os.times()
        t0 = time.perf_counter()
        res = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
        walls.append((time.perf_counter() - t0) * 1000)
        after = os.times()
        cpu = after.children_user + after.children_system
        cpus.append((cpu - before.children_user - before.children_system) * 1000)
        shown = res.stdout.strip()
    return walls, cpus, shown


def _status_line_figures(walls: list[float], cpus: list[float], shown: str) -> None:
    print(f"   line: {shown}")
    line("wall", walls, "ms", "≤ 150 ms", ".0f")
    line("CPU", cpus, "ms", fmt=".0f")


def row_status_line_kube(o: Opts) -> None:
    heading("b2tui status --line on the kube store: wall and CPU per call (real kube-apiserver)")
    reason = _real_kube_reason()
    if reason:
        skip(reason)
        return
    from tests.realkube import attach
    from tests.realkube.cluster import RealKube

    env = _env()
    compileall.compile_dir(ROOT / "b2tui", quiet=1)
    procs: list[subprocess.Popen[bytes]] = []
    with RealKube() as kube, tempfile.TemporaryDirectory(prefix="b2tui-bench-") as tmp:
        ns = kube.namespace("status")
        # A driver (ServiceAccount driver2) holds its first canary step; tester reads.
        a, b = attach.two_kubeconfigs(kube, ns, Path(tmp))
        try:
            attach.start_holding_driver(kube, ns, b, Path(tmp) / "driver.log", procs)
            cfg = Path(tmp) / "b2tui.toml"
            cfg.write_text(
                f'[service]\nname = "b2connect"\n[store]\nbackend = "kube"\n'
                f'namespace = "{ns}"\n[environments.production]\nnamespace = "p"\n'
            )
            argv = [str(idle_output.B2TUI), "status", "--line", "--config", str(cfg)]
            kube_env = {**env, "KUBECONFIG": str(a)}
            walls, cpus, shown = _time_calls(argv, kube_env, max(o.runs, 3))
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait(10)
    _status_line_figures(walls, cpus, shown)


# --- API load ----------------------------------------------------------------------------


class SwitchClock:
    """A scaled clock whose speed can change (fast to the hold, then real time)."""

    def __init__(self, speed: float, start: datetime) -> None:
        self.speed = speed
        self._start, self._real0 = start, time.monotonic()

    def now(self) -> datetime:
        from datetime import timedelta

        return self._start + timedelta(seconds=(time.monotonic() - self._real0) * self.speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def set_speed(self, speed: float) -> None:
        self._start, self._real0, self.speed = self.now(), time.monotonic(), speed


WARMUP = 2.0
"""Seconds b2tui and kubectl run before their API window opens."""


def row_apiload(o: Opts) -> None:
    heading(f"API load during a canary hold on the real kube-apiserver ({o.window:g} s windows)")
    reason = _real_kube_reason() or (None if shutil.which("kubectl") else "kubectl not found")
    if reason:
        skip(reason)
        return
    from tests.realkube.cluster import RealKube

    ours, theirs = [], []
    with RealKube() as kube, tempfile.TemporaryDirectory(prefix="b2tui-bench-") as tmp:
        # kubectl as its own user ("admin" is the controller-manager's and the kubelet's).
        kube.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "b2tui-bench-kubectl"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "view",
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "nobody"}
                ],
            }
        )
        for run in range(o.runs):
            ns_p, ns_s = f"prod{run}", f"staging{run}"
            for ns in (ns_p, ns_s):
                kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            kube.apply_yaml((FIXTURES / "production.yaml").read_text(), namespace=ns_p)
            cfg = kube.write_kubeconfig(Path(tmp) / f"k{run}", user="tester", namespace=ns_p)
            other = kube.write_kubeconfig(Path(tmp) / f"n{run}", user="nobody", namespace=ns_p)
            ours.append(asyncio.run(_b2tui_hold(kube, str(cfg), ns_p, ns_s, o.window)))
            theirs.append(_kubectl_watch(kube, str(other), ns_p, o.window))
    for i, when in enumerate((f"from start, {WARMUP + o.window:g} s", "steady, after 2 s")):
        line(f"b2tui ({when})", [x[i] for x in ours], "req/min", fmt=".0f")
        line(
            f"kubectl rollout status + get pods -w ({when})",
            [x[i] for x in theirs],
            "req/min",
            fmt=".0f",
        )
    print("   (requests that start in the window; a watch streaming from before counts 0)")


async def _b2tui_hold(
    kube: Any, cfg: str, ns_p: str, ns_s: str, window: float, *, press_r: bool = False
) -> tuple[float, float]:
    """At the first canary hold on the real apiserver, with the control room open: the
    request rates (from start, steady); or with ``press_r``, ms from ``R`` to the first
    write the apiserver received (its audit ``requestReceivedTimestamp``), twice."""
    from b2tui.adapters.kube import KubeCluster
    from b2tui.adapters.sandbox import build_sandbox
    from b2tui.adapters.store import Store
    from b2tui.engine.conductor import Conductor
    from b2tui.ui.app import make_app
    from benchmarks.rollback_latency import START, benchmark_settings
    from tests.realkube.seed import on_real_kube

    settings = on_real_kube(benchmark_settings(), ns_p, ns_s, Path(cfg).parent)
    prod = settings.environment("production")
    clock = SwitchClock(60.0, START)
    sandbox = build_sandbox("happy", 7, clock, settings)
    cluster = KubeCluster(cfg)
    ports = dataclasses.replace(sandbox.ports, cluster=cluster)
    conductor = Conductor(
        settings,
        ports,
        Store(":memory:"),
        clock,
        user="bench",
        autopilot=True,
    )
    first = prod.canary_steps[0].weight
    try:
        await conductor.start(version="1a2b3c4d", scenario="happy")
        await _until_hold(conductor, first)
        clock.set_speed(1.0)
        # The pods source `b2tui run` gives its control room (cli.py): the cluster port's.
        app = make_app(
            settings,
            conductor,
            clock=clock,
            pods=lambda: cluster.pods(conductor.target),
            user="bench",
        )
        warm, w0 = kube.audit_mark(), time.monotonic()
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await asyncio.sleep(WARMUP)  # first polls and watches open
            if press_r:
                mark, t0 = kube.audit_mark(), time.time()
                await pilot.press("R")
                for _ in range(200):
                    at = _first_write_at(kube, "tester", mark)
                    if at is not None:
                        return (at - t0) * 1000, (at - t0) * 1000
                    await asyncio.sleep(0.05)
                raise RuntimeError("R: no write reached the real apiserver within 10 s")
            mark, t0 = kube.audit_mark(), time.monotonic()
            await asyncio.sleep(window)
            steady = _counted(kube.audit("tester", since=mark)) / (time.monotonic() - t0) * 60
            whole = _counted(kube.audit("tester", since=warm)) / (time.monotonic() - w0) * 60
    finally:
        await conductor.stop()
        cluster.close()
    return whole, steady


def _first_write_at(
    kube: Any, user: str, since: int, resource: str | None = None, name: str = ""
) -> float | None:
    """Epoch seconds the apiserver received ``user``'s first write after ``since`` (to
    ``resource``, subresources included, named ``name``… when given)."""
    import json

    with kube.audit_log.open("rb") as f:
        f.seek(since)
        for raw in f:
            e = json.loads(raw)
            ref = e.get("objectRef") or {}
            if (
                e.get("user", {}).get("username") == user
                and e["verb"] in WRITE_VERBS
                and resource in (None, ref.get("resource"))
                and str(ref.get("name") or "").startswith(name)
            ):
                return datetime.fromisoformat(e["requestReceivedTimestamp"]).timestamp()
    return None


WRITE_VERBS = frozenset({"create", "update", "patch"})


async def _until_hold(conductor: Any, weight: int, timeout: float = 300.0) -> None:
    """Until the canary holds at ``weight`` %; a clear error after ``timeout`` s."""
    try:
        await asyncio.wait_for(
            conductor.run_until(lambda v: v.canary_percent == weight and v.hold_until is not None),
            timeout,
        )
    except TimeoutError:
        v = conductor.view
        raise RuntimeError(
            f"no canary hold within {timeout:g} s (phase {v.phase}, {v.canary_percent} %)"
        ) from None
    except RuntimeError as e:  # the run ended: say why
        raise RuntimeError(f"{e}: {conductor.view.outcome_reason}") from None


def _counted(reqs: Sequence[Any]) -> int:
    """Requests, once each: a watch is logged at ResponseStarted and ResponseComplete."""
    return sum(1 for r in reqs if r.stage in ("ResponseComplete", "ResponseStarted")) - sum(
        1 for r in reqs if r.verb == "watch" and r.stage == "ResponseComplete"
    )


def _kubectl_watch(kube: Any, cfg: str, ns: str, window: float) -> tuple[float, float]:
    env = {**os.environ, "KUBECONFIG": cfg}
    warm, w0 = kube.audit_mark(), time.monotonic()
    procs = [
        subprocess.Popen(
            ["kubectl", "-n", ns, "rollout", "status", "deployment/web", "--watch"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            ["kubectl", "-n", ns, "get", "pods", "-w"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    time.sleep(WARMUP)  # discovery and the first list + watch, as for b2tui
    mark, t0 = kube.audit_mark(), time.monotonic()
    time.sleep(window)
    for p in procs:
        p.kill()
        p.wait()
    steady = _counted(kube.audit("nobody", since=mark)) / (time.monotonic() - t0) * 60
    whole = _counted(kube.audit("nobody", since=warm)) / (time.monotonic() - w0) * 60
    return whole, steady


# --- attach ------------------------------------------------------------------------------

ATTACH_SPEED = 10.0
"""The driver's run speed: 60× to the hold as elsewhere would leave a 5 s hold; at 10× the
first canary hold (5 min of run time) lasts 30 s, enough to attach and press ``R``."""


def row_attach(o: Opts) -> None:
    heading(
        "b2tui attach: R in a control room attached to another process's run → "
        "the intent write and the driver's first rollback write (real kube-apiserver)"
    )
    reason = _real_kube_reason()
    if reason:
        skip(reason)
        return
    from tests.realkube.cluster import RealKube

    intent, write, setup = [], [], []
    with RealKube() as kube, tempfile.TemporaryDirectory(prefix="b2tui-bench-") as tmp:
        for run in range(o.runs):
            t0 = time.monotonic()
            i, w, s = _attach_trial(kube, Path(tmp) / f"a{run}")
            intent.append(i)
            write.append(w)
            setup.append(s)
            print(
                f"   run {run + 1}: intent {i:.0f} ms, first rollback write {w:.0f} ms "
                f"({time.monotonic() - t0:.0f} s in all, {s:.0f} s to the hold)"
            )
            sys.stdout.flush()
    line("R → intent write (user B patches the inbox ConfigMap)", intent, "ms", "≤ 1000 ms", ".0f")
    line("R → the driver's first rollback write (Deployments)", write, "ms", "≤ 1000 ms", ".0f")
    line("set-up: a fresh run to its first canary hold", setup, "s", fmt=".0f")
    if o.runs < 10:
        print(f"   only {o.runs} run(s) (--runs): each needs a fresh run driven to its hold")


def _attach_trial(kube: Any, workdir: Path) -> tuple[float, float, float]:
    """One run in fresh namespaces: (ms R → intent write, ms R → the driver's first
    Deployments write, s the driver took to its first canary step)."""
    from tests.realkube import attach

    workdir.mkdir()
    ns, stg = kube.namespace("attach"), kube.namespace("attach-stg")
    kube.apply_yaml((FIXTURES / "production.yaml").read_text(), namespace=ns)
    # A (user tester, cluster-admin) drives the real Deployments; B (ServiceAccount
    # driver2, the store's Role only) attaches and sends the intent.
    a, b = attach.two_kubeconfigs(kube, ns, workdir)
    procs: list[subprocess.Popen[bytes]] = []
    t0 = time.monotonic()
    session = None
    try:
        run_id = attach.start_holding_driver(
            kube, ns, a, workdir / "driver.log", procs, ATTACH_SPEED, staging=stg
        )
        took = time.monotonic() - t0
        session = attach.attached(b, ns, run_id)
        intent, write = asyncio.run(_press_attached(kube, session, ns))
        return intent, write, took
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)
        if session is not None:
            session.store.close()
        for n in (ns, stg):
            kube.delete("v1", "Namespace", None, n)


async def _press_attached(kube: Any, session: Any, ns: str) -> tuple[float, float]:
    """The attached control room (120×40) at the hold: ``R``, then ms from the press
    (wall clock) to the audit log's ``requestReceivedTimestamp`` of B's intent write and
    of the driver's first Deployments write."""
    from b2tui.ui.app import make_app
    from tests.realkube import attach

    operator = f"system:serviceaccount:{ns}:driver2"
    app = make_app(
        attach.store_settings(ns),
        session,
        clock=session.clock,
        runner=session.follow,
        user=session.user,
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await attach.until(
            pilot,
            lambda: session.view.canary_percent > 0 and session.view.hold_until is not None,
            "the canary hold on the attached screen",
            60,
        )
        mark, t0 = kube.audit_mark(), time.time()
        await pilot.press("R")
        intent = write = None
        deadline = time.monotonic() + 30
        while intent is None or write is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"R: intent write {intent}, driver's write {write} in 30 s")
            await asyncio.sleep(0.05)
            intent = intent or _first_write_at(kube, operator, mark, "configmaps", "b2tui-intents-")
            write = write or _first_write_at(kube, "tester", mark, "deployments")
        await attach.until(
            pilot, lambda: session.view.rollback_started is not None, "the rollback on screen", 30
        )
    return (intent - t0) * 1000, (write - t0) * 1000


# --- detection ---------------------------------------------------------------------------


def row_detection(o: Opts) -> None:
    heading("detection: canary errors start → rollback_started (real Prometheus, default gates)")
    if shutil.which("prometheus") is None:
        skip("prometheus not installed")
        return
    from tests.support.metrics_app import MetricsApp
    from tests.support.prom import ScrapeTarget, start_prometheus

    times = []
    for i in range(o.runs):
        # A fresh service and Prometheus per run: the errors of the run before would stay
        # in the queries' rate window (60 s) and fail the next run's staging.
        app = MetricsApp("b2connect", namespace="b2connect", tracks=("stable", "canary")).start()
        with tempfile.TemporaryDirectory(prefix="b2tui-bench-") as tmp:
            prom = start_prometheus(
                [ScrapeTarget(app.target, app.app, app.namespace)], Path(tmp) / f"prom{i}"
            )
            try:
                for t in ("stable", "canary"):
                    app.set_track(t, rate=50.0, error_ratio=0.0, latency=0.04)
                times.append(asyncio.run(_detect(prom.url, app)))
            finally:
                prom.stop()
                app.stop()
    from b2tui.adapters.prometheus.promql import rate_window
    from b2tui.config import GateSettings, PrometheusSettings

    g = GateSettings()
    window = rate_window(PrometheusSettings(), g.poll)
    limit = g.consecutive_failures * g.poll + 1 + window
    bound = (
        f"{limit:g} s = {g.consecutive_failures} polls × {g.poll:g} s + scrape 1 s"
        f" + the queries' {window:g} s window"
    )
    line("errors → rollback_started", times, "s", f"≤ {bound}")


async def _detect(url: str, app: Any) -> float:
    from b2tui.adapters.prometheus import PrometheusMetrics
    from b2tui.adapters.sandbox import build_sandbox
    from b2tui.adapters.store import Store
    from b2tui.config import GateSettings, PrometheusSettings, sandbox_settings
    from b2tui.domain import events as ev
    from b2tui.engine.conductor import Conductor
    from benchmarks.rollback_latency import START

    gates = GateSettings()
    settings = dataclasses.replace(
        sandbox_settings(), gates=gates, prometheus=PrometheusSettings(url=url)
    )
    clock = SwitchClock(60.0, START)
    sandbox = build_sandbox("happy", 7, clock, settings)
    ports = dataclasses.replace(
        sandbox.ports, metrics=PrometheusMetrics(settings.prometheus, gates.poll)
    )
    conductor = Conductor(
        settings,
        ports,
        Store(":memory:"),
        clock,
        user="bench",
        autopilot=True,
    )
    started: list[float] = []
    rolled_back = asyncio.Event()

    def on_event(e: ev.Event) -> None:
        if isinstance(e, ev.RollbackStarted):
            started.append(time.monotonic())
            rolled_back.set()

    conductor.subscribe(on_event)
    first = settings.environment("production").canary_steps[0].weight
    try:
        await conductor.start(version="1a2b3c4d", scenario="happy")
        await _until_hold(conductor, first)
        clock.set_speed(1.0)
        await asyncio.sleep(2 * gates.poll)  # a healthy poll or two at real time
        if started:
            raise RuntimeError("rolled back before any error (healthy canary judged failing)")
        t0 = time.monotonic()
        app.set_track("canary", error_ratio=0.2)
        try:
            await asyncio.wait_for(rolled_back.wait(), 600)
        except TimeoutError:
            raise RuntimeError("no rollback_started within 600 s of errors") from None
        return started[0] - t0
    finally:
        await conductor.stop()


ROWS: dict[str, Callable[[Opts], None]] = {
    "rollback": row_rollback,
    "idle": row_idle,
    "pods": row_pods,
    "rss": row_rss,
    "startup": row_startup,
    "status-line": row_status_line,
    "status-line-kube": row_status_line_kube,
    "apiload": row_apiload,
    "attach": row_attach,
    "detection": row_detection,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=None, help="runs per row (default 10)")
    parser.add_argument("--quick", action="store_true", help="1 run per row, short windows")
    parser.add_argument(
        "--only", action="append", choices=sorted(ROWS), help="run only this row (repeatable)"
    )
    parser.add_argument("--window", type=float, default=None, help="idle/API window seconds")
    parser.add_argument(
        "--trials", type=int, default=None, help="rollback row: R presses (default 200)"
    )
    parser.add_argument("--list", action="store_true", help="name the rows and exit")
    a = parser.parse_args(argv)
    if a.list:
        print("\n".join(ROWS))
        return 0
    o = Opts(
        runs=a.runs or (1 if a.quick else 10),
        quick=a.quick,
        window=a.window or (5.0 if a.quick else 30.0),
        trials=a.trials or (20 if a.quick else 200),
    )
    failed = []
    for name in a.only or list(ROWS):
        try:
            ROWS[name](o)
        except Exception as e:  # one row failing must not hide the others' numbers
            print(f"   {name} FAILED: {type(e).__name__}: {e}")
            failed.append(name)
    if failed:
        print(f"rows that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
