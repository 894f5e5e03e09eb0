// Shared helpers for the modern-client scenarios (socket.io-client 4.x and 2.x in Node).
//
// Every scenario script prints exactly one JSON line on stdout (the report), which
// tests/helpers/node.py's run_node() parses. Steps never throw out of the script: a failed
// step is recorded as {ok: false, error} so that one broken behaviour does not hide the rest.
'use strict';

const CLIENTS = {
  v4: () => require('socket.io-client').io,
  v2: () => require('socket.io-client-v2'),
};

function client(version) {
  const make = CLIENTS[version];
  if (!make) throw new Error('unknown client version ' + version);
  return make();
}

const TRANSPORTS = {
  polling: ['polling'],
  websocket: ['websocket'],
  upgrade: ['polling', 'websocket'],
};

function transports(variant) {
  const t = TRANSPORTS[variant];
  if (!t) throw new Error('unknown transport variant ' + variant);
  return t;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout(promise, ms, label) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out after ' + ms + ' ms: ' + label)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Resolves with the event's arguments (an array) the next time `event` fires.
function once(emitter, event, ms) {
  return withTimeout(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))),
    ms || 5000, 'event ' + event);
}

// socket.emit(event, ...args, ack) as a promise of the ack's arguments (an array); fails at
// once when the socket is (or gets) disconnected, since no ack can come then.
function ack(socket, event, ...args) {
  return withTimeout(new Promise((resolve, reject) => {
    if (!socket.connected) return reject(new Error('not connected: cannot emit ' + event));
    const gone = (reason) => reject(new Error('disconnected (' + reason + ') awaiting ack of ' + event));
    socket.once('disconnect', gone);
    socket.emit(event, ...args, (...a) => { socket.off('disconnect', gone); resolve(a); });
  }), 8000, 'ack of ' + event);
}

// Resolves with the socket once it is connected; rejects with the refusal otherwise.
// v4 refusals come as connect_error; v2 namespace refusals as 'error' (string or object).
function connected(socket, ms) {
  return withTimeout(new Promise((resolve, reject) => {
    if (socket.connected) return resolve(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => reject(refusal(err)));
    socket.once('error', (err) => reject(refusal(err)));
  }), ms || 8000, 'connect');
}

function refusal(err) {
  if (err instanceof Error) {
    const out = { kind: 'Error', message: err.message };
    if (err.data !== undefined) out.data = err.data;
    return out;
  }
  return { kind: typeof err, value: err };
}

// JSON-safe description of a value that may contain Buffers / ArrayBuffers.
function describe(value) {
  if (Buffer.isBuffer(value)) return { $buffer: value.toString('hex') };
  if (value instanceof ArrayBuffer) return { $buffer: Buffer.from(value).toString('hex') };
  if (Array.isArray(value)) return value.map(describe);
  if (value && typeof value === 'object') {
    const out = {};
    for (const k of Object.keys(value)) out[k] = describe(value[k]);
    return out;
  }
  return value;
}

function asBuffer(value) {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return null;
}

// Runs the steps in order; returns {name: {ok, value} | {ok: false, error}}. Past
// `totalMs` the remaining steps are not run (so a stuck run still reports what it saw).
async function runSteps(steps, stepMs, totalMs) {
  const report = {};
  const deadline = Date.now() + (totalMs || 30000);
  for (const [name, fn] of steps) {
    if (Date.now() > deadline) {
      report[name] = { ok: false, error: 'not run: the scenario ran out of time' };
      continue;
    }
    const started = Date.now();
    try {
      const value = await withTimeout(Promise.resolve().then(fn), stepMs || 10000, name);
      report[name] = { ok: true, value: value === undefined ? null : value };
    } catch (err) {
      report[name] = { ok: false, error: err && err.stack ? String(err.stack) : describe(err) };
    }
    report[name].ms = Date.now() - started;
  }
  return report;
}

function finish(report) {
  // ASCII only: Python's str.splitlines() would split the line at U+2028 / U+2029.
  const line = JSON.stringify(report).replace(/[\u007f-\uffff]/g,
    (c) => '\\u' + ('0000' + c.charCodeAt(0).toString(16)).slice(-4));
  process.stdout.write(line + '\n');
  // Open sockets would keep Node alive; the report is out, so leave now.
  process.exit(0);
}

module.exports = {
  client, transports, sleep, withTimeout, once, ack, connected, refusal, describe, asBuffer,
  runSteps, finish,
};
