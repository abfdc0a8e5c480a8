//! The one error enum at the FFI boundary, converted from
//! [`outpost_core::Error`] in one place.
//!
//! It is flat: each variant carries a message that says what happened and
//! what to do. Kotlin sees `OutpostException.NotFound` and so on; Swift sees
//! `OutpostError.NotFound`.

use outpost_core::{BlobError, Error, QueryError, ReplicationError};

/// Every error an Outpost call can raise.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum OutpostError {
    /// The caller passed something invalid (bad JSON, id, revision,
    /// collection name or configuration); nothing was written.
    #[error("{0}")]
    InvalidInput(String),
    /// The document or revision does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The save named a revision that is no longer current; read the
    /// document again, merge, and save over the current revision.
    #[error("{0}")]
    Conflict(String),
    /// The collection does not exist; create it first.
    #[error("{0}")]
    CollectionNotFound(String),
    /// The database was closed; open it again.
    #[error("{0}")]
    Closed(String),
    /// The listener refused the credentials: check the user name and
    /// password or the client certificate.
    #[error("{0}")]
    Auth(String),
    /// The listener's certificate failed the trust check (pin mismatch, not
    /// self-signed, unknown CA), or one side uses TLS and the other does not
    /// (`ws://` against `wss://`). Nothing was sent.
    #[error("{0}")]
    Tls(String),
    /// The peer is unreachable or went away (a replicator retries), or a
    /// listener could not bind its port or interface.
    #[error("{0}")]
    Network(String),
    /// The peer broke the protocol, or refused a request for a reason of
    /// its own (the message says which).
    #[error("{0}")]
    Peer(String),
    /// The listener is read-only and this replicator pushes: replicate with
    /// pull only, or use a listener that accepts pushes.
    #[error("{0}")]
    ReadOnly(String),
    /// The listener does not serve the database of the URL's path or a
    /// collection replicated: check the URL and the collection names.
    #[error("{0}")]
    NotServed(String),
    /// The peers speak incompatible protocol versions: upgrade the older one.
    #[error("{0}")]
    ProtocolMismatch(String),
    /// A key store could not save or load the listener's TLS identity (the
    /// message says whether to delete it or fix the store).
    #[error("{0}")]
    KeyStore(String),
    /// The database is encrypted and does not open with the key given (a
    /// wrong key or passphrase, or none); nothing was changed.
    #[error("{0}")]
    WrongKey(String),
    /// The replication was stopped.
    #[error("{0}")]
    Stopped(String),
    /// SQLite failed (disk full, I/O error, locked).
    #[error("{0}")]
    Storage(String),
    /// Stored data failed validation, or the file is from a newer Outpost.
    #[error("{0}")]
    Corrupt(String),
    /// A bug or an unexpected failure inside Outpost or a callback; please
    /// report it with the message.
    #[error("{0}")]
    Internal(String),
}

impl From<Error> for OutpostError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        // `Error` is non-exhaustive: a variant added to core lands in
        // `Internal` until it is given its own mapping here.
        match e {
            Error::InvalidInput(_) => OutpostError::InvalidInput(message),
            Error::NotFound { .. } => OutpostError::NotFound(message),
            Error::Conflict { .. } => OutpostError::Conflict(message),
            Error::CollectionNotFound(_) => OutpostError::CollectionNotFound(message),
            Error::Closed => OutpostError::Closed(message),
            Error::SchemaTooNew { .. } | Error::Corrupt(_) => OutpostError::Corrupt(message),
            Error::Storage(_) => OutpostError::Storage(message),
            Error::KeyStore(_) => OutpostError::KeyStore(message),
            Error::WrongKey => OutpostError::WrongKey(message),
            Error::Encryption(_) => OutpostError::Storage(message),
            Error::Blob(e) => match e {
                BlobError::Missing { .. } => OutpostError::NotFound(message),
                BlobError::DigestMismatch { .. }
                | BlobError::LengthMismatch { .. }
                | BlobError::TooLarge { .. }
                | BlobError::BadOffset { .. } => OutpostError::InvalidInput(message),
                BlobError::NotSupported => OutpostError::Peer(message),
                BlobError::Io(_) => OutpostError::Storage(message),
                _ => OutpostError::Internal(message),
            },
            Error::Query(QueryError::IndexNotFound(_)) => OutpostError::NotFound(message),
            Error::Query(_) => OutpostError::InvalidInput(message),
            Error::Network(_) | Error::Replication(ReplicationError::Unreachable(_)) => OutpostError::Network(message),
            Error::Replication(e) => match e {
                ReplicationError::Unauthorized(_) => OutpostError::Auth(message),
                ReplicationError::CertificateRejected(_) | ReplicationError::TlsMismatch(_) => {
                    OutpostError::Tls(message)
                }
                ReplicationError::ReadOnly => OutpostError::ReadOnly(message),
                ReplicationError::NotServed(_) => OutpostError::NotServed(message),
                ReplicationError::IncompatibleProtocol { .. } => OutpostError::ProtocolMismatch(message),
                ReplicationError::PeerMisbehaved(_) | ReplicationError::Refused { .. } => OutpostError::Peer(message),
                ReplicationError::Stopped => OutpostError::Stopped(message),
                _ => OutpostError::Internal(message),
            },
            _ => OutpostError::Internal(message),
        }
    }
}

