//! Receiving a blob from a peer a chunk at a time, into
//! `.partial-<hex>`, resumable after a cut.
//!
//! Each chunk is hashed as it is written: the running SHA-256 of the bytes
//! held is kept in memory ([`RunningHash`]), so the last chunk finishes
//! the digest without reading the file back. The file is read back only
//! when that state is not trustworthy: a partial left by an earlier run (or
//! by another handle on the same database), or one whose change time,
//! inode or length is no longer what this store last wrote.
//!
//! Locks: one per partial file, not per store, so several blobs are
//! received at once and their fsyncs overlap. Within a store a mutex per
//! digest orders the calls; across handles and processes an exclusive
//! `flock` on the partial file, held for the length of each call, keeps
//! two writers apart. Every change of a partial file (truncate, append,
//! rename, removal after a bad chunk) happens under that `flock`, and the
//! rename checks that the path still names the file just verified.
//!
//! Publishing: a complete file is verified and handed, still open and
//! still a `.partial-<hex>`, to the set of verified blobs
//! ([`super::pending`]); it is fsynced and renamed to its digest with the
//! rest of its batch just before a revision naming one of them commits,
//! and the directory is synced once for the batch
//! ([`BlobStore::sync_published`]), so a revision never outlives its blob
//! in a crash and a batch of blobs waits on one journal commit, not one
//! per blob.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::seal;
use super::store::{io_error, BlobStore};
use super::{BlobDigest, BlobRef};
use crate::error::{BlobError, Result};
use crate::private_files;
use crate::tuning::{BLOB_IO_BUFFER_BYTES, MAX_BLOB_BYTES, MAX_RECEIVING_HASH_STATES};

/// The SHA-256 of the bytes a partial file held when this store last
/// wrote it, with that file kept open: an open file's inode is never
/// reused, so "the path still names this inode and it is `held` bytes
/// long" proves nobody else changed it (writers only append, and start
/// again only in a new file).
struct RunningHash {
    file: File,
    hasher: Sha256,
    held: u64,
}

/// One digest's slot: its lock, and its running hash when one is kept.
type Slot = Arc<Mutex<Option<RunningHash>>>;

/// The partial files of one store being received.
#[derive(Default)]
pub(crate) struct Receiving {
    slots: Mutex<HashMap<BlobDigest, Slot>>,
}

impl std::fmt::Debug for Receiving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiving").finish_non_exhaustive()
    }
}

impl Receiving {
    /// The slot of `digest`, made if needed. Past
    /// [`MAX_RECEIVING_HASH_STATES`] slots, the idle ones are forgotten
    /// (closing their files; their next chunk reads the file back once).
    fn slot(&self, digest: &BlobDigest) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if !slots.contains_key(digest) && slots.len() >= MAX_RECEIVING_HASH_STATES {
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        slots.entry(*digest).or_default().clone()
    }

    pub(super) fn forget(&self, digest: &BlobDigest) {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).remove(digest);
    }

    /// How many running hashes are kept.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .values()
            .filter(|s| s.lock().unwrap_or_else(|e| e.into_inner()).is_some())
            .count()
    }
}

/// An exclusive `flock` on an open file, released on drop (the file may
/// stay open, in a [`RunningHash`]).
pub(super) struct FileLock<'a>(&'a File);

impl<'a> FileLock<'a> {
    /// Waits for another writer's call to end, then locks.
    pub(super) fn take(file: &'a File) -> io::Result<FileLock<'a>> {
        #[cfg(unix)]
        rustix::fs::flock(file, rustix::fs::FlockOperation::LockExclusive)?;
        Ok(FileLock(file))
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        #[cfg(unix)]
        let _ = rustix::fs::flock(self.0, rustix::fs::FlockOperation::Unlock);
    }
}

/// Whether `path` names the file `file` is open on.
pub(super) fn names(path: &Path, file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::symlink_metadata(path), file.metadata()) {
            (Ok(a), Ok(b)) => a.is_file() && (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.is_file()
    }
}

/// The SHA-256 of the first `len` plain bytes of `file` (a partial file
/// this store did not write last, or a complete one it did not verify).
fn hash_prefix(mut file: &File, len: u64) -> io::Result<Sha256> {
    file.seek(SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BLOB_IO_BUFFER_BYTES.min(len as usize)];
    let mut reader = file.take(len);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hasher)
}

pub(super) fn open_read_write(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        options.custom_flags(i32::try_from(flags.bits()).unwrap_or(0));
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    Ok(file)
}

impl BlobStore {
    /// The SHA-256 of the first `held` plaintext bytes of a partial file
    /// read back: opened record by record if the store seals its files.
    pub(super) fn hash_held(&self, file: &File, held: u64) -> io::Result<Sha256> {
        match self.sealer() {
            Some(sealer) => seal::hash_plain(&sealer, file, held),
            None => hash_prefix(file, held),
        }
    }

