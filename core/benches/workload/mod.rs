//! The benchmark workload: deterministic documents and the timed local
//! scenarios, shared by `core/benches/store.rs` and `outpost bench` (which
//! includes this file with `#[path]`, so both measure exactly the same thing).
//!
//! It depends on outpost-core, rusqlite, tempfile and tokio only. Every
//! scenario runs in a new temporary directory and returns the time of the
//! measured part, or an error (a failed check is an error, not a panic, so
//! that the CLI can report it in one line).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_core::replication::{Direction, LocalEndpoint, Replicator, ReplicatorConfig};
use outpost_core::{Collection, Database, DatabaseConfig};

/// What a scenario returns: its measured time, or why it failed.
pub type Outcome<T = Duration> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Documents per [`Database::batch`] in the batched scenarios.
pub const BATCH_SIZE: usize = 1_000;
/// Default size of a document body, canonical JSON, in bytes.
pub const BODY_BYTES: usize = 1_000;
/// Smallest body size a caller may ask for: the fixed fields take up to
/// about 260 bytes, and a smaller size could not be met exactly.
pub const MIN_BODY_BYTES: usize = 300;
/// Most single-document saves measured (one transaction each is slow).
pub const MAX_SINGLE_SAVES: usize = 5_000;

// ---------------------------------------------------------------- documents

/// SplitMix64: a small deterministic generator, so every run writes the same
/// documents and no two documents are alike.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[(self.next() % words.len() as u64) as usize]
    }
}

const GIVEN: &[&str] = &[
    "Amina", "Yusuf", "Fatima", "Omar", "Leila", "Hassan", "Mariam", "Idris", "Zahra", "Tariq",
];
const FAMILY: &[&str] = &[
    "Abdi", "Haddad", "Okafor", "Mensah", "Karimi", "Nasser", "Diallo", "Osman", "Rahimi",
];
const ZONES: &[&str] = &["north", "south", "east", "west", "centre", "annex"];
const WORDS: &[&str] = &[
    "water", "ration", "clinic", "school", "tent", "blanket", "vaccine", "follow", "up", "visit", "family", "needs",
];

/// The id of document `i`: `child-00000000`, `child-00000001`, ...
pub fn doc_id(i: usize) -> String {
    format!("child-{i:08}")
}

/// The body of document `i`: already canonical JSON (keys sorted, no
/// whitespace, plain ASCII strings) of exactly `size` bytes when `size` is
/// at least [`MIN_BODY_BYTES`], so the store and raw SQLite write the same
/// bytes. A smaller `size` gives the fixed fields without padding.
pub fn doc_body(i: usize, size: usize) -> String {
    let mut rng = Rng(i as u64 ^ 0xA5A5_5EED);
    let notes: Vec<&str> = (0..12).map(|_| rng.pick(WORDS)).collect();
    let head = format!(
        r#"{{"age":{},"camp":"camp-{}","family":"{}","given_name":"{}","household":{},"notes":"{}","padding":""#,
        rng.next() % 18,
        rng.next() % 40,
        rng.pick(FAMILY),
        rng.pick(GIVEN),
        1 + rng.next() % 9,
        notes.join(" "),
    );
    let tail = format!(
        r#"","registered":{},"zone":"{}"}}"#,
        rng.next() % 2 == 0,
        rng.pick(ZONES)
    );
    let pad = size.saturating_sub(head.len() + tail.len());
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut body = String::with_capacity(head.len() + pad + tail.len());
    body.push_str(&head);
    let mut bits = 0u64;
    for k in 0..pad {
        if k % 10 == 0 {
            bits = rng.next();
        }
        body.push(ALPHABET[(bits % ALPHABET.len() as u64) as usize] as char);
        bits /= ALPHABET.len() as u64;
    }
    body.push_str(&tail);
    debug_assert!(
        size < MIN_BODY_BYTES || body.len() == size,
        "the fixed fields fit in {MIN_BODY_BYTES} bytes"
    );
    body
}

/// Documents generated before a timed part, kept in one buffer: one large
/// allocation instead of two per document, so that dropping them gives the
/// memory back to the system and they do not linger in the next
/// measurement's RSS.
pub struct Docs {
    text: String,
    /// For each document, where its id and its body end in `text`.
    ends: Vec<(usize, usize)>,
}

impl Docs {
    /// Documents `range` (ids and bodies of `size` bytes, as [`doc_id`] and
    /// [`doc_body`] make them).
    pub fn new(range: std::ops::Range<usize>, size: usize) -> Docs {
        let n = range.len();
        let mut text = String::with_capacity(n * (size.max(MIN_BODY_BYTES) + 16));
        let mut ends = Vec::with_capacity(n);
        for i in range {
            text.push_str(&doc_id(i));
            let id_end = text.len();
            text.push_str(&doc_body(i, size));
            ends.push((id_end, text.len()));
        }
        Docs { text, ends }
    }

    /// How many documents there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The (id, body) pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|&(_, body_end)| body_end));
        starts
            .zip(&self.ends)
            .map(|(start, &(id_end, body_end))| (&self.text[start..id_end], &self.text[id_end..body_end]))
    }
}

// ---------------------------------------------------------------- scenarios

/// Documents per second.
pub fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// The key every database the scenarios open is encrypted with; `None`
/// (the default): plain files. Set by `outpost bench --scenario encryption`
/// to run the same scenarios both ways in one process.
static ENCRYPTION_KEY: std::sync::Mutex<Option<outpost_core::EncryptionKey>> = std::sync::Mutex::new(None);

