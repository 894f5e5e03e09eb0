#!/usr/bin/env node
// The real Socket.IO Admin UI (@socket.io/admin-ui 0.5.1's built ui/dist) in headless
// Chromium against a geventio server, for tests/test_admin_ui.py.
//
//   node tests/js/admin_ui.js '{"ui": "http://127.0.0.1:P/", "server": "http://127.0.0.1:Q",
//        "username": "admin", "password": "pw", "oldSid": "<a 0.6 client's session id>",
//        "screenshots": "/tmp/dir", "timeout": 20000}'
//
// Opens the UI (served locally; requests to any other host are aborted), logs in through
// its connection modal, then connects a socket.io-client 4.x client of its own to the
// server, which enters the room "lobby" and emits "shout". It looks for them where a user
// would: the Sockets page (the 4.x socket and the 0.6 client), the Rooms page ("lobby"),
// the Events page ("shout"); then clicks the 4.x socket's disconnect button on the Sockets
// page and waits for that client's "disconnect". Screenshots go to `screenshots` only.
// Prints one JSON line: {"steps": {name: true|error}, "clientId", "disconnectReason",
// "console", "errors"}.
'use strict';

const path = require('path');
const { chromium } = require('playwright-core');
const { io } = require('socket.io-client');

const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const config = JSON.parse(process.argv[2]);
const timeout = config.timeout || 20000;
const report = { steps: {}, clientId: null, disconnectReason: null, console: [], errors: [] };

function firstLine(err) {
  return String((err && err.message) || err).split('\n')[0];
}

async function step(name, page, fn) {
  try {
    await fn();
    report.steps[name] = true;
  } catch (err) {
    report.steps[name] = firstLine(err);
  }
  if (config.screenshots && page) {
    try {
      await page.screenshot({ path: path.join(config.screenshots, name + '.png') });
    } catch (err) {
      report.errors.push('screenshot ' + name + ': ' + firstLine(err));
    }
  }
  return report.steps[name] === true;
}

async function show(page, hash) {
  await page.evaluate((h) => { window.location.hash = h; }, hash);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: CHROMIUM_FLAGS,
  });
  let client = null;
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const uiHost = new URL(config.ui).host;
    const serverHost = new URL(config.server).host;
    await context.route('**/*', (route) => {
      const host = new URL(route.request().url()).host;
      return host === uiHost || host === serverHost ? route.continue() : route.abort();
    });
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);
    page.on('console', (msg) => report.console.push(msg.text()));
    page.on('pageerror', (err) => report.errors.push(String(err && err.stack || err)));

    const loggedIn = await step('login', page, async () => {
      await page.goto(config.ui, { waitUntil: 'domcontentloaded' });
      await page.getByLabel('Server URL').fill(config.server);
      await page.getByLabel('Username').fill(config.username);
      await page.getByLabel('Password').fill(config.password);
      await page.getByRole('button', { name: 'Connect' }).click();
      await page.getByRole('dialog').waitFor({ state: 'hidden' });
    });
    if (!loggedIn) return;

    await step('client', null, async () => {
      client = io(config.server, { forceNew: true, reconnection: false });
      await new Promise((resolve, reject) => {
        client.once('connect', resolve);
        client.once('connect_error', reject);
      });
      report.clientId = client.id;
      client.on('disconnect', (reason) => { report.disconnectReason = reason; });
      await client.timeout(5000).emitWithAck('enter', 'lobby');
      await client.timeout(5000).emitWithAck('shout', 'hello from node');
    });

    await step('sockets', page, async () => {
      await show(page, '#/sockets/');
      await page.getByText(report.clientId, { exact: true }).waitFor();
      await page.getByText(config.oldSid, { exact: true }).waitFor();
    });

    await step('rooms', page, async () => {
      await show(page, '#/rooms/');
      await page.getByText('lobby', { exact: true }).waitFor();
    });

    await step('events', page, async () => {
      await show(page, '#/events/');
      await page.locator('code', { hasText: 'shout' }).first().waitFor();
    });

    await step('disconnect', page, async () => {
      await show(page, '#/sockets/');
      // the row's disconnect button (its icon is mdi-logout; the icon font is not loaded)
      const row = page.locator('tr', { hasText: report.clientId });
      const button = row.locator('button:has(i.mdi-logout)');
      await button.click();
      const deadline = Date.now() + timeout;
      while (report.disconnectReason === null && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      if (report.disconnectReason === null) throw new Error('the client was not disconnected');
      // and the UI drops the socket from its list (socket_disconnected)
      while (await button.count() > 0) {
        if (Date.now() > deadline) throw new Error('the socket stayed in the list');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    });
  } finally {
    if (client) client.close();
    await browser.close();
  }
}

main().catch((err) => report.errors.push('driver: ' + firstLine(err))).then(() => {
  process.stdout.write(JSON.stringify(report) + '\n');
  process.exit(0);
});
