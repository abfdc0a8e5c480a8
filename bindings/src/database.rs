//! `Database`: open, close, and the collections of one SQLite file.
//!
//! # Examples
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use outpost_ffi::{Database, DatabaseConfig};
//! let db = Database::open(dir.path().join("camp.db").display().to_string(), DatabaseConfig::default()).unwrap();
//! db.create_collection("children".into()).unwrap();
//! assert_eq!(db.collection_names().unwrap(), ["_default", "children"]);
//! db.close_database().unwrap();
//! assert!(db.default_collection().is_err());
//! ```

use std::path::Path;
use std::sync::Arc;

use outpost_core::Durability;

use crate::collection::Collection;
use crate::encryption::DatabaseEncryption;
use crate::error::Result;

/// Options for [`Database::open`]; every field has a default.
#[derive(Clone, Debug, uniffi::Record)]
pub struct DatabaseConfig {
    /// `true`: every commit is on disk when it returns (slower). `false`
    /// (default): a commit survives an app crash; a power cut may lose the
    /// last commits but never corrupts the file.
    #[uniffi(default = false)]
    pub full_durability: bool,
    /// Ancestor revision ids kept per branch (CouchDB's `revs_limit`), at
    /// least 1.
    #[uniffi(default = 100)]
    pub revs_limit: u32,
    /// How the file is encrypted: a key kept by the platform key store, or
    /// a passphrase; `None` (default): a plain file.
    #[uniffi(default = None)]
    pub encryption: Option<DatabaseEncryption>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        let core = outpost_core::DatabaseConfig::default();
        DatabaseConfig {
            full_durability: core.durability == Durability::Full,
            revs_limit: core.revs_limit,
            encryption: None,
        }
    }
}

impl DatabaseConfig {
    /// Core's configuration for the file at `path`, with its key fetched
    /// (or made) as `encryption` says.
    fn to_core(&self, path: &Path) -> outpost_core::Result<outpost_core::DatabaseConfig> {
        Ok(outpost_core::DatabaseConfig {
            durability: if self.full_durability {
                Durability::Full
            } else {
                Durability::Normal
            },
            revs_limit: self.revs_limit,
            encryption_key: self.encryption.as_ref().map(|e| e.key_for(path)).transpose()?,
        })
    }
}

/// A database: one SQLite file holding collections of JSON documents.
///
/// Releasing the handle (Kotlin `close()`, Swift `deinit`) frees it; the
/// file closes when its last database and collection handle is released.
/// `closeDatabase()` closes the file at once for every handle.
#[derive(Debug, uniffi::Object)]
pub struct Database {
    pub(crate) inner: outpost_core::Database,
}

#[uniffi::export]
impl Database {
    /// Opens (creating if needed) the database file at `path`.
    ///
    /// # Errors
    /// `InvalidInput` for a bad config, `Storage` if the file cannot be
    /// opened, `Corrupt` if it is damaged or from a newer Outpost.
    #[uniffi::constructor]
    pub fn open(path: String, config: DatabaseConfig) -> Result<Arc<Self>> {
        let core_config = config.to_core(Path::new(&path))?;
        let inner = outpost_core::Database::open(path, core_config)?;
        Ok(Arc::new(Database { inner }))
    }

    /// Closes the file for every handle of it; later calls fail with
    /// `Closed`. Closing twice is fine.
    pub fn close_database(&self) -> Result<()> {
        Ok(self.inner.close()?)
    }

    /// The database's UUID (stable for the life of the file).
    pub fn uuid(&self) -> String {
        self.inner.uuid().to_owned()
    }

    /// The path it was opened at.
    pub fn path(&self) -> String {
        self.inner.path().display().to_string()
    }

    /// The sequence number of the latest change.
    pub fn last_sequence(&self) -> Result<u64> {
        Ok(self.inner.last_sequence()?)
    }

    /// The default collection (`_default`), which always exists.
    pub fn default_collection(&self) -> Result<Arc<Collection>> {
        Ok(Collection::new(self.inner.default_collection()?))
    }

    /// An existing collection.
    ///
    /// # Errors
    /// `CollectionNotFound` if it does not exist.
    pub fn collection(&self, name: String) -> Result<Arc<Collection>> {
        Ok(Collection::new(self.inner.collection(&name)?))
    }

    /// The collection `name`, created if it does not exist.
    pub fn create_collection(&self, name: String) -> Result<Arc<Collection>> {
        Ok(Collection::new(self.inner.create_collection(&name)?))
    }

    /// Names of every collection, sorted.
    pub fn collection_names(&self) -> Result<Vec<String>> {
        Ok(self.inner.collection_names()?)
    }

    /// Deletes a collection and its documents.
    pub fn delete_collection(&self, name: String) -> Result<()> {
        Ok(self.inner.delete_collection(&name)?)
    }
}
