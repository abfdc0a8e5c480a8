// Smoke test of the PouchDB harness (node --test): server.js starts, speaks
// the CouchDB protocol, carries attachment bytes intact into a PouchDB 9
// memory database, refuses bad credentials, and exits cleanly.
// Run: tests/run.sh pouchdb   (or: node --test tests/pouchdb/)
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const path = require('node:path');
const readline = require('node:readline');

const PouchDB = require('pouchdb-node');
PouchDB.plugin(require('pouchdb-adapter-memory'));

const bench = require('./bench.js');

const SERVER = path.join(__dirname, 'server.js');
const TIMEOUT_MS = 30000;

// `promise`, or a rejection naming `what` after TIMEOUT_MS (bench.js's helper).
const withTimeout = (promise, what) => bench.withTimeout(promise, TIMEOUT_MS, what);

// Spawns server.js and resolves once it prints its JSON line (no sleeps).
async function startServer(args = []) {
  const child = spawn(process.execPath, [SERVER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const lines = readline.createInterface({ input: child.stdout });
  const extra = [];
  const first = new Promise((resolve, reject) => {
    lines.once('line', (line) => {
      lines.on('line', (more) => extra.push(more));
      resolve(line);
    });
    exited.then(({ code }) => reject(new Error(`server.js exited (${code}) before listening: ${stderr}`)));
  });
  const line = await withTimeout(first, 'server.js start');
  const info = JSON.parse(line);
  assert.equal(typeof info.port, 'number');
  assert.equal(info.url, `http://127.0.0.1:${info.port}`);
  return { child, url: info.url, port: info.port, exited, extra, stderr: () => stderr };
}

async function stop(server) {
  if (server.child.exitCode === null) server.child.kill('SIGTERM');
  return withTimeout(server.exited, 'server.js exit');
}

async function http(method, url, { body, type, auth } = {}) {
  const headers = { accept: 'application/json' };
  if (type) headers['content-type'] = type;
  if (auth) headers.authorization = 'Basic ' + Buffer.from(auth).toString('base64');
  const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(TIMEOUT_MS) });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch (_) {
    json = text;
  }
  return { status: res.status, json };
}

function md5Digest(bytes) {
  return 'md5-' + crypto.createHash('md5').update(bytes).digest('base64');
}

test('attachments PUT over HTTP arrive byte for byte in a PouchDB memory database', async (t) => {
  const server = await startServer();
  t.after(() => stop(server));

  const root = await http('GET', `${server.url}/`);
  assert.equal(root.status, 200);
  // Quirk the CouchDB face's client must live with: express-pouchdb's welcome
  // has no "couchdb" key (CouchDB's does), only "express-pouchdb": "Welcome!".
  assert.equal(root.json['express-pouchdb'], 'Welcome!', JSON.stringify(root.json));
  assert.ok(!('couchdb' in root.json));

  const db = `${server.url}/smoke`;
  assert.equal((await http('PUT', db)).status, 201);

  // One document with its attachment inline (base64, as PouchDB pushes)...
  const inline = crypto.randomBytes(100 * 1024);
  const put1 = await http('PUT', `${db}/doc-inline`, {
    type: 'application/json',
    body: JSON.stringify({
      name: 'inline',
      _attachments: { 'photo.jpg': { content_type: 'image/jpeg', data: inline.toString('base64') } },
    }),
  });
  assert.equal(put1.status, 201, JSON.stringify(put1.json));

  // ...and one attachment PUT as raw bytes (a new document).
  const raw = crypto.randomBytes(300 * 1024 + 7);
  const put2 = await http('PUT', `${db}/doc-raw/scan.bin`, { type: 'application/octet-stream', body: raw });
  assert.equal(put2.status, 201, JSON.stringify(put2.json));

  const local = new PouchDB(`smoke-pull-${process.pid}`, { adapter: 'memory' });
  t.after(() => local.destroy());
  const result = await withTimeout(PouchDB.replicate(new PouchDB(db), local), 'replicate');
  assert.equal(result.ok, true);
  assert.equal(result.docs_written, 2);

  for (const [id, name, bytes, type] of [
    ['doc-inline', 'photo.jpg', inline, 'image/jpeg'],
    ['doc-raw', 'scan.bin', raw, 'application/octet-stream'],
  ]) {
    const got = await local.getAttachment(id, name);
    assert.ok(Buffer.isBuffer(got));
    assert.equal(got.length, bytes.length, `${id}/${name} length`);
    assert.ok(got.equals(bytes), `${id}/${name} bytes differ`);
    const stub = (await local.get(id))._attachments[name];
    assert.equal(stub.digest, md5Digest(bytes));
    assert.equal(stub.content_type, type);
    // And the server serves the same bytes back over HTTP.
    const res = await fetch(`${db}/${id}/${name}`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));
  }
  assert.deepEqual(server.extra, [], 'server.js prints nothing on stdout after its JSON line');
});

test('with --admin: anonymous and wrong passwords get 401, the admin replicates', async (t) => {
  const server = await startServer(['--admin', 'admin:s3cret pass']);
  t.after(() => stop(server));
  const db = `${server.url}/private`;

  const anonymous = await http('PUT', db);
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.json.error, 'unauthorized');
  const wrong = await http('PUT', db, { auth: 'admin:nope' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.error, 'unauthorized');
  assert.equal((await http('PUT', db, { auth: 'admin:s3cret pass' })).status, 201);
  assert.equal((await http('PUT', `${db}/a`, { auth: 'admin:s3cret pass', type: 'application/json', body: '{"x":1}' })).status, 201);

  // Cookie login as PouchDB and CouchDB's replicator do it.
  const session = await fetch(`${server.url}/_session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'admin', password: 's3cret pass' }),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  assert.equal(session.status, 200);
  assert.match(session.headers.get('set-cookie') || '', /AuthSession=/);

  const denied = new PouchDB(db, { auth: { username: 'admin', password: 'wrong' } });
  await assert.rejects(
    withTimeout(PouchDB.replicate(denied, new PouchDB(`denied-${process.pid}`, { adapter: 'memory' })), 'replicate'),
    (err) => err.status === 401,
  );
  const remote = new PouchDB(db, { auth: { username: 'admin', password: 's3cret pass' } });
  const local = new PouchDB(`auth-pull-${process.pid}`, { adapter: 'memory' });
  t.after(() => local.destroy());
  const result = await withTimeout(PouchDB.replicate(remote, local), 'replicate');
  assert.equal(result.docs_written, 1);
  assert.equal((await local.get('a')).x, 1);
});

test('leveldb adapter works too (databases in a temp dir)', async (t) => {
  const server = await startServer(['--adapter', 'leveldb']);
  t.after(() => stop(server));
  assert.equal((await http('PUT', `${server.url}/disk`)).status, 201);
  assert.equal((await http('PUT', `${server.url}/disk/a`, { type: 'application/json', body: '{"y":2}' })).status, 201);
  assert.equal((await http('GET', `${server.url}/disk/a`)).json.y, 2);
});

test('exits 0 on SIGTERM and when its stdin closes', async () => {
  const a = await startServer();
  a.child.kill('SIGTERM');
  assert.deepEqual(await withTimeout(a.exited, 'exit on SIGTERM'), { code: 0, signal: null });

  const b = await startServer();
  b.child.stdin.end();
  assert.deepEqual(await withTimeout(b.exited, 'exit on stdin close'), { code: 0, signal: null });
  assert.match(b.stderr(), /stdin closed/);
});
