//! Configured servers run by a `ReplicationManager` against a real
//! listener on 127.0.0.1: without named collections every collection the
//! server serves is replicated, asked again at each connection, and an
//! unreachable server is `offline` with its next retry time.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::net::{listener_config, users, PASSWORD, USER};
use common::open;
use outpost_core::hub::{ReplicationManager, ServerConfig, ServerState, ServerStatus};
use outpost_core::net::{FileKeyStore, Listener};
use outpost_core::Database;

/// A hub's manager, its keys in `dir`.
fn manager(dir: &std::path::Path, db: &Database) -> ReplicationManager {
    ReplicationManager::open(db, Arc::new(FileKeyStore::new(dir.join("keys")))).unwrap()
}

/// Waits (up to 60 s, woken by each status written) until `check` holds
/// of the statuses of `db`; returns them.
async fn wait_statuses(
    manager: &ReplicationManager,
    db: &Database,
    mut check: impl FnMut(&[ServerStatus]) -> bool,
) -> Vec<ServerStatus> {
    let mut written = manager.subscribe();
    let wait = async {
        loop {
            let statuses = ReplicationManager::statuses(db).unwrap();
            if check(&statuses) {
                return statuses;
            }
            written.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .expect("statuses reached in time")
}

/// Waits (up to 60 s) until `id` is in the collection `collection` of `db`.
async fn wait_for_doc(db: &Database, collection: &str, id: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let found = db
            .collection(collection)
            .ok()
            .and_then(|c| c.get(id).ok().flatten())
            .is_some();
        if found {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never reached {collection}"
        );
        // Polls a condition (a document written by another task): no event
        // says "this document arrived" across collections the test did not
        // know about when it started.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts a listener without TLS on `port` (0: any) serving `collections` of `db`.
async fn serve(db: &Database, collections: &[&str], port: u16) -> Listener {
    let mut config = listener_config(users());
    config.disable_tls = true;
    config.port = port;
    config.collections = collections.iter().map(|c| (*c).to_owned()).collect();
    Listener::start(db.clone(), config).await.unwrap()
}

#[tokio::test]
async fn without_named_collections_every_served_collection_replicates_asked_at_each_connection() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "camp-a.db");
    let b = open(dir.path(), "camp-b.db");
    for (collection, id) in [("_default", "d-1"), ("children", "child-1"), ("families", "family-1")] {
        a.create_collection(collection)
            .unwrap()
            .save(id, None, r#"{"from":"a"}"#)
            .unwrap();
    }
    let listener = serve(&a, &["_default", "children", "families"], 0).await;
    let port = listener.port();

    let hub = manager(dir.path(), &b);
    let camp_a = ServerConfig::new("camp-a", listener.urls()[0].as_str(), USER);
    assert!(camp_a.collections.is_empty());
    hub.add(&camp_a, PASSWORD).unwrap();
    hub.start().unwrap();
    for (collection, id) in [("_default", "d-1"), ("children", "child-1"), ("families", "family-1")] {
        wait_for_doc(&b, collection, id).await;
    }
    // Both ways: a document written on B in a served collection reaches A.
    b.collection("children")
        .unwrap()
        .save("child-b", None, r#"{"from":"b"}"#)
        .unwrap();
    wait_for_doc(&a, "children", "child-b").await;

    // Camp A starts serving one more collection: B asks again when it
    // reconnects, and replicates it too.
    listener.stop().await;
    a.create_collection("photos")
        .unwrap()
        .save("photo-1", None, r#"{"from":"a"}"#)
        .unwrap();
    let again = serve(&a, &["_default", "children", "families", "photos"], port).await;
    wait_for_doc(&b, "photos", "photo-1").await;
    wait_statuses(&hub, &b, |s| s.len() == 1 && s[0].state == ServerState::Idle).await;
    hub.stop().await;
    again.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_is_offline_with_its_next_retry_time() {
    let dir = tempfile::tempdir().unwrap();
    let b = open(dir.path(), "camp-b.db");
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hub = manager(dir.path(), &b);
    let nowhere = ServerConfig::new("camp-a", format!("ws://127.0.0.1:{port}/camp"), USER);
    hub.add(&nowhere, PASSWORD).unwrap();
    hub.start().unwrap();
    let offline = wait_statuses(&hub, &b, |s| s.len() == 1 && s[0].state == ServerState::Offline).await;
    let status = &offline[0];
    let retry = status.next_retry.expect("an offline server shows its next retry");
    assert!(retry >= status.state_time, "{status:?}");
    assert!(status.error.is_some(), "{status:?}");
    hub.stop().await;
    let stopped = ReplicationManager::statuses(&b).unwrap();
    assert_eq!(stopped[0].state, ServerState::Stopped);
    assert_eq!(stopped[0].next_retry, None);
}
