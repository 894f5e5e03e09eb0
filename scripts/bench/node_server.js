#!/usr/bin/env node
// Benchmark peer: node socket.io 4.8 (npm alias socket.io-v4) with @socket.io/redis-adapter,
// serving the same two events as scripts/bench/server.py:
//   echo(data) -> ack(data);  broadcast(seq) -> io.emit("tick", seq, PAYLOAD)
//
//   node scripts/bench/node_server.js '{"port":8000,"redis":"redis://127.0.0.1:6379","key":"socket.io"}'
//
// Prints "READY <pid>" once listening. Without "redis" it runs alone (in-memory adapter).
'use strict';

const http = require('http');
const { Server } = require('socket.io-v4');

// "perMessageDeflate": false (node's default) or true / an options object (bench.py --cases
// deflate); "payload": tick's payload instead of the short string.
const cfg = Object.assign({ host: '127.0.0.1', port: 8000, redis: '', key: 'socket.io',
  perMessageDeflate: false, payload: 'hello geventio benchmark' },
  JSON.parse(process.argv[2] || '{}'));
const PAYLOAD = cfg.payload;

async function main() {
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    pingInterval: 25000, pingTimeout: 20000, maxHttpBufferSize: 1e6,
    perMessageDeflate: cfg.perMessageDeflate, httpCompression: false,
  });
  if (cfg.redis) {
    const { createAdapter } = require('@socket.io/redis-adapter');
    const { createClient } = require('redis');
    const pub = createClient({ url: cfg.redis });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub, { key: cfg.key }));
  }
  io.on('connection', (socket) => {
    socket.on('echo', (data, ack) => { if (typeof ack === 'function') ack(data); });
    socket.on('broadcast', (seq) => { io.emit('tick', seq, PAYLOAD); });
  });
  httpServer.on('connection', (s) => s.setNoDelay(true));
  await new Promise((resolve) => httpServer.listen(cfg.port, cfg.host, resolve));
  process.stdout.write('READY ' + process.pid + '\n');
}

main().catch((err) => { console.error(err); process.exit(1); });
