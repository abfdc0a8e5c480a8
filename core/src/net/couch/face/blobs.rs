//! The face's side of attachments: their MD5 digests and bytes in
//! documents sent out (CouchDB clients compare attachments by MD5 and
//! PouchDB skips bytes whose digest it has), turning incoming attachments
//! into stored blobs, and attachment bytes for `GET /{db}/{id}/{name}`.

use std::cell::Cell;
use std::io::Read;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::blob::{BlobDigest, BlobRef};
use crate::net::couch::attachments::{attachments_into_body, md5_digest};
use crate::net::couch::known_blobs::earlier_blob_with_md5;
pub(crate) use crate::net::couch::known_blobs::Md5Cache;
use crate::net::couch::wire::{Attachment, CouchDoc, CouchError};
use crate::revision::RevTree;
use crate::store::Collection;
use crate::tuning::MAX_FACE_REPLY_BYTES;

/// Where documents sent out get their attachments' MD5 digests and, with
/// `attachments=true`, their bytes (inline, at most
/// [`MAX_FACE_REPLY_BYTES`] per reply).
pub(crate) struct AttachmentSource {
    collection: Collection,
    cache: Arc<Md5Cache>,
    inline: bool,
    inlined: Cell<usize>,
}

impl AttachmentSource {
    /// For documents of `collection`; bytes inline when `inline`.
    pub(crate) fn new(collection: Collection, cache: Arc<Md5Cache>, inline: bool) -> AttachmentSource {
        AttachmentSource {
            collection,
            cache,
            inline,
            inlined: Cell::new(0),
        }
    }

    /// The `md5-` digest of a blob, if it can be read.
    pub(crate) fn md5(&self, blob: &BlobRef) -> Option<String> {
        self.cache.of(&self.collection, blob)
    }

    /// The blob's bytes when attachments go inline, else `None`.
    ///
    /// # Errors
    /// 413 past [`MAX_FACE_REPLY_BYTES`] in one reply; 500 when the blob
    /// cannot be read.
    pub(crate) fn data(&self, blob: &BlobRef) -> Result<Option<Vec<u8>>, CouchError> {
        if !self.inline {
            return Ok(None);
        }
        let total = self.inlined.get().saturating_add(blob.length as usize);
        if total > MAX_FACE_REPLY_BYTES {
            return Err(CouchError::too_large(format!(
                "the attachments asked for hold more than {MAX_FACE_REPLY_BYTES} bytes; fetch them one by one"
            )));
        }
        self.inlined.set(total);
        let mut bytes = Vec::with_capacity(blob.length as usize);
        self.collection
            .blob(&blob.digest)
            .and_then(|mut r| {
                r.read_to_end(&mut bytes)
                    .map_err(|e| crate::error::BlobError::Io(e.to_string()).into())
            })
            .map_err(|e| CouchError::from_core(&e))?;
        Ok(Some(bytes))
    }
}

/// Moves a document's `_attachments` into its body as blob objects,
/// storing inline and multipart bytes (`follows` gives a part's bytes by
/// attachment name) and finding the blobs stubs name.
///
/// # Errors
/// 400 for bad base64, a digest or length that does not match the bytes,
/// or a `follows` without its part; 412 `missing_stub` for a stub whose
/// bytes are not held here; 413 past the blob size limit.
pub(crate) fn attachments_to_body(
    collection: &Collection,
    cache: &Md5Cache,
    doc: &mut CouchDoc,
    follows: &mut dyn FnMut(&str) -> Option<Vec<u8>>,
) -> Result<(), CouchError> {
    let Some(attachments) = doc.attachments.take() else {
        return Ok(());
    };
    let mut tree: Option<Option<RevTree>> = None;
    let id = doc.id.clone();
    attachments_into_body(&mut doc.body, attachments, &mut |name, att| {
        if att.encoding.as_deref().is_some_and(|e| e != "identity") {
            return Err(CouchError::new(
                415,
                "unsupported_media_type",
                format!("the attachment {name:?} is compressed; send it unencoded"),
            ));
        }
        let bytes = match (&att.data, att.follows == Some(true)) {
            (Some(data), _) => Some(
                STANDARD
                    .decode(data)
                    .map_err(|_| CouchError::bad_request(format!("the attachment {name:?} is not valid base64")))?,
            ),
            (None, true) => Some(
                follows(name).ok_or_else(|| CouchError::bad_request(format!("the attachment {name:?} has no part")))?,
            ),
            (None, false) => None,
        };
        match bytes {
            Some(bytes) => store_bytes(collection, cache, name, att, &bytes),
            None => {
                let tree = match &tree {
                    Some(t) => t,
                    None => tree.insert(collection.revision_tree(&id).map_err(|e| CouchError::from_core(&e))?),
                };
                find_stub(collection, cache, tree.as_ref(), name, att)
            }
        }
    })
}

fn store_bytes(
    collection: &Collection,
    cache: &Md5Cache,
    name: &str,
    att: &Attachment,
    bytes: &[u8],
) -> Result<BlobRef, CouchError> {
    if att.length.is_some_and(|l| l != bytes.len() as u64) {
        return Err(CouchError::bad_request(format!(
            "the attachment {name:?} says it has {} bytes; it has {}",
            att.length.unwrap_or_default(),
            bytes.len()
        )));
    }
    let md5 = md5_digest(bytes);
    if att.digest.as_deref().is_some_and(|d| d.starts_with("md5-") && d != md5) {
        return Err(CouchError::bad_request(format!(
            "the attachment {name:?} does not match its digest"
        )));
    }
    let blob = collection
        .save_blob(bytes, att.content_type.as_deref())
        .map_err(|e| CouchError::from_core(&e))?;
    cache.remember(blob.digest, md5);
    Ok(blob)
}

/// The stored blob a stub names: by our `sha256-` digest, or by an MD5 we
/// know, or by the MD5 of the blob the same attachment had in an earlier
/// revision of the document.
fn find_stub(
    collection: &Collection,
    cache: &Md5Cache,
    tree: Option<&RevTree>,
    name: &str,
    att: &Attachment,
) -> Result<BlobRef, CouchError> {
    let missing = || {
        CouchError::new(
            412,
            "missing_stub",
            format!("the attachment stub {name:?} names bytes not held here"),
        )
    };
    let digest = att.digest.as_deref().ok_or_else(missing)?;
    let found = if digest.starts_with("sha256-") {
        let digest: BlobDigest = digest.parse().map_err(|_| missing())?;
        Some(BlobRef {
            digest,
            length: att.length.ok_or_else(missing)?,
            content_type: att.content_type.clone(),
        })
    } else if let (Some(known), Some(length)) = (cache.blob_with(digest), att.length) {
        Some(BlobRef {
            digest: known,
            length,
            content_type: att.content_type.clone(),
        })
    } else {
        earlier_blob_with_md5(collection, cache, tree, name, digest)
    };
    let blob = found.ok_or_else(missing)?;
    let held = collection
        .database()
        .blob_store()
        .contains(&blob)
        .map_err(|e| CouchError::from_core(&e))?;
    if !held {
        return Err(missing());
    }
    Ok(BlobRef {
        content_type: att.content_type.clone().or(blob.content_type),
        ..blob
    })
}
