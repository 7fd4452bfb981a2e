"""The control room's terminal driver: Textual's Linux driver, made safe for a terminal
that goes away (a closed SSH session, a killed tmux pane, a closed window).

When a terminal hangs up, the kernel sends the session SIGHUP *and* SIGCONT, and every
read or write on it fails with EIO from then on. Textual's driver has two reactions to
that which, together, used to hang b2tui for good (three threads on futexes, the room
never closed):

* Its SIGCONT handler restarts application mode whenever it runs, also without a
  suspend before it. Run by the hangup's SIGCONT, it started a second writer thread in
  place of the first (left waiting on its queue), and that second writer died on its
  first write to the dead terminal.
* A writer thread that dies leaves its bounded queue (30 writes) unread: the next writes
  fill it, and the room's exit (``WriterThread.stop`` puts one more item, then joins)
  blocks the event loop forever; the signal handler's own deadline, a loop timer, never
  fires.

:class:`TerminalDriver` removes both causes: SIGCONT resumes application mode only after
this process suspended it (ctrl+z or SIGTSTP), and a write to a terminal that is gone is
dropped, so the writer thread lives until it is stopped and its queue always drains. A
read that fails because the terminal is gone is a hangup: the process gets SIGHUP, as a
controlling terminal's hangup would have sent it, so the room leaves the one way every
signal leaves it (``cli/room.py``).

Its input thread also sleeps until there is input: Textual's wakes every 0.1 s to see
whether the app is leaving (ten wake-ups a second, ~0.15 % of a core in an idle room).
Here the app's leaving wakes it (:class:`WakingEvent`), and it wakes on time only while
the parser waits to tell a lone ``esc`` from the start of a sequence.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import sys
import termios
import threading
from codecs import getincrementaldecoder
from typing import IO, Any

from textual._parser import ParseError
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver


class GoneSafeFile:
    """A text file that drops what is written once the terminal behind it is gone.

    Textual's writer thread calls only ``write``, ``flush`` and ``fileno``. The first
    OSError (EIO after a hangup, EPIPE, EBADF) marks the file gone: from then on writes
    and flushes do nothing, so the thread that makes them never dies of it.
    """

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._file.write(text)
            except (OSError, ValueError):  # ValueError: the file was closed
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._file.flush()
            except (OSError, ValueError):
                self.gone = True

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return not self.gone and self._file.isatty()


class WakingEvent(threading.Event):
    """The driver's ``exit_event``: setting it also writes a byte to a pipe, which wakes
    an input thread sleeping in ``select`` without a timeout."""

    def __init__(self) -> None:
        super().__init__()
        self.wake_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)

    def set(self) -> None:
        super().set()
        if self._write_fd >= 0:
            with contextlib.suppress(OSError):  # full: woken already
                os.write(self._write_fd, b"x")

    def drain(self) -> None:
        with contextlib.suppress(OSError):
            os.read(self.wake_fd, 64)

    def close(self) -> None:
        """Close the pipe (once the input thread is gone); ``set`` then only sets."""
        fds, self._write_fd = (self.wake_fd, self._write_fd), -1
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def _parser_wait(parser: XTermParser) -> float | None:
    """Seconds until the parser's pending timeout (a lone ``esc``), None without one;
    0.1 s (Textual's own poll) if this Textual's parser does not say."""
    due = getattr(parser, "_timeout_time", _UNKNOWN)
    if due is None:
        return None
    if not isinstance(due, int | float):
        return 0.1
    return max(0.0, due - get_time())


_UNKNOWN = object()


class TerminalDriver(LinuxDriver):
    """Textual's Linux driver, for a terminal that may hang up at any moment."""

    def __init__(self, app: Any, **options: Any) -> None:
        super().__init__(app, **options)
        self._file = GoneSafeFile(sys.__stderr__ or sys.stderr)  # type: ignore[assignment]
        self.exit_event = WakingEvent()

    def close(self) -> None:
        super().close()
        if isinstance(self.exit_event, WakingEvent):
            self.exit_event.close()

    def _sigcont_application(self, *_: object) -> None:
        # Textual sets this flag when SIGTSTP suspended application mode; any other
        # SIGCONT (a hangup sends one with SIGHUP, or `kill -CONT`) finds the terminal
        # as it is and must not start application mode a second time.
        if self._must_signal_resume:
            super()._sigcont_application()

    def _run_input_thread(self) -> None:
        try:
            self.run_input_thread()
        except OSError:
            # EIO or EBADF: the terminal is gone. Not a crash of the room: leave as on
            # SIGHUP, with the terminal restored as far as it still is.
            self._hang_up()
        except BaseException:
            import rich.traceback  # Textual's own report of a crash (a panic)

            self._app.call_later(self._app.panic, rich.traceback.Traceback())

    def run_input_thread(self) -> None:
        """Textual's input loop, except at the end of the input. A hung-up terminal reads
        as end of file for ever: Textual's loop reads it again and again (a core's worth
        of CPU) and never tells the app. Here the end of a terminal's input — also of one
        that hung up before the room opened, which no longer says it is a terminal — is
        its hang-up: the room leaves as on SIGHUP, which does not always come (the kernel
        sends it to the terminal's session leader only). The end of piped input, or of
        /dev/null, only ends the reading."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        waker = self.exit_event if isinstance(self.exit_event, WakingEvent) else None
        if waker is not None:
            selector.register(waker.wake_fd, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        ended = False
        try:
            while not self.exit_event.is_set():
                # Without a waker (never here), poll as Textual does.
                wait = _parser_wait(parser) if waker is not None else 0.1
                ready = {key.fd for key, _ in selector.select(wait)}
                if waker is not None and waker.wake_fd in ready:
                    waker.drain()
                if self.fileno in ready:
                    data = os.read(self.fileno, 4096)
                    if not data:
                        ended = True
                        break
                    for event in parser.feed(decode(data)):
                        self.process_message(event)
                for event in parser.tick():
                    self.process_message(event)
        finally:
            selector.close()
            with contextlib.suppress(EOFError, ParseError):
                for _ in parser.feed(""):
                    pass
        if ended:
            if self.input_tty or hung_up(self.fileno):
                self._hang_up()
            self.exit_event.wait()  # the app's exit sets it (disable_input)

    def _hang_up(self) -> None:
        """SIGHUP to this process when a handler takes it (the room's does: it leaves as
        on any signal); otherwise the app exits with 129 (128 + SIGHUP) itself."""
        if callable(signal.getsignal(signal.SIGHUP)):
            os.kill(os.getpid(), signal.SIGHUP)
        else:
            self._app.exit(return_code=128 + signal.SIGHUP)


def hung_up(fd: int) -> bool:
    """True when ``fd`` is a terminal that hung up (it answers every request with EIO);
    False for a live terminal, a pipe, a file or /dev/null (ENOTTY)."""
    try:
        termios.tcgetattr(fd)
    except termios.error as e:
        return bool(e.args) and e.args[0] == errno.EIO
    return False
