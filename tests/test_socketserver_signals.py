"""geventio.SocketServer(application), serving forever in the main thread, stops as
gracefully as geventio-serve at SIGTERM and SIGINT: every on_close runs, exit status 0."""
import signal
import sys
import textwrap
import threading
import time

import pytest

from helpers.process import Child, free_port, wait_for_handshake
from helpers.raw_http import legacy_session
from helpers.wire import request

pytestmark = pytest.mark.timeout(60)

SCRIPT = textwrap.dedent('''
    from gevent import monkey; monkey.patch_all()
    import logging
    import os
    import sys

    import geventio

    logging.basicConfig(level=logging.INFO)
    CLOSED = sys.argv[2]


    class Echo(geventio.SocketConnection):
        def on_message(self, message):
            self.send(message)

        def on_close(self):
            with open(CLOSED, "a") as fh:
                fh.write(self.session_id + "\\n")


    router = geventio.get_router(Echo)
    application = geventio.Application([router.route()], socket_io_port=int(sys.argv[1]),
                                       socket_io_address="127.0.0.1", flash_policy_port=None)
    geventio.SocketServer(application)
    print("served to the end", flush=True)
''')


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_socketserver_stops_gracefully_at_a_signal(tmp_path, signum):
    (tmp_path / "serve.py").write_text(SCRIPT)
    closed = tmp_path / "closed.txt"
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    child = Child([sys.executable, str(tmp_path / "serve.py"), str(port), str(closed)])
    try:
        wait_for_handshake(child, base)
        sids = [legacy_session(base) for _ in range(5)]
        polls = []

        def poll(sid):  # a long-poll held open at the signal gets a complete answer
            polls.append(request(base, "GET", "/socket.io/xhr-polling/%s/1" % sid,
                                 timeout=15)[2])

        threads = [threading.Thread(target=poll, args=(sid,)) for sid in sids[:2]]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        child.signal(signum)
        code = child.wait(20)
        for thread in threads:
            thread.join(10)
        stdout, stderr = child.output()
    finally:
        child.close()
    assert code == 0, stderr
    assert "served to the end" in stdout
    assert "Traceback" not in stderr
    assert set(sids) <= set(closed.read_text().split())
    assert polls == [b"session closed"] * 2  # as under geventio-serve, not a bare EOF
