//! `RemoteEndpoint`: a listener reached over WebSocket, as one side of a
//! replication. It connects on first use and again after the connection is
//! lost; the replicator above it backs off between attempts.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, Uri};
use tokio_tungstenite::tungstenite::{self, Message};

use super::auth::{basic_header, ClientAuth};
use super::connection::{websocket_config, BoxIo, Connection, ConnectionOptions, Ws};
use super::http::ERROR_HEADER;
use super::protocol::{
    blob_from_wire, blob_to_wire, decode_chunk, decode_frame, encode_chunk, encode_request, error_from_wire, Frame,
    Hello, HelloAck, Request, WireBinaryChunk, WireBlob, WireBlobChunk, WireChanges, WireDocRevs, WireFetched,
    WireInsertResult, WireRevision, BLOBS_FEATURE, BLOB_BINARY_FEATURE, DEFLATE_FEATURE, DELTA_SYNC_FEATURE,
    FOREIGN_REVISIONS_FEATURE,
};
use super::tls::{client_config, ServerTrust};
use super::wire_count::{Counted, WireCounter};
use crate::blob::{BlobDigest, BlobRef};
use crate::error::{BlobError, Error, InvalidInput, ReplicationError, Result};
use crate::replication::{
    ChangesPage, Endpoint, FetchedBatch, InsertOutcome, MissingRevs, Replicator, ReplicatorConfig, Revision, Sequence,
    WireBytes,
};
use crate::revision::RevId;
use crate::store::Database;
use crate::tuning::{
    DEFAULT_HEARTBEAT, DEFAULT_WRITE_TIMEOUT, HANDSHAKE_TIMEOUT, MAX_BLOB_CHUNK_BYTES, MAX_DELTA_BASES,
    MAX_MISSING_BLOBS_PER_REQUEST,
};

/// Where and how to reach a listener.
///
/// # Examples
/// ```
/// use outpost_core::net::{ClientAuth, RemoteConfig, ServerTrust};
/// let remote = RemoteConfig::new("wss://192.168.1.20:4984/camp")
///     .with_auth(ClientAuth::basic("amina", "correct horse"))
///     .with_trust(ServerTrust::SelfSignedOnly);
/// # let _ = remote;
/// ```
#[derive(Clone, Debug)]
pub struct RemoteConfig {
    /// `wss://host:port/db` (or `ws://` for a listener without TLS).
    pub url: String,
    /// Credentials to present, if the listener asks for any.
    pub auth: Option<ClientAuth>,
    /// Which listener certificates to trust (`wss://` only).
    pub trust: ServerTrust,
    /// Interval of WebSocket pings (30 s). A connection that brings nothing,
    /// not even a pong, for three intervals is taken as lost.
    pub heartbeat: Duration,
    /// For a CouchDB server (`http(s)://`): create the database when it
    /// does not exist and the replication pushes (`PUT /{db}`). Otherwise
    /// a missing database is an error.
    pub create_target: bool,
    /// Offer compressed frames (feature `deflate`; on by default): large
    /// JSON frames cross as DEFLATE when the listener offers it too. Off
    /// only where CPU is scarcer than bandwidth (or to measure).
    pub compress: bool,
}

impl RemoteConfig {
    /// A remote at `url`, trusting public CAs, without credentials.
    pub fn new(url: impl Into<String>) -> Self {
        RemoteConfig {
            url: url.into(),
            auth: None,
            trust: ServerTrust::default(),
            heartbeat: DEFAULT_HEARTBEAT,
            create_target: false,
            compress: true,
        }
    }

    /// With compressed frames offered or not.
    pub fn with_compression(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// Creating a missing CouchDB database when pushing.
    pub fn with_create_target(mut self, create: bool) -> Self {
        self.create_target = create;
        self
    }

    /// With credentials.
    pub fn with_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// With a trust mode.
    pub fn with_trust(mut self, trust: ServerTrust) -> Self {
        self.trust = trust;
        self
    }

    /// With a heartbeat interval.
    pub fn with_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat;
        self
    }
}

