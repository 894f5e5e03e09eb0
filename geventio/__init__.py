"""geventio: a Socket.IO server on gevent.

One router serves socket.io 0.6 clients (all six transports) and today's clients
(Engine.IO v3/v4 with Socket.IO v4/v5: socket.io-client 2.x to 4.x, python-socketio) from the
same synchronous-looking handler classes, hosted by a gevent WSGIServer beside or in front of
any WSGI app.

A process that has imported gevent (a server: it patches first) gets the whole package at
``import geventio``, gevent's compatibility check included. Otherwise importing the package
loads no gevent: the server's names (``Router``, ``Application``, ...) load together on first
use, so ``geventio.Emitter`` serves processes that run without gevent (a Celery task, a cron
job).
"""
import importlib
import sys
from typing import TYPE_CHECKING, Any

from . import logsafe
from .exceptions import (ConnectionClosed, ConnectionRefused, GeventioError, NotSupported,
                         TimeoutError)
from .settings import Settings

if TYPE_CHECKING:
    from .adapters.amqp import AmqpAdapter
    from .adapters.redis import RedisAdapter
    from .adapters.redis_streams import RedisStreamsAdapter
    from .app import Application
    from .connection import SocketConnection, event
    from .emitter import Emitter
    from .request import Request
    from .router import Router, get_router
    from .server import SocketServer

logsafe.install()  # client-supplied values are escaped in every geventio log line

__version__ = "0.1.0"

__all__ = [
    "AmqpAdapter", "Application", "ConnectionClosed", "ConnectionRefused", "Emitter",
    "GeventioError", "NotSupported", "RedisAdapter", "RedisStreamsAdapter", "Request",
    "Router", "Settings", "SocketConnection", "SocketServer", "TimeoutError", "event",
    "get_router", "__version__",
]


def _load_server() -> None:
    """Import the server's modules (and gevent) and publish their names, as an eager
    ``import geventio`` would; escape the log lines of every module now imported."""
    from .adapters.amqp import AmqpAdapter
    from .adapters.redis import RedisAdapter
    from .adapters.redis_streams import RedisStreamsAdapter
    from .app import Application
    from .connection import SocketConnection, event
    from .request import Request
    from .router import Router, get_router
    from .server import SocketServer
    globals().update(Application=Application, SocketConnection=SocketConnection, event=event,
                     Request=Request, Router=Router, get_router=get_router,
                     SocketServer=SocketServer, RedisAdapter=RedisAdapter,
                     RedisStreamsAdapter=RedisStreamsAdapter, AmqpAdapter=AmqpAdapter)
    logsafe.install()


_SERVER_NAMES = frozenset(("Application", "SocketConnection", "event", "Request", "Router",
                           "get_router", "SocketServer", "RedisAdapter",
                           "RedisStreamsAdapter", "AmqpAdapter"))


def __getattr__(name: str) -> Any:
    """PEP 562: ``Emitter`` alone, the whole server on the first use of one of its names,
    and submodules (``geventio.server``) on first use."""
    if name == "Emitter":
        from .emitter import Emitter
        globals()["Emitter"] = Emitter
        logsafe.install()
        return Emitter
    if name in _SERVER_NAMES:
        _load_server()
        return globals()[name]
    if not name.startswith("_"):
        try:
            module = importlib.import_module("." + name, __name__)
        except ModuleNotFoundError as exc:
            if exc.name != "%s.%s" % (__name__, name):
                raise
        else:
            logsafe.install()
            return module
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


if "gevent" in sys.modules:
    _load_server()  # as eager as ever for gevent's processes
