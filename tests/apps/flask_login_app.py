"""A real Flask app with Flask-Login, wrapped by geventio (tests/test_flask_login.py).

* ``/login`` (GET: the form; POST: checks the password, ``login_user``, puts the user's
  ``theme`` into the session, redirects to ``next``), ``/logout``;
* ``/chat``: a page whose socket.io-client 4.x connects same-origin (``?transport=websocket``
  for WebSocket only) and reports in ``window.__result`` the ``welcome`` the server sent
  from ``on_open``, the answer to ``whoami``, or its ``connect_error``;
* ``/chat06``: the same with the socket.io 0.6 client (a JSON message
  ``{"name": "welcome", "args": [...]}``, then the answer to the message ``whoami``);
* the socket.io resource: :class:`Chat`, a FlaskConnection, behind ``login_required``.

``application`` is the geventio Application serving both.
"""
import os

import flask
import flask_login
from flask import Flask, redirect, request, send_file, session

import geventio
import geventio.flask

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_MODULES = os.path.join(REPO_ROOT, "node_modules")
CLIENT_V4 = os.path.join(NODE_MODULES, "socket.io-client", "dist", "socket.io.min.js")
CLIENT_06 = os.path.join(NODE_MODULES, "socket.io", "support", "socket.io-client", "socket.io.js")

#: user id -> (display name, password, theme)
USERS = {
    "ada": ("Ada Lovelace", "analytical-engine", "dark"),
    "grace": ("Grace Hopper", "cobol", "light"),
}

app = Flask("geventio_test_flask_login")
app.secret_key = "geventio-tests-only"
login_manager = flask_login.LoginManager(app)
login_manager.login_view = "login"
#: the user ids the app's user_loader was asked for, in order
loaded = []
#: one entry per teardown_appcontext call (the exception it got, or None)
torn_down = []


@app.teardown_appcontext
def record_teardown(exc):
    torn_down.append(exc)


class User(flask_login.UserMixin):
    def __init__(self, user_id):
        self.id = user_id
        self.name = USERS[user_id][0]


@login_manager.user_loader
def load_user(user_id):
    loaded.append(user_id)
    return User(user_id) if user_id in USERS else None


LOGIN_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Log in</title></head><body>
<form method="post" action="/login?next={next}">
  <input name="username"> <input name="password" type="password">
  <button id="login" type="submit">Log in</button>
</form>
<p id="error">{error}</p>
</body></html>
"""

CHAT_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><script src="/socket.io.v4.js"></script></head><body>
<script>
  var params = new URLSearchParams(location.search);
  var result = window.__result = {};
  var options = {reconnection: false};
  if (params.get('transport')) options.transports = [params.get('transport')];
  var socket = io(options);
  socket.on('welcome', function (welcome) {
    result.welcome = welcome;
    socket.emit('whoami', function (name) {
      result.whoami = name;
      result.transport = socket.io.engine.transport.name;
      socket.disconnect();
      window.__done = true;
    });
  });
  socket.on('connect_error', function (err) {
    result.connectError = err.message;
    window.__done = true;
  });
</script></body></html>
"""

CHAT06_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><script src="/socket.io.js"></script></head><body>
<script>
  var params = new URLSearchParams(location.search);
  var result = window.__result = {messages: []};
  var socket = new io.Socket(location.hostname, {
    port: location.port, transports: [params.get('transport') || 'websocket'],
    rememberTransport: false, reconnect: false});
  socket.on('message', function (message) {
    result.messages.push(message);
    if (result.messages.length === 1) socket.send('whoami');
    else { result.transport = socket.transport.type; window.__done = true; }
  });
  socket.on('disconnect', function () { result.disconnected = true; window.__done = true; });
  socket.connect();
</script></body></html>
"""


@app.route("/login", methods=["GET", "POST"])
def login():
    target = request.args.get("next") or "/chat"
    if request.method == "POST":
        user_id = request.form.get("username", "")
        if user_id in USERS and request.form.get("password") == USERS[user_id][1]:
            flask_login.login_user(User(user_id))
            session["theme"] = USERS[user_id][2]
            return redirect(target)
        return LOGIN_PAGE.format(next=target, error="wrong name or password"), 401
    return LOGIN_PAGE.format(next=target, error="")


@app.get("/logout")
def logout():
    flask_login.logout_user()
    return "logged out"


@app.get("/chat")
def chat():
    return CHAT_PAGE


@app.get("/chat06")
def chat06():
    return CHAT06_PAGE


@app.get("/socket.io.v4.js")
def client_v4():
    return send_file(CLIENT_V4, mimetype="application/javascript")


@app.get("/socket.io.js")
def client_06():
    return send_file(CLIENT_06, mimetype="application/javascript")


class Chat(geventio.flask.FlaskConnection):
    """Greets the logged-in user from on_open with what Flask's contexts hold."""

    flask_app = app

    def on_open(self, request):
        flask.g.greeted = True
        self.emit("welcome", {"user": flask_login.current_user.name,
                              "theme": session.get("theme"),
                              "path": flask.request.path})

    @geventio.event
    def whoami(self):
        return flask_login.current_user.name

    def on_message(self, message):  # the 0.6 client
        if message == "whoami":
            self.send("%s (greeted: %s)" % (flask_login.current_user.name,
                                            flask.g.get("greeted")))


router = geventio.get_router(Chat)
router.use(geventio.flask.login_required)
application = geventio.Application([router.route()], fallback=app, socket_io_port=0,
                                   socket_io_address="127.0.0.1", flash_policy_port=None)
