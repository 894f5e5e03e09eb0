// node's @socket.io/redis-emitter 5.x, driven by the tests (stdin commands: lib.js).
//
//   node tests/js/cluster/emitter.js '{"redisUrl": "redis://127.0.0.1:PORT/0", "key": "k"}'
//
// Commands (`nsp` defaults to "/"; `to`/`except` a room or a list of rooms): emit {event,
// args, to, except, volatile, compress}, socketsJoin {rooms, to, except}, socketsLeave {...},
// disconnectSockets {close, to, except}, serverSideEmit {event, args}. Each answers once its
// PUBLISH has been sent to Redis and answered.
'use strict';

const { Emitter } = require('@socket.io/redis-emitter');
const { createClient } = require('redis');
const { decode, write, serve } = require('./lib');

const config = Object.assign({ redisUrl: null, key: 'socket.io' }, JSON.parse(process.argv[2] || '{}'));

function rooms(value) {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

async function main() {
  const redis = createClient({ url: config.redisUrl });
  redis.on('error', (err) => console.error('emitter redis:', err.message));
  await redis.connect();
  const emitter = new Emitter(redis, { key: config.key });

  function target(msg) {
    let op = emitter.of(msg.nsp || '/');
    const to = rooms(msg.to);
    const ex = rooms(msg.except);
    if (to.length) op = op.to(to);
    if (ex.length) op = op.except(ex);
    if (msg.volatile) op = op.volatile;
    if (msg.compress === false) op = op.compress(false);
    return op;
  }
  // The emitter publishes without waiting; a PING on the same connection is answered after.
  const flushed = async () => { await redis.ping(); return true; };

  serve({
    emit: async (msg) => { target(msg).emit(msg.event, ...decode(msg.args || [])); return flushed(); },
    socketsJoin: async (msg) => { target(msg).socketsJoin(msg.rooms); return flushed(); },
    socketsLeave: async (msg) => { target(msg).socketsLeave(msg.rooms); return flushed(); },
    disconnectSockets: async (msg) => { target(msg).disconnectSockets(!!msg.close); return flushed(); },
    serverSideEmit: async (msg) => {
      emitter.of(msg.nsp || '/').serverSideEmit(msg.event, ...decode(msg.args || []));
      return flushed();
    },
  }, async () => { await redis.disconnect().catch(() => {}); });
  write({ ready: true, pid: process.pid });
}

main().catch((err) => { console.error(err); process.exit(1); });
