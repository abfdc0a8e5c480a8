//! Files and directories that only their owner may read: database files
//! (and the `-wal`, `-shm` and journal beside them) and stored TLS
//! identities, and the directory of the key store.
//!
//! Files are created with `O_CREAT | O_EXCL | O_NOFOLLOW` and mode
//! [`PRIVATE_FILE_MODE`] from the first byte, so a file or symbolic link
//! planted at the path by another local user is never written through. On
//! platforms without Unix permissions these fall back to plain creation.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{InvalidInput, Result};
use crate::tuning::{PRIVATE_DIR_MODE, PRIVATE_FILE_MODE};

/// Creates `path`, which must not exist yet (not even as a symbolic link),
/// open for reading and writing (a sealed partial blob is read back
/// through the same handle), readable and writable by its owner only.
///
/// # Errors
/// [`io::ErrorKind::AlreadyExists`] if anything is at `path`; any other
/// I/O error of `open(2)`.
pub(crate) fn create_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE_MODE).custom_flags(no_follow_flag());
    }
    options.open(path)
}

/// Opens the existing file `path` for reading, refusing to follow a
/// symbolic link at it (`ELOOP` on Unix). Non-blocking, so a FIFO planted
/// at the path cannot hang the caller.
pub(crate) fn open_no_follow(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let non_block = i32::try_from(rustix::fs::OFlags::NONBLOCK.bits()).unwrap_or(0);
        options.custom_flags(no_follow_flag() | non_block);
    }
    options.open(path)
}

/// Whether an open error means a symbolic link was refused.
pub(crate) fn is_symlink_refusal(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Creates `dir` and its missing parents with mode [`PRIVATE_DIR_MODE`];
/// nothing if it exists.
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, PRIVATE_DIR_MODE);
    builder.create(dir)
}

/// Why `dir` is not safe to keep secrets in: owned by another user, or
/// writable by the group or others (who could then replace or plant files
/// in it). `None` when it is safe.
pub(crate) fn unsafe_dir_reason(dir: &Path, meta: &Metadata) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode() & 0o777;
        let shown = dir.display();
        if !owned_by_us(meta) {
            return Some(format!(
                "the directory {shown} belongs to another user (uid {}); use a directory of your own",
                meta.uid()
            ));
        }
        if mode & 0o022 != 0 {
            return Some(format!(
                "the directory {shown} is writable by other users (mode {mode:03o}); run `chmod 700 {shown}`"
            ));
        }
        None
    }
    #[cfg(not(unix))]
    {
        let _ = (dir, meta);
        None
    }
}

/// Whether the file or directory of `meta` belongs to this process's user.
pub(crate) fn owned_by_us(meta: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.uid() == rustix::process::geteuid().as_raw()
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        true
    }
}

/// `O_NOFOLLOW`, as `OpenOptionsExt::custom_flags` takes it.
#[cfg(unix)]
fn no_follow_flag() -> i32 {
    // The flag is a small positive constant on every Unix.
    i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0)
}

/// Removes the group and other permission bits of `file` if it is a
/// regular file of ours that has any; returns whether it changed. A file of
/// another user is left as it is.
pub(crate) fn tighten(file: &File) -> io::Result<bool> {
    let meta = file.metadata()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_file() && owned_by_us(&meta) && mode & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(mode & PRIVATE_FILE_MODE))?;
            return Ok(true);
        }
    }
    let _ = meta;
    Ok(false)
}

/// Flushes a directory's entries (a rename in it) to disk, where the
/// platform allows opening a directory.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The files SQLite keeps beside a database: its WAL, shared-memory index
/// and rollback journal.
const COMPANION_SUFFIXES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// The first bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Makes sure the database file at `path` is private before SQLite opens
/// it: creates it empty with mode 0600 if nothing is there (SQLite takes an
/// empty file for a new database), refuses a symbolic link at it or at a
/// companion file, and tightens an existing database of ours and its
/// companions to 0600. A file that is not an SQLite database (given by
/// mistake) is left as it is, for SQLite to refuse.
pub(crate) fn prepare_database_file(path: &Path) -> Result<()> {
    create_new(path).ok();
    let companions = COMPANION_SUFFIXES.iter().map(|suffix| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    });
    let mut opened = Vec::new();
    for file in std::iter::once(path.to_owned()).chain(companions) {
        if let Some(handle) = open_refusing_links(&file)? {
            opened.push((file, handle));
        }
    }
    let is_database = match opened.first() {
        Some((file, handle)) if file == path => looks_like_sqlite(handle),
        _ => false,
    };
    if is_database {
        for (file, handle) in &opened {
            match tighten(handle) {
                Ok(true) => {
                    tracing::warn!(path = %file.display(), "a database file was readable by other users; it is now 0600")
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(path = %file.display(), error = %e, "cannot make a database file private"),
            }
        }
    }
    Ok(())
}

/// Whether `file` is empty or starts like an SQLite database.
fn looks_like_sqlite(file: &File) -> bool {
    use std::io::Read;
    let mut start = Vec::with_capacity(SQLITE_HEADER.len());
    match file.take(SQLITE_HEADER.len() as u64).read_to_end(&mut start) {
        Ok(_) => start.is_empty() || start == SQLITE_HEADER,
        Err(_) => false,
    }
}

/// The existing file `file`, opened without following a link; `None` if it
/// is missing or we may not read it (SQLite reports what matters).
///
/// # Errors
/// [`InvalidInput::BadConfig`] if it is a symbolic link.
fn open_refusing_links(file: &Path) -> Result<Option<File>> {
    match open_no_follow(file) {
        Ok(handle) => Ok(Some(handle)),
        Err(e) if is_symlink_refusal(&e) => Err(InvalidInput::BadConfig(format!(
            "{} is a symbolic link; database files are never opened through links (another user could \
             have planted one): give the real path",
            file.display()
        ))
        .into()),
        Err(_) => Ok(None),
    }
}
