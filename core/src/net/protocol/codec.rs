//! The frame codec: one WebSocket message is one JSON object, either a
//! request `{"id":N,"req":{OP:{...}}}` or a reply `{"re":N,"ok":...}` /
//! `{"re":N,"err":{"code":...,"message":...}}`.
//!
//! Decoding is the first thing done with bytes from the network, so it
//! rejects anything else with a [`ProtocolError`] and never panics.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::codes::WireError;
use super::message::Request;
use crate::error::{Error, ReplicationError};
use crate::tuning::MAX_FRAME_BYTES;

/// A decoded frame.
#[derive(Debug)]
pub enum Frame {
    /// A request the peer wants answered, under the peer's id.
    Request {
        /// The peer's request id (echoed in the reply).
        id: u64,
        /// The request.
        request: Request,
    },
    /// The answer to one of this side's requests.
    Reply {
        /// This side's request id.
        re: u64,
        /// The payload (decoded by whoever asked) or the peer's error.
        result: Result<Box<RawValue>, WireError>,
    },
}

/// Why a frame was rejected. The connection is closed with a protocol error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Larger than [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME_BYTES} bytes")]
    TooLarge(usize),
    /// Not JSON, or JSON of the wrong shape.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A request for an operation this side does not know.
    #[error("unknown or malformed request: {0}")]
    BadRequest(String),
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        ReplicationError::PeerMisbehaved(e.to_string()).into()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFrame<'a> {
    id: Option<u64>,
    re: Option<u64>,
    #[serde(borrow, default, deserialize_with = "present")]
    req: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    ok: Option<&'a RawValue>,
    err: Option<WireError>,
}

/// A field that is present, even as `null` (plain `Option` would read
/// `"ok": null`, a valid reply, as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Decodes one frame.
///
/// # Errors
/// [`ProtocolError`] for anything but a well-formed request or reply.
///
/// # Examples
/// ```
/// use outpost_core::net::protocol::{decode_frame, Frame};
/// let frame = decode_frame(br#"{"id":1,"req":{"wait_changes":{"since":7}}}"#).unwrap();
/// assert!(matches!(frame, Frame::Request { id: 1, .. }));
/// assert!(decode_frame(b"{\"id\":1}").is_err());
/// ```
pub fn decode_frame(bytes: &[u8]) -> Result<Frame, ProtocolError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(ProtocolError::TooLarge(bytes.len()));
    }
    let raw: RawFrame<'_> = serde_json::from_slice(bytes).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    match raw {
        RawFrame {
            id: Some(id),
            re: None,
            req: Some(req),
            ok: None,
            err: None,
        } => {
            let request = serde_json::from_str(req.get()).map_err(|e| ProtocolError::BadRequest(e.to_string()))?;
            Ok(Frame::Request { id, request })
        }
        RawFrame {
            id: None,
            re: Some(re),
            req: None,
            ok,
            err,
        } => match (ok, err) {
            (Some(ok), None) => Ok(Frame::Reply {
                re,
                result: Ok(ok.to_owned()),
            }),
            (None, Some(err)) => Ok(Frame::Reply { re, result: Err(err) }),
            _ => Err(ProtocolError::Malformed(
                "a reply needs exactly one of ok and err".into(),
            )),
        },
        _ => Err(ProtocolError::Malformed(
            "a frame is either {id, req} or {re, ok|err}".into(),
        )),
    }
}

/// Encodes a request under `id`.
pub fn encode_request(id: u64, request: &Request) -> String {
    // Serialising our own types cannot fail: every map key is a string.
    let req = serde_json::to_string(request).unwrap_or_else(|_| "null".into());
    format!("{{\"id\":{id},\"req\":{req}}}")
}

/// Encodes a reply to request `re`: `ok` is the payload's JSON text.
pub fn encode_reply(re: u64, result: Result<&str, &WireError>) -> String {
    match result {
        Ok(ok) => format!("{{\"re\":{re},\"ok\":{ok}}}"),
        Err(err) => {
            let err = serde_json::to_string(err).unwrap_or_else(|_| "null".into());
            format!("{{\"re\":{re},\"err\":{err}}}")
        }
    }
}
