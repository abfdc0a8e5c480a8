//! Fuzzes the wire frame decoder: any bytes must decode to a frame or a
//! `ProtocolError`, never panic; a decoded request must re-encode to bytes
//! that decode again. Run: `cargo +nightly fuzz run frame_decoder` in core/.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_core::net::protocol::{decode_frame, encode_request, Frame};

fuzz_target!(|data: &[u8]| {
    if let Ok(Frame::Request { id, request }) = decode_frame(data) {
        let again = encode_request(id, &request);
        assert!(decode_frame(again.as_bytes()).is_ok(), "re-encoded request must decode");
    }
});
