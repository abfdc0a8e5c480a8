//! `UserTable`: user names with salted Argon2id password hashes.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{InvalidInput, Result};

/// Users allowed to log in to a listener, each with a salted Argon2id hash
/// (OWASP's parameters: 19 MiB, 2 passes), never the password itself.
///
/// # Examples
/// ```
/// use outpost_core::net::UserTable;
/// let users = UserTable::new().with_user("amina", "correct horse").unwrap();
/// assert!(users.verify("amina", "correct horse"));
/// assert!(!users.verify("amina", "wrong"));
/// assert!(!users.verify("nobody", "correct horse"));
/// ```
#[derive(Clone, Default)]
pub struct UserTable {
    hashes: Arc<HashMap<String, String>>,
}

impl fmt::Debug for UserTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserTable({} users)", self.hashes.len())
    }
}

impl UserTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a user, hashing the password.
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] for an empty name or a name with `:`.
    pub fn with_user(self, username: &str, password: &str) -> Result<Self> {
        let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes())
            .map_err(|e| InvalidInput::BadConfig(format!("salt: {e}")))?;
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| InvalidInput::BadConfig(format!("cannot hash the password: {e}")))?
            .to_string();
        self.with_hashed_user(username, &hash)
    }

    /// Adds (or replaces) a user from a PHC hash string made earlier (e.g.
    /// by [`UserTable::hash_password`]), so apps need not keep passwords.
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] for a bad name or an unreadable hash.
    pub fn with_hashed_user(mut self, username: &str, hash: &str) -> Result<Self> {
        if username.is_empty() || username.contains(':') {
            return Err(
                InvalidInput::BadConfig(format!("{username:?} is not a valid user name (non-empty, no ':')")).into(),
            );
        }
        PasswordHash::new(hash).map_err(|e| InvalidInput::BadConfig(format!("unreadable password hash: {e}")))?;
        Arc::make_mut(&mut self.hashes).insert(username.to_owned(), hash.to_owned());
        Ok(self)
    }

    /// A salted Argon2id hash of `password` in PHC form, for
    /// [`UserTable::with_hashed_user`].
    ///
    /// # Errors
    /// Never in practice; hashing failures are reported as `BadConfig`.
    pub fn hash_password(password: &str) -> Result<String> {
        let table = UserTable::new().with_user("u", password)?;
        Ok(table.hashes["u"].clone())
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether `password` is `username`'s. Takes as long for an unknown
    /// user as for a known one, so names cannot be probed by timing.
    pub fn verify(&self, username: &str, password: &str) -> bool {
        static DUMMY: OnceLock<String> = OnceLock::new();
        let (hash, known) = match self.hashes.get(username) {
            Some(h) => (h.as_str(), true),
            None => (
                DUMMY
                    .get_or_init(|| UserTable::hash_password("dummy").unwrap_or_default())
                    .as_str(),
                false,
            ),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && known
    }
}
