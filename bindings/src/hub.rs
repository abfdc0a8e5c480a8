//! Camp hub administration for apps: [`SystemUsers`] (the accounts other
//! devices and camps sync with, stored in the database) and
//! [`ReplicationManager`] (configured servers replicated continuously,
//! persisted, restarted on open, with their [`ServerStatus`]), so a tablet
//! can be a camp hub. Wrappers over `outpost_core::hub`.
//!
//! # Examples
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use outpost_ffi::*;
//! let db = Database::open(dir.path().join("hub.db").display().to_string(), DatabaseConfig::default()).unwrap();
//! let users = SystemUsers::open(db.clone()).unwrap();
//! users.add("camp-2".into(), "correct horse".into(), SystemUserRole::Sync).unwrap();
//! let _auth = ListenerAuthenticator::system_users(users.clone());
//! let keys = Some(dir.path().join("keys").display().to_string());
//! let manager = ReplicationManager::open(db, keys).unwrap();
//! let camp1 = ConfiguredServer::new("camp-1".into(), "wss://10.0.0.5:4984/camp".into(), "camp-2".into());
//! manager.add(camp1.clone(), "correct horse".into()).unwrap();
//! assert_eq!(manager.servers().unwrap(), vec![camp1]);
//! assert_eq!(manager.statuses().unwrap()[0].name, "camp-1");
//! # tokio::runtime::Runtime::new().unwrap().block_on(manager.stop());
//! ```

use std::sync::Arc;

use outpost_core::hub as core;
use outpost_core::net::ServerTrust as CoreTrust;

use crate::database::Database;
use crate::error::{OutpostError, Result};
use crate::listener::ListenerHandle;
use crate::platform_keys::key_store;
use crate::replicator::Direction;
use crate::runtime::{runtime, spawn};
use crate::tls::ServerTrust;

/// What a system user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum SystemUserRole {
    /// Push and pull (a camp or device that syncs).
    Sync,
    /// Pull only: a push is refused with `ReadOnly`.
    Read,
}

impl From<SystemUserRole> for core::Role {
    fn from(role: SystemUserRole) -> Self {
        match role {
            SystemUserRole::Sync => core::Role::Sync,
            SystemUserRole::Read => core::Role::Read,
        }
    }
}

impl From<core::Role> for SystemUserRole {
    fn from(role: core::Role) -> Self {
        match role {
            core::Role::Sync => SystemUserRole::Sync,
            core::Role::Read => SystemUserRole::Read,
        }
    }
}

/// A system user as listed (never the password or its hash).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SystemUser {
    /// The user name.
    pub name: String,
    /// What the user may do.
    pub role: SystemUserRole,
    /// When the user was added, seconds since the Unix epoch.
    pub created_secs: u64,
    /// The last accepted login, seconds since the Unix epoch.
    pub last_login_secs: Option<u64>,
}

/// The system users stored in a hub's database (a local table, never
/// replicated): the accounts a listener made with
/// `ListenerAuthenticator.systemUsers` accepts. Changes count at once for a
/// running listener: a removed user, or one whose password changed, is
/// refused and its open connections are closed within a second.
#[derive(Debug, uniffi::Object)]
pub struct SystemUsers {
    pub(crate) inner: core::SystemUsers,
}

#[uniffi::export]
impl SystemUsers {
    /// The system users of `database` (the table is made on first use).
    ///
    /// # Errors
    /// `Storage` if the database cannot be written.
    #[uniffi::constructor]
    pub fn open(database: Arc<Database>) -> Result<Arc<Self>> {
        Ok(Arc::new(SystemUsers {
            inner: core::SystemUsers::open(&database.inner)?,
        }))
    }

    /// Adds a user; the password is hashed (salted Argon2id, deliberately
    /// slow: call it off the main thread) and not kept.
    ///
    /// # Errors
    /// `InvalidInput` for a bad name or password, or a user that exists.
    pub fn add(&self, name: String, password: String, role: SystemUserRole) -> Result<()> {
        Ok(self.inner.add(&name, &password, role.into())?)
    }

    /// Replaces a user's password (slow, like `add`).
    ///
    /// # Errors
    /// `InvalidInput` for an unknown user or a bad password.
    pub fn set_password(&self, name: String, password: String) -> Result<()> {
        Ok(self.inner.set_password(&name, &password)?)
    }

    /// Removes a user; `false` if there was none.
    ///
    /// # Errors
    /// `Storage` if the database cannot be written.
    pub fn remove(&self, name: String) -> Result<bool> {
        Ok(self.inner.remove(&name)?)
    }

