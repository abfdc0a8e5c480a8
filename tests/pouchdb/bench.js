#!/usr/bin/env node
// PouchDB's side of Outpost's benchmarks: PouchDB 9 (pouchdb-node +
// pouchdb-adapter-memory) pulling from express-pouchdb (server.js, a child
// process) over plain HTTP on 127.0.0.1.
//
//   node bench.js --scenario blobs [--docs 500] [--blob-size 200000] [--runs 3]
//   node bench.js --scenario docs  [--docs 50000] [--doc-size 1000]  [--runs 3]
//   other options: --server-mode full|minimum   (express-pouchdb's mode; default full, as pouchdb-server runs)
//                  --server-adapter memory|leveldb (the server's databases; default memory)
//                  --client-adapter memory|leveldb (the pulling PouchDB; default memory)
//                  --batch-size N                 (PouchDB.replicate batch_size; default PouchDB's, 100)
//
// Each run pulls into a fresh database in a fresh process (this script run
// again with --role pull), so its peak RSS (VmHWM) is the puller's own. The
// server is filled once, before the runs, and the fill is not timed. The last
// line of output is `key=value` pairs (the median over the runs); one line per
// run comes before it. MB = 10^6 bytes (attachment bytes for blobs, JSON body
// bytes for docs), as in docs/benchmarks.md.
'use strict';

const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const DEFAULTS = {
  blobs: { docs: 500 },
  // 100,000 (the Rust benches' size) takes ~45 s here with the fill; 50,000
  // stays well under a minute on the loaded 2-core VM.
  docs: { docs: 50000 },
};
const SERVER_START_TIMEOUT_MS = 30000;
const PULL_TIMEOUT_MS = 30 * 60 * 1000;
const MAX_RUNS = 20;

function die(message) {
  process.stderr.write(`bench.js: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    role: 'main',
    scenario: 'blobs',
    docs: null,
    blobSize: 200000,
    docSize: 1000,
    runs: 1,
    serverMode: 'full',
    serverAdapter: 'memory',
    clientAdapter: 'memory',
    batchSize: null,
    url: null,
  };
  const int = (name, v, min, max) => {
    if (!/^\d+$/.test(v)) die(`${name}: not a number: ${v}`);
    const n = Number(v);
    if (n < min || n > max) die(`${name}: must be in ${min}..${max}`);
    return n;
  };
  const oneOf = (name, v, allowed) => {
    if (!allowed.includes(v)) die(`${name}: one of ${allowed.join(', ')}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) die(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case '--scenario': opts.scenario = oneOf(arg, value(), ['blobs', 'docs']); break;
      case '--docs': opts.docs = int(arg, value(), 1, 10000000); break;
      case '--blob-size': opts.blobSize = int(arg, value(), 1, 256 * 1024 * 1024); break;
      case '--doc-size': opts.docSize = int(arg, value(), 300, 1000000); break;
      case '--runs': opts.runs = int(arg, value(), 1, MAX_RUNS); break;
      case '--server-mode': opts.serverMode = oneOf(arg, value(), ['full', 'minimum']); break;
      case '--server-adapter': opts.serverAdapter = oneOf(arg, value(), ['memory', 'leveldb']); break;
      case '--client-adapter': opts.clientAdapter = oneOf(arg, value(), ['memory', 'leveldb']); break;
      case '--batch-size': opts.batchSize = int(arg, value(), 1, 100000); break;
      case '--role': opts.role = oneOf(arg, value(), ['main', 'pull']); break;
      case '--url': opts.url = value(); break;
      case '-h':
      case '--help':
        process.stderr.write(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 18).join('\n') + '\n');
        process.exit(0);
        break;
      default: die(`unknown argument ${arg}`);
    }
  }
  if (opts.docs === null) opts.docs = DEFAULTS[opts.scenario].docs;
  if ((opts.role === 'pull') !== (opts.url !== null)) die('--url goes with --role pull (internal), and only there');
  return opts;
}

// ------------------------------------------------------------- documents
// The same documents as Outpost's benches (core/benches/workload/mod.rs,
// doc_id and doc_body): SplitMix64, canonical JSON of exactly `size` bytes.

const MASK = (1n << 64n) - 1n;
class Rng {
  constructor(seed) { this.s = BigInt.asUintN(64, seed); }
  next() {
    this.s = (this.s + 0x9E3779B97F4A7C15n) & MASK;
    let z = this.s;
    z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & MASK;
    return z ^ (z >> 31n);
  }
  pick(words) { return words[Number(this.next() % BigInt(words.length))]; }
}
const GIVEN = ['Amina', 'Yusuf', 'Fatima', 'Omar', 'Leila', 'Hassan', 'Mariam', 'Idris', 'Zahra', 'Tariq'];
const FAMILY = ['Abdi', 'Haddad', 'Okafor', 'Mensah', 'Karimi', 'Nasser', 'Diallo', 'Osman', 'Rahimi'];
const ZONES = ['north', 'south', 'east', 'west', 'centre', 'annex'];
const WORDS = ['water', 'ration', 'clinic', 'school', 'tent', 'blanket', 'vaccine', 'follow', 'up', 'visit', 'family', 'needs'];
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

