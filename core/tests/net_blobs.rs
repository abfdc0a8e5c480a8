//! Blobs over the WebSocket protocol, on a real TLS listener on 127.0.0.1:
//! push and pull move only the blobs the other side lacks; a transfer cut
//! midway resumes from the bytes received; an empty blob crosses both ways;
//! bytes that do not match their
//! digest are refused and only their document fails; a read-only listener
//! refuses blob writes; a blob named only in an unserved collection cannot
//! be read; oversize chunks are refused; and the checkpoint never passes a
//! document held back because a peer could not move its blob.

mod common;

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::forwarding::{EndpointHooks, Forwarding};
use common::net::{config, listener, listener_config, remote, users};
use common::{blob_files, body_with, open};
use outpost_core::net::{Listener, RemoteEndpoint};
use outpost_core::replication::{DocumentEvent, Endpoint, LocalEndpoint, Replicator};
use outpost_core::tuning::MAX_BLOB_CHUNK_BYTES;
use outpost_core::{BlobDigest, BlobError, BlobRef, Collection, Database, Error, ReplicationError, Result};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use outpost_core::replication::Direction;

/// Pseudo-random bytes, quick to make in any size.
fn photo(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn save_with_photo(c: &Collection, id: &str, bytes: &[u8]) -> BlobRef {
    let blob = c.save_blob(bytes, Some("image/jpeg")).unwrap();
    c.save(id, None, &body_with(id, &blob)).unwrap();
    blob
}

fn blob_bytes(c: &Collection, digest: &BlobDigest) -> Vec<u8> {
    let mut out = Vec::new();
    c.blob(digest).unwrap().read_to_end(&mut out).unwrap();
    out
}

/// Bytes of the partly received blobs of a database (every file not named
/// by a digest).
fn partial_bytes(db: &Database) -> u64 {
    std::fs::read_dir(db.blob_dir())
        .map(|entries| {
            entries
                .map(|e| e.unwrap())
                .filter(|e| {
                    let name = e.file_name().into_string().unwrap();
                    !(name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
                })
                .map(|e| e.metadata().unwrap().len())
                .sum()
        })
        .unwrap_or(0)
}

fn endpoint(db: &Database, listener: &Listener, pushes: bool) -> Arc<RemoteEndpoint> {
    Arc::new(RemoteEndpoint::new(remote(listener), db.uuid(), pushes).unwrap())
}

/// Runs a one-shot replication over `remote`; returns the documents' errors.
async fn run(local: &Database, remote: Arc<dyn Endpoint>, direction: Direction) -> Vec<(String, Error)> {
    let r = Replicator::new(local.clone(), remote, config(direction, false)).unwrap();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let sink = errors.clone();
    let _token = r.add_document_listener(move |events: &[DocumentEvent]| {
        sink.lock().unwrap().extend(
            events
                .iter()
                .filter_map(|e| e.error.clone().map(|err| (e.id.clone(), err))),
        )
    });
    r.run().await.unwrap();
    let errors = errors.lock().unwrap().clone();
    errors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_and_pull_over_tls_move_only_the_missing_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let listener = listener(&hub).await;
    let (cp, ch) = (phone.default_collection().unwrap(), hub.default_collection().unwrap());
    // One photo on two records (sent once), one the hub has already (not
    // sent), one of several chunks.
    let shared = photo(1, 300_000);
    let known = photo(2, 200_000);
    let big = photo(3, 2 * MAX_BLOB_CHUNK_BYTES + 12_345);
    let a = save_with_photo(&cp, "amina", &shared);
    save_with_photo(&cp, "amina-sister", &shared);
    save_with_photo(&cp, "omar", &known);
    let b = save_with_photo(&cp, "sara", &big);
    cp.save("plain", None, r#"{"name":"Lina"}"#).unwrap();
    save_with_photo(&ch, "hub-has-omars-photo", &known);

    let push = endpoint(&phone, &listener, true);
    let errors = run(&phone, push.clone(), Direction::Push).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        push.blob_bytes_sent(),
        (shared.len() + big.len()) as u64,
        "each missing blob crossed once; the one the hub had did not"
    );
    for id in ["amina", "amina-sister", "omar", "sara", "plain"] {
        assert!(ch.get(id).unwrap().is_some(), "{id} reached the hub");
    }
    assert_eq!(blob_bytes(&ch, &a.digest), shared);
    assert_eq!(blob_bytes(&ch, &b.digest), big);

    // A photo added on the hub comes back by pull; nothing else crosses.
    let fresh = photo(4, MAX_BLOB_CHUNK_BYTES + 1);
    let f = save_with_photo(&ch, "hub-new", &fresh);
    let pull = endpoint(&phone, &listener, false);
    let errors = run(&phone, pull.clone(), Direction::Pull).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(pull.blob_bytes_received(), fresh.len() as u64);
    assert_eq!(pull.blob_bytes_sent(), 0);
    assert_eq!(blob_bytes(&cp, &f.digest), fresh);
    common::assert_same(&hub, &phone);
    // Pulling again moves nothing.
    let again = endpoint(&phone, &listener, false);
    run(&phone, again.clone(), Direction::Pull).await;
    assert_eq!(again.blob_bytes_received(), 0);
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_blob_crosses_the_tls_listener_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let listener = listener(&hub).await;
    let (cp, ch) = (phone.default_collection().unwrap(), hub.default_collection().unwrap());
    let empty = save_with_photo(&cp, "empty-notes", b"");
    let normal = photo(5, 40_000);
    let n = save_with_photo(&cp, "photo", &normal);

    let push = endpoint(&phone, &listener, true);
    let errors = run(&phone, push.clone(), Direction::Push).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(push.blob_bytes_sent(), normal.len() as u64);
    assert!(ch.get("empty-notes").unwrap().is_some());
    assert!(blob_bytes(&ch, &empty.digest).is_empty());
    assert_eq!(blob_bytes(&ch, &n.digest), normal);

    // Pulled into a fresh replica, and nothing is offered again after.
    let other = open(dir.path(), "other.db");
    let pull = endpoint(&other, &listener, false);
    let errors = run(&other, pull.clone(), Direction::Pull).await;
    assert!(errors.is_empty(), "{errors:?}");
    let co = other.default_collection().unwrap();
    assert!(blob_bytes(&co, &empty.digest).is_empty());
    common::assert_same(&hub, &other);
    let again = endpoint(&other, &listener, false);
    let errors = run(&other, again.clone(), Direction::Pull).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(again.blob_bytes_received(), 0);
    listener.stop().await;
}

/// Hooks on a real remote endpoint that, at its `cut_at`-th blob chunk,
/// tell the test to cut the connection (the test stops the listener).
struct CutMidway {
    chunks: AtomicUsize,
    cut_at: usize,
    cut: Mutex<Option<oneshot::Sender<()>>>,
}

#[async_trait]
impl EndpointHooks for CutMidway {
    async fn read_blob(&self, inner: &dyn Endpoint, digest: &BlobDigest, offset: u64, max: usize) -> Result<Vec<u8>> {
        if self.chunks.fetch_add(1, Ordering::SeqCst) + 1 >= self.cut_at {
            if let Some(cut) = self.cut.lock().unwrap().take() {
                let _ = cut.send(());
            }
            // Cut: this chunk and every later one fail as a lost connection.
            inner.close().await;
            return Err(ReplicationError::Unreachable("the connection was cut".into()).into());
        }
        inner.read_blob(digest, offset, max).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_cut_midway_resumes_from_the_bytes_received() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let ch = hub.default_collection().unwrap();
    let size = 24 * MAX_BLOB_CHUNK_BYTES + 777;
    let big = photo(7, size);
    let blob = save_with_photo(&ch, "video-statement", &big);
    drop(big);

    // First run: the listener goes away after 10 chunks.
    let first = listener(&hub).await;
    let (tx, rx) = oneshot::channel();
    let remote = endpoint(&phone, &first, false);
    let cutting = Forwarding::new(
        remote.clone(),
        CutMidway {
            chunks: AtomicUsize::new(0),
            cut_at: 11,
            cut: Mutex::new(Some(tx)),
        },
    );
    let r = Replicator::new(phone.clone(), cutting, config(Direction::Pull, false)).unwrap();
    let running = {
        let r = r.clone();
        tokio::spawn(async move { r.run().await })
    };
    rx.await.unwrap();
    r.stop();
    first.stop().await;
    let _ = running.await.unwrap();
    let received_first = remote.blob_bytes_received();
    assert_eq!(received_first, 10 * MAX_BLOB_CHUNK_BYTES as u64);
    let cp = phone.default_collection().unwrap();
    assert!(
        cp.get("video-statement").unwrap().is_none(),
        "not stored without its blob"
    );
    assert!(cp.blob(&blob.digest).is_err(), "a partial blob is not visible");
    let kept = partial_bytes(&phone);
    assert_eq!(kept, received_first, "what was received is kept");

    // Second run, on a new listener: only the rest crosses.
    let second = listener(&hub).await;
    let resumed = endpoint(&phone, &second, false);
    let errors = run(&phone, resumed.clone(), Direction::Pull).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(resumed.blob_bytes_received(), size as u64 - kept);
    assert!(resumed.blob_bytes_received() < size as u64);
    assert_eq!(blob_bytes(&cp, &blob.digest), photo(7, size));
    assert!(cp.get("video-statement").unwrap().is_some());
    assert_eq!(partial_bytes(&phone), 0);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_do_not_match_the_digest_are_refused_and_the_others_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let listener = listener(&hub).await;

    // A peer that sends forged bytes for a digest: refused at the end,
    // nothing visible.
    let direct = endpoint(&phone, &listener, true);
    let mut forged = photo(9, MAX_BLOB_CHUNK_BYTES + 10);
    let claimed = BlobRef {
        digest: BlobDigest::of_bytes(&forged),
        length: forged.len() as u64,
        content_type: None,
    };
    forged[5] ^= 1;
    assert_eq!(direct.blob_receive_offset(&claimed).await.unwrap(), 0);
    let held = direct
        .append_blob(&claimed, 0, forged[..MAX_BLOB_CHUNK_BYTES].to_vec())
        .await
        .unwrap();
    assert_eq!(held, MAX_BLOB_CHUNK_BYTES as u64);
    let e = direct
        .append_blob(&claimed, held, forged[MAX_BLOB_CHUNK_BYTES..].to_vec())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Blob(BlobError::DigestMismatch { .. })), "{e:?}");
    assert_eq!(
        direct.missing_blobs(vec![claimed.clone()]).await.unwrap(),
        std::slice::from_ref(&claimed)
    );
    assert!(blob_files(&hub).is_empty(), "{:?}", blob_files(&hub));
    // A revision naming it is refused: the blob is not there.
    let ch = hub.default_collection().unwrap();
    assert!(ch.blob(&claimed.digest).is_err());

    // A phone whose blob file was damaged on disk: its bytes no longer match
    // the digest. The hub refuses that document; the others sync.
    let cp = phone.default_collection().unwrap();
    let good = photo(10, 50_000);
    save_with_photo(&cp, "good", &good);
    let damaged = save_with_photo(&cp, "damaged", &photo(11, 60_000));
    cp.save("plain", None, r#"{"name":"Omar"}"#).unwrap();
    std::fs::write(phone.blob_dir().join(damaged.digest.to_hex()), photo(12, 60_000)).unwrap();
    let errors = run(&phone, endpoint(&phone, &listener, true), Direction::Push).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "damaged");
    assert!(
        matches!(errors[0].1, Error::Blob(BlobError::DigestMismatch { .. })),
        "{errors:?}"
    );
    assert!(ch.get("damaged").unwrap().is_none());
    assert!(ch.blob(&damaged.digest).is_err());
    assert!(ch.get("good").unwrap().is_some());
    assert!(ch.get("plain").unwrap().is_some());
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_requests_follow_the_listeners_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let ch = hub.default_collection().unwrap();
    let served = save_with_photo(&ch, "served", &photo(20, 3000));
    let private = hub.create_collection("private").unwrap();
    let hidden = save_with_photo(&private, "hidden", &photo(21, 3000));
    let mut cfg = listener_config(users());
    cfg.read_only = true;
    let listener = Listener::start(hub.clone(), cfg).await.unwrap();
    let ep = endpoint(&phone, &listener, false);

    // Read-only: every blob write is refused, and nothing is written.
    let e = ep.append_blob(&served, 0, vec![1, 2, 3]).await.unwrap_err();
    assert!(matches!(e, Error::Replication(ReplicationError::ReadOnly)), "{e:?}");
    let e = ep.missing_blobs(vec![served.clone()]).await.unwrap_err();
    assert!(matches!(e, Error::Replication(ReplicationError::ReadOnly)), "{e:?}");
    let e = ep.blob_receive_offset(&served).await.unwrap_err();
    assert!(matches!(e, Error::Replication(ReplicationError::ReadOnly)), "{e:?}");

    // Reading: a blob named in a served collection can be read; one named
    // only in an unserved collection answers as if it were not stored.
    assert_eq!(ep.read_blob(&served.digest, 0, 100).await.unwrap(), photo(20, 100));
    let e = ep.read_blob(&hidden.digest, 0, 100).await.unwrap_err();
    assert!(matches!(e, Error::Blob(BlobError::Missing { .. })), "{e:?}");
    let unknown = BlobDigest::of_bytes(b"never stored");
    let e2 = ep.read_blob(&unknown, 0, 100).await.unwrap_err();
    assert!(matches!(e2, Error::Blob(BlobError::Missing { .. })), "{e2:?}");
    // A read never returns more than one chunk, whatever it asks.
    assert!(ep.read_blob(&served.digest, 0, usize::MAX).await.unwrap().len() <= MAX_BLOB_CHUNK_BYTES);
    assert_eq!(ep.blob_bytes_received(), 100 + 3000);
    listener.stop().await;

    // A writable listener bounds the chunk a peer may append.
    let listener = tls_listener(&hub).await;
    let ep = endpoint(&phone, &listener, true);
    let big = BlobRef {
        digest: BlobDigest::of_bytes(b"x"),
        length: 2 * MAX_BLOB_CHUNK_BYTES as u64,
        content_type: None,
    };
    let e = ep
        .append_blob(&big, 0, vec![0; MAX_BLOB_CHUNK_BYTES + 1])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Replication(ReplicationError::Refused { code, .. }) if code == "limit_exceeded"),
        "{e:?}"
    );
    assert_eq!(ep.blob_receive_offset(&big).await.unwrap(), 0, "nothing was kept");
    listener.stop().await;
}

