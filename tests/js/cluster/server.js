// A node socket.io 4.8 server on @socket.io/redis-adapter 8.x, driven by the tests.
//
//   node tests/js/cluster/server.js '{"redisUrl": "redis://127.0.0.1:PORT/0", "key": "k",
//        "port": 0, "namespaces": ["/", "/admin"], "name": "A", "requestsTimeout": 5000,
//        "serverEvents": {"ping-sse": "A-pong"}, "parents": ["^/room-\\d+$"],
//        "cleanupEmptyChildNamespaces": false}'
//
// `parents`: regex sources of parent namespaces (io.of(new RegExp(source))): a client may
// connect to any matching name, which node creates as a child namespace with an adapter
// of its own (subscribed when it is created); `cleanupEmptyChildNamespaces` is node's option.
//
// Prints {"ready": true, "port", "pid", "uids": {nsp: adapter uid}} once it listens on
// 127.0.0.1 and its adapters are subscribed; then takes commands on stdin (lib.js). `nsp`
// defaults to "/" everywhere; `to`/`except` are a room or a list of rooms.
//
// Server side: io.emit, to/except, volatile, compress, broadcast with ack (emitWithAck),
// serverSideEmit (with ack), fetchSockets, socketsJoin/socketsLeave/disconnectSockets,
// allRooms, serverCount, handlers for other servers' serverSideEmit (handle, serverEvents).
// A connecting socket's `data` is its auth's `data`; it joins a room on the client event
// "join" (ack: its id) and leaves on "leave".
//
// Clients (socket.io-client 4.x, to this server or any url): connect, clientJoin, clientLeave,
// clientEmit, received, waitFor, clientClose. A client records every event as
// [event, ...args] and "$disconnect" with the reason; it answers acks with its `ack` value
// (default "<name>-ack").
'use strict';

const http = require('http');
const { Server } = require('socket.io-v4');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');
const { io: ioClient } = require('socket.io-client');
const { decode, encode, write, sleep, serve } = require('./lib');

const config = Object.assign({
  redisUrl: null, key: 'socket.io', port: 0, namespaces: ['/'], name: 'node',
  requestsTimeout: 5000, serverEvents: {}, parents: [], cleanupEmptyChildNamespaces: false,
}, JSON.parse(process.argv[2] || '{}'));

const serverEventLog = [];   // [{nsp, event, args}] from other servers' serverSideEmit
const clients = new Map();   // name -> {socket, log, ack}

