"""router.instrument(): the Admin UI's protocol (node's @socket.io/admin-ui 0.5.x) as
socket.io-client 4.x in node sees it on the admin namespace, with 4.x, 2.x and 0.6 clients
of the instrumented router (tests/js/admin/client.js, tests/helpers/admin.py)."""
import logging
import os
import re
import socket

import gevent
import gevent.event
import pytest

import geventio
from geventio.adapters import InMemoryAdapter
from geventio.admin import (ARGS_NOT_SHOWN, MAX_PARALLEL_FETCHES, MAX_PENDING_BYTES,
                            MAX_SHOWN_ARGS_SIZE, WRITE_FEATURES, json_size)
from helpers.admin import NodeClients
from helpers.clients06 import XHRPolling
from helpers.node import node_available
from helpers.server import make_application, serve

pytestmark = pytest.mark.skipif(not node_available(), reason="needs node and npm ci")

CREDENTIALS = {"username": "admin", "password": "s3cret"}
AUTH = dict(CREDENTIALS, type="basic")


class Chat(geventio.SocketConnection):
    def on_message(self, message):
        self.send(message)

    @geventio.event
    def enter(self, room):
        self.join(room)
        return "entered"

    @geventio.event
    def shout(self, text):
        self.emit("heard", text.upper())
        return "ok"

    @geventio.event
    def profile(self, name, age):
        self.data["profile"] = {"name": name}
        self.data["profile"]["age"] = age
        return "ok"


class Other(geventio.SocketConnection):
    pass


@pytest.fixture(scope="module")
def node():
    with NodeClients() as clients:
        yield clients


def instrumented(**options):
    router = geventio.get_router(Chat, namespaces={"/other": Other})
    options.setdefault("auth", AUTH)
    router.instrument(**options)
    return router


@pytest.fixture
def server():
    router = instrumented(stats_interval=0.2)
    with serve(make_application([router.route()])) as base:
        yield router, base
    router.close()


def admin(node, base, name="admin", auth=CREDENTIALS):
    got = node.connect(name, base, "/admin", auth=auth)
    assert "id" in got, got
    return got["id"]


def sockets_of(node, name="admin"):
    [[_, sockets]] = node.wait_for(name, "all_sockets")
    return {s["id"]: s for s in sockets}


# -- authentication ---------------------------------------------------------------------

def test_the_right_password_is_answered_with_a_session_id_then_the_config(node, server):
    _, base = server
    admin(node, base)
    sockets_of(node)
    events = [e[0] for e in node.received("admin")]
    assert events[:3] == ["$connect", "session", "config"]
    assert "all_sockets" in events  # after the config, as node's (which awaits its fetch)
    [[_, config]] = node.wait_for("admin", "config")
    assert config == {"supportedFeatures": [*WRITE_FEATURES, "AGGREGATED_EVENTS",
                                            "ALL_EVENTS"]}


def test_a_wrong_password_is_refused_with_invalid_credentials(node, server):
    _, base = server
    assert node.connect("intruder", base, "/admin", auth=dict(CREDENTIALS, password="no")) \
        == {"error": "invalid credentials"}


def test_a_session_id_from_an_earlier_login_is_accepted_without_the_password(node, server):
    _, base = server
    admin(node, base, "first")
    [[_, session_id]] = node.wait_for("first", "session")
    assert "id" in node.connect("again", base, "/admin", auth={"sessionId": session_id})
    assert node.connect("forged", base, "/admin", auth={"sessionId": "0123456789abcdef"}) \
        == {"error": "invalid credentials"}


def test_a_bcrypt_hash_made_by_bcryptjs_checks_the_password(node):
    pytest.importorskip("bcrypt")
    hashed = node.bcrypt("s3cret")
    router = instrumented(auth={"type": "basic", "username": "admin", "password": hashed})
    with serve(make_application([router.route()])) as base:
        assert "id" in node.connect("hashed", base, "/admin", auth=CREDENTIALS)
        assert node.connect("hashed-bad", base, "/admin",
                            auth={"username": "admin", "password": hashed}) \
            == {"error": "invalid credentials"}
    router.close()


