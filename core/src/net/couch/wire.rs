//! CouchDB's JSON as both sides of the CouchDB protocol need it: the
//! `_revisions` history, changes rows and replies, `_revs_diff`,
//! `_bulk_docs`, `_bulk_get`, `_local` checkpoint documents, attachment
//! stubs, error bodies and sequences. Pure data and checks, no I/O: every
//! value here may come from the network and is checked before use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, InvalidInput, ReplicationError};
use crate::revision::RevId;
use crate::tuning::{MAX_COUCH_REASON_BYTES, MAX_REV_GENERATION};

/// A CouchDB error: the HTTP status and the body `{"error","reason"}`.
///
/// # Examples
/// ```
/// use outpost_core::net::couch::wire::CouchError;
/// let e = CouchError::not_found("missing");
/// assert_eq!(e.status, 404);
/// assert_eq!(e.body(), r#"{"error":"not_found","reason":"missing"}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {error}: {reason}")]
pub struct CouchError {
    /// HTTP status.
    pub status: u16,
    /// CouchDB's error name (`not_found`, `bad_request`, `conflict`, ...).
    pub error: String,
    /// A human-readable explanation (never contains secrets).
    pub reason: String,
}

/// The JSON body of a CouchDB error.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// CouchDB's error name.
    pub error: String,
    /// The explanation.
    #[serde(default)]
    pub reason: String,
}

impl CouchError {
    /// An error with this status, name and reason (cut to
    /// [`MAX_COUCH_REASON_BYTES`]).
    pub fn new(status: u16, error: &str, reason: impl Into<String>) -> CouchError {
        let mut reason: String = reason.into();
        if reason.len() > MAX_COUCH_REASON_BYTES {
            let mut end = MAX_COUCH_REASON_BYTES;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        CouchError {
            status,
            error: error.to_owned(),
            reason,
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(reason: impl Into<String>) -> CouchError {
        CouchError::new(400, "bad_request", reason)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(reason: impl Into<String>) -> CouchError {
        CouchError::new(401, "unauthorized", reason)
    }

    /// 403 `forbidden`.
    pub fn forbidden(reason: impl Into<String>) -> CouchError {
        CouchError::new(403, "forbidden", reason)
    }

    /// 404 `not_found`.
    pub fn not_found(reason: impl Into<String>) -> CouchError {
        CouchError::new(404, "not_found", reason)
    }

    /// 409 `conflict`.
    pub fn conflict(reason: impl Into<String>) -> CouchError {
        CouchError::new(409, "conflict", reason)
    }

    /// 412 `file_exists` (CouchDB's answer to creating a database that exists).
    pub fn file_exists() -> CouchError {
        CouchError::new(
            412,
            "file_exists",
            "The database could not be created, the file already exists.",
        )
    }

    /// 413 `too_large`.
    pub fn too_large(reason: impl Into<String>) -> CouchError {
        CouchError::new(413, "too_large", reason)
    }

    /// The JSON body `{"error","reason"}`.
    pub fn body(&self) -> String {
        serde_json::json!({"error": self.error, "reason": self.reason}).to_string()
    }

    /// The error a client sees for an HTTP status and the body a server
    /// sent (a body that is not CouchDB's error JSON keeps the status).
    pub fn from_response(status: u16, body: &[u8]) -> CouchError {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => CouchError::new(status, &b.error, b.reason),
            Err(_) => CouchError::new(status, "unknown_error", format!("HTTP {status}")),
        }
    }

    /// The CouchDB error for a core error: invalid input is 400, a missing
    /// document 404, a conflict 409, a full or failing store 500.
    pub fn from_core(e: &Error) -> CouchError {
        match e {
            Error::InvalidInput(InvalidInput::BodyTooLarge { .. } | InvalidInput::TreeTooLarge { .. }) => {
                CouchError::too_large(e.to_string())
            }
            Error::InvalidInput(_) => CouchError::bad_request(e.to_string()),
            Error::NotFound { .. } => CouchError::not_found("missing"),
            Error::Conflict { .. } => CouchError::conflict("Document update conflict."),
            Error::CollectionNotFound(_) => CouchError::not_found("Database does not exist."),
            Error::Blob(b) => CouchError::new(412, "missing_stub", b.to_string()),
            // A quota of the listener (a user's checkpoints): PouchDB takes
            // 403 on a checkpoint write as a read-only peer and goes on.
            Error::Replication(ReplicationError::Refused { message, .. }) => CouchError::forbidden(message.clone()),
            _ => CouchError::new(500, "internal_server_error", e.to_string()),
        }
    }

    /// The replication error a client reports for this answer.
    pub fn to_replication_error(&self) -> ReplicationError {
        match self.status {
            401 | 403 => ReplicationError::Unauthorized(self.reason.clone()),
            404 => ReplicationError::NotServed(self.reason.clone()),
            408 | 429 | 500..=599 => ReplicationError::Unreachable(format!("{}: {}", self.error, self.reason)),
            _ => ReplicationError::Refused {
                code: self.error.clone(),
                message: self.reason.clone(),
            },
        }
    }
}

impl From<InvalidInput> for CouchError {
    fn from(e: InvalidInput) -> Self {
        CouchError::from_core(&Error::InvalidInput(e))
    }
}

// ---------------------------------------------------------------------------
// Sequences

/// A `since` as a client sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// After this sequence (`0` is from the start).
    Seq(u64),
    /// From the current end of the feed (`now`).
    Now,
}

/// Parses a `since` from a query string value: `0`, `now`, or a sequence
/// this face wrote (a decimal number, possibly quoted as a JSON string).
///
/// # Errors
/// 400 `bad_request` for anything else (another server's opaque sequence,
/// a negative or fractional number, garbage).
pub fn parse_since(text: &str) -> Result<Since, CouchError> {
    if text == "now" {
        return Ok(Since::Now);
    }
    let unquoted = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    parse_seq_digits(unquoted).map(Since::Seq)
}

/// Parses a `since` given as JSON (`POST /_changes` bodies): a number, a
/// numeric string or `"now"`.
///
/// # Errors
/// 400 `bad_request` as [`parse_since`].
pub fn parse_since_value(value: &Value) -> Result<Since, CouchError> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .map(Since::Seq)
            .ok_or_else(|| CouchError::bad_request("since must be a sequence of this server, 0 or now")),
        Value::String(s) => parse_since(s),
        _ => Err(CouchError::bad_request(
            "since must be a sequence of this server, 0 or now",
        )),
    }
}

