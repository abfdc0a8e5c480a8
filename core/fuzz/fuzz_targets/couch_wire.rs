//! Fuzzes the CouchDB face's JSON parsers: documents (with `_revisions`
//! and `_attachments`), histories, bulk requests and sequences, never a
//! panic. Run: `cargo +nightly fuzz run couch_wire` in core/.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_core::net::couch::attachments::attachments_into_body;
use outpost_core::net::couch::wire::{
    parse_since, BulkDocsRequest, BulkGetRequest, CouchDoc, RevsDiffRequest, StoredLocalDoc,
};
use outpost_core::{BlobDigest, BlobRef};
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_since(text);
    }
    let _ = serde_json::from_slice::<BulkDocsRequest>(data);
    let _ = serde_json::from_slice::<BulkGetRequest>(data);
    let _ = serde_json::from_slice::<RevsDiffRequest>(data);
    let Ok(map) = serde_json::from_slice::<Map<String, Value>>(data) else { return };
    let _ = StoredLocalDoc::next(None, map.clone());
    if let Ok(mut doc) = CouchDoc::from_object(map, true) {
        let _ = doc.history(1000);
        if let Some(attachments) = doc.attachments.take() {
            let blob = BlobRef { digest: BlobDigest::of_bytes(b"x"), length: 1, content_type: None };
            let _ = attachments_into_body(&mut doc.body, attachments, &mut |_, _| Ok(blob.clone()));
        }
    }
});
