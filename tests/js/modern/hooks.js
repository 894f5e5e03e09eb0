#!/usr/bin/env node
// The hooks seen from a modern client (tests/test_hooks_node.py).
//
//   node tests/js/modern/hooks.js <base url> <v4|v2> <polling|websocket|upgrade>
//
// The server: router.use refusing auth {refuse: ...} (v4) or namespace '/private' (both), a
// catch-all, a raising handler, the dynamic namespaces /room-<n>, and a second router at
// /guarded/ whose allow_request refuses everything. Prints one JSON report: {step: {ok, value|error}}.
'use strict';

const L = require('./lib');

const [base, version, variant] = process.argv.slice(2);
const io = L.client(version);
const transports = L.transports(variant);
const v4 = version === 'v4';

function options(extra) {
  return Object.assign({ forceNew: true, transports, reconnection: false }, extra);
}

async function refusal(socket) {
  try {
    await L.connected(socket);
    return 'connected';
  } catch (err) {
    return err;
  } finally {
    socket.close();
  }
}

// An ack that must not come: resolves 'no ack' after `ms`, or with the ack's arguments.
function noAck(socket, event, ms, ...args) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('no ack'), ms);
    socket.emit(event, ...args, (...a) => { clearTimeout(timer); resolve(a); });
  });
}

let main = null;
let room = null;

const steps = [
  ['connect', async () => {
    main = io(base, options());
    await L.connected(main);
    return { id: main.id };
  }],
  ['refused by a middleware', async () => {
    if (!v4) return 'v4 only';
    return refusal(io(base, options({ auth: { refuse: 'yes' } })));
  }],
  ['refused by a namespace middleware', async () => refusal(io(base + '/private', options()))],
  ['catch-all ack', () => L.ack(main, 'anything', 1, { a: [2] })],
  ['catch-all emit', async () => {
    const caught = L.once(main, 'caught');
    main.emit('other event', 'x');
    return caught;
  }],
  ['own handler not caught', () => L.ack(main, 'known', 5)],
  ['raising handler: no ack', () => noAck(main, 'boom', 1500, 7)],
  ['raising handler: on_error ran', () => L.ack(main, 'errors')],
  ['still connected after the error', () => L.ack(main, 'known', 6)],
  ['dynamic namespace connects', async () => {
    room = io(base + '/room-7', options());
    const welcome = L.once(room, 'welcome');
    await L.connected(room);
    return welcome;
  }],
  ['dynamic namespace gets a room broadcast', async () => {
    const news = L.once(room, 'news');
    await L.ack(main, 'announce', '/room-7');
    return news;
  }],
  ['unmatched dynamic namespace refused', async () => refusal(io(base + '/room-x', options()))],
  ['allow_request refuses the handshake', async () => {
    const socket = io(base, options({ path: '/guarded/' }));
    return refusal(socket);
  }],
];

L.runSteps(steps, 8000, 45000).then(L.finish);
