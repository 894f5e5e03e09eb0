"""SocketServer: a gevent WSGIServer for an Application, plus the Flash policy server."""
from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from io import BytesIO
from typing import Any, List, Optional, Tuple

import gevent
from gevent.pywsgi import LoggingLogAdapter, WSGIHandler, WSGIServer
from geventwebsocket.handler import WebSocketHandler

from . import _gevent_compat as compat
from . import lean, logsafe
from . import policy as flash_policy
from .app import Application
from .protocol import http1
from .protocol.http1 import parse_head

log = logging.getLogger(__name__)
access_log = logging.getLogger("geventio.access")


class Handler(compat.OneWriteHeadMixin, WebSocketHandler):
    """pywsgi's handler, plus: TCP_NODELAY on every client socket, the Flash policy
    answered inline on the HTTP port, and no keep-alive after a WebSocket upgrade.

    Socket.IO paths are plain WSGI requests: the router performs its own WebSocket
    upgrades (geventio.wsio), after it has decided to accept them. Every other path
    goes through gevent-websocket's handler, so a wrapped app's own WebSocket endpoints
    (reading ``environ['wsgi.websocket']``, as Flask-Sockets style apps do) keep working.
    """

    _drained = False  # the lean path consumed every byte read so far
    #: set by read_request for a request refused before pywsgi parsed it: the response
    #: handle() sends before closing (None: close without one)
    _refusal: Optional[bytes] = None
    _refused = False
    _head_block = b""  # the header block read_request read, for MessageClass
    _line_checked = False  # hand_off already saw this request's line (at the peek)

    def log_request(self) -> None:
        # pywsgi's request line, on geventio.access at DEBUG; formatted only when someone
        # listens. (gevent-websocket's version would log every request at INFO.)
        if access_log.isEnabledFor(logging.DEBUG):
            WSGIHandler.log_request(self)

    def run_application(self) -> None:
        app = self.application
        path = self.environ.get("PATH_INFO", "")
        try:
            if any(route.matches(path) for route in getattr(app, "routes", ())):
                return WSGIHandler.run_application(self)
            return super().run_application()
        finally:
            if self.close_connection and self.wsgi_input is not None:
                # Closing anyway: reading the unread body first would let a client that
                # declared a huge one (refused with 413) make us swallow all of it.
                compat.abandon_input(self.wsgi_input)

    def read_request(self, raw_requestline: str) -> bool:
        # The header block is read here, bounded in total (max_header_size) and checked
        # against the framing policy (protocol/http1.py) before pywsgi parses it.
        self._refused = False
        checked, self._line_checked = self._line_checked, False
        if not checked and self.hand_off(raw_requestline.encode("latin-1"), consumed=True):
            self._refused = True  # end the connection here, without an answer
            self._refusal = None
            return False
        limit = getattr(self.server, "max_header_size", http1.MAX_HEADER_SIZE)
        words = raw_requestline.split()
        version = words[2] if len(words) == 3 else "HTTP/0.9"
        try:
            fields = http1.read_fields(self.rfile.readline, limit - len(raw_requestline))
            lengths: List[str] = []
            codings: List[str] = []
            kept = []
            for name, value in fields:
                lower = name.lower()
                if lower == b"content-length":
                    lengths.append(value.decode("latin-1"))
                    continue
                if lower == b"transfer-encoding":
                    codings.append(value.decode("latin-1"))
                kept.append(name + b": " + value + b"\r\n")
            length = http1.body_length(version, lengths, codings)
        except http1.HeadTooLargeError as exc:
            return self._refuse("431 Request Header Fields Too Large", str(exc))
        except http1.FramingError as exc:
            return self._refuse("400 Bad Request", str(exc))
        except (EOFError, OSError):
            self._refused = True  # the client went away mid-head: nothing to answer
            self._refusal = None
            return False
        if length is not None:
            kept.append(b"Content-Length: %d\r\n" % length)  # repeated values made one
        self._head_block = b"".join(kept) + b"\r\n"
        return super().read_request(raw_requestline)

    def hand_off(self, head: bytes, consumed: bool) -> bool:
        """``geventio-serve --workers``: True when the request starting ``head`` (its line
        already read from ``rfile`` when ``consumed``) belongs to another worker and the
        connection was handed over; the handler then ends without using the socket again.
        A single process serves everything."""
        return False

    def MessageClass(self, *args: Any) -> Any:  # noqa: N802 -- pywsgi's name
        # pywsgi parses the header block read_request already read (and bounded).
        return super().MessageClass(BytesIO(self._head_block), 0)

    def _refuse(self, status: str, reason: str) -> bool:
        address = self.client_address
        log.info("refused a request from %s: %s (%s)",
                 address[0] if isinstance(address, tuple) else address, status[:3], reason)
        self._refused = True
        self._refusal = http1.refusal(status, reason)
        return False

    def handle(self) -> None:
        if not getattr(self.server, "nodelay_inherited", False):
            try:
                self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass  # not TCP (unix socket) or already closed
        policy = getattr(self.server, "flash_policy", None)
        if policy is not None:
            try:
                answered = flash_policy.answer_inline_policy(self.socket, policy)
            except OSError:
                answered = True
            if answered:
                try:
                    self.socket.close()
                except OSError:
                    pass
                return
        super().handle()

    def handle_one_request(self) -> Any:
        # Engine.IO requests take the lean path (geventio/lean.py) when their whole head is
        # already buffered and plain; everything else is pywsgi's, unchanged.
        rfile = self.rfile
        if rfile.closed:
            return None
        app = self.server.application
        routes = getattr(app, "routes", None)
        line_checked = False
        if routes:
            if self._drained:
                # The last request used up everything read: wait for the next one before
                # reading, rather than try a read that would fail and then wait.
                self._drained = False
                # (Plain sockets only: TLS may hold decrypted bytes the fd does not show.)
                try:
                    compat.wait_readable(self.socket)
                except OSError:
                    return None
            try:
                buf = rfile.peek(1)
            except (OSError, ValueError):
                return None
            if not buf:
                return None
            line_checked = b"\n" in buf
            if line_checked and self.hand_off(buf, consumed=False):
                return None
            head = parse_head(buf)
            limit = getattr(self.server, "max_header_size", http1.MAX_HEADER_SIZE)
            if head is not None and "EIO=" in head.query and head.size <= limit:
                path = head.path
                if "%" not in path:
                    for route in routes:
                        if route.matches(path):
                            # The route's router directly: what Application would pick.
                            self.application = app
                            outcome = lean.serve(self, head, route.router, len(buf))
                            if outcome is lean.CLOSE:
                                return None
                            self._drained = outcome is lean.KEEP_DRAINED
                            return True
        self._refused = False
        self._line_checked = line_checked
        result = super().handle_one_request()
        if self._refused:
            if self._refusal is None:
                return None
            return self._refusal[9:12].decode("ascii"), self._refusal
        return result

    def get_environ(self) -> dict:
        environ = super().get_environ()
        # Lets long-polls notice a client hanging up (transports/http.py watch_disconnect).
        environ["geventio.socket"] = self.socket
        return environ

    def handle_one_response(self) -> None:
        super().handle_one_response()
        if self.code == 101:
            self.close_connection = True

    def finalize_headers(self) -> None:
        if self.code == 413:
            # The body was refused unread: the connection cannot be reused (it would have
            # to be read to the end first).
            self.close_connection = True
        super().finalize_headers()
        # RFC 9112 9.6: a server that will close the connection says so. pywsgi closes
        # after a request with "Connection: close" but does not echo it, and clients that
        # pool connections then reuse a dead socket.
        if self.close_connection and self.code != 101 and not any(
                name.lower() == b"connection" for name, _ in self.response_headers):
            self.response_headers.append((b"Connection", b"close"))


