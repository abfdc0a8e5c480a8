//! `BlobStore`: the directory of blob files beside a database
//! (`camp.db.blobs/`, mode 0700), each file (0600) named by the hex SHA-256
//! of its bytes.
//!
//! Writes stream from a reader into a temporary file with an unpredictable
//! name (`O_CREAT | O_EXCL | O_NOFOLLOW`), hashing as they go; the file is
//! fsynced, checked against the expected digest and length, renamed to its
//! digest and the directory fsynced. A file under a digest name is
//! therefore always complete, verified and fsynced. Receiving from a peer
//! ([`super::receive`]) appends chunks to `.partial-<hex>` and verifies the
//! whole, so a cut transfer resumes from the bytes already received; the
//! fsync and rename of received blobs wait for the batch they are
//! published with ([`super::pending`]), and their directory syncs are
//! folded into one per batch of revisions ([`BlobStore::sync_published`]).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use sha2::{Digest, Sha256};

use super::pending::Verified;
use super::receive::Receiving;
use super::seal::{self, BlobSealer, SealWriter, SealedReader};
use super::{BlobDigest, BlobRef};
use crate::error::{BlobError, Error, InvalidInput, Result};
use crate::private_files;
use crate::tuning::{BLOB_IO_BUFFER_BYTES, MAX_BLOB_BYTES, MAX_BLOB_CHUNK_BYTES, TEMP_NAME_RANDOM_BYTES};

/// Prefix of temporary files of writes in progress (or left by a crash).
pub(crate) const TEMP_PREFIX: &str = ".tmp-";
/// Prefix of partly received blobs.
pub(crate) const PARTIAL_PREFIX: &str = ".partial-";

/// The blob directory of one database.
#[derive(Debug)]
pub(crate) struct BlobStore {
    dir: PathBuf,
    /// Partial files being received, each under its own lock.
    pub(super) receiving: Receiving,
    /// Received blobs verified but not yet fsynced nor renamed.
    pub(super) verified: Verified,
    /// Renames into digest names so far, and how many of them a directory
    /// sync has made durable (see [`BlobStore::sync_published`]).
    published: AtomicU64,
    synced: AtomicU64,
    /// The sealer of an encrypted database's blob files; `None`: plain files.
    sealer: RwLock<Option<Arc<BlobSealer>>>,
    /// Held shared by every write into the directory, and exclusively by a
    /// key change while it converts the directory, so that no blob is
    /// written into the directory being replaced.
    writes: RwLock<()>,
}

/// A blob opened for reading: [`Read`] and [`Seek`] over the file, so
/// large blobs stream.
/// In an encrypted database the reader opens each sealed record as it
/// reaches it; a damaged record is an [`io::ErrorKind::InvalidData`] error.
pub struct BlobReader {
    inner: ReaderKind,
    length: u64,
}

enum ReaderKind {
    Plain(File),
    Sealed(Box<SealedReader>),
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

impl BlobReader {
    /// The blob's length in bytes.
    pub fn length(&self) -> u64 {
        self.length
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            ReaderKind::Plain(file) => file.read(buf),
            ReaderKind::Sealed(sealed) => sealed.read(buf),
        }
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match &mut self.inner {
            ReaderKind::Plain(file) => file.seek(pos),
            ReaderKind::Sealed(sealed) => sealed.seek(pos),
        }
    }
}

pub(crate) fn io_error(what: &str, path: &Path, e: &io::Error) -> Error {
    BlobError::Io(format!("{what} {}: {e}", path.display())).into()
}

