//! `_session`: CouchDB's cookie authentication as PouchDB and CouchDB's
//! replicator use it. `POST` checks a name and password (through the
//! listener's throttle) and sets an `AuthSession` cookie: the user name and
//! an expiry, signed with HMAC-SHA256 under a key drawn at random when the
//! listener starts (so cookies die with it). Never the password. The
//! signature also covers the stored system user's password hash (not sent),
//! so a cookie dies when its user is removed or given a new password.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, SET_COOKIE};
use hyper::{Method, Request};
use ring::hmac;
use serde_json::json;
use zeroize::Zeroizing;

use super::http::{json_response, parse_json, read_body, Reply};
use super::Ctx;
use crate::net::auth::Principal;
use crate::net::couch::wire::CouchError;
use crate::tuning::{FACE_SESSION_COOKIE_TTL, MAX_FACE_SESSION_BODY_BYTES};

/// The key that signs `AuthSession` cookies.
pub(crate) struct SessionKey {
    key: hmac::Key,
}

impl SessionKey {
    /// A fresh random key.
    pub(crate) fn random() -> SessionKey {
        let rng = ring::rand::SystemRandom::new();
        // ring fails only where the system has no random source; uuid's
        // v4 draws from the same source through another path.
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, uuid::Uuid::new_v4().as_bytes()));
        SessionKey { key }
    }

    /// What is signed: `payload` for a user whose login is bound to
    /// `binding` (a stored user's hash, or `""`).
    fn signed(payload: &str, binding: &str) -> Vec<u8> {
        [payload.as_bytes(), b"\n", binding.as_bytes()].concat()
    }

    /// A cookie value for `user`, valid until `expires` (seconds since
    /// 1970) while the user's login stays bound to `binding`.
    pub(crate) fn issue(&self, user: &str, expires: u64, binding: &str) -> String {
        let payload = format!("{}.{expires:x}", URL_SAFE_NO_PAD.encode(user));
        let tag = hmac::sign(&self.key, &Self::signed(&payload, binding));
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The user a cookie value claims to be, unchecked: to look up what
    /// [`SessionKey::verify`] needs.
    pub(crate) fn claimed_user(&self, value: &str) -> Option<String> {
        let (payload, _) = value.rsplit_once('.')?;
        let (user, _) = payload.split_once('.')?;
        String::from_utf8(URL_SAFE_NO_PAD.decode(user).ok()?).ok()
    }

    /// The user a cookie value names, if it is ours, intact, not expired
    /// and issued for `binding`.
    pub(crate) fn verify(&self, value: &str, binding: &str) -> Option<String> {
        let (payload, tag) = value.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, &Self::signed(payload, binding), &tag).ok()?;
        let (_, expires) = payload.split_once('.')?;
        let expires = u64::from_str_radix(expires, 16).ok()?;
        if expires <= now_secs() {
            return None;
        }
        self.claimed_user(value)
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `GET`, `POST` and `DELETE /_session`.
pub(crate) async fn handle(ctx: &Ctx<'_>, request: Request<Incoming>) -> Reply {
    match *request.method() {
        Method::GET | Method::HEAD => {
            let name = match &ctx.principal {
                Some(Principal::User(user)) => json!(user),
                _ => json!(null),
            };
            json_response(
                200,
                &json!({"ok": true, "userCtx": {"name": name, "roles": []},
                        "info": {"authentication_handlers": ["cookie", "default"]}}),
            )
        }
        Method::POST => log_in(ctx, request).await,
        Method::DELETE => {
            let mut response = json_response(200, &json!({"ok": true}))?;
            let expired = "AuthSession=; Version=1; Path=/; HttpOnly; Max-Age=0";
            response
                .headers_mut()
                .insert(SET_COOKIE, HeaderValue::from_static(expired));
            Ok(response)
        }
        _ => Err(CouchError::new(
            405,
            "method_not_allowed",
            "Only GET, POST and DELETE are served here.",
        )),
    }
}

/// `POST /_session` with `{"name","password"}` as JSON or a form.
async fn log_in(ctx: &Ctx<'_>, request: Request<Incoming>) -> Reply {
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let body = read_body(ctx, request, MAX_FACE_SESSION_BODY_BYTES).await?;
    let (name, password) = if is_form {
        let text = std::str::from_utf8(&body.bytes).map_err(|_| CouchError::bad_request("the form is not UTF-8"))?;
        let form = super::http::Query::parse(Some(text))?;
        (
            form.get("name").map(str::to_owned),
            form.get("password").map(|p| Zeroizing::new(p.to_owned())),
        )
    } else {
        #[derive(serde::Deserialize)]
        struct Credentials {
            name: Option<String>,
            password: Option<String>,
        }
        let c: Credentials = parse_json(&body.bytes)?;
        (c.name, c.password.map(Zeroizing::new))
    };
    let (Some(name), Some(password)) = (name, password) else {
        return Err(CouchError::bad_request("name and password are required"));
    };
    let login = ctx
        .connection
        .gate
        .check_password(ctx.connection.ip, name, password)
        .await?;
    let Principal::User(user) = login.principal else {
        return Err(CouchError::unauthorized("This listener does not take passwords."));
    };
    let ttl = FACE_SESSION_COOKIE_TTL.as_secs();
    let binding = login.stored_hash.unwrap_or_default();
    let cookie = ctx.state.cookies.issue(&user, now_secs() + ttl, &binding);
    let secure = if ctx.state.tls { "; Secure" } else { "" };
    let header = format!("AuthSession={cookie}; Version=1; Path=/; HttpOnly; Max-Age={ttl}{secure}");
    let mut response = json_response(200, &json!({"ok": true, "name": user, "roles": []}))?;
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_str(&header).map_err(|_| CouchError::bad_request("the user name cannot be in a cookie"))?,
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_verify_only_when_intact_ours_fresh_and_bound_to_the_same_hash() {
        let key = SessionKey::random();
        let cookie = key.issue("amina", now_secs() + 60, "hash-1");
        assert_eq!(key.verify(&cookie, "hash-1").as_deref(), Some("amina"));
        assert_eq!(key.claimed_user(&cookie).as_deref(), Some("amina"));
        assert_eq!(key.verify(&cookie, "hash-2"), None, "a new password ends the cookie");
        assert_eq!(key.verify(&cookie, ""), None, "a removed user's cookie ends");
        assert_eq!(SessionKey::random().verify(&cookie, "hash-1"), None);
        assert_eq!(key.verify(&key.issue("amina", now_secs() - 1, ""), ""), None);
        let forged = cookie.replacen(&URL_SAFE_NO_PAD.encode("amina"), &URL_SAFE_NO_PAD.encode("admin"), 1);
        assert_eq!(key.verify(&forged, "hash-1"), None);
        assert_eq!(key.verify("garbage", ""), None);
    }
}
