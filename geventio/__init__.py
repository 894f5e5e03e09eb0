"""geventio: a Socket.IO server on gevent.

Serves the socket.io 0.6 protocol (all six transports) from synchronous-looking handler
classes, hosted by a gevent WSGIServer, beside or in front of any WSGI app.
"""
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
    "Request", "Router", "Settings", "SocketConnection", "SocketServer", "TimeoutError",
    "event", "get_router", "__version__",
]
