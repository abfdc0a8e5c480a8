//! Compressed frames (feature [`DEFLATE_FEATURE`](super::DEFLATE_FEATURE)):
//! a frame's whole message (a JSON frame, or a binary frame with its
//! payload) as raw DEFLATE (RFC 1951) behind one tag byte, sent when both
//! peers offer the feature, the message is at least
//! [`COMPRESS_MIN_BYTES`] long and compressing made it smaller.
//!
//! Layout of a compressed WebSocket message: the tag byte
//! [`COMPRESSED_FRAME_TAG`], then the DEFLATE stream. Inflating stops at
//! the frame limit: a message that would inflate past it (a compression
//! bomb) is refused with [`ProtocolError::TooLarge`], having held at most
//! the limit plus one read buffer.
//!
//! The connection compresses JSON frames only: blob chunks are mostly
//! photos, compressed already. A receiver inflates either kind.

use std::io::{Read, Write};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

use super::codec::ProtocolError;
pub use crate::tuning::COMPRESS_MIN_BYTES;

/// First byte of a compressed message (a JSON frame starts with `{` or
/// whitespace, a binary frame with [`super::BINARY_FRAME_TAG`]).
pub const COMPRESSED_FRAME_TAG: u8 = 0x02;

/// Whether `message` is a compressed one.
pub fn is_compressed(message: &[u8]) -> bool {
    message.first() == Some(&COMPRESSED_FRAME_TAG)
}

/// The compressed form of `message`, or `None` when it is shorter than
/// [`COMPRESS_MIN_BYTES`] or compressing does not make it smaller (send
/// it as it is).
///
/// # Examples
/// ```
/// use outpost_core::net::protocol::{compress_message, inflate_message};
/// let frame = format!(r#"{{"re":1,"ok":"{}"}}"#, "camp 7 ".repeat(500));
/// let packed = compress_message(frame.as_bytes()).unwrap();
/// assert!(packed.len() < frame.len() / 10);
/// assert_eq!(inflate_message(&packed, 1 << 20).unwrap(), frame.as_bytes());
/// assert!(compress_message(b"{}").is_none());
/// ```
pub fn compress_message(message: &[u8]) -> Option<Vec<u8>> {
    if message.len() < COMPRESS_MIN_BYTES {
        return None;
    }
    let mut out = Vec::with_capacity(message.len() / 4 + 16);
    out.push(COMPRESSED_FRAME_TAG);
    let mut encoder = DeflateEncoder::new(out, Compression::fast());
    encoder.write_all(message).ok()?;
    let out = encoder.finish().ok()?;
    (out.len() < message.len()).then_some(out)
}

/// The message inside a compressed one, of at most `max` bytes.
///
/// # Errors
/// [`ProtocolError::Malformed`] without the tag or for a broken DEFLATE
/// stream; [`ProtocolError::TooLarge`] when it inflates past `max`.
pub fn inflate_message(compressed: &[u8], max: usize) -> Result<Vec<u8>, ProtocolError> {
    let Some(stream) = compressed.strip_prefix(&[COMPRESSED_FRAME_TAG]) else {
        return Err(ProtocolError::Malformed("not a compressed frame".into()));
    };
    let mut out = Vec::with_capacity(stream.len().saturating_mul(4).min(max));
    // One byte past the limit tells a bomb from a frame of exactly `max`.
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    DeflateDecoder::new(stream)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| ProtocolError::Malformed(format!("a compressed frame does not inflate: {e}")))?;
    if out.len() > max {
        return Err(ProtocolError::TooLarge(out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bomb_stops_one_byte_past_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        let packed = compress_message(&zeros).unwrap();
        assert!(packed.len() < 16 * 1024, "{}", packed.len());
        match inflate_message(&packed, 1000) {
            Err(ProtocolError::TooLarge(n)) => assert_eq!(n, 1001),
            other => panic!("{other:?}"),
        }
        assert_eq!(inflate_message(&packed, 1 << 20).unwrap().len(), 1 << 20);
    }

    #[test]
    fn garbage_and_untagged_input_are_malformed() {
        assert!(matches!(
            inflate_message(&[COMPRESSED_FRAME_TAG, 0xff, 0xff, 0xff], 100),
            Err(ProtocolError::Malformed(_))
        ));
        assert!(matches!(inflate_message(b"{}", 100), Err(ProtocolError::Malformed(_))));
    }
}