    /// Every user, by name.
    ///
    /// # Errors
    /// `Storage` or `Corrupt` if the table cannot be read.
    pub fn list(&self) -> Result<Vec<SystemUser>> {
        Ok(self
            .inner
            .list()?
            .into_iter()
            .map(|u| SystemUser {
                name: u.name,
                role: u.role.into(),
                created_secs: u.created,
                last_login_secs: u.last_login,
            })
            .collect())
    }
}

/// A server a hub replicates with continuously (CouchDB's `_replicator`
/// document, for camps). Its password is given apart and kept sealed.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ConfiguredServer {
    /// The administrator's name for it, unique in the hub.
    pub name: String,
    /// `wss://host:port/db` (another hub) or `https://host/db` (a CouchDB).
    pub url: String,
    /// The user name presented.
    pub username: String,
    /// Which certificates of the server are trusted.
    pub server_trust: ServerTrust,
    /// Push, pull or both.
    pub direction: Direction,
    /// Collections replicated (made locally when missing); empty: every
    /// collection the server serves, asked at each connection.
    #[uniffi(default = [])]
    pub collections: Vec<String>,
}

impl ConfiguredServer {
    /// Both directions, every served collection, public CAs (for Rust
    /// callers; Kotlin and Swift get these as default arguments).
    pub fn new(name: String, url: String, username: String) -> Self {
        ConfiguredServer {
            name,
            url,
            username,
            server_trust: ServerTrust::SystemRoots,
            direction: Direction::PushAndPull,
            collections: vec![],
        }
    }

    fn to_core(&self) -> Result<core::ServerConfig> {
        let mut config = core::ServerConfig::new(&self.name, &self.url, &self.username)
            .with_trust(self.server_trust.clone().try_into()?);
        config.direction = self.direction.into();
        config.collections.clone_from(&self.collections);
        Ok(config)
    }
}

impl TryFrom<core::ServerConfig> for ConfiguredServer {
    type Error = OutpostError;

    fn try_from(c: core::ServerConfig) -> Result<Self> {
        let server_trust = match c.trust {
            CoreTrust::SystemRoots => ServerTrust::SystemRoots,
            CoreTrust::CaCertificates(certificates) => ServerTrust::CaCertificates { certificates },
            CoreTrust::PinnedFingerprint(fingerprint) => ServerTrust::PinnedFingerprint { fingerprint },
            CoreTrust::PinnedCertificate(certificate) => ServerTrust::PinnedCertificate { certificate },
            CoreTrust::SelfSignedOnly => ServerTrust::SelfSignedOnly,
            CoreTrust::InsecureAcceptAny => ServerTrust::InsecureAcceptAny,
            other => {
                return Err(OutpostError::Internal(format!(
                    "the server {:?} has a trust this binding does not know: {other:?}",
                    c.name
                )))
            }
        };
        Ok(ConfiguredServer {
            name: c.name,
            url: c.url,
            username: c.username,
            server_trust,
            direction: c.direction.into(),
            collections: c.collections,
        })
    }
}

/// Where a configured server's replication is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum ServerState {
    /// Connecting or transferring changes.
    Running,
    /// Caught up, waiting for changes.
    Idle,
    /// The server cannot be reached; retried with backoff.
    Offline,
    /// Stopped on an error (`error` says which, e.g. a wrong password);
    /// retried after a long backoff, or at once when the server is added
    /// again.
    Error,
    /// Not running.
    Stopped,
}

/// A configured server's replication status.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ServerStatus {
    /// The server's name.
    pub name: String,
    /// Its state.
    pub state: ServerState,
    /// When the state last changed, seconds since the Unix epoch.
    pub state_time_secs: u64,
    /// With `Offline` or `Error`: when the next attempt is due, seconds
    /// since the Unix epoch.
    pub next_retry_secs: Option<u64>,
    /// With `Error` (and `Offline`): what went wrong.
    pub error: Option<String>,
    /// Documents pulled from the server since the hub started.
    pub docs_read: u64,
    /// Documents pushed to the server since the hub started.
    pub docs_written: u64,
    /// Documents that could not be stored since the hub started.
    pub docs_failed: u64,
    /// Changes known and not yet processed.
    pub pending: u64,
    /// When the replication last caught up, seconds since the Unix epoch.
    pub last_success_secs: Option<u64>,
}

impl From<&core::ServerStatus> for ServerStatus {
    fn from(s: &core::ServerStatus) -> Self {
        ServerStatus {
            name: s.name.clone(),
            state: match s.state {
                core::ServerState::Running => ServerState::Running,
                core::ServerState::Idle => ServerState::Idle,
                core::ServerState::Offline => ServerState::Offline,
                core::ServerState::Error => ServerState::Error,
                core::ServerState::Stopped => ServerState::Stopped,
            },
            state_time_secs: s.state_time,
            next_retry_secs: s.next_retry,
            error: s.error.clone(),
            docs_read: s.docs_read,
            docs_written: s.docs_written,
            docs_failed: s.docs_failed,
            pending: s.pending,
            last_success_secs: s.last_success,
        }
    }
}

