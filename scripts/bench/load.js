#!/usr/bin/env node
// geventio benchmark load generator: a lean Engine.IO v4 / Socket.IO v5 client.
//
// It speaks the wire protocol directly over `ws` (WebSocket) and Node's `http` keep-alive
// requests (polling), implementing only what the benchmark needs: the Engine.IO handshake,
// CONNECT ("40"), events with ack ids ("42<id>[...]" / "43<id>[...]"), server pings answered
// with "3", DISCONNECT ("41"). socket.io-client would cost several times more CPU per
// message and could become the bottleneck.
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

const http = require('http');
const WebSocket = require('ws');

const cfg = Object.assign({
  host: '127.0.0.1',
  port: 8000,
  path: '/socket.io/',
  clients: 50,
  warmup: 2,            // seconds before the measured window
  duration: 10,         // seconds measured
  concurrency: 100,     // connects in flight (idle, broadcast setup) or connect loops (connect)
  window: 8,            // broadcast: broadcasts in flight (sent, not yet received by all)
  payload: 'hello geventio benchmark',
  spread: 250,          // source addresses 127.0.0.2 .. 127.0.0.(1+spread), 0 = kernel's choice
  timeout: 120,         // hard limit for the whole run, seconds
}, JSON.parse(process.argv[2] || '{}'));

const WS_URL = `ws://${cfg.host}:${cfg.port}${cfg.path}?EIO=4&transport=websocket`;
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

// Resolves with the ws once the namespace "/" is connected ("40{...}" received).
// Afterwards every text message other than a ping goes to ws.onPacket(str).
function connectWs() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(WS_URL, { perMessageDeflate: false, localAddress: nextSource() });
    let state = 0;
    ws.onPacket = null;
    ws.on('message', (data) => {
      const s = data.toString();
      if (s === '2') { ws.send('3'); return; }
      if (state === 2) { if (ws.onPacket) ws.onPacket(s); return; }
      if (state === 0 && s[0] === '0') { state = 1; ws.send('40'); return; }
      if (state === 1 && s.startsWith('40')) { state = 2; resolve(ws); return; }
      state = 3;
      reject(new Error('unexpected handshake packet ' + s.slice(0, 80)));
      ws.terminate();
    });
    ws.on('error', (err) => { if (state < 2) { state = 3; reject(err); } else if (ws.onError) ws.onError(err); });
    ws.on('close', () => {
      if (state < 2) { state = 3; reject(new Error('closed during the handshake')); }
      if (ws.onClose) ws.onClose();
    });
  });
}

async function connectMany(n, concurrency) {
  const list = new Array(n);
  let next = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      list[i] = await connectWs();
    }
  }
  const workers = [];
  for (let k = 0; k < Math.min(concurrency, n); k++) workers.push(worker());
  await Promise.all(workers);
  return list;
}

function closeAll(list) {
  return Promise.all(list.filter(Boolean).map((ws) => new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    const t = setTimeout(() => { ws.terminate(); resolve(); }, 3000);
    ws.onClose = () => { clearTimeout(t); resolve(); };
    ws.onError = () => {};
    try { ws.close(); } catch (e) { clearTimeout(t); resolve(); }
  })));
}

// -- cases ----------------------------------------------------------------------------------

// 1. WebSocket echo: every client emits "echo" with an ack id and sends the next one as soon
// as the ack arrives.
async function wsEcho() {
  const clients = await connectMany(cfg.clients, cfg.concurrency);
  let count = 0, bad = 0, stopping = false;
  for (const ws of clients) {
    let id = 0;
    const send = () => ws.send(`42${id}["echo",${PAYLOAD_JSON}]`);
    ws.onPacket = (s) => {
      if (s.startsWith('43')) {
        if (!s.startsWith(`43${id}[${PAYLOAD_JSON}]`)) bad++;
        if (win.on) count++;
        id++;
        if (!stopping) send();
      }
    };
    ws.onClose = () => { if (!stopping) fail('server closed an echo client'); };
    send();
  }
  await sleep(cfg.warmup);
  startWindow();
  await sleep(cfg.duration);
  const w = endWindow();
  const n = count;
  stopping = true;
  await closeAll(clients);
  return { count: n, rate: n / w.seconds, bad, ...w };
}

