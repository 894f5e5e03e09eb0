"""geventio-serve, the command line: run as a real child process, as a user would."""
import re
import signal
import subprocess
import textwrap
from collections import namedtuple

import pytest

from helpers.process import Child, free_port, geventio_serve, running, wait_for_page
from helpers.wire import request

SERVE = geventio_serve()
AppDir = namedtuple("AppDir", "path port")

APP_SOURCE = textwrap.dedent('''
    import os

    import geventio

    CLOSED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "closed.txt")


    class Echo(geventio.SocketConnection):
        def on_message(self, message):
            self.send(message)

        def on_close(self):
            with open(CLOSED, "a") as fh:
                fh.write(self.session_id + "\\n")


    def hello(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello from the fallback"]


    router = geventio.get_router(Echo)
    application = geventio.Application([router.route()], fallback=hello, socket_io_port=PORT,
                                       socket_io_address="127.0.0.1", flash_policy_port=None)
    plain_wsgi = hello
    NOT_AN_APP = 42
''')


@pytest.fixture
def app_dir(tmp_path):
    """A directory holding app.py, whose Application listens on ``.port`` by default."""
    port = free_port()
    (tmp_path / "app.py").write_text(APP_SOURCE.replace("PORT", str(port)))
    return AppDir(tmp_path, port)


