//! Who a request is: the client certificate or anonymous listener, the
//! `Authorization: Basic` header (checked once per connection through the
//! listener's login throttle and password-check budget), or a signed
//! `AuthSession` cookie.

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
use crate::couch::wire::CouchError;
use crate::net::auth::{parse_basic_header, Principal};
use crate::tuning::{FACE_CREDENTIAL_CACHE_TTL, MAX_FACE_CACHED_CREDENTIALS};

/// Basic credentials that passed the password check lately, so that a
/// client opening a new connection per request (node-fetch, PouchDB's
/// default) is not put through a slow password hash every time. Keyed by
/// an HMAC of the header under a key drawn when the listener starts (the
/// password is never kept), each entry valid for
/// [`FACE_CREDENTIAL_CACHE_TTL`], at most [`MAX_FACE_CACHED_CREDENTIALS`].
pub(crate) struct CredentialCache {
    key: ring::hmac::Key,
    entries: Mutex<HashMap<Vec<u8>, (Principal, Instant)>>,
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
    pub(crate) fn lookup(&self, header: &[u8]) -> Option<Principal> {
        let tag = self.tag(header);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&tag)
            .filter(|(_, at)| at.elapsed() < FACE_CREDENTIAL_CACHE_TTL)
            .map(|(p, _)| p.clone())
    }

    /// Remembers that `header` passed the check as `principal`.
    pub(crate) fn remember(&self, header: &[u8], principal: &Principal) {
        let tag = self.tag(header);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_FACE_CACHED_CREDENTIALS {
            entries.retain(|_, (_, at)| at.elapsed() < FACE_CREDENTIAL_CACHE_TTL);
            if entries.len() >= MAX_FACE_CACHED_CREDENTIALS {
                entries.clear();
            }
        }
        entries.insert(tag, (principal.clone(), Instant::now()));
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
    async fn check_password(
        &self,
        ip: IpAddr,
        user: String,
        password: Zeroizing<String>,
    ) -> Result<Principal, CouchError>;
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
    if let Some(header) = request.headers().get(AUTHORIZATION) {
        let header = header.as_bytes();
        if let Some((known, principal)) = &*connection.verified.lock().unwrap_or_else(|e| e.into_inner()) {
            if known.as_slice() == header {
                return Ok(Some(principal.clone()));
            }
        }
        if let Some(principal) = connection.state.credentials.lookup(header) {
            return Ok(Some(principal));
        }
        let Some((user, password)) = parse_basic_header(header) else {
            return Err(error_response(&CouchError::unauthorized(
                "Only HTTP Basic credentials and AuthSession cookies are accepted.",
            )));
        };
        return match connection.gate.check_password(connection.ip, user, password).await {
            Ok(principal) => {
                connection.state.credentials.remember(header, &principal);
                *connection.verified.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((header.to_vec(), principal.clone()));
                Ok(Some(principal))
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
    Ok(cookie
        .and_then(|value| connection.state.cookies.verify(value))
        .map(Principal::User))
}
