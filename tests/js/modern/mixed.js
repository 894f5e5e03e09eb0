#!/usr/bin/env node
// A modern client in a room shared with other protocol generations (test_mixed_generations.py).
//
//   node tests/js/modern/mixed.js <base url> <v4|v2> <name> <peers>
//
// Connects to '/', waits for the server's 'go' event (sent once every participant is in the
// room), then sends one plain message ('from <name>') and emits one event
// ('say', name, '<name> says hi'). It collects what the others send until it has a message
// and a 'say' from each of its <peers>, waits a little longer for anything unexpected (its
// own messages coming back, duplicates), and prints one JSON report.
'use strict';

const L = require('./lib');

const [base, version, name, peersArg] = process.argv.slice(2);
const peers = Number(peersArg);
const io = L.client(version);

async function main() {
  const messages = [];
  const said = [];
  let go = 0;
  const sock = io(base, { forceNew: true, reconnection: false });
  const complete = new Promise((resolve) => {
    const check = () => { if (messages.length >= peers && said.length >= peers) resolve(); };
    sock.on('message', (m) => { messages.push(m); check(); });
    sock.on('said', (...args) => { said.push(args); check(); });
  });
  sock.on('go', () => {
    go += 1;
    sock.send('from ' + name);
    sock.emit('say', name, name + ' says hi');
  });
  const report = { name };
  try {
    await L.connected(sock);
    report.connected = true;
    await L.withTimeout(complete, 15000, 'messages from every peer');
    await L.sleep(300);
  } catch (err) {
    report.error = String(err && err.stack || JSON.stringify(err));
  }
  Object.assign(report, { go, messages: messages.slice(), said: said.slice() });
  L.finish(report);
}

main().catch((err) => L.finish({ fatal: String(err && err.stack || err) }));