def run_cli(*args, cwd=None, timeout=30):
    return subprocess.run(SERVE + list(args), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def session_id(handshake_body):
    match = re.match(r"~m~(\d+)~m~", handshake_body.decode())
    assert match, handshake_body
    return handshake_body.decode()[match.end():match.end() + int(match.group(1))]


def test_help_explains_the_target_and_every_option():
    result = run_cli("--help", timeout=20)
    assert result.returncode == 0
    text = result.stdout
    assert text.startswith("usage: geventio-serve")
    assert "module:application" in text and "file.py:application" in text
    for option in ("--host", "--port", "--flash-policy-port", "--no-flash-policy",
                   "--log-level"):
        assert option in text


def test_file_target_serves_socket_io_and_the_fallback_on_the_given_host_and_port(app_dir):
    port = free_port()
    cmd = SERVE + [str(app_dir.path / "app.py") + ":application", "--port", str(port),
                   "--host", "127.0.0.1", "--no-flash-policy"]
    with running(cmd, port) as (child, base, handshake):
        assert len(session_id(handshake)) == 20
        status, _, body = request(base, "GET", "/")
        assert (status, body) == (200, b"hello from the fallback")


def test_sigterm_closes_every_session_and_exits_zero(app_dir):
    port = free_port()
    cmd = SERVE + [str(app_dir.path / "app.py") + ":application", "--port", str(port),
                   "--host", "127.0.0.1", "--no-flash-policy"]
    with running(cmd, port) as (child, base, handshake):
        child.signal(signal.SIGTERM)
        code = child.wait(15)
        _, stderr = child.output()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert (app_dir.path / "closed.txt").read_text().split() == [session_id(handshake)]


def test_sigint_exits_zero_like_ctrl_c(app_dir):
    port = free_port()
    cmd = SERVE + [str(app_dir.path / "app.py") + ":application", "--port", str(port),
                   "--no-flash-policy"]
    with running(cmd, port) as (child, base, handshake):
        child.signal(signal.SIGINT)
        code = child.wait(15)
        _, stderr = child.output()
    assert code == 0, stderr
    assert "Traceback" not in stderr


def test_module_target_is_imported_from_the_current_directory(app_dir):
    port = free_port()
    cmd = SERVE + ["app:application", "--port", str(port), "--host", "127.0.0.1",
                   "--no-flash-policy"]
    with running(cmd, port, cwd=str(app_dir.path)) as (child, base, handshake):
        assert handshake.startswith(b"~m~20~m~")


def test_without_port_the_applications_socket_io_port_is_used(app_dir):
    cmd = SERVE + ["app:application", "--no-flash-policy"]
    with running(cmd, app_dir.port, cwd=str(app_dir.path)) as (child, base, handshake):
        assert handshake.startswith(b"~m~20~m~")


def test_a_plain_wsgi_app_is_served_as_is(app_dir):
    port = free_port()
    cmd = SERVE + ["app:plain_wsgi", "--port", str(port), "--host", "127.0.0.1"]
    child = Child(cmd, cwd=str(app_dir.path))
    try:
        body = wait_for_page(child, "http://127.0.0.1:%d" % port, "/anything")
        assert body == b"hello from the fallback"
    finally:
        child.close()


def test_file_target_is_a_real_module_so_dataclasses_in_it_work(tmp_path):
    """Python's dataclasses look their class's module up in sys.modules."""
    (tmp_path / "dc_app.py").write_text(textwrap.dedent('''
        from __future__ import annotations

        import dataclasses
        import typing

        import geventio


        @dataclasses.dataclass
        class Options:
            greeting: typing.ClassVar[str] = "hi"
            repeat: int = 1


        class Echo(geventio.SocketConnection):
            def on_message(self, message):
                self.send(message)


        application = geventio.Application([geventio.get_router(Echo).route()],
                                           flash_policy_port=None)
    '''))
    port = free_port()
    cmd = SERVE + [str(tmp_path / "dc_app.py") + ":application", "--port", str(port),
                   "--host", "127.0.0.1"]
    with running(cmd, port) as (child, base, handshake):
        assert handshake.startswith(b"~m~20~m~")


@pytest.mark.parametrize("target, says", [
    ("no_such_module_here:application", "no_such_module_here"),
    ("missing_dir/missing.py:application", "no such file"),
    ("app.py:no_such_attribute", "no_such_attribute"),
    ("app:NOT_AN_APP", "not a WSGI application"),
    ("app.py", "module:application"),
], ids=["unknown-module", "missing-file", "missing-attribute", "not-callable", "no-colon"])
def test_a_bad_target_exits_non_zero_with_a_one_line_reason(app_dir, target, says):
    result = run_cli(target, "--port", str(free_port()), "--no-flash-policy",
                     cwd=str(app_dir.path), timeout=20)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert says in result.stderr
    assert result.stderr.startswith("geventio-serve: ")


def test_an_error_raised_while_importing_the_target_is_reported_with_its_traceback(tmp_path):
    (tmp_path / "broken.py").write_text("import geventio\nraise RuntimeError('boom at import')\n")
    result = run_cli("broken:application", "--no-flash-policy", cwd=str(tmp_path), timeout=20)
    assert result.returncode != 0
    assert "boom at import" in result.stderr


def test_port_in_use_is_a_clear_error(app_dir):
    port = free_port()
    first = SERVE + ["app:application", "--port", str(port), "--host", "127.0.0.1",
                     "--no-flash-policy"]
    with running(first, port, cwd=str(app_dir.path)):
        result = run_cli("app:application", "--port", str(port), "--host", "127.0.0.1",
                         "--no-flash-policy", cwd=str(app_dir.path), timeout=20)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert str(port) in result.stderr


def test_requests_are_not_logged_at_info_level(app_dir):
    """The README: the request log is 'geventio.access', at DEBUG."""
    port = free_port()
    cmd = SERVE + ["app:application", "--port", str(port), "--host", "127.0.0.1",
                   "--no-flash-policy", "--log-level", "info"]
    with running(cmd, port, cwd=str(app_dir.path)) as (child, base, handshake):
        request(base, "GET", "/some/page")
        child.signal(signal.SIGTERM)
        child.wait(15)
        _, stderr = child.output()
    assert "GET /some/page" not in stderr


def test_the_announced_url_is_a_valid_url_when_listening_on_all_interfaces(app_dir):
    port = free_port()
    cmd = SERVE + ["app:application", "--port", str(port), "--host", "",
                   "--no-flash-policy"]
    with running(cmd, port, cwd=str(app_dir.path)) as (child, base, handshake):
        child.signal(signal.SIGTERM)
        child.wait(15)
        _, stderr = child.output()
    [url] = re.findall(r"serving on (\S+)", stderr)
    assert not url.startswith("http://::"), url
