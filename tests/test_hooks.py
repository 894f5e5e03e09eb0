"""Hooks at handler level, through geventio.testing.TestClient: the catch-all
``@event('*')``, ``on_error``, ``router.use`` and namespaces given by pattern."""
import logging
import re

import pytest

import geventio
from geventio.testing import TestClient


class CatchAll(geventio.SocketConnection):
    def on_message(self, message):
        self.emit("message seen", message)

    @geventio.event
    def known(self, value):
        self.emit("known seen", value)
        return "known"

    @geventio.event("*")
    def any_event(self, event, *args):
        self.emit("caught", event, list(args))
        return "caught " + event


class Raising(geventio.SocketConnection):
    errors = []

    def on_message(self, message):
        raise ValueError("bad message %s" % message)

    @geventio.event
    def boom(self, value):
        raise RuntimeError("boom %s" % value)

    @geventio.event
    def fine(self):
        return "fine"

    def on_error(self, exc, event, args):
        Raising.errors.append((type(exc).__name__, str(exc), event, args))
        self.emit("failed", event)


class Plain(geventio.SocketConnection):
    @geventio.event
    def boom(self):
        raise RuntimeError("boom")


def test_the_catch_all_gets_an_event_without_a_handler_with_its_name_and_arguments():
    with TestClient(geventio.Router(CatchAll)) as client:
        client.emit("unknown", 1, {"a": 2})
        assert client.received(wait=2) == [("caught", "unknown", [1, {"a": 2}])]


def test_an_event_with_its_own_handler_does_not_reach_the_catch_all():
    with TestClient(geventio.Router(CatchAll)) as client:
        assert client.call("known", 5) == "known"
        assert client.received(wait=0.2) == [("known seen", 5)]


def test_a_message_goes_to_on_message_not_to_the_catch_all():
    with TestClient(geventio.Router(CatchAll)) as client:
        client.send("hi")
        assert client.received(wait=0.5) == [("message seen", "hi")]


def test_the_catch_all_return_value_acknowledges():
    with TestClient(geventio.Router(CatchAll)) as client:
        assert client.call("other") == "caught other"


def test_a_raising_handler_reaches_on_error_with_the_event_and_its_arguments():
    Raising.errors.clear()
    with TestClient(geventio.Router(Raising)) as client:
        client.emit("boom", 3)
        assert client.received(wait=2) == [("failed", "boom")]
    assert Raising.errors == [("RuntimeError", "boom 3", "boom", (3,))]


def test_a_raising_on_message_reaches_on_error_as_the_message_event():
    Raising.errors.clear()
    with TestClient(geventio.Router(Raising)) as client:
        client.send("x")
        assert client.received(wait=2) == [("failed", "message")]
    assert Raising.errors == [("ValueError", "bad message x", "message", ("x",))]


def test_an_acked_event_whose_handler_raised_gets_no_ack_and_the_session_goes_on():
    with TestClient(geventio.Router(Raising)) as client:
        with pytest.raises(geventio.TimeoutError):
            client.call("boom", 1, timeout=0.5)
        assert client.call("fine") == "fine"


def test_the_default_on_error_logs_the_exception(caplog):
    with caplog.at_level(logging.ERROR, logger="geventio.connection"):
        with TestClient(geventio.Router(Plain)) as client:
            client.emit("boom")
            client.settle()
    record = [r for r in caplog.records if r.name == "geventio.connection"][0]
    assert "'boom'" in record.getMessage()
    assert record.exc_info[0] is RuntimeError


class Opened(geventio.SocketConnection):
    def on_open(self, request, auth=None):
        self.emit("opened", self.namespace, self.data.get("seen", []))


def test_middlewares_run_in_order_before_on_open():
    router = geventio.Router(Opened)
    router.use(lambda conn, request, auth: conn.data.setdefault("seen", []).append("first"))
    router.use(lambda conn, request, auth: conn.data["seen"].append(auth["token"]))
    with TestClient(router, auth={"token": "t"}) as client:
        assert client.received(wait=2) == [("opened", "/", ["first", "t"])]


