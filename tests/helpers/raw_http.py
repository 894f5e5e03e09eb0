"""Raw HTTP/1.1 exchanges for hostile-input tests: bytes out, everything the server sends
back until it closes (or a deadline), and a healthy client to check afterwards."""
import json
import socket
import time
from urllib.parse import urlsplit

from .wire import request

#: a request a smuggler hides in a body; the fallback app answers it "smuggled"
HIDDEN = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"

#: an Engine.IO URL (the lean path when its head is plain) and a socket.io 0.6 URL (pywsgi)
EIO_POST = "/socket.io/?EIO=4&transport=polling&sid=%s"
LEGACY_POST = "/socket.io/xhr-polling/%s/send"


def connect(base, timeout=5.0):
    parts = urlsplit(base)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def exchange(base, data, timeout=3.0):
    """Send ``data`` on a fresh connection; return (everything received, closed): closed is
    True when the server closed the connection within ``timeout``."""
    sock = connect(base)
    try:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may refuse and close before reading it all
        return read_until_closed(sock, timeout)
    finally:
        sock.close()


def read_until_closed(sock, timeout):
    """(bytes received, whether the peer closed) within ``timeout`` seconds."""
    received = b""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return received, False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return received, False
        except OSError:
            return received, True
        if not chunk:
            return received, True
        received += chunk


def status_of(response):
    """The status code of the first response in ``response``."""
    return int(response.split(b" ", 2)[1])


def assert_healthy(base):
    """A well-behaved client is served on both protocol generations."""
    status, _, body = request(base, "GET", "/socket.io/?EIO=4&transport=polling")
    assert status == 200 and body.startswith(b"0{"), (status, body[:100])
    assert json.loads(body[1:])["sid"]
    status, _, body = request(base, "GET", "/socket.io/xhr-polling//1305500000000")
    assert status == 200 and body.startswith(b"~m~"), (status, body[:100])


def legacy_session(base):
    """A socket.io 0.6 xhr-polling session id."""
    from .wire06 import decode
    _, _, body = request(base, "GET", "/socket.io/xhr-polling//1305500000000")
    return decode(body.decode("utf-8"))[0]


def eio_session(base):
    """An Engine.IO v4 polling session id."""
    _, _, body = request(base, "GET", "/socket.io/?EIO=4&transport=polling")
    return json.loads(body[1:])["sid"]
