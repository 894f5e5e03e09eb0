"""The parent of ``geventio-serve --workers N``: one listening socket, N worker processes.

Per connection the parent accepts, reads until the end of the first request line, picks
the worker (the one owning the session the line names, sticky.py; otherwise the next in
turn) and hands it the socket and the bytes read (worker.py); its own copy is then closed.
It never reads a response or a later request: a worker hands back a kept-alive connection
whose next request is another worker's, and the parent passes it on the same way.

A worker that dies is logged and replaced (same index, so the same session-id tag; its
sessions are gone and their clients reconnect). One that dies before it is ready stops
everything (the application could not be loaded or refused to run). SIGTERM or SIGINT:
stop accepting, SIGTERM every worker (each closes its sessions, so every on_close runs)
and wait for them.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
from typing import Any, Callable, Dict, List, Optional

import gevent
import gevent.event
import gevent.socket
from gevent.server import StreamServer

from . import sticky
from .worker import CONNECTION, READY, receive, send_connection

log = logging.getLogger(__name__)

#: how long a new connection may take to send its first request line
FIRST_LINE_TIMEOUT = 30.0
#: past this many bytes without a line end the connection goes to any worker (which refuses it)
FIRST_LINE_LIMIT = 8192
#: how long workers get to stop before they are killed
STOP_TIMEOUT = 20.0


class _Slot:
    """Worker ``index``: its process and the parent's end of its channel."""

    def __init__(self, index: int, proc: Any, channel: Any) -> None:
        self.index = index
        self.proc = proc
        self.channel = channel
        self.ready = False
        self.info: Dict[str, Any] = {}

    @property
    def usable(self) -> bool:
        return self.ready and self.proc.poll() is None


