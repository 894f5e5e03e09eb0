"""geventio.flask: handlers see the wrapped Flask app's session, g and Flask-Login user.

The app is real (tests/apps/flask_login_app.py: Flask, Flask-Login, a login form); the
session cookie comes from logging in through that form with Flask's own test client, or
through the login page in Chromium.
"""
import contextlib
import json
import time

import flask
import flask_login
import pytest

import geventio
import geventio.flask
from apps import flask_login_app as site
from geventio.testing import TestClient
from helpers.browser import run_pages
from helpers.server import serve
from helpers.wire import post, request


def login_cookie(user="ada"):
    """The ``Cookie`` header of a browser that logged in through the app's login form."""
    browser = site.app.test_client()
    answer = browser.post("/login?next=/chat",
                          data={"username": user, "password": site.USERS[user][1]})
    assert answer.status_code == 302
    return "session=" + browser.get_cookie("session").value


def connect(cls=site.Chat, cookie=None, middleware=True, **kwargs):
    router = geventio.get_router(cls)
    if middleware:
        router.use(geventio.flask.login_required)
    headers = {"Cookie": cookie} if cookie else {}
    return TestClient(router, headers=headers, **kwargs)


# -- the user, the session, the request ----------------------------------------------------

def test_on_open_sees_the_user_and_the_session_the_login_wrote():
    client = connect(cookie=login_cookie("ada"))
    assert client.received() == [("welcome", {"user": "Ada Lovelace", "theme": "dark",
                                              "path": "/socket.io/",
                                              "transport": "websocket"})]


def test_event_handlers_see_the_logged_in_user():
    client = connect(cookie=login_cookie("grace"))
    assert client.call("whoami") == "Grace Hopper"


def test_two_connections_each_see_their_own_user():
    ada, grace = connect(cookie=login_cookie("ada")), connect(cookie=login_cookie("grace"))
    assert [ada.call("whoami"), grace.call("whoami"), ada.call("whoami")] == \
        ["Ada Lovelace", "Grace Hopper", "Ada Lovelace"]


def test_flask_request_is_the_request_that_opened_the_connection():
    class Echo(geventio.flask.FlaskConnection):
        flask_app = site.app

        @geventio.event("request")
        def describe_request(self):
            return {"args": dict(flask.request.args), "agent": flask.request.user_agent.string,
                    "remote_addr": flask.request.remote_addr}

    client = connect(Echo, login_cookie(), query={"room": "lobby"},
                     remote_addr="10.1.2.3")
    seen = client.call("request")
    assert seen["args"]["room"] == "lobby"
    assert (seen["agent"], seen["remote_addr"]) == ("", "10.1.2.3")


@pytest.mark.parametrize("around", [
    'bad="unterminated; {session}',
    "{session}; a b=1; [x]=2",
    "x:y=1; {session}; =orphan; junk",
])
def test_malformed_other_cookies_do_not_lose_the_session_cookie(around):
    client = connect(cookie=around.format(session=login_cookie("ada")))
    assert client.connected
    assert client.call("whoami") == "Ada Lovelace"


def test_flask_logins_remember_me_cookie_alone_logs_the_socket_in():
    browser = site.app.test_client()
    browser.post("/login", data={"username": "grace", "password": site.USERS["grace"][1],
                                 "remember": "yes"})
    remember = browser.get_cookie("remember_token").value
    client = connect(cookie="remember_token=" + remember)  # the session cookie expired
    assert client.call("whoami") == "Grace Hopper"


# -- login_required -------------------------------------------------------------------------

def test_a_client_that_never_logged_in_is_refused_by_login_required():
    client = connect(cookie=None)
    assert not client.connected
    assert client.refusal == {"message": "Not logged in"}


def test_a_session_cookie_with_a_forged_signature_is_refused():
    cookie = login_cookie("ada")
    name, value = cookie.split("=", 1)
    client = connect(cookie="%s=%s" % (name, value[:-2] + ("AA" if value[-2:] != "AA" else "BB")))
    assert client.refusal == {"message": "Not logged in"}


def test_a_client_whose_browser_logged_out_is_refused():
    browser = site.app.test_client()
    browser.post("/login", data={"username": "ada", "password": site.USERS["ada"][1]})
    browser.get("/logout")
    cookie = browser.get_cookie("session")
    client = connect(cookie="session=" + cookie.value if cookie else None)
    assert client.refusal == {"message": "Not logged in"}


