//! The CouchDB face of a listener: CouchDB's HTTP replication API on the
//! listener's port, behind its TLS, authenticators, login throttle and
//! admission limits. A request that is not a WebSocket upgrade comes here
//! (the listener replays the bytes it read into hyper).
//!
//! A database's collections appear as CouchDB databases the way Sync
//! Gateway names keyspaces: `/{db}` is the default collection and
//! `/{db}.{collection}` a named one. Revisions written by CouchDB clients
//! are stored [`crate::revision::RevisionTrust::Unverified`]: their ids are
//! not Outpost's.
//!
//! One module per endpoint family: `server` (welcome, database info and
//! creation, `_ensure_full_commit`), `local` (`_local` checkpoints),
//! `changes`, `revs_diff`, `bulk_docs`, `bulk_get` (and `open_revs`),
//! `documents` (documents and attachments), `all_docs`, `session`
//! (`_session` cookies); `routes` parses paths, `http` reads bodies and
//! writes replies, `auth` decides who a request is.

mod all_docs;
mod auth;
mod blobs;
mod bulk_docs;
mod bulk_get;
mod changes;
mod documents;
mod http;
mod local;
mod revision_docs;
mod revs_diff;
mod routes;
mod server;
mod session;
mod write_deadline;

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) use auth::{cookie_user, CredentialCache, Gate, Login, StoredLogins};
pub(crate) use session::SessionKey;

use self::http::{error_response, FaceBody, Query, Reply};
use self::routes::{DbPath, Route};
use super::wire::CouchError;
use crate::error::Error;
use crate::net::auth::Principal;
use crate::net::budget::{Budgets, ByteBudget};
use crate::store::{Collection, Database, DEFAULT_COLLECTION};
use crate::tuning::{CONNECTION_BUFFER_BYTES, FACE_IDLE_TIMEOUT, MAX_FACE_HEAD_BYTES};

/// What every connection of one listener's face shares.
pub(crate) struct FaceState {
    /// The database served.
    pub(crate) db: Database,
    /// Its name in URLs.
    pub(crate) name: String,
    /// Whether writes are refused.
    pub(crate) read_only: bool,
    /// Users whose last password check granted pulls only (a stored system
    /// user with the `read` role): their writes are refused as on a
    /// read-only listener, whether they come by Basic or by cookie.
    read_only_users: Mutex<HashSet<String>>,
    /// Collections served: the listener's, and those created through the face.
    served: Mutex<HashSet<String>>,
    /// Signs `_session` cookies.
    pub(crate) cookies: SessionKey,
    /// Basic credentials that passed lately.
    pub(crate) credentials: CredentialCache,
    /// The stored system users whose logins (cached, per connection, or
    /// cookies) end when they are removed or change password.
    pub(crate) stored_logins: StoredLogins,
    /// MD5 digests of blobs, as attachments name them.
    pub(crate) md5: Arc<blobs::Md5Cache>,
    /// Live document counts by collection, with the sequence they were
    /// counted at (`GET /{db}`).
    pub(crate) doc_counts: Arc<Mutex<HashMap<String, (u64, u64)>>>,
    /// The listener's byte budget, shared with its WebSocket sessions.
    pub(crate) buffers: Arc<ByteBudget>,
    /// Whether the listener speaks TLS (session cookies are then `Secure`).
    pub(crate) tls: bool,
    /// A client that takes no reply bytes for this long is disconnected.
    pub(crate) write_timeout: Duration,
}

impl FaceState {
    /// The face of a listener serving `collections` of `db` as `name`,
    /// checking logins against `stored_logins`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        db: Database,
        name: String,
        read_only: bool,
        collections: impl IntoIterator<Item = String>,
        buffers: Arc<ByteBudget>,
        tls: bool,
        write_timeout: Duration,
        stored_logins: StoredLogins,
    ) -> FaceState {
        FaceState {
            db,
            name,
            read_only,
            read_only_users: Mutex::default(),
            served: Mutex::new(collections.into_iter().collect()),
            cookies: SessionKey::random(),
            credentials: CredentialCache::new(),
            stored_logins,
            md5: Arc::default(),
            doc_counts: Arc::default(),
            buffers,
            tls,
            write_timeout,
        }
    }

    fn is_served(&self, collection: &str) -> bool {
        self.served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(collection)
    }

    fn serve_collection(&self, collection: &str) {
        self.served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(collection.to_owned());
    }
}

