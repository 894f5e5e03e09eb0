"""sticky.py: which worker owns a request, read from its request line alone."""
import pytest

from geventio import session, sticky

SID = "Bbcdefghij0123456-_z"  # 20 base64url characters, worker 1's tag


@pytest.mark.parametrize("line", [
    b"GET /socket.io/?EIO=4&transport=polling&t=Nx&sid=" + SID.encode() + b" HTTP/1.1\r\n",
    b"POST /socket.io/?EIO=3&transport=polling&sid=" + SID.encode() + b"&j=0 HTTP/1.1\r\n",
    b"GET /socket.io/?EIO=4&transport=websocket&sid=" + SID.encode() + b" HTTP/1.1\r\n",
    b"GET /socket.io/xhr-polling/" + SID.encode() + b"/1305500000000 HTTP/1.1\r\n",
    b"POST /socket.io/xhr-polling/" + SID.encode() + b"/send HTTP/1.1\r\n",
    b"GET /socket.io/jsonp-polling/" + SID.encode() + b"/1795488192950/3 HTTP/1.1\r\n",
    b"GET /chat/htmlfile/" + SID.encode() + b"/1 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /socket.io/xhr-multipart/" + SID.encode() + b"/send HTTP/1.1\r\n",
])
def test_the_owner_is_read_from_the_session_id_in_any_generations_url(line):
    assert sticky.session_id(line) == SID.encode()
    assert sticky.owner(line, 3) == 1
    assert not sticky.opens_session(line)


@pytest.mark.parametrize("line", [
    b"GET /socket.io/?EIO=4&transport=polling&t=Nx HTTP/1.1\r\n",
    b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n",
    b"GET /socket.io/xhr-polling//1305500000000 HTTP/1.1\r\n",
    b"GET /socket.io/jsonp-polling//1795488192648/0 HTTP/1.1\r\n",
    b"GET /socket.io/websocket HTTP/1.1\r\n",
    b"GET /socket.io/flashsocket HTTP/1.1\r\n",
])
def test_a_handshake_has_no_owner_and_opens_a_session(line):
    assert sticky.owner(line, 3) is None
    assert sticky.opens_session(line)


@pytest.mark.parametrize("line", [
    b"GET /index.html HTTP/1.1\r\n",
    b"GET /socket.io/?EIO=4&transport=polling&sid=short HTTP/1.1\r\n",
    b"<policy-file-request/>\x00",
    b"GARBAGE\r\n",
])
def test_other_requests_have_no_owner_and_open_nothing(line):
    assert sticky.owner(line, 3) is None
    assert not sticky.opens_session(line)


def test_a_tag_beyond_the_workers_has_no_owner():
    line = b"GET /socket.io/?EIO=4&transport=polling&sid=Z" + SID[1:].encode() + b" HTTP/1.1"
    assert sticky.owner(line, 3) is None
    assert sticky.owner(line, 64) == 25


def test_session_ids_carry_the_workers_tag_once_set():
    try:
        session.tag_session_ids(sticky.tag(2))
        ids = [session.new_session_id() for _ in range(300)]
    finally:
        session.tag_session_ids("")
    assert {sid[0] for sid in ids} == {"C"}
    assert all(len(sid) == 20 and sticky.session_id(b"GET /x/htmlfile/%s/1 HTTP/1.1"
                                                    % sid.encode()) for sid in ids)
    assert len(set(ids)) == 300
    assert len({session.new_session_id()[0] for _ in range(300)}) > 30  # untagged again


def test_worker_tags_are_the_base64url_alphabet_in_order():
    assert [sticky.tag(i) for i in (0, 25, 26, 52, 63)] == ["A", "Z", "a", "0", "_"]
    with pytest.raises(ValueError):
        sticky.tag(64)