def test_login_required_on_a_plain_connection_refuses_as_an_internal_error(caplog):
    class Plain(geventio.SocketConnection):
        pass

    client = connect(Plain, login_cookie())
    assert client.refusal == {"message": "Internal server error"}
    assert "login_required needs a FlaskConnection" in caplog.text


def test_a_flask_connection_without_flask_app_is_refused(caplog):
    class Unset(geventio.flask.FlaskConnection):
        pass

    client = connect(Unset, login_cookie(), middleware=False)
    assert client.refusal == {"message": "Internal server error"}
    assert "Unset.flask_app is not set" in caplog.text


# -- the session copy and g -------------------------------------------------------------------

class Notes(geventio.flask.FlaskConnection):
    flask_app = site.app

    def on_open(self, request):
        flask.g.calls = 0

    @geventio.event
    def count(self):
        flask.g.calls += 1
        return flask.g.calls

    @geventio.event
    def remember(self, key, value):
        flask.session[key] = value

    @geventio.event
    def recall(self, key):
        return flask.session.get(key)


def test_g_lives_as_long_as_the_connection():
    cookie = login_cookie()
    first, second = connect(Notes, cookie), connect(Notes, cookie)
    assert [first.call("count"), first.call("count"), second.call("count"),
            first.call("count")] == [1, 2, 1, 3]


def test_the_user_is_loaded_once_per_connection():
    client = connect(Notes, login_cookie("grace"))
    del site.loaded[:]
    for _ in range(3):
        client.call("count")
    assert site.loaded == []  # the connect loaded it, into the connection's g
    connect(Notes, login_cookie("grace"))
    assert site.loaded == ["grace"]


def test_session_changes_stay_with_the_connection_and_are_not_saved():
    cookie = login_cookie()
    first = connect(Notes, cookie)
    first.call("remember", "draft", "hello")
    assert first.call("recall", "draft") == "hello"
    assert connect(Notes, cookie).call("recall", "draft") is None


def test_flask_session_is_the_connections_copy():
    client = connect(Notes, login_cookie())
    client.call("remember", "k", "v")
    [conn] = client.session.connections.values()
    assert conn.flask_session["k"] == "v"
    assert conn.flask_session["theme"] == "dark"


def test_teardown_appcontext_runs_after_every_handler():
    client = connect(Notes, login_cookie())
    before = len(site.torn_down)
    client.call("count")
    client.call("count")
    assert site.torn_down[before:] == [None, None]


# -- every kind of handler runs inside the contexts -----------------------------------------

def test_on_close_runs_inside_the_flask_contexts():
    seen = []

    class Closing(geventio.flask.FlaskConnection):
        flask_app = site.app

        def on_close(self):
            seen.append((flask_login.current_user.name, flask.session.get("theme")))

    connect(Closing, login_cookie("grace")).disconnect()
    assert seen == [("Grace Hopper", "light")]


def test_emit_callbacks_run_inside_the_flask_contexts():
    seen = []

    class Asking(geventio.flask.FlaskConnection):
        flask_app = site.app

        @geventio.event
        def ask(self):
            self.emit("question", callback=lambda answer: seen.append(
                (answer, flask_login.current_user.name)))

    client = connect(Asking, login_cookie("ada"))
    client.on("question", lambda: 42)
    client.emit("ask")
    client.settle()
    assert seen == [(42, "Ada Lovelace")]


def test_on_error_runs_inside_the_flask_contexts():
    seen = []

    class Failing(geventio.flask.FlaskConnection):
        flask_app = site.app

        @geventio.event
        def fail(self):
            raise ValueError("boom")

        def on_error(self, exc, event, args):
            seen.append((str(exc), event, flask_login.current_user.name))

    client = connect(Failing, login_cookie("ada"))
    client.emit("fail")
    assert seen == [("boom", "fail", "Ada Lovelace")]


def test_a_handler_that_raised_is_torn_down_like_one_that_returned():
    class Failing(geventio.flask.FlaskConnection):
        flask_app = site.app

        @geventio.event
        def fail(self):
            raise ValueError("boom")

        def on_error(self, exc, event, args):
            pass

    client = connect(Failing, login_cookie())
    before = len(site.torn_down)
    client.emit("fail")
    # on_error handled it (as a Flask errorhandler would): teardown gets no exception
    assert site.torn_down[before:] == [None]
    assert not flask.has_app_context()


