#!/usr/bin/env node
// geventio benchmark load generator: a lean Engine.IO v4 / Socket.IO v5 client.
//
// It speaks the wire protocol directly, implementing only what the benchmark needs: the
// Engine.IO handshake, CONNECT ("40"), events with ack ids ("42<id>[...]" / "43<id>[...]"),
// server pings answered with "3", DISCONNECT ("41"). socket.io-client (or even the `ws` and
// `http` modules) would cost several times more CPU per message and could become the
// bottleneck, so it brings its own minimal clients over net.Socket and needs no npm package:
// an RFC 6455 WebSocket client (RawWs: every WebSocket case) and an HTTP/1.1 keep-alive
// client (HttpConn: polling).
//
// Driven by scripts/bench.py, which pins it to one core and the server to the other:
//
//   node scripts/bench/load.js '{"case":"ws_echo","port":8000,"clients":50,...}'
//
// Output (stdout, one line each): "MEASURE_START", "MEASURE_END" around the measured
// window; "WARM" and "CONNECTED <n>" in the idle case (which then waits for "go" / "done"
// lines on stdin); finally "RESULT <json>" with the counts, the window and this process's
// CPU share (process CPU time / wall time) over the window. Errors: "ERROR <text>", exit 1.
'use strict';

const crypto = require('crypto');
const net = require('net');
const zlib = require('zlib');

const cfg = Object.assign({
  host: '127.0.0.1',
  port: 8000,
  ports: null,          // broadcast: client i connects to ports[i % ports.length] (a cluster)
  path: '/socket.io/',
  clients: 50,
  warmup: 2,            // seconds before the measured window
  duration: 10,         // seconds measured
  concurrency: 100,     // connects in flight (idle, broadcast setup) or connect loops (connect)
  window: 8,            // broadcast: broadcasts in flight (sent, not yet received by all)
  payload: 'hello geventio benchmark',
  spread: 250,          // source addresses 127.0.0.2 .. 127.0.0.(1+spread), 0 = kernel's choice
  timeout: 120,         // hard limit for the whole run, seconds
  deflate: null,        // WebSocket cases: offer permessage-deflate (RFC 7692) and use it if
                        // agreed: {threshold} (bytes; node's engine.io-client: 1024)
}, JSON.parse(process.argv[2] || '{}'));

const POLL_PATH = `${cfg.path}?EIO=4&transport=polling`;
const PAYLOAD_JSON = JSON.stringify(cfg.payload);
const RS = '\x1e';

function out(line) { process.stdout.write(line + '\n'); }
function fail(msg) {
  out('ERROR ' + String(msg).replace(/\n/g, ' '));
  process.exit(1);
}
const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));
const now = () => Number(process.hrtime.bigint()) / 1e9;

let addrCounter = 0;
function nextSource() {
  if (!cfg.spread) return undefined;
  const a = 2 + (addrCounter++ % cfg.spread);
  return `127.0.0.${a}`;
}

setTimeout(() => fail(`load generator exceeded its ${cfg.timeout}s limit`), cfg.timeout * 1000).unref();

// -- measured window --------------------------------------------------------------------

const win = { on: false, t0: 0, t1: 0, cpu0: null, cpu: null };
function startWindow() {
  win.on = true;
  win.cpu0 = process.cpuUsage();
  win.t0 = now();
  out('MEASURE_START');
}
function endWindow() {
  win.t1 = now();
  const c = process.cpuUsage(win.cpu0);
  win.on = false;
  out('MEASURE_END');
  win.cpu = (c.user + c.system) / 1e6;
  return { seconds: win.t1 - win.t0, cpu_share: win.cpu / (win.t1 - win.t0) };
}

// -- WebSocket client ---------------------------------------------------------------------

// Resolves with a connected RawWs (below) once the namespace "/" is connected ("40{...}").
// Afterwards every text message other than a ping goes to ws.onPacket(str).
function connectWs(port) {
  return new Promise((resolve, reject) => { new RawWs(resolve, reject, port); });
}

async function connectMany(n, concurrency, ports) {
  const list = new Array(n);
  let next = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      list[i] = await connectWs(ports ? ports[i % ports.length] : cfg.port);
    }
  }
  const workers = [];
  for (let k = 0; k < Math.min(concurrency, n); k++) workers.push(worker());
  await Promise.all(workers);
  return list;
}

function closeAll(list) {
  return Promise.all(list.filter(Boolean).map((ws) => new Promise((resolve) => {
    if (ws.closed) return resolve();
    const t = setTimeout(() => { ws.terminate(); resolve(); }, 3000);
    ws.onClose = () => { clearTimeout(t); resolve(); };
    ws.onError = () => {};
    ws.close();
  })));
}