def test_without_auth_anyone_connects_and_a_warning_is_logged(node, caplog):
    with caplog.at_level(logging.WARNING, logger="geventio.admin"):
        router = instrumented(auth=None)
    assert "no authentication" in caplog.text
    with serve(make_application([router.route()])) as base:
        assert "id" in node.connect("open", base, "/admin")
        sockets_of(node, "open")
        assert [e[0] for e in node.received("open")][:2] == ["$connect", "config"]
    router.close()


def test_instrument_refuses_a_malformed_auth_or_mode():
    router = geventio.get_router(Chat)
    with pytest.raises(ValueError):
        router.instrument(auth={"type": "digest", "username": "a", "password": "b"})
    with pytest.raises(ValueError):
        router.instrument(auth=AUTH, mode="staging")
    router.instrument(auth=AUTH)
    with pytest.raises(RuntimeError):
        router.instrument(auth=AUTH)
    router.close()


def test_an_uninstrumented_router_has_no_monitor():
    router = geventio.get_router(Chat)
    assert router.admin is None and router.context.monitor is None
    router.close()


# -- server_stats -----------------------------------------------------------------------

def test_server_stats_carry_this_process_and_its_namespaces(node, server):
    router, base = server
    client = XHRPolling(base)
    admin(node, base)
    node.connect("c4", base)
    gevent.sleep(0.3)
    [[_, stats]] = node.wait_for("admin", "server_stats", match='"clientsCount":3')
    assert set(stats) == {"serverId", "hostname", "pid", "uptime", "clientsCount",
                          "pollingClientsCount", "aggregatedEvents", "namespaces"}
    assert stats["serverId"] == "%s#%d" % (socket.gethostname(), os.getpid())
    assert (stats["hostname"], stats["pid"]) == (socket.gethostname(), os.getpid())
    assert stats["uptime"] > 0
    assert stats["pollingClientsCount"] >= 1  # the 0.6 xhr-polling client at least
    assert {n["name"]: n["socketsCount"] for n in stats["namespaces"]} == \
        {"/": 2, "/admin": 1, "/other": 0}
    client.close()


def test_server_stats_count_raw_connections_as_aggregated_events(node, server):
    _, base = server
    admin(node, base)
    node.connect("c4", base)
    found = node.wait_for("admin", "server_stats", match="rawConnection")
    [event] = [e for e in found[0][1]["aggregatedEvents"] if e["type"] == "rawConnection"]
    assert event["count"] >= 1 and event["timestamp"] % 1000 == 0


def test_server_stats_count_packets_and_their_size_both_ways(node, server):
    _, base = server
    admin(node, base)
    node.connect("c4", base)
    node.emit("c4", "shout", "x" * 1000)
    node.wait_for("c4", "heard")
    sent = sum(1 for e in node.received("admin") if e[0] == "server_stats")
    counted = {}  # over every server_stats so far and two more (after the shout's)
    for _, stats in node.wait_for("admin", "server_stats", count=sent + 2):
        for event in stats["aggregatedEvents"]:
            counted[event["type"]] = counted.get(event["type"], 0) + event["count"]
    assert counted["packetsIn"] >= 2 and counted["packetsOut"] >= 2  # CONNECTs, the shout
    assert counted["bytesIn"] > 1000 and counted["bytesOut"] > 1000  # "x" * 1000, "X" * 1000


def test_server_id_names_the_server(node):
    router = instrumented(server_id="eu-1")
    with serve(make_application([router.route()])) as base:
        admin(node, base, "named")
        [[_, stats]] = node.wait_for("named", "server_stats")
        assert stats["serverId"] == "eu-1"
    router.close()


# -- all_sockets and the live events (development mode) ----------------------------------