/// Which [`OutpostError`] a [`Failure`] is: one case per variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
#[allow(missing_docs)] // The variants of `OutpostError`, documented there.
pub enum ErrorKind {
    InvalidInput,
    NotFound,
    Conflict,
    CollectionNotFound,
    Closed,
    Auth,
    Tls,
    Network,
    Peer,
    ReadOnly,
    NotServed,
    ProtocolMismatch,
    KeyStore,
    WrongKey,
    Stopped,
    Storage,
    Corrupt,
    Internal,
}

/// An error reported as a value rather than thrown (a replicator's status, a
/// document that did not replicate): the same kinds as [`OutpostError`], so
/// Kotlin and Swift turn it back into `OutpostException`/`OutpostError` and
/// match it by type.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Failure {
    /// The error's kind: the `OutpostError` variant.
    pub kind: ErrorKind,
    /// What happened and what to do.
    pub message: String,
}

impl From<OutpostError> for Failure {
    fn from(e: OutpostError) -> Self {
        let (kind, message) = match e {
            OutpostError::InvalidInput(m) => (ErrorKind::InvalidInput, m),
            OutpostError::NotFound(m) => (ErrorKind::NotFound, m),
            OutpostError::Conflict(m) => (ErrorKind::Conflict, m),
            OutpostError::CollectionNotFound(m) => (ErrorKind::CollectionNotFound, m),
            OutpostError::Closed(m) => (ErrorKind::Closed, m),
            OutpostError::Auth(m) => (ErrorKind::Auth, m),
            OutpostError::Tls(m) => (ErrorKind::Tls, m),
            OutpostError::Network(m) => (ErrorKind::Network, m),
            OutpostError::Peer(m) => (ErrorKind::Peer, m),
            OutpostError::ReadOnly(m) => (ErrorKind::ReadOnly, m),
            OutpostError::NotServed(m) => (ErrorKind::NotServed, m),
            OutpostError::ProtocolMismatch(m) => (ErrorKind::ProtocolMismatch, m),
            OutpostError::KeyStore(m) => (ErrorKind::KeyStore, m),
            OutpostError::WrongKey(m) => (ErrorKind::WrongKey, m),
            OutpostError::Stopped(m) => (ErrorKind::Stopped, m),
            OutpostError::Storage(m) => (ErrorKind::Storage, m),
            OutpostError::Corrupt(m) => (ErrorKind::Corrupt, m),
            OutpostError::Internal(m) => (ErrorKind::Internal, m),
        };
        Failure { kind, message }
    }
}

impl From<&Error> for Failure {
    fn from(e: &Error) -> Self {
        OutpostError::from(e.clone()).into()
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for OutpostError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        OutpostError::Internal(format!("a Kotlin/Swift callback threw: {}", e.reason))
    }
}

/// Result alias of this crate.
pub(crate) type Result<T, E = OutpostError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_core::{InvalidInput, KeyStoreError};

    #[test]
    fn core_errors_map_to_their_own_variant_with_the_core_message() {
        let cases: Vec<(Error, &str)> = vec![
            (InvalidInput::EmptyId.into(), "InvalidInput("),
            (
                Error::NotFound {
                    id: "a".into(),
                    rev: None,
                },
                "NotFound(",
            ),
            (
                Error::Conflict {
                    id: "a".into(),
                    current: None,
                },
                "Conflict(",
            ),
            (Error::CollectionNotFound("c".into()), "CollectionNotFound("),
            (Error::Closed, "Closed("),
            (Error::SchemaTooNew { found: 9, supported: 1 }, "Corrupt("),
            (Error::Corrupt("x".into()), "Corrupt("),
            (ReplicationError::Unreachable("x".into()).into(), "Network("),
            (ReplicationError::PeerMisbehaved("x".into()).into(), "Peer("),
            (ReplicationError::Stopped.into(), "Stopped("),
            (ReplicationError::Unauthorized("x".into()).into(), "Auth("),
            (ReplicationError::CertificateRejected("x".into()).into(), "Tls("),
            (ReplicationError::TlsMismatch("x".into()).into(), "Tls("),
            (ReplicationError::ReadOnly.into(), "ReadOnly("),
            (ReplicationError::NotServed("x".into()).into(), "NotServed("),
            (
                ReplicationError::IncompatibleProtocol { ours: 1, theirs: 2 }.into(),
                "ProtocolMismatch(",
            ),
            (
                ReplicationError::Refused {
                    code: "c".into(),
                    message: "m".into(),
                }
                .into(),
                "Peer(",
            ),
            (Error::Network("x".into()), "Network("),
            (KeyStoreError::Unavailable("x".into()).into(), "KeyStore("),
        ];
        for (core, variant) in cases {
            let text = core.to_string();
            let mapped = OutpostError::from(core);
            assert!(
                format!("{mapped:?}").starts_with(variant),
                "{text} mapped to {mapped:?}"
            );
            assert_eq!(mapped.to_string(), text);
            // The same kind as a value (a replicator's status).
            let failure = Failure::from(mapped);
            assert!(
                variant.starts_with(&format!("{:?}(", failure.kind)),
                "{failure:?} for {variant}"
            );
            assert_eq!(failure.message, text);
        }
    }
}
