// A node socket.io 4.8 server on @socket.io/redis-streams-adapter 0.3.x with connection
// state recovery on: the node twin of tests/apps/recovery_member.py (same handlers).
//
//   node tests/js/cluster/streams_server.js '{"redisUrl": "redis://127.0.0.1:PORT/0",
//        "stream": "s", "window": 30000}'
//
// Prints {"ready": true, "port", "pid"} once it listens on 127.0.0.1; runs until killed.
'use strict';

const http = require('http');
const { Server } = require('socket.io-v4');
const { createAdapter } = require('@socket.io/redis-streams-adapter');
const { createClient } = require('redis');

const config = Object.assign({ redisUrl: null, stream: 'socket.io', window: 30000 },
  JSON.parse(process.argv[2] || '{}'));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const redis = createClient({ url: config.redisUrl });
  await redis.connect();
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    adapter: createAdapter(redis, {
      streamName: config.stream, channelPrefix: config.stream,
      sessionKeyPrefix: config.stream + ':session:',
    }),
    connectionStateRecovery: { maxDisconnectionDuration: config.window },
  });
  io.on('connection', (socket) => {
    socket.on('setup', (name, ack) => {
      socket.join('room1');
      socket.data.name = name;
      socket.emit('welcome', name);
      ack('ok');
    });
    socket.on('emit-missed', async (sid, ack) => {
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        const all = await io.fetchSockets();
        if (!all.some((s) => s.id === sid)) break;
        await sleep(20);
      }
      await sleep(50);
      io.to('room1').emit('missed', 1);
      io.to(sid).emit('missed', 2);
      io.emit('missed-all', 3);
      io.to('room2').emit('not-for-you', 4);
      socket.to('room1').emit('missed', 5);
      ack('sent');
    });
    socket.on('emit-after', (ack) => {
      io.to('room1').emit('after', 6);
      ack('sent');
    });
    socket.on('whoami', (ack) => {
      ack([socket.id, [...socket.rooms].sort(), socket.data, socket.recovered]);
    });
  });
  httpServer.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ ready: true, port: httpServer.address().port,
      pid: process.pid }) + '\n');
  });
}

main().catch((err) => { process.stderr.write(String(err && err.stack) + '\n'); process.exit(1); });
