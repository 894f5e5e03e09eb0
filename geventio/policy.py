"""Flash socket policy: the ``<policy-file-request/>`` exchange of Flash XMLSocket clients.

The socket.io 0.6 flashsocket transport runs in a Flash SWF, which asks
``xmlsocket://host:843`` for a policy before opening its WebSocket. :class:`FlashPolicyServer`
answers on a dedicated port; :func:`answer_inline_policy` answers on the HTTP port as node's
socket.io 0.6 does, before the HTTP server reads the request line.
"""
from __future__ import annotations

import logging
import socket
from typing import Any, Iterable, Optional, Union
from xml.sax.saxutils import escape

import gevent
from gevent.server import StreamServer

__all__ = ["POLICY_REQUEST", "default_policy", "load_policy", "FlashPolicyServer",
           "read_policy_request", "answer_inline_policy"]

log = logging.getLogger(__name__)

#: The 23 bytes a Flash client sends: the request followed by a NUL.
POLICY_REQUEST = b"<policy-file-request/>\x00"


def default_policy(domain: Union[str, Iterable[str]] = "*", ports: Union[str, int] = "*") -> bytes:
    """A cross-domain policy allowing ``domain`` (one or several) to reach ``ports``.

    With the defaults this is byte for byte the XML node's socket.io 0.6 serves.
    """
    domains = [domain] if isinstance(domain, str) else list(domain)
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE cross-domain-policy SYSTEM '
        '"http://www.macromedia.com/xml/dtds/cross-domain-policy.dtd">',
        "<cross-domain-policy>",
    ]
    for name in domains:
        lines.append('<allow-access-from domain="%s" to-ports="%s"/>'
                     % (_attr(name), _attr(ports)))
    lines.append("</cross-domain-policy>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _attr(value: object) -> str:
    return escape(str(value), {'"': "&quot;"})


def load_policy(path: str) -> bytes:
    """Read a policy file once (a trailing NUL is dropped; the servers append their own)."""
    with open(path, "rb") as fh:
        policy = fh.read()
    policy = policy.rstrip(b"\x00")
    if not policy.strip():
        raise ValueError("the Flash policy file %s is empty" % path)
    if b"\x00" in policy:
        raise ValueError("the Flash policy file %s contains a NUL byte" % path)
    return policy


def reply(policy: bytes) -> bytes:
    """What a Flash client receives: the policy, NUL-terminated."""
    return policy.rstrip(b"\x00") + b"\x00"


def read_policy_request(sock: Any) -> bytes:
    """Read what a policy client sends: at most 23 bytes, stopping after a NUL, at EOF, or
    as soon as the bytes stop matching the request.

    Blocks; bound it with a ``gevent.Timeout``.
    """
    data = b""
    while len(data) < len(POLICY_REQUEST):
        chunk = sock.recv(len(POLICY_REQUEST) - len(data))
        if not chunk:
            break
        data += chunk
        if b"\x00" in chunk or not POLICY_REQUEST.startswith(data):
            break
    return data


def _is_policy_request(data: bytes) -> bool:
    # Flash sends the NUL; accept a client that closed right after the 22 characters.
    return data == POLICY_REQUEST or data == POLICY_REQUEST[:-1]


def _serve_one(sock: Any, address: Any, reply: bytes, timeout: float) -> bool:
    """One policy exchange on a connected socket; True when the policy was sent."""
    deadline = gevent.Timeout(timeout)
    try:
        with deadline:
            data = read_policy_request(sock)
            if not _is_policy_request(data):
                log.info("Flash policy: %s sent %r instead of a policy request; closing",
                         address, data[:32])
                return False
            sock.sendall(reply)
    except gevent.Timeout as exc:
        if exc is not deadline:
            raise
        log.info("Flash policy: %s sent no complete request within %ss; closing",
                 address, timeout)
        return False
    except OSError as exc:
        log.debug("Flash policy: connection from %s failed: %s", address, exc)
        return False
    log.debug("Flash policy: sent the policy to %s", address)
    return True


class FlashPolicyServer(StreamServer):
    """Serves the Flash socket policy (usually on port 843).

    Each connection may send the 23-byte policy request within ``timeout`` seconds; it gets
    ``policy`` followed by a NUL, then the connection is closed. At most
    ``max_connections`` exchanges run at once (further connections wait in the backlog).
    """

    def __init__(self, listener: Any, policy: bytes, timeout: float = 5.0,
                 max_connections: int = 1000, **kwargs: Any) -> None:
        if not isinstance(policy, bytes):
            raise TypeError("the policy must be bytes, e.g. default_policy()")
        self.policy = policy
        self.timeout = timeout
        self._reply = reply(policy)
        kwargs.setdefault("spawn", max_connections)
        super().__init__(listener, **kwargs)

    def handle(self, sock: Any, address: Any) -> None:
        """Answer one connection (all state is local to this call)."""
        try:
            _serve_one(sock, address, self._reply, self.timeout)
        finally:
            try:
                sock.close()
            except OSError:
                pass


def answer_inline_policy(sock: Any, policy: bytes, timeout: float = 5.0) -> bool:
    """Serve a policy request arriving on the HTTP port; call before the HTTP parser reads.

    Peeks at the first byte of the freshly accepted (gevent) socket without consuming it. If
    it is ``<``, the policy exchange runs and True is returned: the caller must close the
    socket (it was a policy request, answered, or garbage). Otherwise nothing is consumed
    and False is returned: hand the socket to the HTTP server. A client silent for
    ``timeout`` seconds, or one that closes at once, also gives False.
    """
    address = _peer_name(sock)
    deadline = gevent.Timeout(timeout)
    try:
        with deadline:
            first = sock.recv(1, socket.MSG_PEEK)
    except gevent.Timeout as exc:
        if exc is not deadline:
            raise
        log.debug("inline Flash policy: %s sent nothing within %ss", address, timeout)
        return False
    except (OSError, ValueError) as exc:  # ValueError: an SSL socket refuses MSG_PEEK
        log.debug("inline Flash policy: peeking at %s failed: %s", address, exc)
        return False
    if first != b"<":
        return False
    _serve_one(sock, address, reply(policy), timeout)
    return True


def _peer_name(sock: Any) -> Optional[Any]:
    try:
        return sock.getpeername()
    except (OSError, AttributeError):
        return None
