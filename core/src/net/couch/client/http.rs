//! The HTTP(S) transport of the CouchDB client: hyper 1's pooled client on
//! tokio-rustls with the replicator's trust modes, Basic credentials,
//! bounded response bodies and CouchDB errors sorted into transient and
//! permanent ones.
//!
//! Why hyper: it is the HTTP implementation the Rust ecosystem builds on
//! (reqwest, axum, tonic), async on tokio like the rest of core, HTTP/1.1
//! keep-alive pooling in `hyper-util`, and no TLS of its own, so the TLS
//! stays rustls with exactly the verifiers the WebSocket replicator uses.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::error::{Error, InvalidInput, ReplicationError, Result};
use crate::net::couch::wire::CouchError;
use crate::net::{basic_header, classify_io, Counted, WireCounter};
use crate::replication::WireBytes;
use crate::tuning::{COUCH_CONNECT_TIMEOUT, COUCH_REQUEST_TIMEOUT};

/// A stream to the server, plain or inside TLS.
enum Stream {
    Plain(Counted<TcpStream>),
    Tls(Box<TlsStream<Counted<TcpStream>>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// Opens TCP, then TLS for `https://` with the configured trust.
#[derive(Clone)]
struct Connector {
    tcp: HttpConnector,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Bytes every connection of the pool moved.
    wire: Arc<WireCounter>,
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<Stream>>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tcp.poll_ready(cx).map_err(io::Error::other)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut tcp = self.tcp.clone();
        let tls = self.tls.clone();
        let wire = self.wire.clone();
        let connecting = async move {
            let host = uri.host().unwrap_or_default().trim_matches(['[', ']']).to_owned();
            let tcp = tcp.call(uri).await.map_err(io::Error::other)?.into_inner();
            let _ = tcp.set_nodelay(true);
            let tcp = Counted::new(tcp, wire);
            let Some(tls) = tls else {
                return Ok(TokioIo::new(Stream::Plain(tcp)));
            };
            let name = rustls_pki_types::ServerName::try_from(host)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let stream = TlsConnector::from(tls).connect(name, tcp).await?;
            Ok(TokioIo::new(Stream::Tls(Box::new(stream))))
        };
        Box::pin(async move {
            tokio::time::timeout(COUCH_CONNECT_TIMEOUT, connecting)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connecting timed out"))?
        })
    }
}

/// An HTTP answer whose body was read in full (within its bound).
pub(crate) struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The CouchDB error this answer is, as a replication error.
    pub fn error(&self) -> Error {
        let e = CouchError::from_response(self.status.as_u16(), &self.body[..self.body.len().min(4096)]);
        e.to_replication_error().into()
    }

    /// The body as `T`.
    ///
    /// # Errors
    /// [`ReplicationError::PeerMisbehaved`] if it is not.
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ReplicationError::PeerMisbehaved(format!("malformed {what} reply: {e}")).into())
    }
}

/// A CouchDB server's HTTP client: one pool of keep-alive connections.
pub(crate) struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
    authorization: Option<HeaderValue>,
    /// The URL for messages (no credentials).
    url: String,
    /// Bytes the pool's connections moved.
    wire: Arc<WireCounter>,
}

impl HttpClient {
    /// Bytes the client's connections moved on the wire so far.
    pub fn wire_bytes(&self) -> WireBytes {
        self.wire.snapshot()
    }

    /// A client with `tls` for `https://` (None for `http://`) and Basic
    /// credentials, if any.
    pub fn new(url: &str, tls: Option<Arc<rustls::ClientConfig>>, basic: Option<(&str, &str)>) -> Result<HttpClient> {
        let wire = Arc::<WireCounter>::default();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(Connector {
                tcp,
                tls,
                wire: wire.clone(),
            });
        let authorization = basic
            .map(|(user, password)| {
                HeaderValue::from_str(&basic_header(user, password)).map_err(|_| {
                    InvalidInput::BadConfig("the user name or password has characters HTTP cannot carry".into())
                })
            })
            .transpose()?;
        Ok(HttpClient {
            client,
            wire,
            authorization,
            url: url.to_owned(),
        })
    }

