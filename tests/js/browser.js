#!/usr/bin/env node
// Headless Chromium driver for geventio's browser tests.
//
//   node tests/js/browser.js <url> [--timeout ms] [--pages N]
//                            [--fill name=value ...] [--submit selector]
//
// Launches Chromium once, opens <url> in N pages at the same time (page i gets
// `page=<i>` added to its query string, each in its own browser context so they
// share no cookies), waits until every page sets `window.__done = true` or the
// timeout passes, and prints one JSON line:
//   {"pages": [{"result", "done", "console", "errors"}...], "timedOut": bool}
// With --submit (a form page, e.g. a login page): each page first fills the form fields
// named by --fill (the `name` attribute) and clicks the --submit element, then waits for
// `window.__done` on the page the form's answer leads to (its URL is in "landed").
// Exit status: 0 when the run happened (whatever the pages did), 2 otherwise.
'use strict';

const { chromium } = require('playwright-core');

const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function parseArgs(argv) {
  const opts = { url: null, timeout: 30000, pages: 1, fill: [], submit: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--timeout') opts.timeout = Number(argv[++i]);
    else if (arg === '--pages') opts.pages = Number(argv[++i]);
    else if (arg === '--submit') opts.submit = String(argv[++i]);
    else if (arg === '--fill') {
      const field = String(argv[++i]);
      const eq = field.indexOf('=');
      if (eq < 1) throw new Error('--fill takes name=value');
      opts.fill.push([field.slice(0, eq), field.slice(eq + 1)]);
    }
    else if (opts.url === null) opts.url = arg;
    else throw new Error('unexpected argument: ' + arg);
  }
  if (!opts.url) throw new Error('usage: browser.js <url> [--timeout ms] [--pages N]');
  if (!(opts.timeout > 0)) throw new Error('--timeout must be a positive number of ms');
  if (!(Number.isInteger(opts.pages) && opts.pages > 0)) throw new Error('--pages must be a positive integer');
  return opts;
}

function pageUrl(url, index) {
  const hashAt = url.indexOf('#');
  const base = hashAt < 0 ? url : url.slice(0, hashAt);
  const hash = hashAt < 0 ? '' : url.slice(hashAt);
  return base + (base.includes('?') ? '&' : '?') + 'page=' + index + hash;
}

let printed = false;
function emit(obj) {
  if (printed) return;
  printed = true;
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function firstLine(err) {
  return String((err && err.message) || err).split('\n')[0];
}

// Fills and submits the form of the page just opened; resolves once the answer's page
// has started loading.
async function submitForm(page, opts, deadline) {
  const timeout = Math.max(1, deadline - Date.now());
  for (const [name, value] of opts.fill) {
    await page.fill('[name="' + name + '"]', value, { timeout });
  }
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'commit', timeout }),
    page.click(opts.submit, { timeout }),
  ]);
}

async function openPage(browser, url, record, deadline, opts) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (msg) => record.console.push(msg.text()));
  page.on('pageerror', (err) => record.errors.push(String(err && err.stack || err)));
  page.on('crash', () => record.errors.push('page crashed'));
  try {
    // 'commit' rather than 'load': a page holding a long poll open must not stall us.
    await page.goto(url, { waitUntil: 'commit', timeout: Math.max(1, deadline - Date.now()) });
    if (opts.submit !== null) {
      await submitForm(page, opts, deadline);
      record.landed = page.url();
    }
  } catch (err) {
    record.errors.push('driver: ' + firstLine(err));
    return record;
  }
  try {
    await page.waitForFunction(() => window.__done === true, null,
      { timeout: Math.max(1, deadline - Date.now()), polling: 25 });
    record.done = true;
  } catch (err) {
    if (!(err && err.name === 'TimeoutError')) record.errors.push('driver: ' + firstLine(err));
  }
  try {
    record.result = await page.evaluate(() => (window.__result === undefined ? null : window.__result));
  } catch (err) {
    record.errors.push('driver: cannot read window.__result: ' + firstLine(err));
  }
  return record;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(String(err.message) + '\n');
    process.exit(2);
  }
  // Last resort if Chromium itself hangs: report what we have and leave.
  const records = [];
  const guard = setTimeout(() => {
    emit({ pages: records, timedOut: true, error: 'driver watchdog fired' });
    process.exit(0);
  }, opts.timeout + 20000);
  guard.unref();

  let browser;
  try {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      headless: true,
      chromiumSandbox: false,
      args: CHROMIUM_FLAGS,
    });
  } catch (err) {
    process.stderr.write('cannot launch Chromium: ' + String((err && err.message) || err) + '\n');
    process.exit(2);
  }
  try {
    const deadline = Date.now() + opts.timeout;
    for (let i = 0; i < opts.pages; i++) records.push({ result: null, done: false, console: [], errors: [] });
    await Promise.all(records.map((rec, i) => openPage(browser, pageUrl(opts.url, i), rec, deadline, opts)));
    emit({ pages: records, timedOut: records.some((r) => !r.done) });
  } catch (err) {
    emit({ pages: records, timedOut: false, error: firstLine(err) });
  } finally {
    await browser.close().catch(() => {});
  }
  process.exit(0);
}

main();
