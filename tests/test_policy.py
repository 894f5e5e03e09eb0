"""Flash socket policy: the dedicated server and the inline answer on the HTTP port."""
import time

import gevent
import gevent.socket
import pytest
from gevent.pywsgi import WSGIServer

from geventio.policy import (
    POLICY_REQUEST, FlashPolicyServer, answer_inline_policy, default_policy, load_policy,
)

# What node's socket.io 0.6 sends (shared/reference/transcripts-0.6/flashsocket.txt, 211 bytes).
NODE_POLICY = (
    b'<?xml version="1.0"?>\n'
    b'<!DOCTYPE cross-domain-policy SYSTEM '
    b'"http://www.macromedia.com/xml/dtds/cross-domain-policy.dtd">\n'
    b"<cross-domain-policy>\n"
    b'<allow-access-from domain="*" to-ports="*"/>\n'
    b"</cross-domain-policy>\n"
)


@pytest.fixture
def policy_server():
    servers = []

    def start(**kwargs):
        kwargs.setdefault("timeout", 2.0)
        srv = FlashPolicyServer(("127.0.0.1", 0), default_policy(), **kwargs)
        srv.start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop(timeout=1)


def connect(srv):
    return gevent.socket.create_connection(("127.0.0.1", srv.server_port), timeout=3)


def read_to_eof(sock):
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


# --------------------------------------------------------------------------- the policy XML

def test_default_policy_is_the_xml_node_serves():
    assert default_policy() == NODE_POLICY


def test_default_policy_names_the_given_domain_and_ports():
    assert b'<allow-access-from domain="example.com" to-ports="8000"/>' in \
        default_policy("example.com", 8000)


def test_default_policy_lists_several_domains():
    policy = default_policy(["a.example", "b.example"])
    assert policy.count(b"<allow-access-from ") == 2


def test_default_policy_escapes_attribute_values():
    assert b'domain="a&quot;b&lt;"' in default_policy('a"b<')


def test_load_policy_reads_the_file_and_drops_a_trailing_nul(tmp_path):
    path = tmp_path / "policy.xml"
    path.write_bytes(NODE_POLICY + b"\x00")
    assert load_policy(str(path)) == NODE_POLICY


def test_load_policy_rejects_an_empty_file(tmp_path):
    path = tmp_path / "policy.xml"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_policy(str(path))


# --------------------------------------------------------------------------- FlashPolicyServer

def test_policy_request_gets_the_policy_and_a_nul_then_close(policy_server):
    sock = connect(policy_server())
    sock.sendall(POLICY_REQUEST)
    assert read_to_eof(sock) == NODE_POLICY + b"\x00"


def test_policy_request_split_across_segments_is_answered(policy_server):
    sock = connect(policy_server())
    sock.sendall(POLICY_REQUEST[:5])
    gevent.sleep(0.05)
    sock.sendall(POLICY_REQUEST[5:])
    assert read_to_eof(sock) == NODE_POLICY + b"\x00"


def test_concurrent_clients_each_get_their_own_answer(policy_server):
    srv = policy_server()
    slow, fast = connect(srv), connect(srv)
    slow.sendall(POLICY_REQUEST[:10])
    gevent.sleep(0.05)
    fast.sendall(POLICY_REQUEST)
    assert read_to_eof(fast) == NODE_POLICY + b"\x00"
    slow.settimeout(0.2)
    with pytest.raises(gevent.socket.timeout):
        slow.recv(1)  # nothing was sent on the slow client's connection yet
    slow.settimeout(3)
    slow.sendall(POLICY_REQUEST[10:])
    assert read_to_eof(slow) == NODE_POLICY + b"\x00"


def test_silent_client_is_closed_after_the_timeout_without_delaying_others(policy_server):
    srv = policy_server(timeout=0.5)
    silent = connect(srv)
    started = time.monotonic()
    other = connect(srv)
    other.sendall(POLICY_REQUEST)
    assert read_to_eof(other) == NODE_POLICY + b"\x00"
    assert time.monotonic() - started < 0.4
    assert read_to_eof(silent) == b""
    assert 0.4 < time.monotonic() - started < 2.0


def test_garbage_is_closed_at_once_without_an_answer(policy_server):
    sock = connect(policy_server(timeout=2.0))
    started = time.monotonic()
    sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert read_to_eof(sock) == b""
    assert time.monotonic() - started < 1.0  # no wait for the timeout


def test_connections_beyond_max_connections_wait_for_a_free_slot(policy_server):
    srv = policy_server(timeout=0.5, max_connections=1)
    silent = connect(srv)
    gevent.sleep(0.05)
    started = time.monotonic()
    waiting = connect(srv)
    waiting.sendall(POLICY_REQUEST)
    assert read_to_eof(waiting) == NODE_POLICY + b"\x00"
    assert time.monotonic() - started > 0.3  # served once the silent client timed out
    silent.close()


# --------------------------------------------------------------------------- inline on HTTP port

@pytest.fixture
def pair():
    client, server = gevent.socket.socketpair()
    client.settimeout(3)
    yield client, server
    client.close()
    server.close()


def test_inline_policy_request_is_answered_and_reported_handled(pair):
    client, server = pair
    client.sendall(POLICY_REQUEST)
    assert answer_inline_policy(server, NODE_POLICY) is True
    server.close()
    assert read_to_eof(client) == NODE_POLICY + b"\x00"


def test_inline_http_request_is_not_consumed(pair):
    client, server = pair
    request = b"GET /socket.io/xhr-polling// HTTP/1.1\r\nHost: x\r\n\r\n"
    client.sendall(request)
    assert answer_inline_policy(server, NODE_POLICY) is False
    server.settimeout(3)
    assert server.recv(1000) == request


def test_inline_silent_client_gives_up_after_the_timeout(pair):
    _, server = pair
    started = time.monotonic()
    assert answer_inline_policy(server, NODE_POLICY, timeout=0.2) is False
    assert time.monotonic() - started < 1.0


def test_inline_garbage_starting_with_a_bracket_is_handled_without_an_answer(pair):
    client, server = pair
    client.sendall(b"<hello>\n")
    client.shutdown(gevent.socket.SHUT_WR)
    assert answer_inline_policy(server, NODE_POLICY, timeout=0.5) is True
    server.close()
    assert read_to_eof(client) == b""


class PolicyAwareWSGIServer(WSGIServer):
    """How a server puts the inline answer in front of pywsgi: in handle(), before parsing."""

    def handle(self, sock, address):
        if answer_inline_policy(sock, NODE_POLICY, timeout=1.0):
            sock.close()
            return
        super().handle(sock, address)


def test_inline_policy_and_http_share_one_pywsgi_port():
    def hello(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"hello"]

    srv = PolicyAwareWSGIServer(("127.0.0.1", 0), hello, log=None)
    srv.start()
    try:
        flash = connect(srv)
        flash.sendall(POLICY_REQUEST)
        assert read_to_eof(flash) == NODE_POLICY + b"\x00"
        http = connect(srv)
        http.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = read_to_eof(http)
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        assert response.endswith(b"\r\n\r\nhello")
    finally:
        srv.stop(timeout=1)
