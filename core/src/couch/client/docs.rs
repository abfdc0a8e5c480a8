//! CouchDB documents <-> replication [`Revision`]s, on the client side.
//!
//! Attachments map to blobs by name: a top-level `_attachments[name]`
//! becomes the body field `name` holding the blob object (as
//! `blob/reference.rs` describes), and a top-level blob field goes out as
//! `_attachments[name]`. Attachment bytes travel inline in base64 both ways
//! (`attachments=true` on pull, `data` on push). Blobs nested deeper in a
//! body stay in the body as blob objects and are not sent as attachments.

use base64::Engine;
use serde_json::{Map, Value};

use crate::blob::{BlobDigest, BlobRef};
use crate::body::canonical_object;
use crate::couch::wire::{doc_object, Attachment, CouchDoc, Revisions};
use crate::error::{Error, InvalidInput, ReplicationError, Result};
use crate::replication::Revision;
use crate::tuning::{MAX_BLOB_BYTES, MAX_BLOB_CONTENT_TYPE_BYTES};

/// A pulled revision and the attachment bytes it names.
pub(crate) struct PulledRevision {
    /// The revision, attachments as blob objects in its body.
    pub revision: Revision,
    /// The attachments' bytes with their references.
    pub blobs: Vec<(BlobRef, Vec<u8>)>,
}

/// A document object from a server as a revision, keeping at most
/// `max_history` ids of its history.
///
/// # Errors
/// [`ReplicationError::PeerMisbehaved`] when the server lies: `_revisions`
/// that do not start at `_rev` or are not a chain, attachments without
/// their bytes or with bytes that do not match their length, a body we
/// cannot store.
pub(crate) fn from_couch(object: Map<String, Value>, max_history: usize) -> Result<PulledRevision> {
    let doc = CouchDoc::from_object(object, true).map_err(|e| lie(&format!("a bad document: {}", e.reason)))?;
    let history = doc
        .history(max_history.max(2))
        .map_err(|e| lie(&format!("document {:?}: {}", doc.id, e.reason)))?;
    let mut body = doc.body;
    let mut blobs = Vec::new();
    for (name, attachment) in doc.attachments.unwrap_or_default() {
        let (blob, bytes) = attachment_bytes(&doc.id, &name, &attachment)?;
        if body.contains_key(&name) {
            return Err(lie(&format!(
                "document {:?} has both a field and an attachment named {name:?}",
                doc.id
            )));
        }
        body.insert(name, blob.to_json());
        blobs.push((blob, bytes));
    }
    let body = canonical_object(&body).map_err(|e| lie(&format!("document {:?}: {e}", doc.id)))?;
    Ok(PulledRevision {
        revision: Revision {
            id: doc.id,
            history,
            deleted: doc.deleted,
            body,
            foreign: true,
            delta: None,
        },
        blobs,
    })
}

/// The bytes of an inline attachment, checked against its stated length.
fn attachment_bytes(id: &str, name: &str, attachment: &Attachment) -> Result<(BlobRef, Vec<u8>)> {
    let data = attachment
        .data
        .as_deref()
        .ok_or_else(|| lie(&format!("attachment {name:?} of {id:?} came without its bytes")))?;
    if data.len() as u64 > MAX_BLOB_BYTES / 3 * 4 + 4 {
        return Err(lie(&format!("attachment {name:?} of {id:?} is too large")));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| lie(&format!("attachment {name:?} of {id:?} is not base64: {e}")))?;
    if attachment.length.is_some_and(|n| n != bytes.len() as u64) {
        return Err(lie(&format!(
            "attachment {name:?} of {id:?} has {} bytes, not the {:?} it states",
            bytes.len(),
            attachment.length
        )));
    }
    let content_type = attachment
        .content_type
        .clone()
        .filter(|c| !c.is_empty() && c.len() <= MAX_BLOB_CONTENT_TYPE_BYTES);
    let blob = BlobRef {
        digest: BlobDigest::of_bytes(&bytes),
        length: bytes.len() as u64,
        content_type,
    };
    Ok((blob, bytes))
}