    /// Where receiving `blob` resumes: its length if it is stored, the
    /// bytes of a partial file already received, or 0.
    pub(crate) fn receive_offset(&self, blob: &BlobRef) -> Result<u64> {
        check_receivable(blob)?;
        if self.contains(blob)? {
            return Ok(blob.length);
        }
        let partial = self.partial_path(&blob.digest);
        let meta = std::fs::symlink_metadata(&partial);
        let held = meta
            .as_ref()
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| self.held_in(m.len()));
        match meta {
            Ok(_) if held.is_some_and(|h| h <= blob.length) => Ok(held.unwrap_or(0)),
            Ok(_) => {
                let _ = std::fs::remove_file(&partial);
                Ok(0)
            }
            Err(_) => Ok(0),
        }
    }

    /// Appends a chunk received for `blob` at `offset` (which must be where
    /// the partial file ends; 0 starts it again); once all `blob.length`
    /// bytes are there, they are verified, and the blob becomes visible
    /// (fsynced, under its digest) with its batch when a revision naming it
    /// is stored ([`BlobStore::publish_for_revision`]). Returns the bytes held.
    ///
    /// # Errors
    /// [`BlobError::BadOffset`] if `offset` is not where the partial file
    /// ends; [`BlobError::LengthMismatch`] past the length, or
    /// [`BlobError::DigestMismatch`] at the end: the partial file is then
    /// removed, so the next attempt starts from zero.
    pub(crate) fn append_chunk(&self, blob: &BlobRef, offset: u64, bytes: &[u8]) -> Result<u64> {
        check_receivable(blob)?;
        let writing = self.writing();
        if self.contains(blob)? || self.is_verified(blob) {
            return Ok(blob.length);
        }
        self.ensure_dir()?;
        let slot = self.receiving.slot(&blob.digest);
        let mut running = slot.lock().unwrap_or_else(|e| e.into_inner());
        let mut verified = None;
        let result = self.append_locked(blob, offset, bytes, &mut running, &mut verified);
        let done = matches!(result, Ok(held) if held == blob.length)
            || matches!(
                result,
                Err(crate::Error::Blob(
                    BlobError::DigestMismatch { .. } | BlobError::LengthMismatch { .. }
                ))
            );
        if done || running.is_none() {
            *running = None;
            drop(running);
            self.receiving.forget(&blob.digest);
        }
        if let Some(file) = verified {
            self.hold_verified(blob, file, &writing)?;
        }
        result
    }

    fn append_locked(
        &self,
        blob: &BlobRef,
        offset: u64,
        bytes: &[u8],
        running: &mut Option<RunningHash>,
        verified: &mut Option<File>,
    ) -> Result<u64> {
        // Verified or published by another call while this one waited for
        // the lock.
        if self.contains(blob)? || self.is_verified(blob) {
            *running = None;
            return Ok(blob.length);
        }
        let partial = self.partial_path(&blob.digest);
        let (file, hasher) = if offset == 0 {
            *running = None;
            (self.restart_partial(&partial)?, Some(Sha256::new()))
        } else {
            match running.take() {
                Some(r) if r.held == offset && names(&partial, &r.file) => (r.file, Some(r.hasher)),
                _ => (
                    open_read_write(&partial).map_err(|e| match e.kind() {
                        io::ErrorKind::NotFound => BlobError::BadOffset {
                            digest: blob.digest.to_string(),
                            offset,
                            held: 0,
                        }
                        .into(),
                        _ => io_error("cannot open", &partial, &e),
                    })?,
                    None,
                ),
            }
        };
        let lock = FileLock::take(&file).map_err(|e| io_error("cannot lock", &partial, &e))?;
        let file_len = file
            .metadata()
            .map_err(|e| io_error("cannot read", &partial, &e))?
            .len();
        // A sealed partial torn mid-record (a crash) starts again from 0.
        let Some(held) = self.held_in(file_len) else {
            let _ = std::fs::remove_file(&partial);
            return Err(BlobError::BadOffset {
                digest: blob.digest.to_string(),
                offset,
                held: 0,
            }
            .into());
        };
        if held != offset {
            return Err(BlobError::BadOffset {
                digest: blob.digest.to_string(),
                offset,
                held,
            }
            .into());
        }
        let mut hasher = match hasher {
            Some(h) => h,
            None => self
                .hash_held(&file, offset)
                .map_err(|e| io_error("cannot read", &partial, &e))?,
        };
        let end = offset + bytes.len() as u64;
        if end > blob.length {
            let _ = std::fs::remove_file(&partial);
            return Err(BlobError::LengthMismatch {
                digest: blob.digest.to_string(),
                expected: blob.length,
                actual_at_least: end,
            }
            .into());
        }
        match self.sealer() {
            Some(sealer) => seal::append(&sealer, &file, offset, bytes, end == blob.length),
            None => (&file)
                .seek(SeekFrom::Start(offset))
                .and_then(|_| (&file).write_all(bytes)),
        }
        .map_err(|e| io_error("cannot write", &partial, &e))?;
        hasher.update(bytes);
        if end < blob.length {
            drop(lock);
            *running = Some(RunningHash {
                file,
                hasher,
                held: end,
            });
            return Ok(end);
        }
        let actual = BlobDigest::from_bytes(hasher.finalize().into());
        if actual != blob.digest {
            let _ = std::fs::remove_file(&partial);
            return Err(BlobError::DigestMismatch {
                expected: blob.digest.to_string(),
                actual: actual.to_string(),
            }
            .into());
        }
        // Under our lock no writer of this code replaces the file, but one
        // that started again before we locked left a new file at the path.
        if !names(&partial, &file) {
            return Err(BlobError::Io(format!("{} was replaced while it was received", partial.display())).into());
        }
        // Not fsynced nor renamed here: the file waits, verified, for the
        // batch it is published with (super::pending).
        drop(lock);
        *verified = Some(file);
        Ok(end)
    }

    /// Starts a partial file again, as a new file: an old one is locked
    /// (so no call on it is between its checks and its rename) and removed.
    fn restart_partial(&self, partial: &Path) -> Result<File> {
        match open_read_write(partial) {
            Ok(old) => {
                let _lock = FileLock::take(&old).map_err(|e| io_error("cannot lock", partial, &e))?;
                std::fs::remove_file(partial).map_err(|e| io_error("cannot remove", partial, &e))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // Not a file of ours (a link, a directory): out of the way.
            Err(_) => {
                let _ = std::fs::remove_file(partial);
            }
        }
        private_files::create_new(partial).map_err(|e| io_error("cannot create", partial, &e))
    }
}

