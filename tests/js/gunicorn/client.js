#!/usr/bin/env node
// One socket.io-client (4.x or 2.x) against tests/apps/gunicorn_app.py under gunicorn.
//
//   node tests/js/gunicorn/client.js <base url> <v4|v2> <polling|websocket|upgrade>
//
// Connects, acks an echo (binary included for 4.x), sends a plain message, receives a
// room broadcast, reports the transport it ended on and the worker's pid. One JSON line.
'use strict';

const L = require('../modern/lib');

const [base, version, variant] = process.argv.slice(2);
const io = L.client(version);

async function main() {
  const report = {};
  const socket = io(base, { forceNew: true, transports: L.transports(variant), reconnection: false });
  try {
    await L.connected(socket);
    if (variant === 'upgrade') {
      const engine = version === 'v4' ? socket.io.engine : socket.io.engine;
      if (engine.transport.name !== 'websocket') await L.once(engine, 'upgrade', 8000);
    }
    report.echo = await L.ack(socket, 'echo', 'hi', 2);
    const message = L.once(socket, 'message');
    socket.send('plain');
    report.message = await message;
    const shouted = L.once(socket, 'shouted');
    socket.emit('shout', 'all');
    report.shouted = await shouted;
    report.pid = (await L.ack(socket, 'pid'))[0];
    report.transport = socket.io.engine.transport.name;
  } catch (err) {
    report.error = String(err && err.message ? err.message : JSON.stringify(err));
  }
  socket.close();
  console.log(JSON.stringify(report));
  process.exit(0);
}

main();
