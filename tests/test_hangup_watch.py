"""The long-poll hang-up watch (transports/http.py watch_disconnect)."""
import gevent
import gevent.socket

from geventio.transports.http import watch_disconnect


def watched_pair():
    server, client = gevent.socket.socketpair()
    calls = []
    watch = watch_disconnect({"geventio.socket": server}, lambda: calls.append("gone"))
    return server, client, watch, calls


def test_a_client_hanging_up_while_the_request_waits_is_reported():
    server, client, watch, calls = watched_pair()
    client.close()
    gevent.sleep(0.05)
    assert calls == ["gone"]
    server.close()


def test_a_client_sending_more_while_the_request_waits_is_not_a_hang_up():
    server, client, watch, calls = watched_pair()
    client.sendall(b"GET / HTTP/1.1\r\n\r\n")
    gevent.sleep(0.05)
    assert calls == []
    watch.stop()
    server.close()
    client.close()


def test_a_hang_up_noticed_after_the_request_ended_is_not_reported():
    server, client, watch, calls = watched_pair()
    client.close()
    watch.stop()  # the request ended before the check ran
    gevent.sleep(0.05)
    assert calls == []
    server.close()


def test_after_the_watch_stops_the_socket_can_be_read_again():
    server, client, watch, calls = watched_pair()
    watch.stop()
    client.sendall(b"x")
    assert server.recv(1) == b"x"
    server.close()
    client.close()
