//! `Listener`: serves a database to other devices over WebSocket + TLS
//! (the passive peer), with its authenticator and configuration.
//!
//! # Examples
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use outpost_ffi::*;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let db = Database::open(dir.path().join("hub.db").display().to_string(), DatabaseConfig::default()).unwrap();
//! let users = [("worker".to_string(), "correct horse".to_string())].into();
//! let mut config = ListenerConfig::new(ListenerAuthenticator::users(users).unwrap());
//! config.network_interface = Some("127.0.0.1".into());
//! let listener = Listener::start(db, config).await.unwrap();
//! assert!(listener.urls()[0].starts_with("wss://127.0.0.1:"));
//! listener.stop().await;
//! # });
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use outpost_core::net::{self as core, ClientCertificates, StoredIdentity, UserTable};
use outpost_core::InvalidInput;

use crate::database::Database;
use crate::error::{OutpostError, Result};
use crate::runtime::{runtime, spawn};
use crate::tls::TlsIdentity;

/// Checks a user name and password, written in Kotlin or Swift (e.g.
/// against the app's own accounts). Called on a background thread for each
/// connection that presents basic credentials. Throwing refuses the
/// connection, like returning `false`.
#[uniffi::export(with_foreign)]
pub trait PasswordAuthenticator: Send + Sync {
    /// Whether these credentials are accepted.
    fn authenticate(&self, username: String, password: String) -> Result<bool>;
}

/// Adapts a foreign [`PasswordAuthenticator`] to the core's: an error
/// thrown by the callback refuses (fails closed).
struct ForeignPassword(Arc<dyn PasswordAuthenticator>);

impl core::PasswordAuthenticator for ForeignPassword {
    fn authenticate(&self, username: &str, password: &str) -> bool {
        self.0
            .authenticate(username.to_owned(), password.to_owned())
            .unwrap_or(false)
    }
}

/// Who may connect to a [`Listener`]. Made by one constructor per kind;
/// opaque, so passwords never show in `toString`/`Debug`.
// Debug: the core type's, which shows no secret.
#[derive(Debug, uniffi::Object)]
pub struct ListenerAuthenticator {
    inner: core::ListenerAuthenticator,
}

#[uniffi::export]
impl ListenerAuthenticator {
    /// Basic credentials checked against these users (name to password).
    /// The passwords are hashed (salted Argon2id) at once and not kept.
    ///
    /// # Errors
    /// `InvalidInput` for an empty user name or password, or a name with `:`.
    #[uniffi::constructor]
    pub fn users(users: HashMap<String, String>) -> Result<Arc<Self>> {
        let mut table = UserTable::new();
        for (username, password) in &users {
            table = table.with_user(username, password)?;
        }
        Ok(Self::new(core::ListenerAuthenticator::Users(table)))
    }

    /// Basic credentials checked against the system users stored in a
    /// hub's database (`SystemUsers`), read at each login: users added,
    /// removed or given a new password count at once, a removed user's (or
    /// changed password's) open connections are closed, and a `Read` user
    /// may only pull.
    #[uniffi::constructor]
    pub fn system_users(users: Arc<crate::hub::SystemUsers>) -> Arc<Self> {
        Self::new(core::ListenerAuthenticator::SystemUsers {
            stored: users.inner.clone(),
            also: UserTable::new(),
        })
    }

    /// Basic credentials checked by `authenticator` (Kotlin or Swift).
    #[uniffi::constructor]
    pub fn password(authenticator: Arc<dyn PasswordAuthenticator>) -> Arc<Self> {
        Self::new(core::ListenerAuthenticator::password(ForeignPassword(authenticator)))
    }

    /// TLS client certificates whose fingerprint (`sha256:HEX`) is listed.
    #[uniffi::constructor]
    pub fn client_certificates(fingerprints: Vec<String>) -> Arc<Self> {
        Self::new(core::ListenerAuthenticator::ClientCertificates(
            ClientCertificates::Fingerprints(fingerprints),
        ))
    }

