//! `Listener`: the passive peer. Accepts WebSocket connections (TLS by
//! default), authenticates them, and serves each with a [`Session`].

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use super::admission::{Admission, HandshakeTicket, SessionSlot};
use super::auth::{parse_basic_header, Granted, ListenerAuthenticator, LoginThrottle, PasswordChecks, Principal};
use super::connection::{websocket_config, BoxIo, Connection, ConnectionOptions};
use super::http::{read_upgrade_request, refuse, refuse_couch, Rewind, UpgradeRequest};
use super::log_safe::{log_safe, user_digest, user_tag};
use super::peer_checkpoints::PeerCheckpoints;
use super::protocol::{
    decode_frame, encode_reply, negotiate, Frame, HelloAck, Request, WireError, DEFLATE_FEATURE, DELTA_SYNC_FEATURE,
};
use super::session::{ActivityCounters, Session};
use super::tls::{fingerprint, server_config, StoredIdentity, TlsIdentity};
use crate::error::{Error, InvalidInput, ReplicationError, Result};
use crate::net::couch::face::{cookie_user, serve_connection, FaceConnection, FaceState, Gate, Login, StoredLogins};
use crate::net::couch::wire::CouchError;
use crate::replication::LocalEndpoint;
use crate::store::{Database, DEFAULT_COLLECTION};
use crate::tuning::{
    DEFAULT_MAX_CONNECTIONS, DEFAULT_WRITE_TIMEOUT, HANDSHAKE_TIMEOUT, LISTENER_IDLE_TIMEOUT, PRE_AUTH_TIMEOUT,
    SYSTEM_USER_RECHECK_INTERVAL,
};

/// How a [`Listener`] serves its database.
///
/// Built with [`ListenerConfig::new`], which makes the authenticator an
/// explicit choice ([`ListenerAuthenticator::Anonymous`] only if asked).
///
/// # Examples
/// ```
/// use outpost_core::net::{ListenerAuthenticator, ListenerConfig, UserTable};
/// let users = UserTable::new().with_user("amina", "correct horse").unwrap();
/// let config = ListenerConfig::new(ListenerAuthenticator::Users(users));
/// assert_eq!(config.port, 0); // any free port
/// assert!(!config.disable_tls);
/// ```
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    /// Who may connect.
    pub authenticator: ListenerAuthenticator,
    /// Collections served (they must exist); the default collection by default.
    pub collections: Vec<String>,
    /// TCP port; 0 picks a free one (see [`Listener::port`]).
    pub port: u16,
    /// Network interface to listen on, by IP address (`192.168.1.20`) or
    /// name (`wlan0`); every IPv4 interface by default.
    pub interface: Option<String>,
    /// The TLS identity presented. When neither this nor
    /// `stored_identity` is given, a new anonymous self-signed identity is
    /// generated at each start (its fingerprint changes every time).
    pub identity: Option<TlsIdentity>,
    /// An identity kept in a key store under a label: loaded, or created
    /// and saved on first start, so the fingerprint peers pin stays the
    /// same across restarts. An unreadable stored identity fails the start
    /// with [`crate::KeyStoreError`]; it is never silently replaced.
    pub stored_identity: Option<StoredIdentity>,
    /// Serve plain `ws://` instead of TLS. Credentials and documents then
    /// cross the network readable by anyone on it.
    pub disable_tls: bool,
    /// Refuse pushes: peers may only pull.
    pub read_only: bool,
    /// Simultaneous authenticated sessions allowed (64 by default); more
    /// get HTTP 503 and retry later. Connections that have not
    /// authenticated yet are not counted here: they have their own caps
    /// ([`crate::tuning::MAX_HANDSHAKING`] in all,
    /// [`crate::tuning::MAX_HANDSHAKING_PER_ADDRESS`] per address), so
    /// strangers cannot take the field workers' places.
    pub max_connections: usize,
    /// The database name in URLs (`wss://host:port/NAME`); the database
    /// file's name without extension by default.
    pub database_name: Option<String>,
    /// A peer that does not read a frame within this long is disconnected.
    pub write_timeout: Duration,
    /// Allow delta sync (feature `delta_sync`) with replicators that ask
    /// for it (`ReplicatorConfig::delta_sync`); off by default, as in
    /// Couchbase Lite.
    pub delta_sync: bool,
}

