//! The listener's side of the HTTP upgrade, read by hand so that the path
//! and credentials can be checked (slowly, off the runtime's threads)
//! before the WebSocket handshake, and refusals get a clear status line.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::connection::BoxIo;
use crate::tuning::MAX_UPGRADE_HEAD_BYTES;

/// Header naming why a listener refused, for the replicator to sort.
pub(crate) const ERROR_HEADER: &str = "X-Outpost-Error";

/// What the listener needs from the upgrade request.
pub(crate) struct UpgradeRequest {
    /// The request path, e.g. `/camp`.
    pub path: String,
    /// The raw `Authorization` header, if any.
    pub authorization: Option<Vec<u8>>,
    /// Whether it asks for a WebSocket (`Upgrade: websocket`); any other
    /// request goes to the CouchDB face.
    pub websocket: bool,
    /// The value of an `AuthSession` cookie, if any.
    pub session_cookie: Option<String>,
    /// The bytes read so far, replayed to the WebSocket handshake.
    pub head: Vec<u8>,
}

/// Reads the request head (up to the blank line).
///
/// # Errors
/// `InvalidData` for a head that is too large or not HTTP.
pub(crate) async fn read_upgrade_request(io: &mut BoxIo) -> io::Result<UpgradeRequest> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&chunk[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if head.len() > MAX_UPGRADE_HEAD_BYTES {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "request head too large"));
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    let status = request
        .parse(&head)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    if status.is_partial() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "incomplete request head"));
    }
    let path = request.path.unwrap_or("").to_owned();
    let authorization = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("authorization"))
        .map(|h| h.value.to_vec());
    let websocket = request
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("upgrade") && h.value.eq_ignore_ascii_case(b"websocket"));
    let session_cookie = request
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("cookie"))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix("AuthSession=").map(str::to_owned));
    Ok(UpgradeRequest {
        path,
        authorization,
        websocket,
        session_cookie,
        head,
    })
}

/// Writes a refusal and closes the stream.
pub(crate) async fn refuse<S: AsyncWrite + Unpin>(
    io: &mut S,
    status: u16,
    code: &str,
    extra_headers: &[(&str, String)],
    message: &str,
) {
    write_refusal(io, status, code, "text/plain", extra_headers, message).await;
}

/// Writes a refusal to a CouchDB client (`{"error","reason"}`, CouchDB's
/// error names) and closes the stream.
pub(crate) async fn refuse_couch<S: AsyncWrite + Unpin>(
    io: &mut S,
    status: u16,
    code: &str,
    extra_headers: &[(&str, String)],
    message: &str,
) {
    let error = match status {
        401 => "unauthorized",
        429 => "too_many_requests",
        503 => "service_unavailable",
        _ => code,
    };
    let body = serde_json::json!({"error": error, "reason": message}).to_string();
    write_refusal(io, status, code, "application/json", extra_headers, &body).await;
}

async fn write_refusal<S: AsyncWrite + Unpin>(
    io: &mut S,
    status: u16,
    code: &str,
    content_type: &str,
    extra_headers: &[(&str, String)],
    message: &str,
) {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\n{ERROR_HEADER}: {code}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        message.len()
    );
    for (name, value) in extra_headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(message);
    // The peer may already be gone; there is nothing more to tell it.
    let _ = io.write_all(response.as_bytes()).await;
    let _ = io.shutdown().await;
}

/// A stream that first replays bytes already read.
pub(crate) struct Rewind {
    prefix: Vec<u8>,
    position: usize,
    inner: BoxIo,
}

impl Rewind {
    pub(crate) fn new(prefix: Vec<u8>, inner: BoxIo) -> Self {
        Rewind {
            prefix,
            position: 0,
            inner,
        }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.position < self.prefix.len() {
            let n = (self.prefix.len() - self.position).min(buf.remaining());
            let start = self.position;
            buf.put_slice(&self.prefix[start..start + n]);
            self.position += n;
            if self.position == self.prefix.len() {
                self.prefix = Vec::new();
                self.position = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