// -- cases ----------------------------------------------------------------------------------

// 1. WebSocket echo: every client emits "echo" with an ack id and sends the next one as soon
// as the ack arrives.
// Runs the echo loop on every client (each emits "echo" with an ack id and sends the next
// as soon as the ack arrives) through the measured window; `send(client, packet)` sends one
// packet, `setup(client, isStopping)` installs anything else per client, `finish(clients)`
// ends them. Returns the RESULT fields.
async function echoLoop(clients, send, setup, finish) {
  let count = 0, bad = 0, stopping = false;
  for (const c of clients) {
    let id = 0;
    const next = () => send(c, `42${id}["echo",${PAYLOAD_JSON}]`);
    c.onPacket = (s) => {
      if (s.startsWith('43')) {
        if (!s.startsWith(`43${id}[${PAYLOAD_JSON}]`)) bad++;
        if (win.on) count++;
        id++;
        if (!stopping) next();
      }
    };
    setup(c, () => stopping);
    next();
  }
  await sleep(cfg.warmup);
  startWindow();
  await sleep(cfg.duration);
  const w = endWindow();
  const n = count;
  stopping = true;
  await finish(clients);
  return { count: n, rate: n / w.seconds, bad, ...w };
}

async function wsEcho() {
  const clients = await connectMany(cfg.clients, cfg.concurrency);
  return echoLoop(clients, (ws, p) => ws.send(p), (ws, stopping) => {
    ws.onClose = () => { if (!stopping()) fail('server closed an echo client'); };
  }, closeAll);
}

// 2. Polling echo: the same over HTTP long-polling (one GET always waiting, one POST at a time).

// A lean HTTP/1.1 client connection over net.Socket: one request at a time (later ones wait
// in a queue), persistent (keep-alive) unless the server says otherwise. Requests are whole
// strings written at once; responses are parsed minimally but correctly: the status line,
// headers by lower-cased name, the body framed by Transfer-Encoding: chunked, Content-Length
// or (neither) the end of the connection. After "Connection: close" (or an HTTP/1.0 answer
// without keep-alive) the socket is closed and the next request opens a new one, from the
// same source address. callback(err, status, body): body is the decoded UTF-8 text.
const CRLF = Buffer.from('\r\n');
const CRLF2 = Buffer.from('\r\n\r\n');
const MAX_HEAD = 64 * 1024;

class HttpConn {
  constructor(localAddress) {
    this.localAddress = localAddress;
    this.sock = null;
    this.buf = null;      // unparsed bytes; while a response is read they start at its head
    this.res = null;      // the response being read (after its head)
    this.cb = null;       // the request in flight
    this.queue = [];      // [data, callback] waiting for it
    this.destroyed = false;
  }

  request(data, cb) {
    if (this.destroyed) { cb(new Error('connection destroyed')); return; }
    if (this.cb) { this.queue.push([data, cb]); return; }
    this.cb = cb;
    if (!this.sock) this.open();
    this.sock.write(data);
  }

  open() {
    const s = net.connect({ host: cfg.host, port: cfg.port, localAddress: this.localAddress });
    s.setNoDelay(true);
    s.on('data', (chunk) => { if (s === this.sock) this.onData(chunk); });
    s.on('error', (err) => { if (s === this.sock) this.onEnd(err); });
    s.on('close', () => { if (s === this.sock) this.onEnd(null); });
    this.sock = s;
    this.buf = null;
    this.res = null;
  }

  destroy() {
    this.destroyed = true;
    this.queue = [];
    this.cb = null;
    if (this.sock) { const s = this.sock; this.sock = null; s.destroy(); }
  }

  // The request in flight fails; the socket is dropped (the next request reconnects).
  abort(err) {
    const cb = this.cb, queued = this.queue;
    this.cb = null;
    this.queue = [];
    if (this.sock) { const s = this.sock; this.sock = null; s.destroy(); }
    this.buf = null;
    this.res = null;
    if (cb) cb(err);
    for (const [, qcb] of queued) qcb(err);
  }

  onEnd(err) {
    const res = this.res;
    if (this.cb && res && res.untilClose && !err) {   // body framed by the end of the connection
      this.sock = null;
      try {
        this.finish(res, this.buf.subarray(res.pos), this.buf.length);
      } catch (e) {
        this.abort(e);
      }
      return;
    }
    if (this.cb) {
      this.abort(new Error('connection ' + (err ? 'error (' + err.message + ')' : 'closed by the server') +
                           ' before the end of the response'));
      return;
    }
    // Idle keep-alive connection closed by the server: reconnect on the next request.
    this.sock = null;
    this.buf = null;
    this.res = null;
  }

