//! Sealed blobs on disk: one file per label in the app's private key
//! directory, replaced atomically so a crash leaves the old blob or the new
//! one, never half of either.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{KeyStoreError, Result};

/// The largest sealed blob read back (a TLS identity is a few KiB); anything
/// larger is damage, not an identity.
pub(crate) const MAX_BLOB_BYTES: u64 = 1024 * 1024;

/// The directory of sealed blobs, `<dir>/<label>.sealed`.
#[derive(Debug, Clone)]
pub(crate) struct SealedFiles {
    dir: PathBuf,
}

impl SealedFiles {
    /// Uses `dir`, creating it (owner-only on Unix) if it is missing.
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| unavailable(&format!("cannot create the key directory {}", dir.display()), &e))?;
        Ok(SealedFiles { dir: dir.to_path_buf() })
    }

    /// The directory.
    #[cfg(test)]
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, label: &str) -> PathBuf {
        self.dir.join(format!("{label}.sealed"))
    }

    /// The blob of `label`, or `None` if there is none. `label` must be checked.
    pub(crate) fn read(&self, label: &str) -> Result<Option<Vec<u8>>> {
        let file = match fs::File::open(self.path(label)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unavailable("cannot open the sealed blob", &e)),
        };
        let mut blob = Vec::new();
        file.take(MAX_BLOB_BYTES + 1)
            .read_to_end(&mut blob)
            .map_err(|e| unavailable("cannot read the sealed blob", &e))?;
        if blob.len() as u64 > MAX_BLOB_BYTES {
            return Err(KeyStoreError::Corrupt {
                label: label.to_owned(),
                reason: format!("the sealed blob is larger than {MAX_BLOB_BYTES} bytes"),
            });
        }
        Ok(Some(blob))
    }

    /// Replaces the blob of `label` atomically (temp file, fsync, rename, fsync
    /// of the directory). `label` must be checked.
    pub(crate) fn write(&self, label: &str, blob: &[u8]) -> Result<()> {
        let temp = self.dir.join(format!("{label}.sealed.tmp"));
        let written = (|| -> io::Result<()> {
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temp)?;
            file.write_all(blob)?;
            file.sync_all()?;
            fs::rename(&temp, self.path(label))?;
            sync_dir(&self.dir)
        })();
        written.map_err(|e| {
            let _ = fs::remove_file(&temp);
            unavailable("cannot write the sealed blob", &e)
        })
    }

    /// Removes the blob of `label`; a missing blob is fine. `label` must be checked.
    pub(crate) fn remove(&self, label: &str) -> Result<()> {
        match fs::remove_file(self.path(label)) {
            Ok(()) => sync_dir(&self.dir).map_err(|e| unavailable("cannot sync the key directory", &e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(unavailable("cannot delete the sealed blob", &e)),
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

fn unavailable(what: &str, e: &io::Error) -> KeyStoreError {
    KeyStoreError::Unavailable(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_replace_remove() {
        let dir = tempfile::tempdir().unwrap();
        let files = SealedFiles::open(&dir.path().join("keys")).unwrap();
        assert_eq!(files.read("a").unwrap(), None);
        files.write("a", b"first").unwrap();
        files.write("a", b"second").unwrap();
        assert_eq!(files.read("a").unwrap().as_deref(), Some(&b"second"[..]));
        assert!(!files.dir().join("a.sealed.tmp").exists());
        files.remove("a").unwrap();
        files.remove("a").unwrap();
        assert_eq!(files.read("a").unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn directory_and_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let files = SealedFiles::open(&dir.path().join("keys")).unwrap();
        files.write("a", b"blob").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(files.dir()), 0o700);
        assert_eq!(mode(&files.dir().join("a.sealed")), 0o600);
    }

    #[test]
    fn an_oversized_blob_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let files = SealedFiles::open(dir.path()).unwrap();
        fs::write(dir.path().join("big.sealed"), vec![0u8; MAX_BLOB_BYTES as usize + 1]).unwrap();
        assert!(matches!(files.read("big"), Err(KeyStoreError::Corrupt { .. })));
    }
}
