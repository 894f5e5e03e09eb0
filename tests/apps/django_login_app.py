"""A real Django site with django.contrib.auth, wrapped by geventio (tests/test_django_login.py).

Importing it configures Django for the whole test process (:func:`configure`, also used by
tests/test_middleware.py): auth, contenttypes and sessions on SQLite in a temporary
directory, migrated, with two users.

* ``/login/``: django.contrib.auth's LoginView (its form, CSRF included) with a template;
  a successful login also puts the user's ``theme`` into the session; ``/logout/``;
* ``/note/``: the session's ``note`` (what a socket handler saved), as text;
* ``/chat/``, ``/chat06/``: the socket.io-client 4.x and 0.6 pages of
  tests/apps/login_pages.py;
* the socket.io resource: :class:`Chat`, a DjangoConnection, behind ``login_required``.

``application`` is the geventio Application serving both.
"""
import atexit
import os
import shutil
import tempfile

import django
from django.conf import settings

#: user name -> (first name, last name, password, theme)
USERS = {
    "ada": ("Ada", "Lovelace", "analytical-engine", "dark"),
    "grace": ("Grace", "Hopper", "cobol", "light"),
}

LOGIN_TEMPLATE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Log in</title></head><body>
<form method="post" action="">{% csrf_token %}
  {{ form.username }} {{ form.password }}
  <input type="hidden" name="next" value="{{ next }}">
  <button id="login" type="submit">Log in</button>
</form>
{% if form.errors %}<p id="error">wrong name or password</p>{% endif %}
</body></html>
"""


def configure():
    """Configure Django once for this process (settings, migrations, users)."""
    if settings.configured:
        return
    directory = tempfile.mkdtemp(prefix="geventio-django-")
    atexit.register(shutil.rmtree, directory, True)
    settings.configure(
        SECRET_KEY="geventio-tests-only",
        DEBUG=False,
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                        "django.contrib.sessions"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                               "NAME": os.path.join(directory, "site.sqlite3")}},
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                    "django.middleware.csrf.CsrfViewMiddleware",
                    "django.contrib.auth.middleware.AuthenticationMiddleware"],
        ROOT_URLCONF=__name__,
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                    "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader",
                                             {"registration/login.html": LOGIN_TEMPLATE})]}}],
        LOGIN_REDIRECT_URL="/chat/",
        LOGOUT_REDIRECT_URL="/login/",
        # fast hashing: these users exist only in a throwaway database
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        USE_TZ=True,
    )
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    for name, (first, last, password, _theme) in USERS.items():
        User.objects.create_user(name, password=password, first_name=first, last_name=last)


configure()

# ruff: noqa: E402  -- Django's own modules need the settings configured first
from django.contrib.auth.views import LoginView, LogoutView
from django.http import FileResponse, HttpResponse
from django.urls import path

import geventio
import geventio.django

from .login_pages import CHAT06_PAGE, CHAT_PAGE, CLIENT_06, CLIENT_V4


class SiteLogin(LoginView):
    """django.contrib.auth's login view; the user's theme goes into the session too."""

    def form_valid(self, form):
        response = super().form_valid(form)
        self.request.session["theme"] = USERS[form.get_user().get_username()][3]
        return response


def page(body):
    return lambda request: HttpResponse(body)


def script(filename):
    return lambda request: FileResponse(open(filename, "rb"),
                                        content_type="application/javascript")


def note(request):
    return HttpResponse(request.session.get("note", ""), content_type="text/plain")


urlpatterns = [
    path("login/", SiteLogin.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("note/", note),
    path("chat/", page(CHAT_PAGE)),
    path("chat06/", page(CHAT06_PAGE)),
    path("socket.io.v4.js", script(CLIENT_V4)),
    path("socket.io.js", script(CLIENT_06)),
]


class Chat(geventio.django.DjangoConnection):
    """Greets the logged-in user from on_open with what the Django request holds."""

    def on_open(self, request):
        site_request = self.django_request
        self.emit("welcome", {"user": site_request.user.get_full_name(),
                              "theme": site_request.session.get("theme"),
                              "path": site_request.path,
                              "transport": site_request.GET.get("transport")})

    @geventio.event
    def whoami(self):
        return self.django_request.user.get_full_name()

    def on_message(self, message):  # the 0.6 client
        if message == "whoami":
            self.send(self.django_request.user.get_full_name())


router = geventio.get_router(Chat)
router.use(geventio.django.login_required)


def make_application():
    """A fresh geventio Application of the site (Django's WSGI handler as the fallback)."""
    from django.core.wsgi import get_wsgi_application

    return geventio.Application([router.route()], fallback=get_wsgi_application(),
                                socket_io_port=0, socket_io_address="127.0.0.1",
                                flash_policy_port=None)