/// The parts of a checked URL.
#[derive(Debug)]
struct Target {
    uri: Uri,
    host: String,
    port: u16,
    tls: bool,
}

fn parse_url(url: &str) -> Result<Target> {
    let bad = |why: &str| -> Error { InvalidInput::BadConfig(format!("bad URL {url:?}: {why}")).into() };
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let tls = match uri.scheme_str() {
        Some("wss") => true,
        Some("ws") => false,
        _ => {
            return Err(bad(
                "the scheme must be wss:// (or ws:// for a listener without TLS; https:// for a CouchDB server)",
            ))
        }
    };
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    if uri.path().trim_matches('/').is_empty() {
        return Err(bad("no database name in the path (wss://host:port/NAME)"));
    }
    Ok(Target { uri, host, port, tls })
}

/// How revisions are written for a listener: as deltas where they have
/// one if it allows delta sync, else with full bodies.
fn wire_form(ack: &HelloAck) -> fn(Revision) -> Result<WireRevision> {
    if ack.features.iter().any(|f| f == DELTA_SYNC_FEATURE) {
        WireRevision::from_revision_delta
    } else {
        WireRevision::from_revision
    }
}

/// A listener as a replication endpoint.
pub struct RemoteEndpoint {
    config: RemoteConfig,
    target: Target,
    tls: Option<Arc<rustls::ClientConfig>>,
    local_uuid: String,
    /// Whether the replication pushes (a read-only listener then refuses
    /// at once, before any data moves).
    pushes: bool,
    connection: tokio::sync::Mutex<Slot>,
    /// Blob bytes received by `read_blob` and sent by `append_blob`.
    blob_bytes: BlobBytes,
    /// Bytes every connection moved on the wire.
    wire: Arc<WireCounter>,
}

/// What the endpoint holds of its connection between requests.
#[derive(Default)]
enum Slot {
    /// Nothing yet, or forgotten: the next request connects.
    #[default]
    Empty,
    /// Connected (until the connection closes).
    Open(Arc<Connection>, HelloAck),
    /// The connect of this attempt failed: the answer for every request
    /// until the replicator's next attempt ([`Endpoint::begin_attempt`])
    /// or [`Endpoint::close`], so that requests queued behind a refused
    /// login or an unreachable peer do not each try again (a wrong
    /// password would cost several lockout strikes, an unreachable peer
    /// several timeouts).
    Failed(Error),
}

/// Blob bytes an endpoint moved, for progress and for tests that check
/// only what was missing crossed.
#[derive(Debug, Default)]
struct BlobBytes {
    received: AtomicU64,
    sent: AtomicU64,
}