/// One HTTP connection to the face.
pub(crate) struct FaceConnection {
    state: Arc<FaceState>,
    gate: Arc<dyn Gate>,
    ip: IpAddr,
    /// Who every request is without credentials: anyone on an anonymous
    /// listener, or the client certificate TLS accepted.
    ambient: Option<Principal>,
    /// The `Authorization` header accepted on this connection, and whom it names.
    verified: Mutex<Option<(Vec<u8>, Login)>>,
    budgets: Budgets,
}

impl FaceConnection {
    /// A connection from `ip`: `ambient` is who every request is without
    /// credentials (an anonymous listener, a client certificate), and
    /// `verified` the `Authorization` header the listener already checked,
    /// with its principal.
    pub(crate) fn new(
        state: Arc<FaceState>,
        gate: Arc<dyn Gate>,
        ip: IpAddr,
        ambient: Option<Principal>,
        verified: Option<(Vec<u8>, Login)>,
    ) -> FaceConnection {
        let budgets = Budgets::new(CONNECTION_BUFFER_BYTES, Some(state.buffers.clone()));
        FaceConnection {
            state,
            gate,
            ip,
            ambient,
            verified: Mutex::new(verified),
            budgets,
        }
    }
}

/// Serves HTTP/1.1 requests on `io` until the client closes it, or after
/// one request when `keep_alive` is false.
pub(crate) async fn serve_connection<I>(io: I, connection: Arc<FaceConnection>, keep_alive: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = write_deadline::WriteDeadline::new(io, connection.state.write_timeout);
    let service = service_fn(move |request: Request<Incoming>| {
        let connection = connection.clone();
        async move { Ok::<_, Infallible>(handle(&connection, request).await) }
    });
    let served = http1::Builder::new()
        .keep_alive(keep_alive)
        .max_buf_size(MAX_FACE_HEAD_BYTES)
        .timer(TokioTimer::new())
        .header_read_timeout(FACE_IDLE_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
        .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "CouchDB face connection ended");
    }
}

/// What a handler needs to serve one request.
pub(crate) struct Ctx<'a> {
    state: &'a FaceState,
    connection: &'a FaceConnection,
    principal: Option<Principal>,
    query: Query,
}

impl FaceState {
    /// Records what a successful password check of `user` granted.
    pub(crate) fn note_login(&self, user: &str, read_only: bool) {
        let mut users = self.read_only_users.lock().unwrap_or_else(|e| e.into_inner());
        if read_only {
            users.insert(user.to_owned());
        } else {
            users.remove(user);
        }
    }

    /// Whether `user`'s last password check granted pulls only.
    fn is_read_only_user(&self, user: &str) -> bool {
        self.read_only_users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(user)
    }
}

impl Ctx<'_> {
    /// Who made the request; 401 when nobody authenticated.
    fn principal(&self) -> Result<&Principal, CouchError> {
        self.principal
            .as_ref()
            .ok_or_else(|| CouchError::unauthorized("Authentication required."))
    }

    /// 403 when the listener is read-only, or the user may only pull.
    fn require_write(&self) -> Result<(), CouchError> {
        let principal = self.principal()?;
        if self.state.read_only {
            return Err(CouchError::forbidden("This listener is read-only; it refuses writes."));
        }
        if let Principal::User(user) = principal {
            if self.state.is_read_only_user(user) {
                return Err(CouchError::forbidden("This user may only read; it refuses writes."));
            }
        }
        Ok(())
    }

    /// The collection `path` names, when served (404 otherwise).
    async fn collection(&self, path: &DbPath) -> Result<Collection, CouchError> {
        self.principal()?;
        if !self.state.is_served(&path.collection) {
            return Err(CouchError::not_found("Database does not exist."));
        }
        let name = path.collection.clone();
        self.blocking_db(move |db| db.collection(&name)).await
    }

    /// Runs a store call on the blocking pool, errors mapped to CouchDB's.
    async fn blocking_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(Database) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, CouchError> {
        let db = self.state.db.clone();
        blocking(move || f(db).map_err(|e| CouchError::from_core(&e))).await
    }
}

