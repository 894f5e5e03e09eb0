"""The real socket.io 0.6 browser client, in headless Chromium, against geventio.

Chromium can run three of the six 0.6 transports (websocket, xhr-polling, jsonp-polling);
each is driven through the same scenario by tests/pages/client06.html.
"""
import os

import pytest

import geventio
from geventio.transports import http
from helpers import REPO_ROOT
from helpers.apps import Recorder
from helpers.browser import run_pages
from helpers.server import make_application, serve
from helpers.static import static_app

pytestmark = pytest.mark.browser

PAGE = open(os.path.join(REPO_ROOT, "tests", "pages", "client06.html"), encoding="utf-8").read()
SETTINGS = {"xhr_polling_timeout": 1.0, "session_expiry": 1.0, "session_check_interval": 0.2}


class Echo(geventio.SocketConnection):
    recorder = None

    def on_open(self, request, *args, **kwargs):
        self.recorder.events.append(("open", self.session_id))

    def on_message(self, message):
        if message == "close me":
            self.close()
        else:
            self.send(message)

    def on_close(self):
        self.recorder.events.append(("close", self.session_id))


@pytest.fixture(scope="module", params=["websocket", "xhr-polling", "jsonp-polling"])
def scenario(request):
    recorder = Recorder()
    handler = type("Echo", (Echo,), {"recorder": recorder})
    router = geventio.get_router(handler, SETTINGS)
    app = make_application([router.route()],
                           fallback=static_app({"/": ("text/html; charset=utf-8", PAGE)}))
    original = http.Exchange.encode

    def encode(self, body):  # records each polling answer's size and Content-Encoding
        sent, headers = original(self, body)
        recorder.events.append(("answer", len(body), dict(headers).get("Content-Encoding")))
        return sent, headers
    http.Exchange.encode = encode
    try:
        with serve(app) as base:
            run = run_pages("%s/?transport=%s" % (base, request.param), timeout=60)
            page = run["pages"][0]
            result = page["result"] or {}
            if result.get("secondSid"):
                recorder.wait_for(lambda: ("close", result["secondSid"]) in recorder.events,
                                  timeout=10)
            yield request.param, result, page, recorder
    finally:
        http.Exchange.encode = original


def test_the_client_connects_over_the_chosen_transport(scenario):
    transport, result, page, _ = scenario
    assert not result.get("errors"), page
    assert result["steps"]["connected"]
    assert result["transportType"] == transport


def test_the_session_id_the_client_got_is_the_servers(scenario):
    _, result, _, recorder = scenario
    assert ("open", result["sid"]) in recorder.events


def test_a_string_is_echoed(scenario):
    assert scenario[1]["steps"]["string"] == "hello"


def test_a_json_object_is_echoed_as_an_object(scenario):
    assert scenario[1]["steps"]["json"] == {"a": 1, "b": [True, None], "c": "x"}


def test_unicode_with_emoji_is_echoed_intact(scenario):
    assert scenario[1]["steps"]["unicode"] == "héllo wörld 中文 😀 🎉"


def test_a_100_kb_message_is_echoed_intact(scenario):
    steps = scenario[1]["steps"]
    assert steps["bigLength"] == 100 * 1024
    assert steps["bigIntact"]


def test_the_polling_answer_carrying_100_kb_went_out_gzip_compressed(scenario):
    # The 0.6 client reads xhr-polling answers through XMLHttpRequest and jsonp-polling ones
    # as <script> sources: the browser undoes Content-Encoding for both.
    transport, _, _, recorder = scenario
    if transport == "websocket":
        pytest.skip("WebSocket frames are not compressed")
    large = [e for e in recorder.events if e[0] == "answer" and e[1] >= 100 * 1024]
    assert large and all(e[2] == "gzip" for e in large), large


def test_a_burst_of_50_messages_is_echoed_in_order(scenario):
    assert scenario[1]["steps"]["burst"] == ["burst %d" % i for i in range(50)]


def test_a_server_side_disconnect_is_seen_by_the_client(scenario):
    _, result, _, recorder = scenario
    assert result["steps"]["serverDisconnectSeen"]
    assert recorder.events.count(("close", result["sid"])) == 1


def test_a_client_side_disconnect_is_seen_by_the_server(scenario):
    _, result, _, recorder = scenario
    assert result["steps"]["clientDisconnected"]
    assert recorder.events.count(("close", result["secondSid"])) == 1


@pytest.fixture(scope="module", params=["xhr-polling", "jsonp-polling"])
def cross_origin(request):
    """The page comes from one server; the 0.6 client talks to geventio on another port."""
    recorder = Recorder()
    handler = type("Echo", (Echo,), {"recorder": recorder})
    page_app = static_app({"/": ("text/html; charset=utf-8", PAGE)})
    with serve(make_application([], fallback=page_app)) as page_base:
        router = geventio.get_router(handler, dict(SETTINGS, cors_allowed_origins=[page_base]))
        with serve(make_application([router.route()])) as io_base:
            port = io_base.rsplit(":", 1)[1]
            run = run_pages("%s/?transport=%s&port=%s" % (page_base, request.param, port),
                            timeout=60)
            yield run["pages"][0]["result"] or {}, recorder


def test_a_page_from_another_origin_connects_and_echoes(cross_origin):
    result, recorder = cross_origin
    assert not result.get("errors"), result
    assert result["steps"]["string"] == "hello"
    assert result["steps"]["burst"] == ["burst %d" % i for i in range(50)]
    assert ("open", result["sid"]) in recorder.events
