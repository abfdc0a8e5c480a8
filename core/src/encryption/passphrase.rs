//! Passphrases: Argon2id with a per-database random salt kept in a small
//! file beside the database (`<file>.salt`).
//!
//! The salt file is written once, before the database is first encrypted
//! with a passphrase, and never changed afterwards (re-keying keeps it), so
//! a crash during a re-key can never leave a salt that matches neither key.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::EncryptionKey;
use crate::error::{Error, Result};
use crate::private_files;
use crate::tuning::{PASSPHRASE_KDF_ITERATIONS, PASSPHRASE_KDF_MEMORY_KIB};

/// What a salt file starts with (format and version).
const MAGIC: &[u8; 16] = b"outpost-salt-v1\n";
/// Bytes of random salt after the magic.
const SALT_LEN: usize = 16;

/// The random salt that makes one database's passphrase key unlike any
/// other's, kept in `<database file>.salt` (0600).
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use outpost_core::{EncryptionKey, PassphraseSalt};
/// let db = dir.path().join("camp.db");
/// let salt = PassphraseSalt::load_or_create(&db).unwrap();
/// let key = EncryptionKey::from_passphrase(b"correct horse", &salt).unwrap();
/// let again = EncryptionKey::from_passphrase(b"correct horse", &PassphraseSalt::load(&db).unwrap().unwrap()).unwrap();
/// assert!(key == again);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassphraseSalt([u8; SALT_LEN]);

impl PassphraseSalt {
    /// The salt file of the database at `database`.
    pub fn path_for(database: &Path) -> PathBuf {
        let mut name = database.as_os_str().to_owned();
        name.push(".salt");
        PathBuf::from(name)
    }

    /// The database's salt, if its salt file exists.
    ///
    /// # Errors
    /// [`Error::Encryption`] if the file cannot be read or is not a salt file.
    pub fn load(database: &Path) -> Result<Option<PassphraseSalt>> {
        let path = Self::path_for(database);
        let mut file = match private_files::open_no_follow(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Encryption(format!("cannot read {}: {e}", path.display()))),
        };
        let mut content = Vec::with_capacity(MAGIC.len() + SALT_LEN);
        (&mut file)
            .take((MAGIC.len() + SALT_LEN + 1) as u64)
            .read_to_end(&mut content)
            .map_err(|e| Error::Encryption(format!("cannot read {}: {e}", path.display())))?;
        match content.strip_prefix(MAGIC.as_slice()) {
            Some(salt) if salt.len() == SALT_LEN => {
                let mut bytes = [0u8; SALT_LEN];
                bytes.copy_from_slice(salt);
                Ok(Some(PassphraseSalt(bytes)))
            }
            _ => Err(Error::Encryption(format!(
                "{} is not an Outpost salt file",
                path.display()
            ))),
        }
    }

    /// The database's salt, creating the salt file (random, 0600, synced to
    /// disk) if there is none.
    ///
    /// # Errors
    /// [`Error::Encryption`] if it cannot be read or written.
    pub fn load_or_create(database: &Path) -> Result<PassphraseSalt> {
        if let Some(salt) = Self::load(database)? {
            return Ok(salt);
        }
        let mut bytes = [0u8; SALT_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| Error::Encryption("the system random generator failed".into()))?;
        let path = Self::path_for(database);
        let fail = |e: std::io::Error| Error::Encryption(format!("cannot write {}: {e}", path.display()));
        let mut file = private_files::create_new(&path).map_err(fail)?;
        file.write_all(MAGIC).map_err(fail)?;
        file.write_all(&bytes).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private_files::sync_dir(dir).map_err(fail)?;
        }
        Ok(PassphraseSalt(bytes))
    }
}

impl EncryptionKey {
    /// The key for `passphrase` with this database's salt: Argon2id with
    /// [`PASSPHRASE_KDF_MEMORY_KIB`] of memory and
    /// [`PASSPHRASE_KDF_ITERATIONS`] passes.
    ///
    /// # Errors
    /// [`Error::Encryption`] for an empty passphrase.
    pub fn from_passphrase(passphrase: &[u8], salt: &PassphraseSalt) -> Result<EncryptionKey> {
        if passphrase.is_empty() {
            return Err(Error::Encryption("the passphrase is empty".into()));
        }
        let params = Params::new(
            PASSPHRASE_KDF_MEMORY_KIB,
            PASSPHRASE_KDF_ITERATIONS,
            1,
            Some(EncryptionKey::LEN),
        )
        .map_err(|e| Error::Encryption(format!("key derivation parameters: {e}")))?;
        let mut key = Zeroizing::new([0u8; EncryptionKey::LEN]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase, &salt.0, key.as_mut())
            .map_err(|e| Error::Encryption(format!("key derivation: {e}")))?;
        EncryptionKey::from_bytes(key.as_ref())
    }
}