async fn tls_listener(db: &Database) -> Listener {
    listener(db).await
}

/// Hooks that make a real endpoint behave like a peer from before blob
/// transfer: every blob operation is `NotSupported`.
struct WithoutBlobs;

#[async_trait]
impl EndpointHooks for WithoutBlobs {
    async fn missing_blobs(&self, _inner: &dyn Endpoint, _blobs: Vec<BlobRef>) -> Result<Vec<BlobRef>> {
        Err(BlobError::NotSupported.into())
    }
    async fn missing_blobs_resuming(
        &self,
        _inner: &dyn Endpoint,
        _blobs: Vec<BlobRef>,
    ) -> Result<Vec<(BlobRef, Option<u64>)>> {
        Err(BlobError::NotSupported.into())
    }
    async fn read_blob(&self, _inner: &dyn Endpoint, _d: &BlobDigest, _o: u64, _m: usize) -> Result<Vec<u8>> {
        Err(BlobError::NotSupported.into())
    }
    async fn blob_receive_offset(&self, _inner: &dyn Endpoint, _blob: &BlobRef) -> Result<u64> {
        Err(BlobError::NotSupported.into())
    }
    async fn append_blob(&self, _inner: &dyn Endpoint, _blob: &BlobRef, _offset: u64, _bytes: Vec<u8>) -> Result<u64> {
        Err(BlobError::NotSupported.into())
    }
}

