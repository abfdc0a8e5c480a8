//! `Connection`: one WebSocket carrying requests and replies in both
//! directions, multiplexed by id, with bounded memory.
//!
//! Flow control: at most [`MAX_IN_FLIGHT_REQUESTS`] of this side's requests
//! await replies; at most [`MAX_CONCURRENT_REQUESTS`] of the peer's are
//! served at once, and past that the connection stops reading so TCP slows
//! the peer down; at most [`OUTGOING_QUEUE_FRAMES`] frames wait to be
//! written, and a frame that cannot be written within the write timeout
//! means the peer stopped reading: the connection is closed.
//!
//! Memory, in bytes: before a peer's request is served, the connection
//! reserves from its [`Budgets`] the most that serving it can hold (the
//! request and its largest reply, [`serving_bytes`]), trims that to the
//! reply's real size once built, and gives it back once the reply is
//! written. This side's requests reserve their size before they are
//! queued. A reservation that does not fit waits, and with it the reading
//! of further requests: a peer that does not read stops being served.
//!
//! Whatever ends the connection (the peer, a protocol error, a timeout,
//! [`Connection::close`]) fails every pending request with the same error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use super::budget::{Budgets, ByteBudget, Reservation};
use super::chunk_buffer::ChunkBuffer;
use super::protocol::{
    compress_message, cut_to, decode_frame, decode_message, encode_binary, encode_reply, encode_request,
    error_from_wire, inflate_message, is_compressed, serving_bytes, Frame, ProtocolError, Request, WireError,
};
use crate::blob::chunk_pool;
use crate::error::{Error, ReplicationError, Result};
use crate::tuning::{
    CONNECTION_BUFFER_BYTES, MAX_CONCURRENT_REQUESTS, MAX_FRAME_BYTES, MAX_IN_FLIGHT_REQUESTS, MAX_WAITING_REQUESTS,
    OUTGOING_QUEUE_FRAMES,
};

/// A byte stream a WebSocket can run over (TCP, or TLS over TCP).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A boxed [`Io`].
pub(crate) type BoxIo = Box<dyn Io>;

/// A WebSocket over a [`BoxIo`].
pub(crate) type Ws = WebSocketStream<BoxIo>;

/// WebSocket limits shared by both sides.
pub(crate) fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
}

/// Serves the peer's requests.
#[async_trait]
pub(crate) trait RequestHandler: Send + Sync + 'static {
    /// The reply, or the error to send back. `payload` is the bytes of a
    /// binary frame (only for a request that [`Request::takes_payload`]).
    async fn handle(&self, request: Request, payload: Option<Vec<u8>>) -> std::result::Result<Answer, WireError>;
}

/// A reply to send: its JSON payload, and the raw bytes that follow it in
/// a binary frame, if any (a `read_blob` chunk, see
/// [`super::protocol::encode_binary`]).
pub(crate) struct Answer {
    /// The reply's JSON text (the `ok` of the frame).
    pub json: String,
    /// Bytes after the JSON, in a binary frame framed in place.
    pub bytes: Option<ChunkBuffer>,
}

impl From<String> for Answer {
    fn from(json: String) -> Self {
        Answer { json, bytes: None }
    }
}

/// Timeouts and shared memory budget of one connection.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionOptions {
    /// Send a WebSocket ping this often.
    pub heartbeat: Option<Duration>,
    /// Close if nothing at all arrives for this long.
    pub idle_timeout: Duration,
    /// Close if a frame cannot be written within this.
    pub write_timeout: Duration,
    /// The listener-wide budget this connection's bytes also count
    /// against (on a listener).
    pub listener_buffers: Option<Arc<ByteBudget>>,
    /// Whether both peers offered compressed frames (feature `deflate`):
    /// large JSON frames are sent compressed and compressed frames are
    /// accepted. Without it a compressed frame is a protocol error.
    pub compress: bool,
}

/// A frame to write and the bytes it holds until written.
type Outgoing = (Message, Reservation);

