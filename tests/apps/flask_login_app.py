"""A real Flask app with Flask-Login, wrapped by geventio (tests/test_flask_login.py).

* ``/login`` (GET: the form; POST: checks the password, ``login_user`` (with Flask-Login's
  remember-me cookie when the form says ``remember``), puts the user's ``theme`` into the
  session, redirects to ``next``), ``/logout``;
* ``/chat``, ``/chat06``: the socket.io-client 4.x and 0.6 pages of tests/apps/login_pages.py;
* the socket.io resource: :class:`Chat`, a FlaskConnection, behind ``login_required``.

``application`` is the geventio Application serving both.
"""
import flask
import flask_login
from flask import Flask, redirect, request, send_file, session

import geventio
import geventio.flask

from .login_pages import CHAT06_PAGE, CHAT_PAGE, CLIENT_06, CLIENT_V4

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

@app.route("/login", methods=["GET", "POST"])
def login():
    target = request.args.get("next") or "/chat"
    if request.method == "POST":
        user_id = request.form.get("username", "")
        if user_id in USERS and request.form.get("password") == USERS[user_id][1]:
            flask_login.login_user(User(user_id), remember=bool(request.form.get("remember")))
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
                              "path": flask.request.path,
                              "transport": flask.request.args.get("transport")})

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
