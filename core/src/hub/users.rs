//! `SystemUsers`: user accounts stored in the hub's database (table
//! `hub_users`, never replicated), each with a salted Argon2id hash, a role
//! and its creation and last-login times.

use std::collections::HashMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, OptionalExtension};

use crate::error::{Error, InvalidInput, Result};
use crate::net::UserTable;
use crate::store::Database;
use crate::tuning::{MAX_SYSTEM_USER_NAME_BYTES, MAX_SYSTEM_USER_PASSWORD_BYTES};

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS hub_users (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created INTEGER NOT NULL,
    last_login INTEGER
) STRICT, WITHOUT ROWID";

/// What a system user may do.
///
/// # Examples
/// ```
/// use outpost_core::hub::Role;
/// assert_eq!("read".parse::<Role>().unwrap(), Role::Read);
/// assert_eq!(Role::Sync.as_str(), "sync");
/// assert!("admin".parse::<Role>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Push and pull (a camp or device that syncs).
    Sync,
    /// Pull only: a push is refused with `read_only`.
    Read,
}

impl Role {
    /// `sync` or `read`, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sync => "sync",
            Role::Read => "read",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Role> {
        match s {
            "sync" => Ok(Role::Sync),
            "read" => Ok(Role::Read),
            other => Err(InvalidInput::BadConfig(format!("unknown role {other:?} (sync or read)")).into()),
        }
    }
}

/// One system user as listed: never its hash (see [`SystemUsers::list`]
/// for an example).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemUser {
    /// The user name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// When the user was added (seconds since the Unix epoch).
    pub created: u64,
    /// The last accepted login (seconds since the Unix epoch), if any.
    pub last_login: Option<u64>,
}

/// The system users of a hub's database.
///
/// Every call reads or writes the database, so another process (the
/// `outpost users` command) sees and changes the same users as a running
/// listener.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use outpost_core::hub::{Role, SystemUsers};
/// use outpost_core::{Database, DatabaseConfig};
/// let db = Database::open(dir.path().join("hub.db"), DatabaseConfig::default()).unwrap();
/// let users = SystemUsers::open(&db).unwrap();
/// users.add("camp-2", "correct horse", Role::Sync).unwrap();
/// assert_eq!(users.verify("camp-2", "correct horse").unwrap().unwrap().0, Role::Sync);
/// assert!(users.verify("camp-2", "wrong").unwrap().is_none());
/// assert!(users.remove("camp-2").unwrap());
/// assert!(users.list().unwrap().is_empty());
/// ```
#[derive(Clone)]
pub struct SystemUsers {
    db: Database,
}

