//! `Database`: one SQLite file, its connection, collections and batches.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use tokio::sync::watch;

use super::names::check_collection_name;
use super::notify::Notifier;
use super::writer::Batch;
use super::{schema, Collection, DEFAULT_COLLECTION};
use crate::blob::store::BlobStore;
use crate::blob::CompactReport;
use crate::encryption::{blob_key, rekey, sqlcipher, EncryptionKey};
use crate::error::{Error, InvalidInput, Result};
use crate::private_files;
use crate::tuning::{BLOB_COMPACT_GRACE, BUSY_TIMEOUT_MS, DEFAULT_REVS_LIMIT};

/// How hard a commit works to survive a power cut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// SQLite `synchronous = NORMAL` in WAL mode: a commit survives a crash
    /// of the app; a power cut may lose the last commits, never corrupt.
    #[default]
    Normal,
    /// SQLite `synchronous = FULL`: every commit is on disk when it returns.
    Full,
}

/// Options for [`Database::open`].
///
/// Its `Debug` output never shows the key's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// Commit durability; [`Durability::Normal`] by default.
    pub durability: Durability,
    /// Ancestor revision ids kept per branch (CouchDB's `revs_limit`), at
    /// least 1; 100 by default.
    pub revs_limit: u32,
    /// The 256-bit key the file is encrypted with (SQLCipher), or `None`
    /// for a plain file (the default). A new file is created encrypted
    /// when a key is given.
    pub encryption_key: Option<EncryptionKey>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            durability: Durability::Normal,
            revs_limit: DEFAULT_REVS_LIMIT,
            encryption_key: None,
        }
    }
}

/// A database: one SQLite file (WAL mode) holding collections of documents.
///
/// Cloning is cheap and shares the handle. Opening the same file twice gives
/// two handles that are safe to use together (SQLite locking) and that see
/// each other's change notifications.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use outpost_core::{Database, DatabaseConfig};
/// let db = Database::open(dir.path().join("camp.db"), DatabaseConfig::default()).unwrap();
/// let children = db.create_collection("children").unwrap();
/// let rev = children.save("child-1", None, r#"{"name":"Amina","age":7}"#).unwrap();
/// assert_eq!(children.get("child-1").unwrap().unwrap().rev, rev);
/// db.close().unwrap();
/// ```
#[derive(Clone)]
pub struct Database {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    conn: Mutex<Option<Connection>>,
    path: PathBuf,
    uuid: String,
    config: DatabaseConfig,
    blobs: BlobStore,
    pub(crate) notifier: Arc<Notifier>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.inner.path)
            .field("uuid", &self.inner.uuid)
            .finish()
    }
}