impl std::fmt::Debug for RemoteEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEndpoint")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RemoteEndpoint {
    /// An endpoint for `config`, on behalf of the database `local_uuid`.
    /// Nothing is connected until first use.
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] for a bad URL, fingerprint or
    /// certificate, or a client certificate with `ws://`.
    pub fn new(config: RemoteConfig, local_uuid: &str, pushes: bool) -> Result<RemoteEndpoint> {
        let target = parse_url(&config.url)?;
        if config.heartbeat.is_zero() {
            return Err(InvalidInput::BadConfig("heartbeat must be more than zero".into()).into());
        }
        let tls = if target.tls {
            let identity = match &config.auth {
                Some(ClientAuth::Certificate(id)) => Some(id),
                _ => None,
            };
            Some(client_config(&config.trust, identity)?)
        } else {
            if matches!(config.auth, Some(ClientAuth::Certificate(_))) {
                return Err(InvalidInput::BadConfig("a client certificate needs a wss:// URL".into()).into());
            }
            None
        };
        Ok(RemoteEndpoint {
            config,
            target,
            tls,
            local_uuid: local_uuid.to_owned(),
            pushes,
            connection: tokio::sync::Mutex::new(Slot::Empty),
            blob_bytes: BlobBytes::default(),
            wire: Arc::default(),
        })
    }

    /// Blob bytes received from the listener so far (`read_blob`).
    pub fn blob_bytes_received(&self) -> u64 {
        self.blob_bytes.received.load(Ordering::Relaxed)
    }

    /// Blob bytes sent to the listener so far (`append_blob`).
    pub fn blob_bytes_sent(&self) -> u64 {
        self.blob_bytes.sent.load(Ordering::Relaxed)
    }

    /// The connection, if the listener offers blob transfer, and whether
    /// it takes chunks in binary frames; else [`BlobError::NotSupported`]
    /// (a listener from before blobs).
    async fn blob_connection(&self) -> Result<(Arc<Connection>, bool)> {
        let (connection, ack) = self.session().await?;
        let offers = |feature: &str| ack.features.iter().any(|f| f == feature);
        if offers(BLOBS_FEATURE) {
            Ok((connection, offers(BLOB_BINARY_FEATURE)))
        } else {
            Err(BlobError::NotSupported.into())
        }
    }

    /// Inserts into a listener without `foreign_revisions`: foreign
    /// revisions are not sent (it would refuse them as forged) and get a
    /// `Refused` outcome, that document's error; the rest are sent.
    async fn insert_without_foreign(
        &self,
        connection: &Connection,
        collection: &str,
        revisions: Vec<Revision>,
        wire: fn(Revision) -> Result<WireRevision>,
    ) -> Result<Vec<InsertOutcome>> {
        let (foreign, native): (Vec<_>, Vec<_>) = revisions.into_iter().enumerate().partition(|(_, r)| r.foreign);
        let mut outcomes: Vec<Option<InsertOutcome>> = (0..foreign.len() + native.len()).map(|_| None).collect();
        for (i, r) in &foreign {
            outcomes[*i] = Some(InsertOutcome {
                id: r.id.clone(),
                result: Err(ReplicationError::Refused {
                    code: FOREIGN_REVISIONS_FEATURE.into(),
                    message: "the listener does not take revisions with foreign ids".into(),
                }
                .into()),
            });
        }
        if !native.is_empty() {
            let request = Request::Insert {
                collection: collection.to_owned(),
                revisions: native.iter().map(|(_, r)| wire(r.clone())).collect::<Result<_>>()?,
            };
            let results: Vec<WireInsertResult> = connection.request(&request).await?;
            if results.len() != native.len() {
                return Err(ReplicationError::PeerMisbehaved("insert reply does not match the request".into()).into());
            }
            for ((i, _), result) in native.iter().zip(results) {
                outcomes[*i] = Some(InsertOutcome::from(result));
            }
        }
        Ok(outcomes.into_iter().flatten().collect())
    }

    async fn connection(&self) -> Result<Arc<Connection>> {
        Ok(self.session().await?.0)
    }

    /// The open connection, connecting when there is none (or it was
    /// lost). A failed connect is remembered: requests waiting on this one
    /// (and those after it, in the same attempt) get its error rather than
    /// connecting again.
    async fn session(&self) -> Result<(Arc<Connection>, HelloAck)> {
        let mut slot = self.connection.lock().await;
        match &*slot {
            Slot::Open(connection, ack) if !connection.is_closed() => return Ok((connection.clone(), ack.clone())),
            Slot::Failed(e) => return Err(e.clone()),
            _ => {}
        }
        *slot = Slot::Empty;
        let opened = self.open().await;
        *slot = match &opened {
            Ok((connection, ack)) => Slot::Open(connection.clone(), ack.clone()),
            Err(e) => Slot::Failed(e.clone()),
        };
        opened
    }

    /// Connects within the handshake timeout and checks the listener
    /// takes what this endpoint will send.
    async fn open(&self) -> Result<(Arc<Connection>, HelloAck)> {
        let (connection, ack) = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.connect())
            .await
            .map_err(|_| ReplicationError::Unreachable(format!("no answer from {} in time", self.config.url)))??;
        if ack.read_only && self.pushes {
            return Err(ReplicationError::ReadOnly.into());
        }
        Ok((Arc::new(connection), ack))
    }

    async fn connect(&self) -> Result<(Connection, HelloAck)> {
        let target = &self.target;
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| unreachable(&self.config.url, e))?;
        let _ = tcp.set_nodelay(true);
        let tcp = Counted::new(tcp, self.wire.clone());
        let io: BoxIo = match &self.tls {
            Some(config) => {
                let name = rustls_pki_types::ServerName::try_from(target.host.clone())
                    .map_err(|_| InvalidInput::BadConfig(format!("{:?} is not a valid host name", target.host)))?;
                let stream = TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| classify_io(&self.config.url, e))?;
                Box::new(stream)
            }
            None => Box::new(tcp),
        };
        let mut request = target
            .uri
            .to_string()
            .into_client_request()
            .map_err(|e| InvalidInput::BadConfig(format!("bad URL: {e}")))?;
        if let Some(ClientAuth::Basic { username, password }) = &self.config.auth {
            if !target.tls {
                tracing::warn!(url = %self.config.url, "sending a password over ws:// without TLS");
            }
            let value = HeaderValue::from_str(&basic_header(username, password)).map_err(|_| {
                InvalidInput::BadConfig("the user name or password has characters HTTP cannot carry".into())
            })?;
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(request, io, Some(websocket_config()))
            .await
            .map_err(|e| classify_ws(&self.config.url, e))?;
        let ack = self.hello(&mut ws).await?;
        let options = ConnectionOptions {
            heartbeat: Some(self.config.heartbeat),
            idle_timeout: self.config.heartbeat * 3,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            listener_buffers: None,
            compress: ack.features.iter().any(|f| f == DEFLATE_FEATURE),
        };
        Ok((Connection::spawn(ws, None, options), ack))
    }

    async fn hello(&self, ws: &mut Ws) -> Result<HelloAck> {
        let mut hello = Hello::new(self.local_uuid.clone());
        if !self.config.compress {
            hello.features.retain(|f| f != DEFLATE_FEATURE);
        }
        let hello = Request::Hello(hello);
        ws.send(Message::text(encode_request(0, &hello)))
            .await
            .map_err(|e| classify_ws(&self.config.url, e))?;
        let lost =
            || -> Error { ReplicationError::Unreachable("the connection closed during the handshake".into()).into() };
        let bytes = loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => break text.as_bytes().to_vec(),
                Some(Ok(Message::Binary(bytes))) => break bytes.to_vec(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Err(e)) => return Err(classify_ws(&self.config.url, e)),
                _ => return Err(lost()),
            }
        };
        match decode_frame(&bytes)? {
            Frame::Reply { re: 0, result: Ok(raw) } => serde_json::from_str(raw.get())
                .map_err(|e| ReplicationError::PeerMisbehaved(format!("malformed hello reply: {e}")).into()),
            Frame::Reply { re: 0, result: Err(e) } => Err(error_from_wire(e)),
            _ => Err(ReplicationError::PeerMisbehaved("the first frame was not a reply to hello".into()).into()),
        }
    }
}

