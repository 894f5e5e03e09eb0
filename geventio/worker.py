"""One worker process of ``geventio-serve --workers N``.

The parent (supervisor.py) accepts every connection, reads its first request line and hands
the socket, with the bytes it read, to the worker owning the session it names (sticky.py)
over a Unix SOCK_SEQPACKET channel (SCM_RIGHTS). The worker serves it with geventio's own
Handler, keep-alive included. A later request on the same connection naming another
worker's session is handed back to the parent with the bytes read so far, and the parent
passes it on: the parent looks only at a connection's first request, the workers at the
others.

Channel messages: ``R`` + JSON (worker -> parent: ready, the application's address) and
``C`` + bytes already read, with one descriptor (either way: a connection to serve).
"""
from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
from typing import Any, ClassVar, List, Optional, Tuple

import gevent
import gevent.pool
import gevent.socket

from . import policy as flash_policy
from . import sticky
from .server import Handler, SocketServer

log = logging.getLogger(__name__)

READY = b"R"
CONNECTION = b"C"
#: the largest channel message: a request line plus what was buffered behind it
MESSAGE_LIMIT = 256 * 1024
#: how long in-flight requests get at shutdown after every session was closed
STOP_GRACE = 2.0


def send_connection(channel: socket.socket, fd: int, data: bytes) -> None:
    """Hand the connection ``fd`` and the ``data`` already read from it over ``channel``."""
    socket.send_fds(channel, [CONNECTION + data], [fd])


def receive(channel: socket.socket) -> Tuple[bytes, Optional[int]]:
    """One channel message and its descriptor (if any); (b"", None) when the peer is gone."""
    message, fds, _flags, _address = socket.recv_fds(channel, MESSAGE_LIMIT, 2)
    for extra in fds[1:]:
        os.close(extra)
    return message, (fds[0] if fds else None)


class _Replay(io.RawIOBase):
    """A connection's reader: the bytes the parent already read, then the socket."""

    def __init__(self, prefix: bytes, sock: Any) -> None:
        super().__init__()
        self._prefix = prefix
        # SocketIO's name for its socket: compat.socket_under finds it, so an Engine.IO
        # WebSocket still reads in the event loop once the buffered bytes are taken.
        self._sock = sock

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def readinto(self, buffer: Any) -> Optional[int]:
        prefix = self._prefix
        if prefix:
            size = min(len(buffer), len(prefix))
            buffer[:size] = prefix[:size]
            self._prefix = prefix[size:]
            return size
        try:
            return int(self._sock.recv_into(buffer))
        except BlockingIOError:
            return None


class WorkerHandler(Handler):
    """geventio's Handler, handing a request that belongs to another worker back."""

    worker: ClassVar[Optional["Worker"]] = None
    #: the connection's first request came through the parent, which chose this worker
    _routed = True

    def hand_off(self, head: bytes, consumed: bool) -> bool:
        worker = self.worker
        if worker is None or (not consumed and b"\n" not in head):
            return False  # an unfinished line: checked again once pywsgi has read it
        if self._routed:
            self._routed = False  # the parent's choice stands for the first request
            return False
        index = sticky.owner(head, worker.count)
        if index == worker.index or (index is None and not (
                worker.count > 1 and sticky.opens_session(head))):
            return False
        data = head + self._buffered() if consumed else self._buffered()
        worker.give_back(self.socket.detach(), data)
        return True

    def _buffered(self) -> bytes:
        """What the reader holds, without waiting for more."""
        sock = self.socket
        timeout = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            return bytes(self.rfile.peek())
        except (BlockingIOError, ValueError, OSError):
            return b""
        finally:
            sock.settimeout(timeout)


class Worker:
    """Serves the connections arriving on ``channel`` with ``server``'s application."""

    def __init__(self, server: SocketServer, channel: socket.socket, index: int,
                 count: int) -> None:
        self.server = server
        self.channel = channel
        self.index = index
        self.count = count
        self.pool = gevent.pool.Pool()
        self._policy = server.policy
        self._stopping = False
        http = server.http
        http.handler_class = WorkerHandler
        http.flash_policy = None  # the parent read the first bytes: answered in serve()
        http.nodelay_inherited = True  # the parent's listener has TCP_NODELAY
        http.update_environ()
        WorkerHandler.worker = self

    def run(self) -> None:
        """Serve until the parent goes away or :meth:`stop`."""
        if self.server.policy_server is not None:
            try:
                self.server.policy_server.start()
            except OSError as exc:
                log.warning("Flash policy server not started on port %s (%s)",
                            self.server.policy_server.server_port, exc)
        host, port = self.server.http.address[:2]
        self.channel.sendall(READY + json.dumps({"host": host, "port": port}).encode())
        while not self._stopping:
            try:
                message, fd = receive(self.channel)
            except OSError:
                break
            if not message and fd is None:
                break  # the parent is gone
            if fd is None:
                continue
            try:
                conn = gevent.socket.socket(fileno=fd)
            except OSError:
                os.close(fd)
                continue
            self.pool.spawn(self.serve, conn, message[1:])
        self.stop()

    def serve(self, conn: Any, prefix: bytes) -> None:
        """Serve one handed-over connection whose first bytes were ``prefix``."""
        try:
            address = conn.getpeername()
        except OSError:
            conn.close()
            return
        if prefix.startswith(b"<"):
            self._answer_policy(conn, prefix)
            return
        rfile = io.BufferedReader(_Replay(prefix, conn),
                                  max(io.DEFAULT_BUFFER_SIZE, len(prefix)))
        WorkerHandler(conn, address, self.server.http, rfile).handle()

    def _answer_policy(self, conn: Any, prefix: bytes) -> None:
        try:
            if self._policy is not None and prefix == flash_policy.POLICY_REQUEST:
                conn.sendall(flash_policy.reply(self._policy))
        except OSError:
            pass
        finally:
            conn.close()

    def give_back(self, fd: int, data: bytes) -> None:
        """Hand a connection to the parent, which passes it to its owner."""
        try:
            send_connection(self.channel, fd, data)
        except OSError as exc:
            log.warning("could not hand a connection back to the parent: %s", exc)
        finally:
            os.close(fd)

    def stop(self) -> None:
        """Close every session (on_close runs), give requests STOP_GRACE, and return."""
        if self._stopping:
            return
        self._stopping = True
        if self.server.policy_server is not None:
            self.server.policy_server.stop()
        close = getattr(self.server.application, "close", None)
        if close is not None:
            close()
        self.pool.join(timeout=STOP_GRACE)
        self.pool.kill(timeout=1)
        try:
            self.channel.close()
        except OSError:
            pass


def serve_worker(server: SocketServer, fd: int, index: int, count: int) -> None:
    """Run worker ``index`` of ``count`` on the parent's channel ``fd`` until it ends.

    SIGTERM stops it gracefully (a second one at once); SIGINT is the parent's to handle
    (a terminal's Ctrl-C reaches the whole process group)."""
    channel = gevent.socket.socket(fileno=fd)
    worker = Worker(server, channel, index, count)
    runner = gevent.spawn(worker.run)
    stops: List[int] = []

    def on_term() -> None:
        if stops:
            log.warning("SIGTERM again; exiting without waiting")
            os._exit(1)
        stops.append(1)
        log.info("SIGTERM received; worker %d shutting down", index)
        gevent.spawn(worker.stop).link(lambda _g: runner.kill(block=False))

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gevent.signal_handler(signal.SIGTERM, on_term)
    runner.join()