impl ListenerConfig {
    /// A configuration with `authenticator` and defaults for the rest.
    pub fn new(authenticator: ListenerAuthenticator) -> Self {
        ListenerConfig {
            authenticator,
            collections: vec![DEFAULT_COLLECTION.to_owned()],
            port: 0,
            interface: None,
            identity: None,
            stored_identity: None,
            disable_tls: false,
            read_only: false,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            database_name: None,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            delta_sync: false,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |why: &str| Err(InvalidInput::BadConfig(why.to_owned()).into());
        if self.collections.is_empty() {
            return bad("a listener must serve at least one collection");
        }
        if self.disable_tls && matches!(self.authenticator, ListenerAuthenticator::ClientCertificates(_)) {
            return bad("client-certificate authentication needs TLS");
        }
        if self.identity.is_some() && self.stored_identity.is_some() {
            return bad("give either identity or stored_identity, not both");
        }
        if self.max_connections == 0 {
            return bad("max_connections must be at least 1");
        }
        if self.write_timeout.is_zero() {
            return bad("write_timeout must be more than zero");
        }
        Ok(())
    }
}

/// Connections to a listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionStatus {
    /// Connections open now (including ones still handshaking).
    pub connections: usize,
    /// Connections not yet authenticated (in the TLS handshake, the HTTP
    /// upgrade or the password check), at most
    /// [`crate::tuning::MAX_HANDSHAKING`]. A high count that does not turn
    /// into sessions means strangers are holding connections open.
    pub handshaking: usize,
    /// Connections with a request being served now.
    pub active: usize,
    /// Connections accepted since the listener started.
    pub total_accepted: u64,
    /// Bytes the connections hold now for requests being served and frames
    /// waiting to be written; never more than
    /// [`crate::tuning::LISTENER_BUFFER_BYTES`].
    pub buffered_bytes: usize,
    /// The most bytes held at once since the listener started.
    pub peak_buffered_bytes: usize,
    /// The most bytes one connection held at once; never more than
    /// [`crate::tuning::CONNECTION_BUFFER_BYTES`].
    pub peak_connection_buffered_bytes: usize,
}

/// A running listener: serves a database to peers over WebSocket.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use outpost_core::{Database, DatabaseConfig};
/// use outpost_core::net::{Listener, ListenerAuthenticator, ListenerConfig};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = Database::open(dir.path().join("camp.db"), DatabaseConfig::default()).unwrap();
/// let auth = ListenerAuthenticator::password(|user: &str, pass: &str| user == "hub" && pass == "s3cret");
/// let mut config = outpost_core::net::ListenerConfig::new(auth);
/// config.interface = Some("127.0.0.1".into());
/// let listener = Listener::start(db, config).await.unwrap();
/// assert!(listener.urls()[0].starts_with("wss://127.0.0.1:"));
/// assert!(listener.fingerprint().unwrap().starts_with("sha256:"));
/// listener.stop().await;
/// # });
/// ```
pub struct Listener {
    shared: Arc<Shared>,
    address: SocketAddr,
    stop: watch::Sender<bool>,
    accept_loop: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

struct Shared {
    db: Database,
    config: ListenerConfig,
    name: String,
    collections: Arc<HashSet<String>>,
    tls: Option<TlsAcceptor>,
    identity: Option<TlsIdentity>,
    throttle: LoginThrottle,
    password_checks: PasswordChecks,
    admission: Arc<Admission>,
    counters: Arc<ActivityCounters>,
    /// Connections open now, observable.
    open: watch::Sender<usize>,
    accepted: AtomicU64,
    connections: Mutex<HashMap<u64, Arc<Connection>>>,
    /// The CouchDB face, for requests that are not WebSocket upgrades.
    face: Arc<FaceState>,
    /// Connections of stored system users: id -> (user, hash matched).
    stored_logins: Mutex<HashMap<u64, (String, String)>>,
}

impl Listener {
    /// Binds and starts serving on the current tokio runtime.
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] for an inconsistent configuration,
    /// [`Error::CollectionNotFound`] for a collection that does not exist,
    /// [`Error::Network`] if the address cannot be bound (port in use, no
    /// such interface).
    pub async fn start(db: Database, config: ListenerConfig) -> Result<Listener> {
        config.validate()?;
        for name in &config.collections {
            db.collection(name)?;
        }
        let ip = bind_address(config.interface.as_deref())?;
        let identity = match (&config.identity, &config.stored_identity, config.disable_tls) {
            (_, _, true) => None,
            (Some(id), _, false) => Some(id.clone()),
            (None, Some(stored), false) => Some(stored.load_or_create()?),
            (None, None, false) => Some(TlsIdentity::generate_self_signed(&[ip.to_string()])?),
        };
        let tls = match &identity {
            Some(id) => {
                let clients = match &config.authenticator {
                    ListenerAuthenticator::ClientCertificates(c) => Some(c),
                    _ => None,
                };
                Some(TlsAcceptor::from(server_config(id, clients)?))
            }
            None => None,
        };
        let tcp = TcpListener::bind(SocketAddr::new(ip, config.port))
            .await
            .map_err(|e| Error::Network(format!("cannot listen on {ip}:{}: {e}", config.port)))?;
        let address = tcp
            .local_addr()
            .map_err(|e| Error::Network(format!("cannot read the listening address: {e}")))?;
        let name = config.database_name.clone().unwrap_or_else(|| database_name(&db));
        let counters: Arc<ActivityCounters> = Arc::default();
        let face = Arc::new(FaceState::new(
            db.clone(),
            name.clone(),
            config.read_only,
            config.collections.iter().cloned(),
            counters.buffers.clone(),
            tls.is_some(),
            config.write_timeout,
            StoredLogins::new(match &config.authenticator {
                ListenerAuthenticator::SystemUsers { stored, .. } => Some(stored.clone()),
                _ => None,
            }),
        ));
        let shared = Arc::new(Shared {
            collections: Arc::new(config.collections.iter().cloned().collect()),
            db,
            name,
            tls,
            identity,
            throttle: LoginThrottle::default(),
            password_checks: PasswordChecks::default(),
            admission: Admission::new(config.max_connections),
            counters,
            face,
            open: watch::channel(0).0,
            accepted: AtomicU64::new(0),
            connections: Mutex::default(),
            stored_logins: Mutex::default(),
            config,
        });
        let (stop, stop_rx) = watch::channel(false);
        if matches!(shared.config.authenticator, ListenerAuthenticator::SystemUsers { .. }) {
            tokio::spawn(revocation_loop(shared.clone(), stop.subscribe()));
        }
        let accept_loop = tokio::spawn(accept_loop(shared.clone(), tcp, stop_rx));
        tracing::info!(%address, tls = shared.tls.is_some(), "listener started");
        Ok(Listener {
            shared,
            address,
            stop,
            accept_loop: Mutex::new(Some(accept_loop)),
        })
    }

