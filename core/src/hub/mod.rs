//! Camp hub administration: what a camp administrator manages without a
//! developer. Today: [`SystemUsers`], the accounts other camps and devices
//! sync with, kept in the hub's own database (a local table that is never
//! replicated) and checked by a listener started with
//! [`crate::net::ListenerAuthenticator::SystemUsers`].

mod users;

pub use users::{Role, SystemUser, SystemUsers};
