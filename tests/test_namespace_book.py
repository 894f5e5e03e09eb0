"""NamespaceBook (geventio.adapters.namespaces): which namespaces a cluster adapter listens
to. The router's names always; one created from a pattern from its first local connection
to its last, and for the duration of each request about it."""
from geventio.adapters.namespaces import NamespaceBook


def book():
    namespaces = NamespaceBook()
    namespaces.serve(["/", "/admin"])
    return namespaces


def test_the_routers_names_are_always_listened_to():
    namespaces = book()
    assert namespaces.names() == ["/", "/admin"] and "/admin" in namespaces
    assert not namespaces.opened("/admin") and not namespaces.closed("/admin")
    assert not namespaces.hold("/") and not namespaces.release("/", connected=False)
    assert namespaces.names() == ["/", "/admin"]


def test_a_dynamic_namespace_is_listened_to_from_its_first_connection_to_its_last():
    namespaces = book()
    assert namespaces.opened("/room-7") is True
    assert namespaces.opened("/room-7") is False
    assert namespaces.names() == ["/", "/admin", "/room-7"]
    assert namespaces.closed("/room-7") is True
    assert "/room-7" not in namespaces and namespaces.closed("/room-7") is False


def test_a_request_listens_to_a_namespace_without_connections_for_its_duration():
    namespaces = book()
    assert namespaces.hold("/room-7") is True
    assert namespaces.hold("/room-7") is False  # a second request at the same time
    assert namespaces.release("/room-7", connected=False) is False
    assert "/room-7" in namespaces
    assert namespaces.release("/room-7", connected=False) is True
    assert "/room-7" not in namespaces


def test_a_held_namespace_outlives_its_last_connection_until_the_request_ends():
    namespaces = book()
    namespaces.opened("/room-7")
    assert namespaces.hold("/room-7") is False
    assert namespaces.closed("/room-7") is False  # a request still waits for answers
    assert namespaces.release("/room-7", connected=False) is True


def test_a_namespace_that_still_has_connections_stays_after_a_request():
    namespaces = book()
    namespaces.hold("/room-7")
    namespaces.opened("/room-7")
    assert namespaces.release("/room-7", connected=True) is False
    assert "/room-7" in namespaces


def test_beyond_the_bound_a_new_dynamic_namespace_is_not_listened_to(monkeypatch, caplog):
    from geventio.adapters import namespaces as module
    monkeypatch.setattr(module, "MAX_DYNAMIC_NAMESPACES", 2)
    namespaces = book()
    assert namespaces.opened("/room-1") and namespaces.opened("/room-2")
    assert namespaces.opened("/room-3") is False and "/room-3" not in namespaces
    assert "served by this process only" in caplog.text
    assert namespaces.hold("/room-3") is False
    assert namespaces.release("/room-3", connected=False) is False
    assert namespaces.closed("/room-1") and namespaces.opened("/room-3")


def test_a_name_added_after_serve_is_listened_to_for_good():
    book = NamespaceBook(["/"])
    assert book.add("/admin") is True
    assert book.add("/admin") is False
    assert not book.is_dynamic("/admin")
    assert book.closed("/admin") is False
    assert "/admin" in book


def test_adding_a_dynamic_name_keeps_listening_without_starting_again():
    book = NamespaceBook(["/"])
    assert book.opened("/room-1") is True
    assert book.add("/room-1") is False
    assert book.closed("/room-1") is False
    assert book.names() == ["/", "/room-1"]
