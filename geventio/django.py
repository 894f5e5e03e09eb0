"""Django helpers: handlers that see the logged-in user and the session of the Django site.

:func:`django_request` builds a Django ``HttpRequest`` from the request that opened a
connection and runs Django's own ``SessionMiddleware`` and ``AuthenticationMiddleware`` on
it: ``.session`` is a SessionStore of the configured ``SESSION_ENGINE`` keyed by the
session cookie, ``.user`` the user ``django.contrib.auth.get_user`` loads from it (lazily,
once). A :class:`DjangoConnection` keeps one such request for its life
(``conn.django_request``) and closes Django's stale database connections before and after
every handler, as Django does around each HTTP request (``close_old_connections``).

Django sessions are kept on the server, so ``conn.django_request.session`` can be changed
and saved with ``.save()`` (nothing saves it for you): the site's next HTTP request sees
the change. Do not ``flush()`` or ``cycle_key()`` it there: the browser's cookie, which
only an HTTP response can set, would keep the old key.

Django is imported lazily: geventio itself never needs it.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional

from .connection import SocketConnection
from .exceptions import ConnectionRefused

if TYPE_CHECKING:  # pragma: no cover
    from django.http import HttpRequest

    from .request import Request

#: the refusal message :func:`login_required` gives (the client's ``connect_error``)
NOT_LOGGED_IN = "Not logged in"


def _no_response(request: Any) -> None:
    """The ``get_response`` the two middlewares are built with (never called)."""
    raise RuntimeError("geventio.django runs only the middlewares' request phase")


def django_request(request: "Request") -> "HttpRequest":
    """A Django request of ``request`` (a connection's): ``.session`` and ``.user`` set by
    Django's SessionMiddleware and AuthenticationMiddleware, ``.COOKIES``, ``.META``,
    ``.GET`` as Django parses them. Nothing is read from the database until used."""
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.core.handlers.wsgi import WSGIRequest

    built = WSGIRequest(request.wsgi_environ())
    SessionMiddleware(_no_response).process_request(built)
    AuthenticationMiddleware(_no_response).process_request(built)
    return built


@contextmanager
def database_connections_closed() -> Iterator[None]:
    """Close Django's unusable or expired database connections before and after the block
    (``django.db.close_old_connections``, Django's own per-request cleanup)."""
    from django.db import close_old_connections

    close_old_connections()
    try:
        yield
    finally:
        close_old_connections()


class DjangoConnection(SocketConnection):
    """A connection that knows the Django site's user and session (see the module)::

        class Chat(geventio.django.DjangoConnection):
            def on_open(self, request):
                self.emit("hello", self.django_request.user.get_username())
    """

    _django_request: Optional["HttpRequest"] = None

    @property
    def django_request(self) -> "HttpRequest":
        """The Django request of this connection, built once (at its first use, normally
        in the middlewares or ``on_open``): ``.user``, ``.session`` and the rest."""
        if self._django_request is None:
            self._django_request = django_request(self.session.request)
        return self._django_request

    @contextmanager
    def handler_context(self) -> Iterator[None]:
        """Stale database connections closed before and after one handler call."""
        with database_connections_closed():
            yield


def login_required(conn: SocketConnection, request: "Request", auth: Mapping[str, Any]) -> None:
    """``Router.use`` middleware: refuse a connection whose Django user is not
    authenticated, with ``ConnectionRefused(NOT_LOGGED_IN)`` (the client's
    ``connect_error``). A :class:`DjangoConnection` keeps the request (and user) it
    loaded; for any other connection one is built for the check."""
    if isinstance(conn, DjangoConnection):
        user = conn.django_request.user
        authenticated = user.is_authenticated
    else:
        with database_connections_closed():
            authenticated = django_request(request).user.is_authenticated
    if not authenticated:
        raise ConnectionRefused(NOT_LOGGED_IN)
