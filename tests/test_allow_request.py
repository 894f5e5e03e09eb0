"""The allow_request setting (node's allowRequest): asked before any session is made, on
every protocol generation and transport; False refuses with 403."""
import json

import pytest

import geventio
from helpers.raw_http import assert_healthy, eio_session
from helpers.server import make_application, serve
from helpers.wire import request
from helpers.wire06 import Hixie76Client, RFC6455Client

FORBIDDEN = {"code": 4, "message": "Forbidden"}
ASKED = []


def allow(request):
    ASKED.append(request.path)
    return request.headers.get("x-allow") == "yes"


class Handler(geventio.SocketConnection):
    pass


@pytest.fixture(scope="module")
def server():
    router = geventio.get_router(Handler, settings={"allow_request": allow})
    with serve(make_application([router])) as base:
        yield base


@pytest.mark.parametrize("eio", ["4", "3"])
def test_a_refused_polling_handshake_is_403_with_nodes_forbidden_body(server, eio):
    status, _, body = request(server, "GET", "/socket.io/?EIO=%s&transport=polling" % eio)
    assert (status, json.loads(body)) == (403, FORBIDDEN)


@pytest.mark.parametrize("eio", ["4", "3"])
def test_a_refused_websocket_handshake_is_403_before_the_upgrade(server, eio):
    ws = RFC6455Client(server, "/socket.io/?EIO=%s&transport=websocket" % eio)
    try:
        assert ws.status == 403
        assert json.loads(ws.reader.read(int(ws.headers["content-length"]), 5)) == FORBIDDEN
    finally:
        ws.close()


@pytest.mark.parametrize("path", ["/socket.io/xhr-polling//1305500000000",
                                  "/socket.io/jsonp-polling//1305500000000/0",
                                  "/socket.io/xhr-multipart/",
                                  "/socket.io/htmlfile//1305500000000"])
def test_a_refused_0_6_http_transport_is_403(server, path):
    status, _, _ = request(server, "GET", path)
    assert status == 403


def test_a_refused_0_6_websocket_is_403_before_the_upgrade(server):
    ws = RFC6455Client(server, "/socket.io/websocket")
    try:
        assert ws.status == 403
    finally:
        ws.close()


def test_a_refused_0_6_flashsocket_is_403_before_the_upgrade(server):
    ws = Hixie76Client(server, "/socket.io/flashsocket", origin=server)
    try:
        assert ws.status == 403
    finally:
        ws.close()


def test_an_allowed_request_opens_a_session_on_either_generation(server):
    status, _, body = request(server, "GET", "/socket.io/?EIO=4&transport=polling",
                              headers={"X-Allow": "yes"})
    assert status == 200 and json.loads(body[1:])["sid"]
    status, _, body = request(server, "GET", "/socket.io/xhr-polling//1305500000000",
                              headers={"X-Allow": "yes"})
    assert status == 200 and body.startswith(b"~m~")


def test_requests_of_an_existing_session_are_not_asked_again(server):
    status, _, body = request(server, "GET", "/socket.io/?EIO=4&transport=polling",
                              headers={"X-Allow": "yes"})
    sid = json.loads(body[1:])["sid"]
    del ASKED[:]
    status, _, _ = request(server, "POST", "/socket.io/?EIO=4&transport=polling&sid=" + sid,
                           body=b"40", headers={"Content-Type": "text/plain"})
    assert status == 200 and ASKED == []


def test_an_allow_request_that_raises_refuses():
    def broken(request):
        raise RuntimeError("broken")
    router = geventio.get_router(Handler, settings={"allow_request": broken})
    with serve(make_application([router])) as base:
        status, _, body = request(base, "GET", "/socket.io/?EIO=4&transport=polling")
        assert (status, json.loads(body)) == (403, FORBIDDEN)


def test_without_allow_request_every_handshake_is_served():
    with serve(make_application([geventio.get_router(Handler)])) as base:
        assert_healthy(base)
        assert eio_session(base)
