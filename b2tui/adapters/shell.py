"""Shell commands (pull, test, build, smoke) as asyncio subprocesses with streamed output.

Each command runs under ``bash -c`` in a session of its own (``start_new_session``), so
its process group holds everything it started: a timeout or an operator abort stops the
whole tree, not only the shell. stdout and stderr are merged, because the operator reads
them interleaved as a terminal would show them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from b2tui.ports import CommandResult, LineSink

_ANSI = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]            # CSI: colours, cursor moves, erase line
    | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\) # OSC: window titles, hyperlinks
    | \x1b[@-Z\\-_]                     # two-byte escapes
    """,
    re.VERBOSE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

EXIT_NOT_RUN = 127
"""Exit code reported when the command could not be started (shell convention)."""


def clean_line(raw: bytes, max_chars: int) -> str:
    """One line of command output as it is safe to show in the log panel.

    Decodes leniently, keeps what a terminal would show after carriage-return
    overwrites (progress bars), drops escape sequences and control characters, and caps
    the length so one minified bundle cannot flood the screen.

    Args:
        raw: The line's bytes without the trailing newline.
        max_chars: Longest line kept; longer lines end in ``…``.
    """
    text = raw.decode("utf-8", errors="replace").rstrip("\r")
    if "\r" in text:
        text = text.rsplit("\r", 1)[1]
    text = _CONTROL.sub("", _ANSI.sub("", text.replace("\t", "    ")))
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text


class _LineSplitter:
    """Bytes in, cleaned lines out; bounds the memory a newline-less stream takes."""

    def __init__(self, emit: LineSink, max_line: int) -> None:
        self._emit = emit
        self._max_line = max_line
        self._limit = max_line * 4  # UTF-8 bytes for max_line characters
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> None:
        start = 0
        while (nl := data.find(b"\n", start)) != -1:
            if not self._overflow:
                self._buf += data[start:nl]
            self._flush()
            start = nl + 1
        if not self._overflow:
            self._buf += data[start:]
            if len(self._buf) > self._limit:
                # Keep the start of an endless line, drop the rest until its newline.
                del self._buf[self._limit + 1 :]
                self._overflow = True

    def close(self) -> None:
        if self._buf:
            self._flush()

    def _flush(self) -> None:
        raw = bytes(self._buf[: self._limit])
        self._buf.clear()
        self._overflow = False
        self._emit(clean_line(raw, self._max_line))


class _StreamingProtocol(asyncio.SubprocessProtocol):
    """Feeds merged output to a splitter and tells apart "exited" from "output ended".

    ``Process.wait()`` only returns once every pipe is closed, which a background
    grandchild can delay forever; the protocol's ``process_exited`` callback does not.
    """

    def __init__(self, splitter: _LineSplitter, loop: asyncio.AbstractEventLoop) -> None:
        self._splitter = splitter
        self.exited: asyncio.Future[None] = loop.create_future()
        self.eof: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        if self.eof.done():
            return  # the sink failed earlier; the command is being stopped
        try:
            self._splitter.feed(data if isinstance(data, bytes) else data.encode())
        except Exception as e:  # the sink's error belongs to the caller, not the loop
            self.eof.set_exception(e)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if self.eof.done():
            return
        try:
            self._splitter.close()
        except Exception as e:
            self.eof.set_exception(e)
        else:
            self.eof.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


