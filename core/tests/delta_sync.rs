//! Issue 17, moving fewer bytes over slow camp links: compressed frames
//! (feature `deflate`) shrink what crosses the wire, and a compression
//! bomb closes only its own connection, cleanly, with nothing stored;
//! delta sync (feature `delta_sync`) sends an edit as its changes, and a
//! damaged delta is caught by the revision id and repaired by a full
//! fetch, in both directions.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::forwarding::{EndpointHooks, Forwarding};
use common::net::{listener, listener_config, net_replicator, raw_websocket};
use common::{leaves, open};
use futures_util::{SinkExt, StreamExt};
use outpost_core::net::protocol::COMPRESSED_FRAME_TAG;
use outpost_core::net::{Listener, ListenerAuthenticator, RemoteEndpoint};
use outpost_core::replication::{
    Direction, Endpoint, FetchedBatch, InsertOutcome, LocalEndpoint, Replicator, Revision,
};
use outpost_core::tuning::MAX_FRAME_BYTES;
use outpost_core::{Database, Result, RevId};
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

/// Changes one field of every registration, a revision each.
fn edit_all(db: &outpost_core::Database, round: usize) {
    let c = db.default_collection().unwrap();
    for i in 0..DOCS {
        let id = format!("child-{i}");
        let doc = c.get(&id).unwrap().unwrap();
        let mut body: serde_json::Value = serde_json::from_str(&doc.body).unwrap();
        body["camp"] = serde_json::Value::String(format!("zone {round}"));
        c.save(&id, Some(&doc.rev), &body.to_string()).unwrap();
    }
}

/// A registration of about 4 KB whose notes do not repeat (hex digits of
/// a per-document sequence), so compression alone cannot shrink it much.
fn distinct_registration(i: usize) -> String {
    let mut x = i as u64 + 1;
    let notes: String = (0..250)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            format!("{:016x}", x >> 1)
        })
        .collect();
    format!(r#"{{"name":"child {i}","camp":"Zone B","notes":"{notes}"}}"#)
}

/// A hub (its listener allowing delta sync), a phone holding [`DOCS`]
/// registrations made by `body`, and an empty tablet, in `dir`.
async fn camp(dir: &std::path::Path, body: fn(usize) -> String) -> (Database, Database, Database, Listener) {
    let (hub, phone, tablet) = (open(dir, "hub.db"), open(dir, "phone.db"), open(dir, "tablet.db"));
    let mut config = listener_config(common::net::users());
    config.delta_sync = true;
    let listener = Listener::start(hub.clone(), config).await.unwrap();
    let c = phone.default_collection().unwrap();
    for i in 0..DOCS {
        c.save(&format!("child-{i}"), None, &body(i)).unwrap();
    }
    (hub, phone, tablet, listener)
}

/// Pushes the registrations to a fresh hub (and a tablet pulls them),
/// edits one field of each, pushes and pulls again, and returns the bytes
/// the second push sent and the second pull received on the wire.
async fn second_sync_bytes(delta_sync: bool) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone, tablet, listener) = camp(dir.path(), distinct_registration).await;
    let mut config = common::net::config(Direction::Push, false);
    config.delta_sync = delta_sync;
    let push = Replicator::remote(phone.clone(), common::net::remote(&listener), config.clone()).unwrap();
    config.direction = Direction::Pull;
    let pull = Replicator::remote(tablet.clone(), common::net::remote(&listener), config).unwrap();
    push.run().await.unwrap();
    pull.run().await.unwrap();
    edit_all(&phone, 1);
    let before = (push.status().wire.total(), pull.status().wire.total());
    push.run().await.unwrap();
    pull.run().await.unwrap();
    let bytes = (
        push.status().wire.total() - before.0,
        pull.status().wire.total() - before.1,
    );
    common::assert_same(&phone, &hub);
    common::assert_same(&tablet, &hub);
    listener.stop().await;
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_sync_sends_an_edit_as_its_changes() {
    let (full_push, full_pull) = second_sync_bytes(false).await;
    let (delta_push, delta_pull) = second_sync_bytes(true).await;
    // Compressed frames are on in both: the saving is delta sync's (the
    // TLS handshake of the new connection is in both figures).
    assert!(
        delta_push * 3 < full_push,
        "push: {delta_push} bytes with delta sync, {full_push} without"
    );
    assert!(
        delta_pull * 3 < full_pull,
        "pull: {delta_pull} bytes with delta sync, {full_pull} without"
    );
}

