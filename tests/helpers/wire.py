"""Speak HTTP to a test server at the byte level, the way the 0.6 client's transports do."""
import http.client
import socket
import ssl
import time
from urllib.parse import parse_qs, quote, urlsplit

# For https:// bases: the tests' servers use self-signed certificates made for the test.
UNVERIFIED = ssl.create_default_context()
UNVERIFIED.check_hostname = False
UNVERIFIED.verify_mode = ssl.CERT_NONE


def source_address(parts):
    """The client's own address a base URL asks for with the fragment ``#from=127.0.1.1``
    (any 127.x.y.z is the loopback on Linux): (address, 0), or None for any."""
    chosen = parse_qs(parts.fragment).get("from")
    return (chosen[0], 0) if chosen else None


def connect(base, timeout):
    """A socket to ``base``'s host and port: from the address its fragment names, over TLS
    when it is https:// or wss:// (certificate not checked)."""
    parts = urlsplit(base)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout,
                                    source_address=source_address(parts))
    if parts.scheme in ("https", "wss"):
        sock = UNVERIFIED.wrap_socket(sock, server_hostname=parts.hostname)
    return sock


def _conn(base, timeout):
    parts = urlsplit(base)
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                           source_address=source_address(parts),
                                           context=UNVERIFIED)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout,
                                      source_address=source_address(parts))


def request(base, method, path, body=None, headers=None, timeout=10):
    """One HTTP request on a fresh connection: returns (status, headers dict (lower-case
    names), body bytes)."""
    conn = _conn(base, timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def form(payload):
    """The body the 0.6 XHR transports POST: data=<encodeURIComponent(payload)>."""
    return "data=" + quote(payload, safe="~()*!.'-_")


FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def post(base, path, payload, headers=None, timeout=10):
    all_headers = dict(FORM_HEADERS)
    all_headers.update(headers or {})
    return request(base, "POST", path, body=form(payload).encode("ascii"),
                   headers=all_headers, timeout=timeout)


class RawStream:
    """A raw socket reading a streaming response as it arrives."""

    def __init__(self, base, request_bytes, timeout=10):
        self.sock = connect(base, timeout)
        self.sock.sendall(request_bytes)
        self.buffer = b""

    def read_until(self, marker, timeout=10):
        """Read until ``marker`` is in the buffer; return and consume everything up to and
        including it."""
        deadline = time.monotonic() + timeout
        while marker not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no %r in %r" % (marker, self.buffer[-200:]))
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("stream ended; buffer %r" % self.buffer[-200:])
            self.buffer += chunk
        i = self.buffer.index(marker) + len(marker)
        out, self.buffer = self.buffer[:i], self.buffer[i:]
        return out

    def read_to_end(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("stream did not end")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                out, self.buffer = self.buffer, b""
                return out
            self.buffer += chunk

    def close(self):
        self.sock.close()
