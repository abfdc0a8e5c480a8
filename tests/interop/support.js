// What the interop tests share: a timeout on a promise, and starting and
// stopping `outpost serve` (env OUTPOST_BIN) with one password user.
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const BIN = process.env.OUTPOST_BIN;
const USER = 'amina';
const PASSWORD = 'correct horse';

// `promise`, or a rejection naming `what` after `ms` milliseconds.
function withTimeout(promise, what, ms) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Starts `outpost serve` of `dir`/camp.db for USER on 127.0.0.1 and
// resolves with its ready line and URLs once it has printed it.
async function startServe(dir, timeoutMs, { port = 0, tlsOn = false, readOnly = false } = {}) {
  const args = ['serve', '--db', path.join(dir, 'camp.db'), '--port', String(port), '--bind', '127.0.0.1',
    '--user', `${USER}:${PASSWORD}`];
  if (!tlsOn) args.push('--no-tls');
  if (readOnly) args.push('--read-only');
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const lines = readline.createInterface({ input: child.stdout });
  const first = new Promise((resolve, reject) => {
    lines.once('line', resolve);
    exited.then(({ code }) => reject(new Error(`outpost serve exited (${code}): ${stderr}`)));
  });
  const info = JSON.parse(await withTimeout(first, 'outpost serve start', timeoutMs));
  const [scheme, ws] = tlsOn ? ['https', 'wss'] : ['http', 'ws'];
  return {
    child,
    exited,
    info,
    timeoutMs,
    url: `${scheme}://127.0.0.1:${info.port}/camp`,
    ws: `${ws}://127.0.0.1:${info.port}/camp`,
    stderr: () => stderr,
  };
}

// Stops a server started by `startServe` and checks that it exited cleanly.
async function stopServe(server) {
  if (server.child.exitCode === null) server.child.kill('SIGTERM');
  const { code } = await withTimeout(server.exited, 'outpost serve exit', server.timeoutMs);
  assert.equal(code, 0, server.stderr());
}

module.exports = { BIN, USER, PASSWORD, withTimeout, startServe, stopServe };
