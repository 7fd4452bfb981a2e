"""Sign-offs from another terminal on this host: a Unix socket the driver listens on, and
the kernel names who is on the other end.

The SQLite file cannot say who wrote a row: anyone who may write it may write any name.
So a sign-off from another terminal (``b2tui sign``, ``space`` in a second control room)
does not travel through the file. The driver listens on an abstract Unix socket named
after the state file, the service and the environment; the sender connects and writes one
JSON line (run, action, argument) — no name. The driver asks the kernel who connected
(``SO_PEERCRED``: pid, uid, gid), makes the :class:`~b2tui.domain.people.Person` of that
uid (its account and groups, and a ``sudo from`` part from the peer's ancestors), applies
the intent as if that person had pressed the key, and answers with one JSON line
(``accepted``, ``message``, ``user``). The sender checks in turn that the process it
reached is the driver the store's lease names (same pid), so another process squatting
the name cannot collect sign-offs.

An abstract socket has no file and no permissions: any local account may connect, and the
roles decide what it may do. Only sign-offs are accepted here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future

from b2tui.adapters.identity import invoked_by, person_of_uid
from b2tui.domain.people import Person
from b2tui.ports import Intent

MAX_REQUEST = 4096
"""Bytes of one request; a longer one is refused."""
TIMEOUT = 10.0
"""Seconds a peer may take to send its line, and the driver to answer it."""

Apply = Callable[[Person, Intent], "Future[tuple[bool, str]]"]
"""Driver side: apply ``intent`` as ``person`` on the event loop; the future's result is
(accepted, message)."""


class InboxError(Exception):
    """The driver cannot be reached, or answered nonsense; ``str()`` is one line."""


def address(state: str, service: str, environment: str) -> bytes:
    """The abstract socket name of a run's inbox (a leading NUL: no file)."""
    key = f"{os.path.realpath(state)}\0{service}\0{environment}".encode()
    return b"\0b2tui-inbox-" + hashlib.sha256(key).hexdigest()[:32].encode()


def _peer(conn: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end, from the kernel."""
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


class LocalInbox:
    """The driver's listening socket for one run (:meth:`serve`), and the sender's half
    (:func:`send`)."""

    def __init__(self, state: str, service: str, environment: str) -> None:
        self.address = address(state, service, environment)

    def serve(self, run_id: str, apply: Apply) -> Callable[[], None]:
        """Listen for sign-offs of ``run_id`` until the returned function is called.

        Raises:
            InboxError: another process listens on this run's name already.
        """
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.bind(self.address)
        except OSError as e:
            server.close()
            raise InboxError(f"cannot listen for sign-offs: {e.strerror or e}") from None
        server.listen(8)
        stopping = threading.Event()

        def loop() -> None:
            while not stopping.is_set():
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                threading.Thread(
                    target=self._answer, args=(conn, run_id, apply), daemon=True
                ).start()

        thread = threading.Thread(target=loop, name="b2tui-inbox", daemon=True)
        thread.start()

        def stop() -> None:
            stopping.set()
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
            thread.join(timeout=2)

        return stop

    def _answer(self, conn: socket.socket, run_id: str, apply: Apply) -> None:
        with conn:
            conn.settimeout(TIMEOUT)
            try:
                pid, uid, _gid = _peer(conn)
                person = person_of_uid(uid, via=invoked_by(uid, pid))
                request = _read_line(conn)
                answer = self._decide(request, person, run_id, apply)
            except (OSError, ValueError) as e:
                answer = {"accepted": False, "message": f"bad request: {e}"}
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps(answer).encode() + b"\n")

    @staticmethod
    def _decide(request: bytes, person: Person, run_id: str, apply: Apply) -> dict[str, object]:
        data = json.loads(request)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        base = {"user": person.display}
        if data.get("run_id") not in ("", run_id):  # "": the sender could not read the store
            return base | {"accepted": False, "message": f"this driver drives run {run_id}"}
        if data.get("action") != "sign_off" or not isinstance(data.get("arg"), str):
            return base | {"accepted": False, "message": "only sign-offs are taken here"}
        intent = Intent(run_id, "sign_off", person.display, data["arg"])
        try:
            accepted, message = apply(person, intent).result(timeout=TIMEOUT)
        except TimeoutError:
            return base | {"accepted": False, "message": "the driver did not answer in time"}
        return base | {"accepted": accepted, "message": message}


def send(inbox: LocalInbox, intent: Intent, driver_pid: int | None) -> dict[str, object]:
    """Sender side: deliver ``intent`` and return the driver's answer
    (``accepted``, ``message``, ``user``).

    Args:
        driver_pid: the pid the store's lease names; the process reached must be it.

    Raises:
        InboxError: nobody listens, the listener is not the driver, or no answer came.
    """
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(TIMEOUT + 5)
    with conn:
        try:
            conn.connect(inbox.address)
        except OSError:
            raise InboxError(
                "the driver does not listen for sign-offs (is it a b2tui older than this one,"
                " or another host's?)"
            ) from None
        pid, _uid, _gid = _peer(conn)
        if driver_pid is not None and pid != driver_pid:
            raise InboxError(
                f"process {pid} answers on this run's name, not its driver (pid {driver_pid});"
                " nothing was sent"
            )
        body = {"run_id": intent.run_id, "action": intent.action, "arg": intent.arg}
        try:
            conn.sendall(json.dumps(body).encode() + b"\n")
            line = _read_line(conn)
        except OSError as e:
            raise InboxError(f"no answer from the driver: {e.strerror or e}") from None
    try:
        answer = json.loads(line)
    except ValueError:
        raise InboxError("the driver answered something that is not JSON") from None
    if not isinstance(answer, dict):
        raise InboxError("the driver answered something that is not a JSON object")
    return answer


def _read_line(conn: socket.socket) -> bytes:
    buf = b""
    while b"\n" not in buf:
        chunk = conn.recv(1024)
        if not chunk:
            break
        buf += chunk
        if len(buf) > MAX_REQUEST:
            raise ValueError(f"longer than {MAX_REQUEST} bytes")
    if not buf.strip():
        raise ValueError("empty request")
    return buf.split(b"\n", 1)[0]
