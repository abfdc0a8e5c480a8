//! Received blobs that are verified but not yet durable, made durable a
//! batch at a time.
//!
//! A received blob whose bytes matched its digest waits as its complete
//! `.partial-<hex>` file, kept open in [`Verified`]: not fsynced, not under
//! its digest name, so nothing trusts it yet. Its writeback is started at
//! once ([`start_writeback`]). [`BlobStore::publish_verified`] (which the
//! writer calls before it commits a revision naming a blob, and the
//! receiver when the set reaches its bound) fsyncs every file of the set,
//! then renames each to its digest (under its `flock`, if the path still
//! names the verified file), leaving the directory sync to
//! [`BlobStore::sync_published`]. On a journalled file system the first
//! fsync commits the journal for every file whose writeback has started,
//! so a batch waits about one commit instead of one per blob.
//!
//! A complete partial this store does not know as verified (written by
//! another handle or process, or left by a crash) is read back and hashed
//! ([`BlobStore::adopt_partial`]) before it is published; one that does not
//! match its digest is removed, so the next pass fetches it again.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Mutex, RwLockReadGuard};

use sha2::Digest;

use super::receive::{names, open_read_write, FileLock};
use super::store::{io_error, BlobStore};
use super::{BlobDigest, BlobRef};
use crate::error::{BlobError, Result};
use crate::tuning::{MAX_VERIFIED_BLOBS, MAX_VERIFIED_BLOB_BYTES, PUBLISH_SYNC_THREADS};

/// The verified, not yet durable blobs of one store.
#[derive(Default)]
pub(crate) struct Verified {
    set: Mutex<VerifiedSet>,
    /// Held by a publication, so that once
    /// [`BlobStore::publish_verified`] returns, every blob verified before
    /// the call is published (or was dropped), not half-way in another
    /// thread's batch.
    publishing: Mutex<()>,
    /// Batches published (for tests: one per batch, not one per blob).
    #[cfg(test)]
    batches: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct VerifiedSet {
    /// Each blob's complete partial file, open (an open file's inode is
    /// never reused, so the path check before the rename is sound).
    files: HashMap<BlobDigest, File>,
    /// Their plaintext bytes.
    bytes: u64,
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified").finish_non_exhaustive()
    }
}

impl Verified {
    fn set(&self) -> std::sync::MutexGuard<'_, VerifiedSet> {
        self.set.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Asks the kernel to start writing `file`'s dirty pages back now, without
/// waiting: by the time the batch's first fsync runs, every file of the
/// batch has its blocks allocated in the journal transaction that fsync
/// commits. (`POSIX_FADV_DONTNEED` starts writeback of dirty pages and
/// drops only clean ones; rustix offers no `sync_file_range`.) Advice
/// only: an error changes nothing but speed.
fn start_writeback(file: &File) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = file;
}

impl BlobStore {
    /// Whether `blob` was received and verified by this store and waits,
    /// still as its partial file, to be published.
    pub(crate) fn is_verified(&self, blob: &BlobRef) -> bool {
        let set = self.verified.set();
        set.files
            .get(&blob.digest)
            .is_some_and(|file| names(&self.partial_path(&blob.digest), file))
    }

    /// Adds the complete, verified partial file of `blob` to the set
    /// waiting to be published; past [`MAX_VERIFIED_BLOBS`] or
    /// [`MAX_VERIFIED_BLOB_BYTES`], publishes the whole set now.
    pub(super) fn hold_verified(&self, blob: &BlobRef, file: File, writing: &RwLockReadGuard<'_, ()>) -> Result<()> {
        start_writeback(&file);
        let full = {
            let mut set = self.verified.set();
            if set.files.insert(blob.digest, file).is_none() {
                set.bytes += blob.length;
            }
            set.files.len() >= MAX_VERIFIED_BLOBS || set.bytes >= MAX_VERIFIED_BLOB_BYTES
        };
        if full {
            self.publish_verified(writing)?;
        }
        Ok(())
    }

