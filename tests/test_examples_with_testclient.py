"""The examples' handlers (chatroom, ping, transports) through geventio.testing.TestClient."""
import importlib.util
import os

import pytest

from geventio.testing import TestClient
from helpers import REPO_ROOT


def load_example(name):
    """A fresh copy of examples/<name>/<name>.py, with a router of its own."""
    path = os.path.join(REPO_ROOT, "examples", name, name + ".py")
    spec = importlib.util.spec_from_file_location("testclient_example_" + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def chatroom():
    module = load_example("chatroom")
    yield module.application
    module.application.close()


def test_chatroom_welcomes_a_new_user(chatroom):
    assert TestClient(chatroom).received() == [("message", "Welcome!")]


def test_chatroom_sends_a_message_to_everyone_in_the_room_sender_included(chatroom):
    ann, bob = TestClient(chatroom), TestClient(chatroom)
    ann.received(), bob.received()
    ann.send("hello")
    assert ann.received() == [("message", "hello")]
    assert bob.received() == [("message", "hello")]


def test_chatroom_tells_the_others_when_a_user_leaves(chatroom):
    ann, bob = TestClient(chatroom), TestClient(chatroom)
    bob.received()
    ann.disconnect()
    assert bob.received() == [("message", "A user has left.")]


def test_ping_answers_with_the_clients_object_plus_server_time_and_address():
    app = load_example("ping").application
    client = TestClient(app, remote_addr="10.1.2.3")
    client.send({"client": 5})
    [(kind, answer)] = client.received()
    assert kind == "message"
    assert answer["client"] == 5 and answer["ip"] == "10.1.2.3"
    assert isinstance(answer["server"], float)
    app.close()


def test_ping_wraps_a_text_message_in_an_object():
    app = load_example("ping").application
    client = TestClient(app)
    client.send("hi")
    assert client.received()[0][1]["text"] == "hi"
    app.close()


def test_transports_echoes_every_message_back():
    app = load_example("transports").application
    client = TestClient(app)
    client.send("one")
    client.send({"two": 2})
    assert client.received() == [("message", "one"), ("message", {"two": 2})]
    client.disconnect()
    assert not client.connected
    app.close()
