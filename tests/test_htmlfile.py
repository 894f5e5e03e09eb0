"""htmlfile, spoken byte for byte as the 0.6 client's htmlfile.js does.

IE's ActiveX ``htmlfile`` document holds an iframe on ``GET /socket.io/htmlfile//<ts>``: a
never-ending chunked text/html response that opens with ``<html><body>`` and 244 spaces
(IE renders nothing incrementally before 256 bytes), then calls
``parent.s._("payload", document)`` in one ``<script>`` per push. Messages go up by POST
to ``/<sid>/send`` (transcripts-0.6/htmlfile.txt). Unlike the reference server, geventio
escapes the payload so that ``</script>`` in a message cannot end the script block, and
says ``charset=UTF-8``.
"""
import json
import re
from html.parser import HTMLParser

import gevent
import pytest

import geventio
from helpers.apps import Recorder, echo_handler
from helpers.server import make_application, serve
from helpers.wire import request
from helpers.wire06 import (USER_AGENT, XHR_POST_HEADERS, HTTPStream, decode, encode,
                            heartbeat_number, run_in_page, xhr_form)

FAST = {"heartbeat_interval": 0.2, "max_missed_heartbeats": 5, "xhr_polling_timeout": 0.3,
        "session_expiry": 0.5, "session_check_interval": 0.1}
PADDING = b"<html><body>" + b" " * 244
SCRIPT = re.compile(rb'<script>parent\.s\._\("((?:[^"\\]|\\.)*)", document\);</script>')
IE_HEADERS = {"User-Agent": USER_AGENT + " MSIE", "Accept": "text/html, application/xhtml+xml, */*"}


class Parting(geventio.SocketConnection):
    """Echoes; on "flush and close" sends two last words and closes."""

    recorder = None

    def on_message(self, message):
        self.recorder.events.append(("message", message))
        if message == "flush and close":
            self.send("last words")
            self.send("</script>really")
            self.close()
        else:
            self.send(message)

    def on_close(self):
        self.recorder.events.append(("close",))


