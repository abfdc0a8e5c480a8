// PouchDB 9 replicating with `outpost serve` through its CouchDB face
// (node --test; env OUTPOST_BIN = the outpost binary, NODE_PATH = the
// tests/pouchdb harness's node_modules). Every case compares every
// document, revision tree leaf, conflict list and attachment byte on both
// sides, reading the hub through the face itself.
// Run: tests/run.sh interop
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');

const PouchDB = require('pouchdb-node');
PouchDB.plugin(require('pouchdb-adapter-memory'));

const TIMEOUT_MS = 30000;
const support = require('./support');

const { USER, PASSWORD } = support;

const withTimeout = (promise, what) => support.withTimeout(promise, what, TIMEOUT_MS);

let dbCounter = 0;
function memoryDb() {
  dbCounter += 1;
  return new PouchDB(`local-${process.pid}-${dbCounter}`, { adapter: 'memory' });
}

const startServe = (dir, options) => support.startServe(dir, TIMEOUT_MS, options);
const { stopServe } = support;

function remoteDb(server, { password = PASSWORD, agent } = {}) {
  const opts = { auth: { username: USER, password }, skip_setup: false };
  if (agent) opts.fetch = (url, o) => PouchDB.fetch(url, { ...o, agent });
  return new PouchDB(server.url, opts);
}

