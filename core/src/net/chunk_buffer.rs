//! `ChunkBuffer`: the buffer a listener reads a blob chunk into for a
//! `read_blob` reply. The chunk goes after room for the binary frame's
//! header, so the reply is framed where the chunk lies (no copy of it into
//! a second buffer), and the buffer goes back to a small pool, bounded in
//! bytes, once the frame is written ([`crate::blob::chunk_pool`]).

use tokio_tungstenite::tungstenite::Bytes;

use super::protocol::{binary_prefix, encode_binary, BINARY_PREFIX_BYTES};
use crate::blob::chunk_pool;
use crate::tuning::CHUNK_HEADROOM_BYTES;

/// A blob chunk with [`CHUNK_HEADROOM_BYTES`] of room before it.
pub(crate) struct ChunkBuffer {
    buffer: Vec<u8>,
    /// Where the bytes handed on ([`AsRef`]) start: the room's end, or the
    /// frame's start once framed.
    start: usize,
}

impl ChunkBuffer {
    /// An empty chunk of up to `capacity` bytes, in a buffer from the
    /// [`chunk_pool`] when it has one.
    pub(crate) fn new(capacity: usize) -> ChunkBuffer {
        let mut buffer = chunk_pool::take(CHUNK_HEADROOM_BYTES.saturating_add(capacity));
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
        chunk_pool::give_back(std::mem::take(&mut self.buffer));
    }
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
            let mut buffer = ChunkBuffer::new(chunk.len());
            buffer.append_to().extend_from_slice(&chunk);
            assert_eq!(buffer.chunk(), &chunk[..]);
            let frame = buffer.into_frame(json);
            assert_eq!(&frame[..], &encode_binary(json, &chunk)[..]);
            assert_eq!(decode_message(&frame).unwrap().1, Some(&chunk[..]));
        }
    }
}
