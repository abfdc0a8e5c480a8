#!/usr/bin/env node
// Issue 13 item 5, first half: PouchDB 9 (pouchdb-node + the memory
// adapter) pushing N ~1 KB documents to, then pulling them from, a
// CouchDB-protocol server over plain HTTP on 127.0.0.1: `outpost serve`
// (its CouchDB face) and express-pouchdb (tests/pouchdb/server.js, memory
// adapter), in the same run, one after the other, the same documents.
//
//   OUTPOST_BIN=target/release/outpost NODE_PATH=tests/pouchdb/node_modules \
//     node tests/interop/bench_face.js [--docs 20000] [--doc-size 1000] [--trace]
//
// Each push starts from a fresh memory database holding the documents and
// writes to a fresh server database; each pull reads them all into a fresh
// memory database. Printed: one line per server and direction (ms, docs/s),
// the servers' peak RSS (VmHWM) after both, and a last line of key=value
// pairs. Each direction also prints the CPU time the PouchDB client (this
// process) and the server spent, so what bounds the run shows: a run that
// takes about as long as its client's CPU time is bound by the client.
// `--trace` logs the face's per-request time (RUST_LOG for `outpost serve`)
// and prints, per endpoint, the requests, their total and median time.
// Not a test (it is not *.test.js): run it by hand.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const PouchDB = require('pouchdb-node');
PouchDB.plugin(require('pouchdb-adapter-memory'));

const BIN = process.env.OUTPOST_BIN;
const SERVER_JS = path.join(__dirname, '..', 'pouchdb', 'server.js');
const USER = 'bench';
const PASSWORD = 'bench password';

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const DOCS = arg('--docs', 20000);
const TRACE = process.argv.includes('--trace');
const TICKS_PER_S = 100; // USER_HZ, the unit of /proc/PID/stat's times on Linux
const DOC_SIZE = arg('--doc-size', 1000);

function body(i) {
  // Deterministic ~DOC_SIZE-byte JSON, as a field worker's record.
  let x = (i * 2654435761) >>> 0;
  let pad = '';
  while (pad.length < DOC_SIZE - 120) {
    x = (x * 1103515245 + 12345) >>> 0;
    pad += x.toString(36);
  }
  return { _id: `child-${String(i).padStart(8, '0')}`, given_name: 'Amina', family: 'Haddad', age: i % 18,
    camp: `camp-${i % 40}`, zone: 'north', notes: pad.slice(0, DOC_SIZE - 120) };
}

async function firstLine(child, what) {
  const lines = readline.createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}) before it was ready`)));
  });
}

async function startOutpost(dir) {
  const env = TRACE ? { ...process.env, RUST_LOG: 'warn,outpost_core::net::couch::face=debug' } : process.env;
  const child = spawn(BIN, ['serve', '--db', path.join(dir, 'bench.db'), '--port', '0', '--bind', '127.0.0.1',
    '--no-tls', '--user', `${USER}:${PASSWORD}`], { stdio: ['ignore', 'pipe', TRACE ? 'pipe' : 'inherit'], env });
  const requests = [];
  if (TRACE) {
    readline.createInterface({ input: child.stderr }).on('line', (line) => {
      const m = /face request endpoint="?([^" ]+)"? method=(\S+) status=\d+ micros=(\d+)/.exec(line);
      if (m) requests.push({ what: `${m[2]} ${m[1]}`, micros: Number(m[3]) });
      else process.stderr.write(line + '\n');
    });
  }
  const info = JSON.parse(await firstLine(child, 'outpost serve'));
  return { name: 'outpost serve', child, requests, base: `http://127.0.0.1:${info.port}/bench`, auth: { username: USER, password: PASSWORD } };
}

async function startExpress() {
  const child = spawn(process.execPath, [SERVER_JS, '--adapter', 'memory'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const info = JSON.parse(await firstLine(child, 'server.js'));
  return { name: 'express-pouchdb', child, base: `${info.url}/bench`, auth: null };
}

function peakRssMB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)[1]) / 1024;
}

let counter = 0;
function memoryDb() {
  counter += 1;
  return new PouchDB(`bench-${process.pid}-${counter}`, { adapter: 'memory' });
}

// CPU seconds (user + system) a process has spent so far.
function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

