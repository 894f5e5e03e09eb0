"""Flask helpers: handlers that see the wrapped Flask app's session, ``g`` and logged-in user.

A :class:`FlaskConnection` runs every handler (middlewares and ``on_open``, events,
``on_message``, ``on_error``, the callbacks of its emits, ``on_close``) inside the Flask
app's application context and a request context built from the request that opened the
connection, so ``flask.session``, ``flask.g``, ``flask.request``, ``current_app`` and
Flask-Login's ``current_user`` work there as in a view.

The session is opened once, by the app's own ``session_interface`` from the connection's
cookies, when the first handler runs (the middlewares, at connect time); every later handler
of the connection sees that same object. It is the connection's own copy: what a handler
writes into it stays with the connection (and its later handlers) and is never saved, since a
socket cannot set the browser's cookie. ``g`` lives as long as the connection (one object for
all its handlers), so what an extension caches there (Flask-Login's user, loaded by the app's
``user_loader``) is loaded once per connection; the app's ``teardown_appcontext`` and
``teardown_request`` functions run after every handler, so resources they release (a
database session) are not held between events.

Flask is imported lazily: geventio itself never needs it.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional

from .connection import SocketConnection
from .exceptions import ConnectionRefused

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.sessions import SessionMixin

    from .request import Request

#: the refusal message :func:`login_required` gives (the client's ``connect_error``)
NOT_LOGGED_IN = "Not logged in"


class FlaskConnection(SocketConnection):
    """A connection whose handlers run inside ``flask_app``'s contexts (see the module).

    Subclass it and set ``flask_app``::

        class Chat(geventio.flask.FlaskConnection):
            flask_app = app

            def on_open(self, request):
                self.emit("hello", flask_login.current_user.name)
    """

    #: the Flask app whose session, ``g`` and extensions the handlers see
    flask_app: Optional["Flask"] = None

    _flask_session: Optional["SessionMixin"] = None
    _flask_g: Any = None

    @property
    def flask_session(self) -> Optional["SessionMixin"]:
        """This connection's copy of the Flask session (what ``flask.session`` is in its
        handlers); None before the first handler opened it."""
        return self._flask_session

    @contextmanager
    def handler_context(self) -> Iterator[None]:
        """The app context (with this connection's ``g``) and a request context (with its
        session) around one handler call."""
        from flask.ctx import RequestContext

        app = self.flask_app
        if app is None:
            raise TypeError("%s.flask_app is not set" % type(self).__name__)
        app_ctx = app.app_context()
        if self._flask_g is None:
            self._flask_g = app_ctx.g  # the first handler's g stays for the connection
        else:
            app_ctx.g = self._flask_g
        with app_ctx:
            # With session=None (the first handler), pushing the context opens the session
            # through the app's session_interface, exactly as for an HTTP request.
            request_ctx = RequestContext(app, self.session.request.wsgi_environ(),
                                         session=self._flask_session)
            with request_ctx:
                if self._flask_session is None:
                    self._flask_session = request_ctx.session
                yield


def login_required(conn: SocketConnection, request: "Request", auth: Mapping[str, Any]) -> None:
    """``Router.use`` middleware: refuse a connection whose Flask-Login ``current_user`` is
    not authenticated, with ``ConnectionRefused(NOT_LOGGED_IN)`` (the client's
    ``connect_error``). For namespaces served by :class:`FlaskConnection` subclasses."""
    if not isinstance(conn, FlaskConnection):
        raise TypeError("geventio.flask.login_required needs a FlaskConnection, not %s"
                        % type(conn).__name__)
    from flask_login import current_user

    if not current_user.is_authenticated:
        raise ConnectionRefused(NOT_LOGGED_IN)
