//! Crash test: a child process writes batches until it is killed with
//! SIGKILL; the database it leaves must pass SQLite's integrity check, and
//! every batch must be wholly present or wholly absent, with every batch the
//! child acknowledged present.
//!
//! The test binary re-runs itself as the child: `child_writer` is ignored in
//! normal runs and does its work only when `CHILD_DIR_ENV` is set.
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use outpost_core::{Database, DatabaseConfig, Durability};
use rand::Rng;

/// Directory of the database the child writes to.
const CHILD_DIR_ENV: &str = "OUTPOST_CRASH_CHILD_DIR";
/// First batch number the child writes.
const CHILD_START_ENV: &str = "OUTPOST_CRASH_CHILD_START";
/// Documents per batch.
const K: usize = 50;
/// Batches the parent waits to see acknowledged before killing the child.
const ACKED: usize = 20;
/// Marks the child's acknowledgement lines (libtest prints its own lines too).
const ACK: &str = "COMMITTED ";
/// Marks the child's progress lines inside a batch, before its commit.
const WRITING: &str = "WRITING ";
/// Longest wait for the child's next line.
const WAIT: Duration = Duration::from_secs(60);

fn config() -> DatabaseConfig {
    DatabaseConfig {
        durability: Durability::Normal,
        ..DatabaseConfig::default()
    }
}

fn doc_id(batch: usize, i: usize) -> String {
    format!("b{batch}-{i}")
}

fn body(batch: usize, i: usize) -> String {
    format!(r#"{{"batch":{batch},"i":{i},"pad":"{}"}}"#, "x".repeat(200 + i))
}

/// The child: writes batch after batch, acknowledging each after its commit,
/// until it is killed. It also reports each document written inside the
/// open transaction, so the parent can kill it in the middle of a batch.
#[test]
#[ignore = "child process of sigkill_during_batches_loses_no_acknowledged_batch_and_tears_none"]
fn child_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        eprintln!("child_writer only runs as the child of the crash test");
        return;
    };
    let start: usize = std::env::var(CHILD_START_ENV)
        .expect("start batch")
        .parse()
        .expect("start batch number");
    let db = Database::open(Path::new(&dir).join("crash.db"), config()).expect("child opens the database");
    let docs = db.default_collection().unwrap();
    for n in start.. {
        db.batch(|b| {
            for i in 0..K {
                b.save(&docs, &doc_id(n, i), None, &body(n, i))?;
                println!("{WRITING}{n} {i}");
            }
            Ok(())
        })
        .expect("batch commits");
        // println! flushes at the newline: stdout is line-buffered.
        println!("{ACK}{n}");
    }
}

/// When the parent kills the child.
#[derive(Clone, Copy, Debug)]
enum KillAt {
    /// Just after its `ACKED`th acknowledgement, between batches.
    AfterAck,
    /// Once it has written document `i` of the next batch, inside the
    /// transaction (before `K - 1`: with documents still to write).
    Inside(usize),
}

enum Line {
    Ack(usize),
    Writing(usize, usize),
}

fn parse_line(line: &str) -> Option<Line> {
    // The first one shares its line with libtest's "test child_writer ... ".
    if let Some(at) = line.find(ACK) {
        return Some(Line::Ack(line[at + ACK.len()..].parse().expect("batch number")));
    }
    let at = line.find(WRITING)?;
    let (n, i) = line[at + WRITING.len()..].split_once(' ').expect("batch and document");
    Some(Line::Writing(n.parse().unwrap(), i.parse().unwrap()))
}

