// Connection state recovery with socket.io-client 4.x: a client drops its transport
// without disconnecting, a second client has the server emit meanwhile, the first comes
// back. Usage: node recovery.js <url> <transport variant> <drop> [<url2>]
//   drop: engine-close (socket.io.engine.close()), kill (the TCP socket destroyed),
//         disconnect (socket.disconnect(): on purpose), wait (engine-close, then stay
//         away past the server's window)
//   url2: reconnect to this server instead (another process of the cluster)
// Prints one JSON line: every connect ({id, recovered}) and every event, in order.
'use strict';

const L = require('./lib');

const [base, variant, drop, base2] = process.argv.slice(2);
const io = L.client('v4');

async function main() {
  const seen = [];
  const connects = [];
  const report = { seen, connects };
  const opts = { transports: L.transports(variant), reconnection: false, forceNew: true };
  const socket = io(base, Object.assign({ auth: { token: 'rec' } }, opts));
  socket.on('connect', () => connects.push({ id: socket.id, recovered: socket.recovered }));
  socket.onAny((...args) => seen.push(L.describe(args)));
  const control = io(base2 || base, Object.assign({ auth: { token: 'control' } }, opts));
  try {
    await L.connected(socket);
    await L.connected(control);
    const welcome = L.once(socket, 'welcome');
    report.setup = await L.ack(socket, 'setup', 'ada');
    await welcome;
    const sid = socket.id;
    report.sidBefore = sid;
    const gone = L.once(socket, 'disconnect');
    if (drop === 'disconnect') socket.disconnect();
    else if (drop === 'kill') socket.io.engine.transport.ws._socket.destroy();
    else socket.io.engine.close();
    report.reason = (await gone)[0];
    report.missed = await L.ack(control, 'emit-missed', sid);
    if (drop === 'wait') await L.sleep(1200);
    if (base2) socket.io.uri = base2;
    socket.connect();
    await L.connected(socket);
    const after = L.once(socket, 'after');
    report.after = await L.ack(control, 'emit-after');
    if (socket.recovered) await after;  // a new connection is in no room: nothing comes
    report.server = await L.ack(socket, 'whoami');
  } catch (err) {
    report.error = err && err.stack ? String(err.stack) : L.describe(err);
  }
  socket.close();
  control.close();
  L.finish(report);
}

main();
