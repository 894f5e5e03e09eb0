"""geventio: a Socket.IO server on gevent.

Serves socket.io 0.6 clients (all six transports) and today's Socket.IO v4/v5 clients over
Engine.IO v3/v4 from the same synchronous-looking handler classes, hosted by a gevent
WSGIServer, beside or in front of any WSGI app.
"""
from .app import Application
from .connection import SocketConnection, event
from .exceptions import (ConnectionClosed, ConnectionRefused, GeventioError, NotSupported,
                         TimeoutError)
from .request import Request
from .router import Router, get_router
from .server import SocketServer
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "Application", "ConnectionClosed", "ConnectionRefused", "GeventioError", "NotSupported",
    "Request", "Router", "Settings", "SocketConnection", "SocketServer", "TimeoutError",
    "event", "get_router", "__version__",
]