/// Starts the child on `dir` from batch `start`, waits for `ACKED` new
/// acknowledgements, kills it as `kill_at` says, and returns every batch
/// number it acknowledged.
fn run_and_kill(dir: &Path, start: usize, kill_at: KillAt) -> Vec<usize> {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "child_writer",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_START_ENV, start.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child writer");
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read child stdout");
            if let Some(parsed) = parse_line(&line) {
                if tx.send(parsed).is_err() {
                    break;
                }
            }
        }
    });

    let mut acked = Vec::new();
    loop {
        let line = match rx.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                let why = match e {
                    RecvTimeoutError::Timeout => "went quiet",
                    RecvTimeoutError::Disconnected => "exited",
                };
                panic!("the child {why} after acknowledging {acked:?} (status {status:?})");
            }
        };
        let kill = match (line, kill_at) {
            (Line::Ack(n), KillAt::AfterAck) => {
                acked.push(n);
                acked.len() >= ACKED
            }
            (Line::Ack(n), KillAt::Inside(_)) => {
                acked.push(n);
                false
            }
            (Line::Writing(n, i), KillAt::Inside(at)) => acked.len() >= ACKED && i == at && n == start + acked.len(),
            (Line::Writing(..), KillAt::AfterAck) => false,
        };
        if kill {
            break;
        }
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "the child was not killed: {status:?}"
    );
    // Whatever the child acknowledged before it died is in the pipe still.
    loop {
        match rx.recv_timeout(WAIT) {
            Ok(Line::Ack(n)) => acked.push(n),
            Ok(Line::Writing(..)) => {}
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => panic!("the child's stdout did not close after SIGKILL"),
        }
    }
    reader.join().expect("stdout reader");
    let expected: Vec<usize> = (start..start + acked.len()).collect();
    assert_eq!(acked, expected, "acknowledgements out of order");
    acked
}

/// Checks the file as the crash left it with plain SQLite.
fn assert_integrity(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("open with rusqlite");
    let mut stmt = conn.prepare("PRAGMA integrity_check").unwrap();
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, vec!["ok".to_string()], "integrity_check");
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode.to_ascii_lowercase(), "wal");
}

/// Opens the database and returns the batches present, checking that each
/// is whole.
fn batches_present(path: &Path) -> BTreeSet<usize> {
    let db = Database::open(path, config()).expect("reopen after the crash");
    let docs = db.default_collection().unwrap();
    let feed = docs.changes(0, usize::MAX).unwrap();
    let mut per_batch: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for change in &feed.changes {
        let (batch, i) = change.id[1..].split_once('-').expect("id of the form b{n}-{i}");
        let (batch, i): (usize, usize) = (batch.parse().unwrap(), i.parse().unwrap());
        assert!(i < K, "unexpected id {}", change.id);
        assert!(!change.deleted);
        assert!(
            per_batch.entry(batch).or_default().insert(i),
            "{} twice in the feed",
            change.id
        );
    }
    for (batch, items) in &per_batch {
        assert_eq!(
            items.len(),
            K,
            "batch {batch} is torn: {} of {K} documents",
            items.len()
        );
    }
    let total = (per_batch.len() * K) as u64;
    assert_eq!(docs.count().unwrap(), total);
    assert_eq!(db.last_sequence().unwrap(), total, "one sequence per saved document");
    assert_eq!(feed.last_sequence, total);
    // The newest batch reads back with its bodies.
    if let Some(&last) = per_batch.keys().next_back() {
        for i in [0, K - 1] {
            let doc = docs
                .get(&doc_id(last, i))
                .unwrap()
                .expect("document of a present batch");
            assert_eq!(doc.body, body(last, i));
        }
    }
    db.close().unwrap();
    per_batch.into_keys().collect()
}

#[test]
fn sigkill_during_batches_loses_no_acknowledged_batch_and_tears_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let mut start = 0;
    let inside = rand::thread_rng().gen_range(0..K - 1);
    let rounds = [KillAt::Inside(inside), KillAt::Inside(K - 2), KillAt::AfterAck];
    for (round, kill_at) in rounds.into_iter().enumerate() {
        let acked = run_and_kill(dir.path(), start, kill_at);
        assert_integrity(&path);
        let present = batches_present(&path);
        // Batches commit one after another, so the survivors are a prefix;
        // the child may have committed one batch it had no time to announce.
        let count = present.len();
        assert_eq!(
            present,
            (0..count).collect(),
            "round {round}: batches present are not a prefix"
        );
        let last_acked = *acked.last().unwrap();
        assert!(
            count == last_acked + 1 || count == last_acked + 2,
            "round {round} ({kill_at:?}): {count} batches present, {last_acked} was the last acknowledged"
        );
        assert!(count >= start + ACKED);
        start = count;
    }
}