/// Removes a temporary file on drop unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl BlobStore {
    /// The store of the database file `db_path` (`<db_path>.blobs`).
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] if something other than a directory (a
    /// symbolic link, a file) is at that path.
    pub(crate) fn for_database(db_path: &Path) -> Result<BlobStore> {
        let mut name = db_path.as_os_str().to_owned();
        name.push(".blobs");
        let dir = PathBuf::from(name);
        if let Ok(meta) = std::fs::symlink_metadata(&dir) {
            if !meta.is_dir() {
                return Err(InvalidInput::BadConfig(format!(
                    "{} is not a directory (a symbolic link or a file); blobs are never stored through links",
                    dir.display()
                ))
                .into());
            }
        }
        Ok(BlobStore::at(dir))
    }

    /// The store of the directory `dir` (not checked), writing plain files
    /// until [`BlobStore::set_sealer`].
    pub(crate) fn at(dir: PathBuf) -> BlobStore {
        BlobStore {
            dir,
            receiving: Receiving::default(),
            verified: Verified::default(),
            published: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            sealer: RwLock::new(None),
            writes: RwLock::new(()),
        }
    }

    /// Shared while a write into the directory runs (see
    /// [`BlobStore::hold_writes`]).
    pub(super) fn writing(&self) -> RwLockReadGuard<'_, ()> {
        self.writes.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the writes in progress to end and holds off new ones until
    /// the guard is dropped (a key change converting the directory).
    pub(crate) fn hold_writes(&self) -> RwLockWriteGuard<'_, ()> {
        self.writes.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Seals blob files written from now on with `sealer` (an encrypted
    /// database), or writes them plain (`None`).
    pub(crate) fn set_sealer(&self, sealer: Option<Arc<BlobSealer>>) {
        *self.sealer.write().unwrap_or_else(|e| e.into_inner()) = sealer;
    }

    /// The sealer, if blob files are sealed.
    pub(crate) fn sealer(&self) -> Option<Arc<BlobSealer>> {
        self.sealer.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The plaintext bytes a (partial) file of `file_len` bytes holds;
    /// `None` for a sealed file torn mid-record.
    pub(super) fn held_in(&self, file_len: u64) -> Option<u64> {
        match self.sealer() {
            Some(_) => seal::plain_len(file_len),
            None => Some(file_len),
        }
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, digest: &BlobDigest) -> PathBuf {
        self.dir.join(digest.to_hex())
    }

    pub(super) fn partial_path(&self, digest: &BlobDigest) -> PathBuf {
        self.dir.join(format!("{PARTIAL_PREFIX}{}", digest.to_hex()))
    }

    pub(super) fn ensure_dir(&self) -> Result<()> {
        private_files::create_dir(&self.dir).map_err(|e| io_error("cannot create", &self.dir, &e))
    }

    /// The size of the file of a complete blob of `length` bytes.
    pub(super) fn stored_len(&self, length: u64) -> u64 {
        match self.sealer() {
            Some(_) => seal::sealed_len(length, true),
            None => length,
        }
    }

    /// Whether the blob is stored with this length (under its digest name:
    /// a received blob waiting to be published is not, see
    /// [`BlobStore::publish_for_revision`]).
    pub(crate) fn contains(&self, blob: &BlobRef) -> Result<bool> {
        match std::fs::symlink_metadata(self.path_of(&blob.digest)) {
            Ok(meta) => Ok(meta.is_file() && meta.len() == self.stored_len(blob.length)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("cannot read", &self.path_of(&blob.digest), &e)),
        }
    }

    /// Streams `reader` into the store; returns the digest and length. With
    /// `expected`, the bytes must have that digest and length.
    ///
    /// # Errors
    /// [`BlobError::TooLarge`] past [`MAX_BLOB_BYTES`],
    /// [`BlobError::DigestMismatch`], [`BlobError::LengthMismatch`],
    /// [`BlobError::Io`]. Nothing is stored on error (the temporary file is
    /// removed).
    pub(crate) fn write(&self, mut reader: impl Read, expected: Option<&BlobRef>) -> Result<(BlobDigest, u64)> {
        let _writing = self.writing();
        self.ensure_dir()?;
        let (temp, file) = self.create_temp()?;
        let mut guard = TempGuard(Some(temp.clone()));
        let mut hasher = Sha256::new();
        let mut length: u64 = 0;
        let mut buf = vec![0u8; BLOB_IO_BUFFER_BYTES];
        let sealer = self.sealer();
        let mut sealing = match &sealer {
            Some(sealer) => Some(SealWriter::new(sealer, &file).map_err(|e| io_error("cannot write", &temp, &e))?),
            None => None,
        };
        let limit = expected.map_or(MAX_BLOB_BYTES, |e| e.length.min(MAX_BLOB_BYTES));
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(BlobError::Io(format!("reading the blob's bytes: {e}")).into()),
            };
            length += n as u64;
            if length > limit {
                return Err(match expected {
                    Some(e) if length <= MAX_BLOB_BYTES => BlobError::LengthMismatch {
                        digest: e.digest.to_string(),
                        expected: e.length,
                        actual_at_least: length,
                    },
                    _ => BlobError::TooLarge { limit: MAX_BLOB_BYTES },
                }
                .into());
            }
            hasher.update(&buf[..n]);
            match &mut sealing {
                Some(sealing) => sealing.write_all(&buf[..n]),
                None => (&file).write_all(&buf[..n]),
            }
            .map_err(|e| io_error("cannot write", &temp, &e))?;
        }
        if let Some(sealing) = sealing {
            sealing.finish().map_err(|e| io_error("cannot write", &temp, &e))?;
        }
        let digest = BlobDigest::from_bytes(hasher.finalize().into());
        if let Some(e) = expected {
            if length != e.length {
                return Err(BlobError::LengthMismatch {
                    digest: e.digest.to_string(),
                    expected: e.length,
                    actual_at_least: length,
                }
                .into());
            }
            if digest != e.digest {
                return Err(BlobError::DigestMismatch {
                    expected: e.digest.to_string(),
                    actual: digest.to_string(),
                }
                .into());
            }
        }
        file.sync_all().map_err(|e| io_error("cannot sync", &temp, &e))?;
        drop(file);
        self.publish(&temp, &digest)?;
        guard.0 = None;
        Ok((digest, length))
    }

    /// Renames a verified file to its digest's name and syncs the directory.
    /// Replacing an existing copy (same bytes) refreshes its age, which
    /// compaction's grace period counts from.
    fn publish(&self, from: &Path, digest: &BlobDigest) -> Result<()> {
        self.publish_pending(from, digest)?;
        self.sync_published()
    }

    /// Renames a verified, fsynced file to its digest's name, leaving the
    /// directory sync to [`BlobStore::sync_published`]: the blob is visible
    /// at once, and durable once that sync has run.
    pub(super) fn publish_pending(&self, from: &Path, digest: &BlobDigest) -> Result<()> {
        let to = self.path_of(digest);
        std::fs::rename(from, &to).map_err(|e| io_error("cannot rename into", &to, &e))?;
        self.published.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Makes every rename into a digest name so far durable: syncs the
    /// directory once if any is not yet. The writer calls it before it
    /// commits a revision naming a blob, so however many blobs a batch
    /// received, their names cost one directory sync, and a crash never
    /// leaves a stored revision whose blob's name was lost.
    ///
    /// # Errors
    /// [`BlobError::Io`] if the directory cannot be synced.
    pub(crate) fn sync_published(&self) -> Result<()> {
        let published = self.published.load(Ordering::SeqCst);
        if self.synced.load(Ordering::SeqCst) >= published {
            return Ok(());
        }
        private_files::sync_dir(&self.dir).map_err(|e| io_error("cannot sync", &self.dir, &e))?;
        self.synced.fetch_max(published, Ordering::SeqCst);
        Ok(())
    }

    /// Whether a rename into a digest name still waits for its directory
    /// sync.
    #[cfg(test)]
    pub(crate) fn has_unsynced_names(&self) -> bool {
        self.synced.load(Ordering::SeqCst) < self.published.load(Ordering::SeqCst)
    }

    fn create_temp(&self) -> Result<(PathBuf, File)> {
        use ring::rand::SecureRandom;
        let mut random = [0u8; TEMP_NAME_RANDOM_BYTES];
        ring::rand::SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| BlobError::Io("no system randomness".into()))?;
        let temp = self.dir.join(format!("{TEMP_PREFIX}{}", hex::encode(random)));
        let file = private_files::create_new(&temp).map_err(|e| io_error("cannot create", &temp, &e))?;
        Ok((temp, file))
    }

    /// Opens a stored blob.
    ///
    /// # Errors
    /// [`BlobError::Missing`] if it is not stored.
    pub(crate) fn open(&self, digest: &BlobDigest) -> Result<BlobReader> {
        let path = self.path_of(digest);
        let file = match private_files::open_no_follow(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(BlobError::Missing {
                    digest: digest.to_string(),
                }
                .into())
            }
            Err(e) => return Err(io_error("cannot open", &path, &e)),
        };
        let meta = file.metadata().map_err(|e| io_error("cannot read", &path, &e))?;
        if !meta.is_file() {
            return Err(io_error(
                "not a file:",
                &path,
                &io::Error::from(io::ErrorKind::InvalidInput),
            ));
        }
        match self.sealer() {
            Some(sealer) => {
                let sealed = SealedReader::new(&sealer, file).map_err(|e| io_error("cannot read", &path, &e))?;
                Ok(BlobReader {
                    length: sealed.length(),
                    inner: ReaderKind::Sealed(Box::new(sealed)),
                })
            }
            None => Ok(BlobReader {
                inner: ReaderKind::Plain(file),
                length: meta.len(),
            }),
        }
    }

    /// At most `max_len` bytes (capped at [`MAX_BLOB_CHUNK_BYTES`]) of a
    /// blob from `offset`; empty at or past the end.
    pub(crate) fn read_chunk(&self, digest: &BlobDigest, offset: u64, max_len: usize) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_chunk_into(digest, offset, max_len, &mut out)?;
        Ok(out)
    }

    /// [`Self::read_chunk`], appended to `out` (whose bytes before stay:
    /// room for a frame's header, say). A plain file is read straight into
    /// `out`'s spare capacity; through [`BlobReader`] it would first be
    /// zeroed (its `Read` has only `read`), a memset per chunk.
    pub(crate) fn read_chunk_into(
        &self,
        digest: &BlobDigest,
        offset: u64,
        max_len: usize,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut reader = self.open(digest)?;
        if offset >= reader.length {
            return Ok(());
        }
        let want = (max_len.min(MAX_BLOB_CHUNK_BYTES) as u64).min(reader.length - offset);
        let path = self.path_of(digest);
        reader
            .seek(SeekFrom::Start(offset))
            .map_err(|e| io_error("cannot seek", &path, &e))?;
        out.reserve_exact(want as usize);
        let read = match &mut reader.inner {
            ReaderKind::Plain(file) => Read::take(&mut *file, want).read_to_end(out),
            ReaderKind::Sealed(sealed) => Read::take(&mut **sealed, want).read_to_end(out),
        };
        read.map_err(|e| io_error("cannot read", &path, &e))?;
        Ok(())
    }
}