/// A reply as it arrived: the JSON payload and the bytes of a binary frame.
type Reply = std::result::Result<(Box<RawValue>, Option<Vec<u8>>), Error>;

/// A live connection. Dropping it closes the connection.
pub(crate) struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    outgoing: mpsc::Sender<Outgoing>,
    budgets: Budgets,
    /// `None` once closed.
    pending: Mutex<Option<HashMap<u64, oneshot::Sender<Reply>>>>,
    next_id: AtomicU64,
    in_flight: Semaphore,
    /// Why the connection closed, once it has.
    closed: watch::Sender<Option<Error>>,
    /// The close frame to send when closing from this side.
    shutdown: watch::Sender<Option<CloseFrame>>,
    /// [`ConnectionOptions::compress`].
    compress: bool,
}

impl Connection {
    /// Runs the connection on the current runtime; `handler` serves the
    /// peer's requests (none: they are refused).
    pub(crate) fn spawn(ws: Ws, handler: Option<Arc<dyn RequestHandler>>, options: ConnectionOptions) -> Connection {
        let (outgoing, outgoing_rx) = mpsc::channel(OUTGOING_QUEUE_FRAMES);
        let inner = Arc::new(Inner {
            outgoing,
            budgets: Budgets::new(CONNECTION_BUFFER_BYTES, options.listener_buffers.clone()),
            pending: Mutex::new(Some(HashMap::new())),
            next_id: AtomicU64::new(1),
            in_flight: Semaphore::new(MAX_IN_FLIGHT_REQUESTS),
            closed: watch::channel(None).0,
            shutdown: watch::channel(None).0,
            compress: options.compress,
        });
        let (sink, stream) = ws.split();
        let task_inner = inner.clone();
        tokio::spawn(async move {
            let reader = read_loop(task_inner.clone(), stream, handler, options.idle_timeout);
            let writer = write_loop(task_inner.clone(), sink, outgoing_rx, &options);
            tokio::join!(reader, writer);
            task_inner.close_with(
                ReplicationError::Unreachable("the connection closed".into()).into(),
                None,
            );
        });
        Connection { inner }
    }

    /// Sends a request and decodes its reply.
    ///
    /// # Errors
    /// The peer's error for this request, or why the connection closed.
    pub(crate) async fn request<T: DeserializeOwned>(&self, request: &Request) -> Result<T> {
        match self.request_binary(request, None).await? {
            (reply, None) => Ok(reply),
            (_, Some(_)) => Err(ReplicationError::PeerMisbehaved(format!(
                "the reply to {} carried binary bytes",
                request.name()
            ))
            .into()),
        }
    }

    /// Sends a request, with `payload` after it in a binary frame if
    /// given, and decodes its reply and the bytes that came after it.
    ///
    /// # Errors
    /// The peer's error for this request, or why the connection closed.
    pub(crate) async fn request_binary<T: DeserializeOwned>(
        &self,
        request: &Request,
        payload: Option<Vec<u8>>,
    ) -> Result<(T, Option<Vec<u8>>)> {
        let _permit = self.inner.in_flight.acquire().await.map_err(|_| self.closed_error())?;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        match self.inner.pending.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(pending) => pending.insert(id, tx),
            None => return Err(self.closed_error()),
        };
        let message = match payload {
            Some(bytes) => {
                let message = Message::binary(encode_binary(&encode_request(id, request), &bytes));
                chunk_pool::give_back(bytes);
                message
            }
            None => Message::text(encode_request(id, request)),
        };
        if !self.inner.send(message, None).await {
            return Err(self.closed_error());
        }
        let (raw, bytes) = rx.await.map_err(|_| self.closed_error())??;
        let reply = serde_json::from_str(raw.get())
            .map_err(|e| ReplicationError::PeerMisbehaved(format!("malformed reply to {}: {e}", request.name())))?;
        Ok((reply, bytes))
    }

    /// Closes the connection, telling the peer why. Pending requests fail
    /// with `error`.
    pub(crate) fn close(&self, code: CloseCode, reason: &str, error: Error) {
        self.inner.close_with(
            error,
            Some(CloseFrame {
                code,
                reason: reason.to_owned().into(),
            }),
        );
    }

    /// Whether the connection has closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.inner.closed.borrow().is_some()
    }

    /// Resolves with the reason once the connection has closed.
    pub(crate) async fn closed(&self) -> Error {
        let mut rx = self.inner.closed.subscribe();
        let reason = match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone(),
            Err(_) => None,
        };
        reason.unwrap_or_else(|| self.closed_error())
    }

    fn closed_error(&self) -> Error {
        self.inner
            .closed
            .borrow()
            .clone()
            .unwrap_or_else(|| ReplicationError::Unreachable("the connection closed".into()).into())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close(CloseCode::Normal, "closed", ReplicationError::Stopped.into());
    }
}