    /// The port listened on (the one assigned when the config said 0).
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The URLs peers can use, one per address listened on.
    pub fn urls(&self) -> Vec<String> {
        let scheme = if self.shared.tls.is_some() { "wss" } else { "ws" };
        let ips: Vec<IpAddr> = if self.address.ip().is_unspecified() {
            interface_addresses()
        } else {
            vec![self.address.ip()]
        };
        ips.into_iter()
            .map(|ip| format!("{scheme}://{}/{}", SocketAddr::new(ip, self.port()), self.shared.name))
            .collect()
    }

    /// `sha256:` + hex SHA-256 of the TLS certificate (for peers to pin);
    /// `None` without TLS.
    pub fn fingerprint(&self) -> Option<String> {
        self.shared.identity.as_ref().map(TlsIdentity::fingerprint)
    }

    /// The TLS identity presented (generated or given).
    pub fn identity(&self) -> Option<&TlsIdentity> {
        self.shared.identity.as_ref()
    }

    /// The database name in this listener's URLs.
    pub fn database_name(&self) -> &str {
        &self.shared.name
    }

    /// Connection counts.
    pub fn connection_status(&self) -> ConnectionStatus {
        ConnectionStatus {
            connections: *self.shared.open.borrow(),
            handshaking: self.shared.admission.handshaking(),
            active: self.shared.counters.active.load(Ordering::SeqCst),
            total_accepted: self.shared.accepted.load(Ordering::SeqCst),
            buffered_bytes: self.shared.counters.buffers.held(),
            peak_buffered_bytes: self.shared.counters.buffers.peak(),
            peak_connection_buffered_bytes: self.shared.counters.buffers.peak_of_one(),
        }
    }

    /// A receiver of the number of open connections, to wait for peers to
    /// connect or leave.
    pub fn subscribe_connections(&self) -> watch::Receiver<usize> {
        self.shared.open.subscribe()
    }

