"""The headless-browser driver works end to end, without geventio.

The pages load from a server in this process, so these also prove run_pages blocks only its
greenlet.
"""
import pytest
from gevent.event import Event

from helpers.browser import run_pages
from helpers.server import serve_wsgi
from helpers.static import static_app

pytestmark = pytest.mark.browser


def html(script, head=""):
    return ("text/html; charset=utf-8", f"<!doctype html><html><head>{head}</head><body>"
            f"<script>{script}</script></body></html>")


def test_single_page_reports_result():
    page = html("window.__result = {ok: true, ua: navigator.userAgent}; window.__done = true;")
    with serve_wsgi(static_app({"/": page})) as url:
        report = run_pages(url + "/", timeout=20)
    assert report["timedOut"] is False
    [only] = report["pages"]
    assert only["result"]["ok"] is True
    assert "Chrome" in only["result"]["ua"]
    assert only["done"] is True
    assert only["errors"] == []


def test_two_pages_run_concurrently():
    """Each page blocks on /arrive until both have arrived, so sequential pages would time out."""
    arrived, both = set(), Event()
    static = static_app({"/": html(
        "const page = Number(new URLSearchParams(location.search).get('page'));"
        "fetch('/arrive?page=' + page).then(r => r.text()).then(t => {"
        "  window.__result = {page: page, seen: t}; window.__done = true; });"
    )})

    def app(environ, start_response):
        if environ["PATH_INFO"] != "/arrive":
            return static(environ, start_response)
        arrived.add(environ["QUERY_STRING"])
        if len(arrived) == 2:
            both.set()
        both.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(len(arrived)).encode()]

    with serve_wsgi(app) as url:
        report = run_pages(url + "/", pages=2, timeout=20)
    assert report["timedOut"] is False
    assert [p["result"] for p in report["pages"]] == [{"page": 0, "seen": "2"},
                                                      {"page": 1, "seen": "2"}]


def test_socket_io_06_client_loads_from_node_modules():
    page = html(
        "window.__result = {socket: typeof io.Socket, version: io.version}; window.__done = true;",
        head='<script src="/socket.io.js"></script>',
    )
    with serve_wsgi(static_app({"/": page})) as url:
        report = run_pages(url + "/", timeout=20)
    [only] = report["pages"]
    assert only["errors"] == []
    assert only["result"] == {"socket": "function", "version": "0.6.3"}


def test_timeout_and_page_errors_are_reported():
    page = html("window.__result = 'partial'; throw new Error('boom');")
    with serve_wsgi(static_app({"/": page})) as url:
        report = run_pages(url + "/", timeout=1.5)
    assert report["timedOut"] is True
    [only] = report["pages"]
    assert only["done"] is False
    assert only["result"] == "partial"
    assert any("boom" in e for e in only["errors"])