// Times one replication: wall ms, and CPU ms of this client and the server.
async function timed(what, server, f) {
  const start = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const serverCpu = cpuSeconds(server.child.pid);
  const result = await f();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const used = process.cpuUsage(cpu);
  if (result.docs_written !== DOCS) throw new Error(`${what}: ${result.docs_written} of ${DOCS} written`);
  return { ms, clientCpuMs: (used.user + used.system) / 1000, serverCpuMs: (cpuSeconds(server.child.pid) - serverCpu) * 1000 };
}

// Per endpoint: requests, total and median ms, from the face's trace.
function traceSummary(requests) {
  const by = new Map();
  for (const r of requests) by.set(r.what, [...(by.get(r.what) || []), r.micros]);
  return [...by].map(([what, micros]) => {
    micros.sort((a, b) => a - b);
    const total = micros.reduce((a, b) => a + b, 0) / 1000;
    return `  ${what.padEnd(24)} ${String(micros.length).padStart(6)} requests, ${total.toFixed(0).padStart(6)} ms in all, median ${(micros[micros.length >> 1] / 1000).toFixed(2)} ms`;
  }).join('\n');
}

async function run(server) {
  const remote = new PouchDB(server.base, server.auth ? { auth: server.auth } : {});
  const source = memoryDb();
  for (let i = 0; i < DOCS; i += 1000) {
    await source.bulkDocs(Array.from({ length: Math.min(1000, DOCS - i) }, (_, k) => body(i + k)));
  }
  const traced = () => (server.requests || []).splice(0);
  const push = await timed(`${server.name} push`, server, () => source.replicate.to(remote));
  const pushTrace = traced();
  const pull = await timed(`${server.name} pull`, server, () => memoryDb().replicate.from(remote));
  const pullTrace = traced();
  const rss = peakRssMB(server.child.pid);
  for (const [dir, t, trace] of [['push', push, pushTrace], ['pull', pull, pullTrace]]) {
    console.log(`${server.name.padEnd(16)} ${dir}: ${DOCS} docs in ${t.ms.toFixed(0)} ms (${(DOCS / t.ms * 1000).toFixed(0)} docs/s), ` +
      `CPU: PouchDB client ${t.clientCpuMs.toFixed(0)} ms, server ${t.serverCpuMs.toFixed(0)} ms`);
    if (trace.length) console.log(traceSummary(trace));
  }
  console.log(`${server.name.padEnd(16)} peak RSS ${rss.toFixed(1)} MB`);
  return { push: push.ms, pull: pull.ms, rss, cpu: { push, pull } };
}

async function main() {
  if (!BIN) throw new Error('set OUTPOST_BIN to the outpost binary (a release build for figures)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-bench-face-'));
  const outpost = await startOutpost(dir);
  const ours = await run(outpost).finally(() => outpost.child.kill('SIGTERM'));
  const express = await startExpress();
  const theirs = await run(express).finally(() => express.child.kill('SIGTERM'));
  fs.rmSync(dir, { recursive: true, force: true });
  console.log([
    `docs=${DOCS}`, `doc_size=${DOC_SIZE}`,
    `outpost_push_ms=${ours.push.toFixed(0)}`, `express_push_ms=${theirs.push.toFixed(0)}`,
    `push_speedup=${(theirs.push / ours.push).toFixed(2)}`,
    `outpost_pull_ms=${ours.pull.toFixed(0)}`, `express_pull_ms=${theirs.pull.toFixed(0)}`,
    `pull_speedup=${(theirs.pull / ours.pull).toFixed(2)}`,
    `outpost_rss_mb=${ours.rss.toFixed(1)}`, `express_rss_mb=${theirs.rss.toFixed(1)}`,
    ...['push', 'pull'].flatMap((dir) => [
      `outpost_${dir}_client_cpu_ms=${ours.cpu[dir].clientCpuMs.toFixed(0)}`,
      `outpost_${dir}_server_cpu_ms=${ours.cpu[dir].serverCpuMs.toFixed(0)}`,
      `express_${dir}_client_cpu_ms=${theirs.cpu[dir].clientCpuMs.toFixed(0)}`,
      `express_${dir}_server_cpu_ms=${theirs.cpu[dir].serverCpuMs.toFixed(0)}`,
    ]),
    `load1=${os.loadavg()[0].toFixed(1)}`,
  ].join(' '));
}

main().catch((e) => { console.error(e); process.exit(1); });
