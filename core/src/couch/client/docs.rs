//! CouchDB documents <-> replication [`Revision`]s, on the client side,
//! over [`crate::couch::attachments`] (the mapping of attachments to blob
//! fields the face uses too).
//!
//! Pulled, an attachment comes inline (its bytes kept with the revision)
//! or as a stub the caller matched with a blob it holds or fetched
//! (`known`). Pushed, a blob goes inline unless the caller knows the
//! target holds it (`held`): then it goes as the target's own stub, and
//! its bytes stay home.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use serde_json::{Map, Value};

use crate::blob::{BlobDigest, BlobRef};
use crate::body::canonical_object;
use crate::couch::attachments::{attachments_into_body, md5_digest, stubs_from_body};
use crate::couch::wire::{doc_object, Attachment, CouchDoc, Revisions};
use crate::error::{Error, InvalidInput, ReplicationError, Result};
use crate::replication::Revision;
use crate::tuning::{MAX_BLOB_BYTES, MAX_BLOB_CONTENT_TYPE_BYTES};

/// A pulled revision and the attachment bytes it names.
pub(crate) struct PulledRevision {
    /// The revision, attachments as blob objects in its body.
    pub revision: Revision,
    /// The bytes of its inline attachments with their references.
    pub blobs: Vec<(BlobRef, Vec<u8>)>,
}