    /// Stops accepting, and closes every connection telling the peer the
    /// listener is going away (replicators see a transient error, back off
    /// and retry). Returns once the port is released.
    pub async fn stop(&self) {
        self.stop.send_replace(true);
        let task = self.accept_loop.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        tracing::info!(address = %self.address, "listener stopped");
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn accept_loop(shared: Arc<Shared>, tcp: TcpListener, mut stop: watch::Receiver<bool>) {
    let mut tasks = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok((stream, peer)) => {
                    next_id += 1;
                    shared.accepted.fetch_add(1, Ordering::SeqCst);
                    // Past the handshake caps the socket is dropped (closed) at once.
                    if let Some(ticket) = shared.admission.admit(next_id, peer.ip()) {
                        tasks.spawn(serve(shared.clone(), stream, peer, next_id, ticket));
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait, then go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = stopped(&mut stop) => break,
        }
    }
    drop(tcp);
    let open: Vec<Arc<Connection>> = shared
        .connections
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
        .map(|(_, c)| c)
        .collect();
    for connection in &open {
        connection.close(
            CloseCode::Away,
            "listener stopped",
            ReplicationError::Unreachable("the listener stopped".into()).into(),
        );
    }
    // Give each connection a moment to send its close frame, then end the rest.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the listener was dropped: stop as well.
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves one TCP connection from handshake to close.
async fn serve(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, id: u64, mut ticket: HandshakeTicket) {
    let shared = &shared;
    shared.open.send_modify(|n| *n += 1);
    let _open = OpenGuard(&shared.open);
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let entered = tokio::select! {
        entered = tokio::time::timeout(PRE_AUTH_TIMEOUT, front_door(shared, stream, peer)) => entered,
        () = ticket.evicted() => {
            tracing::debug!(%peer, "handshake evicted to make room for another address");
            return;
        }
    };
    drop(ticket);
    let Some(entered) = handshake_step(peer, entered, "not authenticated in time") else {
        return;
    };
    // The session slot is held until the connection closes.
    let Entered {
        io,
        principal,
        granted,
        slot: _slot,
        face,
    } = entered;
    if let Some(face) = face {
        serve_connection(io, Arc::new(face), true).await;
        return;
    }
    let read_only = shared.config.read_only || granted.read_only;
    let stored_login = match (&principal, granted.stored_hash) {
        (Principal::User(user), Some(hash)) => Some((user.clone(), hash)),
        _ => None,
    };
    let opened = tokio::time::timeout_at(deadline, open_session(shared, io, principal, read_only, peer)).await;
    let Some(connection) = handshake_step(peer, opened, "handshake timed out").map(Arc::new) else {
        return;
    };
    shared
        .connections
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, connection.clone());
    if let Some(login) = stored_login {
        shared
            .stored_logins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, login);
    }
    let why = connection.closed().await;
    tracing::debug!(%peer, reason = %log_safe(&why.to_string()), "connection closed");
    shared.connections.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    shared
        .stored_logins
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
}

/// Every [`SYSTEM_USER_RECHECK_INTERVAL`] until the listener stops, closes
/// the connections of removed users (see [`close_revoked_logins`]).
async fn revocation_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut recheck = tokio::time::interval(SYSTEM_USER_RECHECK_INTERVAL);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = recheck.tick() => close_revoked_logins(&shared).await,
            () = stopped(&mut stop) => return,
        }
    }
}

/// Closes the connections of stored system users who were removed or
/// whose password changed since they logged in (checked every
/// [`SYSTEM_USER_RECHECK_INTERVAL`]).
async fn close_revoked_logins(shared: &Arc<Shared>) {
    let ListenerAuthenticator::SystemUsers { stored, .. } = &shared.config.authenticator else {
        return;
    };
    let logins: Vec<(u64, String, String)> = {
        let logins = shared.stored_logins.lock().unwrap_or_else(|e| e.into_inner());
        if logins.is_empty() {
            return;
        }
        logins.iter().map(|(id, (u, h))| (*id, u.clone(), h.clone())).collect()
    };
    let stored = stored.clone();
    let revoked = tokio::task::spawn_blocking(move || {
        stored.revoked(
            logins
                .iter()
                .map(|(id, user, hash)| (*id, user.as_str(), hash.as_str())),
        )
    })
    .await;
    let revoked = match revoked {
        Ok(Ok(ids)) => ids,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read the system users to check open logins");
            return;
        }
        Err(_) => return,
    };
    let connections = shared.connections.lock().unwrap_or_else(|e| e.into_inner());
    for id in revoked {
        if let Some(connection) = connections.get(&id) {
            tracing::info!(
                connection = id,
                "closing the connection of a removed user or changed password"
            );
            connection.close(
                CloseCode::Policy,
                "user removed or password changed",
                ReplicationError::Unauthorized("the user was removed or its password changed".into()).into(),
            );
        }
    }
}

