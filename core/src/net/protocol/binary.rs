//! Binary frames: a JSON frame followed by raw bytes, so blob chunks
//! cross without base64 (a third more bytes, and an encode, a JSON escape
//! scan and a decode per chunk). Spoken only with a peer whose handshake
//! offers [`BLOB_BINARY_FEATURE`](super::BLOB_BINARY_FEATURE); without it
//! chunks stay base64 in text frames.
//!
//! Layout of a binary WebSocket message: the tag byte
//! [`BINARY_FRAME_TAG`], the JSON frame's length as 4 bytes big-endian,
//! the JSON frame (a request or a reply, as in a text frame), then the
//! payload: every byte to the end of the message. A binary message that
//! does not start with the tag is one JSON frame, as before.

use super::codec::{decode_frame, Frame, ProtocolError};

/// First byte of a binary frame with a payload (a JSON frame starts with
/// `{` or whitespace, never this).
pub const BINARY_FRAME_TAG: u8 = 0x01;

/// Tag and length before the JSON frame.
pub const BINARY_PREFIX_BYTES: usize = 5;

/// A binary message: `json` (a frame's JSON text) and `payload` after it.
///
/// # Examples
/// ```
/// use outpost_core::net::protocol::{decode_message, encode_binary, encode_reply, Frame};
/// let message = encode_binary(&encode_reply(7, Ok(r#"{"length":3}"#)), b"abc");
/// let (frame, payload) = decode_message(&message).unwrap();
/// assert!(matches!(frame, Frame::Reply { re: 7, .. }));
/// assert_eq!(payload, Some(&b"abc"[..]));
/// ```
pub fn encode_binary(json: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(BINARY_PREFIX_BYTES + json.len() + payload.len());
    out.extend_from_slice(&binary_prefix(json));
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// The tag and the length of `json` that start a binary frame.
pub fn binary_prefix(json: &str) -> [u8; BINARY_PREFIX_BYTES] {
    let mut prefix = [BINARY_FRAME_TAG; BINARY_PREFIX_BYTES];
    // A JSON frame is far below 4 GiB (frames are limited to 16 MiB).
    prefix[1..].copy_from_slice(&u32::try_from(json.len()).unwrap_or(u32::MAX).to_be_bytes());
    prefix
}

/// Decodes a binary WebSocket message: a frame and its payload, or (for a
/// message without the tag) a JSON frame alone.
///
/// # Errors
/// [`ProtocolError::Malformed`] for a prefix that is cut short or names
/// more bytes than the message holds; any error of [`decode_frame`].
pub fn decode_message(bytes: &[u8]) -> Result<(Frame, Option<&[u8]>), ProtocolError> {
    if bytes.first() != Some(&BINARY_FRAME_TAG) {
        return Ok((decode_frame(bytes)?, None));
    }
    let Some(prefix) = bytes.get(1..BINARY_PREFIX_BYTES) else {
        return Err(ProtocolError::Malformed(
            "a binary frame shorter than its prefix".into(),
        ));
    };
    let mut length = [0u8; 4];
    length.copy_from_slice(prefix);
    let json_end = usize::try_from(u32::from_be_bytes(length))
        .ok()
        .and_then(|n| n.checked_add(BINARY_PREFIX_BYTES))
        .filter(|end| *end <= bytes.len())
        .ok_or_else(|| ProtocolError::Malformed("a binary frame's JSON length is past its end".into()))?;
    let frame = decode_frame(&bytes[BINARY_PREFIX_BYTES..json_end])?;
    Ok((frame, Some(&bytes[json_end..])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::protocol::{encode_request, Request};

    #[test]
    fn round_trips_and_refuses_every_cut_or_lying_prefix() {
        let request = Request::ReadBlob {
            digest: "sha256-x".into(),
            offset: 0,
            max_len: 10,
            binary: true,
        };
        let message = encode_binary(&encode_request(3, &request), &[0, 1, 2, 255]);
        let (frame, payload) = decode_message(&message).unwrap();
        assert!(matches!(frame, Frame::Request { id: 3, .. }));
        assert_eq!(payload, Some(&[0u8, 1, 2, 255][..]));
        // Every cut inside the prefix or the JSON is refused, never a panic.
        let json_end = message.len() - 4;
        for cut in 0..json_end {
            assert!(decode_message(&message[..cut]).is_err(), "cut at {cut}");
        }
        // A length naming more than the message holds.
        let mut lying = message.clone();
        lying[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode_message(&lying), Err(ProtocolError::Malformed(_))));
        // A plain JSON binary message still decodes, without a payload.
        let plain = encode_request(4, &request);
        assert!(decode_message(plain.as_bytes()).unwrap().1.is_none());
    }
}
