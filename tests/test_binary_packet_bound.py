"""A Socket.IO session buffers at most max_binary_packet_size bytes of an unfinished binary
packet (attachments announced, not all received); past it the session closes, logged."""
import logging

import pytest

import geventio
from geventio.protocol.socketio import Decoder, ProtocolError
from helpers.apps import Recorder, echo_handler
from helpers.eio_client import WSClient
from helpers.server import make_application, serve

pytestmark = pytest.mark.timeout(30)

WS = "/socket.io/?EIO=4&transport=websocket"


def header(count):
    placeholders = ",".join('{"_placeholder":true,"num":%d}' % i for i in range(count))
    return '45%d-["upload",%s]' % (count, placeholders)


@pytest.fixture(scope="module")
def served():
    recorder = Recorder()
    router = geventio.get_router(echo_handler(recorder))
    with serve(make_application([router])) as base:
        yield base, recorder


def connected(base):
    ws = WSClient(base, WS)
    assert ws.receive().startswith("0{")
    ws.send("40")
    assert ws.receive().startswith("40{")
    return ws


def test_an_unfinished_packet_past_the_default_bound_closes_the_session(served, caplog):
    base, recorder = served
    closes = recorder.count("close")
    ws = connected(base)
    try:
        with caplog.at_level(logging.INFO, logger="geventio"):
            ws.send(header(10))
            for _ in range(9):  # nine of ten 600 kB attachments: 5.4 MB unbounded
                try:
                    ws.send(b"\0" * 600_000)
                except OSError:
                    break
            ws.expect_closed(5)
        assert any("binary packet over 1000000 bytes" in r.getMessage()
                   for r in caplog.records), [r.getMessage() for r in caplog.records]
    finally:
        ws.sock.close()
    recorder.wait_for(lambda: recorder.count("close") == closes + 1)
    healthy = connected(base)
    try:
        healthy.send('42["message","still here"]')
        assert healthy.receive() == '42["message","still here"]'
    finally:
        healthy.close()


def test_a_packet_within_the_bound_is_delivered_and_the_session_kept(served):
    base, _ = served
    ws = connected(base)
    try:
        ws.send(header(2))
        ws.send(b"\1" * 400_000)
        ws.send(b"\2" * 400_000)
        ws.send('42["message","after"]')
        assert ws.receive() == '42["message","after"]'
    finally:
        ws.close()


def test_the_bound_is_a_setting():
    with pytest.raises(ValueError):
        geventio.Settings(max_binary_packet_size=0).validate()
    assert geventio.Settings().binary_packet_limit == 1_000_000
    assert geventio.Settings(max_http_buffer_size=5).binary_packet_limit == 5
    assert geventio.Settings(max_binary_packet_size=7).binary_packet_limit == 7


def test_the_decoder_counts_the_header_and_every_attachment():
    decoder = Decoder(max_buffered=200)
    text = header(3)[1:]  # the Socket.IO packet, without Engine.IO's MESSAGE type
    decoder.feed(text)
    decoder.feed(b"x" * (200 - len(text)))
    with pytest.raises(ProtocolError):
        decoder.feed(b"y")
    assert decoder.awaiting == 0  # reset
    decoder.feed(header(1)[1:])
    assert decoder.feed(b"z" * 10).data == ["upload", b"z" * 10]
