"""The in-memory adapter (geventio.adapters.memory): room membership indexed both ways,
addressing with to/skip, room notifications, and a broadcast encoded once per protocol
generation with the same items pushed to every recipient of that generation."""
import pytest

import geventio
from geventio.adapters import Adapter, BroadcastOptions, InMemoryAdapter
from geventio.legacy import LegacySession
from geventio.protocol import legacy as codec
from geventio.protocol import socketio as sio
from geventio.sockets import SocketIOSession


class FakeSession:
    """A session class that counts its encodings and records what it is pushed."""

    encodings = 0
    real = None  # the session class whose encoding this one borrows

    def __init__(self):
        self.pushed = []

    @classmethod
    def encode_packets(cls, packets):
        FakeSession.encodings += 1
        return cls.real.encode_packets(packets)

    def push_for(self, conn, items):
        self.pushed.append(items)


class Fake06(FakeSession):
    real = LegacySession


class FakeModern(FakeSession):
    real = SocketIOSession


class Conn:
    """What the adapter uses of a connection."""

    def __init__(self, sid, namespace="/", session_class=FakeModern):
        self.session_id = sid
        self.namespace = namespace
        self.is_closed = False
        self.session = session_class()

    def __repr__(self):
        return "<Conn %s>" % self.session_id


@pytest.fixture
def adapter():
    return InMemoryAdapter()


def added(adapter, *sids, namespace="/", session_class=FakeModern):
    conns = [Conn(sid, namespace, session_class) for sid in sids]
    for conn in conns:
        adapter.add(conn)
    return conns


def select(adapter, namespace="/", to=None, skip=None):
    return set(adapter.select(namespace, BroadcastOptions.select(to, skip)))


# --------------------------------------------------------------------------- membership

def test_an_added_connection_is_in_its_namespace_and_its_own_session_id_room(adapter):
    (a,) = added(adapter, "a")
    assert adapter.rooms_of(a) == {"a"}
    assert select(adapter) == {a} and select(adapter, to="a") == {a}


def test_join_puts_a_connection_in_a_room_and_leave_takes_it_out(adapter):
    a, b = added(adapter, "a", "b")
    adapter.join(a, "lobby")
    assert adapter.rooms_of(a) == {"a", "lobby"} and select(adapter, to="lobby") == {a}
    adapter.leave(a, "lobby")
    assert adapter.rooms_of(a) == {"a"} and select(adapter, to="lobby") == set()


def test_leaving_a_room_one_is_not_in_is_no_error(adapter):
    (a,) = added(adapter, "a")
    adapter.leave(a, "elsewhere")
    assert adapter.rooms_of(a) == {"a"}


def test_rooms_of_is_a_snapshot_not_the_index_itself(adapter):
    (a,) = added(adapter, "a")
    rooms = adapter.rooms_of(a)
    adapter.join(a, "later")
    assert rooms == {"a"}


def test_a_removed_connection_is_in_no_room_and_no_namespace(adapter):
    (a,) = added(adapter, "a")
    adapter.join(a, "lobby")
    adapter.remove(a)
    assert adapter.rooms_of(a) == frozenset()
    assert select(adapter) == set() and adapter.rooms("/") == set()
    adapter.remove(a)  # idempotent


def test_rooms_are_per_namespace(adapter):
    (a,) = added(adapter, "a", namespace="/")
    (b,) = added(adapter, "b", namespace="/admin")
    adapter.join(a, "lobby")
    adapter.join(b, "lobby")
    assert select(adapter, "/", to="lobby") == {a}
    assert select(adapter, "/admin", to="lobby") == {b}
    assert adapter.rooms("/admin") == {"b", "lobby"}


# --------------------------------------------------------------------------- addressing

def test_select_without_rooms_addresses_the_whole_namespace(adapter):
    conns = added(adapter, "a", "b", "c")
    assert select(adapter) == set(conns)


def test_select_with_several_rooms_addresses_their_union(adapter):
    a, b, c = added(adapter, "a", "b", "c")
    adapter.join(a, "x")
    adapter.join(b, "y")
    assert select(adapter, to=["x", "y"]) == {a, b}


def test_skip_a_room_name_leaves_out_every_member_of_that_room(adapter):
    a, b, c = added(adapter, "a", "b", "c")
    adapter.join(a, "muted")
    adapter.join(b, "muted")
    assert select(adapter, skip="muted") == {c}


def test_skip_a_session_id_leaves_out_that_connection(adapter):
    a, b = added(adapter, "a", "b")
    assert select(adapter, skip="a") == {b}


def test_skip_a_connection_object_leaves_out_that_connection(adapter):
    a, b = added(adapter, "a", "b")
    assert select(adapter, skip=a) == {b}


def test_skip_a_mixed_list_of_connections_ids_and_rooms(adapter):
    a, b, c, d = added(adapter, "a", "b", "c", "d")
    adapter.join(c, "muted")
    assert select(adapter, skip=[a, "b", "muted"]) == {d}


def test_closed_connections_are_never_selected(adapter):
    a, b = added(adapter, "a", "b")
    a.is_closed = True
    assert select(adapter) == {b}


# --------------------------------------------------------------------------- notifications

class Recording(InMemoryAdapter):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_room_created(self, namespace, room):
        self.events.append(("created", namespace, room))

    def on_room_deleted(self, namespace, room):
        self.events.append(("deleted", namespace, room))


class NamespaceRecording(InMemoryAdapter):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_namespace_created(self, namespace):
        self.events.append(("created", namespace))

    def on_namespace_deleted(self, namespace):
        self.events.append(("deleted", namespace))