def test_all_sockets_lists_a_4x_a_2x_and_a_06_client_with_their_rooms(node, server):
    router, base = server
    v4 = node.connect("c4", base)["id"]
    v2 = node.connect("c2", base, version=2)["id"]
    old = XHRPolling(base)
    node.emit("c4", "enter", "lobby")
    node.wait_for("c4", "$connect")
    gevent.sleep(0.2)
    admin(node, base)
    sockets = sockets_of(node)
    assert {v4, v2, old.sid} <= set(sockets)
    assert sockets[v4]["rooms"] == sorted([v4, "lobby"])
    assert sockets[old.sid]["rooms"] == [old.sid]
    assert sockets[old.sid]["transport"] == "xhr-polling"
    assert sockets[v2]["transport"] in ("polling", "websocket")
    entry = sockets[v4]
    assert set(entry) == {"id", "clientId", "transport", "nsp", "data", "handshake", "rooms"}
    assert entry["nsp"] == "/" and entry["data"] == {}
    assert entry["handshake"]["address"] == "127.0.0.1"
    assert entry["handshake"]["query"]["EIO"] == "4"
    old.close()


def test_a_connection_and_a_disconnection_are_reported(node, server):
    _, base = server
    admin(node, base)
    v4 = node.connect("c4", base)["id"]
    [[_, sock, when]] = node.wait_for("admin", "socket_connected", match=v4)
    assert sock["id"] == v4 and sock["nsp"] == "/" and sock["rooms"] == [v4]
    assert when.endswith("Z") and "T" in when
    node.close_client("c4")
    [[_, nsp, sid, reason, _]] = node.wait_for("admin", "socket_disconnected", match=v4)
    assert (nsp, sid, reason) == ("/", v4, "client namespace disconnect")


def test_a_connection_made_before_instrument_is_listed_and_its_end_reported(node):
    router = geventio.get_router(Chat)
    with serve(make_application([router.route()])) as base:
        early = node.connect("early", base)["id"]
        router.instrument(auth=None)
        assert "id" in node.connect("watcher", base, "/admin")
        assert early in sockets_of(node, "watcher")
        node.close_client("early")
        node.wait_for("watcher", "socket_disconnected", match=early)
    router.close()


def test_a_06_clients_connection_is_reported_with_its_transport(node, server):
    _, base = server
    admin(node, base)
    old = XHRPolling(base)
    [[_, sock, _]] = node.wait_for("admin", "socket_connected", match=old.sid)
    assert (sock["id"], sock["transport"], sock["nsp"]) == (old.sid, "xhr-polling", "/")
    old.close()


def test_room_joins_and_leaves_are_reported(node, server):
    router, base = server
    admin(node, base)
    v4 = node.connect("c4", base)["id"]
    node.emit("c4", "enter", "lobby")
    [[_, nsp, room, sid, _]] = node.wait_for("admin", "room_joined", match="lobby")
    assert (nsp, room, sid) == ("/", "lobby", v4)
    router.leave("lobby", to=v4)
    [[_, nsp, room, sid, _]] = node.wait_for("admin", "room_left", match="lobby")
    assert (nsp, room, sid) == ("/", "lobby", v4)


def test_events_received_and_sent_are_reported_in_development_mode(node, server):
    _, base = server
    admin(node, base)
    v4 = node.connect("c4", base)["id"]
    node.emit("c4", "shout", "hey")
    [[_, nsp, sid, args, _]] = node.wait_for("admin", "event_received", match=v4)
    assert (nsp, sid, args) == ("/", v4, ["shout", "hey"])
    [[_, nsp, sid, args, _]] = node.wait_for("admin", "event_sent", match=v4)
    assert (nsp, sid, args) == ("/", v4, ["heard", "HEY"])


def test_a_2x_clients_events_are_reported(node, server):
    _, base = server
    admin(node, base)
    v2 = node.connect("c2", base, version=2)["id"]
    node.emit("c2", "shout", "old")
    [[_, nsp, sid, args, _]] = node.wait_for("admin", "event_received", match=v2)
    assert (nsp, sid, args) == ("/", v2, ["shout", "old"])


def test_a_06_clients_messages_are_reported_as_message_events(node, server):
    _, base = server
    admin(node, base)
    old = XHRPolling(base)
    old.send("hello 0.6")
    [[_, _, sid, args, _]] = node.wait_for("admin", "event_received", match=old.sid)
    assert (sid, args) == (old.sid, ["message", "hello 0.6"])
    [[_, _, sid, args, _]] = node.wait_for("admin", "event_sent", match=old.sid)
    assert (sid, args) == (old.sid, ["message", "hello 0.6"])
    old.close()