fn check_receivable(blob: &BlobRef) -> Result<()> {
    if blob.length > MAX_BLOB_BYTES {
        return Err(BlobError::TooLarge { limit: MAX_BLOB_BYTES }.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::blob_of;
    use crate::{Database, DatabaseConfig};

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn a_received_blobs_name_is_synced_before_a_revision_naming_it_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("a.db"), DatabaseConfig::default()).unwrap();
        let photo = bytes(5000);
        let blob = blob_of(&photo);
        let store = db.blob_store();
        // A whole blob in one forged chunk: refused, nothing left behind.
        let mut forged = photo.clone();
        forged[10] ^= 1;
        let e = store.append_chunk(&blob, 0, &forged).unwrap_err();
        assert!(matches!(e, crate::Error::Blob(BlobError::DigestMismatch { .. })), "{e}");
        let files = || -> Vec<String> {
            std::fs::read_dir(store.dir())
                .map(|d| d.map(|e| e.unwrap().file_name().into_string().unwrap()).collect())
                .unwrap_or_default()
        };
        assert!(files().is_empty(), "{:?}", files());
        assert_eq!(store.append_chunk(&blob, 0, &photo).unwrap(), 5000);
        let partial = format!("{}{}", super::super::store::PARTIAL_PREFIX, blob.digest.to_hex());
        assert_eq!(files(), [partial], "verified, waiting for a revision");
        let body = serde_json::json!({ "photo": blob.to_json() }).to_string();
        db.default_collection().unwrap().save("child", None, &body).unwrap();
        assert_eq!(files(), [blob.digest.to_hex()], "no partial file left");
        assert!(!store.has_unsynced_names(), "synced before the revision committed");
    }

    #[test]
    fn a_partial_left_by_another_handle_is_hashed_again_and_a_stale_state_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let first = Database::open(&path, DatabaseConfig::default()).unwrap();
        let second = Database::open(&path, DatabaseConfig::default()).unwrap();
        let photo = bytes(30_000);
        let blob = blob_of(&photo);
        assert_eq!(
            first.blob_store().append_chunk(&blob, 0, &photo[..10_000]).unwrap(),
            10_000
        );
        assert_eq!(first.blob_store().receiving.kept(), 1);
        // The other handle starts again with forged bytes, then stops at
        // the length the first one holds.
        let mut forged = photo.clone();
        forged[5] ^= 1;
        assert_eq!(
            second.blob_store().append_chunk(&blob, 0, &forged[..10_000]).unwrap(),
            10_000
        );
        // The first handle's running hash is of the old file: it is not
        // used, the file is read back, and the forgery is caught.
        let e = first
            .blob_store()
            .append_chunk(&blob, 10_000, &photo[10_000..])
            .unwrap_err();
        assert!(matches!(e, crate::Error::Blob(BlobError::DigestMismatch { .. })), "{e}");
        assert!(!first.blob_store().contains(&blob).unwrap());
        // Honest bytes resumed from another handle's partial: read back and
        // verified.
        assert_eq!(
            first.blob_store().append_chunk(&blob, 0, &photo[..12_345]).unwrap(),
            12_345
        );
        assert_eq!(second.blob_store().receive_offset(&blob).unwrap(), 12_345);
        assert_eq!(
            second
                .blob_store()
                .append_chunk(&blob, 12_345, &photo[12_345..])
                .unwrap(),
            30_000
        );
        // Verified by the other handle, published by this one's revision.
        let body = serde_json::json!({ "photo": blob.to_json() }).to_string();
        first.default_collection().unwrap().save("child", None, &body).unwrap();
        let mut stored = Vec::new();
        first
            .blob_store()
            .open(&blob.digest)
            .unwrap()
            .read_to_end(&mut stored)
            .unwrap();
        assert_eq!(stored, photo);
        assert_eq!(
            second.blob_store().receiving.kept(),
            0,
            "a finished blob keeps no state"
        );
    }
}