    /// Anyone who can reach the port. Only for data that is not sensitive.
    #[uniffi::constructor]
    pub fn anonymous() -> Arc<Self> {
        Self::new(core::ListenerAuthenticator::Anonymous)
    }
}

impl ListenerAuthenticator {
    fn new(inner: core::ListenerAuthenticator) -> Arc<Self> {
        Arc::new(ListenerAuthenticator { inner })
    }
}

/// How a [`Listener`] serves its database; every field but the
/// authenticator has a default.
#[derive(Clone, Debug, uniffi::Record)]
pub struct ListenerConfig {
    /// Who may connect.
    pub authenticator: Arc<ListenerAuthenticator>,
    /// Collections served (they must exist); empty means the default collection.
    #[uniffi(default = [])]
    pub collections: Vec<String>,
    /// TCP port; 0 picks a free one (read it with `port()`).
    #[uniffi(default = 0)]
    pub port: u16,
    /// Interface to listen on, by IP address or name (`wlan0`); every IPv4
    /// interface if unset.
    #[uniffi(default = None)]
    pub network_interface: Option<String>,
    /// The TLS identity presented. Without it (and without
    /// `identity_label`) a new self-signed identity is generated at each
    /// start, so its fingerprint changes every time.
    #[uniffi(default = None)]
    pub tls_identity: Option<Arc<TlsIdentity>>,
    /// Serve plain `ws://`: credentials and documents then cross the network
    /// readable by anyone on it.
    #[uniffi(default = false)]
    pub disable_tls: bool,
    /// Refuse pushes: peers may only pull.
    #[uniffi(default = false)]
    pub read_only: bool,
    /// Simultaneous connections allowed; more are told to retry later.
    #[uniffi(default = 64)]
    pub max_connections: u32,
    /// Keep the listener's identity under this label in a key store: made
    /// on the first start, loaded on the next ones, so the fingerprint that
    /// peers pin stays the same. Kept in the platform key store by default
    /// (Android Keystore, iOS Keychain); in a file key store when
    /// `key_store_directory` is given (the only choice on desktops).
    #[uniffi(default = None)]
    pub identity_label: Option<String>,
    /// A file key store directory for `identity_label` instead of the
    /// platform key store (in app-private storage).
    #[uniffi(default = None)]
    pub key_store_directory: Option<String>,
    /// Allow delta sync with replicators that ask for it (their
    /// `deltaSync`): an edited document moves as its changes. Off by
    /// default, as in Couchbase Lite.
    #[uniffi(default = false)]
    pub delta_sync: bool,
}

impl TryFrom<ListenerConfig> for core::ListenerConfig {
    type Error = OutpostError;

    fn try_from(c: ListenerConfig) -> Result<Self> {
        let mut config = core::ListenerConfig::new(c.authenticator.inner.clone());
        if !c.collections.is_empty() {
            config.collections = c.collections;
        }
        config.port = c.port;
        config.interface = c.network_interface;
        config.identity = c.tls_identity.map(|id| id.inner.clone());
        config.disable_tls = c.disable_tls;
        config.read_only = c.read_only;
        config.delta_sync = c.delta_sync;
        config.max_connections = usize::try_from(c.max_connections).unwrap_or(usize::MAX);
        config.stored_identity = match (c.identity_label, c.key_store_directory) {
            (None, None) => None,
            (Some(label), dir) => Some(StoredIdentity::new(crate::platform_keys::key_store(dir)?, label)),
            (None, Some(_)) => return Err(bad_config("keyStoreDirectory needs identityLabel")),
        };
        Ok(config)
    }
}

fn bad_config(why: &str) -> OutpostError {
    outpost_core::Error::from(InvalidInput::BadConfig(why.to_owned())).into()
}

