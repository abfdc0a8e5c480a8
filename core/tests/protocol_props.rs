//! Property tests of the wire frame codec (the fuzz target in core/fuzz
//! explores the same decoder without limits): arbitrary bytes and mangled
//! valid frames never panic, and every request survives a round trip.

use outpost_core::net::protocol::{decode_frame, encode_reply, encode_request, Frame, Request, WireError, WireFetched};
use outpost_core::replication::Revision;
use proptest::prelude::*;

fn request_strategy() -> impl Strategy<Value = Request> {
    let name = "[a-z_]{1,12}";
    let id = "[ -~]{0,20}";
    let rev = "[0-9]{1,3}-[0-9a-f]{1,32}";
    prop_oneof![
        (name, any::<u64>(), any::<usize>()).prop_map(|(collection, since, limit)| Request::Changes {
            collection,
            since,
            limit
        }),
        any::<u64>().prop_map(|since| Request::WaitChanges { since }),
        (
            name,
            prop::collection::vec(
                (id, prop::collection::vec(rev, 0..4), prop::collection::vec(rev, 0..3)),
                0..5
            )
        )
            .prop_map(|(collection, docs)| {
                Request::RevsDiff {
                    collection,
                    revs: docs
                        .into_iter()
                        .map(|(id, revs, ancestors)| outpost_core::net::protocol::WireDocRevs { id, revs, ancestors })
                        .collect(),
                }
            }),
        (
            name,
            prop::collection::vec((id, rev), 0..5),
            any::<usize>(),
            any::<usize>(),
            prop::collection::vec(prop::collection::vec(rev, 0..5), 0..6)
        )
            .prop_map(|(collection, wanted, max_history, max_bytes, bases)| Request::Fetch {
                collection,
                wanted,
                max_history,
                max_bytes,
                bases
            }),
        (name, id, "[a-z]{0,8}", any::<i64>()).prop_map(|(collection, id, key, value)| Request::PutCheckpoint {
            collection,
            id,
            body: serde_json::value::RawValue::from_string(serde_json::json!({ key: value }).to_string()).unwrap(),
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_frame(&bytes);
    }

    #[test]
    fn requests_round_trip(id in any::<u64>(), request in request_strategy()) {
        let encoded = encode_request(id, &request);
        match decode_frame(encoded.as_bytes()) {
            Ok(Frame::Request { id: decoded_id, request: decoded }) => {
                prop_assert_eq!(decoded_id, id);
                prop_assert_eq!(encode_request(id, &decoded), encoded);
            }
            other => prop_assert!(false, "decoded to {:?}", other),
        }
    }

    #[test]
    fn mangled_frames_never_panic(request in request_strategy(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let encoded = encode_request(7, &request).into_bytes();
        let at = cut.index(encoded.len());
        let mut flipped = encoded.clone();
        flipped[at] = byte;
        let _ = decode_frame(&flipped);
        let _ = decode_frame(&encoded[..at]);
    }

    #[test]
    fn fetched_revisions_encode_to_what_they_decode_from(
        docs in prop::collection::vec(("\\PC{1,12}", prop::collection::vec("[1-9][0-9]{0,2}-[0-9a-f]{32}", 1..4), any::<bool>(), "\\PC{0,12}"), 0..6),
        consumed in any::<usize>(),
    ) {
        let revisions: Vec<Revision> = docs
            .into_iter()
            .map(|(id, history, deleted, value)| Revision {
                id,
                history: history.iter().map(|h| h.parse().unwrap()).collect(),
                deleted,
                body: serde_json::json!({ "v": value }).to_string(),
                foreign: false,
                delta: None,
            })
            .collect();
        let text = WireFetched::encode(&revisions, consumed);
        let decoded: WireFetched = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(decoded.consumed, consumed);
        let back: Vec<Revision> = decoded.revisions.into_iter().map(|r| r.into_revision().unwrap()).collect();
        prop_assert_eq!(back, revisions);
    }

    #[test]
    fn replies_round_trip(re in any::<u64>(), code in "[a-z_]{1,16}", message in ".{0,40}") {
        let err = WireError { code, message, protocol: None };
        match decode_frame(encode_reply(re, Err(&err)).as_bytes()) {
            Ok(Frame::Reply { re: r, result: Err(e) }) => {
                prop_assert_eq!(r, re);
                prop_assert_eq!(e, err);
            }
            other => prop_assert!(false, "decoded to {:?}", other),
        }
        match decode_frame(encode_reply(re, Ok("null")).as_bytes()) {
            Ok(Frame::Reply { re: r, result: Ok(raw) }) => {
                prop_assert_eq!(r, re);
                prop_assert_eq!(raw.get(), "null");
            }
            other => prop_assert!(false, "decoded to {:?}", other),
        }
    }
}