def test_a_subclass_can_wrap_its_own_context_around_the_flask_contexts():
    seen = []

    class Timed(geventio.flask.FlaskConnection):
        flask_app = site.app

        @contextlib.contextmanager
        def handler_context(self):
            with super().handler_context():
                seen.append(flask_login.current_user.name)
                yield

        @geventio.event
        def ping(self):
            return flask.session["theme"]

    assert connect(Timed, login_cookie("ada")).call("ping") == "dark"
    assert seen == ["Ada Lovelace", "Ada Lovelace"]  # the connect, then the event


# -- a socket.io 0.6 client over xhr-polling -------------------------------------------------

def _frames(text):
    out = []
    while text.startswith("~m~"):
        length, rest = text[3:].split("~m~", 1)
        out.append(rest[:int(length)])
        text = rest[int(length):]
    return out


def _poll(base, sid, cookie):
    status, _, body = request(base, "GET", "/socket.io/xhr-polling/%s/%d" % (
        sid, int(time.time() * 1000)), headers={"Cookie": cookie})
    assert status == 200
    return _frames(body.decode())


def test_a_06_client_sees_the_user_in_on_open_and_on_message():
    cookie = login_cookie("grace")
    with serve(site.application) as base:
        status, _, body = request(base, "GET", "/socket.io/xhr-polling//%d" % (
            time.time() * 1000), headers={"Cookie": cookie})
        assert status == 200
        sid, *rest = _frames(body.decode())
        got = rest or _poll(base, sid, cookie)
        welcome = json.loads(got[0][3:])
        assert welcome["name"] == "welcome"
        assert welcome["args"][0]["user"] == "Grace Hopper"
        assert welcome["args"][0]["theme"] == "light"
        post(base, "/socket.io/xhr-polling/%s/send" % sid, "~m~6~m~whoami")
        assert _poll(base, sid, cookie) == ["Grace Hopper (greeted: True)"]


def test_a_06_client_that_never_logged_in_is_refused():
    with serve(site.application) as base:
        status, _, body = request(base, "GET", "/socket.io/xhr-polling//%d" % (
            time.time() * 1000))
    assert status == 403


# -- Chromium logs in through the app's own page ---------------------------------------------

@pytest.fixture(scope="module")
def base():
    with serve(site.application) as url:
        yield url


LOGIN = {"username": "ada", "password": site.USERS["ada"][1]}


@pytest.mark.browser
@pytest.mark.parametrize("transport", ["", "websocket"])
def test_a_browser_that_logged_in_on_the_login_page_is_greeted_by_name(base, transport):
    target = "/chat" + ("?transport=" + transport if transport else "")
    report = run_pages(base + "/login?next=" + target.replace("?", "%3F").replace("=", "%3D"),
                       timeout=20, form=LOGIN, submit="#login")
    [page] = report["pages"]
    assert page["errors"] == []
    assert page["landed"].startswith(base + "/chat")
    # the connection's request: the polling handshake, or the WebSocket upgrade
    assert page["result"]["welcome"] == {"user": "Ada Lovelace", "theme": "dark",
                                         "path": "/socket.io/",
                                         "transport": transport or "polling"}
    assert page["result"]["whoami"] == "Ada Lovelace"


@pytest.mark.browser
def test_a_browser_that_did_not_log_in_gets_connect_error_from_the_middleware(base):
    report = run_pages(base + "/chat", timeout=20)
    [page] = report["pages"]
    assert page["errors"] == []
    assert page["result"] == {"connectError": "Not logged in"}


@pytest.mark.browser
def test_the_06_client_of_a_browser_that_logged_in_sees_the_user(base):
    report = run_pages(base + "/login?next=/chat06", timeout=20, form=LOGIN, submit="#login")
    [page] = report["pages"]
    assert page["errors"] == []
    assert page["result"]["messages"] == [
        {"name": "welcome", "args": [{"user": "Ada Lovelace", "theme": "dark",
                                      "path": "/socket.io/websocket", "transport": None}]},
        "Ada Lovelace (greeted: True)"]