/// Runs `f` on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CouchError> + Send + 'static,
) -> Result<T, CouchError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CouchError::new(500, "internal_server_error", format!("a storage task failed: {e}")))?
}

async fn handle(connection: &FaceConnection, request: Request<Incoming>) -> Response<FaceBody> {
    let started = std::time::Instant::now();
    let state = &*connection.state;
    let route = match routes::parse(request.uri().path(), &state.name) {
        Ok(route) => route,
        Err(e) => return error_response(&e),
    };
    let principal = match auth::principal_of(connection, &request).await {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let query = match Query::parse(request.uri().query()) {
        Ok(q) => q,
        Err(e) => return error_response(&e),
    };
    let ctx = Ctx {
        state,
        connection,
        principal,
        query,
    };
    let (kind, method) = (route.kind(), request.method().clone());
    let response = match dispatch(&ctx, route, request).await {
        Ok(response) => response,
        Err(e) => error_response(&e),
    };
    // Where a replication's time goes on this side (a feed's time is its
    // first page; the rest streams after): `RUST_LOG=outpost_core::net::couch::face=debug`.
    tracing::debug!(
        endpoint = kind,
        method = %method,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "face request"
    );
    hold_until_written(connection, response).await
}

/// Holds a sized reply's bytes in the listener's byte budget until hyper
/// has written it (the body is dropped then, or when the write deadline
/// closes the connection): further replies wait for room. Feeds (unsized)
/// are bounded by their channel instead.
async fn hold_until_written(connection: &FaceConnection, response: Response<FaceBody>) -> Response<FaceBody> {
    use http_body_util::BodyExt;
    use hyper::body::Body;
    let Some(size) = response.body().size_hint().exact() else {
        return response;
    };
    let Some(reservation) = connection
        .budgets
        .reserve(usize::try_from(size).unwrap_or(usize::MAX))
        .await
    else {
        return response;
    };
    response.map(move |body| {
        body.map_frame(move |frame| {
            let _held = &reservation;
            frame
        })
        .boxed()
    })
}

async fn dispatch(ctx: &Ctx<'_>, route: Route, request: Request<Incoming>) -> Reply {
    let method = request.method().clone();
    match (route, &method) {
        (Route::Root, &Method::GET | &Method::HEAD) => server::welcome(),
        (Route::Session, _) => session::handle(ctx, request).await,
        (Route::Db(path), &Method::GET | &Method::HEAD) => server::db_info(ctx, &path).await,
        (Route::Db(path), &Method::PUT) => server::create_db(ctx, &path).await,
        (Route::Db(_), &Method::DELETE) => Err(CouchError::forbidden(
            "Deleting a database through the CouchDB face is not allowed.",
        )),
        (Route::EnsureFullCommit(path), &Method::POST) => server::ensure_full_commit(ctx, &path).await,
        (Route::Local(path, id), _) => local::handle(ctx, &path, &id, request).await,
        (Route::Changes(path), &Method::GET | &Method::POST) => changes::handle(ctx, &path, request).await,
        (Route::RevsDiff(path), &Method::POST) => revs_diff::handle(ctx, &path, request).await,
        (Route::BulkDocs(path), &Method::POST) => bulk_docs::handle(ctx, &path, request).await,
        (Route::BulkGet(path), &Method::POST) => bulk_get::handle(ctx, &path, request).await,
        (Route::AllDocs(path), &Method::GET | &Method::POST) => all_docs::handle(ctx, &path, request).await,
        (Route::Doc(path, id), _) => documents::handle(ctx, &path, &id, request).await,
        (Route::Attachment(path, id, name), _) => documents::attachment(ctx, &path, &id, &name, request).await,
        _ => Err(CouchError::new(
            405,
            "method_not_allowed",
            format!("Only the methods CouchDB allows here are served, not {method}."),
        )),
    }
}

/// The collection name a database path segment names: `db` is the default
/// collection, `db.name` the collection `name`.
pub(crate) fn collection_of(segment: &str, database: &str) -> Option<String> {
    if segment == database {
        return Some(DEFAULT_COLLECTION.to_owned());
    }
    segment
        .strip_prefix(database)
        .and_then(|rest| rest.strip_prefix('.'))
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
}
