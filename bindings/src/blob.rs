//! Blobs across the FFI, streamed in chunks both ways: a [`BlobWriter`] takes
//! chunks and finishes into a [`BlobRef`]; a [`BlobReader`] reads chunks by
//! offset. Neither side ever holds a whole blob in memory.

use std::io::{Read, Seek, SeekFrom};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use outpost_core::{BlobDigest, BlobError};

use crate::error::{OutpostError, Result};

/// Chunks in flight between the app and the store's writer thread.
const WRITE_QUEUE_CHUNKS: usize = 2;

/// A reference to a stored blob: what a document body holds, never the bytes.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct BlobRef {
    /// `sha256-` and the SHA-256 of the bytes in base64.
    pub digest: String,
    /// Length in bytes.
    pub length: u64,
    /// MIME type, if given (`image/jpeg`).
    pub content_type: Option<String>,
    /// The in-body blob object as JSON text, to put in a body.
    pub json: String,
}

impl From<outpost_core::BlobRef> for BlobRef {
    fn from(b: outpost_core::BlobRef) -> Self {
        BlobRef {
            digest: b.digest.to_string(),
            length: b.length,
            json: b.to_json().to_string(),
            content_type: b.content_type,
        }
    }
}

/// A blob with where the document names it: a top-level field's name, or a
/// JSON pointer (`/photos/0`) for a nested one.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NamedBlob {
    /// The top-level field, or the JSON pointer of a nested blob.
    pub name: String,
    /// The reference.
    pub blob: BlobRef,
}

impl From<outpost_core::NamedBlob> for NamedBlob {
    fn from(b: outpost_core::NamedBlob) -> Self {
        NamedBlob {
            name: b.name,
            blob: b.blob.into(),
        }
    }
}

pub(crate) fn parse_digest(digest: &str) -> Result<BlobDigest> {
    digest
        .parse::<BlobDigest>()
        .map_err(|e| OutpostError::from(outpost_core::Error::from(e)))
}

/// Reads the chunks sent by a [`BlobWriter`] as one stream.
struct ChunkReader {
    /// A chunk, or `Err` when the writer was dropped unfinished.
    chunks: Receiver<Chunk>,
    current: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            match self.chunks.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.at = 0;
                }
                Ok(Err(Abandoned)) => {
                    return Err(std::io::Error::other("the blob writer was dropped unfinished"));
                }
                // The writer finished: end of stream.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Sent instead of a chunk by a writer dropped unfinished, so the store
/// fails (keeping nothing) rather than taking the bytes so far as the blob.
struct Abandoned;

type Chunk = std::result::Result<Vec<u8>, Abandoned>;

struct Writing {
    chunks: Option<SyncSender<Chunk>>,
    thread: Option<JoinHandle<outpost_core::Result<outpost_core::BlobRef>>>,
}

/// Stores a blob from chunks written in order; [`BlobWriter::finish`]
/// returns its reference. The store verifies and renames it into place only
/// on finish; a writer dropped unfinished stores nothing.
#[derive(uniffi::Object)]
pub struct BlobWriter {
    state: Mutex<Writing>,
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobWriter")
    }
}

impl BlobWriter {
    pub(crate) fn start(collection: outpost_core::Collection, content_type: Option<String>) -> Result<Arc<Self>> {
        let (tx, rx) = sync_channel(WRITE_QUEUE_CHUNKS);
        let reader = ChunkReader {
            chunks: rx,
            current: Vec::new(),
            at: 0,
        };
        let thread = std::thread::Builder::new()
            .name("outpost-blob-writer".into())
            .spawn(move || collection.save_blob(reader, content_type.as_deref()))
            .map_err(|e| OutpostError::Internal(format!("cannot start a blob writer thread: {e}")))?;
        Ok(Arc::new(BlobWriter {
            state: Mutex::new(Writing {
                chunks: Some(tx),
                thread: Some(thread),
            }),
        }))
    }
}

fn join(thread: JoinHandle<outpost_core::Result<outpost_core::BlobRef>>) -> Result<BlobRef> {
    match thread.join() {
        Ok(result) => Ok(result?.into()),
        Err(_) => Err(OutpostError::Internal("the blob writer thread panicked".into())),
    }
}

