"""xhr-multipart, spoken byte for byte as the 0.6 client's xhr-multipart.js does.

One ``GET /socket.io/xhr-multipart/`` (multipart XHR, Firefox-era) receives every payload
as a part of a ``multipart/x-mixed-replace`` response; messages go up by
``POST /socket.io/xhr-multipart/<sid>/send`` with ``data=<encodeURIComponent(payload)>``
(transcripts-0.6/xhr-multipart.txt). geventio labels each part ``charset=UTF-8`` where the
reference says only ``text/plain``.
"""
import gevent
import pytest

import geventio
from helpers.apps import Recorder, echo_handler
from helpers.server import make_application, serve
from helpers.wire import request
from helpers.wire06 import XHR_POST_HEADERS, HTTPStream, decode, encode, heartbeat_number, xhr_form

PAGE_ORIGIN = "http://127.0.0.1:9999"
FAST = {"heartbeat_interval": 0.2, "max_missed_heartbeats": 5, "xhr_polling_timeout": 0.3,
        "session_expiry": 0.5, "session_check_interval": 0.1,
        "cors_allowed_origins": [PAGE_ORIGIN]}
PART_HEAD = b"Content-Type: text/plain; charset=UTF-8\n\n"
BOUNDARY = b"\n--socketio\n"


class Parting(geventio.SocketConnection):
    """Echoes; on "flush and close" sends two last words and closes."""

    recorder = None

    def on_message(self, message):
        self.recorder.events.append(("message", message))
        if message == "flush and close":
            self.send("last words")
            self.send({"really": "last"})
            self.close()
        else:
            self.send(message)

    def on_close(self):
        self.recorder.events.append(("close",))


@pytest.fixture
def recorder():
    return Recorder()


def start(recorder, handler=None, **settings):
    handler = handler or echo_handler(recorder)
    router = geventio.get_router(handler, dict(FAST, **settings))
    return serve(make_application([router.route()]))


@pytest.fixture
def server(recorder):
    with start(recorder) as base:
        yield base


class Multipart:
    """The client's multipart XHR: one GET, parts read as they arrive."""

    def __init__(self, base):
        self.base = base
        self.stream = HTTPStream(base, "GET", "/socket.io/xhr-multipart/",
                                 headers={"Accept": "*/*", "Origin": PAGE_ORIGIN})
        assert self.stream.read_until(b"--socketio\n") == b"--socketio\n"
        self.sid = self.next_payload()[len("~m~20~m~"):]

    def next_payload(self, timeout=5):
        part = self.stream.read_until(BOUNDARY, timeout)
        assert part.startswith(PART_HEAD), part
        return part[len(PART_HEAD):-len(BOUNDARY)].decode("utf-8")

    def next_messages(self, timeout=5):
        return decode(self.next_payload(timeout))

    def next_user_messages(self, count=1, timeout=5):
        """The next ``count`` messages that are not heartbeats."""
        out = []
        while len(out) < count:
            out += [m for m in self.next_messages(timeout) if heartbeat_number(m) is None]
        return out

    def send(self, payload):
        return request(self.base, "POST", "/socket.io/xhr-multipart/%s/send" % self.sid,
                       body=xhr_form(payload),
                       headers=dict(XHR_POST_HEADERS, Origin=PAGE_ORIGIN))

    def close(self):
        self.stream.close()


def test_the_stream_opens_with_the_boundary_then_the_session_id_part(server):
    stream = HTTPStream(server, "GET", "/socket.io/xhr-multipart/",
                        headers={"Accept": "*/*", "Origin": PAGE_ORIGIN})
    try:
        assert stream.status == 200
        assert stream.headers["content-type"] == 'multipart/x-mixed-replace;boundary="socketio"'
        assert stream.headers["access-control-allow-origin"] == PAGE_ORIGIN
        assert stream.headers["access-control-allow-credentials"] == "true"
        opening = stream.read_until(BOUNDARY)
        assert opening[:len(b"--socketio\n" + PART_HEAD + b"~m~20~m~")] == \
            b"--socketio\n" + PART_HEAD + b"~m~20~m~"
        sid = opening[len(b"--socketio\n" + PART_HEAD + b"~m~20~m~"):-len(BOUNDARY)]
        assert len(sid) == 20
    finally:
        stream.close()


def test_post_answers_ok_and_the_echo_arrives_as_the_next_part(server, recorder):
    client = Multipart(server)
    try:
        assert xhr_form(encode("hello")) == b"data=~m~5~m~hello"  # as in the transcript
        status, headers, body = client.send(encode("hello"))
        assert (status, body) == (200, b"ok")
        assert headers["content-type"].startswith("text/plain")
        assert client.next_user_messages() == ["hello"]
        assert ("message", "hello") in recorder.events
    finally:
        client.close()


