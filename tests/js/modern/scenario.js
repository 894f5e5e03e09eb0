#!/usr/bin/env node
// One modern client's whole conversation with a geventio router (tests/test_modern_node.py).
//
//   node tests/js/modern/scenario.js <base url> <v4|v2> <polling|websocket|upgrade>
//
// v4 = socket.io-client 4.x (Engine.IO 4 / Socket.IO 5), v2 = socket.io-client 2.x
// (Engine.IO 3 / Socket.IO 4). The 1 MiB messages go to a second router at /bulk/. The main socket carries auth: v4 in the CONNECT payload
// ({token: 'abc', ...}), v2 as a query in its namespace ('/ns?token=1'). The server side is
// the Chat handler of test_modern_node.py. Prints one JSON report: {step: {ok, value|error}}.
'use strict';

const L = require('./lib');

const [base, version, variant] = process.argv.slice(2);
const io = L.client(version);
const transports = L.transports(variant);
const v4 = version === 'v4';

// Every JSON type, nested containers and text outside the BMP.
const VALUES = [
  null, true, false, 0, 1, -1, 9007199254740991, -9007199254740991, 1.5, -0.25, 1e-7, 1e300,
  '', 'plain', 'é€ \u2028 😀𝄞', [], {}, [1, [2, [3, [null, 'x']]]],
  { a: { b: [1, { c: null, d: '😀' }] }, '😀 key': true, empty: {} },
];

function options(extra) {
  return Object.assign({ forceNew: true, transports, reconnection: false }, extra);
}

// The main socket: auth in the CONNECT payload (v4) or in the namespace query (v2).
function mainSocket(extra) {
  if (v4) return io(base, options(Object.assign({ auth: { token: 'abc', n: 1, nested: { x: [1] } } }, extra)));
  return io(base + '/ns?token=1', options(extra));
}

// A socket whose on_open refuses: auth {refuse: mode} (v4) or '/ns?refuse=mode' (v2).
function refusedSocket(mode) {
  if (v4) return io(base, options({ auth: { refuse: mode } }));
  return io(base + '/ns?refuse=' + mode, options());
}

function pattern(n) {
  const chunk = 'geventio 1 MiB text / ';
  let s = '';
  while (s.length < n) s += chunk;
  return s.slice(0, n);
}

let bulkSocket = null;
function bulk() {
  if (!bulkSocket) bulkSocket = io(base, options({ path: '/bulk/' }));
  return L.connected(bulkSocket);
}