fn parse_seq_digits(text: &str) -> Result<u64, CouchError> {
    let bad = || CouchError::bad_request("since must be a sequence of this server, 0 or now");
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// A sequence as this face sends it: a JSON number.
pub fn encode_seq(seq: u64) -> Value {
    Value::from(seq)
}

// ---------------------------------------------------------------------------
// Revision histories

/// CouchDB's `_revisions`: `ids[0]` is the revision's hash, `ids[1]` its
/// parent's, ... with generations `start`, `start - 1`, ...
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Revisions {
    /// Generation of `ids[0]`.
    pub start: u64,
    /// Hashes, newest first.
    pub ids: Vec<String>,
}

impl Revisions {
    /// Our history (newest first) for this `_revisions`, at most `limit`
    /// entries kept.
    ///
    /// # Errors
    /// 400 `bad_request` if `ids` is empty, longer than `start` (a
    /// generation would reach 0), `start` is past our generation limit, or
    /// a hash is not one our revision ids can hold.
    pub fn to_history(&self, limit: usize) -> Result<Vec<RevId>, CouchError> {
        if self.ids.is_empty() {
            return Err(CouchError::bad_request("_revisions.ids is empty"));
        }
        if self.start == 0 || self.start > MAX_REV_GENERATION || self.ids.len() as u64 > self.start {
            return Err(CouchError::bad_request(
                "_revisions: start must be at least the number of ids and within the generation limit",
            ));
        }
        self.ids
            .iter()
            .take(limit.max(1))
            .enumerate()
            .map(|(i, hash)| RevId::new(self.start - i as u64, hash).map_err(CouchError::from))
            .collect()
    }

    /// The `_revisions` of a history (newest first).
    ///
    /// # Errors
    /// 500 if the history is empty or not a chain of consecutive
    /// generations (a damaged tree; nothing is sent).
    pub fn from_history(history: &[RevId]) -> Result<Revisions, CouchError> {
        let first = history
            .first()
            .ok_or_else(|| CouchError::new(500, "internal_server_error", "empty revision history"))?;
        check_chain(history).map_err(|e| CouchError::new(500, "internal_server_error", e.reason))?;
        Ok(Revisions {
            start: first.generation(),
            ids: history.iter().map(|r| r.hash().to_owned()).collect(),
        })
    }
}

/// Checks that a history (newest first) is a chain: each entry one
/// generation below the one before.
///
/// # Errors
/// 400 `bad_request` naming the first break.
pub fn check_chain(history: &[RevId]) -> Result<(), CouchError> {
    for pair in history.windows(2) {
        if pair[0].generation() != pair[1].generation() + 1 {
            return Err(CouchError::bad_request(format!(
                "the revision history is not a chain: {} follows {}",
                pair[0], pair[1]
            )));
        }
    }
    Ok(())
}

/// Parses a revision id sent by a client.
///
/// # Errors
/// 400 `bad_request` if it is not `GENERATION-HASH` as our ids hold them.
pub fn parse_rev(text: &str) -> Result<RevId, CouchError> {
    text.parse::<RevId>().map_err(CouchError::from)
}

// ---------------------------------------------------------------------------
// Documents

/// A CouchDB document split into its metadata and its body.
#[derive(Clone, Debug, PartialEq)]
pub struct CouchDoc {
    /// `_id`.
    pub id: String,
    /// `_rev`, if given.
    pub rev: Option<RevId>,
    /// `_deleted`.
    pub deleted: bool,
    /// `_revisions`, if given.
    pub revisions: Option<Revisions>,
    /// `_attachments`, if given (names to stubs or inline data).
    pub attachments: Option<BTreeMap<String, Attachment>>,
    /// Every field not starting with `_`.
    pub body: Map<String, Value>,
}

/// Special fields a client may send and that are dropped on write (CouchDB
/// ignores them too: they describe the stored tree, not the revision).
const IGNORED_SPECIAL_FIELDS: &[&str] = &["_conflicts", "_deleted_conflicts", "_local_seq", "_revs_info", "_seq"];

impl CouchDoc {
    /// Splits a document object.
    ///
    /// # Errors
    /// 400 `bad_request` for a missing or non-string `_id` (when
    /// `id_required`), a bad `_rev`, `_revisions` or `_attachments`, or an
    /// unknown `_` field (CouchDB's `doc_validation`).
    pub fn from_object(mut map: Map<String, Value>, id_required: bool) -> Result<CouchDoc, CouchError> {
        let id = match map.remove("_id") {
            Some(Value::String(id)) => id,
            None if !id_required => String::new(),
            _ => return Err(CouchError::bad_request("every document needs a string _id")),
        };
        let rev = match map.remove("_rev") {
            None | Some(Value::Null) => None,
            Some(Value::String(r)) => Some(parse_rev(&r)?),
            Some(_) => return Err(CouchError::bad_request("_rev must be a string")),
        };
        let deleted = match map.remove("_deleted") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => b,
            Some(_) => return Err(CouchError::bad_request("_deleted must be true or false")),
        };
        let revisions = match map.remove("_revisions") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value::<Revisions>(v)
                    .map_err(|e| CouchError::bad_request(format!("bad _revisions: {e}")))?,
            ),
        };
        let attachments = match map.remove("_attachments") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value::<BTreeMap<String, Attachment>>(v)
                    .map_err(|e| CouchError::bad_request(format!("bad _attachments: {e}")))?,
            ),
        };
        for special in IGNORED_SPECIAL_FIELDS {
            map.remove(*special);
        }
        if let Some(key) = map.keys().find(|k| k.starts_with('_')) {
            return Err(CouchError::new(
                400,
                "doc_validation",
                format!(
                    "Bad special document member: {}",
                    key.chars().take(100).collect::<String>()
                ),
            ));
        }
        Ok(CouchDoc {
            id,
            rev,
            deleted,
            revisions,
            attachments,
            body: map,
        })
    }

    /// The history this document states: `_revisions` when given (checked
    /// against `_rev`), else `_rev` alone.
    ///
    /// # Errors
    /// 400 `bad_request` if there is neither, or `_rev` is not
    /// `_revisions`' first entry.
    pub fn history(&self, limit: usize) -> Result<Vec<RevId>, CouchError> {
        match (&self.revisions, &self.rev) {
            (Some(revisions), rev) => {
                let history = revisions.to_history(limit)?;
                if rev.as_ref().is_some_and(|r| Some(r) != history.first()) {
                    return Err(CouchError::bad_request("_rev is not the first entry of _revisions"));
                }
                Ok(history)
            }
            (None, Some(rev)) => Ok(vec![rev.clone()]),
            (None, None) => Err(CouchError::bad_request(
                "a document stored with new_edits=false needs a _rev",
            )),
        }
    }
}

