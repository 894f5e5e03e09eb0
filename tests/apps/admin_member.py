"""A geventio cluster member with the Admin UI, for tests/test_admin_cluster.py:
``geventio-serve tests/apps/admin_member.py:application`` with GEVENTIO_REDIS_URL,
GEVENTIO_REDIS_KEY and GEVENTIO_SERVER_ID in the environment. Its router is instrumented
(no authentication) under that server id; its clients may ``join(room)``."""
import os

import geventio


class Member(geventio.SocketConnection):
    @geventio.event("join")
    def on_join(self, room):
        self.join(room)
        return "joined"


router = geventio.get_router(Member, adapter=geventio.RedisAdapter(
    os.environ["GEVENTIO_REDIS_URL"], key=os.environ["GEVENTIO_REDIS_KEY"]))
router.instrument(auth=None, server_id=os.environ["GEVENTIO_SERVER_ID"], stats_interval=0.5)

application = geventio.Application([router.route()], flash_policy_port=None)