def test_json_unicode_and_a_batch_round_trip_as_in_the_transcript(server, recorder):
    client = Multipart(server)
    try:
        client.send('~m~26~m~~j~{"a":1,"b":[true,null]}')
        client.send(encode("é中😀"))
        client.send(encode("one", "two"))
        assert client.next_user_messages(4) == ['~j~{"a":1,"b":[true,null]}', "é中😀",
                                                "one", "two"]
        assert ("message", {"a": 1, "b": [True, None]}) in recorder.events
    finally:
        client.close()


def test_a_part_carries_utf8_with_utf16_lengths(server):
    client = Multipart(server)
    try:
        client.send("~m~4~m~é中😀")
        while True:
            payload = client.next_payload()
            if "~h~" not in payload:
                break
        assert payload == "~m~4~m~é中😀"
    finally:
        client.close()


def test_heartbeats_arrive_as_parts_numbered_from_one(server):
    client = Multipart(server)
    try:
        assert client.next_payload() == "~m~4~m~~h~1"
        client.send("~m~4~m~~h~1")
        assert client.next_payload() == "~m~4~m~~h~2"
    finally:
        client.close()


def test_a_client_that_never_echoes_heartbeats_is_closed_after_the_allowed_misses(recorder):
    with start(recorder, max_missed_heartbeats=2) as base:
        client = Multipart(base)
        try:
            rest = client.stream.read_to_end()
            assert client.stream.ended  # the terminating chunk: the response is complete
            assert rest == (PART_HEAD + b"~m~4~m~~h~1" + BOUNDARY
                            + PART_HEAD + b"~m~4~m~~h~2" + BOUNDARY)
            recorder.wait_for(lambda: recorder.count("close") == 1)
            gevent.sleep(0.3)
            assert recorder.count("close") == 1
            status, _, _ = client.send(encode("anyone?"))
            assert status == 404
        finally:
            client.close()


def test_a_client_that_echoes_heartbeats_stays_connected(server, recorder):
    client = Multipart(server)
    try:
        beats = 0
        while beats < 6:  # three times the misses allowed
            for message in client.next_messages():
                number = heartbeat_number(message)
                if number is not None:
                    beats += 1
                    assert client.send(encode("~h~%d" % number))[0] == 200
        client.send(encode("still here"))
        assert client.next_user_messages() == ["still here"]
        assert recorder.count("close") == 0
    finally:
        client.close()


def test_a_heartbeat_echo_and_messages_in_one_post_are_all_processed(server):
    client = Multipart(server)
    try:
        assert client.next_payload() == "~m~4~m~~h~1"
        client.send("~m~4~m~~h~1~m~3~m~one~m~3~m~two")
        assert client.next_user_messages(2) == ["one", "two"]
    finally:
        client.close()


def test_closing_the_stream_from_the_client_ends_the_session_once(recorder):
    # Heartbeat misses alone would take 1000 intervals here: the broken stream ends it.
    with start(recorder, max_missed_heartbeats=1000) as base:
        client = Multipart(base)
        client.close()
        recorder.wait_for(lambda: recorder.count("close") == 1, timeout=10)
        gevent.sleep(0.5)
        assert recorder.count("close") == 1
        status, _, _ = client.send(encode("hello?"))
        assert status == 404


def test_server_side_close_flushes_queued_messages_then_ends_the_stream(recorder):
    handler = type("Parting", (Parting,), {"recorder": recorder})
    with start(recorder, handler=handler, max_missed_heartbeats=1000) as base:
        client = Multipart(base)
        try:
            client.send(encode("flush and close"))
            rest = client.stream.read_to_end()
            assert client.stream.ended
            payloads = [p[len(PART_HEAD):].decode() for p in rest.split(BOUNDARY) if p]
            messages = [m for p in payloads for m in decode(p) if heartbeat_number(m) is None]
            assert messages == ["last words", '~j~{"really":"last"}']
            recorder.wait_for(lambda: recorder.count("close") == 1)
        finally:
            client.close()


def test_an_unknown_session_gets_404_on_post(server):
    status, _, _ = request(server, "POST", "/socket.io/xhr-multipart/0000000bogus/send",
                           body=b"data=~m~1~m~x", headers=XHR_POST_HEADERS)
    assert status == 404


def test_a_stream_naming_an_unknown_session_gets_404(server, recorder):
    status, _, _ = request(server, "GET", "/socket.io/xhr-multipart/0000000bogus")
    assert status == 404
    assert recorder.count("open") == 0


def test_a_cors_preflight_is_answered(server):
    status, headers, _ = request(server, "OPTIONS", "/socket.io/xhr-multipart/",
                                 headers={"Origin": PAGE_ORIGIN,
                                          "Access-Control-Request-Method": "GET"})
    assert status == 200
    assert "GET" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-origin"] == PAGE_ORIGIN
