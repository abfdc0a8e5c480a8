//! Requests and reply payloads as they appear on the wire, and their
//! conversions to and from the replication engine's types.
//!
//! Document bodies travel as raw JSON (`RawValue`), so a body is neither
//! parsed nor re-serialised on the way through; the receiving store
//! validates it like any other input.

use std::fmt::Write;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::blob::BlobRef;
use crate::error::{InvalidInput, Result};
use crate::replication::{Delta, InsertOutcome, MissingRevs, Revision};
use crate::revision::RevId;
use crate::store::{Change, ChangesBatch};
use crate::tuning::MAX_DELTA_BASES;

use super::codes::{error_from_wire, error_to_wire, WireError};
use super::handshake::Hello;

/// A request: one operation of the replication [`crate::replication::Endpoint`]
/// (or the opening `hello`). Externally tagged: `{"changes": {...}}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The first frame of a connection (client to listener).
    Hello(Hello),
    /// Changes of a collection after `since`; replies [`WireChanges`].
    Changes {
        /// Collection name.
        collection: String,
        /// Sequence to read after.
        since: u64,
        /// Most changes wanted.
        limit: usize,
    },
    /// How many documents changed after `since`; replies a number.
    CountChanges {
        /// Collection name.
        collection: String,
        /// Sequence to count after.
        since: u64,
    },
    /// Long poll: replies `{}` once the database has a change after `since`.
    WaitChanges {
        /// Sequence to wait beyond.
        since: u64,
    },
    /// Which of these revisions are missing; replies `[WireMissing]`.
    RevsDiff {
        /// Collection name.
        collection: String,
        /// Documents and revisions to check.
        revs: Vec<WireDocRevs>,
    },
    /// Revisions with bodies and histories; replies [`WireFetched`].
    Fetch {
        /// Collection name.
        collection: String,
        /// `[id, rev]` pairs, in order.
        wanted: Vec<(String, String)>,
        /// Most history entries per revision.
        max_history: usize,
        /// Stop once this many body bytes are gathered.
        max_bytes: usize,
        /// Per entry of `wanted` (possibly fewer), revisions of that
        /// document the asker holds bodies of: the listener may answer with
        /// a delta from one of them (feature `delta_sync`). At most
        /// [`MAX_DELTA_BASES`] each.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        bases: Vec<Vec<String>>,
    },
    /// Store revisions as given; replies `[WireInsertResult]`.
    Insert {
        /// Collection name.
        collection: String,
        /// Revisions with history.
        revisions: Vec<WireRevision>,
    },
    /// A checkpoint, or `null`.
    GetCheckpoint {
        /// Collection name.
        collection: String,
        /// Checkpoint id (starts with `checkpoint-`).
        id: String,
    },
    /// Save a checkpoint; replies `{}`.
    PutCheckpoint {
        /// Collection name.
        collection: String,
        /// Checkpoint id (starts with `checkpoint-`).
        id: String,
        /// A JSON object.
        body: Box<RawValue>,
    },
    /// Which of these blobs the listener lacks (feature `blobs`); replies
    /// the missing ones, in the order given. Only a peer that may write
    /// asks this.
    MissingBlobs {
        /// Blob objects, as in a body (`{"@type":"blob","digest":...}`).
        blobs: Vec<WireBlob>,
    },
    /// At most `max_len` bytes of a blob from `offset` (feature `blobs`);
    /// replies [`WireBlobChunk`]. Served only for a blob named by a
    /// revision this peer may read.
    ReadBlob {
        /// `sha256-...` (base64, as in a blob object).
        digest: String,
        /// First byte wanted.
        offset: u64,
        /// Most bytes wanted (clamped to the chunk limit).
        max_len: usize,
        /// Reply with a binary frame: [`WireBinaryChunk`] and the bytes
        /// after it (feature `blob_binary`), instead of base64.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        binary: bool,
    },
    /// Where receiving a blob resumes (feature `blobs`); replies a number.
    BlobReceiveOffset {
        /// The blob object.
        blob: WireBlob,
    },
    /// A chunk of a blob at `offset` (feature `blobs`); replies the bytes
    /// now held (a number).
    AppendBlob {
        /// The blob object.
        blob: WireBlob,
        /// Where the chunk starts: where the bytes held end.
        offset: u64,
        /// The bytes, base64 (standard alphabet, padded); absent when they
        /// follow in a binary frame (feature `blob_binary`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<String>,
    },
}