def test_production_mode_sends_stats_and_config_but_no_sockets_nor_events(node):
    router = instrumented(mode="production", stats_interval=0.2)
    with serve(make_application([router.route()])) as base:
        admin(node, base, "prod")
        node.connect("p4", base)
        node.emit("p4", "shout", "quiet")
        node.wait_for("p4", "heard")
        node.wait_for("prod", "server_stats", count=3)
        got = {e[0] for e in node.received("prod")}
        assert got == {"$connect", "session", "config", "server_stats"}
        [[_, config]] = node.wait_for("prod", "config")
        assert config["supportedFeatures"] == [*WRITE_FEATURES, "AGGREGATED_EVENTS"]
    router.close()


# -- what the admin does ----------------------------------------------------------------

def test_a_change_to_conn_data_is_reported_as_socket_updated(node, server):
    router, base = server
    admin(node, base)
    v4 = node.connect("c4", base)["id"]
    node.emit("c4", "profile", "ada", 36)
    [first, second] = node.wait_for("admin", "socket_updated", count=2, match='"data"')
    assert first[1] == {"id": v4, "nsp": "/", "data": {"profile": {"name": "ada"}}}
    assert second[1] == {"id": v4, "nsp": "/", "data": {"profile": {"name": "ada", "age": 36}}}
    [conn] = router.connections()
    assert conn.data["profile"] == {"name": "ada", "age": 36}


def test_join_and_leave_from_the_admin_act_on_the_target_socket(node, server):
    router, base = server
    admin(node, base)
    v4 = node.connect("c4", base)["id"]
    node.emit("admin", "join", "/", "vip", v4)
    node.wait_for("admin", "room_joined", match="vip")
    [conn] = router.connections("vip")
    assert conn.session_id == v4
    node.emit("admin", "leave", "/", "vip", v4)
    node.wait_for("admin", "room_left", match="vip")
    assert router.connections("vip") == []


def test_join_with_a_room_as_filter_moves_every_socket_of_that_room(node, server):
    router, base = server
    admin(node, base)
    first = node.connect("c4", base)["id"]
    second = node.connect("c2", base, version=2)["id"]
    node.emit("c4", "enter", "lobby")
    node.emit("c2", "enter", "lobby")
    node.wait_for("admin", "room_joined", count=2, match='"lobby"')
    node.emit("admin", "join", "/", "vip", "lobby")
    node.wait_for("admin", "room_joined", count=2, match='"vip"')
    assert {c.session_id for c in router.connections("vip")} == {first, second}


def test_emit_from_the_admin_reaches_the_sockets_it_names(node, server):
    _, base = server
    admin(node, base)
    v4 = node.connect("c4", base)["id"]
    node.connect("c2", base, version=2)
    node.emit("admin", "emit", "/", v4, "notice", {"from": "admin"})
    assert node.wait_for("c4", "notice") == [["notice", {"from": "admin"}]]
    assert "notice" not in [e[0] for e in node.received("c2")]


def test_disconnect_from_the_admin_disconnects_the_4x_client(node, server):
    _, base = server
    admin(node, base)
    v4 = node.connect("c4", base)["id"]
    node.emit("admin", "_disconnect", "/", False, v4)
    [[_, reason]] = node.wait_for("c4", "$disconnect")
    assert reason == "io server disconnect"


def test_disconnect_from_the_admin_ends_a_06_clients_session(node, server):
    router, base = server
    admin(node, base)
    old = XHRPolling(base)
    node.wait_for("admin", "socket_connected", match=old.sid)
    node.emit("admin", "_disconnect", "/", True, old.sid)
    node.wait_for("admin", "socket_disconnected", match=old.sid)
    assert old.sid not in router.sessions
    old.close()


def test_read_only_refuses_join_leave_and_disconnect(node):
    router = instrumented(read_only=True)
    with serve(make_application([router.route()])) as base:
        admin(node, base, "ro")
        [[_, config]] = node.wait_for("ro", "config")
        assert config["supportedFeatures"] == ["AGGREGATED_EVENTS", "ALL_EVENTS"]
        v4 = node.connect("r4", base)["id"]
        node.emit("ro", "join", "/", "vip", v4)
        node.emit("ro", "_disconnect", "/", False, v4)
        node.emit("ro", "emit", "/", v4, "hello")
        gevent.sleep(0.5)
        assert router.connections("vip") == []
        assert node.state("r4")["connected"] is True
        assert "hello" not in [e[0] for e in node.received("r4")]
    router.close()


