//! Fuzzes the wire frame decoders: any bytes must decode to a frame (with
//! the payload of a binary frame) or a `ProtocolError`, never panic; a
//! decoded request must re-encode to bytes that decode again, with the
//! same payload. Run: `cargo +nightly fuzz run frame_decoder` in core/.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_core::net::protocol::{decode_message, encode_binary, encode_request, Frame};

fuzz_target!(|data: &[u8]| {
    if let Ok((Frame::Request { id, request }, payload)) = decode_message(data) {
        let json = encode_request(id, &request);
        let again = match payload {
            Some(bytes) => encode_binary(&json, bytes),
            None => json.into_bytes(),
        };
        match decode_message(&again) {
            Ok((_, back)) => assert_eq!(back, payload, "the payload must survive"),
            Err(e) => panic!("re-encoded request must decode: {e}"),
        }
    }
});
