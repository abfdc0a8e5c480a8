//! Crash-safe encryption, re-keying and decryption of a database file and
//! its blob files.
//!
//! The database is exported under the new key into `<file>.rekey`, which
//! is synced; the blob files are converted into a new directory
//! ([`super::blob_switch`]); then the export is renamed over the file. The
//! rename is the commit point: before it the old file and blobs are whole
//! (and the next open removes the leftovers), after it the new file is,
//! and the next open finishes putting the new blob directory in place. An
//! in-place `PRAGMA rekey` is never used, since a crash in it could leave
//! pages under two keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};

use super::{blob_switch, sqlcipher, EncryptionKey};
use crate::blob::seal::BlobSealer;
use crate::blob::store::BlobStore;
use crate::error::{Error, Result};
use crate::private_files;
use crate::tuning::BUSY_TIMEOUT_MS;

/// Suffix of the file a re-key writes before renaming it over the database.
const REKEY_SUFFIX: &str = ".rekey";

/// A path beside `path` with `suffix` appended.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Finishes what an interrupted key change of `path` left: before its
/// commit, removes the new blob directory and then the unfinished export
/// (and its journal); after it, puts the new blob directory in place.
pub(crate) fn finish_interrupted(path: &Path) -> Result<()> {
    let export = with_suffix(path, REKEY_SUFFIX);
    if std::fs::symlink_metadata(&export).is_err() {
        return blob_switch::complete(path);
    }
    blob_switch::abandon(path)?;
    for leftover in [export, with_suffix(path, ".rekey-journal")] {
        match std::fs::remove_file(&leftover) {
            Ok(()) => tracing::info!(path = %leftover.display(), "removed the leftover of an interrupted re-key"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Encryption(format!("cannot remove {}: {e}", leftover.display()))),
        }
    }
    Ok(())
}

/// Re-keys the database at `path` behind the connection in `slot` to
/// `new_key` (plain for `None`), with its blob files in `blobs`: sealed
/// under a fresh blob key, or plain. The connection is closed (and `slot`
/// left empty) once the export is written; a failure before that leaves
/// it open and usable in `slot`. No blob may be written into `blobs`
/// meanwhile ([`BlobStore::hold_writes`]).
pub(crate) fn change_key(
    slot: &mut Option<Connection>,
    path: &Path,
    new_key: Option<&EncryptionKey>,
    blobs: &BlobStore,
) -> Result<()> {
    let conn = slot.as_ref().ok_or(Error::Closed)?;
    let blob_key = new_key.map(|_| EncryptionKey::generate()).transpose()?;
    let prepared = export_locked(conn, path, new_key, blob_key.as_ref()).and_then(|()| {
        let sealer = blob_key.as_ref().map(|k| Arc::new(BlobSealer::new(k.as_array())));
        blob_switch::prepare(path, blobs, sealer)
    });
    if let Err(e) = prepared {
        finish_interrupted(path).ok();
        release_lock(conn);
        return Err(e);
    }
    let conn = slot.take().ok_or(Error::Closed)?;
    let export = with_suffix(path, REKEY_SUFFIX);
    let fail = |e: Error| {
        finish_interrupted(path).ok();
        e
    };
    conn.close().map_err(|(_, e)| fail(e.into()))?;
    // The last close checkpointed the WAL into the file and removed it; a
    // WAL still holding frames means it could not, and the export is
    // dropped rather than the frames.
    let wal = with_suffix(path, "-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        return Err(fail(Error::Encryption(
            "the write-ahead log could not be checkpointed; the key was not changed".into(),
        )));
    }
    for companion in [wal, with_suffix(path, "-shm")] {
        std::fs::remove_file(&companion).ok();
    }
    std::fs::rename(&export, path)
        .map_err(|e| fail(Error::Encryption(format!("cannot replace {}: {e}", path.display()))))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_files::sync_dir(dir).map_err(|e| Error::Encryption(format!("cannot sync {}: {e}", dir.display())))?;
    }
    blob_switch::complete(path)
}

/// Takes the file's exclusive lock (so no other connection has it open),
/// checkpoints the WAL, and exports the database to `<path>.rekey`.
fn export_locked(
    conn: &Connection,
    path: &Path,
    new_key: Option<&EncryptionKey>,
    blob_key: Option<&EncryptionKey>,
) -> Result<()> {
    finish_interrupted(path)?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    // Waiting would only delay the same answer: fail at once if busy.
    conn.busy_timeout(Duration::ZERO)?;
    let locked = conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;");
    conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
    match locked {
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
            return Err(Error::Encryption(
                "another connection has the database open; close it (and stop any hub serving it) first".into(),
            ))
        }
        other => other?,
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    sqlcipher::export_to(conn, &with_suffix(path, REKEY_SUFFIX), new_key, blob_key)
}

/// Goes back to normal locking after a failed re-key, so other
/// connections can open the file again.
fn release_lock(conn: &Connection) {
    conn.execute_batch("ROLLBACK").ok();
    conn.pragma_update(None, "locking_mode", "NORMAL").ok();
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .ok();
}
