"""jsonp-polling, spoken byte for byte as the 0.6 client's jsonp-polling.js does.

The client receives through ``<script src=".../jsonp-polling/<sid>/<ts>/<index>">`` tags
whose response calls ``io.JSONP[index]._("payload")``, and sends by submitting a hidden
``<form method=POST>`` with a ``<textarea name="data">`` (see transcripts-0.6/
jsonp-polling.txt). Where the reference server is wrong, the client and the spec win:
lengths count UTF-16 units, the callback string is escaped for a ``<script>`` context,
an unknown session gets 404 instead of a dropped connection.
"""
import re

import pytest

import geventio
from helpers.apps import Recorder, echo_handler
from helpers.server import make_application, serve
from helpers.wire import request
from helpers.wire06 import HTML_FORM_HEADERS, decode, encode, html_form, run_in_page

PAGE_ORIGIN = "http://127.0.0.1:9999"  # the page that loads socket.io.js (cross-domain)
FAST = {"xhr_polling_timeout": 0.3, "session_expiry": 0.5, "session_check_interval": 0.1,
        "cors_allowed_origins": [PAGE_ORIGIN]}
# What the browser sends for the <script> tag (no Origin: it is a no-cors request).
SCRIPT_HEADERS = {"Accept": "*/*", "Referer": PAGE_ORIGIN + "/"}
CALLBACK = re.compile(r'^io\.JSONP\[(\d+)\]\._\("(.*)"\);$', re.DOTALL)


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def router(recorder):
    return geventio.get_router(echo_handler(recorder), FAST)


@pytest.fixture
def server(router):
    with serve(make_application([router.route()])) as base:
        yield base


def poll(base, path):
    status, headers, body = request(base, "GET", path, headers=SCRIPT_HEADERS)
    return status, headers, body.decode("utf-8")


def connect(base, index=0):
    status, _, body = poll(base, "/socket.io/jsonp-polling//1795488192648/%d" % index)
    assert status == 200, body
    return CALLBACK.match(body).group(2)[len("~m~20~m~"):]


def submit_form(base, sid, payload, index=0):
    """What the hidden form does: POST to the action computed at the first send."""
    headers = dict(HTML_FORM_HEADERS, Origin=PAGE_ORIGIN, Referer=PAGE_ORIGIN + "/")
    return request(base, "POST", "/socket.io/jsonp-polling/%s/1795488192949/%d" % (sid, index),
                   body=html_form(payload), headers=headers)


def received(base, sid, index=0):
    """The messages of the next poll, decoded by the client's own code in Node."""
    status, _, body = poll(base, "/socket.io/jsonp-polling/%s/1795488192950/%d" % (sid, index))
    assert status == 200, body
    [call] = run_in_page([body])
    return call["messages"]


def test_first_poll_answers_the_session_id_through_the_callback(server):
    status, headers, body = poll(server, "/socket.io/jsonp-polling//1795488192648/0")
    assert status == 200
    assert headers["content-type"] == "text/javascript; charset=UTF-8"
    assert int(headers["content-length"]) == len(body.encode("utf-8"))
    assert re.match(r'^io\.JSONP\[0\]\._\("~m~20~m~[A-Za-z0-9_-]{20}"\);$', body), body


def test_the_callback_index_is_the_last_path_segment(server):
    status, _, body = poll(server, "/socket.io/jsonp-polling//1795488192648/2")
    assert body.startswith('io.JSONP[2]._("~m~20~m~')
    sid = CALLBACK.match(body).group(2)[len("~m~20~m~"):]
    assert submit_form(server, sid, encode("x"), index=2)[0] == 200
    status, _, body = poll(server, "/socket.io/jsonp-polling/%s/1795488192650/3" % sid)
    assert body == 'io.JSONP[3]._("~m~1~m~x");'


@pytest.mark.parametrize("index", ["alert(1)", "0;alert(1)", "cb", "-1", "1e3", "0x1",
                                   "%D9%A1", "1%20"])
def test_a_non_digit_index_is_refused_with_400_and_never_reflected(server, router, index):
    status, headers, body = poll(server, "/socket.io/jsonp-polling//1795488192648/" + index)
    assert status == 400
    assert not headers["content-type"].startswith("text/javascript")
    assert "alert" not in body and index not in body
    assert router.session_count == 0


def test_a_non_digit_index_on_an_open_session_is_refused_with_400(server):
    sid = connect(server)
    status, _, body = poll(server, "/socket.io/jsonp-polling/%s/1795488192650/alert(1)" % sid)
    assert status == 400
    assert "alert" not in body


@pytest.mark.parametrize("index", ["1234567", "9" * 40])
def test_an_over_long_index_is_refused_with_400(server, router, index):
    status, _, body = poll(server, "/socket.io/jsonp-polling//1795488192648/" + index)
    assert status == 400
    assert index not in body
    assert router.session_count == 0