function docId(i) {
  return `child-${String(i).padStart(8, '0')}`;
}

function docBody(i, size) {
  const rng = new Rng(BigInt(i) ^ 0xA5A55EEDn);
  const notes = [];
  for (let k = 0; k < 12; k++) notes.push(rng.pick(WORDS));
  const age = rng.next() % 18n;
  const camp = rng.next() % 40n;
  const family = rng.pick(FAMILY);
  const given = rng.pick(GIVEN);
  const household = 1n + (rng.next() % 9n);
  const head = `{"age":${age},"camp":"camp-${camp}","family":"${family}","given_name":"${given}","household":${household},"notes":"${notes.join(' ')}","padding":"`;
  const tailHead = rng.next() % 2n === 0n;
  const tail = `","registered":${tailHead},"zone":"${rng.pick(ZONES)}"}`;
  const pad = Math.max(0, size - head.length - tail.length);
  const chars = new Array(pad);
  let bits = 0n;
  for (let k = 0; k < pad; k++) {
    if (k % 10 === 0) bits = rng.next();
    chars[k] = ALPHABET[Number(bits % 36n)];
    bits /= 36n;
  }
  return head + chars.join('') + tail;
}

// ------------------------------------------------------------- helpers

function peakRssKiB(pid = 'self') {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) : NaN;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Starts server.js and resolves with {child, url} once it prints its line.
function startServer(opts) {
  const child = spawn(process.execPath, [
    path.join(__dirname, 'server.js'),
    '--mode', opts.serverMode,
    '--adapter', opts.serverAdapter,
  ], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ready = new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      try {
        resolve({ child, url: JSON.parse(line).url });
      } catch (e) {
        reject(new Error(`server.js printed ${JSON.stringify(line)}`));
      }
    });
    child.once('exit', (code) => reject(new Error(`server.js exited with ${code} before listening`)));
    child.once('error', reject);
  });
  return withTimeout(ready, SERVER_START_TIMEOUT_MS, 'server.js start');
}

async function stopServer(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin.end();
  child.kill('SIGTERM');
  await withTimeout(exited, 10000, 'server.js stop').catch(() => child.kill('SIGKILL'));
}

async function request(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(120000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

// Puts the documents in the server's database, in batches (not timed).
async function fill(dbUrl, opts) {
  await request('PUT', dbUrl);
  const perBatch = opts.scenario === 'blobs'
    ? Math.max(1, Math.floor((4 * 1000 * 1000) / opts.blobSize))
    : 1000;
  for (let start = 0; start < opts.docs; start += perBatch) {
    const docs = [];
    for (let i = start; i < Math.min(opts.docs, start + perBatch); i++) {
      if (opts.scenario === 'blobs') {
        docs.push({
          _id: docId(i),
          kind: 'photo',
          _attachments: {
            'photo.jpg': {
              content_type: 'image/jpeg',
              data: crypto.randomBytes(opts.blobSize).toString('base64'),
            },
          },
        });
      } else {
        docs.push(Object.assign({ _id: docId(i) }, JSON.parse(docBody(i, opts.docSize))));
      }
    }
    const results = await request('POST', `${dbUrl}/_bulk_docs`, { docs });
    const failed = results.filter((r) => !r.ok);
    if (failed.length) throw new Error(`fill: ${failed.length} documents refused: ${JSON.stringify(failed[0])}`);
  }
  const info = await request('GET', dbUrl);
  if (info.doc_count !== opts.docs) throw new Error(`fill: doc_count ${info.doc_count}, expected ${opts.docs}`);
}

// One pull in a child process; resolves with its JSON result.
function pullInChild(dbUrl, opts) {
  const args = [__filename, '--role', 'pull', '--url', dbUrl, '--scenario', opts.scenario,
    '--docs', String(opts.docs), '--blob-size', String(opts.blobSize), '--doc-size', String(opts.docSize),
    '--client-adapter', opts.clientAdapter];
  if (opts.batchSize !== null) args.push('--batch-size', String(opts.batchSize));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => { out += d; });
  const done = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`pull child exited with ${code}`));
      const last = out.trim().split('\n').pop();
      try {
        resolve(JSON.parse(last));
      } catch (e) {
        reject(new Error(`pull child printed ${JSON.stringify(last)}`));
      }
    });
  });
  return withTimeout(done, PULL_TIMEOUT_MS, 'pull').catch((e) => {
    child.kill('SIGKILL');
    throw e;
  });
}

// ------------------------------------------------------------- roles

