"""geventio.django: handlers see the Django site's logged-in user and its session.

The site is real (tests/apps/django_login_app.py: django.contrib.auth's LoginView, sessions
in SQLite); the session cookie comes from logging in through that view with Django's own
test Client, or through the login page in Chromium.
"""
import json
import time

import pytest

import geventio
import geventio.django
from apps import django_login_app as site
from geventio.testing import TestClient
from helpers.browser import run_pages
from helpers.server import serve
from helpers.wire import post, request

# after the site module configured Django
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client


def logged_in(user="ada"):
    """Django's test Client after logging in through the site's login form."""
    browser = Client()
    answer = browser.post("/login/", {"username": user, "password": site.USERS[user][2],
                                      "next": "/chat/"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/chat/"
    return browser


def login_cookie(user="ada"):
    """The ``Cookie`` header of a browser that logged in through the site's login form."""
    return "sessionid=" + logged_in(user).cookies["sessionid"].value


def connect(cls=site.Chat, cookie=None, middleware=True, **kwargs):
    router = geventio.get_router(cls)
    if middleware:
        router.use(geventio.django.login_required)
    return TestClient(router, headers={"Cookie": cookie} if cookie else {}, **kwargs)


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


def test_django_request_is_built_once_from_the_request_that_opened_the_connection():
    class Describe(geventio.django.DjangoConnection):
        @geventio.event
        def describe(self):
            site_request = self.django_request
            return {"id": id(site_request), "room": site_request.GET.get("room"),
                    "remote_addr": site_request.META["REMOTE_ADDR"],
                    "session_key": site_request.session.session_key}

    cookie = login_cookie()
    client = connect(Describe, cookie, query={"room": "lobby"}, remote_addr="10.1.2.3")
    first, second = client.call("describe"), client.call("describe")
    assert first == second
    assert (first["room"], first["remote_addr"]) == ("lobby", "10.1.2.3")
    assert first["session_key"] == cookie.split("=", 1)[1]


@pytest.mark.parametrize("around", [
    'bad="unterminated; {session}',
    "{session}; a b=1; [x]=2",
    "x:y=1; {session}; =orphan; junk",
])
def test_malformed_other_cookies_do_not_lose_the_session_cookie(around):
    client = connect(cookie=around.format(session=login_cookie("ada")))
    assert client.connected
    assert client.call("whoami") == "Ada Lovelace"


# -- login_required -------------------------------------------------------------------------

def test_a_client_that_never_logged_in_is_refused_by_login_required():
    client = connect(cookie=None)
    assert not client.connected
    assert client.refusal == {"message": "Not logged in"}


def test_a_session_key_the_site_does_not_know_is_refused():
    client = connect(cookie="sessionid=" + "x" * 32)
    assert client.refusal == {"message": "Not logged in"}


def test_a_client_whose_browser_logged_out_is_refused():
    browser = logged_in("ada")
    cookie = "sessionid=" + browser.cookies["sessionid"].value
    assert browser.post("/logout/").status_code == 302
    assert connect(cookie=cookie).refusal == {"message": "Not logged in"}


class Plain(geventio.SocketConnection):
    @geventio.event
    def ping(self):
        return "pong"


def test_login_required_accepts_a_plain_connection_of_a_logged_in_user():
    assert connect(Plain, login_cookie()).call("ping") == "pong"


def test_login_required_refuses_a_plain_connection_without_a_login():
    assert connect(Plain, None).refusal == {"message": "Not logged in"}


# -- the session is the site's own --------------------------------------------------------------

class Notes(geventio.django.DjangoConnection):
    @geventio.event
    def note(self, text):
        self.django_request.session["note"] = text
        self.django_request.session.save()

    @geventio.event
    def recall(self):
        return self.django_request.session.get("note")


def test_a_session_saved_by_a_handler_is_what_the_sites_next_request_sees():
    browser = logged_in("grace")
    client = connect(Notes, "sessionid=" + browser.cookies["sessionid"].value)
    client.call("note", "written over the socket")
    assert browser.get("/note/").content == b"written over the socket"


def test_a_session_the_site_changed_is_seen_by_a_new_connection():
    browser = logged_in("grace")
    cookie = "sessionid=" + browser.cookies["sessionid"].value
    connect(Notes, cookie).call("note", "first")
    assert connect(Notes, cookie).call("recall") == "first"


# -- database connections ---------------------------------------------------------------------

class Counting(geventio.django.DjangoConnection):
    #: the database wrapper each handler used (the worker greenlet's own)
    used = []

    @geventio.event
    def count(self):
        Counting.used.append(connections["default"])
        return User.objects.count()

    def on_close(self):
        User.objects.count()
        Counting.used.append(connections["default"])


def test_database_connections_are_closed_after_every_handler():
    client = connect(Counting, login_cookie())
    del Counting.used[:]
    assert client.call("count") == len(site.USERS)
    [wrapper] = Counting.used
    assert wrapper.connection is None  # closed by close_old_connections


def test_the_database_connection_on_close_opened_is_closed_too():
    client = connect(Counting, login_cookie())
    del Counting.used[:]
    client.disconnect()
    [wrapper] = Counting.used
    assert wrapper.connection is None


def test_a_handler_that_raised_has_its_database_connection_closed():
    class Failing(geventio.django.DjangoConnection):
        @geventio.event
        def fail(self):
            Counting.used.append(connections["default"])
            User.objects.count()
            raise ValueError("boom")

        def on_error(self, exc, event, args):
            pass

    client = connect(Failing, login_cookie())
    del Counting.used[:]
    client.emit("fail")
    [wrapper] = Counting.used
    assert wrapper.connection is None


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


@pytest.fixture(scope="module")
def base():
    with serve(site.make_application()) as url:
        yield url


def test_a_06_client_sees_the_user_in_on_open_and_on_message(base):
    cookie = login_cookie("grace")
    status, _, body = request(base, "GET", "/socket.io/xhr-polling//%d" % (
        time.time() * 1000), headers={"Cookie": cookie})
    assert status == 200
    sid, *rest = _frames(body.decode())
    got = rest or _poll(base, sid, cookie)
    welcome = json.loads(got[0][3:])
    assert (welcome["name"], welcome["args"][0]["user"]) == ("welcome", "Grace Hopper")
    post(base, "/socket.io/xhr-polling/%s/send" % sid, "~m~6~m~whoami")
    assert _poll(base, sid, cookie) == ["Grace Hopper"]


def test_a_06_client_that_never_logged_in_is_refused(base):
    status, _, _ = request(base, "GET", "/socket.io/xhr-polling//%d" % (time.time() * 1000))
    assert status == 403


# -- Chromium logs in through the site's own page ---------------------------------------------

LOGIN = {"username": "ada", "password": site.USERS["ada"][2]}


@pytest.mark.browser
@pytest.mark.parametrize("transport", ["", "websocket"])
def test_a_browser_that_logged_in_on_the_login_page_is_greeted_by_name(base, transport):
    target = "/chat/" + ("%3Ftransport%3D" + transport if transport else "")
    report = run_pages(base + "/login/?next=" + target, timeout=20, form=LOGIN,
                       submit="#login")
    [page] = report["pages"]
    assert page["errors"] == []
    assert page["landed"].startswith(base + "/chat/")
    # the connection's request: the polling handshake, or the WebSocket upgrade
    assert page["result"]["welcome"] == {"user": "Ada Lovelace", "theme": "dark",
                                         "path": "/socket.io/",
                                         "transport": transport or "polling"}
    assert page["result"]["whoami"] == "Ada Lovelace"


@pytest.mark.browser
def test_a_browser_that_did_not_log_in_gets_connect_error_from_the_middleware(base):
    report = run_pages(base + "/chat/", timeout=20)
    [page] = report["pages"]
    assert page["errors"] == []
    assert page["result"] == {"connectError": "Not logged in"}


@pytest.mark.browser
def test_the_06_client_of_a_browser_that_logged_in_sees_the_user(base):
    report = run_pages(base + "/login/?next=/chat06/", timeout=20, form=LOGIN,
                       submit="#login")
    [page] = report["pages"]
    assert page["errors"] == []
    assert page["result"]["messages"] == [
        {"name": "welcome", "args": [{"user": "Ada Lovelace", "theme": "dark",
                                      "path": "/socket.io/websocket", "transport": None}]},
        "Ada Lovelace"]