  onData(chunk) {
    this.buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    if (!this.cb) fail('unexpected data from the server: ' + JSON.stringify(this.buf.toString('latin1', 0, 80)));
    try {
      while (this.buf && this.cb && this.parse()) {}
    } catch (e) {
      this.abort(e);
    }
  }

  // One step; true when something was completed and parsing may continue.
  parse() {
    const buf = this.buf;
    let res = this.res;
    if (!res) {
      const end = buf.indexOf(CRLF2);
      if (end < 0) {
        if (buf.length > MAX_HEAD) throw new Error('response head longer than ' + MAX_HEAD + ' bytes');
        return false;
      }
      res = this.res = parseHead(buf.toString('latin1', 0, end));
      res.pos = end + 4;
      if (res.status < 200) {           // 1xx informational: skip it, the real answer follows
        this.res = null;
        this.buf = buf.length > res.pos ? buf.subarray(res.pos) : null;
        return true;
      }
      if (res.status === 204 || res.status === 304) res.length = 0;
    }
    if (res.chunked) return this.parseChunks(buf, res);
    if (res.length >= 0) {
      if (buf.length - res.pos < res.length) return false;
      this.finish(res, buf.subarray(res.pos, res.pos + res.length), res.pos + res.length);
      return true;
    }
    return false;                        // untilClose: see onEnd
  }

  parseChunks(buf, res) {
    for (;;) {
      if (res.chunkLeft < 0) {           // at a chunk-size line (or a trailer line when done)
        const eol = buf.indexOf(CRLF, res.pos);
        if (eol < 0) {
          if (buf.length - res.pos > MAX_HEAD) throw new Error('chunk size line too long');
          return false;
        }
        const line = buf.toString('latin1', res.pos, eol);
        res.pos = eol + 2;
        if (res.trailers) {
          if (line === '') { this.finish(res, Buffer.concat(res.parts), res.pos); return true; }
          continue;
        }
        const hex = line.split(';')[0].trim();
        if (!/^[0-9a-fA-F]+$/.test(hex)) throw new Error('bad chunk size line ' + JSON.stringify(line.slice(0, 40)));
        const size = parseInt(hex, 16);
        if (size === 0) res.trailers = true; else res.chunkLeft = size;
      } else {
        if (buf.length - res.pos < res.chunkLeft + 2) return false;
        const e = res.pos + res.chunkLeft;
        if (buf[e] !== 13 || buf[e + 1] !== 10) throw new Error('chunk not followed by CRLF');
        res.parts.push(buf.subarray(res.pos, e));
        res.pos = e + 2;
        res.chunkLeft = -1;
      }
    }
  }

  finish(res, body, end) {
    const rest = end < this.buf.length ? this.buf.subarray(end) : null;
    if (res.close && rest) throw new Error('data after a "Connection: close" response');
    const cb = this.cb;
    this.cb = null;
    this.res = null;
    this.buf = rest;
    if (res.close && this.sock) { const s = this.sock; this.sock = null; s.destroy(); }
    if (this.queue.length) { const [data, qcb] = this.queue.shift(); this.request(data, qcb); }
    cb(null, res.status, body.toString('utf8'));
  }
}

// "HTTP/1.1 200 OK\r\nName: value..." -> { status, length (-1: not given), chunked, close, ... }
function parseHead(head) {
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0]);
  if (!m) throw new Error('bad status line ' + JSON.stringify(lines[0].slice(0, 80)));
  const res = { status: +m[2], length: -1, chunked: false, close: false, untilClose: false,
                pos: 0, parts: [], chunkLeft: -1, trailers: false };
  let keepAlive = false, close = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const c = line.indexOf(':');
    if (c <= 0) throw new Error('bad header line ' + JSON.stringify(line.slice(0, 80)));
    const name = line.slice(0, c).toLowerCase();
    if (name === 'content-length') {
      const v = line.slice(c + 1).trim();
      if (!/^\d+$/.test(v) || (res.length >= 0 && res.length !== +v)) throw new Error('bad Content-Length ' + JSON.stringify(v));
      res.length = +v;
    } else if (name === 'transfer-encoding') {
      const codings = line.slice(c + 1).toLowerCase().split(',').map((t) => t.trim()).filter(Boolean);
      if (codings[codings.length - 1] === 'chunked') res.chunked = true;
      else throw new Error('unsupported Transfer-Encoding ' + JSON.stringify(line.slice(c + 1).trim()));
    } else if (name === 'connection') {
      for (const t of line.slice(c + 1).toLowerCase().split(',')) {
        const tok = t.trim();
        if (tok === 'close') close = true; else if (tok === 'keep-alive') keepAlive = true;
      }
    }
  }
  res.close = close || (m[1] === '0' && !keepAlive);   // HTTP/1.0: keep-alive only if announced
  if (res.chunked) res.length = -1;     // Transfer-Encoding wins over Content-Length
  else if (res.length < 0 && res.status >= 200 && res.status !== 204 && res.status !== 304) {
    res.untilClose = true;              // no framing: the body ends with the connection
    res.close = true;
  }
  return res;
}

