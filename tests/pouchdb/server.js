#!/usr/bin/env node
// A CouchDB-protocol peer for Outpost's interop tests and benchmarks:
// express-pouchdb 4 over PouchDB 9 (pouchdb-node), listening on 127.0.0.1.
//
//   node server.js [--port N] [--adapter memory|leveldb] [--mode full|minimum]
//                  [--admin NAME:PASSWORD] [--no-stdin]
//
// When it listens it prints ONE line on stdout and nothing else ever goes to
// stdout (logs go to stderr):
//   {"url":"http://127.0.0.1:PORT","port":PORT}
// It exits 0 on SIGTERM, SIGINT, or when its stdin closes (so a parent that
// dies, or drops the pipe, takes it down); --no-stdin ignores stdin (for a
// shell job started with </dev/null). See README.md.
'use strict';

// Keep stdout for the one JSON line: anything a dependency logs goes to stderr.
const writeStdout = process.stdout.write.bind(process.stdout);
console.log = console.error;
console.info = console.error;

const fs = require('fs');
const os = require('os');
const path = require('path');

function usage(message) {
  if (message) process.stderr.write(`server.js: ${message}\n`);
  process.stderr.write(
    'usage: node server.js [--port N] [--adapter memory|leveldb] [--mode full|minimum]\n' +
      '                      [--admin NAME:PASSWORD] [--no-stdin]\n' +
      '  POUCHDB_ADMIN=NAME:PASSWORD in the environment is the same as --admin\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    port: 0,
    adapter: 'memory',
    mode: 'full',
    admin: process.env.POUCHDB_ADMIN || null,
    stdin: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case '--port': {
        const v = value();
        if (!/^\d+$/.test(v)) usage(`--port: not a port: ${v}`);
        opts.port = Number(v);
        if (opts.port > 65535) usage(`--port: not a port: ${v}`);
        break;
      }
      case '--adapter':
        opts.adapter = value();
        if (!['memory', 'leveldb'].includes(opts.adapter)) usage(`unknown adapter ${opts.adapter}`);
        break;
      case '--mode':
        opts.mode = value();
        if (!['full', 'minimum'].includes(opts.mode)) usage(`unknown mode ${opts.mode}`);
        break;
      case '--admin':
        opts.admin = value();
        break;
      case '--no-stdin':
        opts.stdin = false;
        break;
      case '-h':
      case '--help':
        usage();
        break;
      default:
        usage(`unknown argument ${arg}`);
    }
  }
  if (opts.admin !== null) {
    const colon = opts.admin.indexOf(':');
    if (colon <= 0 || colon === opts.admin.length - 1) usage('--admin takes NAME:PASSWORD');
    opts.adminName = opts.admin.slice(0, colon);
    opts.adminPassword = opts.admin.slice(colon + 1);
    if (opts.mode !== 'full') usage('--admin needs --mode full (authentication is not in minimum mode)');
  }
  return opts;
}

// With an admin, anonymous requests are refused, as CouchDB does with
// [chttpd] require_valid_user = true: express-pouchdb alone would let anyone
// read and write a database that has no _security object. Requests that carry
// Basic credentials or an AuthSession cookie go on to express-pouchdb, which
// checks them (a wrong password is 401 {"error":"unauthorized",...}).
// POST/GET/DELETE /_session stay open so cookie login works.
function requireValidUser(req, res, next) {
  if (req.path === '/_session') return next();
  const authz = req.headers.authorization || '';
  const cookie = req.headers.cookie || '';
  if (/^basic\s/i.test(authz) || /(^|;\s*)AuthSession=/.test(cookie)) return next();
  res.status(401);
  res.set('WWW-Authenticate', 'Basic realm="server"');
  res.json({ error: 'unauthorized', reason: 'Authentication required.' });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));

  // express-pouchdb writes a log file (full mode) and leveldb writes its
  // databases under the current directory unless told otherwise: keep both in
  // a private temp dir, removed on exit.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-pouchdb-'));
  const cleanup = () => {
    try {
      fs.rmSync(tmp, { recursive: true, force: true });
    } catch (_) {
      // best effort
    }
  };

  const PouchDB = require('pouchdb-node');
  let DB;
  if (opts.adapter === 'memory') {
    PouchDB.plugin(require('pouchdb-adapter-memory'));
    DB = PouchDB.defaults({ adapter: 'memory' });
  } else {
    DB = PouchDB.defaults({ prefix: tmp + path.sep });
  }

  const express = require('express');
  const expressPouchDB = require('express-pouchdb');
  const pouchApp = expressPouchDB(DB, {
    mode: opts.mode === 'full' ? 'fullCouchDB' : 'minimumForPouchDB',
    inMemoryConfig: true,
    logPath: path.join(tmp, 'log.txt'),
  });

  if (opts.admin !== null) {
    await new Promise((resolve, reject) =>
      pouchApp.couchConfig.set('admins', opts.adminName, opts.adminPassword, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }

  const app = express();
  app.disable('x-powered-by');
  if (opts.admin !== null) app.use(requireValidUser);
  app.use('/', pouchApp);

  const server = await new Promise((resolve, reject) => {
    const s = app.listen(opts.port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  server.keepAliveTimeout = 5000;

  let stopping = false;
  const stop = (why) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`server.js: stopping (${why})\n`);
    // Never hang on exit: a bounded grace period, then go regardless.
    setTimeout(() => {
      cleanup();
      process.exit(0);
    }, 2000).unref();
    server.close(() => {
      cleanup();
      process.exit(0);
    });
    server.closeAllConnections();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (opts.stdin) {
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.on('error', () => stop('stdin error'));
    process.stdin.resume();
  }

  const port = server.address().port;
  writeStdout(JSON.stringify({ url: `http://127.0.0.1:${port}`, port }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`server.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
