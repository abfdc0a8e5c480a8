#!/usr/bin/env node
// PouchDB's side of `outpost bench --scenario delta` (issue 17 item 4): the
// bytes on the wire when one field of every document changes and is pushed
// again, MEASURED with PouchDB 9 (pouchdb-node + pouchdb-adapter-memory) and
// express-pouchdb 4.2.0 (server.js: full mode, memory adapter).
//
//   node tests/pouchdb/bench_delta.js [--docs 10000] [--doc-size 10000]
//
// Matched with cli/src/commands/bench_net.rs (`delta`): N documents (default
// 10,000) with the same ids and bodies (core/benches/workload/mod.rs, through
// bench.js's docId/docBody: canonical JSON of exactly --doc-size bytes,
// default 10,000, checked below), pushed once, then `registered` flipped
// (true <-> false) in each, saved a thousand per batch, and pushed again. Only
// that second push is measured: PouchDB.replicate(local, remote) with default
// options from a memory database to the server over plain HTTP through a
// counting TCP proxy on 127.0.0.1, so the bytes are every request and response
// in both directions, HTTP headers included (express-pouchdb gzips responses
// over 1 KB; PouchDB sends its requests uncompressed). Outpost's figures count
// TLS records; here there is no TLS. The proxy runs in this process, beside
// the client. The last line is `key=value` pairs ending with
// `pouchdb_edit_bytes=... pouchdb_edit_docs_per_s=...`.
'use strict';

const net = require('net');
const os = require('os');
const PouchDB = require('pouchdb-node');
const { docId, docBody, withTimeout, startServer, stopServer, request } = require('./bench.js');

PouchDB.plugin(require('pouchdb-adapter-memory'));

const PUSH_TIMEOUT_MS = 30 * 60 * 1000;
const EDIT_BATCH = 1000;

function die(message) {
  process.stderr.write(`bench_delta.js: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { docs: 10000, docSize: 10000 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (!/^\d+$/.test(v || '') || Number(v) < 1) die(`${argv[i]}: needs a positive number`);
    switch (argv[i]) {
      case '--docs': opts.docs = Number(v); break;
      case '--doc-size': opts.docSize = Number(v); break;
      default: die(`unknown option ${argv[i]}`);
    }
  }
  if (opts.docSize < 300) die('--doc-size: at least 300 (the fixed fields)');
  return opts;
}

// A TCP proxy from a free port on 127.0.0.1 to `port` that counts the bytes
// it forwards each way. Resolves with {url, counts, close}.
function countingProxy(port) {
  const counts = { up: 0, down: 0 };
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const [from, to, key] of [[client, upstream, 'up'], [upstream, client, 'down']]) {
      sockets.add(from);
      from.on('data', (chunk) => { counts[key] += chunk.length; });
      from.pipe(to);
      from.on('error', () => to.destroy());
      from.on('close', () => { sockets.delete(from); to.destroy(); });
    }
  });
  const close = () => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}`, counts, close });
    });
  });
}

// Flips `registered` in every document of `db`, EDIT_BATCH per bulkDocs.
async function flipRegistered(db, opts) {
  for (let start = 0; start < opts.docs; start += EDIT_BATCH) {
    const keys = [];
    for (let i = start; i < Math.min(opts.docs, start + EDIT_BATCH); i++) keys.push(docId(i));
    const { rows } = await db.allDocs({ keys, include_docs: true });
    const docs = rows.map((row) => ({ ...row.doc, registered: !row.doc.registered }));
    const failed = (await db.bulkDocs(docs)).filter((r) => !r.ok);
    if (failed.length) throw new Error(`edit: ${failed.length} refused: ${JSON.stringify(failed[0])}`);
  }
}

async function push(local, remote) {
  const result = await withTimeout(PouchDB.replicate(local, remote), PUSH_TIMEOUT_MS, 'push');
  if (!result.ok) throw new Error(`push: ${JSON.stringify(result.errors).slice(0, 300)}`);
  return result;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { child, url } = await startServer({ serverMode: 'full', serverAdapter: 'memory' });
  const local = new PouchDB('bench-delta', { adapter: 'memory' });
  let proxy = null;
  try {
    await request('PUT', `${url}/bench`);
    proxy = await countingProxy(new URL(url).port);
    const remote = new PouchDB(`${proxy.url}/bench`);
    for (let start = 0; start < opts.docs; start += EDIT_BATCH) {
      const docs = [];
      for (let i = start; i < Math.min(opts.docs, start + EDIT_BATCH); i++) {
        const body = docBody(i, opts.docSize);
        const doc = JSON.parse(body);
        if (JSON.stringify(doc) !== body || body.length !== opts.docSize) throw new Error(`body ${i} is not ${opts.docSize} bytes of canonical JSON`);
        docs.push({ _id: docId(i), ...doc });
      }
      await local.bulkDocs(docs);
    }
    await push(local, remote);
    const firstPushBytes = proxy.counts.up + proxy.counts.down;

    await flipRegistered(local, opts);
    const before = { ...proxy.counts };
    const started = process.hrtime.bigint();
    const result = await push(local, remote);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const up = proxy.counts.up - before.up;
    const down = proxy.counts.down - before.down;

    // The edits arrived: every document written, the last one at 2- with its flip.
    if (result.docs_written !== opts.docs) throw new Error(`second push wrote ${result.docs_written} of ${opts.docs}`);
    const lastId = docId(opts.docs - 1);
    const last = await request('GET', `${url}/bench/${lastId}`);
    const wasRegistered = JSON.parse(docBody(opts.docs - 1, opts.docSize)).registered;
    if (!last._rev.startsWith('2-') || last.registered === wasRegistered) throw new Error(`${lastId} on the server: ${last._rev}, registered ${last.registered}`);

    // PouchDB has no delta sync: every whole body went up, through the proxy.
    if (up < opts.docs * opts.docSize) throw new Error(`only ${up} bytes went up for ${opts.docs} bodies of ${opts.docSize}`);
    const bytes = up + down;
    const pairs = [
      ['docs', opts.docs], ['doc_size', opts.docSize], ['pouchdb_first_push_bytes', firstPushBytes],
      ['pouchdb_edit_up_bytes', up], ['pouchdb_edit_down_bytes', down],
      ['pouchdb_edit_bytes_per_doc', (bytes / opts.docs).toFixed(0)], ['pouchdb_edit_seconds', seconds.toFixed(2)],
      ['node', process.version], ['load1', os.loadavg()[0].toFixed(2)],
      ['pouchdb_edit_bytes', bytes], ['pouchdb_edit_docs_per_s', (opts.docs / seconds).toFixed(0)],
    ];
    process.stdout.write(pairs.map(([k, v]) => `${k}=${v}`).join(' ') + '\n');
  } finally {
    await local.close().catch(() => {});
    if (proxy) await proxy.close();
    await stopServer(child);
  }
}

main().catch((e) => die(e.stack || String(e)));
