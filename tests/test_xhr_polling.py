"""xhr-polling, spoken byte for byte as the 0.6 client's xhr-polling.js does."""
import gevent
import pytest

import geventio
from helpers.apps import Recorder, echo_handler
from helpers.server import make_application, serve
from helpers.wire import post, request

FAST = {"xhr_polling_timeout": 0.3, "session_expiry": 0.4, "session_check_interval": 0.1}


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def server(recorder):
    router = geventio.get_router(echo_handler(recorder, greeting="welcome"), FAST)
    with serve(make_application([router.route()])) as base:
        yield base


def connect(base):
    status, headers, body = request(base, "GET", "/socket.io/xhr-polling//1305500000000")
    assert status == 200
    frames = body.decode()
    assert frames.startswith("~m~")
    length, rest = frames[3:].split("~m~", 1)
    return rest[:int(length)], frames


def test_first_poll_answers_the_session_id_as_the_first_frame(server):
    status, headers, body = request(server, "GET", "/socket.io/xhr-polling//1305500000000")
    assert status == 200
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    assert int(headers["content-length"]) == len(body)
    sid = body.decode()[len("~m~20~m~"):][:20]
    assert body.decode().startswith("~m~20~m~" + sid)


def test_messages_sent_from_on_open_come_after_the_session_id(server):
    sid, first = connect(server)
    rest = first[len("~m~20~m~") + 20:]
    if not rest:
        _, _, body = request(server, "GET", "/socket.io/xhr-polling/%s/1" % sid)
        rest = body.decode()
    assert rest == "~m~7~m~welcome"


def test_post_answers_ok_and_the_echo_arrives_on_the_next_poll(server):
    sid, _ = connect(server)
    request(server, "GET", "/socket.io/xhr-polling/%s/1" % sid)  # drain the greeting
    status, headers, body = post(server, "/socket.io/xhr-polling/%s/send" % sid, "~m~5~m~hello")
    assert (status, body) == (200, b"ok")
    _, _, body = request(server, "GET", "/socket.io/xhr-polling/%s/2" % sid)
    assert body == b"~m~5~m~hello"


def test_json_message_is_decoded_for_the_handler_and_echoed_as_json(server, recorder):
    sid, _ = connect(server)
    request(server, "GET", "/socket.io/xhr-polling/%s/1" % sid)
    post(server, "/socket.io/xhr-polling/%s/send" % sid, '~m~26~m~~j~{"a":1,"b":[true,null]}')
    _, _, body = request(server, "GET", "/socket.io/xhr-polling/%s/2" % sid)
    assert body == b'~m~26~m~~j~{"a":1,"b":[true,null]}'
    assert ("message", {"a": 1, "b": [True, None]}) in recorder.events


def test_every_frame_after_a_heartbeat_echo_is_processed(server, recorder):
    sid, _ = connect(server)
    request(server, "GET", "/socket.io/xhr-polling/%s/1" % sid)
    post(server, "/socket.io/xhr-polling/%s/send" % sid, "~m~4~m~~h~1~m~3~m~one~m~3~m~two")
    _, _, body = request(server, "GET", "/socket.io/xhr-polling/%s/2" % sid)
    assert body == b"~m~3~m~one~m~3~m~two"


def test_non_bmp_text_round_trips_with_utf16_lengths(server):
    sid, _ = connect(server)
    request(server, "GET", "/socket.io/xhr-polling/%s/1" % sid)
    post(server, "/socket.io/xhr-polling/%s/send" % sid, "~m~4~m~é中😀~m~1~m~x")
    _, _, body = request(server, "GET", "/socket.io/xhr-polling/%s/2" % sid)
    assert body.decode("utf-8") == "~m~4~m~é中😀~m~1~m~x"


def test_idle_poll_is_answered_empty_after_the_polling_timeout(server):
    sid, _ = connect(server)
    request(server, "GET", "/socket.io/xhr-polling/%s/1" % sid)
    started = gevent.get_hub().loop.now()
    status, _, body = request(server, "GET", "/socket.io/xhr-polling/%s/2" % sid)
    assert (status, body) == (200, b"")
    assert gevent.get_hub().loop.now() - started >= 0.25


def test_messages_queued_between_polls_arrive_in_order_on_the_next_poll(server, recorder):
    sid, _ = connect(server)
    request(server, "GET", "/socket.io/xhr-polling/%s/1" % sid)
    conn = recorder.connections[0]
    for i in range(50):
        conn.send("m%d" % i)
    _, _, body = request(server, "GET", "/socket.io/xhr-polling/%s/2" % sid)
    assert body.decode() == "".join("~m~%d~m~m%d" % (len("m%d" % i), i) for i in range(50))


def test_a_poll_waiting_for_data_is_answered_as_soon_as_something_is_sent(server, recorder):
    sid, _ = connect(server)
    request(server, "GET", "/socket.io/xhr-polling/%s/1" % sid)
    conn = recorder.connections[0]
    gevent.spawn_later(0.05, conn.send, "late")
    status, _, body = request(server, "GET", "/socket.io/xhr-polling/%s/2" % sid)
    assert body == b"~m~4~m~late"


def test_unknown_session_id_gets_404(server):
    status, _, body = request(server, "GET", "/socket.io/xhr-polling/nosuchsession/1")
    assert status == 404
    status, _, _ = post(server, "/socket.io/xhr-polling/nosuchsession/send", "~m~1~m~x")
    assert status == 404