/// What a handshake step gave: `None` (logged at DEBUG) when it failed,
/// timed out (`late`) or the peer was refused.
fn handshake_step<T>(
    peer: SocketAddr,
    step: std::result::Result<Result<Option<T>>, tokio::time::error::Elapsed>,
    late: &str,
) -> Option<T> {
    match step {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %log_safe(&e.to_string()), "handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "{late}");
            None
        }
    }
}

/// Counts a connection as open until dropped.
struct OpenGuard<'a>(&'a watch::Sender<usize>);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A connection past the front door: authenticated, holding a session
/// slot, its upgrade request ready to be replayed.
struct Entered {
    io: BoxIo,
    principal: Principal,
    granted: Granted,
    slot: SessionSlot,
    /// For the CouchDB face, its connection (the WebSocket protocol otherwise).
    face: Option<FaceConnection>,
}

/// TLS, the HTTP upgrade request and authentication. `None` when the
/// peer was refused (it has been told why).
async fn front_door(shared: &Arc<Shared>, mut stream: TcpStream, peer: SocketAddr) -> Result<Option<Entered>> {
    let _ = stream.set_nodelay(true);
    let io_error = |e: std::io::Error| Error::Network(e.to_string());
    // A TLS ClientHello starts with 0x16; an HTTP request with a letter.
    let mut first = [0u8; 1];
    stream.peek(&mut first).await.map_err(io_error)?;
    let speaks_tls = first[0] == 0x16;
    let (mut io, client_certificate): (BoxIo, Option<String>) = match (&shared.tls, speaks_tls) {
        (Some(acceptor), true) => {
            let tls = acceptor.accept(stream).await.map_err(io_error)?;
            let certificate = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| fingerprint(c));
            (Box::new(tls), certificate)
        }
        (None, false) => (Box::new(stream), None),
        (Some(_), false) => {
            let message = "This listener requires TLS: use a wss:// (or https://) URL.";
            refuse(&mut stream, 400, "tls_required", &[], message).await;
            return Ok(None);
        }
        (None, true) => {
            let message = "This listener does not use TLS: use a ws:// (or http://) URL.";
            refuse(&mut stream, 400, "tls_not_supported", &[], message).await;
            return Ok(None);
        }
    };
    let request = read_upgrade_request(&mut io).await.map_err(io_error)?;
    if !request.websocket {
        return face_door(shared, io, request, peer, client_certificate).await;
    }
    if request.path.trim_end_matches('/') != format!("/{}", shared.name) {
        let message = format!("No database at this path; this listener serves /{}.", shared.name);
        refuse(&mut io, 404, "not_found", &[], &message).await;
        return Ok(None);
    }
    // Checked before the (slow) password check, and again after it.
    if shared.admission.sessions_full() {
        refuse_connection_limit(&mut io).await;
        return Ok(None);
    }
    let authorization = request.authorization.as_deref();
    let Some((principal, granted)) = authenticate(shared, &mut io, peer.ip(), authorization, client_certificate).await
    else {
        return Ok(None);
    };
    tracing::debug!(%peer, %principal, "authenticated");
    let Some(slot) = shared.admission.open_session() else {
        refuse_connection_limit(&mut io).await;
        return Ok(None);
    };
    Ok(Some(Entered {
        io: Box::new(Rewind::new(request.head, io)),
        principal,
        granted,
        slot,
        face: None,
    }))
}