/// Builds the JSON object of a document: metadata first, then the body.
pub fn doc_object(
    id: &str,
    rev: &RevId,
    deleted: bool,
    body: &Map<String, Value>,
    extra: impl IntoIterator<Item = (&'static str, Value)>,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("_id".into(), Value::from(id));
    out.insert("_rev".into(), Value::from(rev.to_string()));
    if deleted {
        out.insert("_deleted".into(), Value::Bool(true));
    }
    for (k, v) in extra {
        out.insert(k.into(), v);
    }
    for (k, v) in body {
        out.insert(k.clone(), v.clone());
    }
    out
}

// ---------------------------------------------------------------------------
// Attachments

/// One `_attachments` entry: a stub, inline base64 `data`, or `follows`
/// (its bytes in a multipart part).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attachment {
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `md5-<base64>` of the bytes (CouchDB's digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Length of the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// Generation of the revision that added these bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revpos: Option<u64>,
    /// `true` for a stub (no bytes here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stub: Option<bool>,
    /// Inline bytes, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// `true` when the bytes follow in a multipart part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<bool>,
    /// `gzip` when the bytes are stored or sent compressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Length of the compressed bytes, with `encoding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoded_length: Option<u64>,
}

// ---------------------------------------------------------------------------
// _changes

/// One `{rev}` of a changes row.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RevEntry {
    /// A leaf revision.
    pub rev: String,
}