class ScriptElements(HTMLParser):
    """What an HTML parser sees: the text of every <script> element."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.scripts = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


@pytest.fixture
def recorder():
    return Recorder()


def start(recorder, handler=None, **settings):
    router = geventio.get_router(handler or echo_handler(recorder), dict(FAST, **settings))
    return serve(make_application([router.route()]))


@pytest.fixture
def server(recorder):
    with start(recorder) as base:
        yield base


class Iframe:
    """The forever iframe inside the htmlfile document."""

    def __init__(self, base):
        self.base = base
        self.stream = HTTPStream(base, "GET", "/socket.io/htmlfile//1795488109949",
                                 headers=IE_HEADERS)
        self.first_chunk = self.stream.read_chunk()
        assert self.first_chunk.startswith(PADDING), self.first_chunk
        self.stream.body = self.first_chunk[len(PADDING):]
        self.sid = self.next_payload()[len("~m~20~m~"):]

    def next_script(self, timeout=5):
        return self.stream.read_until(b"</script>", timeout).decode("utf-8")

    def next_payload(self, timeout=5):
        """The string a script passes to parent.s._ (its literal read as JSON; the tests
        of escaping evaluate scripts in Node instead)."""
        match = SCRIPT.fullmatch(self.next_script(timeout).encode("utf-8"))
        assert match, "not a parent.s._ script"
        return json.loads('"%s"' % match.group(1).decode("utf-8"))

    def next_user_messages(self, count=1, timeout=5):
        out = []
        while len(out) < count:
            payload = self.next_payload(timeout)
            out += [m for m in decode(payload) if heartbeat_number(m) is None]
        return out

    def send(self, payload):
        return request(self.base, "POST", "/socket.io/htmlfile/%s/send" % self.sid,
                       body=xhr_form(payload), headers=XHR_POST_HEADERS)

    def close(self):
        self.stream.close()


def test_the_stream_opens_with_256_bytes_of_padding_then_the_session_id_script(server):
    stream = HTTPStream(server, "GET", "/socket.io/htmlfile//1795488109949", headers=IE_HEADERS)
    try:
        assert stream.status == 200
        assert stream.headers["content-type"] == "text/html; charset=UTF-8"
        assert stream.headers["transfer-encoding"] == "chunked"
        first = stream.read_chunk()
        assert len(PADDING) == 256
        assert first.startswith(PADDING)
        match = SCRIPT.fullmatch(first[len(PADDING):])
        assert match, first
        assert re.fullmatch(rb"~m~20~m~[A-Za-z0-9_-]{20}", match.group(1))
    finally:
        stream.close()


def test_every_push_is_a_whole_script_element_in_its_own_chunk(server):
    iframe = Iframe(server)
    try:
        iframe.send(encode("hello"))
        chunk = iframe.stream.read_chunk()
        while b"~h~" in chunk:
            chunk = iframe.stream.read_chunk()
        assert chunk == b'<script>parent.s._("~m~5~m~hello", document);</script>'
    finally:
        iframe.close()


def test_post_answers_ok_and_the_echo_arrives_in_a_script(server, recorder):
    iframe = Iframe(server)
    try:
        status, _, body = iframe.send(encode("hello"))
        assert (status, body) == (200, b"ok")
        assert iframe.next_user_messages() == ["hello"]
        assert ("message", "hello") in recorder.events
    finally:
        iframe.close()


def test_json_unicode_and_a_batch_round_trip_as_in_the_transcript(server, recorder):
    iframe = Iframe(server)
    try:
        iframe.send('~m~26~m~~j~{"a":1,"b":[true,null]}')
        iframe.send(encode("é中😀"))
        iframe.send(encode("one", "two"))
        assert iframe.next_user_messages(4) == ['~j~{"a":1,"b":[true,null]}', "é中😀",
                                                "one", "two"]
        assert ("message", {"a": 1, "b": [True, None]}) in recorder.events
    finally:
        iframe.close()


def test_json_quotes_are_escaped_as_in_the_transcript(server):
    iframe = Iframe(server)
    try:
        iframe.send('~m~26~m~~j~{"a":1,"b":[true,null]}')
        script = iframe.next_script()
        while "~h~" in script:
            script = iframe.next_script()
        assert script == ('<script>parent.s._("~m~26~m~~j~{\\"a\\":1,\\"b\\":[true,null]}", '
                          'document);</script>')
    finally:
        iframe.close()


def test_a_message_containing_a_script_end_tag_cannot_end_the_script_block(server):
    iframe = Iframe(server)
    nasty = 'x</script><script>alert(1)</script><!--\u2028"\\</SCRIPT >'
    try:
        iframe.send(encode(nasty))
        chunk = iframe.stream.read_chunk()
        while b"alert" not in chunk:
            chunk = iframe.stream.read_chunk()
        parser = ScriptElements()
        parser.feed(chunk.decode("utf-8"))
        parser.close()
        assert len(parser.scripts) == 1, parser.scripts  # the message stayed inside one script
        [script] = parser.scripts
        assert "</" not in script and "<!--" not in script and "\u2028" not in script
        [call] = run_in_page([script])
        assert call["messages"] == [nasty]
    finally:
        iframe.close()


def test_heartbeats_arrive_as_scripts_numbered_from_one(server):
    iframe = Iframe(server)
    try:
        assert iframe.next_payload() == "~m~4~m~~h~1"
        iframe.send("~m~4~m~~h~1")
        assert iframe.next_payload() == "~m~4~m~~h~2"
    finally:
        iframe.close()


def test_a_client_that_never_echoes_heartbeats_is_closed_after_the_allowed_misses(recorder):
    with start(recorder, max_missed_heartbeats=2) as base:
        iframe = Iframe(base)
        try:
            rest = iframe.stream.read_to_end().decode()
            assert iframe.stream.ended
            assert rest == ('<script>parent.s._("~m~4~m~~h~1", document);</script>'
                            '<script>parent.s._("~m~4~m~~h~2", document);</script>')
            recorder.wait_for(lambda: recorder.count("close") == 1)
            gevent.sleep(0.3)
            assert recorder.count("close") == 1
        finally:
            iframe.close()


def test_a_client_that_echoes_heartbeats_stays_connected(server, recorder):
    iframe = Iframe(server)
    try:
        beats = 0
        while beats < 6:
            number = heartbeat_number(decode(iframe.next_payload())[0])
            if number is not None:
                beats += 1
                assert iframe.send(encode("~h~%d" % number))[0] == 200
        iframe.send(encode("still here"))
        assert iframe.next_user_messages() == ["still here"]
        assert recorder.count("close") == 0
    finally:
        iframe.close()


def test_closing_the_iframe_ends_the_session_once(recorder):
    with start(recorder, max_missed_heartbeats=1000) as base:
        iframe = Iframe(base)
        iframe.close()
        recorder.wait_for(lambda: recorder.count("close") == 1, timeout=10)
        gevent.sleep(0.5)
        assert recorder.count("close") == 1
        assert iframe.send(encode("hello?"))[0] == 404


def test_server_side_close_flushes_queued_messages_then_ends_the_stream(recorder):
    handler = type("Parting", (Parting,), {"recorder": recorder})
    with start(recorder, handler=handler, max_missed_heartbeats=1000) as base:
        iframe = Iframe(base)
        try:
            iframe.send(encode("flush and close"))
            rest = iframe.stream.read_to_end().decode()
            assert iframe.stream.ended
            parser = ScriptElements()
            parser.feed(rest)
            calls = run_in_page(parser.scripts)
            messages = [m for c in calls for m in c["messages"] if heartbeat_number(m) is None]
            assert messages == ["last words", "</script>really"]
            recorder.wait_for(lambda: recorder.count("close") == 1)
        finally:
            iframe.close()


def test_an_unknown_session_gets_404(server):
    status, _, _ = request(server, "POST", "/socket.io/htmlfile/0000000bogus/send",
                           body=b"data=~m~1~m~x", headers=XHR_POST_HEADERS)
    assert status == 404
    status, _, _ = request(server, "GET", "/socket.io/htmlfile/0000000bogus/1795488109949")
    assert status == 404