impl Database {
    /// Opens the database file at `path`, creating it if needed.
    ///
    /// A new file is created with mode 0600 (owner only) before SQLite opens
    /// it, without following a symbolic link, so its `-wal`, `-shm` and
    /// journal (which SQLite gives the main file's mode) are 0600 too. An
    /// existing database of ours, and its `-wal`/`-shm`/journal, readable by
    /// others (made by an older version) is tightened to 0600; another
    /// user's file, or one that is not an SQLite database, is left as it is.
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] for a `revs_limit` of 0, a missing
    /// directory, or a symbolic link at `path` or at one of its companion
    /// files (never followed: another local user could have planted it);
    /// [`Error::SchemaTooNew`] for a file from a newer Outpost;
    /// [`Error::WrongKey`] if the file does not open with
    /// `config.encryption_key` (a wrong key, or none for an encrypted file;
    /// nothing on disk is changed); [`InvalidInput::BadConfig`] for a key
    /// given for a plain file; [`Error::Storage`] if SQLite cannot open the
    /// file.
    pub fn open(path: impl AsRef<Path>, config: DatabaseConfig) -> Result<Database> {
        let path = path.as_ref();
        if config.revs_limit == 0 {
            return Err(InvalidInput::BadConfig("revs_limit must be at least 1".into()).into());
        }
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(InvalidInput::BadConfig(format!("the directory {} does not exist", dir.display())).into());
        }
        private_files::prepare_database_file(path)?;
        rekey::finish_interrupted(path)?;
        let mut conn = connect(path, config.encryption_key.as_ref(), config.durability)?;
        crate::query::register_functions(&conn)?;
        let uuid = schema::migrate(&mut conn)?;
        let last_seq = schema::last_sequence(&conn)?;
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let notifier = Notifier::for_path(&canonical, last_seq);
        let blobs = BlobStore::for_database(&canonical)?;
        blobs.set_sealer(blob_key::blob_sealer(&conn, config.encryption_key.is_some())?);
        Ok(Database {
            inner: Arc::new(Inner {
                blobs,
                conn: Mutex::new(Some(conn)),
                path: canonical,
                uuid,
                config,
                notifier,
            }),
        })
    }

    /// Encrypts, re-keys or decrypts the file: `Some(key)` encrypts it with
    /// `key` (a plain file is encrypted in place), `None` makes it plain.
    ///
    /// Blob files change with it: sealed (encrypting), opened (decrypting)
    /// or sealed again under a fresh blob key (re-keying, so that the old
    /// key opens none of the blobs saved from now on), each checked against
    /// its digest; partly received blobs are dropped (their transfer starts
    /// again). Blob writes through this handle wait for the change.
    ///
    /// Crash-safe: the database is exported under the new key into
    /// `<file>.rekey` (synced), the blob files are written into
    /// `<file>.blobs-rekey/` (synced), then the export is renamed over the
    /// file (the commit point) and the new blob directory put in place of
    /// the old one; after a crash at any point the file opens with the old
    /// key or with the new one, with every blob readable (the next open
    /// finishes or undoes the blob switch), and nothing is lost. Every clone of this handle keeps working, with the
    /// new key. No other handle (in this process or another) may have the
    /// file open meanwhile: the change takes SQLite's exclusive lock and
    /// fails with a busy storage error if one does.
    ///
    /// # Examples
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use outpost_core::{Database, DatabaseConfig, EncryptionKey, Error};
    /// let path = dir.path().join("camp.db");
    /// let db = Database::open(&path, DatabaseConfig::default()).unwrap();
    /// db.default_collection().unwrap().save("child-1", None, r#"{"name":"Amina"}"#).unwrap();
    /// let key = EncryptionKey::generate().unwrap();
    /// db.change_encryption_key(Some(&key)).unwrap();
    /// db.close().unwrap();
    /// assert!(matches!(Database::open(&path, DatabaseConfig::default()), Err(Error::WrongKey)));
    /// let config = DatabaseConfig { encryption_key: Some(key), ..DatabaseConfig::default() };
    /// let db = Database::open(&path, config).unwrap();
    /// assert!(db.default_collection().unwrap().get("child-1").unwrap().is_some());
    /// ```
    ///
    /// # Errors
    /// [`Error::Closed`]; [`Error::Encryption`] if another handle has the
    /// file open, or if the new file or blob directory cannot be written; a
    /// blob error if a blob file is damaged (it cannot be converted); a
    /// storage error from SQLite. The database and its blobs are left as
    /// they were.
    pub fn change_encryption_key(&self, new_key: Option<&EncryptionKey>) -> Result<()> {
        let mut guard = self.inner.conn.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            return Err(Error::Closed);
        }
        let blobs = &self.inner.blobs;
        let _no_blob_writes = blobs.hold_writes();
        let changed = rekey::change_key(&mut guard, &self.inner.path, new_key, blobs);
        // Partly received blobs are dropped, verified ones waiting to be
        // published with them.
        blobs.forget_verified();
        if guard.is_none() {
            // Closed for the switch: reopen if it committed (the new key
            // opens the file); if not, the handle stays closed.
            if let Ok(conn) = connect(&self.inner.path, new_key, self.inner.config.durability) {
                blobs.set_sealer(blob_key::blob_sealer(&conn, new_key.is_some())?);
                *guard = Some(conn);
            }
        }
        changed
    }

    /// The database's UUID, made when the file was created.
    pub fn uuid(&self) -> &str {
        &self.inner.uuid
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &DatabaseConfig {
        &self.inner.config
    }

    /// Closes the handle (every clone of it). Later calls fail with
    /// [`Error::Closed`]. Closing twice is fine.
    pub fn close(&self) -> Result<()> {
        let conn = self.inner.conn.lock().unwrap_or_else(|e| e.into_inner()).take();
        match conn {
            Some(c) => c.close().map_err(|(_, e)| e.into()),
            None => Ok(()),
        }
    }

    /// The sequence of the latest change.
    pub fn last_sequence(&self) -> Result<u64> {
        self.read(schema::last_sequence)
    }

    /// A receiver of the latest sequence: it changes whenever a write to this
    /// file commits (through any handle in this process), so a task can
    /// `changed().await` instead of polling.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.notifier.subscribe()
    }

    /// The default collection (`_default`).
    pub fn default_collection(&self) -> Result<Collection> {
        self.collection(DEFAULT_COLLECTION)
    }

    /// An existing collection.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`] if there is none of that name.
    pub fn collection(&self, name: &str) -> Result<Collection> {
        check_collection_name(name)?;
        let id = self.read(|c| {
            Ok(c.query_row("SELECT id FROM collections WHERE name = ?1", [name], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?)
        })?;
        id.map(|id| Collection::new(self.clone(), id, name.to_owned()))
            .ok_or_else(|| Error::CollectionNotFound(name.to_owned()))
    }

    /// Creates a collection, or returns it if it exists.
    pub fn create_collection(&self, name: &str) -> Result<Collection> {
        check_collection_name(name)?;
        self.with_conn(|c| Ok(c.execute("INSERT OR IGNORE INTO collections (name) VALUES (?1)", [name])?))?;
        self.collection(name)
    }

    /// Names of all collections, sorted.
    pub fn collection_names(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT name FROM collections ORDER BY name")?;
            let names = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
            Ok(names)
        })
    }

    /// Deletes a collection with all its documents. The default collection
    /// cannot be deleted.
    pub fn delete_collection(&self, name: &str) -> Result<()> {
        if name == DEFAULT_COLLECTION {
            return Err(InvalidInput::BadCollectionName(name.to_owned()).into());
        }
        let collection = self.collection(name)?;
        self.with_conn(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            crate::query::drop_indexes_of(&tx, collection.id)?;
            tx.execute("DELETE FROM docs WHERE collection = ?1", [collection.id])?;
            tx.execute("DELETE FROM local_docs WHERE collection = ?1", [collection.id])?;
            tx.execute("DELETE FROM collections WHERE id = ?1", [collection.id])?;
            Ok(tx.commit()?)
        })
    }

    /// Runs `f` in one transaction: everything it writes is committed
    /// together, or nothing if it returns an error. Listeners are told after
    /// the commit. Do not call other methods of this database inside `f`:
    /// the handle is busy with the batch.
    ///
    /// # Errors
    /// The error `f` returns, or a storage error from the commit.
    pub fn batch<T>(&self, f: impl FnOnce(&mut Batch<'_>) -> Result<T>) -> Result<T> {
        let (value, seq, events) = self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut batch = Batch::begin(
                &tx,
                &self.inner.blobs,
                &self.inner.notifier,
                self.inner.config.revs_limit,
            )?;
            let value = f(&mut batch)?;
            let (seq, events) = batch.finish()?;
            tx.commit()?;
            Ok((value, seq, events))
        })?;
        if !events.is_empty() {
            self.inner.notifier.publish(seq, events);
        }
        Ok(value)
    }

    /// The blob store beside the file (`<file>.blobs/`).
    pub(crate) fn blob_store(&self) -> &BlobStore {
        &self.inner.blobs
    }

    /// The directory holding this database's blobs (`<file>.blobs`); it is
    /// created (0700) when the first blob is saved.
    pub fn blob_dir(&self) -> &Path {
        self.inner.blobs.dir()
    }

    /// Removes blobs no stored revision names (no leaf, and no ancestor
    /// that still holds its body), and temporary files left by a crash.
    /// Files written in the last [`BLOB_COMPACT_GRACE`] are kept, so a blob
    /// saved for a document not saved yet survives. Memory stays flat: the
    /// documents are read a page at a time.
    ///
    /// # Examples
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::time::Duration;
    /// use outpost_core::{Database, DatabaseConfig};
    /// let db = Database::open(dir.path().join("camp.db"), DatabaseConfig::default()).unwrap();
    /// let docs = db.default_collection().unwrap();
    /// let photo = docs.save_blob(&b"jpeg"[..], Some("image/jpeg")).unwrap();
    /// // Never named by a document: removed once past the grace period.
    /// let report = db.compact_with_grace(Duration::ZERO).unwrap();
    /// assert_eq!(report.blobs_removed, [(photo.digest, 4)]);
    /// ```
    ///
    /// # Errors
    /// Storage errors, or [`crate::BlobError::Io`] if the directory
    /// cannot be read.
    pub fn compact(&self) -> Result<CompactReport> {
        self.compact_with_grace(BLOB_COMPACT_GRACE)
    }

    /// [`Database::compact`] with another grace period (`Duration::ZERO`
    /// when no other handle or process may be saving blobs).
    pub fn compact_with_grace(&self, grace: Duration) -> Result<CompactReport> {
        crate::blob::compact::compact(self, grace)
    }

    /// Runs `f` in an immediate (write) transaction committed if it
    /// returns `Ok`: for writes outside the document store (indexes, the
    /// hub's system users and servers). No change is published.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.immediate(true, f)
    }

    /// Runs `f` holding the database's write lock (an immediate
    /// transaction that writes nothing), so no write commits meanwhile.
    pub(crate) fn with_write_lock<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.immediate(false, f)
    }

    /// Runs `f` in an immediate transaction, then commits or rolls back.
    fn immediate<T>(&self, commit: bool, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            if commit {
                tx.commit()?;
            } else {
                tx.rollback()?;
            }
            Ok(value)
        })
    }

    /// Runs `f` on the connection inside a read transaction (one snapshot).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let value = f(&tx)?;
            tx.finish()?;
            Ok(value)
        })
    }

    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut guard = self.inner.conn.lock().unwrap_or_else(|e| e.into_inner());
        let conn = guard.as_mut().ok_or(Error::Closed)?;
        f(conn)
    }
}

/// Opens a connection to `path`, keys it (or proves it plain), and sets the
/// journal (WAL), durability and statement cache. The schema is not touched.
fn connect(path: &Path, key: Option<&EncryptionKey>, durability: Durability) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
    sqlcipher::key_connection(&conn, path, key)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Corrupt(format!(
            "could not switch the journal to WAL (got {mode})"
        )));
    }
    let synchronous = match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}