/// One row of `_changes`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ChangeRow {
    /// The sequence (a number here; opaque text from CouchDB 3).
    pub seq: Value,
    /// Document id.
    pub id: String,
    /// The winner (`style=main_only`) or every leaf (`style=all_docs`).
    pub changes: Vec<RevEntry>,
    /// Whether the winner is a deletion.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
}

/// A `_changes` reply (normal and longpoll feeds).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ChangesReply {
    /// The rows.
    pub results: Vec<ChangeRow>,
    /// Pass as `since` to read on.
    pub last_seq: Value,
    /// Changes left after these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
}

/// A `POST /_changes` body.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ChangesRequest {
    /// The `doc_ids` filter (with `filter=_doc_ids`).
    #[serde(default)]
    pub doc_ids: Option<Vec<String>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

// ---------------------------------------------------------------------------
// _revs_diff

/// A `_revs_diff` request: ids to revisions the client has.
pub type RevsDiffRequest = BTreeMap<String, Vec<String>>;

/// One entry of a `_revs_diff` reply.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RevsDiffEntry {
    /// Revisions the server lacks.
    pub missing: Vec<String>,
    /// Revisions the server has that may be ancestors (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub possible_ancestors: Option<Vec<String>>,
}

/// A `_revs_diff` reply: only ids with something missing.
pub type RevsDiffReply = BTreeMap<String, RevsDiffEntry>;

// ---------------------------------------------------------------------------
// _bulk_docs

/// A `_bulk_docs` request.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct BulkDocsRequest {
    /// The documents (checked one by one with [`CouchDoc::from_object`]).
    pub docs: Vec<Value>,
    /// `false` to store revisions as given (replication).
    #[serde(default = "default_true")]
    pub new_edits: bool,
}

fn default_true() -> bool {
    true
}

