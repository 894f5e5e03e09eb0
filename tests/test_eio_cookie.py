"""The ``cookie`` setting: the Engine.IO handshake sets a cookie holding the session id, as
engine.io's ``cookie`` option does, so a load balancer can stick a session to one server."""
import pytest

import geventio
from geventio.protocol.engineio import handshake_cookie
from helpers.apps import Recorder, echo_handler
from helpers.eio_client import WSClient, get, handshake, open_packet, post, url
from helpers.server import make_application, serve
from helpers.wire import request

pytestmark = pytest.mark.timeout(20)


def _router(resource, cookie):
    settings = {} if cookie is None else {"cookie": cookie}
    return geventio.get_router(echo_handler(Recorder()), resource=resource, settings=settings)


@pytest.fixture(scope="module")
def base():
    routers = [_router("plain", None), _router("io", "io"), _router("yes", True),
               _router("custom", {"name": "srv", "path": None, "samesite": None,
                                  "secure": True, "max_age": 60})]
    with serve(make_application(routers)) as base:
        yield base


def _handshake(base, resource):
    status, headers, body = request(base, "GET", url(resource))
    assert status == 200
    return open_packet(body)["sid"], headers


def test_no_cookie_is_set_by_default(base):
    _, headers = _handshake(base, "plain")
    assert "set-cookie" not in headers


def test_a_cookie_name_sets_the_session_id_with_node_s_default_attributes(base):
    sid, headers = _handshake(base, "io")
    assert headers["set-cookie"] == "io=%s; Path=/; HttpOnly; SameSite=Lax" % sid


def test_true_means_node_s_defaults(base):
    sid, headers = _handshake(base, "yes")
    assert headers["set-cookie"] == "io=%s; Path=/; HttpOnly; SameSite=Lax" % sid


def test_a_dict_sets_each_attribute_and_no_path_means_not_httponly(base):
    sid, headers = _handshake(base, "custom")
    assert headers["set-cookie"] == "srv=%s; Max-Age=60; Secure" % sid


def test_only_the_handshake_sets_the_cookie(base):
    sid, _ = handshake(base, "io")
    status, posted, _ = post(base, "io", sid, "40")
    assert status == 200
    status, polled, body = get(base, "io", sid)
    assert status == 200 and body.startswith(b"40")
    assert "set-cookie" not in posted and "set-cookie" not in polled


def test_a_websocket_only_handshake_sets_the_cookie_in_its_101(base):
    ws = WSClient(base, url("io", transport="websocket"))
    try:
        sid = open_packet(ws.receive().encode("utf-8"))["sid"]
        assert ws.headers["set-cookie"] == "io=%s; Path=/; HttpOnly; SameSite=Lax" % sid
    finally:
        ws.close()


def test_an_upgrade_sets_no_cookie(base):
    sid, _ = handshake(base, "io")
    ws = WSClient(base, url("io", transport="websocket", sid=sid))
    try:
        assert "set-cookie" not in ws.headers
    finally:
        ws.close()


def test_a_refused_websocket_handshake_leaves_no_session_behind():
    router = _router("io", "io")
    with serve(make_application([router])) as base:
        status, _, _ = request(base, "GET", url("io", transport="websocket"),
                               headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                        "Sec-WebSocket-Version": "13"})  # no key
        assert status == 400
        assert len(router.sessions) == 0


@pytest.mark.parametrize("cookie", [{"nam": "io"}, "a b", {"samesite": "sometimes"},
                                    {"path": "/;x"}, {"name": ""}])
def test_a_cookie_setting_that_cannot_work_is_refused(cookie):
    with pytest.raises(ValueError):
        _router("io", cookie)


def test_the_cookie_attributes_come_in_the_order_node_writes_them():
    assert handshake_cookie("s", "n", path="/p", httponly=True, samesite="strict",
                            secure=True, domain="example.org", max_age=9.7) == (
        "n=s; Max-Age=9; Domain=example.org; Path=/p; HttpOnly; Secure; SameSite=Strict")