/// A document object from a server as a revision, keeping at most
/// `max_history` ids of its history. `known` gives the blobs of its stub
/// attachments, by name.
///
/// # Errors
/// [`ReplicationError::PeerMisbehaved`] when the server lies: `_revisions`
/// that do not start at `_rev` or are not a chain, a stub not in `known`,
/// bytes that do not match their length, a body we cannot store.
pub(crate) fn from_couch(
    object: Map<String, Value>,
    max_history: usize,
    known: &HashMap<String, BlobRef>,
) -> Result<PulledRevision> {
    let doc = CouchDoc::from_object(object, true).map_err(|e| lie(&format!("a bad document: {}", e.reason)))?;
    let history = doc
        .history(max_history.max(2))
        .map_err(|e| lie(&format!("document {:?}: {}", doc.id, e.reason)))?;
    let id = doc.id;
    let mut body = doc.body;
    let mut blobs = Vec::new();
    let mut failure = None;
    let attachments = doc.attachments.unwrap_or_default();
    attachments_into_body(&mut body, attachments, &mut |name, attachment| {
        let found = match (&attachment.data, known.get(name)) {
            (Some(_), _) => attachment_bytes(&id, name, attachment).map(|(blob, bytes)| {
                blobs.push((blob.clone(), bytes));
                blob
            }),
            (None, Some(blob)) => Ok(blob.clone()),
            (None, None) => Err(lie(&format!("attachment {name:?} of {id:?} came without its bytes"))),
        };
        found.map_err(|e| {
            let reason = e.to_string();
            failure = Some(e);
            crate::couch::wire::CouchError::bad_request(reason)
        })
    })
    .map_err(|e| {
        failure
            .take()
            .unwrap_or_else(|| lie(&format!("document {id:?}: {}", e.reason)))
    })?;
    let body = canonical_object(&body).map_err(|e| lie(&format!("document {id:?}: {e}")))?;
    Ok(PulledRevision {
        revision: Revision {
            id,
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
    let data = attachment.data.as_deref().unwrap_or_default();
    if data.len() as u64 > MAX_BLOB_BYTES / 3 * 4 + 4 {
        return Err(lie(&format!("attachment {name:?} of {id:?} is too large")));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| lie(&format!("attachment {name:?} of {id:?} is not base64: {e}")))?;
    let blob = fetched_blob(id, name, attachment, &bytes)?;
    Ok((blob, bytes))
}

/// The blob of an attachment's bytes (inline, or fetched on their own),
/// checked against the length the attachment states. Not against its
/// digest: CouchDB's is the MD5 of the bytes as it stores them, gzipped
/// for text types, so it need not be the MD5 of the bytes it sends.
///
/// # Errors
/// [`ReplicationError::PeerMisbehaved`] if the length does not match.
pub(crate) fn fetched_blob(id: &str, name: &str, attachment: &Attachment, bytes: &[u8]) -> Result<BlobRef> {
    if attachment.length.is_some_and(|n| n != bytes.len() as u64) {
        return Err(lie(&format!(
            "attachment {name:?} of {id:?} has {} bytes, not the {:?} it states",
            bytes.len(),
            attachment.length
        )));
    }
    Ok(BlobRef {
        digest: BlobDigest::of_bytes(bytes),
        length: bytes.len() as u64,
        content_type: content_type_of(attachment),
    })
}

/// An attachment's content type as a blob keeps it (none if empty or
/// too long).
pub(crate) fn content_type_of(attachment: &Attachment) -> Option<String> {
    attachment
        .content_type
        .clone()
        .filter(|c| !c.is_empty() && c.len() <= MAX_BLOB_CONTENT_TYPE_BYTES)
}

/// A revision as a document for `_bulk_docs` with `new_edits:false`:
/// `_revisions` from its history, blobs as attachments. A blob whose
/// attachment name `held` maps to the target's stub of the same bytes
/// (same length and `md5-` digest) goes as that stub; every other one
/// inline, its bytes from `bytes_of`. Returns the document and whether
/// it carries a stub.
///
/// # Errors
/// The document's own error: a body that is not an object, a history that
/// is not a chain, or a blob whose bytes are not at hand.
pub(crate) fn to_couch(
    revision: &Revision,
    bytes_of: impl Fn(&BlobRef) -> Option<Vec<u8>>,
    held: &BTreeMap<String, Attachment>,
) -> Result<(Value, bool)> {
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
    // Each stub's digest (the MD5 when the bytes are at hand) to its blob.
    let mut blobs: HashMap<String, BlobRef> = HashMap::new();
    let mut md5 = |blob: &BlobRef| {
        let md5 = bytes_of(blob).map(|bytes| md5_digest(&bytes));
        let digest = md5.clone().unwrap_or_else(|| blob.digest.to_string());
        blobs.insert(digest, blob.clone());
        md5
    };
    let stubs = stubs_from_body(&mut body, rev.generation(), &mut md5).map_err(|e| InvalidInput::BadBlob(e.reason))?;
    let mut attachments = Map::new();
    let mut stubbed = false;
    for (name, stub) in stubs {
        let blob = stub
            .digest
            .as_ref()
            .and_then(|d| blobs.get(d))
            .ok_or_else(|| InvalidInput::BadBlob(format!("the attachment {name:?} lost its blob")))?;
        let same = held
            .get(&name)
            .filter(|h| h.length == stub.length && h.digest.is_some() && h.digest == stub.digest);
        let attachment = match same {
            Some(theirs) => {
                stubbed = true;
                Attachment {
                    content_type: stub.content_type,
                    digest: theirs.digest.clone(),
                    length: theirs.length,
                    revpos: theirs.revpos,
                    stub: Some(true),
                    ..Attachment::default()
                }
            }
            None => {
                let bytes = bytes_of(blob).ok_or_else(|| crate::error::BlobError::Missing {
                    digest: blob.digest.to_string(),
                })?;
                Attachment {
                    content_type: Some(
                        stub.content_type
                            .unwrap_or_else(|| "application/octet-stream".to_owned()),
                    ),
                    data: Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
                    ..Attachment::default()
                }
            }
        };
        attachments.insert(name, serde_json::to_value(attachment).unwrap_or(Value::Null));
    }
    let mut extra = vec![("_revisions", serde_json::to_value(&revisions).unwrap_or(Value::Null))];
    if !attachments.is_empty() {
        extra.push(("_attachments", Value::Object(attachments)));
    }
    let doc = doc_object(&revision.id, rev, revision.deleted, &body, extra);
    Ok((Value::Object(doc), stubbed))
}

fn lie(what: &str) -> Error {
    ReplicationError::PeerMisbehaved(what.to_owned()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pulled(value: Value, known: &HashMap<String, BlobRef>) -> Result<PulledRevision> {
        let object: Map<String, Value> = serde_json::from_value(value).unwrap();
        from_couch(object, 100, known)
    }

    #[test]
    fn attachments_become_blob_fields_and_back() {
        let pulled = pulled(
            serde_json::json!({
                "_id": "child-1", "_rev": "2-bb", "_revisions": {"start": 2, "ids": ["bb", "aa"]},
                "name": "Amina",
                "_attachments": {"photo": {"content_type": "image/jpeg", "data": "AAEC", "length": 3}}
            }),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(pulled.revision.history.len(), 2);
        assert_eq!(pulled.blobs[0].1, vec![0, 1, 2]);
        let bytes = pulled.blobs[0].1.clone();
        let (back, stubbed) = to_couch(&pulled.revision, |_| Some(bytes.clone()), &BTreeMap::new()).unwrap();
        assert!(!stubbed);
        assert_eq!(back["_attachments"]["photo"]["data"], "AAEC");
        assert_eq!(back["_revisions"]["ids"][1], "aa");
        assert!(back.get("photo").is_none());
    }

    #[test]
    fn bytes_the_target_holds_go_as_its_stub_and_known_stubs_come_back_as_blobs() {
        let photo = vec![7u8; 1000];
        let blob = BlobRef {
            digest: BlobDigest::of_bytes(&photo),
            length: 1000,
            content_type: Some("image/jpeg".into()),
        };
        let body = serde_json::json!({"name": "Amina", "photo": blob.to_json(), "scan": blob.to_json()});
        let revision = Revision {
            id: "child-1".into(),
            history: vec!["3-cc".parse().unwrap(), "2-bb".parse().unwrap()],
            deleted: false,
            body: canonical_object(body.as_object().unwrap()).unwrap(),
            foreign: false,
            delta: None,
        };
        let theirs = Attachment {
            digest: Some(md5_digest(&photo)),
            length: Some(1000),
            revpos: Some(2),
            stub: Some(true),
            ..Attachment::default()
        };
        // The target holds the photo (same bytes), not the scan; a stub of
        // other bytes under the scan's name does not count.
        let held = BTreeMap::from([
            ("photo".to_owned(), theirs.clone()),
            (
                "scan".to_owned(),
                Attachment {
                    digest: Some(md5_digest(b"other")),
                    ..theirs.clone()
                },
            ),
        ]);
        let (doc, stubbed) = to_couch(&revision, |_| Some(photo.clone()), &held).unwrap();
        assert!(stubbed);
        let sent = &doc["_attachments"];
        assert_eq!(sent["photo"]["stub"], true);
        assert_eq!(sent["photo"]["revpos"], 2);
        assert_eq!(sent["photo"]["digest"], md5_digest(&photo).as_str());
        assert!(sent["photo"].get("data").is_none());
        assert!(sent["scan"]["data"].is_string());

        let known = HashMap::from([("photo".to_owned(), blob.clone())]);
        let mut object = doc.as_object().unwrap().clone();
        object["_attachments"]["scan"] =
            serde_json::json!({"stub": true, "digest": md5_digest(&photo), "length": 1000});
        assert!(from_couch(object.clone(), 100, &known).is_err(), "a stub nobody knows");
        object["_attachments"]["scan"] = sent["scan"].clone();
        let back = from_couch(object, 100, &known).unwrap();
        assert_eq!(back.revision.body, revision.body);
        assert_eq!(back.blobs.len(), 1, "only the inline bytes are kept");
    }

    #[test]
    fn lies_are_refused() {
        for bad in [
            serde_json::json!({"_id": "a", "_rev": "3-cc", "_revisions": {"start": 2, "ids": ["bb", "aa"]}}),
            serde_json::json!({"_id": "a", "_rev": "2-bb", "_revisions": {"start": 2, "ids": ["bb", "aa", "zz"]}}),
            serde_json::json!({"_id": "a", "_rev": "1-aa", "_attachments": {"p": {"stub": true, "length": 3}}}),
            serde_json::json!({"_id": "a", "_rev": "1-aa", "_attachments": {"p": {"data": "AAEC", "length": 9}}}),
            serde_json::json!({"_id": "a", "_rev": "1-aa", "p": 1, "_attachments": {"p": {"data": "AAEC"}}}),
        ] {
            assert!(pulled(bad, &HashMap::new()).is_err());
        }
    }
}