const HOST_HEADER = `Host: ${cfg.host}:${cfg.port}\r\n`;

class PollClient {
  constructor() {
    const localAddress = nextSource();
    this.getConn = new HttpConn(localAddress);
    this.postConn = new HttpConn(localAddress);
    this.sid = null;
    this.getHead = `GET ${POLL_PATH} HTTP/1.1\r\n${HOST_HEADER}\r\n`;
    this.postHead = null;
    this.postQueue = [];
    this.posting = false;
    this.closed = false;
    this.onPacket = null;
    this.afterPost = (err, status, body) => {
      if (err || status !== 200) this.error(err || httpError('POST', status, body));
      else this.flushPosts();
    };
    this.afterPoll = (err, status, body) => {
      if (err || status !== 200) { this.error(err || httpError('GET', status, body)); return; }
      if (this.closed) return;
      for (const p of body.split(RS)) {
        if (p === '2') this.post('3');
        else if (p.startsWith('40')) { if (this.onConnect) { this.onConnect(); this.onConnect = null; } }
        else if (p === '1') { if (!this.closed) fail('server closed a polling session'); }
        else if (p !== '6' && this.onPacket) this.onPacket(p);
      }
      this.poll();
    };
  }

  setSid(sid) {
    this.sid = sid;
    const path = `${POLL_PATH}&sid=${sid}`;
    this.getHead = `GET ${path} HTTP/1.1\r\n${HOST_HEADER}\r\n`;
    this.postHead = `POST ${path} HTTP/1.1\r\n${HOST_HEADER}Content-Type: text/plain;charset=UTF-8\r\nContent-Length: `;
  }

  postData(body) {
    return `${this.postHead}${Buffer.byteLength(body)}\r\n\r\n${body}`;
  }

  post(packet) {
    this.postQueue.push(packet);
    if (!this.posting) this.flushPosts();
  }

  flushPosts() {
    if (this.closed || this.postQueue.length === 0) { this.posting = false; return; }
    this.posting = true;
    const body = this.postQueue.length === 1 ? this.postQueue[0] : this.postQueue.join(RS);
    this.postQueue = [];
    this.postConn.request(this.postData(body), this.afterPost);
  }

  error(err) {
    if (!this.closed) fail('polling client: ' + err.message);
  }

  async open() {
    const hs = await new Promise((resolve, reject) => this.getConn.request(this.getHead, (err, status, body) => {
      if (err || status !== 200) reject(err || httpError('GET', status, body)); else resolve(body);
    }));
    if (hs[0] !== '0') throw new Error('bad handshake ' + hs.slice(0, 80));
    this.setSid(JSON.parse(hs.slice(1)).sid);
    const connected = new Promise((resolve) => { this.onConnect = resolve; });
    this.post('40');
    this.poll();
    await connected;
  }

  poll() {
    if (this.closed) return;
    this.getConn.request(this.getHead, this.afterPoll);
  }

  // Engine.IO CLOSE ("1") so the server does not wait for ping timeouts; after the POST in
  // flight, if any. Resolves either way.
  goodbye() {
    return new Promise((resolve) => this.postConn.request(this.postData('1'), () => resolve()));
  }

  close() {
    this.closed = true;
    this.getConn.destroy();
    this.postConn.destroy();
  }
}

function httpError(method, status, body) {
  return new Error(`${method} -> ${status} ${String(body).slice(0, 100)}`);
}

async function pollEcho() {
  const clients = [];
  for (let i = 0; i < cfg.clients; i++) clients.push(new PollClient());
  await Promise.all(clients.map((c) => c.open()));
  return echoLoop(clients, (c, p) => c.post(p), () => {}, async (list) => {
    // Tell the server goodbye (Engine.IO CLOSE) so it does not wait for ping timeouts.
    for (const c of list) c.closed = true;
    await Promise.all(list.map((c) => c.goodbye()));
    for (const c of list) c.close();
  });
}