/// One result of `_bulk_docs`: `{ok,id,rev}` or `{id,rev,error,reason}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BulkDocsResult {
    /// Document id.
    pub id: String,
    /// The revision stored (or refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// `true` when stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// The error name when refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl BulkDocsResult {
    /// A stored revision.
    pub fn ok(id: &str, rev: &RevId) -> BulkDocsResult {
        BulkDocsResult {
            id: id.to_owned(),
            rev: Some(rev.to_string()),
            ok: Some(true),
            error: None,
            reason: None,
        }
    }

    /// A refused one.
    pub fn refused(id: &str, rev: Option<&RevId>, e: &CouchError) -> BulkDocsResult {
        BulkDocsResult {
            id: id.to_owned(),
            rev: rev.map(RevId::to_string),
            ok: None,
            error: Some(e.error.clone()),
            reason: Some(e.reason.clone()),
        }
    }
}

// ---------------------------------------------------------------------------
// _bulk_get

/// One entry of a `_bulk_get` request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BulkGetEntry {
    /// Document id.
    pub id: String,
    /// The revision wanted (the winner when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// Revisions the client has: attachments they introduced are sent as stubs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atts_since: Option<Vec<String>>,
}

/// A `_bulk_get` request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BulkGetRequest {
    /// The entries, answered one result each, in order.
    pub docs: Vec<BulkGetEntry>,
}

/// One result of `_bulk_get`: the entry's id and what was found.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BulkGetResult {
    /// Document id.
    pub id: String,
    /// `{"ok": doc}` or `{"error": {id, rev, error, reason}}` items.
    pub docs: Vec<BulkGetItem>,
}

/// A found revision or an error, in a [`BulkGetResult`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum BulkGetItem {
    /// The document object (with `_revisions` when asked for).
    Ok(Map<String, Value>),
    /// Why it was not found.
    Error(BulkGetError),
}

/// The error of one `_bulk_get` entry.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BulkGetError {
    /// Document id.
    pub id: String,
    /// The revision asked for.
    #[serde(default)]
    pub rev: String,
    /// Error name (`not_found`).
    pub error: String,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// A `_bulk_get` reply.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BulkGetReply {
    /// One per request entry, in order.
    pub results: Vec<BulkGetResult>,
}

// ---------------------------------------------------------------------------
// _local

/// A `_local` document as stored by this face: the client's fields (any,
/// `_id` and `_rev` removed) and a counter that makes its `_rev` `0-N`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StoredLocalDoc {
    /// N of the `_rev` `0-N`.
    pub couch_rev: u64,
    /// The client's fields.
    pub doc: Map<String, Value>,
}

impl StoredLocalDoc {
    /// The `_rev` CouchDB clients see.
    pub fn rev(&self) -> String {
        format!("0-{}", self.couch_rev)
    }

