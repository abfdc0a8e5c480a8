//! Authentication: what a listener accepts ([`ListenerAuthenticator`]) and
//! what a replicator presents ([`ClientAuth`]).

mod password_checks;
mod throttle;
mod users;

pub(crate) use password_checks::PasswordChecks;
pub(crate) use throttle::{address_group, LoginThrottle};
pub use users::UserTable;

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use zeroize::Zeroizing;

use super::log_safe::log_safe;
use super::tls::{ClientCertificates, TlsIdentity};
use crate::hub::{Role, SystemUsers};

/// Checks a user name and password (e.g. against an app's own accounts).
/// Called on a blocking thread, so it may take its time.
pub trait PasswordAuthenticator: Send + Sync {
    /// Whether these credentials are accepted.
    fn authenticate(&self, username: &str, password: &str) -> bool;
}

impl<F: Fn(&str, &str) -> bool + Send + Sync> PasswordAuthenticator for F {
    fn authenticate(&self, username: &str, password: &str) -> bool {
        self(username, password)
    }
}

/// Who may connect to a listener.
///
/// # Examples
/// ```
/// use outpost_core::net::{ListenerAuthenticator, UserTable};
/// let users = UserTable::new().with_user("amina", "correct horse").unwrap();
/// let auth = ListenerAuthenticator::Users(users);
/// let by_callback = ListenerAuthenticator::password(|user: &str, pass: &str| user == "hub" && pass == "s3cret");
/// # let _ = (auth, by_callback);
/// ```
#[derive(Clone)]
pub enum ListenerAuthenticator {
    /// Anyone who can reach the port. Only for data that is not sensitive.
    Anonymous,
    /// HTTP basic credentials checked by a callback.
    Password(Arc<dyn PasswordAuthenticator>),
    /// HTTP basic credentials checked against salted Argon2id hashes.
    Users(UserTable),
    /// TLS client certificates (needs TLS).
    ClientCertificates(ClientCertificates),
    /// HTTP basic credentials checked against the system users stored in
    /// the hub's database (read at each login, so users added or removed
    /// by another process count at once; a `read` user may only pull; a
    /// removed user's open connections are closed), then against `also`
    /// (users given at start, with the `sync` role).
    SystemUsers {
        /// The stored users.
        stored: SystemUsers,
        /// Users given at start (e.g. `outpost serve --user`).
        also: UserTable,
    },
}

/// What a password check let in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Granted {
    /// The peer may only pull.
    pub read_only: bool,
    /// For a stored system user: the hash the password matched, so that
    /// the login ends when the user is removed or the password changes.
    pub stored_hash: Option<String>,
}

impl ListenerAuthenticator {
    /// Basic credentials checked by `check`.
    pub fn password(check: impl PasswordAuthenticator + 'static) -> Self {
        ListenerAuthenticator::Password(Arc::new(check))
    }

    /// Checks basic credentials (blocking: hashes are deliberately slow);
    /// `None` when refused.
    pub(crate) fn check_password(&self, username: &str, password: &str) -> Option<Granted> {
        let accepted = match self {
            ListenerAuthenticator::Password(check) => check.authenticate(username, password),
            ListenerAuthenticator::Users(users) => users.verify(username, password),
            ListenerAuthenticator::Anonymous | ListenerAuthenticator::ClientCertificates(_) => true,
            ListenerAuthenticator::SystemUsers { stored, also } => {
                return match stored.verify(username, password) {
                    Ok(Some((role, hash))) => Some(Granted {
                        read_only: role == Role::Read,
                        stored_hash: Some(hash),
                    }),
                    Ok(None) => also.verify(username, password).then(Granted::default),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the system users; login refused");
                        None
                    }
                };
            }
        };
        accepted.then(Granted::default)
    }
}

impl fmt::Debug for ListenerAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenerAuthenticator::Anonymous => f.write_str("Anonymous"),
            ListenerAuthenticator::Password(_) => f.write_str("Password(<callback>)"),
            ListenerAuthenticator::Users(u) => write!(f, "Users({} users)", u.len()),
            ListenerAuthenticator::ClientCertificates(c) => write!(f, "ClientCertificates({c:?})"),
            ListenerAuthenticator::SystemUsers { stored, also } => write!(f, "SystemUsers({stored:?}, {also:?})"),
        }
    }
}

/// Who a listener let in: what a session may later be scoped by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Principal {
    /// A peer of an anonymous listener.
    Anonymous,
    /// A peer that gave this user name and its password.
    User(String),
    /// A peer that presented an accepted client certificate.
    Certificate {
        /// `sha256:` + hex SHA-256 of the certificate's DER.
        fingerprint: String,
    },
}

impl fmt::Display for Principal {
    /// For log lines: user names are escaped (they came from the peer).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Anonymous => f.write_str("anonymous"),
            Principal::User(name) => write!(f, "user \"{}\"", log_safe(name)),
            Principal::Certificate { fingerprint } => write!(f, "certificate {fingerprint}"),
        }
    }
}

/// The credentials a replicator presents.
///
/// `Debug` never shows the password.
#[derive(Clone)]
pub enum ClientAuth {
    /// HTTP basic authentication (only ever sent inside TLS unless the URL
    /// is `ws://`).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// A TLS client certificate.
    Certificate(TlsIdentity),
}

impl ClientAuth {
    /// Basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        ClientAuth::Basic {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAuth::Basic { username, .. } => write!(f, "Basic {{ username: {username:?}, password: <hidden> }}"),
            ClientAuth::Certificate(id) => write!(f, "Certificate({id:?})"),
        }
    }
}

/// The `Authorization` header value for basic credentials.
pub(crate) fn basic_header(username: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

/// The user name and password of an `Authorization: Basic` header (the
/// password, and every copy of it made here, wiped from memory on drop).
pub(crate) fn parse_basic_header(value: &[u8]) -> Option<(String, Zeroizing<String>)> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?);
    let text = std::str::from_utf8(&decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), Zeroizing::new(pass.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_round_trips_and_rejects_garbage() {
        let header = basic_header("amina", "pa:ss word");
        assert_eq!(
            parse_basic_header(header.as_bytes()),
            Some(("amina".into(), Zeroizing::new("pa:ss word".to_owned())))
        );
        assert_eq!(parse_basic_header(b"Bearer abc"), None);
        assert_eq!(parse_basic_header(b"Basic !!!"), None);
        assert_eq!(parse_basic_header(&[0xff, 0xfe]), None);
        assert!(!format!("{:?}", ClientAuth::basic("u", "secret-pw")).contains("secret-pw"));
    }
}
