"""Client-supplied text made safe to log: control characters escaped, one mechanism.

A value that comes from a client (a path, a header, a session id, a message) can hold a
line feed, which in a plain-text log would start a forged line. :class:`EscapeFilter`,
installed on every geventio module logger by :func:`install`, rewrites each record's
arguments before any handler formats it: text with a character that is not printable
(control characters, line and paragraph separators) gets it escaped as Python would
(``\\n``, ``\\x1b``, ``\\u2028``). Filters run only for records whose level is enabled, so
a disabled ``log.debug`` costs nothing more than before.
"""
from __future__ import annotations

import logging
import sys
from typing import Any, Mapping

#: loggers geventio logs to that are not named after a module
EXTRA_LOGGERS = ("geventio.access",)

_SAFE_TYPES = (int, float, bool, type(None), bytes, bytearray)


def escape(text: str) -> str:
    """``text`` with every non-printable character escaped (unchanged when there is none)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class _Escaped:
    """An argument shown escaped by ``%s`` and ``%r`` alike."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        return escape(str(self.value))

    def __repr__(self) -> str:
        return escape(repr(self.value))

    def __int__(self) -> int:  # "%d" of a number type logging does not know
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __index__(self) -> int:
        return self.value.__index__()


def _safe(value: Any) -> Any:
    if type(value) is str:
        return value if value.isprintable() else _Escaped(value)
    if isinstance(value, _SAFE_TYPES):
        return value
    try:
        if str(value).isprintable():
            return value  # left as it is, for handlers that look at the arguments
    except Exception:  # noqa: BLE001 -- formatting will report it as logging does
        return value
    return _Escaped(value)


class EscapeFilter(logging.Filter):
    """Escapes the arguments of every record (or its message, when it has none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if args:
            if isinstance(args, Mapping):
                record.args = {key: _safe(value) for key, value in args.items()}
            else:
                record.args = tuple(_safe(value) for value in args)
        elif isinstance(record.msg, str):
            # a message formatted before logging (pywsgi's access and error lines)
            record.msg = escape(record.msg)
        return True


FILTER = EscapeFilter()


def install() -> None:
    """Put :data:`FILTER` on the logger of every imported geventio module (and
    :data:`EXTRA_LOGGERS`); safe to call again after more modules are imported."""
    names = [name for name in list(sys.modules)
             if name == "geventio" or name.startswith("geventio.")]
    for name in names + list(EXTRA_LOGGERS):
        logger = logging.getLogger(name)
        if FILTER not in logger.filters:
            logger.addFilter(FILTER)


__all__ = ["EXTRA_LOGGERS", "EscapeFilter", "FILTER", "escape", "install"]
