"""GeventioWorker: geventio under gunicorn (``gunicorn -k geventio.gunicorn.GeventioWorker``).

Each gunicorn worker process serves the application with geventio's own server
(:class:`geventio.SocketServer`: its Handler, the lean Engine.IO path, WebSockets of
every generation) on the sockets gunicorn bound, in a gevent-patched process as gunicorn's
gevent worker makes it. gunicorn's options keep their meaning: ``--bind`` (any number),
``--timeout`` (the worker tells the arbiter it is alive every second),
``--graceful-timeout`` (on SIGTERM, a HUP reload or ``--max-requests``: stop accepting,
close every session so every ``on_close`` runs, wait for them and the requests in
flight), ``--max-requests`` (every HTTP request counts, each long-poll included),
``--worker-connections`` (the bound on connections per worker), ``--certfile`` /
``--keyfile``. See docs/DEPLOYMENT.md for ``-w N``: sessions are not shared between
workers.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

import gevent
from gevent.pool import Pool
from gevent.pywsgi import WSGIServer
from gunicorn.sock import ssl_context
from gunicorn.workers.ggevent import GeventWorker

if TYPE_CHECKING:  # pragma: no cover
    from .server import SocketServer
    from .session import Session

log = logging.getLogger(__name__)

#: how often the shutdown checks whether every session's on_close has run
SHUTDOWN_POLL = 0.05


class CountingWSGIServer(WSGIServer):
    """pywsgi's server, calling ``on_request()`` for every request it serves (both of
    geventio's request paths ask it for the base environ once per request)."""

    on_request: Optional[Callable[[], None]] = None

    def get_environ(self) -> Dict[str, Any]:
        if self.on_request is not None:
            self.on_request()
        return super().get_environ()


class GeventioWorker(GeventWorker):
    """A gunicorn worker that serves a geventio Application with geventio's server."""

    alive: bool  # gunicorn's Worker attributes used here
    nr: int
    max_requests: int

    def run(self) -> None:
        # geventio's server modules load here, in the worker, after gevent patched it.
        from .server import SocketServer

        class _Server(SocketServer):
            wsgi_server_class = CountingWSGIServer

        _share_logging(self.log)
        ssl_args = {"ssl_context": ssl_context(self.cfg)} if self.cfg.is_ssl else {}
        servers: List[SocketServer] = []
        for listener in self.sockets:
            listener.setblocking(True)
            server = _Server(self.wsgi, auto_start=False, listener=listener,
                             spawn=Pool(self.worker_connections), flash_policy_port=None,
                             **ssl_args)
            server.http.on_request = self._count_request
            server.start()
            servers.append(server)
        while self.alive:
            self.notify()
            gevent.sleep(1.0)
        self._shut_down(servers)

    def _count_request(self) -> None:
        """--max-requests: after that many requests the worker shuts down gracefully."""
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after %d requests.", self.nr)
            self.alive = False

    def _shut_down(self, servers: List["SocketServer"]) -> None:
        """Stop accepting, close every session (their on_close run), wait for them and
        for the requests in flight up to ``--graceful-timeout``, then stop."""
        from .session import SessionState

        for server in servers:
            server.http.close()
        sessions = _sessions(self.wsgi)
        close = getattr(self.wsgi, "close", None)
        if close is not None:
            close()
        deadline = time.monotonic() + self.cfg.graceful_timeout
        next_notify = 0.0
        while time.monotonic() < deadline:
            busy = [s for s in sessions if s.state is not SessionState.CLOSED]
            requests = sum(s.http.pool.size - s.http.pool.free_count() for s in servers
                           if s.http.pool is not None)
            if not busy and not requests:
                break
            if time.monotonic() >= next_notify:
                self.notify()
                next_notify = time.monotonic() + 1.0
            gevent.sleep(SHUTDOWN_POLL)
        else:
            self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
        for server in servers:
            server.stop(timeout=1)
        log.info("worker %s stopped; %d sessions closed", self.pid, len(sessions))


def _sessions(application: Any) -> List["Session"]:
    """The live sessions of every router of ``application`` (none for another app)."""
    found: List["Session"] = []
    for router in getattr(application, "routers", ()):
        found.extend(router.sessions)
    return found


def _share_logging(glog: Any) -> None:
    """geventio's log lines go where gunicorn's error log goes, unless configured."""
    target = logging.getLogger("geventio")
    error_log = getattr(glog, "error_log", None)
    if target.handlers or error_log is None:
        return
    for handler in error_log.handlers:
        target.addHandler(handler)
    target.setLevel(error_log.level)
    target.propagate = False


__all__ = ["CountingWSGIServer", "GeventioWorker"]