    /// The document a client reads: `_id`, `_rev`, then its fields.
    pub fn to_object(&self, id: &str) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("_id".into(), Value::from(format!("_local/{id}")));
        out.insert("_rev".into(), Value::from(self.rev()));
        for (k, v) in &self.doc {
            if k != "_id" && k != "_rev" {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }

    /// The next stored version after a client's PUT of `doc` naming `rev`.
    ///
    /// # Errors
    /// 409 `conflict` if `rev` is not the current `_rev` (`None` is
    /// accepted only for a new document).
    pub fn next(current: Option<&StoredLocalDoc>, mut doc: Map<String, Value>) -> Result<StoredLocalDoc, CouchError> {
        let given = match doc.remove("_rev") {
            None | Some(Value::Null) => None,
            Some(Value::String(r)) => Some(r),
            Some(_) => return Err(CouchError::bad_request("_rev must be a string")),
        };
        doc.remove("_id");
        let couch_rev = match (current, given) {
            (None, _) => 1,
            (Some(c), Some(r)) if r == c.rev() => c.couch_rev.saturating_add(1),
            (Some(_), _) => return Err(CouchError::conflict("Document update conflict.")),
        };
        Ok(StoredLocalDoc { couch_rev, doc })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_ours_and_refuses_the_rest() {
        assert_eq!(parse_since("0"), Ok(Since::Seq(0)));
        assert_eq!(parse_since("now"), Ok(Since::Now));
        assert_eq!(parse_since("42"), Ok(Since::Seq(42)));
        assert_eq!(parse_since("\"42\""), Ok(Since::Seq(42)));
        for bad in ["", "-1", "1.5", "12-g1AAAA", "99999999999999999999999", "now2", "\"\""] {
            assert_eq!(parse_since(bad).unwrap_err().status, 400, "{bad}");
        }
        assert_eq!(parse_since_value(&Value::from(7)), Ok(Since::Seq(7)));
        assert!(parse_since_value(&Value::from(-7)).is_err());
        assert!(parse_since_value(&serde_json::json!([1])).is_err());
    }

    #[test]
    fn revisions_round_trip_and_refuse_non_chains() {
        let r = Revisions {
            start: 3,
            ids: vec!["c".into(), "b".into(), "a".into()],
        };
        let h = r.to_history(100).unwrap();
        assert_eq!(h[2].to_string(), "1-a");
        assert_eq!(Revisions::from_history(&h).unwrap(), r);
        assert_eq!(r.to_history(2).unwrap().len(), 2);
        for bad in [
            Revisions {
                start: 1,
                ids: vec!["a".into(), "b".into()],
            },
            Revisions {
                start: 0,
                ids: vec!["a".into()],
            },
            Revisions { start: 2, ids: vec![] },
            Revisions {
                start: 2,
                ids: vec!["a b".into()],
            },
            Revisions {
                start: MAX_REV_GENERATION + 1,
                ids: vec!["a".into()],
            },
        ] {
            assert_eq!(bad.to_history(100).unwrap_err().status, 400);
        }
        let gap = vec![parse_rev("3-a").unwrap(), parse_rev("1-b").unwrap()];
        assert!(check_chain(&gap).is_err());
        assert!(Revisions::from_history(&gap).is_err());
    }

    #[test]
    fn documents_split_and_refuse_unknown_special_fields() {
        let doc: Map<String, Value> = serde_json::from_str(
            r#"{"_id":"a","_rev":"2-b","_revisions":{"start":2,"ids":["b","a"]},"_conflicts":[],"name":"x"}"#,
        )
        .unwrap();
        let d = CouchDoc::from_object(doc, true).unwrap();
        assert_eq!(d.history(10).unwrap().len(), 2);
        assert_eq!(d.body.len(), 1);
        let bad: Map<String, Value> = serde_json::from_str(r#"{"_id":"a","_foo":1}"#).unwrap();
        assert_eq!(CouchDoc::from_object(bad, true).unwrap_err().error, "doc_validation");
        let mismatch: Map<String, Value> =
            serde_json::from_str(r#"{"_id":"a","_rev":"3-c","_revisions":{"start":2,"ids":["b","a"]}}"#).unwrap();
        assert!(CouchDoc::from_object(mismatch, true).unwrap().history(10).is_err());
        let no_id: Map<String, Value> = serde_json::from_str(r#"{"_id":5}"#).unwrap();
        assert!(CouchDoc::from_object(no_id, true).is_err());
    }

    #[test]
    fn local_docs_count_revisions_and_refuse_stale_ones() {
        let first = StoredLocalDoc::next(None, Map::new()).unwrap();
        assert_eq!(first.rev(), "0-1");
        let mut doc = Map::new();
        doc.insert("_rev".into(), Value::from("0-1"));
        let second = StoredLocalDoc::next(Some(&first), doc.clone()).unwrap();
        assert_eq!(second.rev(), "0-2");
        assert_eq!(StoredLocalDoc::next(Some(&second), doc).unwrap_err().status, 409);
        assert_eq!(second.to_object("x")["_id"], "_local/x");
    }

    #[test]
    fn errors_have_couch_bodies_and_bounded_reasons() {
        let e = CouchError::bad_request("é".repeat(1000));
        assert!(e.reason.len() <= MAX_COUCH_REASON_BYTES);
        let body: ErrorBody = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(body.error, "bad_request");
        assert_eq!(CouchError::from_response(401, b"garbage").status, 401);
        let item: BulkGetItem = serde_json::from_str(r#"{"ok":{"_id":"a"}}"#).unwrap();
        assert!(matches!(item, BulkGetItem::Ok(_)));
    }
}
