// `outpost sync` as a CouchDB-protocol client against a real express-pouchdb
// server (tests/pouchdb/server.js, PouchDB 9): pull of real PouchDB documents
// (conflicts, a deletion, a 1 MB attachment), push of local edits made with
// `outpost put`/`attach`/`delete`, every document, winning revision, conflict
// list and attachment byte compared on both sides, a wrong password refused,
// and a second sync that reads only the new changes.
// Run: tests/run.sh interop (env OUTPOST_BIN, NODE_PATH).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const PouchDB = require('pouchdb-node');
const support = require('./support');

const OUTPOST = process.env.OUTPOST_BIN;
const SERVER = path.join(__dirname, '..', 'pouchdb', 'server.js');
const TIMEOUT_MS = 60000;
const ADMIN = 'admin';
const PASSWORD = 'camp secret';

const withTimeout = (promise, what) => support.withTimeout(promise, what, TIMEOUT_MS);

// Starts express-pouchdb with an admin (anonymous requests refused) and
// resolves once it prints its JSON line.
async function startServer() {
  const child = spawn(process.execPath, [SERVER], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, POUCHDB_ADMIN: `${ADMIN}:${PASSWORD}` },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = readline.createInterface({ input: child.stdout });
  const first = new Promise((resolve, reject) => {
    lines.once('line', resolve);
    exited.then((code) => reject(new Error(`server.js exited (${code}) before listening: ${stderr}`)));
  });
  const info = JSON.parse(await withTimeout(first, 'server.js start'));
  return { child, url: info.url, exited };
}