/// The front door of the CouchDB face: a request that is not a WebSocket
/// upgrade. Credentials in its head (Basic, checked as for WebSocket peers,
/// or an `AuthSession` cookie) admit the connection for as many requests
/// as the client sends; without them, the one request is served
/// unauthenticated (only `GET /` and `/_session` answer anything but 401)
/// and the connection closes, so strangers hold no session slot.
async fn face_door(
    shared: &Arc<Shared>,
    mut io: BoxIo,
    request: UpgradeRequest,
    peer: SocketAddr,
    client_certificate: Option<String>,
) -> Result<Option<Entered>> {
    if shared.admission.sessions_full() {
        refuse_connection_limit_couch(&mut io).await;
        return Ok(None);
    }
    let gate: Arc<dyn Gate> = Arc::new(ListenerGate(shared.clone()));
    let ambient = match &shared.config.authenticator {
        ListenerAuthenticator::Anonymous => Some(Principal::Anonymous),
        ListenerAuthenticator::ClientCertificates(_) => match client_certificate {
            Some(fingerprint) => Some(Principal::Certificate { fingerprint }),
            None => {
                refuse_couch(&mut io, 401, "unauthorized", &[], "A client certificate is required.").await;
                return Ok(None);
            }
        },
        ListenerAuthenticator::Password(_)
        | ListenerAuthenticator::Users(_)
        | ListenerAuthenticator::SystemUsers { .. } => None,
    };
    let (principal, verified) = match (&ambient, &request.authorization, &request.session_cookie) {
        (Some(principal), _, _) => (principal.clone(), None),
        (None, Some(authorization), _) => {
            let cached = shared.face.credentials.lookup(authorization);
            let cached = match cached {
                Some(login) if shared.face.stored_logins.holds(&login).await => Some(login),
                Some(_) => {
                    shared.face.credentials.forget(authorization);
                    None
                }
                None => None,
            };
            let checked = match (cached, parse_basic_header(authorization)) {
                (Some(login), _) => Ok(login),
                (None, Some((user, password))) => {
                    check_password(shared, peer.ip(), user, password)
                        .await
                        .map(|(principal, granted)| Login {
                            principal,
                            stored_hash: granted.stored_hash,
                        })
                }
                (None, None) => Err(Refusal::unauthorized("Only HTTP Basic credentials are accepted.")),
            };
            match checked {
                Ok(login) => {
                    shared.face.credentials.remember(authorization, &login);
                    (login.principal.clone(), Some((authorization.clone(), login)))
                }
                Err(refusal) => {
                    refusal.send_couch(&mut io).await;
                    return Ok(None);
                }
            }
        }
        (None, None, Some(cookie)) => match cookie_user(&shared.face, cookie).await {
            Some(user) => (Principal::User(user), None),
            None => return serve_one_unauthenticated(shared, gate, io, request.head, peer).await,
        },
        (None, None, None) => return serve_one_unauthenticated(shared, gate, io, request.head, peer).await,
    };
    tracing::debug!(%peer, %principal, "authenticated (CouchDB face)");
    let Some(slot) = shared.admission.open_session() else {
        refuse_connection_limit_couch(&mut io).await;
        return Ok(None);
    };
    let face = FaceConnection::new(shared.face.clone(), gate, peer.ip(), ambient, verified);
    Ok(Some(Entered {
        io: Box::new(Rewind::new(request.head, io)),
        principal,
        granted: Granted::default(),
        slot,
        face: Some(face),
    }))
}

/// Serves the one request in `head` without credentials (under the
/// handshake's limits), then closes the connection.
async fn serve_one_unauthenticated(
    shared: &Arc<Shared>,
    gate: Arc<dyn Gate>,
    io: BoxIo,
    head: Vec<u8>,
    peer: SocketAddr,
) -> Result<Option<Entered>> {
    let io: BoxIo = Box::new(Rewind::new(head, io));
    let face = FaceConnection::new(shared.face.clone(), gate, peer.ip(), None, None);
    serve_connection(io, Arc::new(face), false).await;
    Ok(None)
}

async fn refuse_connection_limit_couch(io: &mut BoxIo) {
    let message = "The listener is at its connection limit; retry later.";
    refuse_couch(io, 503, "busy", &[("Retry-After", "1".to_owned())], message).await;
}

/// The listener's password check for the CouchDB face's later requests
/// and `POST /_session`.
struct ListenerGate(Arc<Shared>);

#[async_trait::async_trait]
impl Gate for ListenerGate {
    async fn check_password(
        &self,
        ip: IpAddr,
        user: String,
        password: zeroize::Zeroizing<String>,
    ) -> std::result::Result<Login, CouchError> {
        check_password(&self.0, ip, user, password)
            .await
            .map(|(principal, granted)| Login {
                principal,
                stored_hash: granted.stored_hash,
            })
            .map_err(|r| {
                let error = match r.status {
                    401 => "unauthorized",
                    429 => "too_many_requests",
                    _ => "service_unavailable",
                };
                CouchError::new(r.status, error, r.message)
            })
    }
}

