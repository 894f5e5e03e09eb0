// Real socket.io clients in node for the Admin UI tests: the admin client (socket.io-client
// 4.x on the admin namespace, as the UI connects) and ordinary 4.x / 2.x clients.
//
//   node tests/js/admin/client.js '{}'
//
// Prints {"ready": true}; then takes commands on stdin (tests/js/cluster/lib.js protocol):
//   connect {name, url, nsp, auth, version: 4|2, transports}  -> {id} or {error}
//   received {name}                 -> every event so far, [event, ...args], in order
//   waitFor {name, event, count, timeout, match}  -> the first `count` entries of `event`
//       (with `match`: those whose JSON text contains it)
//   emit {name, event, args}        (no ack)
//   state {name}                    -> {connected, id, reason}
//   close {name}
//   bcrypt {password}               -> a bcrypt hash (bcryptjs, as node's admin-ui makes)
// A client records "$connect", "$disconnect" (with the reason) and "$connect_error" (with
// the message) as events too.
'use strict';

const { io } = require('socket.io-client');
const ioV2 = require('socket.io-client-v2');
const bcrypt = require('bcryptjs');
const { encode, sleep, serve, write } = require('../cluster/lib');

const clients = new Map();   // name -> {socket, log}

function client(name) {
  const c = clients.get(name);
  if (!c) throw new Error('no client ' + name);
  return c;
}

function connect(msg) {
  const log = [];
  const url = msg.url + (msg.nsp || '');
  const opts = { forceNew: true, reconnection: false, transports: msg.transports || ['polling', 'websocket'] };
  let socket;
  if (msg.version === 2) {
    socket = ioV2(url, opts);
    const onevent = socket.onevent;
    socket.onevent = function (packet) {
      log.push(encode(packet.data || []));
      return onevent.call(this, packet);
    };
  } else {
    opts.auth = msg.auth || {};
    opts.withCredentials = true;
    socket = io(url, opts);
    socket.onAny((...args) => log.push(encode(args)));
  }
  const entry = { socket, log, reason: null };
  clients.set(msg.name, entry);
  return new Promise((resolve) => {
    socket.on('connect', () => { log.push(['$connect']); resolve({ id: socket.id }); });
    socket.on('connect_error', (err) => {
      log.push(['$connect_error', err.message]);
      resolve({ error: err.message });
    });
    socket.on('error', (err) => { log.push(['$error', String(err)]); resolve({ error: String(err) }); });
    socket.on('disconnect', (reason) => { entry.reason = reason; log.push(['$disconnect', reason]); });
  });
}

async function waitFor(msg) {
  const c = client(msg.name);
  const count = msg.count || 1;
  const deadline = Date.now() + (msg.timeout || 10000);
  for (;;) {
    const found = c.log.filter((e) => e[0] === msg.event
      && (!msg.match || JSON.stringify(e).includes(msg.match)));
    if (found.length >= count) return found.slice(0, count);
    if (Date.now() > deadline) {
      throw new Error(`${msg.name}: ${found.length} of ${count} ${msg.event} (match ${msg.match}); got ${JSON.stringify(c.log).slice(-3000)}`);
    }
    await sleep(20);
  }
}

serve({
  connect,
  received: async (msg) => client(msg.name).log,
  waitFor,
  emit: async (msg) => { client(msg.name).socket.emit(msg.event, ...(msg.args || [])); return null; },
  state: async (msg) => {
    const c = client(msg.name);
    return { connected: c.socket.connected, id: c.socket.id || null, reason: c.reason };
  },
  close: async (msg) => { client(msg.name).socket.close(); return null; },
  bcrypt: async (msg) => bcrypt.hashSync(msg.password, 4),
}, async () => { for (const c of clients.values()) c.socket.close(); });

write({ ready: true });
