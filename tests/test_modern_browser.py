"""socket.io-client 4.x in headless Chromium, on a page from ANOTHER origin (CORS).

One geventio server carries three routers that differ only in ``cors_allowed_origins``:
``/socket.io`` allows the page's origin (a list), ``/star`` allows '*', ``/none`` keeps the
default (None: same origin only). A second server on another port serves the page
(tests/pages/cors_modern.html); three Chromium pages, one per router, connect with
``withCredentials: true`` over polling and then upgrade to WebSocket.

The raw-HTTP tests check the headers on the wire without a browser.
"""
import json
import os
from urllib.parse import quote

import pytest

import geventio
from helpers import REPO_ROOT
from helpers.browser import run_pages
from helpers.server import make_application, serve, serve_wsgi
from helpers.static import static_app
from helpers.wire import request

PAGE = os.path.join(REPO_ROOT, "tests", "pages", "cors_modern.html")
# Default heartbeats: they are not what these tests are about, and a 0.2 s pong deadline is
# shorter than a preflighted poll can take in a busy headless Chromium.
SETTINGS = {}
OTHER_ORIGIN = "http://elsewhere.example:8080"


def make_handler(record):
    class Info(geventio.SocketConnection):
        def on_open(self, request, *args, **kwargs):
            record.append({"router": self.router.resource,
                           "origin": request.headers.get("origin"),
                           "cookie": request.cookies.get("cred"),
                           "header": request.headers.get("x-geventio-test")})

        @geventio.event
        def echo(self, *args):
            return args

        @geventio.event
        def info(self):
            return {"transport": self.session.transport, "protocol": self.session.protocol}

    return Info


@pytest.fixture(scope="module")
def servers():
    """(page server base URL = the page's origin, socket.io server base URL, opens record)."""
    page = open(PAGE, encoding="utf-8").read()
    with serve_wsgi(static_app({"/cors.html": ("text/html; charset=utf-8", page)})) as page_base:
        record = []
        handler = make_handler(record)
        routers = [
            geventio.get_router(handler, dict(SETTINGS, cors_allowed_origins=[page_base]),
                                resource="socket.io"),
            geventio.get_router(handler, dict(SETTINGS, cors_allowed_origins="*"),
                                resource="star"),
            geventio.get_router(handler, SETTINGS, resource="none"),
        ]
        with serve(make_application([r.route() for r in routers])) as io_base:
            yield page_base, io_base, record


@pytest.fixture(scope="module")
def pages(servers):
    page_base, io_base, record = servers
    cfg = [{"url": io_base, "path": "/socket.io/",
            "extraHeaders": {"X-Geventio-Test": "preflighted"}},
           {"url": io_base, "path": "/star/"},
           {"url": io_base, "path": "/none/"}]
    run = run_pages("%s/cors.html?cfg=%s" % (page_base, quote(json.dumps(cfg))), pages=3,
                    timeout=20)
    results = [p["result"] or {"driver": p} for p in run["pages"]]
    return {"list": results[0], "star": results[1], "none": results[2],
            "record": list(record), "origin": page_base}


# -- in the browser -----------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.parametrize("config", ["list", "star"])
def test_a_page_from_an_allowed_origin_connects_with_credentials(pages, config):
    result = pages[config]
    assert result.get("connected") is True, result
    assert result["echo"] == "across origins 😀"


@pytest.mark.browser
@pytest.mark.parametrize("config", ["list", "star"])
def test_the_cross_origin_connection_upgrades_to_websocket(pages, config):
    result = pages[config]
    assert result.get("transport") == "websocket", result
    assert result["server"] == {"transport": "websocket", "protocol": "engine.io-4"}


@pytest.mark.browser
@pytest.mark.parametrize("config,router", [("list", "socket.io"), ("star", "star")])
def test_with_credentials_the_pages_cookie_reaches_on_open(pages, config, router):
    index = {"list": 0, "star": 1}[config]
    opens = [o for o in pages["record"] if o["router"] == router]
    assert opens and opens[0]["cookie"] == "page%d" % index
    assert opens[0]["origin"] == pages["origin"]


@pytest.mark.browser
def test_a_custom_header_passes_the_preflight(pages):
    opens = [o for o in pages["record"] if o["router"] == "socket.io"]
    assert opens and opens[0]["header"] == "preflighted"


@pytest.mark.browser
def test_the_default_same_origin_policy_refuses_the_page(pages):
    result = pages["none"]
    assert "connected" not in result, result
    assert result.get("connectError"), result
    assert not [o for o in pages["record"] if o["router"] == "none"]


# -- on the wire ----------------------------------------------------------------------------

HANDSHAKE = "/%s/?EIO=4&transport=polling"


def test_an_allowed_origin_gets_its_origin_and_credentials_back(servers):
    page_base, io_base, _ = servers
    status, headers, body = request(io_base, "GET", HANDSHAKE % "socket.io",
                                    headers={"Origin": page_base})
    assert status == 200, body
    assert headers["access-control-allow-origin"] == page_base
    assert headers["access-control-allow-credentials"] == "true"


def test_a_star_router_echoes_the_origin_so_credentials_work(servers):
    _, io_base, _ = servers
    status, headers, _ = request(io_base, "GET", HANDSHAKE % "star",
                                 headers={"Origin": OTHER_ORIGIN})
    assert status == 200
    assert headers["access-control-allow-origin"] == OTHER_ORIGIN
    assert headers["access-control-allow-credentials"] == "true"


def test_a_preflight_allows_the_method_and_the_requested_headers(servers):
    page_base, io_base, _ = servers
    status, headers, _ = request(io_base, "OPTIONS", HANDSHAKE % "socket.io", headers={
        "Origin": page_base, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-geventio-test"})
    assert 200 <= status < 300
    assert headers["access-control-allow-origin"] == page_base
    assert headers["access-control-allow-credentials"] == "true"
    assert "POST" in headers["access-control-allow-methods"]
    assert "x-geventio-test" in headers["access-control-allow-headers"].lower()


def test_the_default_refuses_a_foreign_origin(servers):
    page_base, io_base, _ = servers
    status, _, _ = request(io_base, "GET", HANDSHAKE % "none", headers={"Origin": page_base})
    assert status == 403


def test_the_default_serves_its_own_origin(servers):
    _, io_base, _ = servers
    status, _, body = request(io_base, "GET", HANDSHAKE % "none", headers={"Origin": io_base})
    assert status == 200 and body.startswith(b"0{"), body


def test_a_list_refuses_an_origin_not_on_it(servers):
    _, io_base, _ = servers
    status, _, _ = request(io_base, "GET", HANDSHAKE % "socket.io",
                           headers={"Origin": OTHER_ORIGIN})
    assert status == 403


def test_a_refused_origin_is_not_granted_cors_headers(servers):
    _, io_base, _ = servers
    status, headers, _ = request(io_base, "GET", HANDSHAKE % "socket.io",
                                 headers={"Origin": OTHER_ORIGIN})
    assert status == 403
    assert "access-control-allow-origin" not in headers
    assert "access-control-allow-credentials" not in headers
