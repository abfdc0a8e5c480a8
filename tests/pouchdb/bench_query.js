#!/usr/bin/env node
// pouchdb-find's side of `outpost bench --scenario query`: the same 100,000
// child records (name, age, camp, status; the generator mirrors
// cli/src/commands/bench_query.rs) in PouchDB 9 (pouchdb-node +
// pouchdb-adapter-memory + pouchdb-find 9), and the same four query kinds,
// timed without indexes and then with them:
//
//   eq        {"camp": "camp-NN"}                          limit 25
//   range     {"age": {"$gte": a, "$lte": a+2}} sort age   limit 20 (unsorted without
//             an index: pouchdb-find refuses to sort then)
//   compound  {"camp": "camp-NN", "status": "..."}         limit 25
//   text      pouchdb-find has no full-text index: {"name": {"$regex": "\\bName\\b"}}
//             (case-sensitive: JavaScript regexes take no inline flags), limit 20
//
//   node bench_query.js [--docs 100000] [--indexed-runs 400] [--scan-runs 15] [--kinds eq,range,compound,text]
//
// The last line is `key=value` pairs with the same keys as Outpost's
// (query_eq_p50_ms, ..., query_eq_noindex_p50_ms, ...). An index is built
// by its first query, which is not timed.
'use strict';

const PouchDB = require('pouchdb-node');
PouchDB.plugin(require('pouchdb-adapter-memory'));
PouchDB.plugin(require('pouchdb-find'));

const FIRST_NAMES = ['Amina', 'Yusuf', 'Leila', 'Fatima', 'Omar', 'Hawa', 'Ibrahim', 'Mariam', 'Abdi', 'Nasra',
  'Khadija', 'Ali', 'Zainab', 'Hassan', 'Aisha', 'Musa', 'Halima', 'Idris', 'Safiya', 'Bilal', 'Amína', 'Ruth',
  'Samuel', 'Grace', 'Joseph', 'Esther', 'Daniel', 'Rahel', 'Tesfaye', 'Ayaan'];
const LAST_NAMES = ['Diallo', 'Mohamed', 'Abdullahi', 'Okello', 'Nkurunziza', 'Haile', 'Osman', 'Bello', 'Kamara',
  'Achieng', 'Mensah', 'Traoré', 'Ndayishimiye', 'Warsame', 'Tesfay', 'Juma', 'Ochieng', 'Barry', 'Sesay',
  'Kiprono'];
const STATUSES = ['registered', 'reunited', 'referred', 'missing'];
const CAMPS = 20;

function die(message) {
  process.stderr.write(`bench_query.js: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { docs: 100000, indexedRuns: 400, scanRuns: 15, kinds: Object.keys(KINDS) };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (argv[i] === '--kinds') {
      opts.kinds = (v || '').split(',');
      if (!opts.kinds.every((k) => k in KINDS)) die(`--kinds: choose from ${Object.keys(KINDS).join(',')}`);
      continue;
    }
    if (!/^\d+$/.test(v || '') || Number(v) < 1) die(`${argv[i]}: needs a positive number`);
    switch (argv[i]) {
      case '--docs': opts.docs = Number(v); break;
      case '--indexed-runs': opts.indexedRuns = Number(v); break;
      case '--scan-runs': opts.scanRuns = Number(v); break;
      default: die(`unknown option ${argv[i]}`);
    }
  }
  return opts;
}

const pad = (n, width) => String(n).padStart(width, '0');

function child(i) {
  const first = FIRST_NAMES[i % FIRST_NAMES.length];
  const last = LAST_NAMES[Math.floor(i / FIRST_NAMES.length) % LAST_NAMES.length];
  return {
    _id: `child-${pad(i, 8)}`,
    name: `${first} ${last}`,
    age: i % 18,
    camp: `camp-${pad(Math.floor(i / 7) % CAMPS, 2)}`,
    status: STATUSES[Math.floor(i / 3) % STATUSES.length],
  };
}

const KINDS = {
  eq: (n) => ({ selector: { camp: `camp-${pad(n % CAMPS, 2)}` }, limit: 25 }),
  // pouchdb-find refuses to sort without an index: unsorted then.
  range: (n, indexed) => ({
    selector: { age: { $gte: n % 15, $lte: (n % 15) + 2 } }, ...(indexed ? { sort: ['age'] } : {}), limit: 20,
  }),
  compound: (n) => ({
    selector: { camp: `camp-${pad(n % CAMPS, 2)}`, status: STATUSES[n % STATUSES.length] }, limit: 25,
  }),
  text: (n) => ({ selector: { name: { $regex: `\\b${FIRST_NAMES[n % FIRST_NAMES.length]}\\b` } }, limit: 20 }),
};

const INDEXES = [['camp'], ['age'], ['camp', 'status'], ['name']];

async function timed(db, kind, runs, indexed) {
  const times = [];
  for (let n = 0; n < runs; n++) {
    const start = process.hrtime.bigint();
    const result = await db.find(KINDS[kind](n, indexed));
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (result.docs.length === 0) die(`the ${kind} query ${n} found nothing`);
  }
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length, Math.max(1, Math.ceil(times.length * p))) - 1].toFixed(3);
  return [q(0.5), q(0.99)];
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const db = new PouchDB(`bench-query-${process.pid}`, { adapter: 'memory' });
  const fillStart = Date.now();
  for (let first = 0; first < opts.docs; first += 1000) {
    const batch = [];
    for (let i = first; i < Math.min(first + 1000, opts.docs); i++) batch.push(child(i));
    await db.bulkDocs(batch);
  }
  const pairs = [['docs', opts.docs], ['query_fill_s', ((Date.now() - fillStart) / 1000).toFixed(2)]];
  for (const kind of opts.kinds) {
    const [p50, p99] = await timed(db, kind, opts.scanRuns, false);
    pairs.push([`query_${kind}_noindex_p50_ms`, p50], [`query_${kind}_noindex_p99_ms`, p99]);
    process.stdout.write(`${kind} without index: p50 ${p50} ms, p99 ${p99} ms\n`);
  }
  const buildStart = Date.now();
  for (const fields of INDEXES) await db.createIndex({ index: { fields } });
  // pouchdb-find builds an index on its first query: run each kind once.
  for (const kind of opts.kinds) await db.find(KINDS[kind](0, true));
  pairs.push(['query_index_build_s', ((Date.now() - buildStart) / 1000).toFixed(2)]);
  for (const kind of opts.kinds) {
    const [p50, p99] = await timed(db, kind, opts.indexedRuns, true);
    pairs.push([`query_${kind}_p50_ms`, p50], [`query_${kind}_p99_ms`, p99]);
    process.stdout.write(`${kind} with index: p50 ${p50} ms, p99 ${p99} ms\n`);
  }
  pairs.push(['node', process.version]);
  process.stdout.write(pairs.map(([k, v]) => `${k}=${v}`).join(' ') + '\n');
}

main().catch((e) => die(e.stack || String(e)));