// 2. Polling echo: the same over HTTP long-polling (one GET always waiting, one POST at a time).
class PollClient {
  constructor() {
    const localAddress = nextSource();
    this.getAgent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress });
    this.postAgent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress });
    this.sid = null;
    this.postQueue = [];
    this.posting = false;
    this.closed = false;
    this.onPacket = null;
  }

  request(method, agent, body) {
    return new Promise((resolve, reject) => {
      const path = this.sid ? `${POLL_PATH}&sid=${this.sid}` : POLL_PATH;
      const headers = {};
      if (body !== undefined) {
        headers['Content-Type'] = 'text/plain;charset=UTF-8';
        headers['Content-Length'] = Buffer.byteLength(body);
      }
      const req = http.request({ host: cfg.host, port: cfg.port, method, path, agent, headers }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => { data += chunk; });
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`${method} -> ${res.statusCode} ${data.slice(0, 100)}`));
          else resolve(data);
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      if (body !== undefined) req.end(body); else req.end();
    });
  }

  post(packet) {
    this.postQueue.push(packet);
    if (!this.posting) this.flushPosts();
  }

  flushPosts() {
    if (this.closed || this.postQueue.length === 0) { this.posting = false; return; }
    this.posting = true;
    const body = this.postQueue.join(RS);
    this.postQueue = [];
    this.request('POST', this.postAgent, body).then(() => this.flushPosts(), (err) => this.error(err));
  }

  error(err) {
    if (!this.closed) fail('polling client: ' + err.message);
  }

  async open() {
    const hs = await this.request('GET', this.getAgent);
    if (hs[0] !== '0') throw new Error('bad handshake ' + hs.slice(0, 80));
    this.sid = JSON.parse(hs.slice(1)).sid;
    const connected = new Promise((resolve) => { this.onConnect = resolve; });
    this.post('40');
    this.poll();
    await connected;
  }

  poll() {
    if (this.closed) return;
    this.request('GET', this.getAgent).then((body) => {
      for (const p of body.split(RS)) {
        if (p === '2') this.post('3');
        else if (p.startsWith('40')) { if (this.onConnect) { this.onConnect(); this.onConnect = null; } }
        else if (p === '1') { if (!this.closed) fail('server closed a polling session'); }
        else if (p !== '6' && this.onPacket) this.onPacket(p);
      }
      this.poll();
    }, (err) => this.error(err));
  }

  close() {
    this.closed = true;
    this.getAgent.destroy();
    this.postAgent.destroy();
  }
}

async function pollEcho() {
  const clients = [];
  for (let i = 0; i < cfg.clients; i++) clients.push(new PollClient());
  await Promise.all(clients.map((c) => c.open()));
  let count = 0, bad = 0, stopping = false;
  for (const c of clients) {
    let id = 0;
    const send = () => c.post(`42${id}["echo",${PAYLOAD_JSON}]`);
    c.onPacket = (s) => {
      if (s.startsWith('43')) {
        if (!s.startsWith(`43${id}[${PAYLOAD_JSON}]`)) bad++;
        if (win.on) count++;
        id++;
        if (!stopping) send();
      }
    };
    send();
  }
  await sleep(cfg.warmup);
  startWindow();
  await sleep(cfg.duration);
  const w = endWindow();
  const n = count;
  stopping = true;
  // Tell the server goodbye (Engine.IO CLOSE) so it does not wait for ping timeouts.
  for (const c of clients) c.closed = true;
  await Promise.all(clients.map((c) => c.request('POST', c.postAgent, '1').catch(() => {})));
  for (const c of clients) c.close();
  return { count: n, rate: n / w.seconds, bad, ...w };
}

// 3. Broadcast: client 0 asks the server to emit "tick" to everyone; at most `window`
// broadcasts are in flight (sent but not yet received by every client). Deliveries are
// counted at the clients.
async function broadcast() {
  const N = cfg.clients;
  const clients = await connectMany(N, cfg.concurrency);
  const pending = new Map();   // seq -> clients that got it
  let sent = 0, done = 0, deliveries = 0, bad = 0, stopping = false, lastProgress = now();
  const driver = clients[0];
  const PREFIX = '42["tick",';
  const pump = () => {
    while (!stopping && sent - done < cfg.window) {
      driver.send(`42["broadcast",${sent}]`);
      pending.set(sent, 0);
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
      if (got >= N) { pending.delete(seq); done++; pump(); } else pending.set(seq, got);
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
  return { count: n, rate: n / w.seconds, broadcasts: sent - sent0, bad, ...w };
}

// 4. Idle connections: warm up, wait for "go", connect N clients, report, wait for "done".
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
  if ((await readLine()) !== 'done') fail('expected "done" on stdin');
  clients.forEach((ws) => { ws.onClose = null; });
  await closeAll(clients);
  return { count: clients.length, connect_seconds: seconds, closed_early: closedEarly,
           seconds, cpu_share: (c.user + c.system) / 1e6 / seconds };
}

// 5. Connection rate: `concurrency` loops, each connecting (Engine.IO handshake + CONNECT
// "/"), disconnecting ("41" then a WebSocket close) and starting over.
async function connectRate() {
  let count = 0, errors = 0, stopping = false;
  async function loop() {
    while (!stopping) {
      let ws;
      try {
        ws = await connectWs();
      } catch (e) {
        errors++;
        if (errors > 100) fail('too many connect errors: ' + e.message);
        await sleep(0.05);
        continue;
      }
      if (win.on) count++;
      await new Promise((resolve) => {
        const t = setTimeout(() => { ws.terminate(); resolve(); }, 5000);
        ws.onClose = () => { clearTimeout(t); resolve(); };
        ws.onError = () => {};
        ws.send('41');
        ws.close();
      });
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
