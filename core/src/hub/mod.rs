//! Camp hub administration: what a camp administrator manages without a
//! developer, kept in the hub's own database (local tables that are never
//! replicated):
//!
//! - [`SystemUsers`]: the accounts other camps and devices sync with,
//!   checked by a listener started with
//!   [`crate::net::ListenerAuthenticator::SystemUsers`];
//! - [`ReplicationManager`]: the configured servers this hub replicates
//!   with continuously (their passwords sealed with a key from the key
//!   store), and each one's [`ServerStatus`].

mod manager;
mod seal;
mod servers;
mod status;
mod users;

pub use manager::ReplicationManager;
pub use seal::CREDENTIAL_KEY_LABEL;
pub use servers::ServerConfig;
pub use status::{ServerState, ServerStatus};
pub use users::{Role, SystemUser, SystemUsers};