def test_a_middleware_refuses_with_the_message_and_data_and_on_open_does_not_run():
    router = geventio.Router(Opened)

    def deny(conn, request, auth):
        raise geventio.ConnectionRefused("not authorized", {"code": 401})
    router.use(deny)
    client = TestClient(router)
    assert not client.connected
    assert client.refusal == {"message": "not authorized", "data": {"code": 401}}
    assert client.received() == []


def test_a_raising_middleware_refuses_as_an_internal_server_error():
    router = geventio.Router(Opened)
    router.use(lambda conn, request, auth: 1 / 0)
    client = TestClient(router)
    assert client.refusal == {"message": "Internal server error"}


def test_a_middleware_for_one_namespace_does_not_run_for_another():
    router = geventio.Router(Opened, namespaces={"/admin": Opened})

    def deny(conn, request, auth):
        raise geventio.ConnectionRefused("admins only")
    router.use(deny, namespace="/admin")
    assert TestClient(router, namespace="/admin").refusal == {"message": "admins only"}
    with TestClient(router) as client:
        assert client.connected


def test_a_middleware_for_every_namespace_runs_for_each():
    router = geventio.Router(Opened, namespaces={"/admin": Opened})
    router.use(lambda conn, request, auth: conn.data.setdefault("seen", []).append("all"))
    with TestClient(router, namespace="/admin") as client:
        assert client.received(wait=2) == [("opened", "/admin", ["all"])]


class Room(geventio.SocketConnection):
    def on_open(self, request, auth=None):
        self.join("members")
        self.emit("welcome", type(self).__name__, self.namespace)


def test_a_namespace_matching_a_regex_gets_the_pattern_class():
    router = geventio.Router(Opened, namespaces={re.compile(r"^/room-\d+$"): Room})
    with TestClient(router, namespace="/room-7") as client:
        assert client.received(wait=2) == [("welcome", "Room", "/room-7")]
        assert router.emit("news", 1, to="members", namespace="/room-7") == 1
        assert client.received(wait=2) == [("news", 1)]
    assert TestClient(router, namespace="/room-x").refusal == {"message": "Invalid namespace"}


def test_a_namespace_accepted_by_a_callable_gets_its_class():
    def allowed(name, auth):
        return name.startswith("/team-") and auth.get("member") is True
    router = geventio.Router(Opened, namespaces={allowed: Room})
    with TestClient(router, namespace="/team-a", auth={"member": True}) as client:
        assert client.received(wait=2) == [("welcome", "Room", "/team-a")]
    assert TestClient(router, namespace="/team-a").refusal == {"message": "Invalid namespace"}


def test_a_middleware_given_a_pattern_runs_for_the_namespaces_it_matches():
    rooms = re.compile(r"^/room-\d+$")
    router = geventio.Router(Opened, namespaces={rooms: Room})

    def deny(conn, request, auth):
        raise geventio.ConnectionRefused("closed")
    router.use(deny, namespace=rooms)
    assert TestClient(router, namespace="/room-1").refusal == {"message": "closed"}
    with TestClient(router) as client:
        assert client.connected


class Recoverable(geventio.SocketConnection):
    def on_open(self, request, auth=None):
        self.emit("opened", self.private_id, self.recovered)


def test_middlewares_are_skipped_for_a_recovered_connection():
    router = geventio.Router(Recoverable, settings={"connection_state_recovery": 30})
    calls = []
    router.use(lambda conn, request, auth: calls.append(conn.namespace))
    first = TestClient(router)
    [(_, pid, recovered)] = first.received(wait=2)
    assert calls == ["/"] and recovered is False
    router.emit("tick")
    [(_, offset)] = first.received(wait=2)
    first.session.close("transport close")  # the transport dropped: the state is kept
    with TestClient(router, auth={"pid": pid, "offset": offset}) as again:
        assert again.received(wait=2) == [("opened", pid, True)]
    assert calls == ["/"]
