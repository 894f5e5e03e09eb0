"""WatchedDict (geventio.monitor): a connection's ``data`` while the Admin UI watches it
reports every change, as node's Proxy on ``socket.data`` does, and otherwise is a dict."""
import copy
import json
import pickle

import msgpack

from geventio.monitor import WatchedDict


def watched(items=None, quiet=None):
    changes = []
    data = WatchedDict(items or {}, lambda: changes.append(dict(data)), quiet=quiet)
    return data, changes


def test_making_it_reports_nothing():
    _, changes = watched({"a": 1})
    assert changes == []


def test_setting_a_key_reports_the_change():
    data, changes = watched()
    data["name"] = "ada"
    assert changes == [{"name": "ada"}]


def test_deleting_popping_updating_and_clearing_each_report():
    data, changes = watched({"a": 1, "b": 2, "c": 3})
    del data["a"]
    assert data.pop("b") == 2
    data.update({"d": 4}, e=5)
    assert data.setdefault("f", 6) == 6
    data.popitem()
    data.clear()
    assert len(changes) == 6 and data == {}


def test_reading_and_unchanged_calls_report_nothing():
    data, changes = watched({"a": 1})
    assert data.get("a") == 1 and data.setdefault("a", 9) == 1 and data.pop("x", None) is None
    assert changes == []


def test_a_dict_stored_in_it_is_watched_too():
    data, changes = watched({"profile": {"name": "ada"}})
    data["profile"]["age"] = 36
    data["extra"] = {}
    data["extra"]["k"] = "v"
    assert len(changes) == 3


def test_quiet_entries_are_stored_as_they_are():
    data, changes = watched({"a": 1}, quiet={"_admin": {"transport": "polling"}})
    data["_admin"]["transport"] = "websocket"
    assert changes == [] and data["_admin"] == {"transport": "websocket"}


def test_copies_pickles_and_encodings_are_plain():
    data, _ = watched({"profile": {"name": "ada"}})
    for copied in (copy.copy(data), copy.deepcopy(data), pickle.loads(pickle.dumps(data))):
        assert type(copied) is dict and copied == {"profile": {"name": "ada"}}
    assert json.loads(json.dumps(data)) == {"profile": {"name": "ada"}}
    assert msgpack.unpackb(msgpack.packb(data)) == {"profile": {"name": "ada"}}