class SocketServer:
    """Serves ``application`` on ``socket_io_address:socket_io_port`` (its settings).

    Starts the Flash policy server on ``flash_policy_port`` when a router enables
    flashsocket (a port below 1024 needs root; if it cannot bind, the policy is still
    answered inline on the HTTP port). Serves forever unless ``auto_start=False``; then
    call :meth:`start` / :meth:`serve_forever` / :meth:`stop` yourself. Serving forever
    from the main thread, it stops gracefully at SIGINT or SIGTERM
    (:meth:`stop_on_signals`), as ``geventio-serve`` does. ``listener`` (a bound,
    listening socket) replaces host and port, and ``spawn`` is the WSGIServer's (a Pool
    bounds the connections): what a process manager such as gunicorn hands over.
    """

    #: the pywsgi server class (a subclass may count requests, as geventio.gunicorn's does)
    wsgi_server_class = WSGIServer

    def __init__(self, application: Application, auto_start: bool = True,
                 host: Optional[str] = None, port: Optional[int] = None,
                 flash_policy_port: Any = "default", listener: Any = None,
                 spawn: Any = "default", **ssl_args: Any) -> None:
        self.application = application
        logsafe.install()  # also on the loggers of modules imported since geventio was
        settings = getattr(application, "settings", {})
        address = host if host is not None else settings.get("socket_io_address", "")
        port = port if port is not None else settings.get("socket_io_port", 8001)
        if flash_policy_port == "default":
            flash_policy_port = settings.get("flash_policy_port", 843)
        policy_file = settings.get("flash_policy_file")
        routers = getattr(application, "routers", [])
        wants_flash = any("flashsocket" in r.settings.enabled_protocols for r in routers)
        self.policy: Optional[bytes] = None
        if wants_flash:
            self.policy = (flash_policy.load_policy(policy_file) if policy_file
                           else flash_policy.default_policy())
        self.http = self.wsgi_server_class(
            listener if listener is not None else (address, port), application,
            handler_class=Handler, spawn=spawn,
            log=LoggingLogAdapter(access_log, logging.DEBUG),
            error_log=LoggingLogAdapter(log, logging.ERROR), **ssl_args)
        self.http.flash_policy = self.policy
        #: the bound on a request head (request line, fields, blank line): past it, 431
        self.http.max_header_size = int(settings.get("max_header_size",
                                                     http1.MAX_HEADER_SIZE))
        self.policy_server: Optional[flash_policy.FlashPolicyServer] = None
        if self.policy is not None and flash_policy_port is not None:
            self.policy_server = flash_policy.FlashPolicyServer(
                (address, flash_policy_port), self.policy)
        if auto_start:
            if threading.current_thread() is threading.main_thread():
                self.stop_on_signals()  # it owns the main loop: stop as geventio-serve does
            self.serve_forever()

    @property
    def address(self) -> Tuple[str, int]:
        """The (host, port) the HTTP server listens on (after start)."""
        return self.http.address

    @property
    def policy_address(self) -> Optional[Tuple[str, int]]:
        if self.policy_server is None or not self.policy_server.started:
            return None
        return self.policy_server.address

    def start(self) -> None:
        """Start listening without blocking."""
        self.http.init_socket()
        # Linux gives accepted sockets the listener's TCP_NODELAY: set it once there
        # instead of once per connection (elsewhere the handler sets it on each).
        self.http.nodelay_inherited = False
        if sys.platform.startswith("linux"):
            try:
                self.http.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.http.nodelay_inherited = True
            except (OSError, AttributeError):
                pass  # not a TCP listener
        self.http.start()
        if self.policy_server is not None:
            try:
                self.policy_server.start()
            except OSError as exc:
                log.warning("Flash policy server not started on port %s (%s); the policy "
                            "is still answered on the HTTP port",
                            self.policy_server.server_port, exc)
                self.policy_server = None
        host, port = self.http.address[:2]
        if ":" in host:
            host = "[%s]" % host
        log.info("geventio serving on http://%s:%d/", host or "0.0.0.0", port)

    def serve_forever(self) -> None:
        """Start (if needed) and block until :meth:`stop`."""
        if not self.http.started:
            self.start()
        try:
            self.http.serve_forever()
        finally:
            self.stop()

    def stop_on_signals(self) -> None:
        """Make SIGINT (Ctrl-C) and SIGTERM stop this server gracefully: every session is
        closed (on_close runs), in-flight requests get a few seconds, and
        :meth:`serve_forever` returns. A second signal while stopping exits at once."""
        stopping: List[str] = []

        def stop(signum: int) -> None:
            name = signal.Signals(signum).name
            if stopping:
                log.warning("%s again; exiting without waiting", name)
                os._exit(1)
            stopping.append(name)
            log.info("%s received; shutting down", name)
            gevent.spawn(self.stop)

        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                gevent.signal_handler(signum, stop, signum)
            except (AttributeError, ValueError, OSError):  # pragma: no cover - no such signal
                pass

    def stop(self, timeout: Optional[float] = 5.0) -> None:
        """Stop accepting, close every session (on_close runs), stop the servers."""
        if self.policy_server is not None:
            self.policy_server.stop()
        close = getattr(self.application, "close", None)
        if close is not None:
            close()
        if self.http.started or not self.http.closed:
            self.http.stop(timeout=timeout)