#[async_trait]
impl Endpoint for RemoteEndpoint {
    fn wire_bytes(&self) -> WireBytes {
        self.wire.snapshot()
    }

    /// The peer stores each blob as it is verified; a batch of inserts and
    /// the next batch's chunks are requests side by side.
    fn overlaps_batches(&self) -> bool {
        true
    }

    async fn missing_blobs(&self, blobs: Vec<BlobRef>) -> Result<Vec<BlobRef>> {
        let connection = self.blob_connection().await?;
        let mut missing = Vec::new();
        for part in blobs.chunks(MAX_MISSING_BLOBS_PER_REQUEST) {
            let request = Request::MissingBlobs {
                blobs: part.iter().map(blob_to_wire).collect(),
            };
            let reply: Vec<WireBlob> = connection.0.request(&request).await?;
            if reply.len() > part.len() {
                return Err(
                    ReplicationError::PeerMisbehaved("missing_blobs named more blobs than asked".into()).into(),
                );
            }
            for blob in &reply {
                let blob = blob_from_wire(blob)?;
                // Only what was asked about: a peer cannot make us fetch
                // anything else.
                if !part.contains(&blob) {
                    return Err(
                        ReplicationError::PeerMisbehaved("missing_blobs named a blob not asked about".into()).into(),
                    );
                }
                missing.push(blob);
            }
        }
        Ok(missing)
    }

