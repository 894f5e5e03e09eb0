"""The socket.io 0.6 wire codec (``~m~`` framing), with no I/O.

Grammar, as the 0.6 browser client speaks it::

    payload = *frame
    frame   = "~m~" LEN "~m~" DATA      ; LEN: decimal, DATA's length in UTF-16 code units
    DATA    = "~h~" 1*DIGIT             ; heartbeat number
            / "~j~" JSON-text           ; JSON message
            / *CHAR                     ; text message (anything else)

LEN counts UTF-16 code units because the client measures strings with JavaScript's
``String.length``: ``'😀'`` is 2, not 1 (Python code points) nor 4 (UTF-8 bytes).

This module also renders payloads for ``<script>`` contexts (JSONP and htmlfile), escaped so
that no message can end the script block early or break a JavaScript string literal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, List, Union

import simplejson

FRAME = "~m~"
HEARTBEAT = "~h~"
JSON = "~j~"


class ProtocolError(ValueError):
    """A payload that does not follow the 0.6 grammar; the message says where."""


@dataclass(frozen=True)
class Message:
    """A text message."""

    text: str


@dataclass(frozen=True)
class JsonMessage:
    """A ``~j~`` message, already decoded to Python objects."""

    value: Any


@dataclass(frozen=True)
class Heartbeat:
    """A ``~h~N`` heartbeat (the client echoes the server's number)."""

    number: int


Frame = Union[Message, JsonMessage, Heartbeat]


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, as JavaScript counts it."""
    n = len(text)
    if text.isascii():
        return n
    return n + sum(1 for ch in text if ord(ch) > 0xFFFF)


_ENCODE = simplejson.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: Any) -> str:
    """JSON text as JavaScript's JSON.stringify writes it (compact, non-ASCII kept)."""
    return _ENCODE(value)


def frame(data: str) -> str:
    """Wrap one message body in a ``~m~LEN~m~`` frame."""
    return "%s%d%s%s" % (FRAME, utf16_len(data), FRAME, data)


def encode_message(message: Any) -> List[str]:
    """Frames for what a handler passes to ``send()``.

    A ``str`` (or ``bytes``, decoded as UTF-8) is one text message; a list or tuple is
    several messages, each encoded by these rules; ``None`` is nothing; anything else
    becomes one ``~j~`` JSON message.
    """
    if message is None:
        return []
    if isinstance(message, str):
        return [frame(message)]
    if isinstance(message, (bytes, bytearray, memoryview)):
        return [frame(bytes(message).decode("utf-8"))]
    if isinstance(message, (list, tuple)):
        out: List[str] = []
        for item in message:
            out.extend(encode_message(item))
        return out
    return [frame(JSON + dumps(message))]


def encode_json(value: Any) -> str:
    """One ``~j~`` frame for any JSON value (lists included)."""
    return frame(JSON + dumps(value))


def encode_heartbeat(number: int) -> str:
    """The frame ``~m~LEN~m~~h~N``."""
    return frame("%s%d" % (HEARTBEAT, number))


def encode_payload(frames: Iterable[str]) -> str:
    """A payload is its frames back to back."""
    return "".join(frames)


def _classify(data: str) -> Frame:
    if data.startswith(HEARTBEAT):
        digits = data[3:]
        if not digits.isdigit() or not digits.isascii():
            raise ProtocolError("heartbeat %r has no number" % data[:40])
        return Heartbeat(int(digits))
    if data.startswith(JSON):
        try:
            return JsonMessage(simplejson.loads(data[3:]))
        except (ValueError, RecursionError) as exc:
            raise ProtocolError("invalid JSON in ~j~ message: %s" % exc) from None
    return Message(data)


def decode_payload(payload: str, *, max_frames: int = 10_000) -> List[Frame]:
    """Decode every frame of a payload, in order.

    Raises :class:`ProtocolError` for anything that is not a sequence of whole frames:
    a missing ``~m~``, a bad length, a truncated body, trailing garbage, invalid JSON.
    ``max_frames`` bounds the work one payload can cause.
    """
    frames: List[Frame] = []
    pos = 0
    end = len(payload)
    # Lengths are in UTF-16 code units; slicing a Python str counts code points. They agree
    # for text without astral characters, which is by far the common case.
    astral = not payload.isascii() and any(ord(ch) > 0xFFFF for ch in payload)
    while pos < end:
        if not payload.startswith(FRAME, pos):
            raise ProtocolError("expected '~m~' at offset %d, found %r"
                                % (pos, payload[pos:pos + 10]))
        digits_start = pos + 3
        sep = payload.find(FRAME, digits_start)
        if sep < 0:
            raise ProtocolError("unterminated length at offset %d" % digits_start)
        digits = payload[digits_start:sep]
        if not digits or not digits.isdigit() or not digits.isascii() or len(digits) > 10:
            raise ProtocolError("bad length %r at offset %d" % (digits[:20], digits_start))
        length = int(digits)
        body_start = sep + 3
        if astral:
            body_end = _advance_utf16(payload, body_start, length)
        else:
            body_end = body_start + length
        if body_end > end:
            raise ProtocolError(
                "frame at offset %d says %d units but the payload ends first" % (pos, length))
        frames.append(_classify(payload[body_start:body_end]))
        if len(frames) > max_frames:
            raise ProtocolError("more than %d frames in one payload" % max_frames)
        pos = body_end
    return frames


def _advance_utf16(text: str, start: int, units: int) -> int:
    """Index just past ``units`` UTF-16 code units of ``text`` from ``start``."""
    i = start
    end = len(text)
    while units > 0:
        if i >= end:
            return end + units  # signals truncation to the caller
        units -= 2 if ord(text[i]) > 0xFFFF else 1
        i += 1
    if units < 0:
        raise ProtocolError("frame length ends inside a surrogate pair at offset %d" % (i - 1))
    return i


# -- <script> contexts ---------------------------------------------------------------------

_SCRIPT_ESCAPES = str.maketrans({
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
})


def script_string(text: str) -> str:
    """A JavaScript string literal for ``text`` that is safe inside ``<script>``.

    JSON-quoted, with ``</`` written ``<\\/`` and ``<!--`` written ``<\\!--`` (so the
    HTML tokenizer never sees an end tag or comment), and U+2028/U+2029 escaped (they
    end a line in older JavaScript).
    """
    literal = simplejson.dumps(text, ensure_ascii=False)
    if "<" in literal:
        literal = literal.replace("</", "<\\/").replace("<!--", "<\\!--")
    if "\u2028" in literal or "\u2029" in literal:
        literal = literal.translate(_SCRIPT_ESCAPES)
    return literal


def jsonp_body(index: int, payload: str) -> str:
    """The JSONP response ``io.JSONP[i]._("payload");``."""
    return "io.JSONP[%d]._(%s);" % (index, script_string(payload))


HTMLFILE_PREAMBLE = "<html><body>" + " " * 244


def htmlfile_chunk(payload: str) -> str:
    """One htmlfile push: ``<script>parent.s._("payload", document);</script>``."""
    return "<script>parent.s._(%s, document);</script>" % script_string(payload)
