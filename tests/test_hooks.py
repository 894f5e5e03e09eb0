"""Hooks at handler level, through geventio.testing.TestClient: the catch-all
``@event('*')``, ``on_error``, ``router.use`` and namespaces given by pattern."""
import logging

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