    /// Sends a request and reads at most `max_body` bytes of the answer,
    /// within `timeout` for the whole exchange.
    ///
    /// # Errors
    /// [`ReplicationError::Unreachable`] when the server cannot be reached
    /// or the exchange times out; [`ReplicationError::CertificateRejected`]
    /// and [`ReplicationError::TlsMismatch`] from TLS;
    /// [`ReplicationError::PeerMisbehaved`] for a body past `max_body`.
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        body: Option<Vec<u8>>,
        max_body: usize,
        timeout: Duration,
    ) -> Result<Answer> {
        let exchange = self.exchange(method, uri, body, max_body);
        tokio::time::timeout(timeout, exchange).await.map_err(|_| {
            Error::from(ReplicationError::Unreachable(format!(
                "{} did not answer within {} s",
                self.url,
                timeout.as_secs()
            )))
        })?
    }

    /// [`HttpClient::send`] with the default timeout.
    pub async fn call(&self, method: Method, uri: &str, body: Option<Vec<u8>>, max_body: usize) -> Result<Answer> {
        self.send(method, uri, body, max_body, COUCH_REQUEST_TIMEOUT).await
    }

    async fn exchange(&self, method: Method, uri: &str, body: Option<Vec<u8>>, max_body: usize) -> Result<Answer> {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, concat!("outpost/", env!("CARGO_PKG_VERSION")));
        if let Some(auth) = &self.authorization {
            request = request.header(header::AUTHORIZATION, auth.clone());
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| InvalidInput::BadConfig(format!("bad request to {}: {e}", self.url)))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max_body as u64) {
            return Err(too_large(max_body));
        }
        let body = Limited::new(response.into_body(), max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    too_large(max_body)
                } else {
                    ReplicationError::Unreachable(format!("reading the answer of {}: {e}", self.url)).into()
                }
            })?
            .to_bytes();
        Ok(Answer { status, body })
    }

    /// Sorts a failed exchange: TLS failures by their kind, the rest as
    /// unreachable (retried).
    fn transport_error(&self, e: hyper_util::client::legacy::Error) -> Error {
        let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
        while let Some(inner) = source {
            if let Some(io) = inner.downcast_ref::<io::Error>() {
                let copy = match io.get_ref() {
                    Some(tls) if tls.downcast_ref::<rustls::Error>().is_some() => tls
                        .downcast_ref::<rustls::Error>()
                        .map(|t| io::Error::new(io.kind(), t.clone())),
                    _ => None,
                };
                let e = classify_io(
                    &self.url,
                    copy.unwrap_or_else(|| io::Error::new(io.kind(), io.to_string())),
                );
                return match e {
                    Error::Replication(ReplicationError::TlsMismatch(_)) => {
                        ReplicationError::TlsMismatch("the server does not speak TLS; use an http:// URL".into()).into()
                    }
                    other => other,
                };
            }
            source = inner.source();
        }
        ReplicationError::Unreachable(format!("request to {} failed: {e}", self.url)).into()
    }
}

/// The start of the message of an answer past its bound.
const TOO_LARGE: &str = "the server's answer is larger than";

fn too_large(max: usize) -> Error {
    ReplicationError::PeerMisbehaved(format!("{TOO_LARGE} {max} bytes")).into()
}

/// Whether `e` is an answer past its bound (a smaller request may fit).
pub(crate) fn is_too_large(e: &Error) -> bool {
    matches!(e, Error::Replication(ReplicationError::PeerMisbehaved(why)) if why.starts_with(TOO_LARGE))
}

/// Percent-encodes one path segment or query value (everything but
/// RFC 3986's unreserved characters).
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
