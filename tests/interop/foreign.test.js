// PouchDB's revisions reach Outpost phones over Outpost's own protocol, and a
// conflict PouchDB resolved by deleting the loser stays resolved the same way
// everywhere: PouchDB -> `outpost serve` (CouchDB face) -> `outpost sync
// --pull` phone over ws://, then PouchDB, the hub and the phone are compared.
// (node --test; env OUTPOST_BIN = the outpost binary, NODE_PATH = the
// tests/pouchdb harness's node_modules.) Run: tests/run.sh interop
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const PouchDB = require('pouchdb-node');
PouchDB.plugin(require('pouchdb-adapter-memory'));

const BIN = process.env.OUTPOST_BIN;
const TIMEOUT_MS = 30000;
const USER = 'amina';
const PASSWORD = 'correct horse';

function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing after ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Starts `outpost serve` without TLS and resolves with its ready line.
async function startServe(dir) {
  const args = ['serve', '--db', path.join(dir, 'camp.db'), '--port', '0', '--bind', '127.0.0.1',
    '--user', `${USER}:${PASSWORD}`, '--no-tls'];
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = readline.createInterface({ input: child.stdout });
  const first = new Promise((resolve, reject) => {
    lines.once('line', resolve);
    exited.then((code) => reject(new Error(`outpost serve exited (${code}): ${stderr}`)));
  });
  const info = JSON.parse(await withTimeout(first, 'outpost serve start'));
  return { child, exited, info, http: `http://127.0.0.1:${info.port}/camp`, ws: `ws://127.0.0.1:${info.port}/camp` };
}

async function stopServe(server) {
  if (server.child.exitCode === null) server.child.kill('SIGTERM');
  assert.equal(await withTimeout(server.exited, 'outpost serve exit'), 0);
}

function ok(args) {
  const r = spawnSync(BIN, args, { timeout: TIMEOUT_MS });
  assert.equal(r.status, 0, `outpost ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.toString();
}

test('a conflict PouchDB resolved by deleting the loser: PouchDB, hub and phone keep the same live document', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-foreign-'));
  const server = await startServe(dir);
  t.after(() => stopServe(server));
  const remote = new PouchDB(server.http, { auth: { username: USER, password: PASSWORD } });
  const app = new PouchDB(`app-${process.pid}`, { adapter: 'memory' });

  // A record, then two edits of it on two devices: a conflict.
  const first = await app.put({ _id: 'child-1', name: 'Amina' });
  const [gen1] = first.rev.split('-').slice(1);
  await app.put({ _id: 'child-1', _rev: first.rev, name: 'Amina K.' });
  await app.bulkDocs([{
    _id: 'child-1', _rev: `2-${'b'.repeat(32)}`, name: 'Amyna',
    _revisions: { start: 2, ids: ['b'.repeat(32), gen1] },
  }], { new_edits: false });
  const conflicted = await app.get('child-1', { conflicts: true });
  assert.equal(conflicted._conflicts.length, 1);
  // PouchDB's way of resolving: delete the losing leaf.
  await app.remove('child-1', conflicted._conflicts[0]);
  const resolved = await app.get('child-1', { conflicts: true });
  assert.equal(resolved._conflicts, undefined);

  await withTimeout(PouchDB.replicate(app, remote), 'PouchDB push');
  const phone = path.join(dir, 'phone.db');
  ok(['sync', '--db', phone, '--url', server.ws, '--user', `${USER}:${PASSWORD}`, '--allow-plaintext', '--pull']);

  const hubDoc = await remote.get('child-1', { conflicts: true });
  const phoneDoc = JSON.parse(ok(['get', '--db', phone, 'child-1']));
  const exported = ok(['export', '--db', phone]).split('\n').filter(Boolean).map((l) => JSON.parse(l));
  for (const [who, doc] of [['hub', hubDoc], ['phone', phoneDoc], ['phone export', exported[0]]]) {
    assert.equal(doc._rev, resolved._rev, `${who} winner`);
    assert.equal(doc.name, resolved.name, `${who} body`);
    assert.equal(doc._deleted, undefined, `${who} keeps the record alive`);
  }
  assert.equal(hubDoc._conflicts, undefined);
  assert.equal(exported.length, 1);

  // A second pull writes nothing new (the phone resolved no conflict of its own).
  ok(['sync', '--db', phone, '--url', server.ws, '--user', `${USER}:${PASSWORD}`, '--allow-plaintext', '--pull']);
  assert.equal(JSON.parse(ok(['get', '--db', phone, 'child-1']))._rev, resolved._rev);
});