// A raw request to the face (Basic auth), for what PouchDB does not show.
async function hub(server, method, urlPath, body) {
  const headers = {
    accept: 'application/json',
    authorization: 'Basic ' + Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
  };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(server.url + urlPath, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

// Everything a database holds: per document id, every leaf with its body,
// history and attachments (bytes as base64), the winner and its conflicts.
async function snapshot(db) {
  const changes = await db.changes({ style: 'all_docs' });
  const out = {};
  for (const row of changes.results) {
    const leaves = await db.get(row.id, { open_revs: 'all', revs: true, attachments: true });
    const docs = leaves.map((l) => l.ok).filter(Boolean).sort((a, b) => (a._rev < b._rev ? -1 : 1));
    for (const d of docs) {
      for (const att of Object.values(d._attachments || {})) delete att.revpos;
    }
    let winner;
    try {
      const w = await db.get(row.id, { conflicts: true });
      winner = { rev: w._rev, conflicts: (w._conflicts || []).slice().sort() };
    } catch (e) {
      if (e.status !== 404) throw e;
      winner = { deleted: true };
    }
    out[row.id] = { leaves: docs, winner };
  }
  return out;
}

async function assertSame(a, b, what) {
  const [sa, sb] = await Promise.all([snapshot(a), snapshot(b)]);
  assert.deepEqual(sa, sb, what);
  return sa;
}

function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-face-'));
}

test('push, pull, deletions and conflicts: PouchDB and the hub end identical', async (t) => {
  const server = await startServe(tempDir());
  t.after(() => stopServe(server));
  const remote = remoteDb(server);

  // Push: 50 documents, some edited twice, one deleted.
  const a = memoryDb();
  const docs = Array.from({ length: 50 }, (_, i) => ({ _id: `child-${String(i).padStart(3, '0')}`, name: `Child ${i}`, age: i % 17 }));
  const put = await a.bulkDocs(docs);
  for (const [i, r] of put.slice(0, 10).entries()) {
    await a.put({ _id: r.id, _rev: r.rev, name: `Child ${i} (edited)`, tags: ['x', { deep: [1, 2, null] }] });
  }
  const gone = await a.get('child-049');
  await a.remove(gone);
  const pushed = await a.replicate.to(remote);
  assert.equal(pushed.ok, true);
  assert.equal(pushed.docs_written, 50);
  await assertSame(a, remote, 'after push');
  const deleted = await hub(server, 'GET', '/child-049');
  assert.equal(deleted.status, 404);
  assert.deepEqual(deleted.json, { error: 'not_found', reason: 'deleted' });

  // Pull into a fresh database.
  const b = memoryDb();
  const pulled = await b.replicate.from(remote);
  assert.equal(pulled.docs_written, 50);
  await assertSame(b, remote, 'after pull');
  // A filtered pull (PouchDB asks for the documents with the changes).
  const filtered = memoryDb();
  const some = await filtered.replicate.from(remote, { filter: (doc) => doc.age === 3 });
  const expected = (await b.allDocs({ include_docs: true })).rows.filter((r) => r.doc.age === 3).length;
  assert.ok(expected > 0);
  assert.equal(some.docs_written, expected);
  assert.equal((await filtered.allDocs()).rows.length, expected);

  // A conflict: the same document edited on both sides, pushed by both.
  const onA = await a.get('child-000');
  const onB = await b.get('child-000');
  await a.put({ ...onA, name: 'edited on A' });
  await b.put({ ...onB, name: 'edited on B', extra: true });
  await a.replicate.to(remote);
  await b.replicate.to(remote);
  await a.replicate.from(remote);
  await b.replicate.from(remote);
  const snap = await assertSame(a, remote, 'A and the hub after the conflict');
  await assertSame(b, remote, 'B and the hub after the conflict');
  assert.equal(snap['child-000'].leaves.length, 2);
  assert.equal(snap['child-000'].winner.conflicts.length, 1);

  // PouchDB's resolution (a plain tombstone on the loser) reaches everyone.
  const [loser] = snap['child-000'].winner.conflicts;
  await b.remove('child-000', loser);
  await b.replicate.to(remote);
  await a.replicate.from(remote);
  const resolved = await assertSame(a, remote, 'after the resolution');
  await assertSame(b, remote, 'B after the resolution');
  assert.deepEqual(resolved['child-000'].winner.conflicts, []);
  assert.equal(resolved['child-000'].winner.rev, snap['child-000'].winner.rev);
});

test('PouchDB creates a named collection with PUT /{db}.{collection} and syncs into it', async (t) => {
  const server = await startServe(tempDir());
  t.after(() => stopServe(server));
  const kids = new PouchDB(server.url + '.kids', { auth: { username: USER, password: PASSWORD } });
  const local = memoryDb();
  await local.bulkDocs([{ _id: 'k1', name: 'Amina' }, { _id: 'k2', name: 'Baraka' }]);
  assert.equal((await local.replicate.to(kids)).docs_written, 2);
  await assertSame(local, kids, 'the named collection');
  assert.equal((await hub(server, 'GET', '')).json.doc_count, 0, 'the default collection is untouched');
});

test('live sync carries edits both ways as they happen', async (t) => {
  const server = await startServe(tempDir());
  t.after(() => stopServe(server));
  const local = memoryDb();
  const remote = remoteDb(server);
  const sync = local.sync(remote, { live: true, retry: false, heartbeat: 2000 });
  t.after(() => sync.cancel());
  const events = [];
  const waiters = [];
  sync.on('change', (info) => {
    events.push(info);
    for (const w of waiters.splice(0)) w();
  });
  sync.on('error', (e) => { throw e; });
  const seen = (direction, id, deleted) => events.some((e) => e.direction === direction
    && e.change.docs.some((d) => d._id === id && Boolean(d._deleted) === deleted));
  const waitFor = (direction, id, deleted = false) => withTimeout((async () => {
    while (!seen(direction, id, deleted)) await new Promise((r) => waiters.push(r));
  })(), `live ${direction} of ${id}`);

  await local.put({ _id: 'from-phone', name: 'Amina' });
  await waitFor('push', 'from-phone');
  const onHub = await hub(server, 'GET', '/from-phone');
  assert.equal(onHub.status, 200);
  assert.equal(onHub.json.name, 'Amina');

  const created = await hub(server, 'PUT', '/from-hub', { name: 'Baraka' });
  assert.equal(created.status, 201);
  await waitFor('pull', 'from-hub');
  assert.equal((await local.get('from-hub'))._rev, created.json.rev);

  const d = await local.get('from-phone');
  await local.remove(d);
  const removed = await local.get('from-phone', { open_revs: 'all' });
  await waitFor('push', 'from-phone', true);
  assert.equal((await hub(server, 'GET', '/from-phone')).status, 404);
  assert.equal(removed.length, 1);
  sync.cancel();
  await assertSame(local, remote, 'after live sync');
});

test('a wrong password is refused with 401 and nothing is written', async (t) => {
  const server = await startServe(tempDir());
  t.after(() => stopServe(server));
  const local = memoryDb();
  await local.put({ _id: 'secret', name: 'x' });
  const bad = remoteDb(server, { password: 'wrong' });
  await assert.rejects(local.replicate.to(bad), (e) => e.status === 401);
  const info = await hub(server, 'GET', '');
  assert.equal(info.json.doc_count, 0);
  const anonymous = await fetch(server.url + '/_all_docs');
  assert.equal(anonymous.status, 401);
  assert.equal((await anonymous.json()).error, 'unauthorized');
});

test('after a restart, replication resumes from its checkpoints and reads only new changes', async (t) => {
  const dir = tempDir();
  let server = await startServe(dir);
  const port = server.info.port;
  const local = memoryDb();
  await local.bulkDocs(Array.from({ length: 30 }, (_, i) => ({ _id: `d${i}`, n: i })));
  assert.equal((await local.replicate.to(remoteDb(server))).docs_written, 30);
  const other = memoryDb();
  assert.equal((await other.replicate.from(remoteDb(server))).docs_read, 30);
  await stopServe(server);

  server = await startServe(dir, { port });
  t.after(() => stopServe(server));
  await local.bulkDocs(Array.from({ length: 3 }, (_, i) => ({ _id: `new${i}`, n: i })));
  const push = await local.replicate.to(remoteDb(server));
  assert.equal(push.docs_read, 3, 'the push read only the new local changes');
  assert.equal(push.docs_written, 3);
  const pull = await other.replicate.from(remoteDb(server));
  assert.equal(pull.docs_read, 3, 'the pull read only the new hub changes');
  await assertSame(other, remoteDb(server), 'after the resumed pull');
});

test('over TLS, with the listener certificate pinned, a 1 MB attachment arrives byte for byte', async (t) => {
  const server = await startServe(tempDir(), { tlsOn: true });
  t.after(() => stopServe(server));
  // Fetch the certificate, check it against the fingerprint serve printed,
  // then trust exactly it.
  const pem = await new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: server.info.port, rejectUnauthorized: false }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      const fingerprint = 'sha256:' + cert.fingerprint256.replace(/:/g, '').toLowerCase();
      if (fingerprint !== server.info.fingerprint) reject(new Error(`fingerprint ${fingerprint} is not the one printed`));
      else resolve(cert.toString());
    });
    socket.once('error', reject);
  });
  const agent = new https.Agent({ ca: pem, keepAlive: true });
  t.after(() => agent.destroy());
  const remote = remoteDb(server, { agent });

  const photo = crypto.randomBytes(1024 * 1024);
  const local = memoryDb();
  await local.put({
    _id: 'with-photo', name: 'Amina',
    _attachments: { 'photo.jpg': { content_type: 'image/jpeg', data: photo.toString('base64') } },
  });
  const pushed = await local.replicate.to(remote);
  assert.equal(pushed.docs_written, 1);
  const back = memoryDb();
  await back.replicate.from(remote);
  const bytes = await back.getAttachment('with-photo', 'photo.jpg');
  assert.equal(Buffer.compare(bytes, photo), 0);
  const stub = (await back.get('with-photo'))._attachments['photo.jpg'];
  assert.equal(stub.digest, 'md5-' + crypto.createHash('md5').update(photo).digest('base64'));
  assert.equal(stub.length, photo.length);
  await assertSame(local, remote, 'the hub holds the attachment');
  await assertSame(back, remote, 'the pulled copy holds it too');
});