/// A revision as a document for `_bulk_docs` with `new_edits:false`:
/// `_revisions` from its history, top-level blobs as inline attachments
/// (their bytes from `bytes_of`).
///
/// # Errors
/// The document's own error: a body that is not an object, a history that
/// is not a chain, or a blob whose bytes are not at hand.
pub(crate) fn to_couch(revision: &Revision, bytes_of: impl Fn(&BlobRef) -> Option<Vec<u8>>) -> Result<Value> {
    let rev = revision
        .rev()
        .ok_or_else(|| InvalidInput::BadHistory("the history is empty".into()))?;
    let mut body: Map<String, Value> = match serde_json::from_str(&revision.body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(InvalidInput::BodyNotObject.into()),
        Err(e) => return Err(InvalidInput::InvalidJson(e.to_string()).into()),
    };
    let revisions =
        Revisions::from_history(&revision.history).map_err(|e| Error::from(InvalidInput::BadHistory(e.reason)))?;
    let mut attachments = Map::new();
    let names: Vec<String> = body.keys().cloned().collect();
    for name in names {
        let Some(Value::Object(object)) = body.get(&name) else {
            continue;
        };
        let Some(blob) = BlobRef::from_object(object)? else {
            continue;
        };
        let bytes = bytes_of(&blob).ok_or_else(|| crate::error::BlobError::Missing {
            digest: blob.digest.to_string(),
        })?;
        let mut attachment = Map::new();
        attachment.insert(
            "content_type".into(),
            Value::from(blob.content_type.as_deref().unwrap_or("application/octet-stream")),
        );
        attachment.insert(
            "data".into(),
            Value::from(base64::engine::general_purpose::STANDARD.encode(&bytes)),
        );
        attachments.insert(name.clone(), Value::Object(attachment));
        body.remove(&name);
    }
    let mut extra = vec![("_revisions", serde_json::to_value(&revisions).unwrap_or(Value::Null))];
    if !attachments.is_empty() {
        extra.push(("_attachments", Value::Object(attachments)));
    }
    Ok(Value::Object(doc_object(
        &revision.id,
        rev,
        revision.deleted,
        &body,
        extra,
    )))
}

fn lie(what: &str) -> Error {
    ReplicationError::PeerMisbehaved(what.to_owned()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_become_blob_fields_and_back() {
        let object: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "_id": "child-1", "_rev": "2-bb", "_revisions": {"start": 2, "ids": ["bb", "aa"]},
            "name": "Amina",
            "_attachments": {"photo": {"content_type": "image/jpeg", "data": "AAEC", "length": 3}}
        }))
        .unwrap();
        let pulled = from_couch(object, 100).unwrap();
        assert_eq!(pulled.revision.history.len(), 2);
        assert_eq!(pulled.blobs[0].1, vec![0, 1, 2]);
        let bytes = pulled.blobs[0].1.clone();
        let back = to_couch(&pulled.revision, |_| Some(bytes.clone())).unwrap();
        assert_eq!(back["_attachments"]["photo"]["data"], "AAEC");
        assert_eq!(back["_revisions"]["ids"][1], "aa");
        assert!(back.get("photo").is_none());
    }

    #[test]
    fn lies_are_refused() {
        for bad in [
            serde_json::json!({"_id": "a", "_rev": "3-cc", "_revisions": {"start": 2, "ids": ["bb", "aa"]}}),
            serde_json::json!({"_id": "a", "_rev": "2-bb", "_revisions": {"start": 2, "ids": ["bb", "aa", "zz"]}}),
            serde_json::json!({"_id": "a", "_rev": "1-aa", "_attachments": {"p": {"stub": true, "length": 3}}}),
            serde_json::json!({"_id": "a", "_rev": "1-aa", "_attachments": {"p": {"data": "AAEC", "length": 9}}}),
        ] {
            let object: Map<String, Value> = serde_json::from_value(bad).unwrap();
            assert!(from_couch(object, 100).is_err());
        }
    }
}
