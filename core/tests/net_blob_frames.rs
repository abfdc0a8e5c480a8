//! Blob chunks in binary frames (feature `blob_binary`), against a real
//! listener on 127.0.0.1 and a raw peer (to send what a real peer never
//! would): a peer without the feature still gets base64, one with it gets
//! raw bytes; forged bytes in binary frames are refused with the typed
//! error and nothing is stored; a payload on the wrong request, a chunk
//! past the limit and a binary prefix that lies are refused.

mod common;

use std::time::Duration;

use base64::Engine;
use common::net::{listener_config, raw_websocket, RawWs};
use common::{blob_files, body_with, open};
use futures_util::{SinkExt, StreamExt};
use outpost_core::net::protocol::{decode_message, encode_binary, Frame, BLOB_BINARY_FEATURE};
use outpost_core::net::{Listener, ListenerAuthenticator};
use outpost_core::tuning::MAX_BLOB_CHUNK_BYTES;
use outpost_core::{BlobDigest, BlobRef, Database};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

async fn plain_listener(db: &Database) -> Listener {
    let mut cfg = listener_config(ListenerAuthenticator::Anonymous);
    cfg.disable_tls = true;
    Listener::start(db.clone(), cfg).await.unwrap()
}

/// A raw peer after the handshake, offering `features`; returns the
/// features the listener acknowledged.
async fn raw_peer(listener: &Listener, features: &[&str]) -> (RawWs, Vec<String>) {
    let mut ws = raw_websocket(listener).await;
    let hello =
        json!({"id": 0, "req": {"hello": {"protocol": 1, "min_protocol": 1, "uuid": "raw", "features": features}}});
    ws.send(Message::text(hello.to_string())).await.unwrap();
    let (ack, _) = next(&mut ws).await;
    let acked = ack["ok"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    (ws, acked)
}

/// The next frame: its JSON, and the payload of a binary frame.
async fn next(ws: &mut RawWs) -> (Value, Option<Vec<u8>>) {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a frame in time")
            .expect("the connection is open")
            .unwrap();
        match message {
            Message::Text(text) => return (serde_json::from_str(text.as_str()).unwrap(), None),
            Message::Binary(bytes) => {
                let (frame, payload) = decode_message(&bytes).unwrap();
                let Frame::Reply { re, result } = frame else {
                    panic!("a request from the listener")
                };
                let ok: Value = serde_json::from_str(result.unwrap().get()).unwrap();
                return (json!({"re": re, "ok": ok}), payload.map(<[u8]>::to_vec));
            }
            _ => continue,
        }
    }
}

async fn send_binary(ws: &mut RawWs, frame: Value, payload: &[u8]) {
    ws.send(Message::binary(encode_binary(&frame.to_string(), payload)))
        .await
        .unwrap();
}