async function main() {
  const order = [];
  const disconnects = [];
  let handshake = null;
  let upgradedTo = null;
  const welcomes = [];

  const sock = mainSocket();
  sock.io.engine.once('handshake', (data) => { handshake = data; });
  sock.io.engine.on('upgrade', (t) => { upgradedTo = t.name; });
  sock.on('connect', () => order.push('connect'));
  sock.on('welcome', (...args) => { order.push('welcome'); welcomes.push(args); });
  sock.on('disconnect', (reason) => { order.push('disconnect'); disconnects.push(reason); });
  // The server calls back: mode 'one' -> one value, 'many' -> several, 'none' -> none.
  sock.on('question', (mode, value, cb) => {
    if (mode === 'one') cb({ doubled: value * 2 });
    else if (mode === 'many') cb(1, 'two', value);
    else cb();
  });
  sock.on('silence', () => { /* never acknowledges */ });

  const steps = [
    ['connect', async () => {
      await L.connected(sock);
      return { id: sock.id };
    }],
    ['handshake', () => handshake],
    ['welcome', async () => {
      if (!welcomes.length) await L.once(sock, 'welcome');
      return { args: welcomes[0], order: order.slice(0, 2) };
    }],
    ['info', async () => (await L.ack(sock, 'info'))[0]],
    ['types', async () => L.ack(sock, 'types', ...VALUES)],
    ['ack none', async () => L.ack(sock, 'ack none', 1)],
    ['ack one', async () => L.ack(sock, 'ack one', 1)],
    ['ack many', async () => L.ack(sock, 'ack many', 1)],
    ['binary', async () => {
      const sent = [Buffer.from([0, 1, 2, 3, 254, 255]),
        { nested: Buffer.from('héllo', 'utf8'), list: [1, Buffer.from([7])] }];
      return L.describe(await L.ack(sock, 'binary', ...sent));
    }],
    ['call one', async () => (await L.ack(sock, 'ask', 'one', 21))[0]],
    ['call many', async () => (await L.ack(sock, 'ask', 'many', 3))[0]],
    ['call none', async () => (await L.ack(sock, 'ask', 'none', 0))[0]],
    ['call timeout', async () => (await L.ack(sock, 'ask silent'))[0]],
    ['emit callback', async () => {
      const got = L.once(sock, 'callback got');
      await L.ack(sock, 'emit with callback', 5);
      return (await got)[0];
    }],
    ['message text', async () => {
      const got = L.once(sock, 'message');
      sock.send('hello 😀');
      return (await got)[0];
    }],
    ['message object', async () => {
      const got = L.once(sock, 'message');
      sock.send({ a: [1, 2], b: 'ü' });
      return (await got)[0];
    }],
    // 1 MiB each way takes a while to encode, send and decode on a loaded machine: these go
    // to the 'bulk' router, whose heartbeat is not the 0.2 s one of the main router.
    ['big text', async () => {
      const text = pattern(1024 * 1024 - 2) + '😀'; // 1 MiB of UTF-16 code units
      const [back, length] = await L.ack(await bulk(), 'big', text);
      return { sentLength: text.length, serverLength: length, intact: back === text };
    }],
    ['big binary', async () => {
      const buf = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < buf.length; i++) buf[i] = (i * 7 + (i >> 10)) & 0xff;
      const s = await bulk();
      try {
        const [back, length] = await L.ack(s, 'big', buf);
        const b = L.asBuffer(back);
        return { sentLength: buf.length, serverLength: length, intact: !!b && b.equals(buf) };
      } finally {
        s.close();
      }
    }],
    ['burst to server', async () => {
      for (let i = 0; i < 200; i++) sock.emit('seq', i);
      return (await L.ack(sock, 'seq done'))[0];
    }],
    ['burst to client', async () => {
      const got = [];
      const all = new Promise((resolve) => {
        sock.on('burst item', (i) => { got.push(i); if (got.length === 200) resolve(); });
      });
      await L.ack(sock, 'burst', 200);
      await L.withTimeout(all, 8000, '200 burst items');
      return got;
    }],
    ['idle', async () => {
      const engineId = sock.io.engine.id;
      const before = disconnects.length;
      await L.sleep(1100); // > 2 ping intervals (0.3 s) + ping timeout (0.2 s)
      const echo = await L.ack(sock, 'echo', 'still here');
      return {
        connected: sock.connected, sameEngine: sock.io.engine.id === engineId,
        disconnects: disconnects.length - before, echo,
      };
    }],
    ['transport', async () => ({
      name: sock.io.engine.transport.name, upgradedTo,
      server: (await L.ack(sock, 'info'))[0].transport,
    })],
    ['send list', async () => {
      const got = [];
      const three = new Promise((resolve) => {
        const on = (m) => { got.push(m); if (got.length === 3) { sock.off('message', on); resolve(); } };
        sock.on('message', on);
      });
      sock.emit('send list');
      await L.withTimeout(three, 5000, 'three messages');
      return got;
    }],
    ['binary event', async () => {
      const got = L.once(sock, 'bin');
      sock.emit('emit binary');
      return L.describe(await got);
    }],
    ['handler raises', async () => {
      sock.emit('boom');
      const echo = await L.ack(sock, 'echo', 'still alive');
      return { echo, connected: sock.connected };
    }],
    ['unknown namespace', async () => {
      const s = io(base + '/nowhere', options());
      try { await L.connected(s); return 'connected'; } catch (e) { return e; } finally { s.close(); }
    }],
    ['multiplex', async () => {
      // Two namespaces over one Engine.IO connection; closing one leaves the other.
      const mgr = new io.Manager(base, { transports, reconnection: false });
      const a = v4 ? mgr.socket('/', { auth: { token: 'mux' } }) : mgr.socket('/');
      const b = v4 ? mgr.socket('/ns', { auth: { token: 'mux' } }) : mgr.socket('/ns', { query: 'token=mux' });
      try {
        await Promise.all([L.connected(a), L.connected(b)]);
        const infoA = (await L.ack(a, 'info'))[0];
        const infoB = (await L.ack(b, 'info'))[0];
        const gone = L.once(b, 'disconnect');
        b.emit('kick me');
        const [reason] = await gone;
        const echo = await L.ack(a, 'echo', 'a still here');
        return { sameSession: infoA.engine === infoB.engine, namespaces: [infoA.namespace, infoB.namespace],
          reason, echo, aConnected: a.connected, bConnected: b.connected };
      } finally {
        a.close(); b.close();
      }
    }],
    ['call interrupted', async () => {
      // The server is blocked in call() when the client goes: call() must raise.
      const s = v4 ? io(base, options({ auth: { token: 'interrupt' } })) : io(base + '/ns?token=interrupt', options());
      s.on('silence', () => { /* never acknowledges */ });
      await L.connected(s);
      s.emit('ask and wait');
      await L.sleep(150);
      s.close();
      return 'closed';
    }],
    ['refused by False', async () => {
      const s = refusedSocket('false');
      try { await L.connected(s); return 'connected'; } catch (e) { return e; } finally { s.close(); }
    }],
    ['refused by raise', async () => {
      const s = refusedSocket('raise');
      try { await L.connected(s); return 'connected'; } catch (e) { return e; } finally { s.close(); }
    }],
    ['reconnect', async () => {
      const r = v4
        ? io(base, options({ auth: { token: 'r' }, reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100, randomizationFactor: 0 }))
        : io(base + '/ns?token=r', options({ reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100, randomizationFactor: 0 }));
      try {
        await L.connected(r);
        const first = (await L.ack(r, 'info'))[0];
        const dropped = L.once(r, 'disconnect');
        const again = new Promise((resolve) => r.once('disconnect', () => r.once('connect', resolve)));
        r.emit('drop me');
        const [reason] = await dropped;
        await L.withTimeout(again, 8000, 'reconnection');
        const second = (await L.ack(r, 'info'))[0];
        return { reason, first, second, connected: r.connected };
      } finally {
        r.close();
      }
    }],
    ['rooms', async () => {
      const names = ['A', 'B', 'C'];
      const socks = {};
      const got = { A: [], B: [], C: [] };
      for (const n of names) {
        const s = io(base + '/rooms', options());
        s.on('room msg', (m) => got[n].push(m));
        s.on('all msg', (m) => got[n].push('all:' + m));
        socks[n] = s;
      }
      try {
        await Promise.all(names.map((n) => L.connected(socks[n])));
        const joined = {};
        for (const n of names) joined[n] = (await L.ack(socks[n], 'join', 'r1'))[0];
        // After the sender's ack, one echo per socket: anything sent to a socket before that
        // echo's answer has arrived by then (one ordered queue per client).
        const fence = () => Promise.all(names.map((n) => L.ack(socks[n], 'echo', 'fence')));
        const snap = () => JSON.parse(JSON.stringify(got));
        const steps = {};
        await L.ack(socks.A, 'to room', 'r1', 'm1', null); await fence(); steps.m1 = snap();
        await L.ack(socks.A, 'to room', 'r1', 'm2', 'conn'); await fence(); steps.m2 = snap();
        const left = (await L.ack(socks.B, 'leave', 'r1'))[0];
        await L.ack(socks.C, 'to room', 'r1', 'm3', 'sid'); await fence(); steps.m3 = snap();
        await L.ack(socks.A, 'to all', 'm4'); await fence(); steps.m4 = snap();
        return { joined, left, steps, final: got };
      } finally {
        for (const n of names) socks[n].close();
      }
    }],
    ['server disconnect', async () => {
      const got = L.once(sock, 'disconnect');
      sock.emit('kick me');
      const [reason] = await got;
      await L.sleep(300);
      return { reason, connected: sock.connected };
    }],
    ['linger', async () => {
      // Left connected: it ends when this process exits.
      const s = v4 ? io(base, options({ auth: { token: 'linger' } })) : io(base + '/ns?token=linger', options());
      await L.connected(s);
      return { id: s.id };
    }],
  ];

  const report = await L.runSteps(steps, 10000, 30000);
  report.order = order;
  report.disconnects = disconnects;
  L.finish(report);
}

main().catch((err) => L.finish({ fatal: String(err && err.stack || err) }));
