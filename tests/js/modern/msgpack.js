#!/usr/bin/env node
// socket.io-client 4.x with socket.io-msgpack-parser 3.0.x (tests/test_msgpack_node.py).
//
//   node tests/js/modern/msgpack.js <base url> <polling|websocket|upgrade>
//
// The server: a router with parser='msgpack' (the Chat handler of test_msgpack_node.py).
// Prints one JSON report: {step: {ok, value|error}}.
'use strict';

const L = require('./lib');
const parser = require('socket.io-msgpack-parser');
const { io } = require('socket.io-client');

const [base, variant] = process.argv.slice(2);
const transports = L.transports(variant);

function options(extra) {
  return Object.assign({ forceNew: true, transports, reconnection: false, parser }, extra);
}

let a = null;
let b = null;
let welcome = null;

const steps = [
  ['connect', async () => {
    a = io(base, options({ auth: { token: 'abc', n: [1, 2] } }));
    welcome = L.once(a, 'welcome');
    await L.connected(a);
    return { id: typeof a.id, transport: a.io.engine.transport.name };
  }],
  ['welcome', () => welcome],
  ['ack', () => L.ack(a, 'echo', 'hi', { x: [1, null, 2.5, -3] }, 'é😀')],
  ['binary ack', async () => L.describe(await L.ack(a, 'echo', Buffer.from([0, 1, 2, 255]),
    { nested: [Buffer.from('abc')] }))],
  ['binary received', async () => {
    const got = L.once(a, 'bytes');
    a.emit('send bytes', 4);
    return L.describe(await got);
  }],
  ['plain emit, no ack', async () => {
    const got = L.once(a, 'heard');
    a.emit('tell', 'plain');
    return got;
  }],
  ['server asks the client (ack from client)', async () => {
    a.once('question', (x, cb) => cb('answer to ' + x, Buffer.from([9])));
    return L.describe(await L.ack(a, 'ask me', 'q1'));
  }],
  ['refused namespace', async () => {
    try {
      await L.connected(io(base + '/nope', options()));
      return 'connected';
    } catch (err) {
      return err;
    }
  }],
  ['namespace connects', async () => {
    const s = io(base + '/other', options());
    await L.connected(s);
    const r = await L.ack(s, 'echo', 'other ns');
    s.close();
    return r;
  }],
  ['broadcast to both', async () => {
    b = io(base, options());
    await L.connected(b);
    const ga = L.once(a, 'news');
    const gb = L.once(b, 'news');
    await L.ack(b, 'shout', 'hello all', Buffer.from([7, 7]));
    return L.describe([await ga, await gb]);
  }],
  ['upgraded', async () => a.io.engine.transport.name],
  ['server disconnect', async () => {
    const gone = L.once(a, 'disconnect');
    a.emit('kick');
    return (await gone)[0];
  }],
];

L.runSteps(steps, 8000, 45000).then(L.finish);