function outpost(args, { input } = {}) {
  const r = spawnSync(OUTPOST, args, { input, maxBuffer: 64 * 1024 * 1024, timeout: TIMEOUT_MS });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

function ok(args) {
  const r = outpost(args);
  assert.equal(r.status, 0, `outpost ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.toString();
}

function sync(db, url, extra, user = `${ADMIN}:${PASSWORD}`) {
  return outpost(['sync', '--db', db, '--url', url, '--user', user, '--allow-plaintext', ...extra]);
}

// The `N/M changes` of the last status line: how many changes the sync read.
function changesRead(stdout) {
  const counts = [...stdout.toString().matchAll(/ (\d+)\/(\d+) changes/g)];
  assert.ok(counts.length > 0, `no progress in ${stdout}`);
  return Number(counts[counts.length - 1][1]);
}

// Outpost's live documents: id -> {rev, body fields, blobs by name}.
function outpostDocs(db) {
  const docs = new Map();
  for (const line of ok(['export', '--db', db]).split('\n').filter(Boolean)) {
    const doc = JSON.parse(line);
    const fields = {};
    const blobs = {};
    for (const [k, v] of Object.entries(doc)) {
      if (k === '_id' || k === '_rev') continue;
      if (v && typeof v === 'object' && v['@type'] === 'blob') blobs[k] = v;
      else fields[k] = v;
    }
    docs.set(doc._id, { rev: doc._rev, fields, blobs });
  }
  return docs;
}

function outpostGet(db, id) {
  return JSON.parse(ok(['get', '--db', db, id]));
}

// Compares every live document, winning revision, conflict list and
// attachment byte of PouchDB's `remote` with Outpost's `db`.
async function assertSame(remote, db) {
  const all = await remote.allDocs({ include_docs: true, conflicts: true });
  const ours = outpostDocs(db);
  assert.deepEqual([...ours.keys()].sort(), all.rows.map((r) => r.id).sort(), 'the same live documents');
  for (const row of all.rows) {
    const theirs = row.doc;
    const mine = ours.get(row.id);
    assert.equal(mine.rev, theirs._rev, `winner of ${row.id}`);
    const fields = Object.fromEntries(Object.entries(theirs).filter(([k]) => !k.startsWith('_')));
    assert.deepEqual(mine.fields, fields, `body of ${row.id}`);
    const got = outpostGet(db, row.id);
    assert.deepEqual((got._conflicts || []).slice().sort(), (theirs._conflicts || []).slice().sort(), `conflicts of ${row.id}`);
    const names = Object.keys(theirs._attachments || {}).sort();
    assert.deepEqual(Object.keys(mine.blobs).sort(), names, `attachments of ${row.id}`);
    for (const name of names) {
      const bytes = await remote.getAttachment(row.id, name);
      const local = outpost(['attachment', '--db', db, row.id, name]);
      assert.equal(local.status, 0, local.stderr);
      assert.equal(local.stdout.length, bytes.length, `length of ${row.id}/${name}`);
      assert.ok(local.stdout.equals(bytes), `bytes of ${row.id}/${name}`);
      assert.equal(mine.blobs[name].length, bytes.length);
    }
  }
}

// A server, a temp dir with the database path `db`, and the PouchDB
// client of the server's database `name`; all removed after the test.
async function setup(t, name) {
  assert.ok(OUTPOST, 'OUTPOST_BIN names the outpost binary');
  const server = await startServer();
  t.after(() => {
    server.child.stdin.end();
    return withTimeout(server.exited, 'server exit');
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-client-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const url = `${server.url}/${name}`;
  const remote = new PouchDB(url, { auth: { username: ADMIN, password: PASSWORD } });
  await remote.info(); // creates it
  return { server, dir, db: path.join(dir, 'hub.db'), url, remote };
}

test('outpost sync pulls from and pushes to express-pouchdb, both sides identical', async (t) => {
  const { server, dir, db, url, remote } = await setup(t, 'children');

  // Real PouchDB documents: plain, edited, deleted, conflicted, a 1 MB attachment.
  await remote.bulkDocs([{ _id: 'child-1', name: 'Amina', age: 7 }, { _id: 'child-2', name: 'Bo' }]);
  const edited = await remote.get('child-2');
  await remote.put({ ...edited, name: 'Bo', camp: 'north' });
  const gone = await remote.put({ _id: 'child-3', name: 'Chen' });
  await remote.remove('child-3', gone.rev);
  await remote.bulkDocs(
    [
      { _id: 'child-4', _rev: '2-aaaa', _revisions: { start: 2, ids: ['aaaa', '1111'] }, name: 'Dia', v: 1 },
      { _id: 'child-4', _rev: '2-bbbb', _revisions: { start: 2, ids: ['bbbb', '1111'] }, name: 'Dia', v: 2 },
      // Two first generations: the loser is not what `_all_docs` answers.
      { _id: 'child-9', _rev: '1-aaaa', name: 'Ivo', v: 1 },
      { _id: 'child-9', _rev: '1-bbbb', name: 'Ivo', v: 2 },
    ],
    { new_edits: false },
  );
  const photo = crypto.randomBytes(1024 * 1024);
  await remote.put({
    _id: 'child-5',
    name: 'Eli',
    _attachments: { photo: { content_type: 'image/jpeg', data: photo.toString('base64') } },
  });
  const before = await remote.get('child-4', { conflicts: true });
  assert.equal(before._rev, '2-bbbb');
  assert.deepEqual(before._conflicts, ['2-aaaa']);

  // A wrong password: refused with a clear error and exit code 1, nothing pulled.
  const refused = sync(db, url, ['--pull'], `${ADMIN}:wrong`);
  assert.equal(refused.status, 1, refused.stderr);
  assert.match(refused.stderr, /login refused|credentials/i);
  assert.match(refused.stderr, /incorrect/i);

  // A password over http:// is refused unless --allow-plaintext says to send it.
  const plain = outpost(['sync', '--db', db, '--url', url, '--user', `${ADMIN}:${PASSWORD}`, '--pull']);
  assert.equal(plain.status, 2, plain.stderr);
  assert.match(plain.stderr, /http:\/\/.*--allow-plaintext/);

  // Pull.
  const pulled = sync(db, url, ['--pull']);
  assert.equal(pulled.status, 0, pulled.stderr);
  assert.equal(changesRead(pulled.stdout), 6);
  // The conflict resolved to PouchDB's winner; Outpost closed the losing branch.
  const dia = outpostGet(db, 'child-4');
  assert.equal(dia._rev, '2-bbbb');
  assert.equal(dia._conflicts, undefined);
  assert.equal(outpostGet(db, 'child-9')._rev, '1-bbbb');
  assert.equal(outpostGet(db, 'child-3')._deleted, true);
  const seqAfterPull = (await remote.info()).update_seq;

  // Local edits, then push: the resolution of child-4 goes too.
  ok(['put', '--db', db, 'child-6', '{"name":"Fatou","age":5}']);
  ok(['put', '--db', db, 'child-1', '{"name":"Amina","age":8}']);
  const scan = path.join(dir, 'scan.bin');
  fs.writeFileSync(scan, crypto.randomBytes(1024 * 1024 + 3));
  ok(['attach', '--db', db, '--content-type', 'application/pdf', 'child-6', 'form', scan]);
  ok(['delete', '--db', db, 'child-2']);
  const pushed = sync(db, url, ['--push']);
  assert.equal(pushed.status, 0, pushed.stderr);

  await assertSame(remote, db);
  const after = await remote.get('child-4', { conflicts: true, revs: true });
  assert.equal(after._rev, '2-bbbb');
  assert.equal(after._conflicts, undefined, 'the losing branch is closed in PouchDB too');
  const ivo = await remote.get('child-9', { conflicts: true });
  assert.equal(ivo._rev, '1-bbbb');
  assert.equal(ivo._conflicts, undefined, 'the losing first generation was pulled, and closed');
  const fatou = await remote.get('child-6', { revs: true });
  assert.equal(fatou._revisions.start, 2);
  assert.equal(`2-${fatou._revisions.ids[0]}`, fatou._rev);
  await assert.rejects(remote.get('child-2'), (e) => e.status === 404);
  const form = await remote.getAttachment('child-6', 'form');
  assert.ok(form.equals(fs.readFileSync(scan)));

  // New remote changes: the next pull reads only the feed after the first
  // pull's checkpoint (what the push wrote there, and two new documents),
  // not the whole feed again.
  await remote.bulkDocs([{ _id: 'child-7', name: 'Gift' }, { _id: 'child-8', name: 'Hana' }]);
  const newer = (await remote.changes({ since: seqAfterPull })).results.length;
  const whole = (await remote.changes({ since: 0 })).results.length;
  assert.ok(newer < whole, `${newer} < ${whole}`);
  const again = sync(db, url, ['--pull']);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(changesRead(again.stdout), newer, again.stdout.toString());
  assert.match(again.stdout.toString(), / 2 pulled in /);
  await assertSame(remote, db);

  // A missing database is an error unless --create-target.
  const missing = sync(db, `${server.url}/nowhere`, ['--push']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /create-target|does not serve/);
  const created = sync(db, `${server.url}/created`, ['--push', '--create-target']);
  assert.equal(created.status, 0, created.stderr);
  const copy = new PouchDB(`${server.url}/created`, { auth: { username: ADMIN, password: PASSWORD } });
  await assertSame(copy, db);
});

// The bytes `outpost sync` reports on its wire: {sent, received}.
function wireBytes(stdout) {
  const m = stdout.toString().match(/(\d+) bytes sent, (\d+) received/);
  assert.ok(m, `no byte counts in ${stdout}`);
  return { sent: Number(m[1]), received: Number(m[2]) };
}

test('an edit of a document with a 1 MB attachment does not move the attachment again', async (t) => {
  const { dir, db, url, remote } = await setup(t, 'photos');
  const MB = 1024 * 1024;
  // Well below the photo (1 MB, 1.33 MB as base64), above a body and the replication requests.
  const small = 128 * 1024;
  const photo = crypto.randomBytes(MB);
  await remote.put({
    _id: 'child-1',
    name: 'Amina',
    _attachments: { photo: { content_type: 'image/jpeg', data: photo.toString('base64') } },
  });
  const first = sync(db, url, ['--pull']);
  assert.equal(first.status, 0, first.stderr);
  assert.ok(wireBytes(first.stdout).received > MB, first.stdout.toString());

  // PouchDB renames the child (the attachment stays): the pull matches the
  // stub with the photo Outpost holds.
  const doc = await remote.get('child-1');
  await remote.put({ ...doc, name: 'Amina K.' });
  const pulled = sync(db, url, ['--pull']);
  assert.equal(pulled.status, 0, pulled.stderr);
  const { received } = wireBytes(pulled.stdout);
  assert.ok(received < small, `the pull of a rename received ${received} bytes`);
  await assertSame(remote, db);

  // Outpost renames the child twice, then pushes: the photo goes as a stub.
  for (const name of ['Amina Kamara', 'Amina Kamara (7)']) {
    const mine = outpostGet(db, 'child-1');
    const body = Object.fromEntries(Object.entries(mine).filter(([k]) => !k.startsWith('_')));
    ok(['put', '--db', db, 'child-1', JSON.stringify({ ...body, name })]);
  }
  const pushed = sync(db, url, ['--push']);
  assert.equal(pushed.status, 0, pushed.stderr);
  const { sent } = wireBytes(pushed.stdout);
  assert.ok(sent < small, `the push of a rename sent ${sent} bytes`);
  await assertSame(remote, db);
  assert.ok((await remote.getAttachment('child-1', 'photo')).equals(photo));

  // A new attachment does move.
  const scan = path.join(dir, 'scan.bin');
  fs.writeFileSync(scan, crypto.randomBytes(MB));
  ok(['attach', '--db', db, '--content-type', 'application/pdf', 'child-1', 'scan', scan]);
  const again = sync(db, url, ['--push']);
  assert.equal(again.status, 0, again.stderr);
  assert.ok(wireBytes(again.stdout).sent > MB, again.stdout.toString());
  await assertSame(remote, db);
});

test('outpost sync --continuous pulls a PouchDB change as it happens (longpoll)', async (t) => {
  const { db, url, remote } = await setup(t, 'live');
  await remote.put({ _id: 'child-1', name: 'Amina' });

  const child = spawn(OUTPOST, ['sync', '--db', db, '--url', url, '--user', `${ADMIN}:${PASSWORD}`, '--allow-plaintext', '--pull', '--continuous'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const lines = readline.createInterface({ input: child.stdout });
  const seen = [];
  const waitFor = (pattern) => withTimeout(new Promise((resolve) => {
    if (seen.some((l) => pattern.test(l))) return resolve();
    const onLine = (line) => {
      if (pattern.test(line)) {
        lines.off('line', onLine);
        resolve();
      }
    };
    lines.on('line', onLine);
  }), `waiting for ${pattern} (stderr: ${stderr})`);
  lines.on('line', (line) => seen.push(line));

  await waitFor(/idle .*1 pulled so far/);
  await remote.put({ _id: 'child-2', name: 'Bo' });
  await waitFor(/idle .*2 pulled so far/);
  child.kill('SIGINT');
  assert.equal(await withTimeout(exited, 'sync exit'), 0, stderr);
  assert.equal(outpostGet(db, 'child-2').name, 'Bo');
});
