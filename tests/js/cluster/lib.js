// The control protocol shared by tests/js/cluster/server.js and emitter.js.
//
// The process reads one JSON command a line on stdin, {"id": 1, "cmd": "emit", ...}, and
// answers each with one JSON line on stdout, {"id": 1, "ok": true, "result": ...} or
// {"id": 1, "ok": false, "error": "..."}. Its first line is {"ready": true, ...}.
// Values cross as JSON with two tags: {"$buffer": "<hex>"} is a Buffer and {"$date": "<ISO>"}
// a Date (tests/helpers/cluster.py converts them to and from bytes and datetime).
// Diagnostics go to stderr. EOF on stdin (or {"cmd": "quit"}) ends the process.
'use strict';

const readline = require('readline');

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === 'object') {
    if (typeof value.$buffer === 'string') return Buffer.from(value.$buffer, 'hex');
    if (typeof value.$date === 'string') return new Date(value.$date);
    const out = {};
    for (const k of Object.keys(value)) out[k] = decode(value[k]);
    return out;
  }
  return value;
}

function encode(value) {
  if (Buffer.isBuffer(value)) return { $buffer: value.toString('hex') };
  if (value instanceof ArrayBuffer) return { $buffer: Buffer.from(value).toString('hex') };
  if (ArrayBuffer.isView(value)) {
    return { $buffer: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex') };
  }
  if (value instanceof Date) return { $date: value.toISOString() };
  if (value instanceof Set) return Array.from(value).map(encode);
  if (value instanceof Error) return { $error: value.message };
  if (typeof value === 'function') return { $function: true };
  if (Array.isArray(value)) return value.map(encode);
  if (value && typeof value === 'object') {
    const out = {};
    for (const k of Object.keys(value)) out[k] = encode(value[k]);
    return out;
  }
  return value === undefined ? null : value;
}

function write(obj) {
  // ASCII only: Python's str.splitlines() would split the line at U+2028 / U+2029.
  const line = JSON.stringify(obj).replace(/[\u007f-\uffff]/g,
    (c) => '\\u' + ('0000' + c.charCodeAt(0).toString(16)).slice(-4));
  process.stdout.write(line + '\n');
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Serves `commands` ({name: async (msg) => result}) over stdin/stdout until EOF or quit;
// `onQuit` runs before the exit. Commands run concurrently; each answer carries its id.
function serve(commands, onQuit) {
  const rl = readline.createInterface({ input: process.stdin });
  let quitting = false;
  const quit = async () => {
    if (quitting) return;
    quitting = true;
    try { if (onQuit) await onQuit(); } catch (err) { console.error('quit:', err); }
    process.exit(0);
  };
  rl.on('line', async (line) => {
    if (!line.trim()) return;
    let msg;
    try { msg = JSON.parse(line); } catch (err) { write({ ok: false, error: 'bad JSON: ' + line }); return; }
    if (msg.cmd === 'quit') { write({ id: msg.id, ok: true, result: null }); await quit(); return; }
    const fn = commands[msg.cmd];
    if (!fn) { write({ id: msg.id, ok: false, error: 'unknown command ' + msg.cmd }); return; }
    try {
      const result = await fn(msg);
      write({ id: msg.id, ok: true, result: encode(result) });
    } catch (err) {
      write({ id: msg.id, ok: false, error: err && err.stack ? String(err.stack) : String(err) });
    }
  });
  rl.on('close', quit);
}

module.exports = { decode, encode, write, sleep, serve };