// 3. Broadcast: client 0 asks the server to emit "tick" to everyone; at most `window`
// broadcasts are in flight (sent but not yet received by every client). Deliveries are
// counted at the clients.
async function broadcast() {
  const N = cfg.clients;
  const clients = await connectMany(N, cfg.concurrency, cfg.ports);
  const pending = new Map();   // seq -> clients that got it
  const sentAt = new Map();    // seq -> when it was sent
  const latencies = [];        // seconds from sending to the last client receiving it
  let sent = 0, done = 0, deliveries = 0, bad = 0, stopping = false, lastProgress = now();
  const driver = clients[0];
  const PREFIX = '42["tick",';
  const pump = () => {
    while (!stopping && sent - done < cfg.window) {
      driver.send(`42["broadcast",${sent}]`);
      pending.set(sent, 0);
      sentAt.set(sent, now());
      sent++;
    }
  };
  clients.forEach((ws) => {
    let last = -1;
    ws.onPacket = (s) => {
      if (!s.startsWith(PREFIX)) return;
      const seq = parseInt(s.slice(PREFIX.length), 10);
      if (seq !== last + 1) bad++;
      last = seq;
      if (win.on) deliveries++;
      lastProgress = now();
      const got = pending.get(seq) + 1;
      if (got >= N) {
        pending.delete(seq);
        if (win.on) latencies.push(now() - sentAt.get(seq));
        sentAt.delete(seq);
        done++;
        pump();
      } else pending.set(seq, got);
    };
    ws.onClose = () => { if (!stopping) fail('server closed a broadcast client'); };
  });
  const watchdog = setInterval(() => {
    if (!stopping && now() - lastProgress > 10) fail('broadcast stalled for 10 s');
  }, 1000);
  pump();
  await sleep(cfg.warmup);
  startWindow();
  const sent0 = sent;
  await sleep(cfg.duration);
  const w = endWindow();
  const n = deliveries;
  stopping = true;
  clearInterval(watchdog);
  await sleep(0.2);
  await closeAll(clients);
  latencies.sort((a, b) => a - b);
  const q = (f) => (latencies.length ? latencies[Math.min(latencies.length - 1,
    Math.floor(f * latencies.length))] * 1000 : null);
  return { count: n, rate: n / w.seconds, broadcasts: sent - sent0, bad,
    latency_ms: { p50: q(0.5), p99: q(0.99) }, ...w };
}

// 4. Idle connections: warm up, wait for "go", connect N clients, report, wait for "done"
// (or first for "exchange": every client then makes one echo round trip, and "EXCHANGED").
function stdinLines() {
  const waiting = [];
  const lines = [];
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (waiting.length) waiting.shift()(line); else lines.push(line);
    }
  });
  process.stdin.on('end', () => { while (waiting.length) waiting.shift()(null); });
  return () => (lines.length ? Promise.resolve(lines.shift()) : new Promise((r) => waiting.push(r)));
}

async function idle() {
  const readLine = stdinLines();
  const warm = await connectMany(Math.min(50, cfg.clients), cfg.concurrency);
  await closeAll(warm);
  out('WARM');
  if ((await readLine()) !== 'go') fail('expected "go" on stdin');
  const t0 = now(), cpu0 = process.cpuUsage();
  const clients = await connectMany(cfg.clients, cfg.concurrency);
  const seconds = now() - t0, c = process.cpuUsage(cpu0);
  let closedEarly = 0;
  clients.forEach((ws) => { ws.onClose = () => { closedEarly++; }; });
  out(`CONNECTED ${clients.length}`);
  let line = await readLine();
  if (line === 'exchange') {   // each client emits "echo" with cfg.payload and gets its ack
    await Promise.all(clients.map((ws) => new Promise((resolve) => {
      ws.onPacket = (s) => { if (s.startsWith('430[')) { ws.onPacket = null; resolve(); } };
      ws.send(`420["echo",${PAYLOAD_JSON}]`);
    })));
    out(`EXCHANGED ${clients.length}`);
    line = await readLine();
  }
  if (line !== 'done') fail('expected "done" on stdin');
  clients.forEach((ws) => { ws.onClose = null; });
  await closeAll(clients);
  return { count: clients.length, connect_seconds: seconds, closed_early: closedEarly,
           seconds, cpu_share: (c.user + c.system) / 1e6 / seconds };
}