impl Request {
    /// Whether this request may wait a long time for its answer (and so is
    /// not counted against the concurrent-request limit).
    pub fn is_long_poll(&self) -> bool {
        matches!(self, Request::WaitChanges { .. })
    }

    /// Whether this request may arrive with a binary payload (an
    /// `append_blob` without `data`); any other request with one is refused.
    pub fn takes_payload(&self) -> bool {
        matches!(self, Request::AppendBlob { data: None, .. })
    }

    /// Whether the reply to this request comes as a binary frame.
    pub fn wants_binary_reply(&self) -> bool {
        matches!(self, Request::ReadBlob { binary: true, .. })
    }

    /// The operation's name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Hello(_) => "hello",
            Request::Changes { .. } => "changes",
            Request::CountChanges { .. } => "count_changes",
            Request::WaitChanges { .. } => "wait_changes",
            Request::RevsDiff { .. } => "revs_diff",
            Request::Fetch { .. } => "fetch",
            Request::Insert { .. } => "insert",
            Request::GetCheckpoint { .. } => "get_checkpoint",
            Request::PutCheckpoint { .. } => "put_checkpoint",
            Request::MissingBlobs { .. } => "missing_blobs",
            Request::ReadBlob { .. } => "read_blob",
            Request::BlobReceiveOffset { .. } => "blob_receive_offset",
            Request::AppendBlob { .. } => "append_blob",
        }
    }
}

/// A blob reference on the wire: the blob object of a body, checked by
/// [`BlobRef::from_object`] when it arrives.
pub type WireBlob = serde_json::Map<String, serde_json::Value>;

/// Reads a blob object from the wire.
///
/// # Errors
/// [`InvalidInput::BadBlob`] for anything but a well-formed blob object.
pub fn blob_from_wire(blob: &WireBlob) -> Result<BlobRef> {
    BlobRef::from_object(blob)?
        .ok_or_else(|| InvalidInput::BadBlob("not a blob object (no \"@type\":\"blob\")".into()).into())
}

/// A blob object for the wire.
pub fn blob_to_wire(blob: &BlobRef) -> WireBlob {
    match blob.to_json() {
        serde_json::Value::Object(map) => map,
        _ => WireBlob::new(),
    }
}

/// Reply to `read_blob`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireBlobChunk {
    /// The bytes, base64 (standard alphabet, padded); empty at the end.
    pub data: String,
}

/// Reply to `read_blob` with `binary`: the JSON part of a binary frame
/// whose payload is the chunk.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireBinaryChunk {
    /// The payload's length in bytes; 0 at the end.
    pub length: usize,
}

/// Base64 of a chunk, as `read_blob` replies and `append_blob` sends it.
pub fn encode_chunk(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a chunk of at most `max` bytes, refusing longer text before
/// decoding it.
///
/// # Errors
/// [`InvalidInput::BadBlob`] for text that is not base64 or decodes to
/// more than `max` bytes.
pub fn decode_chunk(text: &str, max: usize) -> Result<Vec<u8>> {
    use base64::Engine;
    if text.len() > encoded_len(max) {
        return Err(InvalidInput::BadBlob(format!(
            "a blob chunk of {} base64 characters is past the limit of {max} bytes",
            text.len()
        ))
        .into());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| InvalidInput::BadBlob(format!("a blob chunk is not base64: {e}")))?;
    if bytes.len() > max {
        return Err(InvalidInput::BadBlob(format!("a blob chunk is past the limit of {max} bytes")).into());
    }
    Ok(bytes)
}

/// Length of the padded base64 text of `bytes` bytes.
pub const fn encoded_len(bytes: usize) -> usize {
    bytes.div_ceil(3) * 4
}

/// One entry of the changes feed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireChange {
    /// Sequence.
    pub seq: u64,
    /// Document id.
    pub id: String,
    /// Winning revision.
    pub rev: String,
    /// Whether the winner is a deletion.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Every leaf, the winner first.
    pub leaves: Vec<String>,
}

/// Reply to `changes`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireChanges {
    /// The changes, by sequence.
    pub changes: Vec<WireChange>,
    /// Sequence to ask after next time.
    pub last_seq: u64,
}