def test_an_idle_poll_answers_an_empty_callback_not_an_empty_body(server):
    sid = connect(server)
    status, headers, body = poll(server, "/socket.io/jsonp-polling/%s/1795488192649/0" % sid)
    assert status == 200
    assert body == 'io.JSONP[0]._("");'
    assert headers["content-length"] == "18"
    assert headers["content-type"] == "text/javascript; charset=UTF-8"


def test_the_hidden_form_post_answers_ok_and_the_echo_arrives_on_the_next_poll(server, recorder):
    sid = connect(server)
    body = html_form(encode("hello"))
    assert body == b"data=%7Em%7E5%7Em%7Ehello"  # as in the transcript
    status, _, answer = submit_form(server, sid, encode("hello"))
    assert (status, answer) == (200, b"ok")
    status, _, body = poll(server, "/socket.io/jsonp-polling/%s/1795488192950/0" % sid)
    assert body == 'io.JSONP[0]._("~m~5~m~hello");'
    assert ("message", "hello") in recorder.events


def test_spaces_arrive_as_plus_signs_and_are_decoded(server, recorder):
    sid = connect(server)
    assert b"+" in html_form(encode("two words + more"))
    submit_form(server, sid, encode("two words + more"))
    assert received(server, sid) == ["two words + more"]
    assert ("message", "two words + more") in recorder.events


def test_form_line_breaks_are_turned_back_into_lf_so_lengths_add_up(server, recorder):
    sid = connect(server)
    payload = encode("line one\nline two\n", "after")
    assert b"%0D%0A" in html_form(payload)  # the browser sends CR LF: one unit too many
    status, _, answer = submit_form(server, sid, payload)
    assert (status, answer) == (200, b"ok")
    assert received(server, sid) == ["line one\nline two\n", "after"]
    assert [e for e in recorder.events if e[0] == "message"] == [
        ("message", "line one\nline two\n"), ("message", "after")]


def test_json_unicode_and_a_batch_round_trip_as_in_the_transcript(server, recorder):
    sid = connect(server)
    submit_form(server, sid, '~m~26~m~~j~{"a":1,"b":[true,null]}')
    submit_form(server, sid, encode("é中😀"))
    submit_form(server, sid, encode("one", "two"))
    messages = []
    while len(messages) < 4:
        messages += received(server, sid)
    assert messages == ['~j~{"a":1,"b":[true,null]}', "é中😀", "one", "two"]
    assert ("message", {"a": 1, "b": [True, None]}) in recorder.events
    assert ("message", "é中😀") in recorder.events


def test_the_utf16_length_of_non_bmp_text_is_what_the_client_counts(server):
    sid = connect(server)
    submit_form(server, sid, "~m~4~m~é中😀")  # JavaScript: 'é中😀'.length == 4
    status, _, body = poll(server, "/socket.io/jsonp-polling/%s/1795488192950/0" % sid)
    assert body == 'io.JSONP[0]._("~m~4~m~é中😀");'


def test_a_message_that_would_break_the_script_is_escaped_and_decodes_back(server):
    sid = connect(server)
    nasty = 'a</script><script>alert(1)</script>\u2028b\u2029c<!--d"\\e'
    submit_form(server, sid, encode(nasty))
    status, headers, body = poll(server, "/socket.io/jsonp-polling/%s/1795488192950/0" % sid)
    assert status == 200
    assert "</" not in body and "<!--" not in body
    assert "\u2028" not in body and "\u2029" not in body
    [call] = run_in_page([body])
    assert call["messages"] == [nasty]
    assert decode(call["data"]) == [nasty]


def test_the_server_greeting_from_on_open_follows_the_session_id(recorder):
    router = geventio.get_router(echo_handler(recorder, greeting="welcome"), FAST)
    with serve(make_application([router.route()])) as base:
        status, _, body = poll(base, "/socket.io/jsonp-polling//1795488192648/0")
        [call] = run_in_page([body])
        messages = call["messages"]
        sid = messages[0]
        if len(messages) == 1:
            messages += received(base, sid)
        assert messages[1:] == ["welcome"]


def test_an_unknown_session_gets_404_on_poll_and_on_post(server):
    status, _, _ = poll(server, "/socket.io/jsonp-polling/0000000bogus/1795488223050/0")
    assert status == 404
    status, _, _ = submit_form(server, "0000000bogus", encode("x"))
    assert status == 404


def test_a_session_without_polls_expires_and_its_poll_then_gets_404(server, recorder):
    sid = connect(server)
    recorder.wait_for(lambda: recorder.count("close") == 1, timeout=5)
    status, _, _ = poll(server, "/socket.io/jsonp-polling/%s/1795488223050/0" % sid)
    assert status == 404
