"""Minimal socket.io 0.6 clients over the polling transports (xhr-polling, jsonp-polling,
htmlfile), speaking the requests the 0.6 browser client makes: connect, send one message,
read what comes back. Enough to see which server process answers a session."""
import re
import time

from .wire import request
from .wire06 import (HTML_FORM_HEADERS, XHR_POST_HEADERS, HTTPStream, USER_AGENT,
                     html_form, xhr_form)

FRAME = re.compile(r"~m~(\d+)~m~")
JSONP = re.compile(r'^io\.JSONP\[(\d+)\]\._\("(.*)"\);$', re.DOTALL)
SCRIPT = re.compile(rb'<script>parent\.s\._\("((?:[^"\\]|\\.)*)", document\);</script>')
IE_HEADERS = {"User-Agent": USER_AGENT + " MSIE", "Accept": "text/html, application/xhtml+xml, */*"}


def _stamp():
    return int(time.time() * 1000)


def frames(text):
    """The ~m~ frames of a 0.6 payload."""
    out = []
    while text.startswith("~m~"):
        match = FRAME.match(text)
        length = int(match.group(1))
        start = match.end()
        out.append(text[start:start + length])
        text = text[start + length:]
    return out


class XHRPolling:
    transport = "xhr-polling"

    def __init__(self, base, resource="socket.io"):
        self.base, self.resource = base, resource
        status, _, body = request(base, "GET", "/%s/xhr-polling//%d" % (resource, _stamp()))
        assert status == 200, body
        got = frames(body.decode())
        self.sid, self.pending = got[0], got[1:]

    def send(self, message):
        status, _, body = request(self.base, "POST", "/%s/xhr-polling/%s/send"
                                  % (self.resource, self.sid),
                                  body=xhr_form("~m~%d~m~%s" % (len(message), message)),
                                  headers=XHR_POST_HEADERS)
        assert (status, body) == (200, b"ok"), (status, body)

    def receive(self):
        if self.pending:
            got, self.pending = self.pending, []
            return got
        status, _, body = request(self.base, "GET", "/%s/xhr-polling/%s/%d"
                                  % (self.resource, self.sid, _stamp()))
        assert status == 200, (status, body)
        return frames(body.decode())

    def close(self):
        pass


class JSONPPolling(XHRPolling):
    transport = "jsonp-polling"

    def __init__(self, base, resource="socket.io"):
        self.base, self.resource = base, resource
        got = self._poll("")
        self.sid, self.pending = got[0], got[1:]

    def _poll(self, sid):
        status, _, body = request(self.base, "GET", "/%s/jsonp-polling/%s/%d/0"
                                  % (self.resource, sid, _stamp()),
                                  headers={"Accept": "*/*"})
        assert status == 200, (status, body)
        payload = JSONP.match(body.decode()).group(2)
        return frames(payload.encode().decode("unicode_escape"))

    def send(self, message):
        status, _, body = request(self.base, "POST", "/%s/jsonp-polling/%s/%d/0"
                                  % (self.resource, self.sid, _stamp()),
                                  body=html_form("~m~%d~m~%s" % (len(message), message)),
                                  headers=HTML_FORM_HEADERS)
        assert status == 200, (status, body)

    def receive(self):
        if self.pending:
            got, self.pending = self.pending, []
            return got
        return self._poll(self.sid)


class HTMLFile(XHRPolling):
    transport = "htmlfile"

    def __init__(self, base, resource="socket.io"):
        self.base, self.resource = base, resource
        self.stream = HTTPStream(base, "GET", "/%s/htmlfile//%d" % (resource, _stamp()),
                                 headers=IE_HEADERS)
        assert self.stream.status == 200
        self.sid = self.receive()[0]

    def send(self, message):
        status, _, body = request(self.base, "POST", "/%s/htmlfile/%s/send"
                                  % (self.resource, self.sid),
                                  body=xhr_form("~m~%d~m~%s" % (len(message), message)),
                                  headers=XHR_POST_HEADERS)
        assert (status, body) == (200, b"ok"), (status, body)

    def receive(self, timeout=10):
        """The frames of the next script that carries a message (heartbeats skipped)."""
        while True:
            data = self.stream.read_until(b"</script>", timeout)
            match = SCRIPT.search(data)
            if match is None:
                continue
            got = [f for f in frames(match.group(1).decode("unicode_escape"))
                   if not f.startswith("~h~")]
            if got:
                return got

    def close(self):
        self.stream.close()


TRANSPORTS = {cls.transport: cls for cls in (XHRPolling, JSONPPolling, HTMLFile)}
