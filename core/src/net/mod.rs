//! Network sync: a [`Listener`] (passive peer) serving a database over
//! WebSocket + TLS, and a [`RemoteEndpoint`] through which a
//! [`crate::replication::Replicator`] (active peer) replicates with it.
//!
//! Layers, bottom up:
//! - [`protocol`]: the wire format, free of I/O (docs/PROTOCOL.md);
//! - `connection`: one WebSocket multiplexing requests both ways, with
//!   flow control and timeouts, its memory counted by `budget`;
//! - [`tls`] identities and trust, `auth` (passwords, client
//!   certificates, login throttling, the password-check budget), `http`
//!   (the upgrade request);
//! - `admission` bounds connections before authentication and sessions
//!   after; `log_safe` escapes what peers control before it is logged;
//! - `session` serves one peer from the local store (the peer's own
//!   checkpoints through `peer_checkpoints`, blob chunks read into a
//!   `chunk_buffer`); `listener` accepts peers;
//!   `remote` is the replicator's side; `wire_count` counts the bytes
//!   an endpoint's connections move;
//! - [`couch`]: the CouchDB replication protocol on the same port (the
//!   HTTP face PouchDB and CouchDB replicate with) and the HTTP endpoint
//!   through which a replicator replicates with any CouchDB-protocol server.
//!
//! # Examples
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use outpost_core::{Database, DatabaseConfig};
//! use outpost_core::net::*;
//! use outpost_core::replication::{Replicator, ReplicatorConfig};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let hub = Database::open(dir.path().join("hub.db"), DatabaseConfig::default()).unwrap();
//! let phone = Database::open(dir.path().join("phone.db"), DatabaseConfig::default()).unwrap();
//! phone.default_collection().unwrap().save("child-1", None, r#"{"name":"Amina"}"#).unwrap();
//!
//! let users = UserTable::new().with_user("worker", "correct horse").unwrap();
//! let mut config = ListenerConfig::new(ListenerAuthenticator::Users(users));
//! config.interface = Some("127.0.0.1".into());
//! let listener = Listener::start(hub.clone(), config).await.unwrap();
//!
//! let remote = RemoteConfig::new(listener.urls()[0].clone())
//!     .with_auth(ClientAuth::basic("worker", "correct horse"))
//!     .with_trust(ServerTrust::PinnedFingerprint(listener.fingerprint().unwrap()));
//! Replicator::remote(phone, remote, ReplicatorConfig::default()).unwrap().run().await.unwrap();
//! assert!(hub.default_collection().unwrap().get("child-1").unwrap().is_some());
//! listener.stop().await;
//! # });
//! ```

mod admission;
pub(crate) mod auth;
pub(crate) mod budget;
mod chunk_buffer;
mod connection;
pub mod couch;
mod http;
mod listener;
pub(crate) mod log_safe;
pub(crate) mod peer_checkpoints;
pub mod protocol;
mod remote;
pub(crate) mod session;
pub mod tls;
mod wire_count;

pub(crate) use auth::basic_header;
pub use auth::{ClientAuth, ListenerAuthenticator, PasswordAuthenticator, UserTable};
pub use listener::{ConnectionStatus, Listener, ListenerConfig};
pub use log_safe::hides_text;
pub(crate) use remote::classify_io;
pub use remote::{RemoteConfig, RemoteEndpoint};
pub use tls::{fingerprint, ClientCertificates, FileKeyStore, KeyStore, ServerTrust, StoredIdentity, TlsIdentity};
pub(crate) use wire_count::{Counted, WireCounter};
