//! `DatabaseEncryption`: how an SDK database is keyed. A key-store key is
//! made at random on first open, sealed by the platform key store (Android
//! Keystore, iOS Keychain) or a file key store (desktops, JVM tests), read
//! back to prove it was kept, and reused; a passphrase goes through
//! Argon2id with the database's salt file.
//!
//! # Examples
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use outpost_ffi::{Database, DatabaseConfig, DatabaseEncryption};
//! let keys = dir.path().join("keys").display().to_string();
//! let config = DatabaseConfig {
//!     encryption: Some(DatabaseEncryption::KeyStore { label: "camp".into(), key_store_directory: Some(keys) }),
//!     ..DatabaseConfig::default()
//! };
//! let path = dir.path().join("camp.db").display().to_string();
//! let db = Database::open(path.clone(), config.clone()).unwrap();
//! db.close_database().unwrap();
//! assert!(Database::open(path.clone(), DatabaseConfig::default()).is_err());
//! assert!(Database::open(path, config).is_ok());
//! ```

use std::path::Path;
use std::sync::Mutex;

use outpost_core::net::FileKeyStore;
use outpost_core::{EncryptionKey, KeyStoreError, PassphraseSalt, Result};
use zeroize::Zeroizing;

use crate::platform_keys::{platform_key_store, SecretStore};

/// How a database file is encrypted (see `DatabaseConfig.encryption`).
#[derive(Clone, uniffi::Enum)]
pub enum DatabaseEncryption {
    /// A random 256-bit key, made on first open and kept in the platform
    /// key store under `label` (Android Keystore AES-GCM, iOS Keychain
    /// this-device-only), or in the file key store at
    /// `key_store_directory` when given (desktops, tests). Losing the
    /// stored key loses the database: back up by syncing.
    KeyStore {
        /// The key's label (1-128 of `A-Za-z0-9._-`); prefixed `dbkey-` in the store.
        label: String,
        /// A file key store's directory instead of the platform's store.
        key_store_directory: Option<String>,
    },
    /// A key derived from `passphrase` with Argon2id and the salt kept in
    /// `<file>.salt` (made on first open).
    Passphrase {
        /// The passphrase; never logged.
        passphrase: String,
    },
}

impl std::fmt::Debug for DatabaseEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseEncryption::KeyStore { label, .. } => write!(f, "KeyStore({label})"),
            DatabaseEncryption::Passphrase { .. } => f.write_str("Passphrase(<redacted>)"),
        }
    }
}

/// One first-open at a time, so two handles never make two keys.
static KEY_CREATION: Mutex<()> = Mutex::new(());

/// Where a key-store key is kept.
enum KeyHome {
    File(FileKeyStore),
    Platform(SecretStore),
}

impl KeyHome {
    fn load(&self, label: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        match self {
            KeyHome::File(store) => store.load_secret(label),
            KeyHome::Platform(store) => store.load_secret(label),
        }
    }

    fn save(&self, label: &str, secret: &[u8]) -> Result<()> {
        match self {
            KeyHome::File(store) => store.save_secret(label, secret),
            KeyHome::Platform(store) => store.save_secret(label, secret),
        }
    }
}

impl DatabaseEncryption {
    /// The key for the database file at `path`.
    pub(crate) fn key_for(&self, path: &Path) -> Result<EncryptionKey> {
        let (label, directory) = match self {
            DatabaseEncryption::Passphrase { passphrase } => {
                let salt = PassphraseSalt::load_or_create(path)?;
                return EncryptionKey::from_passphrase(passphrase.as_bytes(), &salt);
            }
            DatabaseEncryption::KeyStore {
                label,
                key_store_directory,
            } => (format!("dbkey-{label}"), key_store_directory),
        };
        let home = match directory {
            Some(dir) => KeyHome::File(FileKeyStore::new(dir)),
            None => KeyHome::Platform(platform_key_store().ok_or_else(|| {
                KeyStoreError::Unavailable(
                    "no Android Keystore or iOS Keychain on this platform: give a key store directory".into(),
                )
            })?),
        };
        let _one_at_a_time = KEY_CREATION.lock().unwrap_or_else(|e| e.into_inner());
        let unreadable = |reason: &str| KeyStoreError::Unreadable {
            label: label.clone(),
            reason: reason.to_owned(),
        };
        if let Some(stored) = home.load(&label)? {
            return EncryptionKey::from_bytes(&stored).map_err(|_| unreadable("not a 32-byte key").into());
        }
        let fresh = EncryptionKey::generate()?;
        home.save(&label, fresh.as_bytes())?;
        // Read back before any data depends on it: a key the store did not
        // keep would lose the database.
        match home.load(&label)? {
            Some(stored) if stored.as_slice() == fresh.as_bytes() => Ok(fresh),
            _ => Err(unreadable("the key store did not keep the new key").into()),
        }
    }
}