    /// Makes every verified blob durable and visible: fsyncs each file,
    /// then renames it to its digest (the directory sync is left to
    /// [`BlobStore::sync_published`]). Called holding the directory's write
    /// guard, so no key change is converting it.
    ///
    /// # Errors
    /// [`crate::BlobError::Io`] if a file cannot be synced or renamed; the
    /// blobs of the batch not yet published stay as complete partial files
    /// (found again by [`BlobStore::adopt_partial`]).
    pub(super) fn publish_verified(&self, _writing: &RwLockReadGuard<'_, ()>) -> Result<()> {
        let _publishing = self.verified.publishing.lock().unwrap_or_else(|e| e.into_inner());
        let batch: Vec<(BlobDigest, File)> = {
            let mut set = self.verified.set();
            set.bytes = 0;
            set.files.drain().collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        // All the fsyncs before any rename: the first to run waits on the
        // journal commit, which covers the whole batch (their writeback
        // started when each was verified); the others then wait only for
        // a disk cache flush.
        self.sync_all_of(&batch)?;
        for (digest, file) in &batch {
            let partial = self.partial_path(digest);
            let _lock = FileLock::take(file).map_err(|e| io_error("cannot lock", &partial, &e))?;
            // Replaced or removed meanwhile (a transfer started again, a
            // key change, compaction): not published; a revision naming
            // it is refused and the next pass fetches it again.
            if names(&partial, file) {
                self.publish_pending(&partial, digest)?;
            }
        }
        #[cfg(test)]
        self.verified.batches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Fsyncs every file of `batch`, on up to [`PUBLISH_SYNC_THREADS`]
    /// threads at once: once the first fsync has committed the journal,
    /// each of the others still waits for a disk cache flush, and the block
    /// layer merges flushes that wait together. Falls back to this thread
    /// if no thread can be started.
    fn sync_all_of(&self, batch: &[(BlobDigest, File)]) -> Result<()> {
        let sync = |part: &[(BlobDigest, File)]| -> Result<()> {
            for (digest, file) in part {
                file.sync_all()
                    .map_err(|e| io_error("cannot sync", &self.partial_path(digest), &e))?;
            }
            Ok(())
        };
        let threads = PUBLISH_SYNC_THREADS.min(batch.len());
        if threads <= 1 {
            return sync(batch);
        }
        std::thread::scope(|scope| {
            let mut running = Vec::with_capacity(threads);
            for part in batch.chunks(batch.len().div_ceil(threads)) {
                match std::thread::Builder::new().spawn_scoped(scope, move || sync(part)) {
                    Ok(handle) => running.push(handle),
                    Err(_) => sync(part)?,
                }
            }
            for handle in running {
                handle
                    .join()
                    .map_err(|_| BlobError::Io("a thread syncing blob files panicked".into()))??;
            }
            Ok(())
        })
    }

    /// Whether `blob` is stored, publishing it first if it was received and
    /// verified (with the rest of its batch), or if a complete partial file
    /// of it that this store did not verify proves to hold its bytes. Called
    /// by the writer inside its transaction, before a revision naming
    /// `blob` is stored; the caller syncs the directory
    /// ([`BlobStore::sync_published`]) before it commits.
    ///
    /// # Errors
    /// [`crate::BlobError::Io`] if a file cannot be read, synced or
    /// renamed.
    pub(crate) fn publish_for_revision(&self, blob: &BlobRef) -> Result<bool> {
        if self.contains(blob)? {
            return Ok(true);
        }
        let writing = self.writing();
        self.publish_verified(&writing)?;
        if self.contains(blob)? {
            return Ok(true);
        }
        self.adopt_partial(blob)?;
        self.contains(blob)
    }

    /// Publishes a complete partial file of `blob` that this store did not
    /// verify (another handle's or process's, or one a crash left): read
    /// back and hashed, then fsynced and renamed; removed if its bytes do
    /// not match. A partial that is not complete is left to its transfer.
    /// Call with the directory's write guard held.
    fn adopt_partial(&self, blob: &BlobRef) -> Result<()> {
        let partial = self.partial_path(&blob.digest);
        let Ok(file) = open_read_write(&partial) else {
            return Ok(());
        };
        let _lock = FileLock::take(&file).map_err(|e| io_error("cannot lock", &partial, &e))?;
        let len = file
            .metadata()
            .map_err(|e| io_error("cannot read", &partial, &e))?
            .len();
        if !names(&partial, &file) || len != self.stored_len(blob.length) {
            return Ok(());
        }
        let hashed = self.hash_held(&file, blob.length);
        let matches = match hashed {
            Ok(hasher) => BlobDigest::from_bytes(hasher.finalize().into()) == blob.digest,
            // A sealed record that does not open: not this blob's bytes.
            Err(e) if e.kind() == io::ErrorKind::InvalidData => false,
            Err(e) => return Err(io_error("cannot read", &partial, &e)),
        };
        if !matches {
            tracing::warn!(digest = %blob.digest, "a complete partial blob file did not match its digest; removed");
            let _ = std::fs::remove_file(&partial);
            return Ok(());
        }
        file.sync_all().map_err(|e| io_error("cannot sync", &partial, &e))?;
        self.publish_pending(&partial, &blob.digest)
    }

    /// Removes the partial file at `path` (of `digest`) for compaction,
    /// unless it is a verified blob waiting to be published or a call
    /// holds its lock. Returns whether it was removed.
    pub(super) fn remove_idle_partial(&self, path: &Path, digest: Option<BlobDigest>) -> bool {
        if digest.is_some_and(|d| self.verified.set().files.contains_key(&d)) {
            return false;
        }
        let Ok(file) = open_read_write(path) else {
            return false;
        };
        #[cfg(unix)]
        if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
            return false;
        }
        names(path, &file) && std::fs::remove_file(path).is_ok()
    }

    /// Drops the set of verified blobs (a key change replaced the directory
    /// their partial files were in).
    pub(crate) fn forget_verified(&self) {
        let mut set = self.verified.set();
        set.files.clear();
        set.bytes = 0;
    }

    /// How many batches of verified blobs were published.
    #[cfg(test)]
    pub(crate) fn verified_batches(&self) -> u64 {
        self.verified.batches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use crate::blob::{blob_of, BlobDigest, BlobRef};
    use crate::error::BlobError;
    use crate::tuning::MAX_VERIFIED_BLOBS;
    use crate::{Database, DatabaseConfig, EncryptionKey, Error};

    fn photo(seed: usize, n: usize) -> Vec<u8> {
        (0..n).map(|i| ((i * 7 + seed * 13) % 251) as u8).collect()
    }

    fn names_in(db: &Database) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(db.blob_dir())
            .map(|d| d.map(|e| e.unwrap().file_name().into_string().unwrap()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    fn body_naming(blob: &BlobRef) -> String {
        serde_json::json!({ "photo": blob.to_json() }).to_string()
    }

    fn read_all(db: &Database, blob: &BlobRef) -> Vec<u8> {
        let mut bytes = Vec::new();
        db.blob_store()
            .open(&blob.digest)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        bytes
    }

    fn configs() -> [DatabaseConfig; 2] {
        let sealed = DatabaseConfig {
            encryption_key: Some(EncryptionKey::generate().unwrap()),
            ..DatabaseConfig::default()
        };
        [DatabaseConfig::default(), sealed]
    }

    #[test]
    fn received_blobs_wait_as_partials_and_are_published_as_one_batch_when_a_revision_names_them() {
        for config in configs() {
            let dir = tempfile::tempdir().unwrap();
            let db = Database::open(dir.path().join("a.db"), config).unwrap();
            let store = db.blob_store();
            let photos: Vec<Vec<u8>> = (0..5).map(|i| photo(i, 70_000 + i)).collect();
            let blobs: Vec<BlobRef> = photos.iter().map(|p| blob_of(p)).collect();
            for (bytes, blob) in photos.iter().zip(&blobs) {
                assert_eq!(store.append_chunk(blob, 0, &bytes[..30_000]).unwrap(), 30_000);
                assert_eq!(store.append_chunk(blob, 30_000, &bytes[30_000..]).unwrap(), blob.length);
            }
            // Verified, but neither fsynced nor under a digest name.
            let partials: Vec<String> = names_in(&db);
            assert_eq!(partials.len(), 5, "{partials:?}");
            assert!(partials.iter().all(|n| n.starts_with(".partial-")), "{partials:?}");
            for blob in &blobs {
                assert!(!store.contains(blob).unwrap());
                assert!(store.is_verified(blob));
                // A pass that asks again moves no bytes.
                assert_eq!(store.receive_offset(blob).unwrap(), blob.length);
                assert_eq!(store.append_chunk(blob, 0, b"").unwrap(), blob.length);
            }
            assert_eq!(store.verified_batches(), 0);
            let people = db.default_collection().unwrap();
            db.batch(|b| {
                for (i, blob) in blobs.iter().enumerate() {
                    b.save(&people, &format!("child-{i}"), None, &body_naming(blob))?;
                }
                Ok(())
            })
            .unwrap();
            assert_eq!(store.verified_batches(), 1, "one publication for the batch");
            assert!(
                !store.has_unsynced_names(),
                "the directory was synced before the commit"
            );
            let mut hex: Vec<String> = blobs.iter().map(|b| b.digest.to_hex()).collect();
            hex.sort();
            assert_eq!(names_in(&db), hex, "every blob under its digest, no partial left");
            for (bytes, blob) in photos.iter().zip(&blobs) {
                assert_eq!(&read_all(&db, blob), bytes);
            }
        }
    }

    #[test]
    fn a_full_set_of_verified_blobs_is_published_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("a.db"), DatabaseConfig::default()).unwrap();
        let store = db.blob_store();
        let blobs: Vec<BlobRef> = (0..MAX_VERIFIED_BLOBS + 1)
            .map(|i| {
                let bytes = format!("photo {i}").into_bytes();
                let blob = blob_of(&bytes);
                store.append_chunk(&blob, 0, &bytes).unwrap();
                blob
            })
            .collect();
        assert_eq!(store.verified_batches(), 1);
        assert!(blobs[..MAX_VERIFIED_BLOBS].iter().all(|b| store.contains(b).unwrap()));
        assert!(
            !store.contains(&blobs[MAX_VERIFIED_BLOBS]).unwrap(),
            "the next set waits"
        );
    }

    #[test]
    fn a_complete_partial_another_handle_verified_is_checked_and_published_and_a_forged_one_removed() {
        for config in configs() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("a.db");
            let first = Database::open(&path, config.clone()).unwrap();
            let second = Database::open(&path, config).unwrap();
            let bytes = photo(1, 150_000);
            let blob = blob_of(&bytes);
            // Received and verified by the other handle, which stops there.
            second.blob_store().append_chunk(&blob, 0, &bytes).unwrap();
            assert!(!first.blob_store().is_verified(&blob));
            assert_eq!(first.blob_store().receive_offset(&blob).unwrap(), blob.length);
            let docs = first.default_collection().unwrap();
            docs.save("child", None, &body_naming(&blob)).unwrap();
            assert_eq!(read_all(&first, &blob), bytes);
            assert_eq!(
                first.blob_store().verified_batches(),
                0,
                "read back, not known as verified"
            );
            // The other handle's own publication finds it gone and is fine.
            second
                .default_collection()
                .unwrap()
                .save("other", None, &body_naming(&blob))
                .unwrap();

            // A full-length partial of the wrong bytes (a forgery, or
            // another writer's unverified file): refused, and removed so
            // the next pass fetches the blob again.
            let forged_bytes = photo(2, 150_000);
            let claimed = BlobRef {
                digest: BlobDigest::of_bytes(&photo(3, 150_000)),
                length: 150_000,
                content_type: None,
            };
            second
                .blob_store()
                .append_chunk(&claimed, 0, &forged_bytes[..100])
                .unwrap();
            let partial = second.blob_store().partial_path(&claimed.digest);
            let mut file = std::fs::OpenOptions::new().write(true).open(&partial).unwrap();
            file.set_len(0).unwrap();
            let forged_len = first.blob_store().stored_len(claimed.length) as usize;
            file.write_all(&photo(2, forged_len)).unwrap();
            drop(file);
            assert_eq!(first.blob_store().receive_offset(&claimed).unwrap(), claimed.length);
            let e = docs.save("forged", None, &body_naming(&claimed)).unwrap_err();
            assert!(matches!(e, Error::Blob(BlobError::Missing { .. })), "{e}");
            assert!(!partial.exists(), "the forged partial is removed");
            assert_eq!(first.blob_store().receive_offset(&claimed).unwrap(), 0);
        }
    }

    #[test]
    fn compaction_keeps_a_verified_blob_waiting_to_be_published() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("a.db"), DatabaseConfig::default()).unwrap();
        let store = db.blob_store();
        let bytes = photo(4, 10_000);
        let blob = blob_of(&bytes);
        store.append_chunk(&blob, 0, &bytes).unwrap();
        // As old as an abandoned transfer.
        let partial = store.partial_path(&blob.digest);
        let long_ago = std::time::SystemTime::now() - crate::tuning::BLOB_PARTIAL_MAX_AGE * 2;
        std::fs::File::options()
            .write(true)
            .open(&partial)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let report = db.compact_with_grace(std::time::Duration::ZERO).unwrap();
        assert_eq!(report.partial_files_removed, 0);
        db.default_collection()
            .unwrap()
            .save("child", None, &body_naming(&blob))
            .unwrap();
        assert_eq!(read_all(&db, &blob), bytes);
    }
}