function rooms(value) {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

// io.of(nsp) narrowed by to/except (and flags), as a BroadcastOperator.
function target(msg) {
  let op = io.of(msg.nsp || '/');
  const to = rooms(msg.to);
  const ex = rooms(msg.except);
  if (to.length) op = op.to(to);
  if (ex.length) op = op.except(ex);
  if (msg.volatile) op = op.volatile;
  if (msg.compress === false) op = op.compress(false);
  if (msg.local) op = op.local;
  return op;
}

function handleServerEvent(nsp, event, reply) {
  io.of(nsp).on(event, (...args) => {
    const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    serverEventLog.push({ nsp, event, args: encode(args) });
    if (cb) cb(reply);
  });
}

function onConnection(socket) {
  const auth = socket.handshake.auth || {};
  if (auth.data && typeof auth.data === 'object') socket.data = auth.data;
  socket.on('join', (room, cb) => { socket.join(room); if (typeof cb === 'function') cb(socket.id); });
  socket.on('leave', (room, cb) => { socket.leave(room); if (typeof cb === 'function') cb(socket.id); });
}

function client(name) {
  const c = clients.get(name);
  if (!c) throw new Error('no client named ' + name);
  return c;
}

function withTimeout(promise, ms, label) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out after ' + ms + ' ms: ' + label)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const commands = {
  // --- this server ----------------------------------------------------------------------
  emit: async (msg) => {
    target(msg).emit(msg.event, ...decode(msg.args || []));
    return true;
  },
  emitWithAck: async (msg) => new Promise((resolve) => {
    target(msg).timeout(msg.timeout || 2000).emit(msg.event, ...decode(msg.args || []),
      (err, responses) => resolve({ error: err ? err.message : null, responses }));
  }),
  serverSideEmit: async (msg) => {
    const nsp = io.of(msg.nsp || '/');
    const args = decode(msg.args || []);
    if (!msg.ack) { nsp.serverSideEmit(msg.event, ...args); return true; }
    return new Promise((resolve) => nsp.serverSideEmit(msg.event, ...args,
      (err, responses) => resolve({ error: err ? err.message : null, responses })));
  },
  fetchSockets: async (msg) => {
    const sockets = await target(msg).fetchSockets();
    return sockets.map((s) => ({ id: s.id, rooms: Array.from(s.rooms), data: s.data, handshake: s.handshake }));
  },
  socketsJoin: async (msg) => { target(msg).socketsJoin(msg.rooms); return true; },
  socketsLeave: async (msg) => { target(msg).socketsLeave(msg.rooms); return true; },
  disconnectSockets: async (msg) => { target(msg).disconnectSockets(!!msg.close); return true; },
  allRooms: async (msg) => Array.from(await io.of(msg.nsp || '/').adapter.allRooms()).sort(),
  serverCount: async (msg) => io.of(msg.nsp || '/').adapter.serverCount(),
  // the names of the namespaces this server has now (children of parents included)
  namespaces: async () => Array.from(io._nsps.keys()).sort(),
  localRooms: async (msg) => {
    const out = {};
    for (const [room, ids] of io.of(msg.nsp || '/').adapter.rooms) out[room] = Array.from(ids).sort();
    return out;
  },
  handle: async (msg) => { handleServerEvent(msg.nsp || '/', msg.event, decode(msg.reply)); return true; },
  serverEvents: async (msg) => {
    const out = serverEventLog.slice();
    if (msg.clear) serverEventLog.length = 0;
    return out;
  },
  // --- clients --------------------------------------------------------------------------
  connect: async (msg) => {
    const name = msg.name;
    const url = (msg.url || 'http://127.0.0.1:' + httpServer.address().port) + (msg.nsp || '/');
    const socket = ioClient(url, {
      forceNew: true, reconnection: false, transports: msg.transports || ['websocket'],
      auth: msg.auth || {}, query: msg.query || {},
    });
    const entry = { socket, log: [], ack: msg.ack === undefined ? name + '-ack' : decode(msg.ack) };
    clients.set(name, entry);
    socket.onAny((event, ...args) => {
      const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null;
      entry.log.push([event, ...args]);
      if (cb) cb(entry.ack);
    });
    socket.on('disconnect', (reason) => entry.log.push(['$disconnect', reason]));
    await withTimeout(new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    }), msg.timeout || 8000, 'connect ' + name);
    return { id: socket.id };
  },
  clientJoin: async (msg) => withTimeout(client(msg.name).socket.emitWithAck('join', msg.room), 5000, 'join'),
  clientLeave: async (msg) => withTimeout(client(msg.name).socket.emitWithAck('leave', msg.room), 5000, 'leave'),
  clientEmit: async (msg) => {
    const { socket } = client(msg.name);
    const args = decode(msg.args || []);
    if (msg.ack) return withTimeout(socket.emitWithAck(msg.event, ...args), msg.timeout || 5000, 'ack');
    socket.emit(msg.event, ...args);
    return true;
  },
  received: async (msg) => {
    const c = client(msg.name);
    const out = c.log.slice();
    if (msg.clear) c.log.length = 0;
    return out;
  },
  // Resolves with the client's log once it holds `count` (default 1) entries named `event`.
  waitFor: async (msg) => {
    const c = client(msg.name);
    const count = msg.count || 1;
    const deadline = Date.now() + (msg.timeout || 5000);
    for (;;) {
      const hits = c.log.filter((e) => e[0] === msg.event);
      if (hits.length >= count) return c.log.slice();
      if (Date.now() > deadline) {
        throw new Error(msg.name + ' got ' + hits.length + '/' + count + ' ' + msg.event +
          '; log: ' + JSON.stringify(encode(c.log)));
      }
      await sleep(10);
    }
  },
  clientState: async (msg) => {
    const { socket } = client(msg.name);
    return { connected: socket.connected, id: socket.id || null };
  },
  clientClose: async (msg) => { client(msg.name).socket.disconnect(); clients.delete(msg.name); return true; },
};

let io;
let httpServer;
const redisClients = [];

async function main() {
  httpServer = http.createServer();
  const options = { cleanupEmptyChildNamespaces: !!config.cleanupEmptyChildNamespaces };
  if (config.redisUrl) {
    const pub = createClient({ url: config.redisUrl });
    const sub = pub.duplicate();
    for (const c of [pub, sub]) {
      c.on('error', (err) => console.error(config.name + ' redis:', err.message));
      redisClients.push(c);
    }
    await Promise.all([pub.connect(), sub.connect()]);
    options.adapter = createAdapter(pub, sub, { key: config.key, requestsTimeout: config.requestsTimeout });
    io = new Server(httpServer, options);
    for (const nsp of config.namespaces) io.of(nsp).on('connection', onConnection);
    for (const source of config.parents) io.of(new RegExp(source)).on('connection', onConnection);
    // The adapters' (P)SUBSCRIBEs are queued on `sub`; one more SUBSCRIBE answered means
    // they were processed (one connection answers in order).
    await sub.subscribe(config.key + '-harness-ready#', () => {});
  } else {
    io = new Server(httpServer, options);
    for (const nsp of config.namespaces) io.of(nsp).on('connection', onConnection);
    for (const source of config.parents) io.of(new RegExp(source)).on('connection', onConnection);
  }
  for (const [event, reply] of Object.entries(config.serverEvents)) {
    for (const nsp of config.namespaces) handleServerEvent(nsp, event, reply);
  }
  await new Promise((resolve) => httpServer.listen(config.port, '127.0.0.1', resolve));
  const uids = {};
  for (const nsp of config.namespaces) uids[nsp] = io.of(nsp).adapter.uid || null;
  serve(commands, async () => {
    for (const c of clients.values()) c.socket.disconnect();
    io.close();
    await Promise.all(redisClients.map((c) => c.disconnect().catch(() => {})));
  });
  write({ ready: true, port: httpServer.address().port, pid: process.pid, name: config.name, uids });
}

main().catch((err) => { console.error(err); process.exit(1); });
