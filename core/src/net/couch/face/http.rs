//! Reading request bodies within their bounds and writing CouchDB's JSON
//! replies.

use std::collections::HashMap;
use std::convert::Infallible;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;

use super::Ctx;
use crate::net::budget::Reservation;
use crate::net::couch::wire::CouchError;
use crate::tuning::{MAX_FACE_QUERY_BYTES, MAX_FACE_REQUEST_BYTES};

/// The body of every reply.
pub(crate) type FaceBody = BoxBody<Bytes, Infallible>;

/// What a handler answers: a reply, or the CouchDB error to send.
pub(crate) type Reply = Result<Response<FaceBody>, CouchError>;

/// A reply with a JSON body.
pub(crate) fn json_response(status: u16, value: &impl Serialize) -> Reply {
    let text = serde_json::to_vec(value)
        .map_err(|e| CouchError::new(500, "internal_server_error", format!("cannot encode the reply: {e}")))?;
    Ok(bytes_response(status, "application/json", text))
}

/// A reply with these bytes.
pub(crate) fn bytes_response(status: u16, content_type: &str, bytes: Vec<u8>) -> Response<FaceBody> {
    let length = bytes.len();
    let mut response = Response::new(Full::new(Bytes::from(bytes)).boxed());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert("Cache-Control", HeaderValue::from_static("must-revalidate"));
    response
}

/// The reply for an error: its status and `{"error","reason"}`.
pub(crate) fn error_response(e: &CouchError) -> Response<FaceBody> {
    let mut response = bytes_response(e.status, "application/json", e.body().into_bytes());
    if matches!(e.status, 429 | 503) {
        response
            .headers_mut()
            .insert("Retry-After", HeaderValue::from_static("1"));
    }
    response
}

/// A chunk of a streamed reply and the budget bytes that stand for it,
/// if any: held until the body is asked for the chunk after it, when hyper
/// has written this one (or queued it within its own small buffer).
pub(crate) type Chunk = (Bytes, Option<Reservation>);

/// A reply whose body is written as it is produced (feeds): each chunk
/// sent on the returned channel is written at once, and the body ends when
/// the sender is dropped. Never compressed.
pub(crate) fn streaming_response(content_type: &'static str) -> (Response<FaceBody>, mpsc::Sender<Chunk>) {
    let (tx, rx) = mpsc::channel::<Chunk>(16);
    let stream = futures_util::stream::unfold((rx, None), |(mut rx, written): (_, Option<Reservation>)| async move {
        drop(written);
        rx.recv()
            .await
            .map(|(chunk, held)| (Ok::<_, Infallible>(Frame::data(chunk)), (rx, held)))
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    (response, tx)
}

/// A request body read whole, with the budget bytes that stand for it.
pub(crate) struct ReadBody {
    /// The bytes.
    pub(crate) bytes: Bytes,
    /// Held until the request is served.
    pub(crate) _reservation: Option<Reservation>,
}

/// Reads the body, refusing more than `limit` bytes (413) before reading
/// them when `Content-Length` says so, and holding its size in the
/// listener's byte budget.
pub(crate) async fn read_body(ctx: &Ctx<'_>, request: Request<Incoming>, limit: usize) -> Result<ReadBody, CouchError> {
    let too_large = || CouchError::too_large(format!("The request body is larger than {limit} bytes."));
    let declared = match request.headers().get(CONTENT_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or_else(|| CouchError::bad_request("bad Content-Length"))?,
        ),
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let hold = declared.map_or(limit, |n| n as usize);
    let reservation = ctx.connection.budgets.reserve(hold).await;
    let bytes = Limited::new(request.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                too_large()
            } else {
                CouchError::bad_request(format!("the request body could not be read: {e}"))
            }
        })?
        .to_bytes();
    Ok(ReadBody {
        bytes,
        _reservation: reservation,
    })
}

/// Reads a JSON body into `T` (400 for malformed JSON).
pub(crate) async fn read_json<T: DeserializeOwned>(ctx: &Ctx<'_>, request: Request<Incoming>) -> Result<T, CouchError> {
    let body = read_body(ctx, request, MAX_FACE_REQUEST_BYTES).await?;
    parse_json(&body.bytes)
}

/// Parses JSON into `T` (400 `bad_request` when it does not fit).
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CouchError> {
    serde_json::from_slice(bytes).map_err(|e| CouchError::bad_request(format!("invalid JSON: {e}")))
}

/// The query string's parameters, percent-decoded.
#[derive(Debug, Default)]
pub(crate) struct Query {
    params: HashMap<String, String>,
}

impl Query {
    /// Parses a query string.
    ///
    /// # Errors
    /// 400 when it is longer than [`MAX_FACE_QUERY_BYTES`] or not UTF-8
    /// once decoded.
    pub(crate) fn parse(query: Option<&str>) -> Result<Query, CouchError> {
        let mut params = HashMap::new();
        let Some(query) = query else {
            return Ok(Query { params });
        };
        if query.len() > MAX_FACE_QUERY_BYTES {
            return Err(CouchError::bad_request("the query string is too long"));
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(decode(key)?, decode(value)?);
        }
        Ok(Query { params })
    }

    /// A parameter's text.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// A boolean parameter (`true`/`false`); absent is `false`.
    pub(crate) fn flag(&self, key: &str) -> Result<bool, CouchError> {
        match self.get(key) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(CouchError::bad_request(format!("{key} must be true or false"))),
        }
    }

    /// A non-negative integer parameter.
    pub(crate) fn number(&self, key: &str) -> Result<Option<u64>, CouchError> {
        self.get(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| CouchError::bad_request(format!("{key} must be a non-negative integer")))
            })
            .transpose()
    }

    /// A JSON parameter (`keys=[...]`, `open_revs=[...]`).
    pub(crate) fn json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CouchError> {
        self.get(key)
            .map(|v| serde_json::from_str(v).map_err(|e| CouchError::bad_request(format!("bad {key}: {e}"))))
            .transpose()
    }
}

/// Percent-decodes one component of a URL (`+` is a space in queries).
pub(crate) fn decode(text: &str) -> Result<String, CouchError> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| CouchError::bad_request("the URL is not UTF-8 once decoded"))
}