fn finished() -> OutpostError {
    OutpostError::InvalidInput("this blob writer is already finished".into())
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(sender) = state.chunks.take() {
            // Fails only if the store already stopped reading.
            let _ = sender.send(Err(Abandoned));
        }
        if let Some(thread) = state.thread.take() {
            // Its temporary file is removed when it fails; wait for that.
            let _ = thread.join();
        }
    }
}

#[uniffi::export]
impl BlobWriter {
    /// Appends `chunk` to the blob.
    ///
    /// # Errors
    /// The store's error (`InvalidInput` past the size limit, `Storage`) as
    /// soon as it fails; the writer is finished then.
    pub fn write(&self, chunk: Vec<u8>) -> Result<()> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let sender = state.chunks.as_ref().ok_or_else(finished)?;
        if sender.send(Ok(chunk)).is_ok() {
            return Ok(());
        }
        // The store stopped reading: it failed. Report why.
        state.chunks = None;
        let thread = state.thread.take().ok_or_else(finished)?;
        join(thread)?;
        Err(OutpostError::Internal("the blob store stopped reading early".into()))
    }

    /// Ends the blob: the store checks and keeps it, and returns its reference.
    ///
    /// # Errors
    /// The store's error; nothing is stored then.
    pub fn finish(&self) -> Result<BlobRef> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.chunks = None;
        join(state.thread.take().ok_or_else(finished)?)
    }
}

/// Reads a stored blob in chunks at any offset.
#[derive(Debug, uniffi::Object)]
pub struct BlobReader {
    inner: Mutex<outpost_core::BlobReader>,
    length: u64,
}

impl BlobReader {
    pub(crate) fn new(inner: outpost_core::BlobReader) -> Arc<Self> {
        let length = inner.length();
        Arc::new(BlobReader {
            inner: Mutex::new(inner),
            length,
        })
    }
}

#[uniffi::export]
impl BlobReader {
    /// The blob's length in bytes.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Up to `max` bytes from `offset` (fewer only at the end; empty at or
    /// past the end).
    ///
    /// # Errors
    /// `Storage` if the file cannot be read.
    pub fn read(&self, offset: u64, max: u32) -> Result<Vec<u8>> {
        let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let io = |e: std::io::Error| OutpostError::from(outpost_core::Error::from(BlobError::Io(e.to_string())));
        inner.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut out = Vec::with_capacity(max.min(1 << 20) as usize);
        inner.by_ref().take(u64::from(max)).read_to_end(&mut out).map_err(io)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Database, DatabaseConfig, OutpostError};

    #[test]
    fn chunks_written_are_read_back_by_offset_and_a_missing_blob_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("t.db").display().to_string(), DatabaseConfig::default()).unwrap();
        let c = db.default_collection().unwrap();
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let writer = c.blob_writer(Some("image/jpeg".into())).unwrap();
        for chunk in bytes.chunks(7_000) {
            writer.write(chunk.to_vec()).unwrap();
        }
        let blob = writer.finish().unwrap();
        let abandoned = c.blob_writer(None).unwrap();
        abandoned.write(b"half a photo".to_vec()).unwrap();
        drop(abandoned);
        let half = outpost_core::BlobDigest::of_bytes(b"half a photo").to_string();
        assert!(matches!(c.open_blob(half), Err(OutpostError::NotFound(_))));
        assert_eq!(blob.length, 200_000);
        assert!(matches!(writer.finish(), Err(OutpostError::InvalidInput(_))));
        let reader = c.open_blob(blob.digest.clone()).unwrap();
        assert_eq!(reader.length(), 200_000);
        let mut read = Vec::new();
        loop {
            let chunk = reader.read(read.len() as u64, 65_536).unwrap();
            if chunk.is_empty() {
                break;
            }
            read.extend(chunk);
        }
        assert_eq!(read, bytes);
        c.save("d".into(), None, format!(r#"{{"photo":{}}}"#, blob.json))
            .unwrap();
        assert_eq!(c.blobs("d".into()).unwrap()[0].blob, blob);
        let missing = format!("sha256-{}=", "A".repeat(43));
        let opened = c.open_blob(missing.clone());
        assert!(matches!(opened, Err(OutpostError::NotFound(_))), "{opened:?}");
        let body = format!(r#"{{"photo":{{"@type":"blob","digest":"{missing}","length":3}}}}"#);
        assert!(matches!(c.save("e".into(), None, body), Err(OutpostError::NotFound(_))));
    }
}
