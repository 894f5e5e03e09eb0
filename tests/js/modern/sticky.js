#!/usr/bin/env node
// Many modern clients against geventio-serve --workers (tests/test_workers.py): which
// worker process answers each of their requests.
//
//   node tests/js/modern/sticky.js <base url> <v4|v2> <polling|websocket|upgrade> <clients> <rounds>
//     every client asks 'whoami' (acknowledged with the worker's pid) <rounds> times, 100 ms
//     apart; prints {clients: [{pids, transport}], errors}
//   node tests/js/modern/sticky.js <base url> <v4|v2> <variant> reconnect
//     one reconnecting client: prints {"pid": p} once connected, then, after the test has
//     killed that worker and the client has reconnected, {before, after, reasons}
//   node tests/js/modern/sticky.js <base url> chat <v4:polling,v2:upgrade,...>
//     one client of each kind joins the chat: prints {"ready": [pids]}; once every client
//     has heard 'said' [pid, 'from python'], the first says 'from node'; prints
//     {heard: [[pid, text] per client], errors}
//
// An https:// base is not checked against a CA (rejectUnauthorized: false: the tests' TLS
// front has a self-signed certificate). STICKY_FROM=127.0.1.1,127.0.2.1,... makes client n
// connect from the n-th of those loopback addresses (modulo their number).
'use strict';

const http = require('http');
const https = require('https');

const L = require('./lib');

const [base, version, variant, count, rounds] = process.argv.slice(2);

const tls = base.startsWith('https:');
const from = (process.env.STICKY_FROM || '').split(',').filter(Boolean);

function open(reconnection, kind, n) {
  const [v, t] = kind || [version, variant];
  const opts = { forceNew: true, transports: L.transports(t), reconnection,
    reconnectionDelay: 200, reconnectionDelayMax: 500 };
  if (tls) opts.rejectUnauthorized = false;
  if (from.length) {
    const Agent = tls ? https.Agent : http.Agent;
    opts.agent = new Agent({ localAddress: from[(n || 0) % from.length],
      rejectUnauthorized: !tls });
  }
  return L.client(v)(base, opts);
}

function heard(sock, text) {
  return L.withTimeout(new Promise((resolve) => {
    const on = (pid, said) => {
      if (said === text) { sock.off('said', on); resolve([pid, said]); }
    };
    sock.on('said', on);
  }), 20000, 'said ' + text);
}

async function chat(kinds) {
  const socks = kinds.split(',').map((kind, n) => open(false, kind.split(':'), n));
  await Promise.all(socks.map((sock) => L.connected(sock)));
  const pids = await Promise.all(socks.map(whoami));
  const fromPython = Promise.all(socks.map((sock) => heard(sock, 'from python')));
  process.stdout.write(JSON.stringify({ ready: pids }) + '\n');
  await fromPython;
  const fromNode = Promise.all(socks.map((sock) => heard(sock, 'from node')));
  socks[0].emit('chat', 'from node');
  const result = await fromNode;
  await L.sleep(300);
  socks.forEach((sock) => sock.close());
  return { heard: result, pids, errors: [] };
}

async function whoami(sock) {
  const [pid] = await L.ack(sock, 'whoami');
  return pid;
}

async function one(n, index) {
  const sock = open(false, null, index);
  try {
    await L.connected(sock);
    const pids = [];
    for (let i = 0; i < n; i++) {
      pids.push(await whoami(sock));
      await L.sleep(100);
    }
    return { pids, transport: sock.io.engine.transport.name };
  } finally {
    sock.close();
  }
}

async function reconnect() {
  const sock = open(true);
  const reasons = [];
  sock.on('disconnect', (reason) => reasons.push(reason));
  await L.connected(sock);
  const before = await whoami(sock);
  process.stdout.write(JSON.stringify({ pid: before }) + '\n');
  await L.once(sock, 'disconnect', 20000);
  await L.connected(sock, 20000);
  const after = await whoami(sock);
  sock.close();
  return { before, after, reasons };
}

async function main() {
  if (count === 'reconnect') return reconnect();
  if (version === 'chat') return chat(variant);
  const errors = [];
  const clients = await Promise.all(Array.from({ length: Number(count) }, (_, index) =>
    one(Number(rounds), index).catch((err) => { errors.push(String(err)); return null; })));
  return { clients, errors };
}

main().then((report) => {
  process.stdout.write(JSON.stringify(report) + '\n');
  process.exit(0);
}, (err) => {
  process.stdout.write(JSON.stringify({ errors: [String(err && err.stack || err)] }) + '\n');
  process.exit(0);
});