/// The replication id a build of generation 1 gave a push of `_default`
/// without filters (the hash without the generation).
fn generation_1_checkpoint_id(local: &str, remote: &str) -> String {
    let mut h = Sha256::new();
    for part in [local, remote, "_default|[]|push_filter=false|pull_filter=false", "Push"] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("checkpoint-{}", hex::encode(&h.finalize()[..16]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_held_back_for_its_blob_is_sent_once_the_peer_can_take_it() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let (cp, ch) = (phone.default_collection().unwrap(), hub.default_collection().unwrap());
    cp.save("before", None, r#"{"name":"Lina"}"#).unwrap();
    save_with_photo(&cp, "with-photo", &photo(30, 5000));
    cp.save("after", None, r#"{"name":"Omar"}"#).unwrap();

    // Going forward: a peer without blobs refuses the document, the others
    // sync, and the checkpoint does not pass it.
    let old_peer = Forwarding::new(Arc::new(LocalEndpoint::new(hub.clone())), WithoutBlobs);
    let errors = run(&phone, old_peer, Direction::Push).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        matches!(errors[0].1, Error::Blob(BlobError::NotSupported)),
        "{errors:?}"
    );
    assert!(ch.get("before").unwrap().is_some() && ch.get("after").unwrap().is_some());
    assert!(ch.get("with-photo").unwrap().is_none());
    // The same peer, now able to take blobs (same database, same
    // replication id): the held document goes, without any edit.
    let errors = run(&phone, Arc::new(LocalEndpoint::new(hub.clone())), Direction::Push).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(ch.get("with-photo").unwrap().is_some());

    // After an upgrade: a generation-1 checkpoint that had passed a
    // document (as builds before blob transfer let it) is not used: the
    // first run compares everything again and the photo goes.
    let hub2 = open(dir.path(), "hub2.db");
    let old_id = generation_1_checkpoint_id(phone.uuid(), hub2.uuid());
    let last = phone.last_sequence().unwrap();
    let body = format!(r#"{{"version":1,"session":"s","sequence":{last}}}"#);
    for db in [&phone, &hub2] {
        LocalEndpoint::new(db.clone())
            .put_checkpoint("_default", &old_id, &body)
            .await
            .unwrap();
    }
    let errors = run(&phone, Arc::new(LocalEndpoint::new(hub2.clone())), Direction::Push).await;
    assert!(errors.is_empty(), "{errors:?}");
    let c2 = hub2.default_collection().unwrap();
    for id in ["before", "with-photo", "after"] {
        assert!(c2.get(id).unwrap().is_some(), "{id} reached the upgraded hub");
    }
}