def test_malformed_payload_gets_400_and_ends_only_that_session(server, recorder):
    sid, _ = connect(server)
    other, _ = connect(server)
    status, _, body = post(server, "/socket.io/xhr-polling/%s/send" % sid, "~m~9~m~short")
    assert status == 400
    recorder.wait_for(lambda: recorder.count("close") == 1)
    status, _, _ = request(server, "GET", "/socket.io/xhr-polling/%s/2" % sid)
    assert status == 404
    status, _, body = post(server, "/socket.io/xhr-polling/%s/send" % other, "~m~2~m~ok")
    assert status == 200


def test_body_over_the_limit_gets_413(recorder):
    router = geventio.get_router(echo_handler(recorder), dict(FAST, max_http_buffer_size=100))
    with serve(make_application([router.route()])) as base:
        sid, _ = connect(base)
        status, _, _ = post(base, "/socket.io/xhr-polling/%s/send" % sid, "~m~200~m~" + "x" * 200)
        assert status == 413


def test_post_without_the_data_field_gets_400(server):
    sid, _ = connect(server)
    status, _, _ = request(server, "POST", "/socket.io/xhr-polling/%s/send" % sid,
                           body=b"other=1",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400


def test_post_from_xdomainrequest_without_content_type_is_accepted(server):
    sid, _ = connect(server)
    request(server, "GET", "/socket.io/xhr-polling/%s/1" % sid)
    status, _, body = request(server, "POST", "/socket.io/xhr-polling/%s/send" % sid,
                              body=b"data=~m~2~m~ie")
    assert (status, body) == (200, b"ok")


def test_a_second_concurrent_poll_is_refused_with_409(server):
    sid, _ = connect(server)
    request(server, "GET", "/socket.io/xhr-polling/%s/1" % sid)
    first = gevent.spawn(request, server, "GET", "/socket.io/xhr-polling/%s/2" % sid)
    gevent.sleep(0.05)
    status, _, _ = request(server, "GET", "/socket.io/xhr-polling/%s/3" % sid)
    assert status == 409
    assert first.get()[0] == 200


def test_session_expires_when_no_poll_comes_and_on_close_runs_once(server, recorder):
    connect(server)
    recorder.wait_for(lambda: recorder.count("close") == 1, timeout=3)
    gevent.sleep(0.3)
    assert recorder.count("close") == 1


def test_server_side_close_answers_the_waiting_poll_and_then_404(server, recorder):
    sid, _ = connect(server)
    request(server, "GET", "/socket.io/xhr-polling/%s/1" % sid)
    post(server, "/socket.io/xhr-polling/%s/send" % sid, "~m~8~m~close me")
    status, _, _ = request(server, "GET", "/socket.io/xhr-polling/%s/2" % sid)
    assert status == 404
    recorder.wait_for(lambda: recorder.count("close") == 1)


def test_refusing_on_open_answers_403_and_never_runs_on_close(recorder):
    router = geventio.get_router(echo_handler(recorder, refuse=True), FAST)
    with serve(make_application([router.route()])) as base:
        status, _, _ = request(base, "GET", "/socket.io/xhr-polling//1")
        assert status == 403
        gevent.sleep(0.1)
        assert recorder.count("close") == 0
        assert router.session_count == 0


def test_disabled_transport_gets_403(recorder):
    router = geventio.get_router(echo_handler(recorder),
                                 dict(FAST, enabled_protocols=["websocket"]))
    with serve(make_application([router.route()])) as base:
        status, _, _ = request(base, "GET", "/socket.io/xhr-polling//1")
        assert status == 403


def test_unknown_transport_gets_404(server):
    status, _, _ = request(server, "GET", "/socket.io/carrier-pigeon//1")
    assert status == 404


def test_cross_origin_poll_is_refused_by_default(server):
    status, _, _ = request(server, "GET", "/socket.io/xhr-polling//1",
                           headers={"Origin": "http://elsewhere.example"})
    assert status == 403


def test_allowed_cross_origin_poll_gets_cors_headers(recorder):
    router = geventio.get_router(echo_handler(recorder),
                                 dict(FAST, cors_allowed_origins=["http://elsewhere.example"]))
    with serve(make_application([router.route()])) as base:
        status, headers, _ = request(base, "GET", "/socket.io/xhr-polling//1",
                                     headers={"Origin": "http://elsewhere.example"})
        assert status == 200
        assert headers["access-control-allow-origin"] == "http://elsewhere.example"
        assert headers["access-control-allow-credentials"] == "true"


def test_same_origin_poll_is_served(server):
    host = server.split("//")[1]
    status, _, _ = request(server, "GET", "/socket.io/xhr-polling//1",
                           headers={"Origin": "http://" + host})
    assert status == 200


def test_frames_sent_after_a_client_drops_its_poll_wait_for_the_next_poll(server, recorder):
    import socket as _socket
    from urllib.parse import urlsplit
    sid, _ = connect(server)
    request(server, "GET", "/socket.io/xhr-polling/%s/1" % sid)
    parts = urlsplit(server)
    sock = _socket.create_connection((parts.hostname, parts.port))
    sock.sendall(("GET /socket.io/xhr-polling/%s/2 HTTP/1.1\r\nHost: x\r\n\r\n" % sid).encode())
    gevent.sleep(0.05)
    sock.close()  # the client gives up on this poll
    gevent.sleep(0.05)
    recorder.connections[0].send("kept")
    status, _, body = request(server, "GET", "/socket.io/xhr-polling/%s/3" % sid)
    assert (status, body) == (200, b"~m~4~m~kept")