// 5. Connection rate: `concurrency` loops, each connecting (WebSocket upgrade, Engine.IO
// open, CONNECT "/"), disconnecting ("41" then a WebSocket close) and starting over.
//
// Each cycle is a lean RFC 6455 client over net.Socket (the `ws` module would cost more CPU
// than the servers' handshakes): a precomputed upgrade request (Sec-WebSocket-Key drawn once
// per run; its Sec-WebSocket-Accept is checked along with the 101, Upgrade and Connection),
// a frame parser for the server's unmasked frames (text, fragments, ping -> pong, close),
// masked client frames, and the closing handshake: "41" and a close frame (1000), then, on
// the server's close frame, the end of the TCP connection; the cycle ends when the socket
// is closed.
const WS_KEY = crypto.randomBytes(16).toString('base64');
const WS_ACCEPT = crypto.createHash('sha1').update(WS_KEY + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
const WS_UPGRADE = `GET ${cfg.path}?EIO=4&transport=websocket HTTP/1.1\r\n${HOST_HEADER}` +
  `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${WS_KEY}\r\n` +
  (cfg.deflate ? 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n' : '') +
  'Sec-WebSocket-Version: 13\r\n\r\n';
const CLOSE_NORMAL = Buffer.from([0x03, 0xe8]);

// Masking keys come from a pool of random bytes, refilled when used up.
const maskPool = Buffer.alloc(4096);
let maskPos = maskPool.length;
function wsFrame(opcode, payload, rsv1) {  // payload: Buffer; one final, masked client frame
  const n = payload.length;
  const hl = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const f = Buffer.allocUnsafe(hl + 4 + n);
  f[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
  if (n < 126) f[1] = 0x80 | n;
  else if (n < 65536) { f[1] = 0x80 | 126; f.writeUInt16BE(n, 2); }
  else { f[1] = 0x80 | 127; f.writeUInt32BE(Math.floor(n / 2 ** 32), 2); f.writeUInt32BE(n >>> 0, 6); }
  if (maskPos + 4 > maskPool.length) { crypto.randomFillSync(maskPool); maskPos = 0; }
  maskPool.copy(f, hl, maskPos, maskPos + 4);
  maskPos += 4;
  for (let i = 0; i < n; i++) f[hl + 4 + i] = payload[i] ^ f[hl + (i & 3)];
  return f;
}
const wsText = (s) => wsFrame(0x1, Buffer.from(s, 'utf8'));

// permessage-deflate as agreed in one 101 (cfg.deflate): what this client sends from the
// threshold up is compressed on its own (a client may always do without context takeover);
// what the server compresses is inflated in order: with the server's context kept in a zlib
// stream (asynchronous: messages wait in a queue while one inflates), or, after
// server_no_context_takeover, each on its own with one synchronous call.
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const SYNC = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
class Deflate {
  constructor(header) {
    const p = {};
    for (const part of header.split(';').slice(1)) {
      const [k, v] = part.trim().split('=');
      p[k] = v === undefined ? true : Number(v.replace(/"/g, ''));
    }
    this.serverBits = Math.max(typeof p.server_max_window_bits === 'number' ? p.server_max_window_bits : 15, 9);
    this.clientBits = Math.max(typeof p.client_max_window_bits === 'number' ? p.client_max_window_bits : 15, 9);
    this.serverNoContext = !!p.server_no_context_takeover;
    this.inflater = null;
    this.out = [];
  }
  frame(s) {
    const data = Buffer.from(s, 'utf8');
    if (data.length < (cfg.deflate.threshold ?? 1024)) return wsFrame(0x1, data);
    const z = zlib.deflateRawSync(data, { ...SYNC, windowBits: this.clientBits });
    return wsFrame(0x1, z.subarray(0, z.length - 4), true);
  }
  inflate(payload, done) {
    if (this.serverNoContext) {   // each message stands alone: one synchronous call
      done(zlib.inflateRawSync(Buffer.concat([payload, TAIL]), { ...SYNC, windowBits: this.serverBits }));
      return;
    }
    if (!this.inflater) {
      this.inflater = zlib.createInflateRaw({ windowBits: this.serverBits });
      this.inflater.on('data', (c) => this.out.push(c));
    }
    const inf = this.inflater;
    inf.write(payload);
    inf.write(TAIL);
    inf.flush(() => {
      const m = Buffer.concat(this.out);
      this.out = [];
      done(m);
    });
  }
}

// A lean Socket.IO-over-WebSocket client on net.Socket. onConnected(ws) once "40{...}" has
// arrived; onFail(err) instead if the handshake fails (the socket is then still to be
// closed: terminate() it). After that: ws.send(text), ws.onPacket(text) for every packet
// but pings (answered here), ws.onClose() once the socket is closed, ws.onError(err) for a
// protocol error (the socket is then destroyed), ws.close() for "41" plus the closing
// handshake, ws.terminate() to drop the connection.
class RawWs {
  constructor(onConnected, onFail, port) {
    this.sock = net.connect({ host: cfg.host, port: port || cfg.port, localAddress: nextSource() });
    this.sock.setNoDelay(true);
    // 0 upgrade sent, 1 open awaited, 2 "40" awaited, 3 connected, 4 close sent, 5 done
    this.state = 0;
    this.closed = false;
    this.buf = null;
    this.frag = null;
    this.timer = null;
    this.onPacket = null;
    this.onClose = null;
    this.onError = null;
    this.pmd = null;        // a Deflate once agreed
    this.fragRsv = false;   // the fragmented message being assembled is compressed
    this.inq = [];          // with deflate: [payload, compressed] waiting to be delivered
    this._onConnected = onConnected;
    this._onFail = onFail;
    this.sock.on('error', (e) => this._abort(e, false));
    this.sock.on('close', () => this._closed());
    this.sock.on('data', (chunk) => this._data(chunk));
    this.sock.write(WS_UPGRADE);
  }

  send(text) {
    if (this.state === 3) this.sock.write(this.pmd ? this.pmd.frame(text) : wsText(text));
  }

  close() {
    if (this.state >= 4) return;
    this.state = 4;
    this.sock.write(Buffer.concat([wsText('41'), wsFrame(0x8, CLOSE_NORMAL)]));
    this.timer = setTimeout(() => this.sock.destroy(), 5000);
  }

  terminate() { this.state = 5; this.sock.destroy(); }

  _fail(err) {
    const f = this._onFail;
    this._onFail = this._onConnected = null;
    if (f) f(err);
  }

  _abort(err, destroy = true) {
    if (this.state < 3) this._fail(err);
    else if (this.state < 5 && this.onError) this.onError(err);
    else if (this.state < 4) fail('websocket client: ' + err.message);
    if (destroy) this.terminate();
  }

  _closed() {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.state = 5;
    if (this._onFail) this._fail(new Error('closed during the handshake'));
    if (this.onClose) this.onClose();
  }

  _text(s) {
    if (s === '2') { this.sock.write(wsText('3')); return; }
    if (this.state === 3) { if (this.onPacket) this.onPacket(s); return; }
    if (this.state === 1 && s[0] === '0') { this.state = 2; this.sock.write(wsText('40')); return; }
    if (this.state === 2 && s.startsWith('40')) {
      this.state = 3;
      const f = this._onConnected;
      this._onConnected = this._onFail = null;
      f(this);
      return;
    }
    if (this.state < 3) this._abort(new Error('unexpected handshake packet ' + s.slice(0, 80)));
  }

  _data(chunk) {
    if (this.state === 5) return;
    this.buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.state === 0) {
      const buf = this.buf;
      const end = buf.indexOf(CRLF2);
      if (end < 0) {
        if (buf.length > MAX_HEAD) this._abort(new Error('upgrade response head too long'));
        return;
      }
      const e = checkUpgrade(buf.toString('latin1', 0, end), this);
      if (e) return this._abort(new Error(e));
      this.state = 1;
      this.buf = end + 4 < buf.length ? buf.subarray(end + 4) : null;
      if (!this.buf) return;
    }
    try {
      this._frames();
    } catch (e) {
      this._abort(e);
    }
  }

  _message(payload, compressed) {
    if (!this.pmd) { this._text(payload.toString('utf8')); return; }
    this.inq.push([compressed ? Buffer.from(payload) : payload.toString('utf8'), compressed]);
    if (this.inq.length === 1) this._pump();
  }

  _pump() {   // deliver queued messages in order; a compressed one first inflates
    while (this.inq.length && this.state < 5) {
      const [data, compressed] = this.inq[0];
      if (!compressed) { this.inq.shift(); this._text(data); continue; }
      this.pmd.inflate(data, (m) => {
        this.inq.shift();
        if (this.state < 5) this._text(m.toString('utf8'));
        this._pump();
      });
      return;
    }
  }

  _frames() {
    const buf = this.buf;
    let pos = 0;
    while (this.state < 5) {
      if (buf.length - pos < 2) break;
      const b0 = buf[pos], b1 = buf[pos + 1];
      let len = b1 & 0x7f, hl = 2;
      if (b1 & 0x80) return this._abort(new Error('masked frame from the server'));
      if (b0 & (this.pmd ? 0x30 : 0x70)) return this._abort(new Error('frame with RSV bits set'));
      if (len === 126) { if (buf.length - pos < 4) break; len = buf.readUInt16BE(pos + 2); hl = 4; }
      else if (len === 127) {
        if (buf.length - pos < 10) break;
        if (buf.readUInt32BE(pos + 2) !== 0) return this._abort(new Error('frame too long'));
        len = buf.readUInt32BE(pos + 6); hl = 10;
      }
      if (buf.length - pos < hl + len) break;
      const fin = b0 & 0x80, op = b0 & 0x0f;
      const payload = buf.subarray(pos + hl, pos + hl + len);
      pos += hl + len;
      if (op >= 0x8) {
        if (!fin || len > 125 || (b0 & 0x40)) return this._abort(new Error('bad control frame'));
        if (op === 0x8) {
          if (len === 1) return this._abort(new Error('bad close frame'));
          if (this.state < 3) this._fail(new Error('server closed during the handshake'));
          if (this.state < 4) this.sock.write(wsFrame(0x8, payload.subarray(0, 2)));
          this.state = 5;
          this.sock.end();
          if (!this.timer) this.timer = setTimeout(() => this.sock.destroy(), 5000);
          break;
        }
        if (op === 0x9) this.sock.write(wsFrame(0xa, payload));
        else if (op !== 0xa) return this._abort(new Error('unknown opcode ' + op));
        continue;
      }
      if (op === 0x0) {
        if (!this.frag || (b0 & 0x40)) return this._abort(new Error('bad continuation frame'));
        this.frag.push(Buffer.from(payload));
        if (fin) { const m = Buffer.concat(this.frag); this.frag = null; this._message(m, this.fragRsv); }
        continue;
      }
      if (this.frag) return this._abort(new Error('new message inside a fragmented one'));
      if (op !== 0x1) return this._abort(new Error('unexpected opcode ' + op));
      if (!fin) { this.frag = [Buffer.from(payload)]; this.fragRsv = !!(b0 & 0x40); continue; }
      this._message(payload, !!(b0 & 0x40));
    }
    if (this.state === 5) { this.buf = null; return; }
    this.buf = pos < buf.length ? buf.subarray(pos) : null;
  }
}

// One connect cycle: connect, count it (onConnected()), disconnect; callback(err) once the
// socket is closed (err if the cycle failed or the server broke the protocol).
function connectCycle(onConnected, callback) {
  let err = null;
  const ws = new RawWs(() => {
    onConnected();
    ws.onError = (e) => { if (!err) err = e; };
    ws.onClose = () => callback(err);
    ws.close();
  }, (e) => {
    err = e;
    ws.onClose = () => callback(err);
    ws.terminate();
  });
}

// null if `head` is a valid answer to WS_UPGRADE, else what is wrong with it.
function checkUpgrade(head, ws) {
  const lines = head.split('\r\n');
  if (!/^HTTP\/1\.1 101(?: |$)/.test(lines[0])) return 'upgrade refused: ' + lines[0].slice(0, 80);
  const h = {};
  for (let i = 1; i < lines.length; i++) {
    const c = lines[i].indexOf(':');
    if (c <= 0) return 'bad header line ' + JSON.stringify(lines[i].slice(0, 80));
    h[lines[i].slice(0, c).toLowerCase()] = lines[i].slice(c + 1).trim();
  }
  if ((h.upgrade || '').toLowerCase() !== 'websocket') return '101 without Upgrade: websocket';
  if (!(h.connection || '').toLowerCase().split(',').some((t) => t.trim() === 'upgrade')) return '101 without Connection: upgrade';
  if (h['sec-websocket-accept'] !== WS_ACCEPT) return 'wrong Sec-WebSocket-Accept ' + h['sec-websocket-accept'];
  const ext = h['sec-websocket-extensions'];
  if (ext && !(cfg.deflate && /^permessage-deflate(;|$)/.test(ext))) return '101 with an extension not asked for: ' + ext;
  if (h['sec-websocket-protocol']) return '101 with a subprotocol not asked for';
  if (ext) ws.pmd = new Deflate(ext);
  return null;
}

async function connectRate() {
  let count = 0, errors = 0, stopping = false;
  const connected = () => { if (win.on) count++; };
  async function loop() {
    while (!stopping) {
      const err = await new Promise((resolve) => connectCycle(connected, resolve));
      if (err) {
        errors++;
        if (errors > 100) fail('too many connect errors: ' + err.message);
        await sleep(0.05);
      }
    }
  }
  const loops = [];
  for (let k = 0; k < cfg.concurrency; k++) loops.push(loop());
  await sleep(cfg.warmup);
  startWindow();
  await sleep(cfg.duration);
  const w = endWindow();
  const n = count;
  stopping = true;
  await Promise.all(loops);
  return { count: n, rate: n / w.seconds, errors, ...w };
}

const CASES = { ws_echo: wsEcho, poll_echo: pollEcho, broadcast, idle_mem: idle, connect: connectRate };

(async () => {
  const fn = CASES[cfg.case];
  if (!fn) fail('unknown case ' + cfg.case);
  const result = await fn();
  out('RESULT ' + JSON.stringify(result));
  process.exit(0);
})().catch((err) => fail(err && err.stack ? err.stack : err));
