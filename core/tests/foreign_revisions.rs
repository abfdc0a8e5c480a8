//! Foreign revisions (ids from CouchDB or PouchDB, not our hash) across
//! Outpost's own WebSocket protocol, over real listeners on 127.0.0.1 and
//! real SQLite files: they travel hub -> phone -> phone marked `foreign`,
//! unmarked forgeries are still refused, a marked one cannot alias a stored
//! id with other content, a peer without the feature never gets one, and a
//! foreign tombstone closes its branch instead of deleting the record.

mod common;

use std::time::Duration;

use common::net::{listener, listener_config, net_replicator, raw_websocket, remote, RawWs};
use common::open;
use futures_util::{SinkExt, StreamExt};
use outpost_core::net::protocol::FOREIGN_REVISIONS_FEATURE;
use outpost_core::net::{Listener, ListenerAuthenticator, RemoteEndpoint};
use outpost_core::replication::{Direction, Endpoint, InsertOutcome, LocalEndpoint, Revision};
use outpost_core::{Database, Error, ReplicationError, RevId};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// A CouchDB-style id: generation and 32 hex digits of someone else's hash.
fn couch_rev(generation: u64, seed: char) -> RevId {
    format!("{generation}-{}", seed.to_string().repeat(32)).parse().unwrap()
}

fn foreign(id: &str, history: Vec<RevId>, deleted: bool, body: &str) -> Revision {
    Revision {
        id: id.to_owned(),
        history,
        deleted,
        body: body.to_owned(),
        foreign: true,
        delta: None,
    }
}

/// Stores revisions as the CouchDB face and client do: unverified.
async fn store_foreign(db: &Database, revisions: Vec<Revision>) {
    let outcomes = LocalEndpoint::new(db.clone())
        .insert("_default", revisions)
        .await
        .unwrap();
    assert!(outcomes.iter().all(|o| matches!(o.result, Ok(true))), "{outcomes:?}");
}

async fn pull(phone: &Database, hub: &Listener) {
    net_replicator(phone, hub, Direction::Pull, false)
        .run()
        .await
        .expect("pull");
}

/// A live record from PouchDB (generation 2).
fn amina() -> Vec<Revision> {
    vec![foreign(
        "child-1",
        vec![couch_rev(2, 'b'), couch_rev(1, 'a')],
        false,
        r#"{"name":"Amina"}"#,
    )]
}

fn leaf_is_foreign(db: &Database, id: &str, rev: &RevId) -> bool {
    let tree = db.default_collection().unwrap().revision_tree(id).unwrap().unwrap();
    tree.get(rev).expect("revision stored").foreign
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_revision_travels_hub_to_phone_to_phone() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone, other, second_hub) = (
        open(dir.path(), "hub.db"),
        open(dir.path(), "phone.db"),
        open(dir.path(), "other.db"),
        open(dir.path(), "second_hub.db"),
    );
    store_foreign(&hub, amina()).await;
    let hub_listener = listener(&hub).await;
    pull(&phone, &hub_listener).await;
    let phone_listener = listener(&phone).await;
    pull(&other, &phone_listener).await;
    // And by push: the phone sends it, marked, to another hub.
    let second_listener = listener(&second_hub).await;
    net_replicator(&phone, &second_listener, Direction::Push, false)
        .run()
        .await
        .expect("push");
    for db in [&phone, &other, &second_hub] {
        let doc = db
            .default_collection()
            .unwrap()
            .get("child-1")
            .unwrap()
            .expect("arrived");
        assert_eq!(doc.rev, couch_rev(2, 'b'));
        assert_eq!(doc.body, r#"{"name":"Amina"}"#);
        assert!(leaf_is_foreign(db, "child-1", &couch_rev(2, 'b')), "still marked");
    }
}

/// PouchDB's resolution: two live branches, the loser closed by a plain
/// tombstone. The phone must keep the record alive, as PouchDB does, and
/// write no deletion of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_tombstone_closes_its_branch_and_the_record_stays_alive() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let (root, kept, lost, closed) = (
        couch_rev(1, 'a'),
        couch_rev(2, 'b'),
        couch_rev(2, 'c'),
        couch_rev(3, 'd'),
    );
    store_foreign(
        &hub,
        vec![
            foreign(
                "child-1",
                vec![kept.clone(), root.clone()],
                false,
                r#"{"name":"Amina"}"#,
            ),
            foreign(
                "child-1",
                vec![lost.clone(), root.clone()],
                false,
                r#"{"name":"Amyna"}"#,
            ),
            foreign("child-1", vec![closed.clone(), lost.clone(), root], true, "{}"),
        ],
    )
    .await;
    let hub_listener = listener(&hub).await;
    pull(&phone, &hub_listener).await;
    for db in [&hub, &phone] {
        let c = db.default_collection().unwrap();
        let doc = c.get("child-1").unwrap().expect("alive");
        assert_eq!(
            (doc.rev.clone(), doc.body.as_str()),
            (kept.clone(), r#"{"name":"Amina"}"#)
        );
        let tree = c.revision_tree("child-1").unwrap().unwrap();
        assert_eq!(tree.leaves().len(), 2, "no deletion or resolution written");
        assert_eq!(tree.open_leaves().len(), 1, "the foreign tombstone closed its branch");
    }
}