fn err_code(reply: &Value) -> &str {
    reply["err"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {reply}"))
}

fn photo(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 253) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_the_feature_gets_base64_and_one_with_it_raw_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(dir.path(), "hub.db");
    let c = hub.default_collection().unwrap();
    let bytes = photo(70_000);
    let blob = c.save_blob(&bytes[..], Some("image/jpeg")).unwrap();
    c.save("child", None, &body_with("child", &blob)).unwrap();
    let listener = plain_listener(&hub).await;
    let read = |id: u64, binary: Option<bool>| {
        let mut req = json!({"digest": blob.digest.to_string(), "offset": 1000, "max_len": 50_000});
        if let Some(b) = binary {
            req["binary"] = json!(b);
        }
        json!({"id": id, "req": {"read_blob": req}}).to_string()
    };

    let (mut old, acked) = raw_peer(&listener, &["blobs"]).await;
    assert!(!acked.iter().any(|f| f == BLOB_BINARY_FEATURE));
    old.send(Message::text(read(1, None))).await.unwrap();
    let (reply, payload) = next(&mut old).await;
    assert!(payload.is_none(), "a text frame");
    let data = base64::engine::general_purpose::STANDARD
        .decode(reply["ok"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, &bytes[1000..51_000]);

    let (mut new, acked) = raw_peer(&listener, &["blobs", BLOB_BINARY_FEATURE]).await;
    assert!(acked.iter().any(|f| f == BLOB_BINARY_FEATURE));
    new.send(Message::text(read(1, Some(true)))).await.unwrap();
    let (reply, payload) = next(&mut new).await;
    assert_eq!(reply["ok"]["length"], 50_000);
    assert_eq!(payload.unwrap(), &bytes[1000..51_000]);
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_malformed_binary_chunks_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(dir.path(), "hub.db");
    let listener = plain_listener(&hub).await;
    let (mut ws, _) = raw_peer(&listener, &["blobs", BLOB_BINARY_FEATURE]).await;
    let honest = photo(MAX_BLOB_CHUNK_BYTES + 500);
    let claimed = BlobRef {
        digest: BlobDigest::of_bytes(&honest),
        length: honest.len() as u64,
        content_type: None,
    };
    let append = |id: u64, offset: usize| json!({"id": id, "req": {"append_blob": {"blob": claimed.to_json(), "offset": offset}}});

    // Forged bytes, in two binary chunks: the first is held, the last is
    // refused with the typed error and the partial file goes.
    let mut forged = honest.clone();
    forged[MAX_BLOB_CHUNK_BYTES + 7] ^= 1;
    send_binary(&mut ws, append(1, 0), &forged[..MAX_BLOB_CHUNK_BYTES]).await;
    assert_eq!(next(&mut ws).await.0["ok"], MAX_BLOB_CHUNK_BYTES);
    send_binary(
        &mut ws,
        append(2, MAX_BLOB_CHUNK_BYTES),
        &forged[MAX_BLOB_CHUNK_BYTES..],
    )
    .await;
    assert_eq!(err_code(&next(&mut ws).await.0), "blob_mismatch");
    assert!(blob_files(&hub).is_empty(), "{:?}", blob_files(&hub));
    let offset = json!({"id": 3, "req": {"blob_receive_offset": {"blob": claimed.to_json()}}});
    ws.send(Message::text(offset.to_string())).await.unwrap();
    assert_eq!(next(&mut ws).await.0["ok"], 0, "the next attempt starts from zero");

    // A chunk past the limit; a payload on a request that takes none; an
    // append with its bytes both as base64 and in the frame; an append
    // with no bytes at all. Each is refused, and the connection goes on.
    send_binary(&mut ws, append(4, 0), &vec![0; MAX_BLOB_CHUNK_BYTES + 1]).await;
    assert_eq!(err_code(&next(&mut ws).await.0), "limit_exceeded");
    send_binary(&mut ws, offset.clone(), b"stray").await;
    assert_eq!(err_code(&next(&mut ws).await.0), "bad_request");
    let mut both = append(5, 0);
    both["req"]["append_blob"]["data"] = json!("AAAA");
    send_binary(&mut ws, both, b"bytes").await;
    assert_eq!(err_code(&next(&mut ws).await.0), "bad_request");
    ws.send(Message::text(append(6, 0).to_string())).await.unwrap();
    assert_eq!(err_code(&next(&mut ws).await.0), "bad_request");
    assert!(blob_files(&hub).is_empty());

    // Honest bytes on the same connection are kept: verified, they wait
    // whole as the partial file until a revision naming them is stored.
    send_binary(&mut ws, append(7, 0), &honest[..MAX_BLOB_CHUNK_BYTES]).await;
    assert_eq!(next(&mut ws).await.0["ok"], MAX_BLOB_CHUNK_BYTES);
    send_binary(
        &mut ws,
        append(8, MAX_BLOB_CHUNK_BYTES),
        &honest[MAX_BLOB_CHUNK_BYTES..],
    )
    .await;
    assert_eq!(next(&mut ws).await.0["ok"], honest.len());
    assert_eq!(blob_files(&hub), [format!(".partial-{}", claimed.digest.to_hex())]);

    // A binary prefix naming more bytes than the frame holds: the
    // connection is closed as a protocol error.
    let mut lying = encode_binary(&append(9, 0).to_string(), b"x");
    lying[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
    ws.send(Message::binary(lying)).await.unwrap();
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(closed.unwrap().code, CloseCode::Protocol);
    listener.stop().await;
}
