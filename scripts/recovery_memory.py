"""Memory per kept session and per kept packet of connection state recovery, one process.

    PYTHONPATH=. python3 scripts/recovery_memory.py [sessions]

Keeps ``sessions`` disconnected sessions as a Socket.IO v5 connection leaves them (a
20-character sid and pid, its own room and one more, ``data`` with one short string) and as
many broadcast packets (``["tick", n]`` to one room), in a SessionAwareAdapter, and prints
the bytes each costs (tracemalloc, Python objects included).
"""
import sys
import tracemalloc

from geventio.adapters import BroadcastOptions
from geventio.adapters.base import SavedSession
from geventio.adapters.session_aware import SessionAwareAdapter
from geventio.protocol.socketio import EVENT, Packet
from geventio.session import new_session_id


def measure(count: int) -> None:
    adapter = SessionAwareAdapter(window=120.0, max_packets=count, max_sessions=count)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(count):
        sid = new_session_id()
        adapter.persist_session("/", SavedSession(sid, new_session_id(), [sid, "room1"],
                                                  {"name": "ada"}))
    middle = tracemalloc.take_snapshot()
    opts = BroadcastOptions(("room1",))
    for n in range(count):
        adapter.broadcast("/", [Packet(EVENT, "/", ["tick", n])], opts)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    per_session = sum(s.size_diff for s in middle.compare_to(before, "filename")) / count
    per_packet = sum(s.size_diff for s in after.compare_to(middle, "filename")) / count
    assert adapter.kept == (count, count)
    sys.stdout.write("%d sessions: %.0f bytes per kept session\n" % (count, per_session))
    sys.stdout.write("%d packets: %.0f bytes per kept packet (['tick', n] to one room)\n"
                     % (count, per_packet))


if __name__ == "__main__":
    measure(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
