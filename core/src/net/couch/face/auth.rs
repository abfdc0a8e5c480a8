//! Who a request is: the client certificate or anonymous listener, the
//! `Authorization: Basic` header (checked once per connection through the
//! listener's login throttle and password-check budget), or a signed
//! `AuthSession` cookie.
//!
//! A stored system user's login is tied to the hash its password matched:
//! a cached header, a connection's checked header and a cookie all stop
//! working at the user's next request once the user is removed or given a
//! new password (see [`StoredLogins`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, COOKIE};
use hyper::{Request, Response};
use zeroize::Zeroizing;

use super::http::{error_response, FaceBody};
use super::FaceConnection;
use crate::hub::SystemUsers;
use crate::net::auth::{parse_basic_header, Principal};
use crate::net::couch::wire::CouchError;
use crate::tuning::{FACE_CREDENTIAL_CACHE_TTL, MAX_FACE_CACHED_CREDENTIALS};

/// A password check that passed: who it let in and, for a stored system
/// user, the hash the password matched (the login lasts while it is the
/// user's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Login {
    /// Who it let in.
    pub(crate) principal: Principal,
    /// For a stored system user: the hash the password matched.
    pub(crate) stored_hash: Option<String>,
}

/// The stored system users a listener checks, if any: whether a login or
/// a cookie still holds.
#[derive(Clone, Default)]
pub(crate) struct StoredLogins(Option<SystemUsers>);

impl StoredLogins {
    /// Checks against `users` (`None`: logins never expire early).
    pub(crate) fn new(users: Option<SystemUsers>) -> StoredLogins {
        StoredLogins(users)
    }

    /// The user's current hash, `""` for a user not stored (given at
    /// start), `None` if it cannot be read (fail closed).
    async fn current_hash(&self, user: &str) -> Option<String> {
        let Some(users) = self.0.clone() else {
            return Some(String::new());
        };
        let user = user.to_owned();
        match tokio::task::spawn_blocking(move || users.hash_of(&user)).await {
            Ok(Ok(hash)) => Some(hash.unwrap_or_default()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the system users; login refused");
                None
            }
            Err(_) => None,
        }
    }

    /// Whether `login` still holds: not a stored user's, or the user's
    /// password is still the one it matched.
    pub(crate) async fn holds(&self, login: &Login) -> bool {
        match (&login.principal, &login.stored_hash) {
            (Principal::User(user), Some(hash)) => self.current_hash(user).await.as_deref() == Some(hash.as_str()),
            _ => true,
        }
    }

    /// What a cookie of `user` is bound to now: its current hash (`""`
    /// for a user not stored); `None` when the users cannot be read.
    pub(crate) async fn binding(&self, user: &str) -> Option<String> {
        self.current_hash(user).await
    }
}

/// Basic credentials that passed the password check lately, so that a
/// client opening a new connection per request (node-fetch, PouchDB's
/// default) is not put through a slow password hash every time. Keyed by
/// an HMAC of the header under a key drawn when the listener starts (the
/// password is never kept), each entry valid for
/// [`FACE_CREDENTIAL_CACHE_TTL`], at most [`MAX_FACE_CACHED_CREDENTIALS`].
pub(crate) struct CredentialCache {
    key: ring::hmac::Key,
    entries: Mutex<HashMap<Vec<u8>, (Login, Instant)>>,
}

impl CredentialCache {
    /// An empty cache with a fresh key.
    pub(crate) fn new() -> CredentialCache {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, uuid::Uuid::new_v4().as_bytes()));
        CredentialCache {
            key,
            entries: Mutex::default(),
        }
    }

    fn tag(&self, header: &[u8]) -> Vec<u8> {
        ring::hmac::sign(&self.key, header).as_ref().to_vec()
    }

    /// Who `header` named when it last passed the check, if lately.
    pub(crate) fn lookup(&self, header: &[u8]) -> Option<Login> {
        let tag = self.tag(header);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&tag)
            .filter(|(_, at)| at.elapsed() < FACE_CREDENTIAL_CACHE_TTL)
            .map(|(p, _)| p.clone())
    }

    /// Forgets `header` (its login no longer holds).
    pub(crate) fn forget(&self, header: &[u8]) {
        let tag = self.tag(header);
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(&tag);
    }

    /// Remembers that `header` passed the check as `login`.
    pub(crate) fn remember(&self, header: &[u8], login: &Login) {
        let tag = self.tag(header);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_FACE_CACHED_CREDENTIALS {
            entries.retain(|_, (_, at)| at.elapsed() < FACE_CREDENTIAL_CACHE_TTL);
            if entries.len() >= MAX_FACE_CACHED_CREDENTIALS {
                entries.clear();
            }
        }
        entries.insert(tag, (login.clone(), Instant::now()));
    }
}

/// The listener's password check, as the face uses it.
#[async_trait]
pub(crate) trait Gate: Send + Sync {
    /// Checks a user name and password through the listener's login
    /// throttle and password-check budget.
    ///
    /// # Errors
    /// 401 `unauthorized` for wrong credentials, 429 while the throttle
    /// holds this address or user back, 503 when the password checks are
    /// all busy.
    async fn check_password(&self, ip: IpAddr, user: String, password: Zeroizing<String>) -> Result<Login, CouchError>;
}

/// Who made `request`; `None` when it carries no credentials (the handler
/// then answers 401 unless the endpoint is open). A refusal is the reply.
pub(crate) async fn principal_of(
    connection: &FaceConnection,
    request: &Request<Incoming>,
) -> Result<Option<Principal>, Response<FaceBody>> {
    if let Some(principal) = &connection.ambient {
        return Ok(Some(principal.clone()));
    }
    let stored = &connection.state.stored_logins;
    if let Some(header) = request.headers().get(AUTHORIZATION) {
        let header = header.as_bytes();
        let known = connection.verified.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let known = known.filter(|(h, _)| h.as_slice() == header).map(|(_, login)| login);
        if let Some(login) = known.or_else(|| connection.state.credentials.lookup(header)) {
            if stored.holds(&login).await {
                return Ok(Some(login.principal));
            }
            // Removed, or a new password: check the header again (and refuse it).
            connection.state.credentials.forget(header);
            *connection.verified.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        let Some((user, password)) = parse_basic_header(header) else {
            return Err(error_response(&CouchError::unauthorized(
                "Only HTTP Basic credentials and AuthSession cookies are accepted.",
            )));
        };
        return match connection.gate.check_password(connection.ip, user, password).await {
            Ok(login) => {
                connection.state.credentials.remember(header, &login);
                *connection.verified.lock().unwrap_or_else(|e| e.into_inner()) = Some((header.to_vec(), login.clone()));
                Ok(Some(login.principal))
            }
            Err(e) => Err(error_response(&e)),
        };
    }
    let cookie = request
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix("AuthSession="));
    Ok(match cookie {
        Some(value) => cookie_user(&connection.state, value).await.map(Principal::User),
        None => None,
    })
}

/// The user an `AuthSession` cookie value names, if it is ours, intact,
/// fresh, and its user's password is the one it was issued for.
pub(crate) async fn cookie_user(state: &super::FaceState, value: &str) -> Option<String> {
    let claimed = state.cookies.claimed_user(value)?;
    let binding = state.stored_logins.binding(&claimed).await?;
    state.cookies.verify(value, &binding)
}