/// Connections to a [`Listener`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ConnectionStatus {
    /// Connections open now (including ones still handshaking).
    pub connections: u64,
    /// Connections not yet authenticated (TLS handshake, HTTP upgrade or
    /// password check). A high count that does not turn into sessions means
    /// strangers are holding connections open.
    pub handshaking: u64,
    /// Connections with a request being served now.
    pub active: u64,
    /// Connections accepted since the listener started.
    pub total_accepted: u64,
    /// Bytes the connections hold now for requests being served and frames
    /// waiting to be written (bounded by the listener).
    pub buffered_bytes: u64,
}

/// Serves a database to other devices (the passive peer, like Couchbase
/// Lite's `URLEndpointListener`); they replicate with one of its `urls()`.
/// It runs until `stop()`: releasing the handle (or a garbage collection)
/// does not stop it, because the runtime keeps it while it runs.
#[derive(uniffi::Object)]
pub struct Listener {
    inner: Arc<core::Listener>,
    /// Releases the runtime's reference, so the listener is freed once
    /// stopped and released.
    stopped: Arc<tokio::sync::Notify>,
}

#[uniffi::export]
impl Listener {
    /// Starts serving `database`.
    ///
    /// # Errors
    /// `InvalidInput` for an inconsistent configuration,
    /// `CollectionNotFound` for a collection that does not exist, `Network`
    /// if the port or interface cannot be used, `KeyStore` if the stored
    /// identity cannot be read or saved.
    #[uniffi::constructor]
    pub async fn start(database: Arc<Database>, config: ListenerConfig) -> Result<Arc<Self>> {
        let db = database.inner.clone();
        let config = config.try_into()?;
        let inner = Arc::new(spawn(async move { Ok(core::Listener::start(db, config).await?) }).await?);
        let stopped = Arc::new(tokio::sync::Notify::new());
        // The runtime holds the listener until `stop`: a listener must not
        // stop at some garbage collection of its handle.
        let (kept, signal) = (inner.clone(), stopped.clone());
        runtime()?.spawn(async move {
            signal.notified().await;
            drop(kept);
        });
        Ok(Arc::new(Listener { inner, stopped }))
    }

    /// Stops accepting and closes every connection (their replicators go
    /// offline and retry). Returns once the port is released.
    pub async fn stop(&self) {
        let inner = self.inner.clone();
        // Only a runtime that could not start fails here, and then nothing runs.
        let _ = spawn(async move {
            inner.stop().await;
            Ok(())
        })
        .await;
        self.stopped.notify_one();
    }

    /// The port listened on (the one picked when the config said 0).
    pub fn port(&self) -> u16 {
        self.inner.port()
    }

    /// The URLs peers can replicate with, one per address listened on.
    pub fn urls(&self) -> Vec<String> {
        self.inner.urls()
    }

    /// The TLS certificate's fingerprint (`sha256:HEX`) for peers to pin;
    /// `null`/`nil` without TLS.
    pub fn fingerprint(&self) -> Option<String> {
        self.inner.fingerprint()
    }

    /// Connection counts.
    pub fn connection_status(&self) -> ConnectionStatus {
        let s = self.inner.connection_status();
        ConnectionStatus {
            connections: s.connections as u64,
            handshaking: s.handshaking as u64,
            active: s.active as u64,
            total_accepted: s.total_accepted,
            buffered_bytes: s.buffered_bytes as u64,
        }
    }
}

impl ListenerConfig {
    /// A configuration with `authenticator` and the defaults (for Rust
    /// callers; Kotlin and Swift get the defaults as default arguments).
    pub fn new(authenticator: Arc<ListenerAuthenticator>) -> Self {
        ListenerConfig {
            authenticator,
            collections: vec![],
            port: 0,
            network_interface: None,
            tls_identity: None,
            disable_tls: false,
            read_only: false,
            max_connections: 64,
            identity_label: None,
            key_store_directory: None,
            delta_sync: false,
        }
    }
}