/// One document's revisions in a `revs_diff` request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireDocRevs {
    /// Document id.
    pub id: String,
    /// Revision ids.
    pub revs: Vec<String>,
    /// In a `revs_diff` reply (feature `delta_sync`): revisions of the
    /// document the answerer holds bodies of, newest first, at most
    /// [`MAX_DELTA_BASES`] (more are ignored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<String>,
}

/// One document's missing revisions in a `revs_diff` reply.
pub type WireMissing = WireDocRevs;

/// A revision with its history.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRevision {
    /// Document id.
    pub id: String,
    /// The revision, then its ancestors.
    pub history: Vec<String>,
    /// Whether it is a deletion.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// The body (a JSON object), inline; with `delta_from`, the delta
    /// from that revision's body instead.
    pub body: Box<RawValue>,
    /// The body is a delta from this revision's body (feature
    /// `delta_sync`; docs/PROTOCOL.md, "Delta sync").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_from: Option<String>,
    /// The id is foreign and cannot be checked (feature
    /// `foreign_revisions` only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub foreign: bool,
}

/// Reply to `fetch`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireFetched {
    /// Revisions found.
    pub revisions: Vec<WireRevision>,
    /// Request entries dealt with.
    pub consumed: usize,
}

impl WireFetched {
    /// The JSON text of a `fetch` reply, written directly: bodies from the
    /// local store are canonical JSON already, so they are copied in as they
    /// are instead of being parsed again.
    pub fn encode(revisions: &[Revision], consumed: usize) -> String {
        let size: usize = revisions
            .iter()
            .map(|r| r.body.len() + r.id.len() + 48 * r.history.len() + 64)
            .sum();
        let mut out = String::with_capacity(size + 40);
        out.push_str("{\"revisions\":[");
        for (i, r) in revisions.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"id\":");
            push_json_string(&mut out, &r.id);
            out.push_str(",\"history\":[");
            for (j, rev) in r.history.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                // Revision ids are digits, '-' and hex: nothing to escape.
                // Writing to a String cannot fail.
                let _ = write!(out, "\"{rev}\"");
            }
            out.push(']');
            if r.deleted {
                out.push_str(",\"deleted\":true");
            }
            if r.foreign {
                out.push_str(",\"foreign\":true");
            }
            let body = match &r.delta {
                Some(delta) => {
                    let _ = write!(out, ",\"delta_from\":\"{}\"", delta.base);
                    &delta.patch
                }
                None => &r.body,
            };
            out.push_str(",\"body\":");
            out.push_str(body);
            out.push('}');
        }
        let _ = write!(out, "],\"consumed\":{consumed}}}");
        out
    }
}

fn push_json_string(out: &mut String, text: &str) {
    // Serialising a string cannot fail.
    out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into()));
}

/// One entry of an `insert` reply.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireInsertResult {
    /// Document id.
    pub id: String,
    /// Whether the revision was new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<bool>,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<WireError>,
}

/// Reply to `insert`.
pub type WireInserted = Vec<WireInsertResult>;

fn parse_revs(revs: &[String]) -> Result<Vec<RevId>> {
    revs.iter().map(|r| Ok(r.parse::<RevId>()?)).collect()
}

fn rev_strings(revs: &[RevId]) -> Vec<String> {
    revs.iter().map(ToString::to_string).collect()
}

impl From<&Change> for WireChange {
    fn from(c: &Change) -> Self {
        WireChange {
            seq: c.sequence,
            id: c.id.clone(),
            rev: c.rev.to_string(),
            deleted: c.deleted,
            leaves: rev_strings(&c.leaves),
        }
    }
}

impl From<&ChangesBatch> for WireChanges {
    fn from(b: &ChangesBatch) -> Self {
        WireChanges {
            changes: b.changes.iter().map(WireChange::from).collect(),
            last_seq: b.last_sequence,
        }
    }
}

impl WireChanges {
    /// Validates and converts to the engine's type.
    ///
    /// # Errors
    /// [`InvalidInput::BadRevId`] for a malformed revision id.
    pub fn into_batch(self) -> Result<ChangesBatch> {
        let changes = self
            .changes
            .into_iter()
            .map(|c| {
                Ok(Change {
                    sequence: c.seq,
                    rev: c.rev.parse::<RevId>()?,
                    leaves: parse_revs(&c.leaves)?,
                    id: c.id,
                    deleted: c.deleted,
                })
            })
            .collect::<Result<_>>()?;
        Ok(ChangesBatch {
            changes,
            last_sequence: self.last_seq,
        })
    }
}

