"""Application: routers side by side, and any WSGI app (Flask, Django) behind them."""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

from .router import Route, Router

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class Application:
    """A WSGI application: socket.io paths go to their routers, everything else to
    ``fallback`` (your Flask or Django app), or 404 without one.

    The server settings (``socket_io_port``, ``socket_io_address``, ``flash_policy_port``,
    ``flash_policy_file``) are read by :class:`geventio.SocketServer`, as in TornadIO;
    ``max_header_size`` bounds a whole request head in bytes (request line, header fields
    and blank line; default 16 KiB, as node's): a longer head is answered 431 and its
    connection closed.
    """

    def __init__(self, routes: Sequence[Union[Route, Router]] = (),
                 fallback: Optional[WSGIApp] = None, socket_io_port: int = 8001,
                 socket_io_address: str = "", flash_policy_port: Optional[int] = 843,
                 flash_policy_file: Optional[str] = None, max_header_size: int = 16 * 1024,
                 **settings: Any) -> None:
        self.routes: List[Route] = [r.route() if isinstance(r, Router) else r for r in routes]
        for route in self.routes:
            if not isinstance(route, Route):
                raise TypeError("routes are router.route() values, got %r" % (route,))
        self.fallback = fallback
        self.settings: Dict[str, Any] = dict(settings)
        self.settings.update(socket_io_port=socket_io_port, socket_io_address=socket_io_address,
                             flash_policy_port=flash_policy_port,
                             flash_policy_file=flash_policy_file,
                             max_header_size=max_header_size)
        if max_header_size < 256:
            raise ValueError("max_header_size must be at least 256 bytes")

    @property
    def routers(self) -> List[Router]:
        return [route.router for route in self.routes]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        for route in self.routes:
            if route.matches(path):
                return route.router(environ, start_response)
        if self.fallback is not None:
            return self.fallback(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=UTF-8"),
                                         ("Content-Length", "9")])
        return [b"not found"]

    def close(self) -> None:
        """Close every session of every router."""
        for router in self.routers:
            router.close()