impl Inner {
    /// Records why the connection closed (first reason wins), fails pending
    /// requests and asks the writer to send `frame` and stop.
    fn close_with(&self, error: Error, frame: Option<CloseFrame>) {
        let first = self.closed.send_if_modified(|c| {
            if c.is_none() {
                *c = Some(error.clone());
                true
            } else {
                false
            }
        });
        if !first {
            return;
        }
        self.in_flight.close();
        self.budgets.connection().close();
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
        for (_, tx) in pending.into_iter().flatten() {
            let _ = tx.send(Err(error.clone()));
        }
        self.shutdown.send_replace(Some(frame.unwrap_or(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })));
    }

    fn protocol_violation(&self, why: String) {
        tracing::info!(why = %super::log_safe::log_safe(&why), "closing a connection: the peer broke the protocol");
        let reason = cut_to(&why, 120).to_owned();
        self.close_with(
            ReplicationError::PeerMisbehaved(why).into(),
            Some(CloseFrame {
                code: CloseCode::Protocol,
                reason: reason.into(),
            }),
        );
    }

    /// Queues `message` once its bytes are reserved (`reserved` holds some
    /// already). `false` if the connection closed first.
    async fn send(&self, message: Message, reserved: Option<Reservation>) -> bool {
        let message = match &message {
            Message::Text(text) if self.compress => match compress_message(text.as_bytes()) {
                Some(packed) => Message::binary(packed),
                None => message,
            },
            _ => message,
        };
        let bytes = message.len();
        let reservation = match reserved {
            Some(reservation) => reservation.resize(bytes).await,
            None => self.budgets.reserve(bytes).await,
        };
        match reservation {
            Some(reservation) => self.outgoing.send((message, reservation)).await.is_ok(),
            None => false,
        }
    }

    fn deliver(&self, re: u64, result: std::result::Result<Box<RawValue>, WireError>, bytes: Option<Vec<u8>>) -> bool {
        let tx = match self.pending.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(pending) => pending.remove(&re),
            None => return true,
        };
        match tx {
            Some(tx) => {
                let _ = tx.send(result.map(|raw| (raw, bytes)).map_err(error_from_wire));
                true
            }
            None => false,
        }
    }
}