impl WireDocRevs {
    /// From an id and revisions.
    pub fn new(id: String, revs: &[RevId]) -> Self {
        WireDocRevs {
            id,
            revs: rev_strings(revs),
            ancestors: Vec::new(),
        }
    }

    /// A `revs_diff` reply entry naming the delta bases too.
    pub fn with_ancestors(missing: MissingRevs) -> Self {
        WireDocRevs {
            ancestors: rev_strings(&missing.ancestors),
            ..WireDocRevs::new(missing.id, &missing.missing)
        }
    }

    /// Validates and converts to `(id, revs)`.
    ///
    /// # Errors
    /// [`InvalidInput::BadRevId`] for a malformed revision id.
    pub fn parse(self) -> Result<(String, Vec<RevId>)> {
        Ok((self.id, parse_revs(&self.revs)?))
    }

    /// Validates and converts to [`MissingRevs`].
    ///
    /// # Errors
    /// [`InvalidInput::BadRevId`] for a malformed revision id.
    pub fn into_missing(mut self) -> Result<MissingRevs> {
        self.ancestors.truncate(MAX_DELTA_BASES);
        let ancestors = parse_revs(&self.ancestors)?;
        let (id, missing) = self.parse()?;
        Ok(MissingRevs { id, missing, ancestors })
    }
}

impl WireRevision {
    /// From the engine's type. The body is canonical JSON already.
    ///
    /// # Errors
    /// [`InvalidInput::InvalidJson`] if the body is not JSON.
    pub fn from_revision(r: Revision) -> Result<Self> {
        Ok(WireRevision {
            history: rev_strings(&r.history),
            body: RawValue::from_string(r.body).map_err(|e| InvalidInput::InvalidJson(e.to_string()))?,
            id: r.id,
            deleted: r.deleted,
            foreign: r.foreign,
            delta_from: None,
        })
    }

    /// [`WireRevision::from_revision`], sending the revision's delta
    /// instead of its body when it has one (feature `delta_sync`).
    ///
    /// # Errors
    /// [`InvalidInput::InvalidJson`] if the body or delta is not JSON.
    pub fn from_revision_delta(mut r: Revision) -> Result<Self> {
        let Some(delta) = r.delta.take() else {
            return Self::from_revision(r);
        };
        r.body = delta.patch;
        Ok(WireRevision {
            delta_from: Some(delta.base.to_string()),
            ..Self::from_revision(r)?
        })
    }

    /// Validates the history and converts to the engine's type (the body is
    /// validated by the store that inserts it).
    ///
    /// # Errors
    /// [`InvalidInput::BadRevId`] for a malformed revision id.
    pub fn into_revision(self) -> Result<Revision> {
        let (body, delta) = match &self.delta_from {
            // Rebuilt by the receiving store (`Endpoint::apply_deltas`).
            Some(base) => (
                String::new(),
                Some(Delta {
                    base: base.parse::<RevId>()?,
                    patch: self.body.get().to_owned(),
                }),
            ),
            None => (self.body.get().to_owned(), None),
        };
        Ok(Revision {
            history: parse_revs(&self.history)?,
            body,
            id: self.id,
            deleted: self.deleted,
            foreign: self.foreign,
            delta,
        })
    }
}

impl From<InsertOutcome> for WireInsertResult {
    fn from(o: InsertOutcome) -> Self {
        match o.result {
            Ok(stored) => WireInsertResult {
                id: o.id,
                stored: Some(stored),
                err: None,
            },
            Err(e) => WireInsertResult {
                id: o.id,
                stored: None,
                err: Some(error_to_wire(&e)),
            },
        }
    }
}

impl From<WireInsertResult> for InsertOutcome {
    fn from(w: WireInsertResult) -> Self {
        let result = match (w.stored, w.err) {
            (_, Some(err)) => Err(error_from_wire(err)),
            (Some(stored), None) => Ok(stored),
            (None, None) => Ok(false),
        };
        InsertOutcome { id: w.id, result }
    }
}
