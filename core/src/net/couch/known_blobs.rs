//! Matching CouchDB's MD5-named attachments with Outpost's SHA-256 blobs,
//! for the face and the client alike: MD5 digests of stored blobs
//! (computed from the bytes when first needed, then cached), and the blob
//! an earlier revision of a document held under an attachment's name.
//! Both sides use it to turn a stub (`"stub": true` with an `md5-`
//! digest) into a blob already held, so the bytes do not move again.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::Digest;
use serde_json::{Map, Value};

use crate::blob::{BlobDigest, BlobRef};
use crate::revision::RevTree;
use crate::store::Collection;
use crate::tuning::{BLOB_IO_BUFFER_BYTES, MAX_FACE_MD5_CACHE};

/// MD5 digests of blobs, both ways, at most [`MAX_FACE_MD5_CACHE`] of them
/// (forgotten all at once past that; they are computed again as needed).
#[derive(Default)]
pub(crate) struct Md5Cache {
    maps: Mutex<Md5Maps>,
}

#[derive(Default)]
struct Md5Maps {
    by_blob: HashMap<BlobDigest, String>,
    by_md5: HashMap<String, BlobDigest>,
}

impl Md5Cache {
    /// The `md5-` digest of a stored blob, reading its bytes on a miss;
    /// `None` when the blob cannot be read.
    pub(crate) fn of(&self, collection: &Collection, blob: &BlobRef) -> Option<String> {
        if let Some(md5) = self.lock().by_blob.get(&blob.digest) {
            return Some(md5.clone());
        }
        let mut reader = collection.blob(&blob.digest).ok()?;
        let mut hasher = md5::Md5::new();
        let mut buffer = vec![0u8; BLOB_IO_BUFFER_BYTES];
        loop {
            let n = reader.read(&mut buffer).ok()?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
        let md5 = format!("md5-{}", STANDARD.encode(hasher.finalize()));
        self.remember(blob.digest, md5.clone());
        Some(md5)
    }

    /// Remembers a blob's MD5.
    pub(crate) fn remember(&self, digest: BlobDigest, md5: String) {
        let mut maps = self.lock();
        if maps.by_blob.len() >= MAX_FACE_MD5_CACHE {
            maps.by_blob.clear();
            maps.by_md5.clear();
        }
        maps.by_md5.insert(md5.clone(), digest);
        maps.by_blob.insert(digest, md5);
    }

    /// The blob known to have this `md5-` digest, if any.
    pub(crate) fn blob_with(&self, md5: &str) -> Option<BlobDigest> {
        self.lock().by_md5.get(md5).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Md5Maps> {
        self.maps.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The blob an earlier revision of a document (one of `tree`'s that still
/// has a body) held at top-level field `name` whose bytes have the `md5-`
/// digest `md5`. It is not checked to be in the blob store.
pub(crate) fn earlier_blob_with_md5(
    collection: &Collection,
    cache: &Md5Cache,
    tree: Option<&RevTree>,
    name: &str,
    md5: &str,
) -> Option<BlobRef> {
    let known = cache.blob_with(md5);
    earlier_blobs(tree, name)
        .into_iter()
        .find(|b| Some(b.digest) == known || cache.of(collection, b).as_deref() == Some(md5))
}

/// The blobs at top-level field `name` in the revisions of a tree that
/// still have bodies.
fn earlier_blobs(tree: Option<&RevTree>, name: &str) -> Vec<BlobRef> {
    let Some(tree) = tree else { return Vec::new() };
    tree.nodes()
        .iter()
        .filter_map(|n| n.body.as_deref())
        .filter_map(|body| serde_json::from_str::<Map<String, Value>>(body).ok())
        .filter_map(|body| match body.get(name) {
            Some(Value::Object(o)) => BlobRef::from_object(o).ok().flatten(),
            _ => None,
        })
        .collect()
}