# -- what the admin holds and counts ---------------------------------------------------

def settle(condition, timeout=10.0):
    with gevent.Timeout(timeout):
        while not condition():
            gevent.sleep(0.02)


def test_a_session_that_opens_and_closes_between_two_stats_is_counted_with_its_reason(node):
    router = instrumented(stats_interval=600)  # no server_stats but the first, at once
    with serve(make_application([router.route()])) as base:
        router.admin.stats()
        node.connect("brief", base)
        node.close_client("brief")
        settle(lambda: len(router.sessions) == 0)
        counted = {(e["type"], e.get("subType")): e["count"]
                   for e in router.admin.stats()["aggregatedEvents"]}
        assert counted[("rawConnection", None)] == 1
        assert counted[("rawDisconnection", "transport close")] == 1  # as node says
    router.close()


def test_a_06_session_that_expires_between_two_stats_is_counted_with_its_reason():
    router = geventio.get_router(Chat, settings={"session_expiry": 0.3,
                                                 "session_check_interval": 0.1})
    router.instrument(auth=None, stats_interval=600)
    with serve(make_application([router.route()])) as base:
        router.admin.stats()
        XHRPolling(base)  # connects, then polls no more
        settle(lambda: len(router.sessions) == 0)
        counted = {(e["type"], e.get("subType")): e["count"]
                   for e in router.admin.stats()["aggregatedEvents"]}
        assert counted[("rawConnection", None)] == 1
        assert counted[("rawDisconnection", "expired")] == 1
    router.close()


def test_heartbeats_from_the_client_are_counted_as_packets_in(node):
    router = geventio.get_router(Chat, settings={"ping_interval": 0.2, "ping_timeout": 5})
    router.instrument(auth=None, stats_interval=600)
    with serve(make_application([router.route()])) as base:
        node.connect("beating", base, transports=["websocket"])
        router.admin.stats()
        counted = {"packetsIn": 0}

        def pongs_counted():  # from now on the client sends only its pongs
            for entry in router.admin.stats()["aggregatedEvents"]:
                counted[entry["type"]] = counted.get(entry["type"], 0) + entry["count"]
            return counted["packetsIn"] >= 2
        settle(pongs_counted)
        assert counted["packetsOut"] >= 2  # the pings
    router.close()


def test_an_event_over_the_shown_size_is_reported_with_its_name_only(node, server):
    _, base = server
    admin(node, base)
    v4 = node.connect("c4", base)["id"]
    node.emit("c4", "shout", "x" * (MAX_SHOWN_ARGS_SIZE + 1))
    [[_, _, sid, args, _]] = node.wait_for("admin", "event_received", match=v4)
    assert (sid, args) == (v4, ["shout", ARGS_NOT_SHOWN])
    [[_, _, sid, args, _]] = node.wait_for("admin", "event_sent", match=v4)
    assert (sid, args) == (v4, ["heard", ARGS_NOT_SHOWN])


