//! Compaction: removes blob files no stored revision names, and temporary
//! files left by a crash.
//!
//! A blob file is a candidate only if it is older than the grace period
//! (counted from its last write, which a repeated `save_blob` of the same
//! bytes refreshes), so a blob saved for a revision not committed yet
//! survives a concurrent compaction. Candidates are taken off by every
//! body a stored revision holds (any leaf, or an ancestor that still has
//! its body), in two phases:
//!
//! 1. a read of every document up to sequence `S`, a page at a time;
//! 2. under the write lock (an immediate transaction, so no save can
//!    commit meanwhile), the documents changed after `S`; then the
//!    remaining candidates are removed before the lock is released.
//!
//! Partial files untouched for [`BLOB_PARTIAL_MAX_AGE`] go too, except a
//! received blob verified and waiting to be published
//! ([`super::pending`]) and one whose lock a call holds.
//!
//! A save checks its blobs inside its own write transaction, so it either
//! commits before phase 2 (and phase 2 sees it) or after the removal (and
//! is refused with [`crate::BlobError::Missing`]); a revision never names a
//! missing blob. Removing a file is the only change, so a crash at any
//! point leaves some unreferenced files still there, nothing else.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use rusqlite::params;

use super::reference::digests_named;
use super::store::{io_error, PARTIAL_PREFIX, TEMP_PREFIX};
use super::BlobDigest;
use crate::error::Result;
use crate::private_files;
use crate::revision::decode_tree;
use crate::store::Database;
use crate::tuning::{BLOB_PARTIAL_MAX_AGE, COMPACT_MAX_CANDIDATES, COMPACT_PAGE_ROWS};

/// What [`Database::compact`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Blobs removed (no stored revision named them), with their sizes.
    pub blobs_removed: Vec<(BlobDigest, u64)>,
    /// Temporary files removed (left by a crash or an abandoned write).
    pub temp_files_removed: usize,
    /// Partly received blobs removed (older than
    /// [`BLOB_PARTIAL_MAX_AGE`]).
    pub partial_files_removed: usize,
}

impl CompactReport {
    /// Bytes of blobs removed.
    pub fn blob_bytes_removed(&self) -> u64 {
        self.blobs_removed.iter().map(|(_, n)| n).sum()
    }
}