async function rolePull(opts) {
  const PouchDB = require('pouchdb-node');
  let db;
  let tmp = null;
  if (opts.clientAdapter === 'memory') {
    PouchDB.plugin(require('pouchdb-adapter-memory'));
    db = new PouchDB('bench-pull', { adapter: 'memory' });
  } else {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-pouch-pull-'));
    db = new PouchDB(path.join(tmp, 'bench-pull'));
  }
  try {
    const remote = new PouchDB(opts.url);
    const replicateOpts = {};
    if (opts.batchSize !== null) replicateOpts.batch_size = opts.batchSize;
    const started = process.hrtime.bigint();
    const result = await PouchDB.replicate(remote, db, replicateOpts);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const peak = peakRssKiB();
    if (!result.ok || result.docs_written !== opts.docs) {
      throw new Error(`replication: ok=${result.ok} docs_written=${result.docs_written}, expected ${opts.docs}`);
    }
    const info = await db.info();
    if (info.doc_count !== opts.docs) throw new Error(`pulled doc_count ${info.doc_count}, expected ${opts.docs}`);
    if (opts.scenario === 'blobs') {
      // The attachments really came over: every stub's length, and the bytes
      // of the last one against its MD5 digest.
      const all = await db.allDocs({ include_docs: true });
      let bytes = 0;
      for (const row of all.rows) bytes += row.doc._attachments['photo.jpg'].length;
      if (bytes !== opts.docs * opts.blobSize) throw new Error(`pulled ${bytes} attachment bytes, expected ${opts.docs * opts.blobSize}`);
      const lastId = docId(opts.docs - 1);
      const stub = (await db.get(lastId))._attachments['photo.jpg'];
      const data = await db.getAttachment(lastId, 'photo.jpg');
      const md5 = 'md5-' + crypto.createHash('md5').update(data).digest('base64');
      if (data.length !== opts.blobSize || md5 !== stub.digest) throw new Error(`attachment of ${lastId}: ${data.length} bytes, ${md5} != ${stub.digest}`);
    }
    process.stdout.write(JSON.stringify({ seconds, docs_written: result.docs_written, peak_rss_kib: peak }) + '\n');
  } finally {
    await db.close().catch(() => {});
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function roleMain(opts) {
  const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
  process.stderr.write(`bench.js: scenario ${opts.scenario}, ${opts.docs} documents, ${opts.runs} run(s), ` +
    `server ${opts.serverMode}/${opts.serverAdapter}, client ${opts.clientAdapter}, node ${process.version}\n`);
  const { child, url } = await startServer(opts);
  try {
    const dbUrl = `${url}/bench`;
    const fillStart = Date.now();
    await fill(dbUrl, opts);
    process.stderr.write(`bench.js: filled ${dbUrl} in ${((Date.now() - fillStart) / 1000).toFixed(1)} s\n`);

    const bytesPerDoc = opts.scenario === 'blobs' ? opts.blobSize : opts.docSize;
    const runs = [];
    for (let r = 1; r <= opts.runs; r++) {
      const loadBefore = load();
      const res = await pullInChild(dbUrl, opts);
      const mbPerS = (opts.docs * bytesPerDoc) / 1e6 / res.seconds;
      const run = {
        seconds: res.seconds,
        docsPerS: opts.docs / res.seconds,
        mbPerS,
        rssMb: res.peak_rss_kib / 1024,
        load: loadBefore,
      };
      runs.push(run);
      process.stdout.write(`run ${r}: ${run.seconds.toFixed(2)} s, ${run.docsPerS.toFixed(0)} docs/s, ` +
        `${run.mbPerS.toFixed(1)} MB/s, peak RSS ${run.rssMb.toFixed(1)} MiB, load average before ${run.load}\n`);
    }
    const serverRssMb = peakRssKiB(child.pid) / 1024;

    const pairs = [
      ['scenario', opts.scenario],
      ['docs', opts.docs],
      [opts.scenario === 'blobs' ? 'blob_size' : 'doc_size', bytesPerDoc],
      ['runs', opts.runs],
    ];
    const m = (key) => median(runs.map((x) => x[key]));
    if (opts.scenario === 'blobs') {
      pairs.push(['pouch_blob_pull_mb_per_s', m('mbPerS').toFixed(1)]);
    } else {
      pairs.push(['pouch_pull_docs_per_s', m('docsPerS').toFixed(0)]);
      pairs.push(['pouch_pull_mb_per_s', m('mbPerS').toFixed(1)]);
    }
    pairs.push(['pouch_pull_seconds', m('seconds').toFixed(2)]);
    pairs.push(['pouch_peak_rss_mb', m('rssMb').toFixed(1)]);
    pairs.push(['pouch_server_peak_rss_mb', serverRssMb.toFixed(1)]);
    pairs.push(['server_mode', opts.serverMode], ['server_adapter', opts.serverAdapter],
      ['client_adapter', opts.clientAdapter], ['node', process.version]);
    pairs.push(['load1', os.loadavg()[0].toFixed(2)]);
    process.stdout.write(pairs.map(([k, v]) => `${k}=${v}`).join(' ') + '\n');
  } finally {
    await stopServer(child);
  }
}

// bench_delta.js reuses the documents and the server's start and stop.
module.exports = { docId, docBody, withTimeout, startServer, stopServer, request };

if (require.main === module) {
  const opts = parseArgs(process.argv.slice(2));
  (opts.role === 'pull' ? rolePull(opts) : roleMain(opts)).catch((err) => {
    process.stderr.write(`bench.js: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  });
}