async fn read_loop(
    inner: Arc<Inner>,
    mut stream: SplitStream<Ws>,
    handler: Option<Arc<dyn RequestHandler>>,
    idle_timeout: Duration,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS));
    let waits = Arc::new(Semaphore::new(MAX_WAITING_REQUESTS));
    let mut handlers = JoinSet::new();
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        while handlers.try_join_next().is_some() {}
        let next = tokio::select! {
            next = tokio::time::timeout(idle_timeout, stream.next()) => next,
            _ = shutdown.wait_for(Option::is_some) => return,
        };
        let message = match next {
            Err(_) => {
                let why = format!("nothing heard from the peer for {idle_timeout:?}: the connection is lost");
                return inner.close_with(ReplicationError::Unreachable(why).into(), None);
            }
            Ok(None) => {
                return inner.close_with(ReplicationError::Unreachable("the peer went away".into()).into(), None)
            }
            Ok(Some(Err(e))) => return read_error(&inner, e),
            Ok(Some(Ok(message))) => message,
        };
        let mut inflated = None;
        let (decoded, frame_bytes) = match &message {
            Message::Text(text) => (decode_frame(text.as_bytes()).map(|f| (f, None)), text.len()),
            Message::Binary(bytes) if is_compressed(bytes) => match inflate(&inner, bytes) {
                Some(plain) => {
                    let plain: &Vec<u8> = inflated.insert(plain);
                    (decode_message(plain), plain.len())
                }
                None => return,
            },
            Message::Binary(bytes) => (decode_message(bytes), bytes.len()),
            Message::Close(frame) => return inner.close_with(close_reason(frame.as_ref()), None),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        };
        let (frame, payload) = match decoded {
            Err(e) => return inner.protocol_violation(e.to_string()),
            Ok((frame, payload)) => (frame, payload.map(payload_of)),
        };
        match frame {
            Frame::Reply { re, result } => {
                if !inner.deliver(re, result, payload) {
                    return inner.protocol_violation(format!("reply to unknown request {re}"));
                }
            }
            Frame::Request { id, request } => {
                if payload.is_some() != request.takes_payload() {
                    let why = match payload {
                        Some(_) => "this request takes no binary payload",
                        None => "append_blob without data needs its bytes in a binary frame",
                    };
                    reply(&inner, id, Err(WireError::bad_request(why)), None).await;
                    continue;
                }
                let Some(handler) = handler.clone() else {
                    reply(
                        &inner,
                        id,
                        Err(WireError::bad_request("this peer serves no requests")),
                        None,
                    )
                    .await;
                    continue;
                };
                // A long poll's reply is tiny: it reserves when it is ready.
                let (permit, reserved) = if request.is_long_poll() {
                    match waits.clone().try_acquire_owned() {
                        Ok(permit) => (permit, None),
                        Err(_) => return inner.protocol_violation("too many waiting requests".into()),
                    }
                } else {
                    let serving = serving_bytes(&request, frame_bytes);
                    drop(message);
                    drop(inflated.take());
                    tokio::select! {
                        taken = async {
                            let permit = slots.clone().acquire_owned().await.ok()?;
                            Some((permit, Some(inner.budgets.reserve(serving).await?)))
                        } => match taken {
                            Some(taken) => taken,
                            None => return,
                        },
                        _ = shutdown.wait_for(Option::is_some) => return,
                    }
                };
                let inner = inner.clone();
                handlers.spawn(async move {
                    let result = handler.handle(request, payload).await;
                    reply(&inner, id, result, reserved).await;
                    drop(permit);
                });
            }
        }
    }
}

/// The bytes after a binary frame's JSON, copied into a buffer from the
/// [`chunk_pool`] (given back once appended). Not kept as a view into the
/// message: once the message is dropped, tungstenite reads the next frame
/// into the same memory rather than into a fresh allocation per frame
/// (fresh pages faulted in, the most of a puller's page faults).
fn payload_of(payload: &[u8]) -> Vec<u8> {
    let mut bytes = chunk_pool::take(payload.len());
    bytes.extend_from_slice(payload);
    bytes
}

async fn reply(inner: &Inner, id: u64, result: std::result::Result<Answer, WireError>, reserved: Option<Reservation>) {
    let message = match result {
        Ok(Answer {
            json,
            bytes: Some(bytes),
        }) => Message::binary(bytes.into_frame(&encode_reply(id, Ok(&json)))),
        Ok(answer) => Message::text(encode_reply(id, Ok(&answer.json))),
        Err(e) => Message::text(encode_reply(id, Err(&e))),
    };
    // If the connection is gone, so is whoever would read the reply.
    let _ = inner.send(message, reserved).await;
}

