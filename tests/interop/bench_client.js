#!/usr/bin/env node
// Outpost's CouchDB client beside PouchDB's own replicator, same run, same
// express-pouchdb server (tests/pouchdb/server.js, full mode, memory adapter)
// on 127.0.0.1:
//   - pull: N documents of ~1 KB from the server into an empty local database
//     (`outpost sync --pull` into a new SQLite file; PouchDB.replicate into a
//     new pouchdb-adapter-memory database);
//   - push: the pulled documents into a new empty server database
//     (`outpost sync --push --create-target`; PouchDB.replicate to it).
// Each side runs in its own process, so peak RSS is that process's own
// (`/usr/bin/time -f %M` for outpost, VmHWM for node). CPU seconds are
// printed too, of each client and of the server during its replication, so
// what bounds a run shows (a run about as long as the server's CPU time is
// bound by the server).
//
//   OUTPOST_BIN=target/release/outpost NODE_PATH=tests/pouchdb/node_modules \
//     node tests/interop/bench_client.js [--docs 20000] [--runs 3]
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const SERVER = path.join(__dirname, '..', 'pouchdb', 'server.js');

function args() {
  const opts = { docs: 20000, runs: 3, role: 'main', url: null, target: null, serverPid: 0 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const v = () => argv[++i];
    switch (argv[i]) {
      case '--docs': opts.docs = Number(v()); break;
      case '--runs': opts.runs = Number(v()); break;
      case '--role': opts.role = v(); break;
      case '--url': opts.url = v(); break;
      case '--target': opts.target = v(); break;
      case '--server-pid': opts.serverPid = Number(v()); break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return opts;
}

// A ~1,000-byte body (canonical JSON) for document i.
function body(i) {
  const base = { name: `child ${i}`, camp: `camp-${i % 17}`, age: i % 15, notes: '' };
  base.notes = 'x'.repeat(1000 - JSON.stringify(base).length);
  return base;
}

// CPU seconds (user + system) of this process so far.
function cpuOfSelf() {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1e6;
}

// CPU seconds (user + system) a process has spent so far (USER_HZ = 100).
function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function peakRssKiB() {
  const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
}

async function request(method, url, json) {
  const send = () => fetch(url, {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  // spawnSync blocks the event loop, so a kept-alive socket the server
  // closed meanwhile is only found stale on use: send once more.
  const res = await send().catch(send);
  const text = await res.text();
  if (!res.ok && res.status !== 412) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

// PouchDB's side, in its own process: pull into memory, then push that to `target`.
async function rolePouch(opts) {
  const PouchDB = require('pouchdb-node');
  PouchDB.plugin(require('pouchdb-adapter-memory'));
  const local = new PouchDB('bench-client', { adapter: 'memory' });
  let t = process.hrtime.bigint();
  const pulled = await PouchDB.replicate(new PouchDB(opts.url), local);
  const pull = Number(process.hrtime.bigint() - t) / 1e9;
  if (pulled.docs_written !== opts.docs) throw new Error(`pouch pulled ${pulled.docs_written}`);
  const pullServerCpu = cpuSeconds(opts.serverPid);
  const pullCpu = cpuOfSelf();
  t = process.hrtime.bigint();
  const pushed = await PouchDB.replicate(local, new PouchDB(opts.target));
  const push = Number(process.hrtime.bigint() - t) / 1e9;
  if (pushed.docs_written !== opts.docs) throw new Error(`pouch pushed ${pushed.docs_written}`);
  process.stdout.write(JSON.stringify({
    pull, push, rss_kib: peakRssKiB(), pull_cpu: pullCpu, push_cpu: cpuOfSelf() - pullCpu, pull_server_cpu: pullServerCpu,
  }) + '\n');
}

function runPouch(url, target, docs, serverPid) {
  const r = spawnSync(process.execPath, [__filename, '--role', 'pouch', '--url', url, '--target', target, '--docs', String(docs),
    '--server-pid', String(serverPid)],
    { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`pouch child: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

// One `outpost sync`, timed, with its peak RSS.
function runOutpost(syncArgs) {
  const started = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', 'peak_rss_kib=%M cpu=%U+%S', process.env.OUTPOST_BIN, 'sync', ...syncArgs],
    { encoding: 'utf8', maxBuffer: 16 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`outpost sync ${syncArgs.join(' ')}: ${r.stderr}`);
  const rss = Number((/peak_rss_kib=(\d+)/.exec(r.stderr) || [0, 0])[1]);
  const cpu = /cpu=([\d.]+)\+([\d.]+)/.exec(r.stderr);
  return { seconds, rss_kib: rss, cpu: cpu ? Number(cpu[1]) + Number(cpu[2]) : 0, summary: r.stdout.trim().split('\n').pop() };
}

async function main(opts) {
  if (!process.env.OUTPOST_BIN) throw new Error('OUTPOST_BIN names the outpost binary');
  const server = spawn(process.execPath, [SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    readline.createInterface({ input: server.stdout }).once('line', resolve);
    server.once('exit', (code) => reject(new Error(`server.js exited ${code}`)));
  });
  const base = JSON.parse(line).url;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-bench-client-'));
  try {
    const source = `${base}/bench`;
    await request('PUT', source);
    for (let start = 0; start < opts.docs; start += 1000) {
      const docs = [];
      for (let i = start; i < Math.min(opts.docs, start + 1000); i++) docs.push({ _id: `child-${String(i).padStart(8, '0')}`, ...body(i) });
      await request('POST', `${source}/_bulk_docs`, { docs });
    }
    const rows = [];
    for (let run = 1; run <= opts.runs; run++) {
      let serverCpu = cpuSeconds(server.pid);
      const serverSpent = () => {
        const before = serverCpu;
        serverCpu = cpuSeconds(server.pid);
        return serverCpu - before;
      };
      const pouch = runPouch(source, `${base}/pouch-push-${run}`, opts.docs, server.pid);
      const pouchServerCpu = serverSpent();
      // The child read the server's CPU between its pull and its push.
      const pouchPullServerCpu = pouch.pull_server_cpu - (serverCpu - pouchServerCpu);
      const db = path.join(dir, `run-${run}.db`);
      const pull = runOutpost(['--db', db, '--url', source, '--pull']);
      const pullServerCpu = serverSpent();
      const push = runOutpost(['--db', db, '--url', `${base}/outpost-push-${run}`, '--push', '--create-target']);
      const pushServerCpu = serverSpent();
      const info = await request('GET', `${base}/outpost-push-${run}`);
      if (info.doc_count !== opts.docs) throw new Error(`outpost pushed ${info.doc_count} documents`);
      const row = {
        run,
        outpost_pull_docs_per_s: opts.docs / pull.seconds,
        pouch_pull_docs_per_s: opts.docs / pouch.pull,
        outpost_push_docs_per_s: opts.docs / push.seconds,
        pouch_push_docs_per_s: opts.docs / pouch.push,
        outpost_peak_rss_mb: Math.max(pull.rss_kib, push.rss_kib) / 1024,
        pouch_peak_rss_mb: pouch.rss_kib / 1024,
        outpost_pull_cpu_s: pull.cpu,
        outpost_pull_server_cpu_s: pullServerCpu,
        pouch_pull_cpu_s: pouch.pull_cpu,
        pouch_pull_server_cpu_s: pouchPullServerCpu,
        outpost_push_cpu_s: push.cpu,
        outpost_push_server_cpu_s: pushServerCpu,
        pouch_push_cpu_s: pouch.push_cpu,
        pouch_push_server_cpu_s: pouchServerCpu - pouchPullServerCpu,
        load1: os.loadavg()[0],
      };
      rows.push(row);
      process.stdout.write(Object.entries(row).map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(1) : v}`).join(' ') + '\n');
    }
    const median = (k) => rows.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(rows.length / 2)];
    const keys = Object.keys(rows[0]).filter((k) => k !== 'run');
    process.stdout.write(`median docs=${opts.docs} runs=${opts.runs} ` + keys.map((k) => `${k}=${median(k).toFixed(1)}`).join(' ') + '\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    server.stdin.end();
    server.kill('SIGTERM');
  }
}

const opts = args();
(opts.role === 'pouch' ? rolePouch(opts) : main(opts)).catch((e) => {
  process.stderr.write(`bench_client.js: ${e.stack || e}\n`);
  process.exit(1);
});
