//! Fuzzes the CouchDB face's multipart parser: any bytes, any boundary
//! taken from their first byte, never a panic. Run: `cargo +nightly fuzz run
//! couch_multipart` in core/.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_core::net::couch::multipart::{boundary_of, parse};

fuzz_target!(|data: &[u8]| {
    let (boundary, body) = match data.split_first() {
        Some((n, rest)) => {
            let len = (*n as usize % 8 + 1).min(rest.len());
            (String::from_utf8_lossy(&rest[..len]).into_owned(), &rest[len..])
        }
        None => return,
    };
    let _ = boundary_of(&format!("multipart/related; boundary=\"{boundary}\""));
    let _ = parse(body, &boundary, 1001);
});