class ShellCommands:
    """The :class:`~b2tui.ports.Commands` port: ``bash -c`` with streamed, merged output.

    Args:
        env: Variables added to (and overriding) the inherited environment.
        shell: Shell executable; defaults to ``bash`` on ``PATH``, else ``/bin/sh``.
        kill_grace: Seconds between SIGTERM and SIGKILL when stopping a command.
        max_line: Longest output line passed to ``on_line``, in characters.
        tail_lines: Lines kept in :attr:`CommandResult.tail`.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        shell: str | None = None,
        kill_grace: float = 3.0,
        max_line: int = 2000,
        tail_lines: int = 20,
    ) -> None:
        self._env = dict(env or {})
        self._shell = shell or shutil.which("bash") or "/bin/sh"
        self._kill_grace = kill_grace
        self._max_line = max_line
        self._tail_lines = tail_lines

    async def run(
        self,
        name: str,
        command: str,
        *,
        cwd: str,
        timeout: float,
        on_line: LineSink,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run ``command`` in ``cwd``, streaming each output line to ``on_line``.

        A command that outlives ``timeout`` seconds (``<= 0``: no limit) has its process
        group stopped and yields ``exit_code=None, timed_out=True``. Cancelling the
        awaiting task stops the process group too, then re-raises ``CancelledError``.
        Background processes the command leaves running are stopped when it exits, so
        nothing a step started outlives the step. An exit by signal is reported as a
        negative exit code (``-9`` for SIGKILL), as :mod:`subprocess` does.

        Args:
            name: Step name for messages (``test``, ``build``).
            command: Shell text, run by ``bash -c``.
            cwd: Working directory; when missing the result says so (exit 127).
            timeout: Seconds the command may run.
            on_line: Receives each cleaned output line, in order.
            env: Variables added to the command's environment.
        """
        started = time.monotonic()
        if not await asyncio.to_thread(os.path.isdir, cwd):
            return CommandResult(
                exit_code=EXIT_NOT_RUN,
                duration=0.0,
                tail=f"{name}: working directory {cwd} does not exist;"
                " set service.repo in b2tui.toml to the checkout to run in",
            )
        tail: deque[str] = deque(maxlen=self._tail_lines)

        def emit(line: str) -> None:
            tail.append(line)
            on_line(line)

        loop = asyncio.get_running_loop()
        protocol = _StreamingProtocol(_LineSplitter(emit, self._max_line), loop)
        try:
            transport, _ = await loop.subprocess_shell(
                lambda: protocol,
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env={**os.environ, **self._env, **(env or {})},
                executable=self._shell,
                start_new_session=True,
            )
        except OSError as e:
            return CommandResult(
                exit_code=EXIT_NOT_RUN,
                duration=time.monotonic() - started,
                tail=f"{name}: cannot start {self._shell}: {e.strerror or e}",
            )
        # With start_new_session the shell leads a new session and process group whose
        # id is its pid; every child it starts inherits that group.
        pgid = transport.get_pid()
        exited, eof = protocol.exited, protocol.eof
        try:
            # asyncio.wait, not a bare await: cancelling this task must not cancel the
            # protocol's futures, which the cleanup below still reads.
            async with asyncio.timeout(timeout if timeout > 0 else None):
                await asyncio.wait({exited, eof}, return_when=asyncio.FIRST_COMPLETED)
                if eof.done():
                    eof.result()  # re-raises an error of on_line (cleanup in finally)
                    await asyncio.wait({exited})
                elif _group_alive(pgid):
                    # The shell exited but left background processes holding the pipe;
                    # they belong to the step and must not outlive it.
                    await self._stop_group(pgid)
            await asyncio.wait({eof}, timeout=1.0)
            if eof.done():
                eof.result()
            exit_code = transport.get_returncode()
        except TimeoutError:
            await self._stop_group(pgid)
            # Collect what is left in the pipe; a holder that escaped the group is not
            # worth more than a second.
            await asyncio.wait({eof}, timeout=1.0)
            emit(f"{name}: timed out after {timeout:g} s; stopped its processes")
            return CommandResult(
                exit_code=None,
                duration=time.monotonic() - started,
                timed_out=True,
                tail="\n".join(tail),
            )
        finally:
            if _group_alive(pgid):
                # Cancelled (operator abort) or on_line raised: stop the tree before the
                # exception leaves. Shielded so a second cancel cannot skip the SIGKILL.
                await asyncio.shield(self._stop_group(pgid))
            transport.close()
        return CommandResult(
            exit_code=exit_code,
            duration=time.monotonic() - started,
            tail="\n".join(tail),
        )

    async def _stop_group(self, pgid: int) -> None:
        """SIGTERM the process group, SIGKILL what is left after the grace period.

        Liveness is polled: only a process's parent (or init) can wait for it, and the
        group's members are not all our children.
        """
        _signal_group(pgid, signal.SIGTERM)
        if not await self._gone(pgid, self._kill_grace):
            _signal_group(pgid, signal.SIGKILL)
            await self._gone(pgid, self._kill_grace)

    @staticmethod
    async def _gone(pgid: int, within: float) -> bool:
        """Poll until no live process is left in the group; False after ``within`` s."""
        deadline = time.monotonic() + within
        while _group_alive(pgid):
            if time.monotonic() >= deadline:
                return False
            # Polled: no event exists for "the group is empty".
            await asyncio.sleep(0.02)
        return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """True while a live (not zombie) process of the group exists.

    On Linux ``/proc`` is read, because ``killpg(pgid, 0)`` also succeeds for zombies,
    and an orphan stays a zombie for as long as PID 1 does not reap it (common in
    containers without an init).
    """
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # Fields after the parenthesised command name: state ppid pgrp ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False