    async fn read_blob(&self, digest: &BlobDigest, offset: u64, max_len: usize) -> Result<Vec<u8>> {
        let max_len = max_len.clamp(1, MAX_BLOB_CHUNK_BYTES);
        let (connection, binary) = self.blob_connection().await?;
        let request = Request::ReadBlob {
            digest: digest.to_string(),
            offset,
            max_len,
            binary,
        };
        let not_a_chunk = |why: String| -> Error {
            ReplicationError::PeerMisbehaved(format!("a read_blob reply is not a chunk: {why}")).into()
        };
        let bytes = if binary {
            match connection.request_binary::<WireBinaryChunk>(&request, None).await? {
                (head, Some(bytes)) if head.length == bytes.len() && bytes.len() <= max_len => bytes,
                (head, bytes) => {
                    return Err(not_a_chunk(format!(
                        "{} bytes announced, {:?} came, {max_len} asked for",
                        head.length,
                        bytes.map(|b| b.len())
                    )))
                }
            }
        } else {
            let chunk: WireBlobChunk = connection.request(&request).await?;
            decode_chunk(&chunk.data, max_len).map_err(|e| not_a_chunk(e.to_string()))?
        };
        self.blob_bytes
            .received
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }

    async fn blob_receive_offset(&self, blob: &BlobRef) -> Result<u64> {
        let request = Request::BlobReceiveOffset {
            blob: blob_to_wire(blob),
        };
        let offset: u64 = self.blob_connection().await?.0.request(&request).await?;
        held_within(blob, offset)
    }

    async fn append_blob(&self, blob: &BlobRef, offset: u64, bytes: Vec<u8>) -> Result<u64> {
        let sent = bytes.len() as u64;
        let (connection, binary) = self.blob_connection().await?;
        let held: u64 = if binary {
            let request = Request::AppendBlob {
                blob: blob_to_wire(blob),
                offset,
                data: None,
            };
            connection.request_binary(&request, Some(bytes)).await?.0
        } else {
            let request = Request::AppendBlob {
                blob: blob_to_wire(blob),
                offset,
                data: Some(encode_chunk(&bytes)),
            };
            drop(bytes);
            connection.request(&request).await?
        };
        self.blob_bytes.sent.fetch_add(sent, Ordering::Relaxed);
        held_within(blob, held)
    }

    async fn uuid(&self) -> Result<String> {
        Ok(self.session().await?.1.uuid)
    }

    async fn served_collections(&self) -> Result<Option<Vec<String>>> {
        Ok(Some(self.session().await?.1.collections))
    }

    async fn changes(&self, collection: &str, since: &Sequence, limit: usize) -> Result<ChangesPage> {
        let request = Request::Changes {
            collection: collection.to_owned(),
            since: since.own_number()?,
            limit,
        };
        Ok(self
            .connection()
            .await?
            .request::<WireChanges>(&request)
            .await?
            .into_batch()?
            .into())
    }

    async fn count_changes(&self, collection: &str, since: &Sequence) -> Result<u64> {
        let request = Request::CountChanges {
            collection: collection.to_owned(),
            since: since.own_number()?,
        };
        self.connection().await?.request(&request).await
    }

    async fn wait_for_changes(&self, _collection: &str, since: &Sequence) -> Result<()> {
        let since = since.own_number()?;
        let connection = self.connection().await?;
        connection
            .request::<IgnoredAny>(&Request::WaitChanges { since })
            .await?;
        Ok(())
    }

    async fn revs_diff(&self, collection: &str, revs: Vec<(String, Vec<RevId>)>) -> Result<Vec<MissingRevs>> {
        let request = Request::RevsDiff {
            collection: collection.to_owned(),
            revs: revs.into_iter().map(|(id, revs)| WireDocRevs::new(id, &revs)).collect(),
        };
        let missing: Vec<WireDocRevs> = self.connection().await?.request(&request).await?;
        missing.into_iter().map(WireDocRevs::into_missing).collect()
    }

