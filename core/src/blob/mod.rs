//! Blobs (photos, audio, files): content-addressed files beside the
//! database, named by their SHA-256 digest, and the references to them that
//! document bodies carry.
//!
//! - [`digest`]: the digest type and its text form (`sha256-<base64>`);
//! - [`reference`]: the in-body blob object (`{"@type":"blob",...}`), its
//!   checks and where a body names blobs;
//! - [`store`]: the directory of blob files: streamed, verified writes,
//!   streamed reads;
//! - [`receive`]: chunked, resumable receiving from a peer, hashed as it
//!   arrives, each partial file under its own lock;
//! - [`pending`]: received blobs verified but not yet durable, fsynced and
//!   renamed a batch at a time before a revision naming them commits;
//! - `chunk_pool`: reused buffers for chunks in memory;
//! - [`compact`]: removing blobs no stored revision names;
//! - [`seal`]: the sealed (ChaCha20-Poly1305) file format of an encrypted
//!   database's blobs.
//!
//! docs/ARCHITECTURE.md, "Blobs", states the rules.

pub(crate) mod chunk_pool;
pub(crate) mod compact;
pub(crate) mod digest;
pub(crate) mod pending;
pub(crate) mod receive;
pub(crate) mod reference;
pub(crate) mod seal;
pub(crate) mod store;

pub use compact::CompactReport;
pub use digest::BlobDigest;
pub use reference::{BlobRef, NamedBlob};
pub use store::BlobReader;

/// The reference of a blob holding `bytes` (no content type), for tests.
#[cfg(test)]
pub(crate) fn blob_of(bytes: &[u8]) -> BlobRef {
    BlobRef {
        digest: BlobDigest::of_bytes(bytes),
        length: bytes.len() as u64,
        content_type: None,
    }
}
