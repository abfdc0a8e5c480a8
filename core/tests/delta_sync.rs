//! Issue 17, moving fewer bytes over slow camp links: compressed frames
//! (feature `deflate`) shrink what crosses the wire, and a compression
//! bomb closes only its own connection, cleanly, with nothing stored.

mod common;

use std::io::Write;
use std::time::Duration;

use common::net::{listener, listener_config, net_replicator, raw_websocket};
use common::open;
use futures_util::{SinkExt, StreamExt};
use outpost_core::net::protocol::COMPRESSED_FRAME_TAG;
use outpost_core::net::{Listener, ListenerAuthenticator};
use outpost_core::replication::{Direction, Replicator};
use outpost_core::tuning::MAX_FRAME_BYTES;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

const DOCS: usize = 40;

/// A registration of about 4 KB whose text repeats, as real forms do.
fn registration(i: usize) -> String {
    let notes = format!("found near water point {i}, speaks Dinka and some Arabic; ").repeat(60);
    format!(r#"{{"name":"child {i}","camp":"Zone B","notes":"{notes}"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_frames_cut_the_bytes_on_the_wire_and_bodies_arrive_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone, tablet) = (
        open(dir.path(), "hub.db"),
        open(dir.path(), "phone.db"),
        open(dir.path(), "tablet.db"),
    );
    let listener = listener(&hub).await;
    let c = phone.default_collection().unwrap();
    let mut bodies = 0;
    for i in 0..DOCS {
        let body = registration(i);
        bodies += body.len() as u64;
        c.save(&format!("child-{i}"), None, &body).unwrap();
    }

    let push = net_replicator(&phone, &listener, Direction::Push, false);
    push.run().await.unwrap();
    let pushed = push.status().wire;
    assert!(pushed.sent < bodies / 5, "{pushed:?} for {bodies} bytes of bodies");

    let pull = net_replicator(&tablet, &listener, Direction::Pull, false);
    pull.run().await.unwrap();
    let pulled = pull.status().wire;
    assert!(pulled.received < bodies / 5, "{pulled:?} for {bodies} bytes of bodies");
    for i in 0..DOCS {
        let doc = tablet
            .default_collection()
            .unwrap()
            .get(&format!("child-{i}"))
            .unwrap()
            .unwrap();
        let want: serde_json::Value = serde_json::from_str(&registration(i)).unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&doc.body).unwrap(), want);
    }

    // A replicator that does not offer the feature gets every frame as it
    // is: the same pull moves all the bodies' bytes.
    let laptop = open(dir.path(), "laptop.db");
    let remote = common::net::remote(&listener).with_compression(false);
    let plain = Replicator::remote(laptop.clone(), remote, common::net::config(Direction::Pull, false)).unwrap();
    plain.run().await.unwrap();
    assert!(plain.status().wire.received > bodies, "{:?}", plain.status().wire);
    common::assert_same(&laptop, &tablet);
    listener.stop().await;
}

/// Raw DEFLATE of `bytes` behind the compressed-frame tag.
fn compressed(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![COMPRESSED_FRAME_TAG];
    let mut encoder = flate2::write::DeflateEncoder::new(&mut out, flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap();
    out
}

/// A raw peer on `listener` that has said hello, offering `features`.
async fn raw_peer(listener: &Listener, features: &str) -> common::net::RawWs {
    let mut ws = raw_websocket(listener).await;
    let hello = format!(
        r#"{{"id":0,"req":{{"hello":{{"protocol":1,"min_protocol":1,"uuid":"raw","features":[{features}]}}}}}}"#
    );
    ws.send(Message::text(hello)).await.unwrap();
    ws
}

/// Reads until the listener closes the connection; returns its close code.
async fn close_code(ws: &mut common::net::RawWs) -> Option<CloseCode> {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("the listener answers in time");
        match next {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compression_bomb_closes_its_connection_and_the_listener_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(dir.path(), "hub.db");
    hub.default_collection()
        .unwrap()
        .save("kept", None, r#"{"name":"Amina"}"#)
        .unwrap();
    let mut config = listener_config(ListenerAuthenticator::Anonymous);
    config.disable_tls = true;
    let listener = Listener::start(hub.clone(), config).await.unwrap();

    // An insert request padded with spaces to one byte past the frame
    // limit: a few kilobytes compressed.
    let request = r#"{"id":1,"req":{"insert":{"collection":"_default","revisions":[{"id":"bomb","history":["1-00"],"body":{}}]}}}"#;
    let mut bomb = request.as_bytes().to_vec();
    bomb.resize(MAX_FRAME_BYTES + 1, b' ');
    let bomb = compressed(&bomb);
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());

    let mut ws = raw_peer(&listener, r#""deflate""#).await;
    ws.send(Message::binary(bomb)).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Size));

    // A peer that did not offer the feature may not send compressed
    // frames at all, even small ones.
    let mut ws = raw_peer(&listener, "").await;
    ws.send(Message::binary(compressed(request.as_bytes()))).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Protocol));

    // Nothing of either was stored, and the listener serves on.
    let c = hub.default_collection().unwrap();
    assert!(c.get("bomb").unwrap().is_none());
    assert_eq!(c.count().unwrap(), 1);
    let phone = open(dir.path(), "phone.db");
    let remote = outpost_core::net::RemoteConfig::new(listener.urls()[0].clone());
    Replicator::remote(phone.clone(), remote, common::net::config(Direction::Pull, false))
        .unwrap()
        .run()
        .await
        .unwrap();
    assert!(phone.default_collection().unwrap().get("kept").unwrap().is_some());
    listener.stop().await;
}
