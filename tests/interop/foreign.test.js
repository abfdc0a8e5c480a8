// PouchDB's revisions reach Outpost phones over Outpost's own protocol, and a
// conflict PouchDB resolved by deleting the loser stays resolved the same way
// everywhere: PouchDB -> `outpost serve` (CouchDB face) -> `outpost sync
// --pull` phone over ws://, then PouchDB, the hub and the phone are compared.
// (node --test; env OUTPOST_BIN = the outpost binary, NODE_PATH = the
// tests/pouchdb harness's node_modules.) Run: tests/run.sh interop
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PouchDB = require('pouchdb-node');
PouchDB.plugin(require('pouchdb-adapter-memory'));

const TIMEOUT_MS = 30000;
const support = require('./support');

const { BIN, USER, PASSWORD } = support;

const withTimeout = (promise, what) => support.withTimeout(promise, what, TIMEOUT_MS);

const startServe = (dir, options) => support.startServe(dir, TIMEOUT_MS, options);
const { stopServe } = support;

function ok(args) {
  const r = spawnSync(BIN, args, { timeout: TIMEOUT_MS });
  assert.equal(r.status, 0, `outpost ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.toString();
}

test('a conflict PouchDB resolved by deleting the loser: PouchDB, hub and phone keep the same live document', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-foreign-'));
  const server = await startServe(dir);
  t.after(() => stopServe(server));
  const remote = new PouchDB(server.url, { auth: { username: USER, password: PASSWORD } });
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
