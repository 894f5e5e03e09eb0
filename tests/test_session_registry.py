"""The session registry (geventio.sessions): one router's live sessions by id, the
``max_sessions`` limit, expiry of detached sessions and shutting everything down."""
import time

import pytest

from geventio.sessions import SessionRegistry, TooManySessions
from geventio.settings import Settings

from helpers.eio_client import echo_engine_router, url, wait_until
from helpers.server import make_application, serve
from helpers.wire import request
from helpers.wire06 import RFC6455Client


class FakeSession:
    """What the registry uses of a session: id, closed, expires_when_detached, close()."""

    def __init__(self, sid, expires=True):
        self.id = sid
        self.closed = False
        self.close_reason = None
        self.expires_when_detached = expires
        self.registry = None

    def close(self, reason="server close"):
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self.registry.forget(self)


def registry(**settings):
    return SessionRegistry(Settings.from_mapping(settings))


def create(reg, sid, expires=True):
    session = reg.create(FakeSession, sid, expires)
    session.registry = reg
    return session


def test_a_created_session_is_found_by_its_id():
    reg = registry()
    session = create(reg, "a" * 20)
    assert reg.get("a" * 20) is session
    assert "a" * 20 in reg and len(reg) == 1 and reg.count == 1


def test_an_unknown_or_empty_id_finds_nothing():
    reg = registry()
    create(reg, "a" * 20)
    assert reg.get("b" * 20) is None
    assert reg.get("") is None and reg.get(None) is None


def test_create_beyond_max_sessions_raises_too_many_sessions_and_builds_nothing():
    reg = registry(max_sessions=1)
    create(reg, "a" * 20)
    built = []
    with pytest.raises(TooManySessions) as info:
        reg.create(lambda: built.append(1))
    assert info.value.limit == 1 and built == []
    with pytest.raises(TooManySessions):
        reg.check_room()


def test_a_forgotten_session_frees_its_place_under_max_sessions():
    reg = registry(max_sessions=1)
    session = create(reg, "a" * 20)
    session.close()
    assert reg.get("a" * 20) is None and len(reg) == 0
    create(reg, "b" * 20)


def test_forget_drops_only_the_very_session_registered_under_that_id():
    reg = registry()
    session = create(reg, "a" * 20)
    impostor = FakeSession("a" * 20)
    reg.forget(impostor)
    assert reg.get("a" * 20) is session


def test_a_detached_session_expires_after_the_deadline():
    reg = registry()
    session = create(reg, "a" * 20)
    reg.detach(session)
    assert reg.expire(time.monotonic() - 60) == 0 and not session.closed
    assert reg.expire(time.monotonic() + 1) == 1
    assert session.closed and session.close_reason == "expired" and len(reg) == 0


def test_an_attached_session_never_expires():
    reg = registry()
    session = create(reg, "a" * 20)
    reg.detach(session)
    reg.attach(session)
    assert reg.expire(time.monotonic() + 1) == 0 and not session.closed


def test_a_session_of_a_generation_with_heartbeats_is_never_expired_by_the_registry():
    reg = registry()
    session = create(reg, "a" * 20, expires=False)
    reg.detach(session)
    assert reg.expire(time.monotonic() + 1) == 0 and not session.closed


def test_the_sweeper_expires_detached_sessions_every_check_interval():
    reg = registry(session_expiry=0.1, session_check_interval=0.05)
    session = create(reg, "a" * 20)
    assert reg.sweeping
    reg.detach(session)
    wait_until(lambda: session.closed, timeout=2)
    assert session.close_reason == "expired"


def test_the_sweeper_ends_once_no_session_that_expires_is_left():
    reg = registry(session_expiry=0.1, session_check_interval=0.05)
    session = create(reg, "a" * 20)
    session.close()
    wait_until(lambda: not reg.sweeping, timeout=2)


def test_the_sweeper_does_not_run_for_sessions_that_never_expire():
    reg = registry()
    create(reg, "a" * 20, expires=False)
    assert not reg.sweeping


def test_iteration_is_a_snapshot_so_closing_while_iterating_is_safe():
    reg = registry()
    for c in "abc":
        create(reg, c * 20)
    for session in reg:
        session.close()
    assert len(reg) == 0


def test_close_all_closes_every_session_and_stops_the_sweeper():
    reg = registry()
    sessions = [create(reg, c * 20) for c in "ab"]
    reg.close_all("server shutdown")
    assert all(s.closed and s.close_reason == "server shutdown" for s in sessions)
    assert not reg.sweeping and len(reg) == 0


# ------------------------------------------------------------------------- on the wire

@pytest.fixture
def full_server():
    """An Engine.IO echo router holding one session of max_sessions=1."""
    router = echo_engine_router("engine.io", max_sessions=1)
    with serve(make_application([router.route()])) as base:
        status, _, _ = request(base, "GET", url("engine.io"))
        assert status == 200
        yield router, base
    router.close()


def test_an_engineio_polling_handshake_beyond_max_sessions_gets_503(full_server):
    _router, base = full_server
    status, _, body = request(base, "GET", url("engine.io"))
    assert (status, body) == (503, b"too many sessions")


def test_an_engineio_websocket_only_handshake_beyond_max_sessions_gets_503_before_the_upgrade(
        full_server):
    router, base = full_server
    ws = RFC6455Client(base, "/engine.io/?EIO=4&transport=websocket")
    try:
        assert ws.status == 503
    finally:
        ws.sock.close()
    assert len(router.sessions) == 1