/// The message inside a compressed one, or `None` once the connection
/// is closed for it: compression was not negotiated, the stream is
/// broken, or it inflates past the frame limit (a compression bomb,
/// closed with [`CloseCode::Size`]).
fn inflate(inner: &Inner, compressed: &[u8]) -> Option<Vec<u8>> {
    if !inner.compress {
        inner.protocol_violation("a compressed frame without the deflate feature".into());
        return None;
    }
    match inflate_message(compressed, MAX_FRAME_BYTES) {
        Ok(plain) => Some(plain),
        Err(ProtocolError::TooLarge(_)) => {
            let why = format!("a compressed frame inflates past the limit of {MAX_FRAME_BYTES} bytes");
            tracing::info!(why, "closing a connection: the peer broke the protocol");
            inner.close_with(
                ReplicationError::PeerMisbehaved(why).into(),
                Some(CloseFrame {
                    code: CloseCode::Size,
                    reason: "a compressed frame inflates past the frame limit".into(),
                }),
            );
            None
        }
        Err(e) => {
            inner.protocol_violation(e.to_string());
            None
        }
    }
}

fn read_error(inner: &Inner, e: tungstenite::Error) {
    match e {
        tungstenite::Error::Capacity(c) => inner.protocol_violation(format!("frame too large: {c}")),
        tungstenite::Error::Protocol(p) => inner.protocol_violation(format!("WebSocket protocol error: {p}")),
        tungstenite::Error::Utf8(_) => inner.protocol_violation("text frame is not UTF-8".into()),
        other => inner.close_with(
            ReplicationError::Unreachable(format!("connection lost: {other}")).into(),
            None,
        ),
    }
}

/// What a close frame from the peer means on this side.
fn close_reason(frame: Option<&CloseFrame>) -> Error {
    let Some(frame) = frame else {
        return ReplicationError::Unreachable("the peer closed the connection".into()).into();
    };
    let reason = frame.reason.to_string();
    match frame.code {
        CloseCode::Protocol | CloseCode::Size | CloseCode::Invalid | CloseCode::Unsupported => {
            ReplicationError::PeerMisbehaved(format!("the peer closed the connection as malformed: {reason}")).into()
        }
        CloseCode::Away => ReplicationError::Unreachable(format!("the peer is going away: {reason}")).into(),
        _ => ReplicationError::Unreachable(format!("the peer closed the connection: {reason}")).into(),
    }
}

async fn write_loop(
    inner: Arc<Inner>,
    mut sink: SplitSink<Ws, Message>,
    mut outgoing: mpsc::Receiver<Outgoing>,
    options: &ConnectionOptions,
) {
    let mut shutdown = inner.shutdown.subscribe();
    let mut heartbeat = options.heartbeat.map(|every| {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    loop {
        // The reservation is given back once the frame is written.
        let (message, _reservation) = tokio::select! {
            message = outgoing.recv() => match message {
                Some((message, reservation)) => (message, Some(reservation)),
                None => return,
            },
            _ = tick(&mut heartbeat) => (Message::Ping(Default::default()), None),
            frame = shutdown_frame(&mut shutdown) => {
                let _ = tokio::time::timeout(options.write_timeout, sink.send(Message::Close(frame))).await;
                return;
            }
        };
        match tokio::time::timeout(options.write_timeout, sink.send(message)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return inner.close_with(
                    ReplicationError::Unreachable(format!("connection lost: {e}")).into(),
                    None,
                );
            }
            Err(_) => {
                let why = format!("the peer stopped reading for {:?}", options.write_timeout);
                tracing::info!(%why, "closing a connection");
                return inner.close_with(ReplicationError::Unreachable(why).into(), None);
            }
        }
    }
}

/// Waits for the next heartbeat; never, without one.
async fn tick(heartbeat: &mut Option<tokio::time::Interval>) {
    match heartbeat {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Waits for a close request and returns the frame to send.
async fn shutdown_frame(shutdown: &mut watch::Receiver<Option<CloseFrame>>) -> Option<CloseFrame> {
    match shutdown.wait_for(Option::is_some).await {
        Ok(frame) => frame.clone(),
        Err(_) => None,
    }
}
