//! `ChunkBuffer`: the buffer a listener reads a blob chunk into for a
//! `read_blob` reply. The chunk goes after room for the binary frame's
//! header, so the reply is framed where the chunk lies (no copy of it into
//! a second buffer), and the buffer goes back to a small pool, bounded in
//! bytes, once the frame is written: a pull of many chunks reuses the same
//! pages rather than faulting in fresh ones (and zeroing them) per chunk.

use std::sync::Mutex;

use tokio_tungstenite::tungstenite::Bytes;

use super::protocol::{binary_prefix, encode_binary, BINARY_PREFIX_BYTES};
use crate::tuning::{CHUNK_HEADROOM_BYTES, CHUNK_POOL_BYTES};

/// The listener's buffers kept for reuse.
static POOL: Mutex<Pool> = Mutex::new(Pool::new(CHUNK_POOL_BYTES));

/// Buffers kept for reuse, their capacities adding up to at most `limit`
/// bytes; one given back past that is freed.
struct Pool {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
    limit: usize,
}

impl Pool {
    const fn new(limit: usize) -> Pool {
        Pool {
            buffers: Vec::new(),
            bytes: 0,
            limit,
        }
    }

    fn take(&mut self) -> Option<Vec<u8>> {
        let buffer = self.buffers.pop()?;
        self.bytes -= buffer.capacity();
        Some(buffer)
    }

    fn give_back(&mut self, buffer: Vec<u8>) {
        let size = buffer.capacity();
        if size == 0 || self.bytes.saturating_add(size) > self.limit {
            return;
        }
        self.bytes += size;
        self.buffers.push(buffer);
    }
}

/// A blob chunk with [`CHUNK_HEADROOM_BYTES`] of room before it.
pub(crate) struct ChunkBuffer {
    buffer: Vec<u8>,
    /// Where the bytes handed on ([`AsRef`]) start: the room's end, or the
    /// frame's start once framed.
    start: usize,
}

impl ChunkBuffer {
    /// An empty chunk, in a buffer from the pool when it has one.
    pub(crate) fn new() -> ChunkBuffer {
        let mut buffer = lock().take().unwrap_or_default();
        buffer.clear();
        buffer.resize(CHUNK_HEADROOM_BYTES, 0);
        ChunkBuffer {
            buffer,
            start: CHUNK_HEADROOM_BYTES,
        }
    }

    /// The buffer to append the chunk's bytes to (its first
    /// [`CHUNK_HEADROOM_BYTES`] are the room, left as they are).
    pub(crate) fn append_to(&mut self) -> &mut Vec<u8> {
        &mut self.buffer
    }

    /// The chunk's bytes.
    pub(crate) fn chunk(&self) -> &[u8] {
        self.buffer.get(CHUNK_HEADROOM_BYTES..).unwrap_or_default()
    }

    /// The binary frame of `json` followed by the chunk
    /// ([`super::protocol::encode_binary`]'s layout): written in the room
    /// before the chunk when `json` fits it, else copied.
    pub(crate) fn into_frame(mut self, json: &str) -> Bytes {
        let header = BINARY_PREFIX_BYTES + json.len();
        let Some(start) = CHUNK_HEADROOM_BYTES
            .checked_sub(header)
            .filter(|_| self.buffer.len() >= CHUNK_HEADROOM_BYTES)
        else {
            return Bytes::from(encode_binary(json, self.chunk()));
        };
        let json_start = start + BINARY_PREFIX_BYTES;
        self.buffer[start..json_start].copy_from_slice(&binary_prefix(json));
        self.buffer[json_start..CHUNK_HEADROOM_BYTES].copy_from_slice(json.as_bytes());
        self.start = start;
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for ChunkBuffer {
    fn as_ref(&self) -> &[u8] {
        self.buffer.get(self.start..).unwrap_or_default()
    }
}

impl Drop for ChunkBuffer {
    fn drop(&mut self) {
        lock().give_back(std::mem::take(&mut self.buffer));
    }
}

fn lock() -> std::sync::MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::protocol::decode_message;

    #[test]
    fn frames_as_encode_binary_does_in_place_or_copied() {
        let chunk: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let short = r#"{"re":7,"ok":{"length":10000}}"#;
        let long = format!(
            r#"{{"re":7,"ok":{{"length":10000,"pad":"{}"}}}}"#,
            "x".repeat(CHUNK_HEADROOM_BYTES)
        );
        for json in [short, long.as_str()] {
            let mut buffer = ChunkBuffer::new();
            buffer.append_to().extend_from_slice(&chunk);
            assert_eq!(buffer.chunk(), &chunk[..]);
            let frame = buffer.into_frame(json);
            assert_eq!(&frame[..], &encode_binary(json, &chunk)[..]);
            assert_eq!(decode_message(&frame).unwrap().1, Some(&chunk[..]));
        }
    }

    #[test]
    fn the_pool_keeps_at_most_its_bytes() {
        let mut pool = Pool::new(3 * 1000);
        for _ in 0..10 {
            pool.give_back(Vec::with_capacity(1000));
            assert!(pool.bytes <= 3 * 1000, "{} bytes kept", pool.bytes);
        }
        assert_eq!(pool.buffers.len(), 3);
        // Taken buffers leave the count; an empty one is never kept.
        assert!(pool.take().is_some());
        assert_eq!(pool.bytes, 2 * 1000);
        pool.give_back(Vec::new());
        assert_eq!(pool.buffers.len(), 2);
    }
}