    async fn fetch_deltas(
        &self,
        collection: &str,
        wanted: &[(String, RevId)],
        bases: &[Vec<RevId>],
        max_history: usize,
        max_bytes: usize,
    ) -> Result<FetchedBatch> {
        let (connection, ack) = self.session().await?;
        // Bases only to a listener that allows deltas.
        let bases = match ack.features.iter().any(|f| f == DELTA_SYNC_FEATURE) {
            true => bases
                .iter()
                .take(wanted.len())
                .map(|revs| revs.iter().take(MAX_DELTA_BASES).map(ToString::to_string).collect())
                .collect(),
            false => Vec::new(),
        };
        let request = Request::Fetch {
            collection: collection.to_owned(),
            wanted: wanted.iter().map(|(id, rev)| (id.clone(), rev.to_string())).collect(),
            max_history,
            max_bytes,
            bases,
        };
        let fetched: WireFetched = connection.request(&request).await?;
        if fetched.consumed > wanted.len() || fetched.revisions.len() > fetched.consumed {
            return Err(ReplicationError::PeerMisbehaved("fetch reply does not match the request".into()).into());
        }
        Ok(FetchedBatch {
            revisions: fetched
                .revisions
                .into_iter()
                .map(WireRevision::into_revision)
                .collect::<Result<_>>()?,
            consumed: fetched.consumed,
        })
    }

    async fn insert(&self, collection: &str, revisions: Vec<Revision>) -> Result<Vec<InsertOutcome>> {
        let (connection, ack) = self.session().await?;
        let wire = wire_form(&ack);
        if !ack.features.iter().any(|f| f == FOREIGN_REVISIONS_FEATURE) && revisions.iter().any(|r| r.foreign) {
            return self
                .insert_without_foreign(&connection, collection, revisions, wire)
                .await;
        }
        let request = Request::Insert {
            collection: collection.to_owned(),
            revisions: revisions.into_iter().map(wire).collect::<Result<_>>()?,
        };
        let results: Vec<WireInsertResult> = connection.request(&request).await?;
        Ok(results.into_iter().map(InsertOutcome::from).collect())
    }

    async fn get_checkpoint(&self, collection: &str, id: &str) -> Result<Option<String>> {
        let request = Request::GetCheckpoint {
            collection: collection.to_owned(),
            id: id.to_owned(),
        };
        let body: Option<Box<RawValue>> = self.connection().await?.request(&request).await?;
        Ok(body.map(|b| b.get().to_owned()))
    }

    async fn put_checkpoint(&self, collection: &str, id: &str, body: &str) -> Result<()> {
        let request = Request::PutCheckpoint {
            collection: collection.to_owned(),
            id: id.to_owned(),
            body: RawValue::from_string(body.to_owned()).map_err(|e| InvalidInput::InvalidJson(e.to_string()))?,
        };
        self.connection().await?.request::<IgnoredAny>(&request).await?;
        Ok(())
    }

    async fn close(&self) {
        // Dropping the last handle closes the WebSocket with a normal close.
        *self.connection.lock().await = Slot::Empty;
    }

    async fn begin_attempt(&self) {
        let mut slot = self.connection.lock().await;
        if matches!(*slot, Slot::Failed(_)) {
            *slot = Slot::Empty;
        }
    }
}

