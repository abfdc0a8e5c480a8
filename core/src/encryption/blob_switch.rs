//! The blob directory's side of a key change: every blob file is sealed,
//! opened or sealed again into `<file>.blobs-rekey/` before the database
//! file is switched, and that directory is put in place of
//! `<file>.blobs/` after; the next open finishes or undoes a switch that a
//! crash interrupted.
//!
//! Order of a key change (`super::rekey`), and what a crash after each
//! step leaves:
//!
//! 1. the database is exported to `<file>.rekey` (with a fresh blob key);
//! 2. every blob is written into `<file>.blobs-rekey/` under that blob key
//!    (or plain), each file verified against its digest and synced, then
//!    the directory and its parent are synced;
//! 3. `<file>.rekey` is renamed over `<file>`: the commit point;
//! 4. `<file>.blobs` is renamed to `<file>.blobs-old`, `<file>.blobs-rekey`
//!    to `<file>.blobs`, and `<file>.blobs-old` is removed.
//!
//! A leftover `<file>.rekey` means the commit did not happen: the new blob
//! directory is removed (before the export, so that no crash can leave it
//! without the export that marks it uncommitted). A `<file>.blobs-rekey`
//! without `<file>.rekey` means it did: step 4 is finished.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::blob::seal::BlobSealer;
use crate::blob::store::BlobStore;
use crate::blob::{BlobDigest, BlobRef};
use crate::error::{Error, Result};
use crate::private_files;

/// The three directory names a switch uses for the database at a path.
struct Dirs {
    /// `<file>.blobs`: the blobs the database's key opens.
    current: PathBuf,
    /// `<file>.blobs-rekey`: the blobs under the key being switched to.
    next: PathBuf,
    /// `<file>.blobs-old`: the replaced blobs, until they are removed.
    old: PathBuf,
}

impl Dirs {
    fn of(db_path: &Path) -> Dirs {
        let with = |suffix: &str| {
            let mut name = db_path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        Dirs {
            current: with(".blobs"),
            next: with(".blobs-rekey"),
            old: with(".blobs-old"),
        }
    }
}

fn fail(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Encryption(format!("{what} {}: {e}", path.display()))
}

/// Whether something (not followed if a link) is at `path`.
fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Removes the directory tree at `dir` (a link there is removed, never
/// followed), if there is one.
fn remove_tree(dir: &Path) -> Result<()> {
    let removed = match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(dir),
        Ok(_) => std::fs::remove_file(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    removed.map_err(|e| fail("cannot remove", dir, &e))
}

fn sync_parent(path: &Path) -> Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => private_files::sync_dir(dir).map_err(|e| fail("cannot sync", dir, &e)),
        None => Ok(()),
    }
}

/// Writes every blob of `from` (read with its own sealer, each checked
/// against its digest) into a new `<db_path>.blobs-rekey/`, sealed with
/// `sealer` or plain for `None`, all synced to disk. Partial and temporary
/// files are left behind (a cut transfer starts again). Nothing to do if
/// the database has no blob directory.
///
/// # Errors
/// [`Error::Encryption`] if a directory cannot be made or synced, or a
/// blob error if a blob cannot be read whole (damaged, or not matching its
/// digest) or written: the caller then [`abandon`]s the switch.
pub(crate) fn prepare(db_path: &Path, from: &BlobStore, sealer: Option<Arc<BlobSealer>>) -> Result<()> {
    let dirs = Dirs::of(db_path);
    if !from.dir().is_dir() {
        return Ok(());
    }
    remove_tree(&dirs.next)?;
    private_files::create_dir(&dirs.next).map_err(|e| fail("cannot create", &dirs.next, &e))?;
    let next = BlobStore::at(dirs.next.clone());
    next.set_sealer(sealer);
    let entries = std::fs::read_dir(from.dir()).map_err(|e| fail("cannot list", from.dir(), &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| fail("cannot list", from.dir(), &e))?;
        let Some(digest) = entry.file_name().to_str().and_then(BlobDigest::from_hex) else {
            continue;
        };
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let reader = from.open(&digest)?;
        let blob = BlobRef {
            digest,
            length: reader.length(),
            content_type: None,
        };
        next.write(reader, Some(&blob))?;
    }
    private_files::sync_dir(&dirs.next).map_err(|e| fail("cannot sync", &dirs.next, &e))?;
    // The new directory's name is on disk before the commit that needs it.
    sync_parent(db_path)
}

/// Undoes a switch that was not committed: removes `<db_path>.blobs-rekey`.
/// Call it before the export (`<db_path>.rekey`) is removed.
pub(crate) fn abandon(db_path: &Path) -> Result<()> {
    let dirs = Dirs::of(db_path);
    if exists(&dirs.next) {
        remove_tree(&dirs.next)?;
        sync_parent(db_path)?;
    }
    Ok(())
}

/// Finishes a committed switch (step 4): puts `<db_path>.blobs-rekey` in
/// place of `<db_path>.blobs` and removes the replaced directory. Safe to
/// run again after a crash at any point of it, and a no-op when no switch
/// is pending.
///
/// # Errors
/// [`Error::Encryption`] if a rename, removal or sync fails.
pub(crate) fn complete(db_path: &Path) -> Result<()> {
    let dirs = Dirs::of(db_path);
    if exists(&dirs.next) {
        if exists(&dirs.current) {
            // An `old` left while `current` still exists is from an earlier,
            // finished switch.
            remove_tree(&dirs.old)?;
            std::fs::rename(&dirs.current, &dirs.old).map_err(|e| fail("cannot rename", &dirs.current, &e))?;
        }
        std::fs::rename(&dirs.next, &dirs.current).map_err(|e| fail("cannot rename", &dirs.next, &e))?;
        sync_parent(db_path)?;
        tracing::info!(dir = %dirs.current.display(), "blob files switched to the database's new key");
    }
    if exists(&dirs.old) {
        remove_tree(&dirs.old)?;
        sync_parent(db_path)?;
    }
    Ok(())
}
