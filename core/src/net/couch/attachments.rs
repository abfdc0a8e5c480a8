//! CouchDB `_attachments` and Outpost's in-body blob objects
//! (docs/ARCHITECTURE.md, "Blobs"), both ways. No I/O: bytes, digests and
//! stored blobs come through the caller's closures.
//!
//! Going out, a blob at top-level field `F` becomes `_attachments["F"]`
//! and the field leaves the body; a nested blob at JSON pointer `/a/0/b`
//! becomes `_attachments["blob_/a/0/b"]` and stays where it is. Coming in,
//! `_attachments["F"]` becomes the blob object at field `F`, and
//! `blob_/...` entries must match the nested blob the body holds. So a
//! document a CouchDB client stores reads back as it was sent (`revpos`
//! aside: it is the generation of the revision read, not kept).
//!
//! Digests: CouchDB's are `md5-<base64>`; a stub carries the MD5 when the
//! caller knows it (the face computes and caches it), else the blob's
//! `sha256-` digest, which CouchDB clients treat as opaque.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::wire::{Attachment, CouchError};
use crate::blob::reference::blobs_in_body;
use crate::blob::BlobRef;

/// Prefix of the attachment names of nested blobs (Couchbase Lite's).
pub const NESTED_PREFIX: &str = "blob_";

/// `md5-<base64>` of some bytes, as CouchDB writes attachment digests.
pub fn md5_digest(bytes: &[u8]) -> String {
    use md5::Digest;
    let hash = md5::Md5::digest(bytes);
    format!(
        "md5-{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, hash)
    )
}

/// Takes the blobs out of a body as CouchDB `_attachments` stubs, for a
/// revision of generation `revpos`. `md5` gives a blob's `md5-` digest
/// when known.
///
/// # Errors
/// 500 when the body holds a malformed blob object (a damaged row).
pub fn stubs_from_body(
    body: &mut Map<String, Value>,
    revpos: u64,
    md5: &mut dyn FnMut(&BlobRef) -> Option<String>,
) -> Result<BTreeMap<String, Attachment>, CouchError> {
    let named = blobs_in_body(body).map_err(|e| CouchError::new(500, "internal_server_error", e.to_string()))?;
    let mut out = BTreeMap::new();
    for blob in named {
        let name = if blob.name.starts_with('/') {
            format!("{NESTED_PREFIX}{}", blob.name)
        } else {
            body.remove(&blob.name);
            blob.name
        };
        let digest = md5(&blob.blob).unwrap_or_else(|| blob.blob.digest.to_string());
        out.insert(
            name,
            Attachment {
                content_type: blob.blob.content_type.clone(),
                digest: Some(digest),
                length: Some(blob.blob.length),
                revpos: Some(revpos),
                stub: Some(true),
                ..Attachment::default()
            },
        );
    }
    Ok(out)
}

/// Puts incoming `_attachments` into a body as blob objects. `resolve`
/// turns one top-level attachment (inline data, a stub of bytes already
/// held, or bytes that follow in a multipart part) into the stored blob.
///
/// # Errors
/// 400 for an attachment name that cannot be a field (empty, starting
/// with `_`), one that clashes with a field of the body, or a `blob_/`
/// name with no such nested blob; `resolve`'s errors.
pub fn attachments_into_body(
    body: &mut Map<String, Value>,
    attachments: BTreeMap<String, Attachment>,
    resolve: &mut dyn FnMut(&str, &Attachment) -> Result<BlobRef, CouchError>,
) -> Result<(), CouchError> {
    let nested: Vec<String> = blobs_in_body(body)
        .map_err(CouchError::from)?
        .into_iter()
        .map(|b| b.name)
        .filter(|n| n.starts_with('/'))
        .collect();
    for (name, attachment) in attachments {
        if let Some(pointer) = name.strip_prefix(NESTED_PREFIX).filter(|p| p.starts_with('/')) {
            if !nested.iter().any(|n| n == pointer) {
                return Err(CouchError::bad_request(format!(
                    "the attachment {} names no blob of the body",
                    short(&name)
                )));
            }
            continue;
        }
        if name.is_empty() || name.starts_with('_') {
            return Err(CouchError::bad_request(format!(
                "the attachment name {:?} is not allowed (empty or starting with _)",
                short(&name)
            )));
        }
        let blob = resolve(&name, &attachment)?;
        let object = blob.to_json();
        if body.get(&name).is_some_and(|existing| existing != &object) {
            return Err(CouchError::bad_request(format!(
                "the attachment {} has the name of a field of the document",
                short(&name)
            )));
        }
        body.insert(name, object);
    }
    Ok(())
}

fn short(text: &str) -> String {
    text.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::BlobDigest;

    fn blob(bytes: &[u8]) -> BlobRef {
        BlobRef {
            digest: BlobDigest::of_bytes(bytes),
            length: bytes.len() as u64,
            content_type: Some("image/jpeg".into()),
        }
    }

    #[test]
    fn top_level_blobs_become_attachments_and_come_back() {
        let photo = blob(b"jpeg");
        let original: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "name": "Amina", "photo.jpg": photo.to_json(), "more": [{"scan": blob(b"pdf").to_json()}]
        }))
        .unwrap();
        let mut body = original.clone();
        let stubs = stubs_from_body(&mut body, 3, &mut |b| (b == &photo).then(|| md5_digest(b"jpeg"))).unwrap();
        assert!(!body.contains_key("photo.jpg"));
        assert!(body.contains_key("more"));
        assert_eq!(stubs["photo.jpg"].digest.as_deref(), Some(md5_digest(b"jpeg").as_str()));
        assert_eq!(stubs["photo.jpg"].revpos, Some(3));
        assert!(stubs.contains_key("blob_/more/0/scan"));
        attachments_into_body(&mut body, stubs, &mut |_, _| Ok(photo.clone())).unwrap();
        assert_eq!(body, original);
    }

    #[test]
    fn refuses_reserved_clashing_and_dangling_names() {
        let photo = blob(b"x");
        let one = |name: &str| BTreeMap::from([(name.to_owned(), Attachment::default())]);
        let mut body: Map<String, Value> = serde_json::from_str(r#"{"photo":1}"#).unwrap();
        let mut ok = |_: &str, _: &Attachment| Ok(photo.clone());
        for name in ["_x", "", "photo", "blob_/nothing"] {
            let e = attachments_into_body(&mut body, one(name), &mut ok).unwrap_err();
            assert_eq!(e.status, 400, "{name}");
        }
        assert_eq!(md5_digest(b""), "md5-1B2M2Y8AsgTpgAmY7PhCfg==");
    }
}
