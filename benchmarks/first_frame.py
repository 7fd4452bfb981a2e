"""First frame, three processes side by side: ``b2tui demo``, the control room alone, a
bare Textual app (issue #28's ``startup`` row, and the floor under it).

``python -m benchmarks.first_frame [--runs 10]`` spawns, alternated, in the same
120×40 pty and environment as the ``startup`` row:

* ``demo``: ``python -m b2tui demo --state NEW`` up to the first output holding
  ``readiness`` (what the row measures);
* ``room``: the real control room (``make_app``: the same class, CSS, widgets, panels,
  pods table, clock tick) over a session that is only a :class:`~b2tui.domain.view.RunView`
  held in readiness (the ``readiness-blocked`` scene's, driven once by the real conductor
  in this process and pickled): no engine, sandbox, store, command line or argument
  parsing, up to its first output holding ``readiness``; the floor of what the room
  itself costs while the first frame is the whole room;
* ``bare``: the row's one-``Static`` Textual app, up to ``bare-ready``.

The ``room`` child is :mod:`benchmarks.first_frame_room` (it imports nothing of the
benchmarks, and holds the garbage collector off as the console script does). CPU is
the sum of ``/proc/PID/task/*/schedstat`` (nanoseconds of every live thread) read as
the marker arrives; ``room`` also reports the process CPU (``time.process_time``) at
the end of its imports, so the room's CSS, compose, mount and first render show apart.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import pickle
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks import idle_output
from benchmarks.suite import BARE, ROOT, _first_frame, _threads_ns

PY = sys.executable
BARE_MARKED = BARE.replace(
    "class Bare(App):",
    "import os, time\n"
    "open(os.environ['FIRST_FRAME_MARKS'], 'w').write(str(time.process_time()))\n"
    "class Bare(App):",
)


def first_frame(
    argv: list[str], marker: bytes, env: dict[str, str], cwd: Path = ROOT
) -> tuple[float, float]:
    """Wall seconds from spawn to the first output holding ``marker`` in a 120×40 pty,
    and the CPU seconds of the process's threads by then (``schedstat``: nanoseconds)."""
    return _first_frame(argv, marker, env, cwd, cpu=lambda pid: _threads_ns(pid) / 1e9)


async def _held_view() -> bytes:
    from b2tui.screenshots import open_scene

    run = await open_scene("readiness-blocked")
    try:
        pods = await run.pods()
        return pickle.dumps((run.conductor.view, pods, run.clock.now()))
    finally:
        await run.conductor.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--only", action="append", choices=("demo", "room", "bare"))
    p.add_argument(
        "--before",
        metavar="DIR",
        type=Path,
        help="also `b2tui demo` from another copy of the tree (e.g. `git archive` of the"
        " commit before a change), alternated with this one as `demo-before`",
    )
    a = p.parse_args()
    kinds = a.only or ["demo", "room", "bare"]
    if a.before is not None:
        kinds.insert(0, "demo-before")
        compileall.compile_dir(a.before / "b2tui", quiet=1)
    env = {**idle_output._env(), "NO_COLOR": "1"}
    compileall.compile_dir(ROOT / "b2tui", quiet=1)
    compileall.compile_dir(ROOT / "benchmarks", quiet=1)
    res: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
    marks: list[tuple[float, ...]] = []
    bare_marks: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="b2tui-bench-") as tmp:
        held = Path(tmp) / "held.pickle"
        held.write_bytes(asyncio.run(_held_view()))
        mark_file = Path(tmp) / "marks"
        for i in range(a.runs):
            for k in kinds:
                if k in ("demo", "demo-before"):
                    argv = [PY, "-m", "b2tui", "demo", "--state", str(Path(tmp) / f"{k}{i}.db")]
                    demo_env = env if k == "demo" else {**env, "PYTHONPATH": str(a.before)}
                    where = ROOT if k == "demo" else a.before
                    res[k].append(first_frame(argv, b"readiness", demo_env, where))
                elif k == "room":
                    argv = [PY, str(Path(__file__).with_name("first_frame_room.py")), str(held)]
                    room_env = {**env, "FIRST_FRAME_MARKS": str(mark_file)}
                    res[k].append(first_frame(argv, b"readiness", room_env))
                    marks.append(tuple(float(x) for x in mark_file.read_text().split()))
                    bare_env = {**env, "FIRST_FRAME_MARKS": str(mark_file)}
                    _, cpu = first_frame([PY, "-c", BARE_MARKED], b"bare-ready", bare_env)
                    bare_marks.append((float(mark_file.read_text()), cpu))
                else:
                    res[k].append(first_frame([PY, "-c", BARE], b"bare-ready", env))
    med = statistics.median
    if a.before is not None:
        for j, what in enumerate(("wall", "CPU")):
            r = [x[j] / b[j] for x, b in zip(res["demo"], res["demo-before"], strict=True)]
            d = [x[j] - b[j] for x, b in zip(res["demo"], res["demo-before"], strict=True)]
            print(
                f"demo/demo-before {what:4}: median {med(r):.3f}× (min {min(r):.3f},"
                f" worst {max(r):.3f}); difference median {med(d) * 1000:+.1f} ms"
            )
    for k in kinds:
        wall = [w for w, _ in res[k]]
        cpu = [c for _, c in res[k]]
        print(
            f"{k:5} wall median {med(wall):.3f} s (worst {max(wall):.3f})"
            f"  CPU median {med(cpu):.3f} s (min {min(cpu):.3f}, worst {max(cpu):.3f})"
        )
    if marks:
        print(
            "process CPU (process_time) at the end of the imports, medians:"
            f" bare app {med([b[0] for b in bare_marks]):.3f} s (a marked copy of it, run"
            f" after each room); room: Textual's App and Static {med([m[0] for m in marks]):.3f}"
            f" s, everything {med([m[1] for m in marks]):.3f} s"
        )
        room_frame = [r[1] - m[1] for r, m in zip(res["room"], marks, strict=True)]
        bare_frame = [c - b for b, c in bare_marks]
        print(
            "CPU from the end of the imports to the first frame (per run), medians:"
            f" room {med(room_frame):.3f} s (min {min(room_frame):.3f}),"
            f" bare app {med(bare_frame):.3f} s (min {min(bare_frame):.3f})"
        )
    if "bare" in res:
        for k in kinds:
            if k == "bare":
                continue
            for j, what in enumerate(("wall", "CPU")):
                r = [x[j] / b[j] for x, b in zip(res[k], res["bare"], strict=True)]
                print(
                    f"{k}/bare {what:4}: median {med(r):.2f}×"
                    f" (min {min(r):.2f}, worst {max(r):.2f})"
                )


if __name__ == "__main__":
    main()