impl Replicator {
    /// A replicator between `local` and the peer described by `remote`,
    /// chosen by the URL's scheme: `wss://`/`ws://` is an Outpost listener
    /// (its WebSocket protocol), `https://`/`http://` a CouchDB-protocol
    /// server ([`crate::net::couch::client::CouchEndpoint`]).
    ///
    /// # Examples
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use outpost_core::{Database, DatabaseConfig};
    /// use outpost_core::net::{ClientAuth, RemoteConfig, ServerTrust};
    /// use outpost_core::replication::{Replicator, ReplicatorConfig};
    /// let db = Database::open(dir.path().join("phone.db"), DatabaseConfig::default()).unwrap();
    /// let remote = RemoteConfig::new("wss://192.168.1.20:4984/camp")
    ///     .with_auth(ClientAuth::basic("amina", "correct horse"))
    ///     .with_trust(ServerTrust::SelfSignedOnly);
    /// let replicator = Replicator::remote(db, remote, ReplicatorConfig { continuous: true, ..Default::default() }).unwrap();
    /// # let _ = replicator;
    /// ```
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] for a bad URL or configuration.
    pub fn remote(local: Database, remote: RemoteConfig, config: ReplicatorConfig) -> Result<Replicator> {
        let pushes = config.direction.pushes();
        let endpoint: Arc<dyn Endpoint> = if crate::net::couch::client::is_couch_url(&remote.url) {
            Arc::new(crate::net::couch::client::CouchEndpoint::new(remote, pushes)?.with_local(local.clone()))
        } else {
            Arc::new(RemoteEndpoint::new(remote, local.uuid(), pushes)?)
        };
        Replicator::new(local, endpoint, config)
    }
}

/// The bytes a listener says it holds of `blob`, if they can be true.
fn held_within(blob: &BlobRef, held: u64) -> Result<u64> {
    if held > blob.length {
        return Err(ReplicationError::PeerMisbehaved(format!(
            "the listener holds {held} bytes of a {}-byte blob",
            blob.length
        ))
        .into());
    }
    Ok(held)
}

fn unreachable(url: &str, e: io::Error) -> Error {
    ReplicationError::Unreachable(format!("cannot reach {url}: {e}")).into()
}

/// Sorts a connection or TLS failure into transient and permanent.
pub(crate) fn classify_io(url: &str, e: io::Error) -> Error {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(tls) => classify_tls(tls),
        None => unreachable(url, e),
    }
}

fn classify_tls(e: &rustls::Error) -> Error {
    use rustls::AlertDescription as Alert;
    let r = match e {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            ReplicationError::CertificateRejected(other.0.to_string())
        }
        rustls::Error::InvalidCertificate(c) => ReplicationError::CertificateRejected(format!("{c:?}")),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            ReplicationError::TlsMismatch("the listener does not speak TLS; use a ws:// URL".into())
        }
        rustls::Error::AlertReceived(
            Alert::BadCertificate
            | Alert::CertificateUnknown
            | Alert::CertificateRequired
            | Alert::AccessDenied
            | Alert::UnknownCA
            | Alert::CertificateRevoked
            | Alert::CertificateExpired,
        ) => ReplicationError::Unauthorized("the listener refused this client's certificate".into()),
        other => ReplicationError::TlsMismatch(format!("TLS handshake failed: {other}")),
    };
    r.into()
}

/// Sorts a WebSocket upgrade failure, reading the listener's refusal.
fn classify_ws(url: &str, e: tungstenite::Error) -> Error {
    let r = match e {
        tungstenite::Error::Io(e) => return classify_io(url, e),
        tungstenite::Error::Http(response) => {
            let code = response
                .headers()
                .get(ERROR_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body = response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(500)]).into_owned())
                .unwrap_or_default();
            match (response.status().as_u16(), code.as_str()) {
                (400, "tls_required") => {
                    ReplicationError::TlsMismatch("the listener requires TLS; use a wss:// URL".into())
                }
                (401 | 403, _) => ReplicationError::Unauthorized(format!("the listener refused the login: {body}")),
                (404, _) => ReplicationError::NotServed(format!("{url}: {body}")),
                (429 | 503, _) => ReplicationError::Unreachable(format!("the listener asks to retry later: {body}")),
                (status, _) => ReplicationError::Refused {
                    code: format!("http_{status}"),
                    message: body,
                },
            }
        }
        tungstenite::Error::Url(e) => return InvalidInput::BadConfig(format!("bad URL {url:?}: {e}")).into(),
        tungstenite::Error::Capacity(e) => ReplicationError::PeerMisbehaved(format!("frame too large: {e}")),
        other => ReplicationError::Unreachable(format!("connection to {url} failed: {other}")),
    };
    r.into()
}