def test_a_namespace_is_created_with_its_first_connection_and_deleted_with_its_last():
    adapter = NamespaceRecording()
    a, b = added(adapter, "a", "b", namespace="/room-7")
    assert adapter.events == [("created", "/room-7")]
    adapter.remove(a)
    adapter.remove(a)
    assert adapter.events == [("created", "/room-7")]
    adapter.remove(b)
    assert adapter.events == [("created", "/room-7"), ("deleted", "/room-7")]


def test_a_room_is_created_with_its_first_member_and_deleted_with_its_last():
    adapter = Recording()
    a, b = added(adapter, "a", "b")
    adapter.events.clear()
    adapter.join(a, "lobby")
    adapter.join(b, "lobby")
    adapter.leave(a, "lobby")
    assert adapter.events == [("created", "/", "lobby")]
    adapter.leave(b, "lobby")
    assert adapter.events == [("created", "/", "lobby"), ("deleted", "/", "lobby")]


def test_removing_a_connection_deletes_the_rooms_it_was_alone_in():
    adapter = Recording()
    (a,) = added(adapter, "a")
    assert adapter.events == [("created", "/", "a")]
    adapter.join(a, "solo")
    adapter.remove(a)
    assert sorted(adapter.events[-2:]) == [("deleted", "/", "a"), ("deleted", "/", "solo")]


# --------------------------------------------------------------------------- broadcast

def event(name, *args, namespace="/"):
    return sio.Packet(sio.EVENT, namespace, [name, *args])


def test_a_broadcast_to_a_mixed_room_encodes_once_per_generation_and_shares_the_items(adapter):
    old = added(adapter, "o1", "o2", "o3", session_class=Fake06)
    new = added(adapter, "n1", "n2", "n3", session_class=FakeModern)
    for conn in old + new:
        adapter.join(conn, "lobby")
    FakeSession.encodings = 0
    assert adapter.broadcast("/", [event("said", "hi")], BroadcastOptions.select("lobby")) == 6
    assert FakeSession.encodings == 2
    (old_items,) = old[0].session.pushed
    (new_items,) = new[0].session.pushed
    assert all(c.session.pushed[0] is old_items for c in old)
    assert all(c.session.pushed[0] is new_items for c in new)
    assert old_items == [codec.encode_json({"name": "said", "args": ["hi"]})]
    assert new_items == ['42["said","hi"]']


def test_a_broadcast_reaches_no_one_outside_its_rooms_and_skips(adapter):
    a, b, c = added(adapter, "a", "b", "c")
    adapter.join(a, "lobby")
    adapter.join(b, "lobby")
    assert adapter.broadcast("/", [event("x")], BroadcastOptions.select("lobby", skip=b)) == 1
    assert a.session.pushed and not b.session.pushed and not c.session.pushed


def test_a_plain_message_reaches_a_06_client_as_a_message_and_a_modern_one_as_an_event():
    message = [event("message", {"k": 1})]
    assert LegacySession.encode_packets(message) == codec.encode_message({"k": 1})
    assert SocketIOSession.encode_packets(message) == ['42["message",{"k":1}]']


def test_several_packets_are_encoded_in_order_into_one_push():
    packets = [event("message", "a"), event("message", "b")]
    assert LegacySession.encode_packets(packets) == codec.encode_message(["a", "b"])
    assert SocketIOSession.encode_packets(packets) == ['42["message","a"]',
                                                       '42["message","b"]']


# --------------------------------------------------------------------------- cluster ops, locally

def test_fetch_connections_in_one_process_is_the_local_selection(adapter):
    a, b = added(adapter, "a", "b")
    adapter.join(a, "lobby")
    assert adapter.fetch_connections("/", BroadcastOptions.select("lobby")) == [a]


def test_add_rooms_and_del_rooms_act_on_every_addressed_connection(adapter):
    a, b = added(adapter, "a", "b")
    adapter.add_rooms("/", BroadcastOptions.select(), ["x", "y"])
    assert adapter.rooms_of(a) == {"a", "x", "y"} and adapter.rooms_of(b) == {"b", "x", "y"}
    adapter.del_rooms("/", BroadcastOptions.select(skip=b), ["x"])
    assert adapter.rooms_of(a) == {"a", "y"} and adapter.rooms_of(b) == {"b", "x", "y"}


def test_all_rooms_and_server_count_in_one_process(adapter):
    (a,) = added(adapter, "a")
    adapter.join(a, "lobby")
    assert adapter.all_rooms("/") == {"a", "lobby"} and adapter.server_count() == 1


# --------------------------------------------------------------------------- the router's adapter

class Handler(geventio.SocketConnection):
    pass


def test_a_router_uses_the_in_memory_adapter_by_default():
    assert isinstance(geventio.get_router(Handler).adapter, InMemoryAdapter)


def test_a_router_uses_the_adapter_object_it_is_given():
    adapter = InMemoryAdapter()
    assert geventio.get_router(Handler, adapter=adapter).adapter is adapter


def test_an_adapter_url_of_an_unknown_scheme_is_refused_with_a_clear_error():
    # redis:// and rediss:// make a RedisAdapter (tests/test_redis_cluster.py)
    with pytest.raises(ValueError, match="unknown adapter URL scheme"):
        geventio.get_router(Handler, adapter="kafka://127.0.0.1:9092")


def test_something_that_is_not_an_adapter_is_refused():
    with pytest.raises(TypeError, match="Adapter"):
        geventio.get_router(Handler, adapter=object())


def test_the_adapter_interface_is_abstract():
    with pytest.raises(TypeError):
        Adapter()