def test_reports_waiting_to_be_sent_hold_at_most_max_pending_bytes(node, server, caplog):
    router, base = server
    node.connect("c4", base)
    [conn] = router.connections()
    big = ["news", "y" * (MAX_SHOWN_ARGS_SIZE - 100)]
    with caplog.at_level(logging.WARNING, logger="geventio.admin"):
        for _ in range(2 * MAX_PENDING_BYTES // MAX_SHOWN_ARGS_SIZE):  # no yield: none sent
            router.admin.event_sent(conn, big)
            assert router.admin.pending_bytes <= MAX_PENDING_BYTES
    assert router.admin.pending_bytes > MAX_PENDING_BYTES // 2
    assert "dropped" in caplog.text
    settle(lambda: router.admin.pending_bytes == 0)


def test_json_size_stops_counting_past_its_budget():
    assert json_size(["a", {"bc": [1, None]}], 1000) >= len('["a",{"bc":[1,null]}]') // 2
    assert json_size([list(range(10 ** 6))], 1000) > 1000  # counted, not walked
    assert json_size("x" * 10, 5) == 12


def test_a_pattern_namespaces_connection_made_before_instrument_is_listed_and_watched(node):
    router = geventio.get_router(Chat, namespaces={re.compile(r"^/room-\d+$"): Other})
    with serve(make_application([router.route()])) as base:
        early = node.connect("early", base, "/room-7")["id"]
        router.instrument(auth=None)
        assert "id" in node.connect("watcher", base, "/admin")
        assert sockets_of(node, "watcher")[early]["nsp"] == "/room-7"
        node.close_client("early")
        [[_, nsp, sid, _, _]] = node.wait_for("watcher", "socket_disconnected", match=early)
        assert (nsp, sid) == ("/room-7", early)
    router.close()


# -- a cluster slow to answer ------------------------------------------------------------

class WaitingCluster(InMemoryAdapter):
    """An adapter whose cluster-wide fetch waits until ``answer`` is set: the other
    members of a cluster that have not answered yet."""

    def __init__(self):
        super().__init__()
        self.answer = gevent.event.Event()
        self.waiting = set()  # namespaces being fetched now
        self.interrupted = []
        self.started = []  # every fetch begun

    def fetch_connections(self, namespace, opts, timeout=None):
        self.started.append(namespace)
        self.waiting.add(namespace)
        try:
            self.answer.wait()
        except gevent.GreenletExit:
            self.interrupted.append(namespace)
            raise
        finally:
            self.waiting.discard(namespace)
        return super().fetch_connections(namespace, opts, timeout)


@pytest.fixture
def waiting_cluster():
    adapter = WaitingCluster()
    router = geventio.get_router(Chat, namespaces={"/other": Other}, adapter=adapter)
    router.instrument(auth=AUTH)
    with serve(make_application([router.route()])) as base:
        yield router, adapter, base
        adapter.answer.set()
    router.close()


def test_the_admin_is_connected_and_configured_before_the_cluster_answers(node,
                                                                          waiting_cluster):
    _, adapter, base = waiting_cluster
    admin(node, base, "early-admin")
    node.wait_for("early-admin", "config")
    settle(lambda: adapter.waiting == {"/", "/other", "/admin"})  # fetched in parallel
    assert "all_sockets" not in [e[0] for e in node.received("early-admin")]
    adapter.answer.set()
    assert len(sockets_of(node, "early-admin")) == 1  # the admin client itself


def test_an_admin_client_that_leaves_while_its_sockets_are_fetched_ends_the_fetch(
        node, waiting_cluster):
    _, adapter, base = waiting_cluster
    admin(node, base, "leaving-admin")
    settle(lambda: len(adapter.waiting) == 3)
    node.close_client("leaving-admin")
    settle(lambda: sorted(adapter.interrupted) == ["/", "/admin", "/other"])


def test_no_fetch_starts_after_the_admin_client_left_even_with_more_namespaces_than_fetch_slots(
        node):
    adapter = WaitingCluster()
    many = {"/n%d" % i: Other for i in range(MAX_PARALLEL_FETCHES + 4)}
    router = geventio.get_router(Chat, namespaces=many, adapter=adapter)
    router.instrument(auth=AUTH)
    with serve(make_application([router.route()])) as base:
        admin(node, base, "many-admin")
        settle(lambda: len(adapter.waiting) == MAX_PARALLEL_FETCHES)
        node.close_client("many-admin")
        settle(lambda: len(adapter.interrupted) == MAX_PARALLEL_FETCHES)
        gevent.sleep(0.3)
        assert len(adapter.started) == MAX_PARALLEL_FETCHES
        assert not adapter.waiting
        adapter.answer.set()
    router.close()


def test_stopping_the_admin_ends_the_fetch_of_an_admin_clients_sockets(node,
                                                                        waiting_cluster):
    router, adapter, base = waiting_cluster
    admin(node, base, "closed-admin")
    settle(lambda: len(adapter.waiting) == 3)
    router.admin.stop()  # as router.close() does first
    settle(lambda: len(adapter.interrupted) == 3)