/// A hostile authenticated peer offering the feature.
async fn attack(listener: &Listener, revisions: Vec<Revision>) -> Vec<InsertOutcome> {
    let mallory = RemoteEndpoint::new(remote(listener), "mallory", true).expect("endpoint");
    let outcomes = mallory.insert("_default", revisions).await.expect("answered");
    mallory.close().await;
    outcomes
}

fn assert_forgery_refused(outcome: &InsertOutcome) {
    match &outcome.result {
        Err(Error::Replication(ReplicationError::Refused { message, .. })) => {
            assert!(message.contains("does not match its content"), "{message}");
        }
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmarked_forgeries_and_marked_aliases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(dir.path(), "hub.db");
    let c = hub.default_collection().unwrap();
    let honest = c.save("child-1", None, r#"{"name":"Amina"}"#).unwrap();
    let hub_listener = listener(&hub).await;
    let mut unmarked = foreign("child-2", vec![couch_rev(1, 'e')], false, r#"{"name":"x"}"#);
    unmarked.foreign = false;
    let alias = foreign("child-1", vec![honest.clone()], false, r#"{"name":"Mallory"}"#);
    let outcomes = attack(&hub_listener, vec![unmarked, alias]).await;
    assert_forgery_refused(&outcomes[0]);
    assert_forgery_refused(&outcomes[1]);
    assert!(c.get("child-2").unwrap().is_none());
    let doc = c.get("child-1").unwrap().unwrap();
    assert_eq!((doc.rev, doc.body.as_str()), (honest.clone(), r#"{"name":"Amina"}"#));
    assert!(!leaf_is_foreign(&hub, "child-1", &honest));
}

/// A peer after the handshake, offering `features`.
async fn raw_peer(listener: &Listener, features: &[&str]) -> RawWs {
    let mut ws = raw_websocket(listener).await;
    let hello =
        json!({"id": 0, "req": {"hello": {"protocol": 1, "min_protocol": 1, "uuid": "raw", "features": features}}});
    ws.send(Message::text(hello.to_string())).await.unwrap();
    let ack = request_reply(&mut ws).await;
    assert!(ack["ok"].is_object(), "{ack}");
    ws
}

async fn request_reply(ws: &mut RawWs) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a frame in time")
            .expect("the connection is open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

async fn ask(ws: &mut RawWs, id: u64, req: Value) -> Value {
    ws.send(Message::text(json!({"id": id, "req": req}).to_string()))
        .await
        .unwrap();
    request_reply(ws).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_the_feature_never_gets_or_stores_a_foreign_revision() {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(dir.path(), "hub.db");
    store_foreign(&hub, amina()).await;
    let mut cfg = listener_config(ListenerAuthenticator::Anonymous);
    cfg.disable_tls = true;
    let plain = Listener::start(hub.clone(), cfg).await.unwrap();
    let fetch = json!({"fetch": {"collection": "_default", "wanted": [["child-1", couch_rev(2, 'b').to_string()]],
        "max_history": 10, "max_bytes": 100_000}});

    let mut old = raw_peer(&plain, &["long_poll", "blobs"]).await;
    let reply = ask(&mut old, 1, fetch.clone()).await;
    assert_eq!(reply["ok"]["consumed"], 1, "{reply}");
    assert_eq!(reply["ok"]["revisions"], json!([]), "left out for an old peer");
    // Its `foreign` mark is ignored: the id is verified, and refused.
    let insert = json!({"insert": {"collection": "_default", "revisions": [
        {"id": "child-9", "history": [couch_rev(1, 'f').to_string()], "body": {"n": 1}, "foreign": true}]}});
    let reply = ask(&mut old, 2, insert).await;
    assert!(reply["ok"][0]["err"].is_object(), "{reply}");
    assert!(hub.default_collection().unwrap().get("child-9").unwrap().is_none());

    let mut new = raw_peer(&plain, &[FOREIGN_REVISIONS_FEATURE]).await;
    let reply = ask(&mut new, 1, fetch).await;
    assert_eq!(reply["ok"]["revisions"][0]["foreign"], true, "{reply}");

    // Without the mark (what an old build would do with it), the foreign
    // id fails verification and nothing is stored.
    let phone = open(dir.path(), "phone.db");
    let outcomes = LocalEndpoint::new(phone.clone())
        .insert("_default", {
            let mut r = amina();
            r[0].foreign = false;
            r
        })
        .await
        .unwrap();
    assert!(outcomes[0].result.is_err(), "unmarked, the foreign id is refused");
    assert!(phone.default_collection().unwrap().get("child-1").unwrap().is_none());
}