/// Told about every status a [`ReplicationManager`] writes, on a
/// replication thread.
#[uniffi::export(with_foreign)]
pub trait ServerStatusListener: Send + Sync {
    /// A server's status changed. An error thrown here is ignored.
    fn on_status(&self, status: ServerStatus) -> Result<()>;
}

/// Runs every configured server of a hub's database continuously, beside
/// its listener: servers are kept in the database (passwords sealed with a
/// key from the key store), restarted when the manager is opened again,
/// and added, replaced or removed while it runs. It runs until `stop()`:
/// releasing the handle does not stop it.
#[derive(uniffi::Object)]
pub struct ReplicationManager {
    inner: Arc<core::ReplicationManager>,
    db: outpost_core::Database,
    /// Whether it runs: the runtime holds `inner` while it is `true`.
    running: Arc<tokio::sync::watch::Sender<bool>>,
}

#[uniffi::export]
impl ReplicationManager {
    /// Opens the configured servers of `database` and starts running them.
    /// Passwords are sealed with a key kept in the platform key store
    /// (Android Keystore, iOS Keychain), or in a file key store at
    /// `key_store_directory` (the only choice on desktops).
    ///
    /// # Errors
    /// `Storage` for the database, `InvalidInput` without a key store.
    #[uniffi::constructor(default(key_store_directory = None))]
    pub fn open(database: Arc<Database>, key_store_directory: Option<String>) -> Result<Arc<Self>> {
        let keys = key_store(key_store_directory)?;
        let inner = Arc::new(core::ReplicationManager::open(&database.inner, keys)?);
        let manager = Arc::new(ReplicationManager {
            inner,
            db: database.inner.clone(),
            running: Arc::new(tokio::sync::watch::channel(false).0),
        });
        manager.start()?;
        Ok(manager)
    }

    /// Adds a server, or replaces the one with the same name (its
    /// replication restarts with the new settings, e.g. a fixed password).
    ///
    /// # Errors
    /// `InvalidInput` for a bad configuration or an empty password,
    /// `KeyStore` if the sealing key cannot be read or made.
    pub fn add(&self, server: ConfiguredServer, password: String) -> Result<()> {
        Ok(self.inner.add(&server.to_core()?, &password)?)
    }

    /// Removes a server and stops replicating with it; `false` if there was
    /// none.
    ///
    /// # Errors
    /// `Storage` if the database cannot be written.
    pub fn remove(&self, name: String) -> Result<bool> {
        Ok(core::ReplicationManager::remove(&self.db, &name)?)
    }

    /// The configured servers, by name (no passwords).
    ///
    /// # Errors
    /// `Storage` or `Corrupt` if they cannot be read.
    pub fn servers(&self) -> Result<Vec<ConfiguredServer>> {
        let servers = core::ReplicationManager::servers(&self.db)?;
        servers.into_iter().map(TryInto::try_into).collect()
    }

    /// Each configured server's status, by name (`Stopped` for one not run
    /// yet).
    ///
    /// # Errors
    /// `Storage` or `Corrupt` if they cannot be read.
    pub fn statuses(&self) -> Result<Vec<ServerStatus>> {
        let statuses = core::ReplicationManager::statuses(&self.db)?;
        Ok(statuses.iter().map(Into::into).collect())
    }

    /// Calls `listener` with every status written, until the handle is
    /// cancelled.
    pub fn add_status_listener(&self, listener: Arc<dyn ServerStatusListener>) -> Arc<ListenerHandle> {
        let token = self.inner.add_status_listener(move |s| {
            let _ = listener.on_status(s.into());
        });
        ListenerHandle::new(vec![token])
    }

    /// Runs the configured servers again after `stop()` (nothing if
    /// running).
    ///
    /// # Errors
    /// `Internal` if the runtime could not start.
    pub fn start(&self) -> Result<()> {
        let runtime = runtime()?;
        let _entered = runtime.enter();
        self.inner.start()?;
        if !self.running.send_replace(true) {
            // The runtime holds the manager until `stop`, like a listener:
            // it must not stop at some garbage collection of its handle.
            let (kept, running, mut watching) = (self.inner.clone(), self.running.clone(), self.running.subscribe());
            runtime.spawn(async move {
                let _ = watching.wait_for(|run| !run).await;
                drop((kept, running));
            });
        }
        Ok(())
    }

    /// Stops every replication (their status becomes `Stopped`); returns
    /// once they have.
    pub async fn stop(&self) {
        let inner = self.inner.clone();
        // Only a runtime that could not start fails here, and then nothing runs.
        let _ = spawn(async move {
            inner.stop().await;
            Ok(())
        })
        .await;
        self.running.send_replace(false);
    }
}
