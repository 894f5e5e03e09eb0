"""get_router's arguments and Application's routing, seen over the wire."""
import pytest

import geventio
from helpers.apps import Recorder, echo_handler
from helpers.server import make_application, serve
from helpers.wire import post, request


def sid_of(body):
    text = body.decode()
    length, rest = text[3:].split("~m~", 1)
    return rest[:int(length)]


def test_resource_names_the_path():
    rec = Recorder()
    router = geventio.get_router(echo_handler(rec), resource="chat")
    with serve(make_application([router.route()])) as base:
        assert request(base, "GET", "/chat/xhr-polling//1")[0] == 200
        assert request(base, "GET", "/socket.io/xhr-polling//1")[0] == 404


def test_resource_may_contain_slashes():
    router = geventio.get_router(echo_handler(Recorder()), resource="api/live")
    with serve(make_application([router.route()])) as base:
        assert request(base, "GET", "/api/live/xhr-polling//1")[0] == 200


def test_extra_re_match_reaches_on_open_as_kwargs_extra():
    rec = Recorder()
    router = geventio.get_router(echo_handler(rec), resource="chat", extra_re=r"\d+",
                                 extra_sep="/")
    with serve(make_application([router.route()])) as base:
        status, _, body = request(base, "GET", "/chat/123/xhr-polling//1")
        assert status == 200
        assert rec.events[0][:2] == ("open", "123")


def test_extra_re_that_does_not_match_is_not_this_routers_path():
    router = geventio.get_router(echo_handler(Recorder()), resource="chat", extra_re=r"\d+",
                                 extra_sep="/")
    with serve(make_application([router.route()])) as base:
        assert request(base, "GET", "/chat/abc/xhr-polling//1")[0] == 404


def test_extra_is_none_without_extra_re():
    rec = Recorder()
    router = geventio.get_router(echo_handler(rec))
    with serve(make_application([router.route()])) as base:
        request(base, "GET", "/socket.io/xhr-polling//1")
        assert rec.events[0][:2] == ("open", None)


def test_extra_and_post_use_the_same_url_shape():
    rec = Recorder()
    router = geventio.get_router(echo_handler(rec), resource="chat", extra_re=r"[a-z]+",
                                 extra_sep="-")
    with serve(make_application([router.route()])) as base:
        _, _, body = request(base, "GET", "/chat-room/xhr-polling//1")
        sid = sid_of(body)
        assert post(base, "/chat-room/xhr-polling/%s/send" % sid, "~m~2~m~hi")[0] == 200
        rec.wait_for(lambda: ("message", "hi") in rec.events)


def test_several_routers_in_one_application_each_serve_their_handler():
    chat, ping = Recorder(), Recorder()
    app = make_application([geventio.get_router(echo_handler(chat), resource="chat").route(),
                            geventio.get_router(echo_handler(ping), resource="ping").route()])
    with serve(app) as base:
        request(base, "GET", "/chat/xhr-polling//1")
        request(base, "GET", "/ping/xhr-polling//1")
        request(base, "GET", "/ping/xhr-polling//2")
        assert chat.count("open") == 1 and ping.count("open") == 2


def test_session_of_one_router_is_unknown_to_another():
    app = make_application([geventio.get_router(echo_handler(Recorder()), resource="a").route(),
                            geventio.get_router(echo_handler(Recorder()), resource="b").route()])
    with serve(app) as base:
        sid = sid_of(request(base, "GET", "/a/xhr-polling//1")[2])
        assert request(base, "GET", "/b/xhr-polling/%s/2" % sid)[0] == 404


def test_application_accepts_routers_as_well_as_routes():
    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router])) as base:
        assert request(base, "GET", "/socket.io/xhr-polling//1")[0] == 200


def test_paths_outside_every_resource_go_to_the_fallback():
    def fallback(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"fallback " + environ["PATH_INFO"].encode()]
    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router.route()], fallback=fallback)) as base:
        assert request(base, "GET", "/socket.iox/page")[2] == b"fallback /socket.iox/page"
        assert request(base, "GET", "/")[2] == b"fallback /"


def test_without_a_fallback_other_paths_are_404():
    router = geventio.get_router(echo_handler(Recorder()))
    with serve(make_application([router.route()])) as base:
        assert request(base, "GET", "/elsewhere")[0] == 404


def test_unknown_setting_is_refused():
    with pytest.raises(TypeError, match="session_expiri"):
        geventio.get_router(echo_handler(Recorder()), {"session_expiri": 3})


@pytest.mark.parametrize("settings", [
    {"enabled_protocols": ["xhr-polling", "smoke-signals"]},
    {"heartbeat_interval": 0},
    {"transports": ["carrier-pigeon"]},
    {"max_http_buffer_size": 0},
])
def test_settings_that_cannot_work_are_refused(settings):
    with pytest.raises(ValueError):
        geventio.get_router(echo_handler(Recorder()), settings)


def test_handler_must_be_a_socket_connection():
    with pytest.raises(TypeError):
        geventio.get_router(object)


def test_router_connections_lists_live_connections_in_a_room():
    rec = Recorder()
    router = geventio.get_router(echo_handler(rec))
    with serve(make_application([router.route()])) as base:
        request(base, "GET", "/socket.io/xhr-polling//1")
        request(base, "GET", "/socket.io/xhr-polling//2")
        a, b = rec.connections
        a.join("blue")
        assert set(router.connections()) == {a, b}
        assert router.connections("blue") == [a]
        assert router.connections(a.session_id) == [a]
        a.leave("blue")
        assert router.connections("blue") == []
