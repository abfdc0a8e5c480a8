//! The versioned SQLite schema and its migrations.
//!
//! `PRAGMA user_version` holds the schema version. Each migration runs in
//! the opening transaction; a file from a newer version is refused rather
//! than misread.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::{Error, Result};
use crate::store::DEFAULT_COLLECTION;

/// Migrations in order; `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: documents, collections, local documents, database info.
    "CREATE TABLE info (key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT, WITHOUT ROWID;
     -- AUTOINCREMENT: a deleted collection's id is never reused, so a stale
     -- handle can never reach a newer collection.
     CREATE TABLE collections (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE) STRICT;
     -- seq is the rowid: the changes feed is a scan in rowid order, and a
     -- document moves to a new rowid each time it changes.
     CREATE TABLE docs (
         seq INTEGER PRIMARY KEY,
         collection INTEGER NOT NULL,
         id TEXT NOT NULL,
         rev TEXT NOT NULL,
         deleted INTEGER NOT NULL,
         branched INTEGER NOT NULL,
         body TEXT NOT NULL,
         tree BLOB NOT NULL,
         UNIQUE (collection, id)
     ) STRICT;
     CREATE TABLE local_docs (
         collection INTEGER NOT NULL,
         id TEXT NOT NULL,
         body TEXT NOT NULL,
         PRIMARY KEY (collection, id)
     ) STRICT, WITHOUT ROWID;",
    // 2: revision trees may mark a revision's id as foreign (flag 16 in
    // `revision/codec.rs`). Existing trees need no rewrite (they have no
    // foreign revision); the version bump makes an older build refuse a
    // file whose foreign revisions it would take for verified ones.
    "INSERT OR REPLACE INTO info (key, value) VALUES ('foreign_revision_flag', 1);",
];

/// The schema version this library writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The sequence of the latest change, as stored.
pub(crate) fn last_sequence(conn: &Connection) -> Result<u64> {
    let seq: i64 = conn.query_row("SELECT value FROM info WHERE key = 'last_seq'", [], |r| r.get(0))?;
    u64::try_from(seq).map_err(|_| Error::Corrupt(format!("negative last sequence {seq}")))
}

/// Brings the schema up to date and returns the database UUID (created on
/// first open).
pub(crate) fn migrate(conn: &mut Connection) -> Result<String> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    for migration in &MIGRATIONS[version.max(0) as usize..] {
        tx.execute_batch(migration)?;
    }
    if version == 0 {
        let uuid = uuid::Uuid::new_v4().to_string();
        tx.execute(
            "INSERT INTO info (key, value) VALUES ('uuid', ?1), ('last_seq', 0)",
            [&uuid],
        )?;
        tx.execute(
            "INSERT INTO collections (id, name) VALUES (1, ?1)",
            [DEFAULT_COLLECTION],
        )?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    let uuid: Option<String> = tx
        .query_row("SELECT value FROM info WHERE key = 'uuid'", [], |r| r.get(0))
        .optional()?;
    tx.commit()?;
    uuid.ok_or_else(|| Error::Corrupt("the database has no UUID".into()))
}