/// Makes the scenarios open encrypted databases with `key`, or plain ones.
#[allow(dead_code)] // Only `outpost bench` encrypts.
pub fn set_encryption_key(key: Option<outpost_core::EncryptionKey>) {
    *ENCRYPTION_KEY.lock().unwrap_or_else(|e| e.into_inner()) = key;
}

/// Opens (creating) the database at `path`, encrypted if a key is set.
pub fn open(path: &Path) -> Outcome<Database> {
    let config = DatabaseConfig {
        encryption_key: ENCRYPTION_KEY.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        ..DatabaseConfig::default()
    };
    Ok(Database::open(path, config)?)
}

/// Fails unless `coll` holds `expected` live documents.
fn check_count(coll: &Collection, expected: usize) -> Outcome<()> {
    let n = coll.count()?;
    if n as usize != expected {
        return Err(format!("expected {expected} documents, found {n}").into());
    }
    Ok(())
}

/// The raw SQLite ceiling: plain rusqlite INSERTs of the same rows
/// (`id TEXT PRIMARY KEY, body TEXT`) in one transaction, WAL,
/// `synchronous = NORMAL`, one prepared statement. The most the store could
/// hope for.
pub fn sqlite_ceiling(docs: &Docs) -> Outcome {
    let dir = tempfile::tempdir()?;
    let mut conn = rusqlite::Connection::open(dir.path().join("raw.db"))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("SQLite refused WAL mode (journal mode is {mode})").into());
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch("CREATE TABLE docs (id TEXT PRIMARY KEY, body TEXT)")?;
    let start = Instant::now();
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO docs (id, body) VALUES (?1, ?2)")?;
        for (id, body) in docs.iter() {
            insert.execute([id, body])?;
        }
    }
    tx.commit()?;
    let elapsed = start.elapsed();
    let n: i64 = conn.query_row("SELECT count(*) FROM docs", [], |r| r.get(0))?;
    if n as usize != docs.len() {
        return Err(format!("expected {} rows, found {n}", docs.len()).into());
    }
    Ok(elapsed)
}

/// One [`Collection::save`] (one transaction) per document.
pub fn single_saves(docs: &Docs) -> Outcome {
    let dir = tempfile::tempdir()?;
    let db = open(&dir.path().join("single.db"))?;
    let coll = db.default_collection()?;
    let start = Instant::now();
    for (id, body) in docs.iter() {
        coll.save(id, None, body)?;
    }
    let elapsed = start.elapsed();
    check_count(&coll, docs.len())?;
    db.close()?;
    Ok(elapsed)
}

/// Saves `docs` with [`Database::batch`], [`BATCH_SIZE`] documents a batch.
pub fn save_batched(db: &Database, coll: &Collection, docs: &Docs) -> Outcome<()> {
    let mut all = docs.iter().peekable();
    while all.peek().is_some() {
        db.batch(|b| {
            for (id, body) in all.by_ref().take(BATCH_SIZE) {
                b.save(coll, id, None, body)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// [`Database::batch`] with [`BATCH_SIZE`] documents each.
pub fn batched_saves(docs: &Docs) -> Outcome {
    let dir = tempfile::tempdir()?;
    let db = open(&dir.path().join("batched.db"))?;
    let coll = db.default_collection()?;
    let start = Instant::now();
    save_batched(&db, &coll, docs)?;
    let elapsed = start.elapsed();
    check_count(&coll, docs.len())?;
    // The bodies are canonical already: the store keeps them byte for byte,
    // so raw SQLite and the store write the same bytes.
    if let Some((id, body)) = docs.iter().next() {
        if coll.get(id)?.map(|d| d.body).as_deref() != Some(body) {
            return Err(format!("document {id} was not stored byte for byte").into());
        }
    }
    db.close()?;
    Ok(elapsed)
}

/// Fills a database with `n` documents of `size` bytes, generated a batch at
/// a time so the bodies are never all in memory at once.
pub fn fill(db: &Database, n: usize, size: usize) -> Outcome<()> {
    let coll = db.default_collection()?;
    let mut start = 0;
    while start < n {
        let end = (start + BATCH_SIZE).min(n);
        save_batched(db, &coll, &Docs::new(start..end, size))?;
        start = end;
    }
    Ok(())
}

/// One-shot local-to-local push replication ([`LocalEndpoint`]) of `n`
/// documents of `size` bytes from a full database into an empty one, both
/// in `dir`. `after_fill` runs once the source is full. Returns the time of
/// the replication alone.
pub fn replicate(dir: &Path, n: usize, size: usize, after_fill: impl FnOnce()) -> Outcome {
    let source = open(&dir.join("source.db"))?;
    fill(&source, n, size)?;
    after_fill();
    let target = open(&dir.join("target.db"))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let config = ReplicatorConfig {
        direction: Direction::Push,
        ..Default::default()
    };
    let replicator = Replicator::new(source.clone(), Arc::new(LocalEndpoint::new(target.clone())), config)?;
    let start = Instant::now();
    runtime.block_on(replicator.run())?;
    let elapsed = start.elapsed();
    check_count(&target.default_collection()?, n)?;
    source.close()?;
    target.close()?;
    Ok(elapsed)
}

/// [`replicate`] in a new temporary directory.
pub fn replication(n: usize, size: usize) -> Outcome {
    let dir = tempfile::tempdir()?;
    replicate(dir.path(), n, size, || {})
}

// ---------------------------------------------------------------- memory

/// A field of `/proc/self/status` in KiB (`VmHWM` is the peak RSS), or
/// `None` where there is no such file or field.
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// KiB to MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
