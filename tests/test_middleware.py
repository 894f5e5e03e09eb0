"""geventio as middleware: a real Flask app and a real Django app behind one Application.

Each framework keeps serving its own pages (status, body, headers, form posts, its own
404) on the same port, while the socket.io resource goes to geventio.
"""
import json
import os
import sys
import types

import pytest

import geventio
from helpers import NODE_MODULES
from helpers.apps import Recorder, echo_handler
from helpers.browser import run_pages
from helpers.server import make_application, serve
from helpers.wire import FORM_HEADERS, post, request

CLIENT_06 = os.path.join(NODE_MODULES, "socket.io", "support", "socket.io-client", "socket.io.js")


def echo_router(recorder=None):
    return geventio.get_router(echo_handler(recorder or Recorder(), greeting="welcome"))


def assert_handshake(base):
    """An xhr-polling handshake answers the session id frame (then the greeting)."""
    status, headers, body = request(base, "GET", "/socket.io/xhr-polling//1305500000000")
    assert status == 200
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    text = body.decode()
    assert text.startswith("~m~20~m~")
    return text[len("~m~20~m~"):][:20]


# -- Flask -----------------------------------------------------------------------------------

FLASK_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><script src="/socket.io.js"></script></head><body>
<h1>A Flask page</h1>
<script>
  var received = [];
  var socket = new io.Socket(location.hostname, {port: location.port || 80,
                                                  transports: ['websocket'],
                                                  rememberTransport: false});
  socket.on('connect', function () { socket.send('sent from the Flask page'); });
  socket.on('message', function (message) {
    received.push(message);
    if (received.length === 2) {
      window.__result = {transport: socket.transport.type, received: received};
      window.__done = true;
    }
  });
  socket.connect();
</script></body></html>
"""


@pytest.fixture(scope="module")
def flask_app():
    from flask import Flask, abort, request as flask_request, send_file

    app = Flask("geventio_test_flask")

    @app.get("/")
    def index():
        response = app.make_response(("Hello from Flask", 200))
        response.headers["X-Framework"] = "flask"
        response.set_cookie("visited", "yes")
        return response

    @app.post("/greet")
    def greet():
        return "Hello, %s!" % flask_request.form["name"], 201

    @app.get("/whoami")
    def whoami():
        return {"path": flask_request.path, "args": flask_request.args,
                "remote_addr": flask_request.remote_addr, "url": flask_request.url}

    @app.get("/teapot")
    def teapot():
        abort(418)

    @app.get("/chat")
    def chat():
        return FLASK_PAGE

    @app.get("/socket.io.js")
    def client():
        return send_file(CLIENT_06, mimetype="application/javascript")

    return app


@pytest.fixture
def flask_base(flask_app):
    with serve(make_application([echo_router().route()], fallback=flask_app)) as base:
        yield base


def test_flask_page_keeps_its_status_body_and_headers(flask_base):
    status, headers, body = request(flask_base, "GET", "/")
    assert (status, body) == (200, b"Hello from Flask")
    assert headers["x-framework"] == "flask"
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["set-cookie"].startswith("visited=yes")


def test_flask_receives_a_form_post_body(flask_base):
    status, _, body = request(flask_base, "POST", "/greet", body=b"name=Ada+Lovelace",
                              headers=FORM_HEADERS)
    assert (status, body) == (201, b"Hello, Ada Lovelace!")


def test_flask_sees_the_request_as_the_client_sent_it(flask_base):
    status, _, body = request(flask_base, "GET", "/whoami?q=gevent&page=2")
    assert status == 200
    assert json.loads(body) == {"path": "/whoami", "args": {"q": "gevent", "page": "2"},
                                "remote_addr": "127.0.0.1",
                                "url": flask_base + "/whoami?q=gevent&page=2"}


def test_flask_answers_its_own_404_and_error_statuses(flask_base):
    status, headers, body = request(flask_base, "GET", "/no/such/page")
    assert status == 404
    assert b"The requested URL was not found on the server" in body
    assert request(flask_base, "GET", "/teapot")[0] == 418


def test_a_path_merely_starting_with_the_resource_name_is_flasks(flask_base):
    status, headers, body = request(flask_base, "GET", "/socket.io.js")
    assert status == 200
    assert b"io.Socket" in body


def test_socket_io_paths_go_to_geventio_beside_flask(flask_base):
    sid = assert_handshake(flask_base)
    status, _, body = post(flask_base, "/socket.io/xhr-polling/%s/send" % sid, "~m~2~m~hi")
    assert (status, body) == (200, b"ok")


@pytest.mark.browser
def test_flask_page_connects_over_websocket_through_the_same_port(flask_base):
    report = run_pages(flask_base + "/chat", timeout=20)
    [page] = report["pages"]
    assert page["errors"] == []
    assert page["result"] == {"transport": "websocket",
                              "received": ["welcome", "sent from the Flask page"]}


# -- Django ----------------------------------------------------------------------------------

DJANGO_URLS = "geventio_test_django_urls"


@pytest.fixture(scope="module")
def django_app():
    # Django's settings are per process: the one configuration the login tests use too
    from apps.django_login_app import configure

    configure()
    from django.http import HttpResponse
    from django.test.utils import override_settings
    from django.urls import path

    def hello(request):
        if request.method == "POST":
            return HttpResponse("Hello, %s!" % request.POST["name"], status=201)
        response = HttpResponse("Hello from Django", content_type="text/plain; charset=utf-8")
        response["X-Framework"] = "django"
        return response

    urls = types.ModuleType(DJANGO_URLS)
    urls.urlpatterns = [path("hello/", hello)]
    sys.modules[DJANGO_URLS] = urls
    with override_settings(ROOT_URLCONF=DJANGO_URLS, ALLOWED_HOSTS=["127.0.0.1"],
                           MIDDLEWARE=[], DEBUG=False):
        from django.core.wsgi import get_wsgi_application
        yield get_wsgi_application()
    del sys.modules[DJANGO_URLS]


@pytest.fixture
def django_base(django_app):
    with serve(make_application([echo_router().route()], fallback=django_app)) as base:
        yield base


def test_django_view_keeps_its_status_body_and_headers(django_base):
    status, headers, body = request(django_base, "GET", "/hello/")
    assert (status, body) == (200, b"Hello from Django")
    assert headers["x-framework"] == "django"
    assert headers["content-type"] == "text/plain; charset=utf-8"


def test_django_receives_a_form_post_body(django_base):
    status, _, body = request(django_base, "POST", "/hello/", body=b"name=Grace+Hopper",
                              headers=FORM_HEADERS)
    assert (status, body) == (201, b"Hello, Grace Hopper!")


def test_django_answers_its_own_404(django_base):
    status, _, body = request(django_base, "GET", "/no/such/page/")
    assert status == 404
    assert b"The requested resource was not found on this server" in body


def test_socket_io_paths_go_to_geventio_beside_django(django_base):
    assert len(assert_handshake(django_base)) == 20
