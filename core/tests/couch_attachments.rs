//! Attachments move only when missing, between Outpost's CouchDB client
//! and Outpost's CouchDB face over real HTTP on 127.0.0.1: an edit of a
//! document with a 1 MB photo moves the photo once each way, not again
//! (bytes counted on the client's wire), a changed photo moves, and an
//! empty attachment crosses both ways beside a normal one. The
//! same against express-pouchdb is in tests/interop/client.test.js.

mod common;

use common::net::{listener_config, users, PASSWORD, USER};
use common::{body_with, open};
use outpost_core::net::{ClientAuth, Listener, RemoteConfig};
use outpost_core::replication::{Direction, Replicator, ReplicatorConfig};
use outpost_core::{BlobRef, Database};

const PHOTO: usize = 1024 * 1024;

/// A body's bytes on the wire are far below the photo's.
const SMALL: u64 = 64 * 1024;

fn photo(seed: u8) -> Vec<u8> {
    (0..PHOTO)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Syncs `db` with the hub's face once; returns (bytes sent, bytes received).
async fn sync(db: &Database, listener: &Listener, direction: Direction) -> (u64, u64) {
    let url = listener.urls()[0].replacen("ws://", "http://", 1);
    let remote = RemoteConfig::new(url).with_auth(ClientAuth::basic(USER, PASSWORD));
    let config = ReplicatorConfig {
        direction,
        max_attempts: Some(1),
        ..Default::default()
    };
    let replicator = Replicator::remote(db.clone(), remote, config).unwrap();
    replicator.run().await.unwrap();
    let status = replicator.status();
    assert!(status.error.is_none(), "{:?}", status.error);
    (status.wire.sent, status.wire.received)
}

/// Saves `name` with `photo` over the current revision of `child-1`.
fn edit(db: &Database, name: &str, photo: &BlobRef) {
    let children = db.default_collection().unwrap();
    let current = children.get("child-1").unwrap().map(|d| d.rev);
    children
        .save("child-1", current.as_ref(), &body_with(name, photo))
        .unwrap();
}

fn body_of(db: &Database) -> (String, String) {
    let doc = db.default_collection().unwrap().get("child-1").unwrap().unwrap();
    (doc.rev.to_string(), doc.body)
}

fn photo_bytes(db: &Database, blob: &BlobRef) -> Vec<u8> {
    use std::io::Read;
    let mut bytes = Vec::new();
    db.default_collection()
        .unwrap()
        .blob(&blob.digest)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

/// A hub serving its CouchDB face on plain HTTP, and a phone, in `dir`.
async fn hub_and_phone(dir: &std::path::Path) -> (Database, Database, Listener) {
    let hub = open(dir, "hub.db");
    let phone = open(dir, "phone.db");
    let mut config = listener_config(users());
    config.disable_tls = true;
    let listener = Listener::start(hub.clone(), config).await.unwrap();
    (hub, phone, listener)
}

#[tokio::test]
async fn an_edit_of_a_document_with_a_photo_moves_the_photo_once_each_way() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone, listener) = hub_and_phone(dir.path()).await;
    let children = phone.default_collection().unwrap();
    let first = children.save_blob(&photo(1)[..], Some("image/jpeg")).unwrap();

    // The first push moves the photo.
    edit(&phone, "Amina", &first);
    let (sent, _) = sync(&phone, &listener, Direction::Push).await;
    assert!(sent > PHOTO as u64, "first push sent {sent}");

    // Two edits of the name, then a push: the photo stays home.
    edit(&phone, "Amina K.", &first);
    edit(&phone, "Amina Kamara", &first);
    let (sent, _) = sync(&phone, &listener, Direction::Push).await;
    assert!(sent < SMALL, "a push of a renamed document sent {sent} bytes");
    assert_eq!(body_of(&hub), body_of(&phone));
    assert_eq!(photo_bytes(&hub, &first), photo(1));

    // An edit on the hub, pulled: the photo is matched with the phone's.
    edit(&hub, "Amina Kamara (7)", &first);
    let (_, received) = sync(&phone, &listener, Direction::Pull).await;
    assert!(
        received < SMALL,
        "a pull of a renamed document received {received} bytes"
    );
    assert_eq!(body_of(&phone), body_of(&hub));

    // A new photo on the hub moves, and only it.
    let second = hub
        .default_collection()
        .unwrap()
        .save_blob(&photo(2)[..], Some("image/jpeg"))
        .unwrap();
    edit(&hub, "Amina Kamara (7)", &second);
    let (_, received) = sync(&phone, &listener, Direction::Pull).await;
    assert!(
        received > PHOTO as u64 && received < PHOTO as u64 * 3 / 2,
        "received {received}"
    );
    assert_eq!(body_of(&phone), body_of(&hub));
    assert_eq!(photo_bytes(&phone, &second), photo(2));

    // And a new photo on the phone moves to the hub.
    let third = children.save_blob(&photo(3)[..], Some("image/png")).unwrap();
    edit(&phone, "Amina", &third);
    let (sent, _) = sync(&phone, &listener, Direction::Push).await;
    assert!(sent > PHOTO as u64 && sent < PHOTO as u64 * 3 / 2, "sent {sent}");
    assert_eq!(body_of(&hub), body_of(&phone));
    assert_eq!(photo_bytes(&hub, &third), photo(3));
}

#[tokio::test]
async fn an_empty_attachment_crosses_the_couch_face_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone, listener) = hub_and_phone(dir.path()).await;
    let children = phone.default_collection().unwrap();
    let empty = children.save_blob(&b""[..], Some("text/plain")).unwrap();
    let normal = children.save_blob(&photo(4)[..1000], Some("image/jpeg")).unwrap();
    let body = serde_json::json!({"notes": empty.to_json(), "photo": normal.to_json()});
    children.save("child-1", None, &body.to_string()).unwrap();

    sync(&phone, &listener, Direction::Push).await;
    assert_eq!(body_of(&hub), body_of(&phone));
    assert!(photo_bytes(&hub, &empty).is_empty());
    assert_eq!(photo_bytes(&hub, &normal), photo(4)[..1000]);

    // Pulled from the face into a fresh replica.
    let other = open(dir.path(), "other.db");
    sync(&other, &listener, Direction::Pull).await;
    assert_eq!(body_of(&other), body_of(&hub));
    assert!(photo_bytes(&other, &empty).is_empty());
    assert_eq!(photo_bytes(&other, &normal), photo(4)[..1000]);
}