/// Why a login was refused, and what to answer.
struct Refusal {
    status: u16,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl Refusal {
    fn unauthorized(message: &str) -> Refusal {
        Refusal {
            status: 401,
            code: "unauthorized",
            message: message.to_owned(),
            retry_after: None,
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        match (self.status, self.retry_after) {
            (401, _) => vec![("WWW-Authenticate", "Basic realm=\"outpost\"".to_owned())],
            (_, Some(secs)) => vec![("Retry-After", secs.to_string())],
            _ => Vec::new(),
        }
    }

    async fn send(&self, io: &mut BoxIo) {
        refuse(io, self.status, self.code, &self.headers(), &self.message).await;
    }

    async fn send_couch(&self, io: &mut BoxIo) {
        // No WWW-Authenticate: a browser running PouchDB would pop up a dialog.
        let headers: Vec<_> = self
            .headers()
            .into_iter()
            .filter(|(n, _)| *n == "Retry-After")
            .collect();
        refuse_couch(io, self.status, self.code, &headers, &self.message).await;
    }
}

/// Checks a user name and password: the login throttle (the attempt
/// reserved before the check) and the listener-wide password-check budget.
async fn check_password(
    shared: &Shared,
    ip: IpAddr,
    user: String,
    password: zeroize::Zeroizing<String>,
) -> std::result::Result<(Principal, Granted), Refusal> {
    let attempt = match shared.throttle.begin(ip, &user) {
        Ok(attempt) => attempt,
        Err(wait) => {
            let retry = wait.as_secs().max(1);
            return Err(Refusal {
                status: 429,
                code: "too_many_attempts",
                message: format!(
                    "Too many login attempts from this address or for this user name; retry in {retry} s."
                ),
                retry_after: Some(retry),
            });
        }
    };
    let Some(admitted) = shared.password_checks.admit() else {
        attempt.withdrawn();
        return Err(Refusal {
            status: 503,
            code: "busy",
            message: "The listener is busy checking other logins; retry in 1 s.".to_owned(),
            retry_after: Some(1),
        });
    };
    if let Some(granted) = admitted
        .check(shared.config.authenticator.clone(), user.clone(), password)
        .await
    {
        attempt.succeeded();
        shared.face.note_login(&user, granted.read_only);
        Ok((Principal::User(user), granted))
    } else {
        attempt.failed();
        tracing::info!(%ip, user_tag = %user_tag(&user_digest(&user)), "refused a login");
        Err(Refusal::unauthorized("Wrong user name or password."))
    }
}

async fn refuse_connection_limit(io: &mut BoxIo) {
    let message = "The listener is at its connection limit; retry later.";
    refuse(io, 503, "busy", &[], message).await;
}

/// WebSocket upgrade and hello for an authenticated peer: its session.
/// `None` when the peer was refused (it has been told why).
async fn open_session(
    shared: &Shared,
    io: BoxIo,
    principal: Principal,
    read_only: bool,
    peer: SocketAddr,
) -> Result<Option<Connection>> {
    let mut ws = tokio_tungstenite::accept_async_with_config(io, Some(websocket_config()))
        .await
        .map_err(|e| Error::Network(format!("WebSocket upgrade failed: {e}")))?;
    let Some(features) = hello(shared, read_only, &mut ws).await? else {
        return Ok(None);
    };
    let peer_scope = Session::peer_scope(&principal);
    let session = Session {
        endpoint: LocalEndpoint::new(shared.db.clone()),
        collections: shared.collections.clone(),
        read_only,
        counters: shared.counters.clone(),
        busy: AtomicUsize::new(0),
        checkpoints: PeerCheckpoints::new(&peer_scope, read_only),
        readable_blobs: Default::default(),
        foreign_revisions: features.iter().any(|f| f == super::protocol::FOREIGN_REVISIONS_FEATURE),
        delta_sync: features.iter().any(|f| f == DELTA_SYNC_FEATURE),
    };
    let options = ConnectionOptions {
        heartbeat: None,
        idle_timeout: LISTENER_IDLE_TIMEOUT,
        write_timeout: shared.config.write_timeout,
        listener_buffers: Some(shared.counters.buffers.clone()),
        compress: features.iter().any(|f| f == DEFLATE_FEATURE),
    };
    tracing::debug!(%peer, %principal, "peer connected");
    Ok(Some(Connection::spawn(ws, Some(Arc::new(session)), options)))
}

/// Who the peer is and what it may do, by the authenticator's rule; `None`
/// when refused (with 401, 429 or 503, the peer has been told why).
///
/// Basic credentials go through the login throttle (the attempt reserved
/// before the check) and the listener-wide password-check budget.
async fn authenticate(
    shared: &Shared,
    io: &mut BoxIo,
    ip: IpAddr,
    authorization: Option<&[u8]>,
    client_certificate: Option<String>,
) -> Option<(Principal, Granted)> {
    let authenticator = &shared.config.authenticator;
    let challenge = [("WWW-Authenticate", "Basic realm=\"outpost\"".to_owned())];
    match authenticator {
        ListenerAuthenticator::Anonymous => return Some((Principal::Anonymous, Granted::default())),
        ListenerAuthenticator::ClientCertificates(_) => {
            // TLS accepted the certificate; one is always there.
            return match client_certificate {
                Some(fingerprint) => Some((Principal::Certificate { fingerprint }, Granted::default())),
                None => {
                    refuse(io, 401, "unauthorized", &[], "A client certificate is required.").await;
                    None
                }
            };
        }
        ListenerAuthenticator::Password(_)
        | ListenerAuthenticator::Users(_)
        | ListenerAuthenticator::SystemUsers { .. } => {}
    }
    let Some((user, password)) = authorization.and_then(parse_basic_header) else {
        let message = "Credentials required (HTTP basic).";
        refuse(io, 401, "unauthorized", &challenge, message).await;
        return None;
    };
    match check_password(shared, ip, user, password).await {
        Ok(granted) => Some(granted),
        Err(refusal) => {
            refusal.send(io).await;
            None
        }
    }
}

/// Reads the client's hello and answers it: the features both sides speak,
/// or `None` if refused.
async fn hello(shared: &Shared, read_only: bool, ws: &mut super::connection::Ws) -> Result<Option<Vec<String>>> {
    use futures_util::{SinkExt, StreamExt};
    let refuse_with = |re: u64, e: WireError| Message::text(encode_reply(re, Err(&e)));
    let bytes = match ws.next().await {
        Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
        Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
        _ => return Ok(None),
    };
    let (id, hello) = match decode_frame(&bytes) {
        Ok(Frame::Request {
            id,
            request: Request::Hello(hello),
        }) => (id, hello),
        _ => {
            let _ = ws
                .send(refuse_with(0, WireError::bad_request("the first frame must be hello")))
                .await;
            let _ = ws.close(None).await;
            return Ok(None);
        }
    };
    let protocol = match negotiate(&hello) {
        Ok(v) => v,
        Err(e) => {
            tracing::info!(
                theirs = hello.protocol,
                "refused a peer speaking another protocol version"
            );
            let _ = ws.send(refuse_with(id, e)).await;
            let _ = ws.close(None).await;
            return Ok(None);
        }
    };
    let mut features = super::protocol::common_features(&hello.features);
    if !shared.config.delta_sync {
        features.retain(|f| f != DELTA_SYNC_FEATURE);
    }
    let ack = HelloAck {
        protocol,
        uuid: shared.db.uuid().to_owned(),
        features: features.clone(),
        read_only,
        collections: shared.config.collections.clone(),
    };
    let ack = serde_json::to_string(&ack).map_err(|e| Error::Corrupt(e.to_string()))?;
    ws.send(Message::text(encode_reply(id, Ok(&ack))))
        .await
        .map_err(|e| Error::Network(e.to_string()))?;
    Ok(Some(features))
}

/// The IP to bind for an interface given by address or name.
fn bind_address(interface: Option<&str>) -> Result<IpAddr> {
    let Some(interface) = interface else {
        return Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    };
    if let Ok(ip) = interface.parse::<IpAddr>() {
        return Ok(ip);
    }
    let interfaces = if_addrs::get_if_addrs().map_err(|e| Error::Network(format!("cannot list interfaces: {e}")))?;
    let mut matching: Vec<IpAddr> = interfaces
        .iter()
        .filter(|i| i.name == interface)
        .map(|i| i.ip())
        .collect();
    matching.sort_by_key(|ip| !ip.is_ipv4());
    matching
        .first()
        .copied()
        .ok_or_else(|| Error::Network(format!("no network interface named {interface:?} with an address")))
}

/// Every IPv4 address of this machine's interfaces, loopback last.
fn interface_addresses() -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(IpAddr::is_ipv4)
        .collect();
    ips.sort_by_key(|ip| (ip.is_loopback(), *ip));
    ips.dedup();
    if ips.is_empty() {
        ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    ips
}

/// The database file's name without extension, or `db`.
fn database_name(db: &Database) -> String {
    db.path()
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or("db")
        .to_owned()
}