/// Compacts `db`'s blob store; files younger than `grace` are kept.
pub(crate) fn compact(db: &Database, grace: Duration) -> Result<CompactReport> {
    let mut report = CompactReport::default();
    let store = db.blob_store();
    let dir = store.dir().to_owned();
    if !dir.is_dir() {
        return Ok(report);
    }
    let now = SystemTime::now();
    let old = |modified: SystemTime, age: Duration| now.duration_since(modified).is_ok_and(|d| d >= age);
    let mut skip: HashSet<BlobDigest> = HashSet::new();
    loop {
        let mut candidates: HashSet<BlobDigest> = HashSet::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| io_error("cannot list", &dir, &e))?;
        let mut full = false;
        for entry in entries {
            let entry = entry.map_err(|e| io_error("cannot list", &dir, &e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(meta) = entry.metadata() else { continue };
            let Ok(modified) = meta.modified() else { continue };
            if !meta.is_file() {
                continue;
            }
            if name.starts_with(TEMP_PREFIX) && old(modified, grace) {
                if std::fs::remove_file(entry.path()).is_ok() {
                    report.temp_files_removed += 1;
                }
            } else if let Some(hex) = name.strip_prefix(PARTIAL_PREFIX) {
                if old(modified, grace.max(BLOB_PARTIAL_MAX_AGE))
                    && store.remove_idle_partial(&entry.path(), BlobDigest::from_hex(hex))
                {
                    report.partial_files_removed += 1;
                }
            } else if let Some(digest) = BlobDigest::from_hex(name) {
                if old(modified, grace) && !skip.contains(&digest) {
                    if candidates.len() >= COMPACT_MAX_CANDIDATES {
                        full = true;
                        break;
                    }
                    candidates.insert(digest);
                }
            }
        }
        if candidates.is_empty() {
            break;
        }
        let round: Vec<BlobDigest> = candidates.iter().copied().collect();
        remove_unreferenced(db, &mut candidates, grace, &mut report)?;
        // Kept candidates are named: do not look at them again this run.
        skip.extend(round);
        if !full {
            break;
        }
    }
    private_files::sync_dir(&dir).map_err(|e| io_error("cannot sync", &dir, &e))?;
    Ok(report)
}

fn remove_unreferenced(
    db: &Database,
    candidates: &mut HashSet<BlobDigest>,
    grace: Duration,
    report: &mut CompactReport,
) -> Result<()> {
    // Phase 1: every document up to `since`, a page at a time.
    let since = db.last_sequence()?;
    let mut after: i64 = 0;
    while !candidates.is_empty() {
        let (last, rows) = db.read(|conn| scan_page(conn, after, Some(since as i64), candidates))?;
        if rows == 0 {
            break;
        }
        after = last;
    }
    if candidates.is_empty() {
        return Ok(());
    }
    // Phase 2: under the write lock, what changed since, then the removal.
    let store = db.blob_store();
    db.with_write_lock(|conn| {
        let mut after = since as i64;
        loop {
            let (last, rows) = scan_page(conn, after, None, candidates)?;
            if rows == 0 || candidates.is_empty() {
                break;
            }
            after = last;
        }
        let now = SystemTime::now();
        for digest in candidates.iter() {
            let path = store.dir().join(digest.to_hex());
            // Written again since the listing (a save_blob in progress): keep.
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let fresh = meta
                .modified()
                .ok()
                .is_none_or(|m| now.duration_since(m).map_or(true, |age| age < grace));
            if fresh || !meta.is_file() {
                continue;
            }
            if std::fs::remove_file(&path).is_ok() {
                report.blobs_removed.push((*digest, meta.len()));
            }
        }
        Ok(())
    })?;
    report.blobs_removed.sort();
    Ok(())
}

/// Reads up to [`COMPACT_PAGE_ROWS`] documents after sequence `after` (up
/// to `until`), taking every digest their stored bodies name off
/// `candidates`. Returns the last sequence read and the rows read.
fn scan_page(
    conn: &rusqlite::Connection,
    after: i64,
    until: Option<i64>,
    candidates: &mut HashSet<BlobDigest>,
) -> Result<(i64, usize)> {
    let mut stmt =
        conn.prepare_cached("SELECT seq, id, body, tree FROM docs WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3")?;
    let mut rows = stmt.query(params![after, until.unwrap_or(i64::MAX), COMPACT_PAGE_ROWS as i64])?;
    let (mut last, mut count) = (after, 0);
    while let Some(row) = rows.next()? {
        count += 1;
        last = row.get(0)?;
        let body: String = row.get(2)?;
        let tree: Vec<u8> = row.get(3)?;
        let mut take = |d: BlobDigest| {
            candidates.remove(&d);
        };
        digests_named(&body, &mut take);
        if memchr_marker(&tree) {
            match decode_tree(&tree, &body) {
                Ok(tree) => {
                    for node in tree.nodes() {
                        if let Some(b) = &node.body {
                            digests_named(b, &mut take);
                        }
                    }
                }
                Err(why) => {
                    // A damaged row may still name blobs: keep every
                    // candidate rather than remove one it needs.
                    let id: String = row.get(1)?;
                    tracing::warn!(id = %id.escape_debug(), why = %why.escape_debug(), "compaction keeps every blob: a document row is damaged");
                    candidates.clear();
                }
            }
        }
    }
    Ok((last, count))
}

/// Whether the bytes contain a blob object's marker.
fn memchr_marker(bytes: &[u8]) -> bool {
    let marker = br#""@type":"blob""#;
    bytes.windows(marker.len()).any(|w| w == marker)
}
