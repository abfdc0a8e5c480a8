//! Attachment bytes the CouchDB client holds between the replication
//! steps that move them: on pull, bytes that came inline in a `_bulk_get`
//! until the inserter reads them into the local blob store; on push, bytes
//! the inserter hands over until `_bulk_docs` sends them inline. Both are
//! bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::blob::{BlobDigest, BlobRef};
use crate::error::{BlobError, Result};
use crate::tuning::{COUCH_PULLED_BATCHES_KEPT, MAX_COUCH_STAGED_BLOB_BYTES};

/// Bytes of the last few fetch batches, by digest.
#[derive(Default)]
pub(crate) struct PulledBlobs {
    batches: Mutex<VecDeque<HashMap<BlobDigest, Arc<Vec<u8>>>>>,
}

impl PulledBlobs {
    /// Keeps the blobs of one fetch batch, forgetting the oldest batch past
    /// [`COUCH_PULLED_BATCHES_KEPT`].
    pub fn keep(&self, blobs: Vec<(BlobRef, Vec<u8>)>) {
        if blobs.is_empty() {
            return;
        }
        let batch = blobs
            .into_iter()
            .map(|(b, bytes)| (b.digest, Arc::new(bytes)))
            .collect();
        let mut batches = self.batches.lock().unwrap_or_else(|e| e.into_inner());
        batches.push_back(batch);
        while batches.len() > COUCH_PULLED_BATCHES_KEPT {
            batches.pop_front();
        }
    }

    /// At most `max_len` bytes of a held blob from `offset`.
    ///
    /// # Errors
    /// [`BlobError::Missing`] if it is not held (any more): the document
    /// waits for the next pass, which fetches it again.
    pub fn read(&self, digest: &BlobDigest, offset: u64, max_len: usize) -> Result<Vec<u8>> {
        let batches = self.batches.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = batches
            .iter()
            .rev()
            .find_map(|b| b.get(digest))
            .ok_or_else(|| BlobError::Missing {
                digest: digest.to_string(),
            })?;
        let start = (offset.min(bytes.len() as u64)) as usize;
        let end = start.saturating_add(max_len).min(bytes.len());
        Ok(bytes[start..end].to_vec())
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.batches.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Blobs handed over for a push, by digest; complete ones are verified.
#[derive(Default)]
pub(crate) struct StagedBlobs {
    blobs: Mutex<HashMap<BlobDigest, Vec<u8>>>,
}

impl StagedBlobs {
    /// How many bytes of `blob` are held.
    pub fn held(&self, blob: &BlobRef) -> u64 {
        let blobs = self.blobs.lock().unwrap_or_else(|e| e.into_inner());
        blobs.get(&blob.digest).map_or(0, |b| b.len() as u64)
    }

    /// Appends a chunk at `offset`; returns the bytes now held.
    ///
    /// # Errors
    /// [`BlobError::BadOffset`] if `offset` is not where the bytes end,
    /// [`BlobError::LengthMismatch`] past the blob's length or the staging
    /// bound, [`BlobError::DigestMismatch`] if the complete bytes do not
    /// match (they are dropped).
    pub fn append(&self, blob: &BlobRef, offset: u64, chunk: &[u8]) -> Result<u64> {
        let mut blobs = self.blobs.lock().unwrap_or_else(|e| e.into_inner());
        let staged: u64 = blobs.values().map(|b| b.len() as u64).sum();
        let held = blobs.get(&blob.digest).map_or(0, |b| b.len() as u64);
        if offset != held {
            return Err(BlobError::BadOffset {
                digest: blob.digest.to_string(),
                offset,
                held,
            }
            .into());
        }
        let end = offset + chunk.len() as u64;
        if end > blob.length || staged + chunk.len() as u64 > MAX_COUCH_STAGED_BLOB_BYTES {
            return Err(BlobError::LengthMismatch {
                digest: blob.digest.to_string(),
                expected: blob.length,
                actual_at_least: end,
            }
            .into());
        }
        let bytes = blobs.entry(blob.digest).or_default();
        bytes.extend_from_slice(chunk);
        if end == blob.length {
            let actual: [u8; 32] = Sha256::digest(&bytes[..]).into();
            let actual = BlobDigest::from_bytes(actual);
            if actual != blob.digest {
                blobs.remove(&blob.digest);
                return Err(BlobError::DigestMismatch {
                    expected: blob.digest.to_string(),
                    actual: actual.to_string(),
                }
                .into());
            }
        }
        Ok(end)
    }

    /// The complete bytes of `blob`, if held.
    pub fn complete(&self, blob: &BlobRef) -> Option<Vec<u8>> {
        let blobs = self.blobs.lock().unwrap_or_else(|e| e.into_inner());
        blobs
            .get(&blob.digest)
            .filter(|b| b.len() as u64 == blob.length)
            .cloned()
    }

    /// Forgets `blobs` (sent) or everything (`None`).
    pub fn forget(&self, blobs: Option<&[BlobRef]>) {
        let mut held = self.blobs.lock().unwrap_or_else(|e| e.into_inner());
        match blobs {
            Some(list) => list.iter().for_each(|b| {
                held.remove(&b.digest);
            }),
            None => held.clear(),
        }
    }
}