/// Fault injection on a real endpoint: every delta crossing it has one bit
/// of its patch flipped, as a damaged link or a hostile peer would deliver
/// it. Counts what it damaged and the full bodies that followed.
#[derive(Default)]
struct Flipping {
    flipped: AtomicUsize,
    full_fetches: AtomicUsize,
}

impl Flipping {
    /// `inner` with every delta crossing it damaged.
    fn wrap(inner: Arc<dyn Endpoint>) -> Arc<Forwarding<Flipping>> {
        Forwarding::new(inner, Flipping::default())
    }

    /// Flips the lowest bit of the last lowercase letter of the patch (in
    /// the changed string's value), which keeps it JSON.
    fn flip(&self, r: &mut Revision) {
        let Some(delta) = &mut r.delta else { return };
        let mut bytes = std::mem::take(&mut delta.patch).into_bytes();
        if let Some(at) = bytes.iter().rposition(u8::is_ascii_lowercase) {
            bytes[at] ^= 1;
            self.flipped.fetch_add(1, Ordering::Relaxed);
        }
        delta.patch = String::from_utf8(bytes).unwrap();
    }
}

#[async_trait::async_trait]
impl EndpointHooks for Flipping {
    async fn fetch(
        &self,
        inner: &dyn Endpoint,
        c: &str,
        wanted: &[(String, RevId)],
        max_history: usize,
        max_bytes: usize,
    ) -> Result<FetchedBatch> {
        self.full_fetches.fetch_add(wanted.len().min(1), Ordering::Relaxed);
        inner.fetch(c, wanted, max_history, max_bytes).await
    }
    async fn fetch_deltas(
        &self,
        inner: &dyn Endpoint,
        c: &str,
        wanted: &[(String, RevId)],
        bases: &[Vec<RevId>],
        max_history: usize,
        max_bytes: usize,
    ) -> Result<FetchedBatch> {
        let mut batch = inner.fetch_deltas(c, wanted, bases, max_history, max_bytes).await?;
        for r in &mut batch.revisions {
            if r.delta.is_some() {
                // As it arrives over the wire: the delta without the body.
                r.body.clear();
                self.flip(r);
            }
        }
        Ok(batch)
    }
    async fn insert(&self, inner: &dyn Endpoint, c: &str, mut revisions: Vec<Revision>) -> Result<Vec<InsertOutcome>> {
        if revisions.iter().all(|r| r.delta.is_none()) {
            self.full_fetches.fetch_add(1, Ordering::Relaxed);
        }
        revisions.iter_mut().for_each(|r| self.flip(r));
        inner.insert(c, revisions).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_delta_is_caught_by_the_revision_id_and_replaced_by_the_full_body() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone, tablet, listener) = camp(dir.path(), registration).await;
    let mut delta_config = common::net::config(Direction::Push, false);
    delta_config.delta_sync = true;

    // Push over the wire: the listener gets each edit as a damaged delta,
    // refuses it (delta_mismatch), and the full body follows.
    let remote = RemoteEndpoint::new(common::net::remote(&listener), phone.uuid(), true).unwrap();
    let push = Flipping::wrap(Arc::new(remote));
    let pusher = Replicator::new(phone.clone(), push.clone(), delta_config.clone()).unwrap();
    pusher.run().await.unwrap();
    edit_all(&phone, 1);
    pusher.run().await.unwrap();
    assert_eq!(
        push.hooks.flipped.load(Ordering::Relaxed),
        DOCS,
        "every edit crossed as a delta"
    );
    assert!(push.hooks.full_fetches.load(Ordering::Relaxed) >= 1);
    assert_eq!(
        leaves(&hub),
        leaves(&phone),
        "the hub stored exactly the phone's revisions"
    );

    // Pull: the tablet holds the first revisions, gets each edit as a
    // damaged delta, finds it does not hash to its revision id, and
    // fetches the full body.
    let pull = Flipping::wrap(Arc::new(LocalEndpoint::new(hub.clone())));
    delta_config.direction = Direction::Pull;
    let puller = Replicator::new(tablet.clone(), pull.clone(), delta_config).unwrap();
    puller.run().await.unwrap();
    edit_all(&phone, 2);
    pusher.run().await.unwrap();
    let before = pull.hooks.full_fetches.load(Ordering::Relaxed);
    puller.run().await.unwrap();
    assert_eq!(
        pull.hooks.flipped.load(Ordering::Relaxed),
        DOCS,
        "every edit came as a delta"
    );
    assert!(pull.hooks.full_fetches.load(Ordering::Relaxed) > before);
    assert_eq!(
        leaves(&tablet),
        leaves(&hub),
        "the tablet stored exactly the hub's revisions"
    );
    common::assert_same(&tablet, &phone);
    listener.stop().await;
}
