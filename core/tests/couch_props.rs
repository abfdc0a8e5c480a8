//! Property tests of the CouchDB face's request parsers (the fuzz targets
//! in core/fuzz explore the same code without limits): arbitrary bytes
//! and JSON into the multipart parser, the document splitter, histories,
//! sequences and the attachment mapping never panic, and every refusal is
//! a typed CouchDB error with a 4xx status.

use std::collections::BTreeMap;

use outpost_core::net::couch::attachments::{attachments_into_body, stubs_from_body};
use outpost_core::net::couch::multipart::{boundary_of, parse, MultipartWriter};
use outpost_core::net::couch::wire::{
    parse_since, parse_since_value, Attachment, BulkDocsRequest, BulkGetRequest, CouchDoc, CouchError, Revisions,
    RevsDiffRequest,
};
use outpost_core::{BlobDigest, BlobRef};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Arbitrary JSON, biased towards CouchDB's special fields.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("_id".to_owned()),
        Just("_rev".to_owned()),
        Just("_deleted".to_owned()),
        Just("_revisions".to_owned()),
        Just("_attachments".to_owned()),
        Just("start".to_owned()),
        Just("ids".to_owned()),
        Just("data".to_owned()),
        Just("stub".to_owned()),
        Just("digest".to_owned()),
        Just("length".to_owned()),
        Just("@type".to_owned()),
        "[_a-z]{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        "[0-9]{1,3}-[0-9a-f]{0,8}".prop_map(Value::from),
        Just(Value::from("blob")),
        Just(Value::from("md5-1B2M2Y8AsgTpgAmY7PhCfg==")),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn typed(e: &CouchError) {
    assert!((400..500).contains(&e.status), "{e:?}");
    assert!(!e.error.is_empty());
    let body: Value = serde_json::from_str(&e.body()).unwrap();
    assert!(body["reason"].is_string());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn multipart_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400), boundary in "[a-z0-9]{1,8}") {
        if let Err(e) = parse(&bytes, &boundary, 8) {
            typed(&e);
        }
    }

    #[test]
    fn mangled_multipart_bodies_never_panic(
        parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..5),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
    ) {
        let mut w = MultipartWriter::new("bnd");
        for p in &parts {
            w.part(&[("Content-Type", "application/octet-stream")], p);
        }
        let mut body = w.finish();
        if let Ok(found) = parse(&body, "bnd", 8) {
            prop_assert_eq!(found.len(), parts.len());
        }
        let i = flip.index(body.len());
        body[i] ^= 0x55;
        body.truncate(cut.index(body.len() + 1));
        if let Err(e) = parse(&body, "bnd", 8) {
            typed(&e);
        }
    }

    #[test]
    fn content_types_never_panic(text in "[ -~]{0,80}") {
        if let Err(e) = boundary_of(&text) {
            typed(&e);
        }
    }

    #[test]
    fn documents_and_histories_never_panic(value in json_value()) {
        if let Value::Object(map) = value.clone() {
            match CouchDoc::from_object(map, true) {
                Ok(doc) => {
                    if let Err(e) = doc.history(100) {
                        typed(&e);
                    }
                }
                Err(e) => typed(&e),
            }
        }
        if let Ok(r) = serde_json::from_value::<Revisions>(value.clone()) {
            if let Ok(history) = r.to_history(1000) {
                prop_assert!(history.windows(2).all(|w| w[0].generation() == w[1].generation() + 1));
            }
        }
        let _ = serde_json::from_value::<BulkDocsRequest>(value.clone());
        let _ = serde_json::from_value::<BulkGetRequest>(value.clone());
        let _ = serde_json::from_value::<RevsDiffRequest>(value.clone());
        if let Err(e) = parse_since_value(&value) {
            typed(&e);
        }
    }

    #[test]
    fn sequences_never_panic(text in "[ -~]{0,30}") {
        if let Err(e) = parse_since(&text) {
            typed(&e);
        }
    }

    #[test]
    fn attachment_mapping_never_panics(body in json_value(), names in prop::collection::vec("[_a-z/]{0,8}", 0..4)) {
        let Value::Object(mut body) = body else { return Ok(()) };
        let blob = BlobRef { digest: BlobDigest::of_bytes(b"x"), length: 1, content_type: None };
        let attachments: BTreeMap<String, Attachment> =
            names.into_iter().map(|n| (n, Attachment::default())).collect();
        let mut copy: Map<String, Value> = body.clone();
        match attachments_into_body(&mut copy, attachments, &mut |_, _| Ok(blob.clone())) {
            Ok(()) => {
                // What went in comes back out as stubs.
                let _ = stubs_from_body(&mut copy, 1, &mut |_| None);
            }
            Err(e) => typed(&e),
        }
        if let Err(e) = stubs_from_body(&mut body, 1, &mut |_| None) {
            prop_assert_eq!(e.status, 500);
        }
    }
}
