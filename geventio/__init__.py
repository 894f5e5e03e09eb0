"""geventio: a Socket.IO server on gevent.

One router serves socket.io 0.6 clients (all six transports) and today's clients
(Engine.IO v3/v4 with Socket.IO v4/v5: socket.io-client 2.x to 4.x, python-socketio) from the
same synchronous-looking handler classes, hosted by a gevent WSGIServer beside or in front of
any WSGI app.
"""
from .adapters.redis import RedisAdapter
from .app import Application
from .connection import SocketConnection, event
from .exceptions import (ConnectionClosed, ConnectionRefused, GeventioError, NotSupported,
                         TimeoutError)
from .request import Request
from .router import Router, get_router
from .server import SocketServer
from .settings import Settings
from . import logsafe

logsafe.install()  # client-supplied values are escaped in every geventio log line

__version__ = "0.1.0"

__all__ = [
    "Application", "ConnectionClosed", "ConnectionRefused", "GeventioError", "NotSupported",
    "RedisAdapter", "Request", "Router", "Settings", "SocketConnection", "SocketServer",
    "TimeoutError",
    "event", "get_router", "__version__",
]
