"""geventio-serve --reload: a parent that restarts the server when the app's files change."""
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from helpers.process import Child, free_port, geventio_serve, wait_for_handshake
from helpers.wire import request

from geventio.reload import changed, parent_death_signal, snapshot, watched_root

SERVE = geventio_serve()

APP = textwrap.dedent('''
    import os

    import geventio

    VERSION = "VERSION_TEXT"
    CLOSED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "closed.txt")


    class Greeter(geventio.SocketConnection):
        def on_open(self, request):
            self.send("hello from " + VERSION)

        def on_close(self):
            with open(CLOSED, "a") as fh:
                fh.write("%s %s\\n" % (VERSION, self.session_id))


    def version(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [VERSION.encode()]


    application = geventio.Application([geventio.get_router(Greeter).route()],
                                       fallback=version, flash_policy_port=None)
''')


def write_app(path, version, source=APP):
    path.write_text(source.replace("VERSION_TEXT", version))
    # a new mtime even on a file system with coarse timestamps
    stamp = time.time() + 2
    os.utime(path, (stamp, stamp))


def session_id(handshake):
    text = handshake.decode()
    length_end = text.index("~m~", 3)
    length = int(text[3:length_end])
    return text[length_end + 3:length_end + 3 + length]


def greeting(base, handshake):
    """The handshake's messages, or else the next poll's (where on_open's send went)."""
    text = handshake.decode()
    if "hello from" in text:
        return text
    _, _, body = request(base, "GET", "/socket.io/xhr-polling/%s/%d"
                         % (session_id(handshake), int(time.time() * 1000)))
    return body.decode()