class Supervisor:
    """Runs ``count`` workers (``command(index, fd)`` is the argv of worker ``index`` on
    channel descriptor ``fd``) behind one listener on ``host``:``port`` (None: the
    application's settings, as reported by the first worker)."""

    def __init__(self, command: Callable[[int, int], List[str]], count: int,
                 host: Optional[str], port: Optional[int]) -> None:
        if not 1 <= count <= sticky.MAX_WORKERS:
            raise ValueError("--workers must be 1..%d" % sticky.MAX_WORKERS)
        self.command = command
        self.count = count
        self.host = host
        self.port = port
        self.slots: List[Optional[_Slot]] = [None] * count
        self.server: Optional[StreamServer] = None
        self.exit_code = 0
        self._turn = 0
        self._stopping = False
        self._ready = gevent.event.Event()
        self._done = gevent.event.Event()

    # -- workers -----------------------------------------------------------------------

    def spawn(self, index: int) -> None:
        """Start worker ``index`` and the greenlets that read its channel and reap it."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = subprocess.Popen(self.command(index, theirs.fileno()),
                                    pass_fds=(theirs.fileno(),))
        finally:
            theirs.close()
        slot = _Slot(index, proc, ours)
        self.slots[index] = slot
        log.info("worker %d started (pid %d)", index, proc.pid)
        gevent.spawn(self._read_channel, slot)
        gevent.spawn(self._reap, slot)

    def _read_channel(self, slot: _Slot) -> None:
        while True:
            try:
                message, fd = receive(slot.channel)
            except OSError:
                return
            if not message and fd is None:
                return
            kind = message[:1]
            if fd is not None:
                try:
                    if kind == CONNECTION:
                        self.dispatch(fd, message[1:])
                finally:
                    os.close(fd)
            elif kind == READY:
                slot.info = json.loads(message[1:] or b"{}")
                slot.ready = True
                if all(s is not None and s.ready for s in self.slots):
                    self._ready.set()

    def _reap(self, slot: _Slot) -> None:
        code = slot.proc.wait()
        try:
            slot.channel.close()
        except OSError:
            pass
        if self._stopping:
            return
        how = ("was killed by %s" % signal.Signals(-code).name if code < 0
               else "exited with code %d" % code)
        if not slot.ready:
            log.error("worker %d (pid %d) %s before it was ready; stopping",
                      slot.index, slot.proc.pid, how)
            self.exit_code = code if code > 0 else 1
            gevent.spawn(self.stop)
            return
        log.warning("worker %d (pid %d) %s; starting a new one", slot.index, slot.proc.pid,
                    how)
        self.spawn(slot.index)

    # -- connections -------------------------------------------------------------------

    def dispatch(self, fd: int, data: bytes) -> None:
        """Hand connection ``fd`` (``data`` read from it so far) to its worker."""
        index = sticky.owner(data, self.count)
        owner = self.slots[index] if index is not None else None
        if owner is not None and owner.usable and self._send(owner, fd, data):
            return
        # A new session, or its worker is gone (the session with it: the client is told
        # so wherever it lands, and reconnects).
        for slot in self._in_turn():
            if self._send(slot, fd, data):
                return
        log.warning("no worker to take a connection; closed")

    @staticmethod
    def _send(slot: _Slot, fd: int, data: bytes) -> bool:
        try:
            send_connection(slot.channel, fd, data)
        except OSError:
            return False
        return True

    def _in_turn(self) -> List[_Slot]:
        """The usable workers, starting with the next in turn (new sessions spread evenly)."""
        start = self._turn
        self._turn = (start + 1) % self.count
        order = self.slots[start:] + self.slots[:start]
        return [slot for slot in order if slot is not None and slot.usable]

    def _accept(self, sock: Any, _address: Any) -> None:
        # Runs in the accept loop, no greenlet per connection: the request line is nearly
        # always there already (TCP_DEFER_ACCEPT) and is handed over at once. The server
        # closes ``sock`` when this returns.
        sock.settimeout(0.0)
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            data = None
        except OSError:
            return
        if data == b"":
            return  # closed before a word
        if data is not None and (b"\n" in data or b"\0" in data
                                 or len(data) >= FIRST_LINE_LIMIT):
            self.dispatch(sock.fileno(), data)
        elif not self._stopping:
            gevent.spawn(self._read_first_line, sock.detach(), data or b"")

    def _read_first_line(self, fd: int, data: bytes) -> None:
        sock = gevent.socket.socket(fileno=fd)
        try:
            self._wait_first_line(sock, data)
        finally:
            sock.close()

    def _wait_first_line(self, sock: Any, data: bytes) -> None:
        with gevent.Timeout(FIRST_LINE_TIMEOUT, False):
            while b"\n" not in data and b"\0" not in data and len(data) < FIRST_LINE_LIMIT:
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                data += chunk
        if data:
            self.dispatch(sock.fileno(), data)

    # -- running -----------------------------------------------------------------------

    def run(self) -> int:
        """Start the workers, listen, serve until stopped; the exit code."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            gevent.signal_handler(signum, self._on_signal, signum)
        for index in range(self.count):
            self.spawn(index)
        waiter = gevent.spawn(self._ready.wait)
        gevent.wait([waiter, gevent.spawn(self._done.wait)], count=1)
        if not self._done.is_set():
            self._listen()
        self._done.wait()
        return self.exit_code

    def _listen(self) -> None:
        first = next(slot for slot in self.slots if slot is not None)
        host = self.host if self.host is not None else first.info.get("host", "")
        port = self.port if self.port is not None else int(first.info.get("port", 8001))
        try:
            listener = gevent.socket.socket(
                socket.AF_INET6 if ":" in (host or "") else socket.AF_INET)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(1024)
        except OSError as exc:
            log.error("cannot listen on %s:%s: %s", host or "*", port, exc.strerror or exc)
            self.exit_code = 1
            gevent.spawn(self.stop)
            return
        for option, value in ((socket.TCP_NODELAY, 1),  # inherited by accepted sockets
                              (getattr(socket, "TCP_DEFER_ACCEPT", None), 1)):
            if option is not None:
                try:
                    listener.setsockopt(socket.IPPROTO_TCP, option, value)
                except OSError:
                    pass
        self.server = StreamServer(listener, self._accept, spawn=None)
        self.server.start()
        bound = listener.getsockname()
        log.info("geventio serving on http://%s:%d/ with %d workers",
                 bound[0] or "0.0.0.0", bound[1], self.count)

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self._stopping:
            log.warning("%s again; killing the workers", name)
            for slot in self.slots:
                if slot is not None and slot.proc.poll() is None:
                    slot.proc.kill()
            os._exit(1)
        log.info("%s received; stopping %d workers", name, self.count)
        gevent.spawn(self.stop)

    def stop(self) -> None:
        """Stop accepting, SIGTERM every worker and wait for them (killing stragglers)."""
        if self._stopping:
            return
        self._stopping = True
        if self.server is not None:
            self.server.close()
        procs = [slot.proc for slot in self.slots if slot is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        waits = [gevent.spawn(proc.wait) for proc in procs]
        gevent.joinall(waits, timeout=STOP_TIMEOUT)
        for proc in procs:
            if proc.poll() is None:
                log.warning("worker pid %d did not stop within %ss; killed", proc.pid,
                            STOP_TIMEOUT)
                proc.kill()
                proc.wait()
        log.info("all workers stopped")
        self._done.set()
