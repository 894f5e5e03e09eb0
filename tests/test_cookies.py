"""Request.cookies: a lenient Cookie header parser (one malformed cookie loses no other)."""
from __future__ import annotations

from http.cookies import SimpleCookie

import pytest

from geventio.request import Request, parse_cookies


def _simple_cookie(header):
    jar = SimpleCookie()
    try:
        jar.load(header)
    except Exception:
        pass
    return {k: m.value for k, m in jar.items()}


@pytest.mark.parametrize("header, expected, simple_cookie_loses", [
    ('a=1; b="unterminated; c=3', {"a": "1", "b": '"unterminated', "c": "3"}, True),
    ("a=1; bad name=2; c=3", {"a": "1", "bad name": "2", "c": "3"}, True),
    ("a=1; [x]=2; d=3", {"a": "1", "[x]": "2", "d": "3"}, True),
    # a ':' in a name: this Python's SimpleCookie keeps it (older ones did not)
    ("a=1; b:c=2; d=3", {"a": "1", "b:c": "2", "d": "3"}, False),
])
def test_a_malformed_cookie_loses_no_other(header, expected, simple_cookie_loses):
    assert parse_cookies(header) == expected
    # what the standard library keeps of the same header (the reason for the parser)
    assert (_simple_cookie(header) != expected) is simple_cookie_loses
    assert Request({"HTTP_COOKIE": header}).cookies == expected


def test_simple_cookie_loses_the_cookies_after_an_unterminated_quote():
    header = 'a=1; b="unterminated; c=3'
    assert "c" not in _simple_cookie(header)
    assert Request({"HTTP_COOKIE": header}).cookies["c"] == "3"


def test_ordinary_headers():
    assert parse_cookies("") == {}
    assert parse_cookies("session=abc123") == {"session": "abc123"}
    assert parse_cookies("a=1;b=2;  c = 3 ") == {"a": "1", "b": "2", "c": "3"}
    assert parse_cookies("tok=a=b=c") == {"tok": "a=b=c"}
    assert parse_cookies("e=") == {"e": ""}


def test_quotes_whole_value_only():
    assert parse_cookies('q="hello world"; r="x; s=x"') == {
        "q": "hello world", "r": '"x', "s": 'x"'}
    assert parse_cookies('t=""') == {"t": ""}
    assert parse_cookies('u="') == {"u": '"'}


def test_parts_without_a_name_or_equals_are_skipped():
    assert parse_cookies("a=1; flag; =nameless; ;; b=2") == {"a": "1", "b": "2"}


def test_the_first_of_a_repeated_name_wins():
    # browsers send the most specific (longest path) first, RFC 6265 §5.4; Werkzeug's
    # request.cookies.get and node's cookie package keep the first too
    assert parse_cookies("id=path-specific; id=root") == {"id": "path-specific"}


def test_request_cookies_is_parsed_once_and_defaults_to_empty():
    request = Request({})
    assert request.cookies == {}
    assert request.cookies is request.cookies