def wait_for_version(child, base, version, timeout=30.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        assert child.proc.poll() is None, child.output()
        try:
            status, _, body = request(base, "GET", "/version", timeout=5)
            last = (status, body)
            if (status, body) == (200, version.encode()):
                return
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError("never served %s (last %r); output: %r"
                         % (version, last, child.output()))


def reloading(tmp_path, port):
    cmd = SERVE + [str(tmp_path / "app.py") + ":application", "--reload", "--port",
                   str(port), "--host", "127.0.0.1", "--no-flash-policy"]
    return Child(cmd, cwd=str(tmp_path))


def test_a_change_restarts_the_server_gracefully_with_the_new_code(tmp_path):
    write_app(tmp_path / "app.py", "v1")
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    child = reloading(tmp_path, port)
    try:
        handshake = wait_for_handshake(child, base)
        sid = session_id(handshake)
        assert "hello from v1" in greeting(base, handshake)
        write_app(tmp_path / "app.py", "v2")
        wait_for_version(child, base, "v2")
        # the old server's session was closed by a graceful stop: its on_close ran
        assert (tmp_path / "closed.txt").read_text().split() == ["v1", sid]
        handshake = wait_for_handshake(child, base)
        sid2 = session_id(handshake)
        assert "hello from v2" in greeting(base, handshake)
        child.signal()
        assert child.wait(20) == 0, child.output()
    finally:
        child.close()
    assert (tmp_path / "closed.txt").read_text().split() == ["v1", sid, "v2", sid2]


def test_a_syntax_error_waits_for_the_fix(tmp_path):
    write_app(tmp_path / "app.py", "v1")
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    child = reloading(tmp_path, port)
    try:
        wait_for_version(child, base, "v1")
        write_app(tmp_path / "app.py", "v2", source=APP + "\ndef broken(:\n")
        deadline = time.monotonic() + 30
        while "waiting for a file to change" not in child.output()[1]:
            assert time.monotonic() < deadline, child.output()
            assert child.proc.poll() is None, child.output()
            time.sleep(0.1)
        assert "SyntaxError" in child.output()[1]
        write_app(tmp_path / "app.py", "v3")
        wait_for_version(child, base, "v3")
        child.signal()
        assert child.wait(20) == 0, child.output()
    finally:
        child.close()


def test_reload_with_workers_is_refused():
    result = subprocess.run(SERVE + ["app:application", "--reload", "--workers", "2"],
                            capture_output=True, text=True, timeout=30,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "--reload cannot be used with --workers" in result.stderr


def test_the_watched_files(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "app.py").write_text("")
    (tmp_path / "pkg" / "sub" / "helpers.py").write_text("")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "junk.py").write_text("")
    (tmp_path / "pkg" / "notes.txt").write_text("")
    assert watched_root("pkg.app:application", cwd=str(tmp_path)) == str(tmp_path / "pkg")
    assert watched_root("pkg/app.py:application", cwd=str(tmp_path)) == str(tmp_path / "pkg")
    (tmp_path / "single.py").write_text("")
    assert watched_root("single:application", cwd=str(tmp_path)) == str(tmp_path)
    before = snapshot(str(tmp_path / "pkg"))
    assert sorted(os.path.relpath(p, tmp_path) for p in before) == [
        os.path.join("pkg", "__init__.py"), os.path.join("pkg", "app.py"),
        os.path.join("pkg", "sub", "helpers.py")]
    helpers = tmp_path / "pkg" / "sub" / "helpers.py"
    helpers.write_text("X = 1\n")
    (tmp_path / "pkg" / "new.py").write_text("")
    after = snapshot(str(tmp_path / "pkg"))
    assert changed(before, after) == sorted([str(helpers), str(tmp_path / "pkg" / "new.py")])
    assert changed(after, after) == []


def test_sigint_to_the_reloader_stops_the_server_gracefully(tmp_path):
    """SIGINT (Ctrl-C) to the reloader: the server gets one SIGTERM and closes its sessions.
    (The server runs in its own session, so a terminal's Ctrl-C reaches only the reloader;
    that part is not simulated here.)"""
    write_app(tmp_path / "app.py", "v1")
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    child = reloading(tmp_path, port)
    try:
        sid = session_id(wait_for_handshake(child, base))
        os.kill(child.pid, signal.SIGINT)
        assert child.wait(20) == 0, child.output()
    finally:
        child.close()
    assert (tmp_path / "closed.txt").read_text().split() == ["v1", sid]


def _server_pid(child, timeout=30.0):
    """The server's pid, from the reloader's "started the server (pid N)" line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"started the server \(pid (\d+)\)", child.output()[1])
        if match:
            return int(match.group(1))
        time.sleep(0.05)
    raise AssertionError("no server pid in %r" % (child.output(),))


def _gone(pid):
    """Whether ``pid`` has exited (a zombie nobody reaped counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _port_free(port):
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_the_server_exits_and_frees_the_port_when_the_reloader_is_killed(tmp_path):
    write_app(tmp_path / "app.py", "v1")
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    child = reloading(tmp_path, port)
    try:
        wait_for_version(child, base, "v1")
        server = _server_pid(child)
        child.signal(signal.SIGKILL)  # the reloader cannot pass anything on
        child.proc.wait(10)
        deadline = time.monotonic() + 20
        while not (_gone(server) and _port_free(port)):
            assert time.monotonic() < deadline, "server %d still alive or port busy" % server
            time.sleep(0.1)
    finally:
        child.close()
        if not _gone(server):
            os.kill(server, signal.SIGKILL)


ORPHAN = textwrap.dedent('''
    import os, signal, subprocess, sys, time
    if sys.argv[1:] == ["child"]:
        from gevent import monkey
        monkey.patch_all()
        import gevent
        from geventio.reload import watch_parent
        watch_parent(int(os.environ["PARENT"]), lambda: sys.exit(0),
                     interval=0.1).join()
    else:
        env = dict(os.environ, PARENT=str(os.getpid()))
        proc = subprocess.Popen([sys.executable, __file__, "child"], env=env)
        print(proc.pid, flush=True)
        time.sleep(60)
''')


def test_without_prctl_a_greenlet_watching_the_parent_id_sees_it_die(tmp_path):
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    orphan = None
    try:
        orphan = int(parent.stdout.readline())
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 20
        while not _gone(orphan):
            assert time.monotonic() < deadline, "the orphan %d kept running" % orphan
            time.sleep(0.1)
    finally:
        parent.kill()
        parent.wait(10)
        parent.stdout.close()
        if orphan is not None and not _gone(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_an_abbreviated_option_is_refused_not_taken_for_reload():
    result = subprocess.run(SERVE + ["app:application", "--rel"], capture_output=True,
                            text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "unrecognized arguments: --rel" in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_on_linux_the_parent_death_signal_is_asked_of_the_kernel():
    assert parent_death_signal(0) is True  # 0 clears it: nothing changes for this process
