"""The real Socket.IO Admin UI (@socket.io/admin-ui 0.5.1's built files, served locally)
in headless Chromium against an instrumented geventio router (tests/js/admin_ui.js): it
logs in from another origin, shows a 4.x socket and a 0.6 client, a room and an emitted
event, and its disconnect button disconnects the 4.x client. Screenshots go to a temporary
directory, never into the repository."""
import json
import os
import tempfile

import pytest

import geventio
from helpers import NODE_MODULES, REPO_ROOT
from helpers.browser import requires_browser
from helpers.clients06 import XHRPolling
from helpers.node import run_json
from helpers.server import make_application, serve, serve_wsgi
from helpers.static import static_app

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_browser]

DRIVER = os.path.join(REPO_ROOT, "tests", "js", "admin_ui.js")
UI_DIST = os.path.join("@socket.io", "admin-ui", "ui", "dist")


class Chat(geventio.SocketConnection):
    def on_message(self, message):
        pass

    @geventio.event
    def enter(self, room):
        self.join(room)
        return "entered"

    @geventio.event
    def shout(self, text):
        self.emit("heard", text.upper())
        return "ok"


def ui_files():
    """URL path -> file under node_modules, for every file of the UI's dist."""
    root = os.path.join(NODE_MODULES, UI_DIST)
    files = {"/": os.path.join(UI_DIST, "index.html")}
    for folder, _, names in os.walk(root):
        for name in names:
            rel = os.path.relpath(os.path.join(folder, name), root)
            files["/" + rel.replace(os.sep, "/")] = os.path.join(UI_DIST, rel)
    return files


def test_the_admin_ui_shows_geventio_and_disconnects_a_client_from_chromium():
    if not os.path.isdir(os.path.join(NODE_MODULES, UI_DIST)):
        pytest.skip("node_modules/@socket.io/admin-ui is missing (npm ci)")
    with serve_wsgi(static_app(files=ui_files())) as ui:
        router = geventio.get_router(Chat, settings={"cors_allowed_origins": [ui]})
        router.instrument(auth={"type": "basic", "username": "admin", "password": "s3cret"})
        with serve(make_application([router.route()])) as base, \
                tempfile.TemporaryDirectory(prefix="geventio-admin-ui-") as shots:
            old = XHRPolling(base)
            report = run_json(["node", DRIVER, json_arg(ui + "/", base, old.sid, shots)], 90)
            assert report["errors"] == [], report
            assert report["steps"] == {"login": True, "client": True, "sockets": True,
                                       "rooms": True, "events": True, "disconnect": True}, report
            assert report["disconnectReason"] == "io server disconnect"
            assert [c.session_id for c in router.connections()] == [old.sid]
            old.close()
        router.close()


def json_arg(ui, server, old_sid, shots):
    """The driver's argument: where the UI and the server are, the login, the 0.6 client."""
    return json.dumps({"ui": ui, "server": server, "username": "admin", "password": "s3cret",
                       "oldSid": old_sid, "screenshots": shots, "timeout": 20000})
