//! The error type of the key store functions. Errors name labels and causes,
//! never secret bytes.
//!
//! This module is the same in `outpost-android` and `outpost-apple`, so the FFI
//! crate maps both to `outpost_core`'s `KeyStoreError` the same way.

/// Why a key store call failed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyStoreError {
    /// The label is not 1-128 characters of `A-Za-z0-9._-` not starting with `.`.
    #[error("{0:?} is not a valid identity label (1-128 characters of A-Z a-z 0-9 . _ -, not starting with .)")]
    BadLabel(String),
    /// The platform key store cannot be used now: not initialised, not on this
    /// platform, locked, or its storage cannot be reached. Retrying later may work.
    #[error("the key store is unavailable: {0}")]
    Unavailable(String),
    /// A secret is stored under `label` but cannot be recovered: it fails to
    /// decrypt or authenticate, or the key that sealed it is gone. It is left in
    /// place; delete it to store a new one.
    #[error("the stored secret {label:?} is unreadable: {reason}")]
    Corrupt {
        /// The label of the secret.
        label: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The platform key store refused the call for another reason.
    #[error("the platform key store failed: {0}")]
    Platform(String),
}

/// The result type of the key store functions.
pub type Result<T> = std::result::Result<T, KeyStoreError>;