impl fmt::Debug for SystemUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SystemUsers({})", self.db.path().display())
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn to_sql_time(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn check_name(name: &str) -> Result<()> {
    let printable = name.chars().all(|c| !c.is_control());
    if name.is_empty() || name.len() > MAX_SYSTEM_USER_NAME_BYTES || name.contains(':') || !printable {
        return Err(InvalidInput::BadConfig(format!(
            "not a valid user name: 1 to {MAX_SYSTEM_USER_NAME_BYTES} bytes, no ':' or control characters"
        ))
        .into());
    }
    Ok(())
}

fn hash(password: &str) -> Result<String> {
    if password.is_empty() || password.len() > MAX_SYSTEM_USER_PASSWORD_BYTES {
        return Err(InvalidInput::BadConfig(format!(
            "a password must be 1 to {MAX_SYSTEM_USER_PASSWORD_BYTES} bytes"
        ))
        .into());
    }
    UserTable::hash_password(password)
}

fn no_such_user(name: &str) -> Error {
    InvalidInput::BadConfig(format!("there is no user {name:?}")).into()
}

impl SystemUsers {
    /// The system users of `db` (the table is created on first use).
    ///
    /// # Errors
    /// [`Error::Storage`] if the table cannot be created.
    pub fn open(db: &Database) -> Result<SystemUsers> {
        db.write(|conn| Ok(conn.execute_batch(CREATE_TABLE)?))?;
        Ok(SystemUsers { db: db.clone() })
    }

    /// Adds a user with `password` (hashed; the password is not kept).
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] for a bad name or password,
    /// [`InvalidInput::BadConfig`] also if the user exists (change a
    /// password with [`SystemUsers::set_password`]).
    pub fn add(&self, name: &str, password: &str, role: Role) -> Result<()> {
        check_name(name)?;
        let hash = hash(password)?;
        self.db.write(|conn| {
            let added = conn.execute(
                "INSERT INTO hub_users (name, hash, role, created) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO NOTHING",
                params![name, hash, role.as_str(), to_sql_time(now())],
            )?;
            if added == 0 {
                return Err(InvalidInput::BadConfig(format!(
                    "the user {name:?} exists already (change a password with passwd)"
                ))
                .into());
            }
            Ok(())
        })
    }

    /// Replaces a user's password; the user's open connections are closed
    /// by a listener checking these users.
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] for an unknown user or a bad password.
    pub fn set_password(&self, name: &str, password: &str) -> Result<()> {
        let hash = hash(password)?;
        let changed = self
            .db
            .write(|conn| Ok(conn.execute("UPDATE hub_users SET hash = ?2 WHERE name = ?1", params![name, hash])?))?;
        if changed == 0 {
            return Err(no_such_user(name));
        }
        Ok(())
    }

    /// Removes a user; `false` if there was none. A listener checking these
    /// users refuses the user's next login and closes its open connections
    /// within [`crate::tuning::SYSTEM_USER_RECHECK_INTERVAL`].
    ///
    /// # Errors
    /// [`Error::Storage`] if the database cannot be written.
    pub fn remove(&self, name: &str) -> Result<bool> {
        let removed = self
            .db
            .write(|conn| Ok(conn.execute("DELETE FROM hub_users WHERE name = ?1", [name])?))?;
        Ok(removed > 0)
    }

    /// Every user, by name.
    ///
    /// # Errors
    /// [`Error::Storage`] if the database cannot be read, [`Error::Corrupt`]
    /// for a role this version does not know.
    pub fn list(&self) -> Result<Vec<SystemUser>> {
        let rows = self.db.read(|conn| {
            let mut stmt = conn.prepare("SELECT name, role, created, last_login FROM hub_users ORDER BY name")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })?;
        rows.into_iter()
            .map(|(name, role, created, last_login)| {
                Ok(SystemUser {
                    role: role
                        .parse()
                        .map_err(|_| Error::Corrupt(format!("user {name:?} has an unknown role")))?,
                    name,
                    created: u64::try_from(created).unwrap_or(0),
                    last_login: last_login.map(|t| u64::try_from(t).unwrap_or(0)),
                })
            })
            .collect()
    }

    /// Whether there are no users.
    ///
    /// # Errors
    /// [`Error::Storage`] if the database cannot be read.
    pub fn is_empty(&self) -> Result<bool> {
        self.db.read(|conn| {
            Ok(conn
                .query_row("SELECT 1 FROM hub_users LIMIT 1", [], |_| Ok(()))
                .optional()?
                .is_none())
        })
    }

    /// The role of `name` if `password` is theirs, with the hash it matched
    /// (a login stays valid while that hash is the user's); records the
    /// login time. Slow on purpose (Argon2id), and as slow for an unknown
    /// user as for a known one.
    ///
    /// # Errors
    /// [`Error::Storage`] if the database cannot be read or written.
    pub fn verify(&self, name: &str, password: &str) -> Result<Option<(Role, String)>> {
        let stored = self.db.read(|conn| {
            Ok(conn
                .query_row("SELECT hash, role FROM hub_users WHERE name = ?1", [name], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .optional()?)
        })?;
        let Some((hash, role)) = stored else {
            UserTable::new().verify(name, password); // the same time as a known user
            return Ok(None);
        };
        let Ok(table) = UserTable::new().with_hashed_user(name, &hash) else {
            return Ok(None);
        };
        let Ok(role) = role.parse::<Role>() else {
            return Ok(None);
        };
        if !table.verify(name, password) {
            return Ok(None);
        }
        self.db.write(|conn| {
            Ok(conn.execute(
                "UPDATE hub_users SET last_login = ?2 WHERE name = ?1",
                params![name, to_sql_time(now())],
            )?)
        })?;
        Ok(Some((role, hash)))
    }

    /// The current hash of `name`, if the user exists: a login that matched
    /// another hash no longer holds.
    ///
    /// # Errors
    /// [`Error::Storage`] if the database cannot be read.
    pub(crate) fn hash_of(&self, name: &str) -> Result<Option<String>> {
        self.db.read(|conn| {
            Ok(conn
                .query_row("SELECT hash FROM hub_users WHERE name = ?1", [name], |r| r.get(0))
                .optional()?)
        })
    }

    /// Every user's current hash, to find logins that are no longer valid.
    pub(crate) fn current_hashes(&self) -> Result<HashMap<String, String>> {
        self.db.read(|conn| {
            let mut stmt = conn.prepare("SELECT name, hash FROM hub_users")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<std::result::Result<HashMap<_, _>, _>>()?)
        })
    }

    /// Of `logins` (connection id, user name, hash matched at login), the
    /// ids whose user is gone or has another password now.
    ///
    /// # Errors
    /// [`Error::Storage`] if the database cannot be read.
    pub(crate) fn revoked<'a>(&self, logins: impl IntoIterator<Item = (u64, &'a str, &'a str)>) -> Result<Vec<u64>> {
        let current = self.current_hashes()?;
        Ok(logins
            .into_iter()
            .filter(|(_, name, hash)| current.get(*name).map(String::as_str) != Some(*hash))
            .map(|(id, _, _)| id)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DatabaseConfig;

    fn users() -> (tempfile::TempDir, SystemUsers) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("hub.db"), DatabaseConfig::default()).unwrap();
        (dir, SystemUsers::open(&db).unwrap())
    }

    #[test]
    fn users_are_added_listed_checked_changed_and_removed() {
        let (_dir, users) = users();
        assert!(users.is_empty().unwrap());
        users.add("camp-2", "first password", Role::Sync).unwrap();
        users.add("viewer", "viewer password", Role::Read).unwrap();
        assert!(matches!(
            users.add("camp-2", "other", Role::Read),
            Err(Error::InvalidInput(InvalidInput::BadConfig(_)))
        ));
        let listed = users.list().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!((listed[0].name.as_str(), listed[0].role), ("camp-2", Role::Sync));
        assert_eq!(listed[0].last_login, None);

        let (role, first_hash) = users.verify("camp-2", "first password").unwrap().unwrap();
        assert_eq!(role, Role::Sync);
        assert!(users.list().unwrap()[0].last_login.is_some());
        assert_eq!(
            users.verify("viewer", "viewer password").unwrap().unwrap().0,
            Role::Read
        );
        assert!(users.verify("camp-2", "viewer password").unwrap().is_none());
        assert!(users.verify("nobody", "first password").unwrap().is_none());

        let logins = [(1, "camp-2", first_hash.as_str()), (2, "viewer", "old-hash")];
        assert_eq!(users.revoked(logins).unwrap(), vec![2]);
        users.set_password("camp-2", "second password").unwrap();
        assert!(users.verify("camp-2", "first password").unwrap().is_none());
        assert!(users.verify("camp-2", "second password").unwrap().is_some());
        assert_eq!(users.revoked(logins).unwrap(), vec![1, 2]);
        assert!(matches!(
            users.set_password("nobody", "x"),
            Err(Error::InvalidInput(InvalidInput::BadConfig(_)))
        ));

        assert!(users.remove("camp-2").unwrap());
        assert!(!users.remove("camp-2").unwrap());
        assert!(users.verify("camp-2", "second password").unwrap().is_none());
    }

    #[test]
    fn bad_names_and_passwords_are_refused_and_hashes_are_never_the_password() {
        let (_dir, users) = users();
        for name in ["", "a:b", "tab\tname", &"x".repeat(MAX_SYSTEM_USER_NAME_BYTES + 1)] {
            assert!(users.add(name, "pw", Role::Sync).is_err(), "{name:?}");
        }
        assert!(users.add("amina", "", Role::Sync).is_err());
        let long = "p".repeat(MAX_SYSTEM_USER_PASSWORD_BYTES + 1);
        assert!(users.add("amina", &long, Role::Sync).is_err());
        users.add("amina", "hunter2-unique-secret", Role::Sync).unwrap();
        let hashes = users.current_hashes().unwrap();
        assert!(hashes["amina"].starts_with("$argon2id$"));
        assert!(!hashes["amina"].contains("hunter2-unique-secret"));
    }
}
