//! Blobs on real files: dedup, refusals, compaction (with a property test
//! over random save/delete/purge/compact sequences), crash leftovers, the
//! grace rule, chunked receiving, and local replication carrying blobs
//! (an empty one too).

mod common;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::forwarding::{EndpointHooks, Forwarding};
use common::{blob_files, body_with, open};
use outpost_core::replication::{
    Direction, Endpoint, InsertOutcome, LocalEndpoint, Replicator, ReplicatorConfig, Revision, RevisionTrust,
};
use outpost_core::tuning::MAX_BLOB_BYTES;
use outpost_core::{BlobDigest, BlobError, BlobRef, Collection, Database, Error, InvalidInput, Result, RevId};
use proptest::prelude::*;

fn photo(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn read_all(c: &Collection, digest: &BlobDigest) -> Vec<u8> {
    let mut out = Vec::new();
    c.blob(digest).unwrap().read_to_end(&mut out).unwrap();
    out
}

#[test]
fn same_photo_is_stored_once_and_compaction_removes_it_only_when_unnamed() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "camp.db");
    let c = db.default_collection().unwrap();
    let bytes = photo(1, 100_000);
    let p1 = c.save_blob(&bytes[..], Some("image/jpeg")).unwrap();
    let p2 = c.save_blob(&bytes[..], Some("image/jpeg")).unwrap();
    assert_eq!(p1, p2);
    let r1 = c.save("child-1", None, &body_with("Amina", &p1)).unwrap();
    let r2 = c.save("child-2", None, &body_with("Omar", &p2)).unwrap();
    assert_eq!(blob_files(&db), [p1.digest.to_hex()]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(db.blob_dir()), 0o700);
        assert_eq!(mode(&db.blob_dir().join(p1.digest.to_hex())), 0o600);
    }
    assert_eq!(read_all(&c, &p1.digest), bytes);
    assert_eq!(c.blobs("child-1").unwrap()[0].blob, p1);

    // One document still names it: kept.
    c.delete("child-1", &r1).unwrap();
    c.purge("child-1").unwrap();
    let report = db.compact_with_grace(Duration::ZERO).unwrap();
    assert!(report.blobs_removed.is_empty());
    assert_eq!(read_all(&c, &p1.digest), bytes);

    // Neither does: removed.
    c.delete("child-2", &r2).unwrap();
    c.purge("child-2").unwrap();
    let report = db.compact_with_grace(Duration::ZERO).unwrap();
    assert_eq!(report.blobs_removed, [(p1.digest, bytes.len() as u64)]);
    assert!(blob_files(&db).is_empty());
    assert!(matches!(
        c.blob(&p1.digest),
        Err(Error::Blob(BlobError::Missing { .. }))
    ));
}

#[test]
fn bad_blobs_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "camp.db");
    let c = db.default_collection().unwrap();
    let bytes = photo(2, 5000);
    let real = BlobRef {
        digest: BlobDigest::of_bytes(&bytes),
        length: bytes.len() as u64,
        content_type: None,
    };

    // Digest mismatch.
    let wrong_digest = BlobRef {
        digest: BlobDigest::of_bytes(b"something else"),
        ..real.clone()
    };
    let e = c.save_blob_expecting(&bytes[..], &wrong_digest).unwrap_err();
    assert!(matches!(e, Error::Blob(BlobError::DigestMismatch { .. })), "{e}");
    // A length that lies, both ways.
    for length in [bytes.len() as u64 - 1, bytes.len() as u64 + 1] {
        let lying = BlobRef { length, ..real.clone() };
        let e = c.save_blob_expecting(&bytes[..], &lying).unwrap_err();
        assert!(matches!(e, Error::Blob(BlobError::LengthMismatch { .. })), "{e}");
    }
    assert!(blob_files(&db).is_empty(), "{:?}", blob_files(&db));

    // A reference to a blob that is not there: save, batch and insert.
    let e = c.save("child-1", None, &body_with("Amina", &real)).unwrap_err();
    match e {
        Error::Blob(BlobError::Missing { digest }) => assert_eq!(digest, real.digest.to_string()),
        other => panic!("{other}"),
    }
    let e = db
        .batch(|b| {
            b.save(&c, "child-0", None, r#"{"fine":true}"#)?;
            b.save(&c, "child-1", None, &body_with("Amina", &real))
        })
        .unwrap_err();
    assert!(matches!(e, Error::Blob(BlobError::Missing { .. })));
    let body = body_with("Amina", &real);
    let rev = RevId::for_body(None, false, &body).unwrap();
    let e = db
        .batch(|b| b.insert_revision(&c, "child-2", &[rev], false, &body, RevisionTrust::Verified))
        .unwrap_err();
    assert!(matches!(e, Error::Blob(BlobError::Missing { .. })));
    assert_eq!(c.count().unwrap(), 0);
    assert!(c.get("child-0").unwrap().is_none());

    // A reference whose length is not the stored blob's is missing too.
    c.save_blob_expecting(&bytes[..], &real).unwrap();
    let lying = BlobRef {
        length: 1,
        ..real.clone()
    };
    assert!(matches!(
        c.save("child-1", None, &body_with("Amina", &lying)),
        Err(Error::Blob(BlobError::Missing { .. }))
    ));
    // Malformed blob objects.
    for bad in [
        r#"{"photo":{"@type":"blob","digest":"md5-abc","length":1}}"#.to_owned(),
        format!(
            r#"{{"photo":{{"@type":"blob","digest":"{}","length":5000,"data":"eA=="}}}}"#,
            real.digest
        ),
        format!(
            r#"{{"photo":{{"@type":"blob","digest":"{}","length":{}}}}}"#,
            real.digest,
            MAX_BLOB_BYTES + 1
        ),
    ] {
        assert!(
            matches!(
                c.save("child-1", None, &bad),
                Err(Error::InvalidInput(InvalidInput::BadBlob(_)))
            ),
            "{bad}"
        );
    }
    assert_eq!(c.count().unwrap(), 0);
}

#[test]
fn over_size_blob_is_refused_without_a_file_left() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "camp.db");
    let c = db.default_collection().unwrap();
    let e = c
        .save_blob(std::io::repeat(7).take(MAX_BLOB_BYTES + 1), None)
        .unwrap_err();
    assert!(matches!(e, Error::Blob(BlobError::TooLarge { .. })), "{e}");
    assert!(blob_files(&db).is_empty(), "{:?}", blob_files(&db));
}

#[test]
fn revision_ids_cover_blob_digests_and_received_ids_are_checked_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "camp.db");
    let c = db.default_collection().unwrap();
    let p = c.save_blob(&b"jpeg"[..], None).unwrap();
    let body = body_with("Amina", &p);
    let rev = c.save("child-1", None, &body).unwrap();
    let stored = c.get("child-1").unwrap().unwrap();
    assert_eq!(rev, RevId::for_body(None, false, &stored.body).unwrap());
    let digest = p.digest.to_string();
    assert_eq!(rev, RevId::compute(None, false, &stored.body, &[&digest]).unwrap());
    let without = RevId::compute(None, false, &stored.body, &[]).unwrap();
    assert_ne!(rev, without);
    // A peer's revision whose id leaves the digests out is refused.
    let other = open(dir.path(), "other.db");
    let oc = other.default_collection().unwrap();
    oc.save_blob(&b"jpeg"[..], None).unwrap();
    let e = other
        .batch(|b| b.insert_revision(&oc, "child-1", &[without], false, &stored.body, RevisionTrust::Verified))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput(InvalidInput::RevIdMismatch(_))), "{e}");
    assert!(other
        .batch(|b| b.insert_revision(&oc, "child-1", &[rev], false, &stored.body, RevisionTrust::Verified))
        .unwrap());
}

#[test]
fn crash_leftovers_go_and_the_grace_rule_keeps_a_blob_whose_save_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "camp.db");
    let c = db.default_collection().unwrap();
    // A write in progress in one handle: the blob is stored, its document not yet.
    let p = c.save_blob(&photo(3, 10_000)[..], Some("image/png")).unwrap();
    // A temporary file left by a crash.
    let leftover = db.blob_dir().join(".tmp-0123456789abcdef");
    std::fs::write(&leftover, b"half a photo").unwrap();

    // Another handle compacts with the default grace: both are young, both kept.
    let other = Database::open(dir.path().join("camp.db"), Default::default()).unwrap();
    let report = other.compact().unwrap();
    assert_eq!(report, Default::default());
    assert!(leftover.exists());
    // The pending save commits, naming the blob.
    c.save("child-1", None, &body_with("Amina", &p)).unwrap();
    assert_eq!(read_all(&c, &p.digest).len(), 10_000);

    // Past the grace period (zero here) the leftover goes; the named blob stays.
    let report = other.compact_with_grace(Duration::ZERO).unwrap();
    assert_eq!(report.temp_files_removed, 1);
    assert!(report.blobs_removed.is_empty());
    assert!(!leftover.exists());
    assert_eq!(blob_files(&db), [p.digest.to_hex()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_receive_resumes_and_verifies_before_the_blob_is_visible() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "camp.db");
    let endpoint = LocalEndpoint::new(db.clone());
    let bytes = photo(4, 300_000);
    let blob = BlobRef {
        digest: BlobDigest::of_bytes(&bytes),
        length: bytes.len() as u64,
        content_type: None,
    };
    assert_eq!(endpoint.blob_receive_offset(&blob).await.unwrap(), 0);
    assert_eq!(
        endpoint.append_blob(&blob, 0, bytes[..100_000].to_vec()).await.unwrap(),
        100_000
    );
    // Not visible yet: a revision naming it is refused.
    assert_eq!(
        endpoint.missing_blobs(vec![blob.clone()]).await.unwrap(),
        std::slice::from_ref(&blob)
    );
    // The transfer is cut; a new endpoint (a restart) resumes where it stopped.
    let reopened = Database::open(db.path(), Default::default()).unwrap();
    let endpoint = LocalEndpoint::new(reopened.clone());
    assert_eq!(endpoint.blob_receive_offset(&blob).await.unwrap(), 100_000);
    // The missing blobs come with where each resumes, in one call; one too
    // large to receive is left to `blob_receive_offset`, which refuses it.
    let huge = BlobRef {
        digest: BlobDigest::of_bytes(b"huge"),
        length: MAX_BLOB_BYTES + 1,
        content_type: None,
    };
    assert_eq!(
        endpoint
            .missing_blobs_resuming(vec![blob.clone(), huge.clone()])
            .await
            .unwrap(),
        [(blob.clone(), Some(100_000)), (huge, None)]
    );
    let e = endpoint
        .append_blob(&blob, 50_000, bytes[50_000..].to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Blob(BlobError::BadOffset { held: 100_000, .. })),
        "{e}"
    );
    assert_eq!(
        endpoint
            .append_blob(&blob, 100_000, bytes[100_000..].to_vec())
            .await
            .unwrap(),
        300_000
    );
    // Verified, but durable and visible only with the revision naming it:
    // nothing is left to move, and no file is under its digest yet.
    assert_eq!(
        endpoint.missing_blobs_resuming(vec![blob.clone()]).await.unwrap(),
        [(blob.clone(), Some(300_000))]
    );
    assert!(!blob_files(&reopened).contains(&blob.digest.to_hex()));
    let child = reopened.default_collection().unwrap();
    child.save("child", None, &body_with("Amina", &blob)).unwrap();
    assert!(blob_files(&reopened).contains(&blob.digest.to_hex()));
    assert!(endpoint.missing_blobs(vec![blob.clone()]).await.unwrap().is_empty());
    assert!(endpoint
        .missing_blobs_resuming(vec![blob.clone()])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        endpoint.read_blob(&blob.digest, 299_990, 100).await.unwrap(),
        &bytes[299_990..]
    );

    // Bytes that do not match the digest: refused at the end, nothing visible,
    // and the next attempt starts from zero.
    let mut forged = photo(5, 1000);
    let claimed = BlobRef {
        digest: BlobDigest::of_bytes(&forged),
        length: 1000,
        content_type: None,
    };
    forged[999] ^= 1;
    endpoint.append_blob(&claimed, 0, forged[..500].to_vec()).await.unwrap();
    let e = endpoint
        .append_blob(&claimed, 500, forged[500..].to_vec())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Blob(BlobError::DigestMismatch { .. })), "{e}");
    assert_eq!(
        endpoint.missing_blobs(vec![claimed.clone()]).await.unwrap(),
        std::slice::from_ref(&claimed)
    );
    assert_eq!(endpoint.blob_receive_offset(&claimed).await.unwrap(), 0);
    assert_eq!(blob_files(&db), [blob.digest.to_hex()]);
}

/// Hooks on a real local endpoint that count the blob bytes read from it
/// and, with a probe, hold its first insert until a blob that batch does
/// not name arrives.
struct Counting {
    blob_bytes_read: AtomicU64,
    probe: Option<OverlapProbe>,
}

/// Whether the replicator brought the next batch's blobs while the first
/// batch was being stored.
struct OverlapProbe {
    /// Each document's photo.
    photo_of: HashMap<String, BlobDigest>,
    appended: std::sync::Mutex<Vec<BlobDigest>>,
    arrived: tokio::sync::Notify,
    first_insert_seen: AtomicBool,
    overlapped: AtomicBool,
}

impl OverlapProbe {
    /// Holds the first insert (of `revisions`) until a blob none of them
    /// names arrives, for at most 10 s; records whether one did.
    async fn hold_first_insert(&self, revisions: &[Revision]) {
        if self.first_insert_seen.swap(true, Ordering::SeqCst) {
            return;
        }
        let named: HashSet<BlobDigest> = revisions
            .iter()
            .filter_map(|r| self.photo_of.get(&r.id))
            .copied()
            .collect();
        let next_batch_arrived = async {
            loop {
                let arrived = self.arrived.notified();
                if self.appended.lock().unwrap().iter().any(|d| !named.contains(d)) {
                    return;
                }
                arrived.await;
            }
        };
        let overlapped = tokio::time::timeout(Duration::from_secs(10), next_batch_arrived)
            .await
            .is_ok();
        self.overlapped.store(overlapped, Ordering::SeqCst);
    }
}

#[async_trait]
impl EndpointHooks for Counting {
    async fn insert(&self, inner: &dyn Endpoint, c: &str, revisions: Vec<Revision>) -> Result<Vec<InsertOutcome>> {
        if let Some(probe) = &self.probe {
            probe.hold_first_insert(&revisions).await;
        }
        inner.insert(c, revisions).await
    }
    async fn read_blob(&self, inner: &dyn Endpoint, digest: &BlobDigest, offset: u64, max: usize) -> Result<Vec<u8>> {
        let chunk = inner.read_blob(digest, offset, max).await?;
        self.blob_bytes_read.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        Ok(chunk)
    }
    async fn append_blob(&self, inner: &dyn Endpoint, blob: &BlobRef, offset: u64, bytes: Vec<u8>) -> Result<u64> {
        let held = inner.append_blob(blob, offset, bytes).await?;
        if let Some(probe) = &self.probe {
            probe.appended.lock().unwrap().push(blob.digest);
            probe.arrived.notify_waiters();
        }
        Ok(held)
    }
}

/// Replicates `local` with `remote` once; returns the blob bytes read from `remote`.
async fn replicate_counting(local: &Database, remote: &Database, direction: Direction) -> u64 {
    let counting = Forwarding::new(
        Arc::new(LocalEndpoint::new(remote.clone())),
        Counting {
            blob_bytes_read: AtomicU64::new(0),
            probe: None,
        },
    );
    let config = ReplicatorConfig {
        direction,
        ..Default::default()
    };
    let r = Replicator::new(local.clone(), counting.clone(), config).unwrap();
    r.run().await.unwrap();
    assert!(r.status().error.is_none(), "{:?}", r.status().error);
    counting.hooks.blob_bytes_read.load(Ordering::SeqCst)
}

/// Databases a, b and c in `dir`.
fn open_three(dir: &Path) -> (Database, Database, Database) {
    (open(dir, "a.db"), open(dir, "b.db"), open(dir, "c.db"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_replication_carries_blobs_fetching_only_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = open_three(dir.path());
    let ca = a.default_collection().unwrap();
    // 2.5 MiB: more than one chunk.
    let big = photo(6, 2_500_000);
    let small = photo(7, 1000);
    let pb = ca.save_blob(&big[..], Some("image/jpeg")).unwrap();
    let ps = ca.save_blob(&small[..], None).unwrap();
    ca.save("child-1", None, &body_with("Amina", &pb)).unwrap();
    ca.save("child-2", None, &body_with("Omar", &pb)).unwrap();
    ca.save(
        "child-3",
        None,
        &serde_json::json!({"audio": [ps.to_json()]}).to_string(),
    )
    .unwrap();
    ca.save("child-4", None, r#"{"no":"photo"}"#).unwrap();

    // Pull into b: each blob crosses once.
    let read = replicate_counting(&b, &a, Direction::Pull).await;
    assert_eq!(read, (big.len() + small.len()) as u64);
    let cb = b.default_collection().unwrap();
    assert_eq!(cb.count().unwrap(), 4);
    assert_eq!(read_all(&cb, &pb.digest), big);
    assert_eq!(read_all(&cb, &ps.digest), small);
    assert_eq!(cb.blobs("child-3").unwrap()[0].name, "/audio/0");

    // c already holds the big photo: only the small one crosses on push.
    let cc = c.default_collection().unwrap();
    cc.save_blob(&big[..], None).unwrap();
    let read = replicate_counting(&c, &b, Direction::Pull).await;
    assert_eq!(read, small.len() as u64);
    assert_eq!(cc.count().unwrap(), 4);
    assert_eq!(read_all(&cc, &ps.digest), small);

    // Push carries them too.
    let d = open(dir.path(), "d.db");
    common::replicate(&a, &d, Direction::Push).await;
    let cd = d.default_collection().unwrap();
    assert_eq!(cd.count().unwrap(), 4);
    assert_eq!(read_all(&cd, &pb.digest), big);
}

/// A batch's blobs move while the batch before is stored, so a store's
/// wait (a batch of fsyncs) does not stop the transfer. Fails if the
/// replicator stores a batch before it brings the next one's blobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_batchs_blobs_move_while_a_batch_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    let ca = a.default_collection().unwrap();
    // 1.5 MB notes: a fetch batch (4 MiB of bodies) holds two documents.
    let notes = "n".repeat(1_500_000);
    let mut photo_of = HashMap::new();
    for i in 0..6u8 {
        let id = format!("child-{i}");
        let blob = ca.save_blob(&photo(i, 5000)[..], Some("image/jpeg")).unwrap();
        let body = serde_json::json!({"photo": blob.to_json(), "notes": notes}).to_string();
        ca.save(&id, None, &body).unwrap();
        photo_of.insert(id, blob.digest);
    }
    let target = Forwarding::new(
        Arc::new(LocalEndpoint::new(b.clone())),
        Counting {
            blob_bytes_read: AtomicU64::new(0),
            probe: Some(OverlapProbe {
                photo_of: photo_of.clone(),
                appended: Default::default(),
                arrived: Default::default(),
                first_insert_seen: AtomicBool::new(false),
                overlapped: AtomicBool::new(false),
            }),
        },
    );
    let config = ReplicatorConfig {
        direction: Direction::Push,
        ..Default::default()
    };
    let r = Replicator::new(a.clone(), target.clone(), config).unwrap();
    r.run().await.unwrap();
    assert!(r.status().error.is_none(), "{:?}", r.status().error);
    let probe = target.hooks.probe.as_ref().unwrap();
    assert!(
        probe.overlapped.load(Ordering::SeqCst),
        "no blob of a later batch arrived while the first batch was stored"
    );
    let cb = b.default_collection().unwrap();
    assert_eq!(cb.count().unwrap(), 6);
    for (i, (id, digest)) in photo_of.iter().enumerate() {
        assert_eq!(cb.blobs(id).unwrap()[0].blob.digest, *digest, "{i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_blob_replicates_beside_a_normal_one_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = open_three(dir.path());
    let ca = a.default_collection().unwrap();
    let empty = ca.save_blob(&b""[..], Some("text/plain")).unwrap();
    assert_eq!(empty.length, 0);
    let normal = photo(11, 5000);
    let pn = ca.save_blob(&normal[..], Some("image/jpeg")).unwrap();
    ca.save("notes", None, &body_with("empty notes", &empty)).unwrap();
    ca.save(
        "both",
        None,
        &serde_json::json!({"notes": empty.to_json(), "photo": pn.to_json()}).to_string(),
    )
    .unwrap();

    // Pull into b, push into c: every replica ends with both documents and
    // the empty blob, readable.
    assert_eq!(replicate_counting(&b, &a, Direction::Pull).await, normal.len() as u64);
    replicate_counting(&a, &c, Direction::Push).await;
    for db in [&b, &c] {
        let col = db.default_collection().unwrap();
        assert_eq!(col.count().unwrap(), 2, "{}", db.path().display());
        assert!(read_all(&col, &empty.digest).is_empty());
        assert_eq!(read_all(&col, &pn.digest), normal);
        common::assert_same(&a, db);
        // A named empty file is a blob, not a leftover.
        db.compact_with_grace(Duration::ZERO).unwrap();
        assert!(read_all(&col, &empty.digest).is_empty());
    }
    // Nothing is held back: a later run moves nothing and a new document
    // after them still arrives (the checkpoint passed them).
    assert_eq!(replicate_counting(&b, &a, Direction::Pull).await, 0);
    ca.save("after", None, r#"{"name":"later"}"#).unwrap();
    replicate_counting(&b, &a, Direction::Pull).await;
    assert_eq!(b.default_collection().unwrap().count().unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_photos_both_survive_until_resolved_and_the_winner_is_readable_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    let (ca, cb) = (a.default_collection().unwrap(), b.default_collection().unwrap());
    let base = ca.save("child-1", None, r#"{"name":"Amina"}"#).unwrap();
    common::replicate(&a, &b, Direction::Push).await;
    let (bytes_a, bytes_b) = (photo(8, 40_000), photo(9, 50_000));
    let pa = ca.save_blob(&bytes_a[..], Some("image/jpeg")).unwrap();
    let pb = cb.save_blob(&bytes_b[..], Some("image/jpeg")).unwrap();
    ca.save("child-1", Some(&base), &body_with("Amina", &pa)).unwrap();
    cb.save("child-1", Some(&base), &body_with("Amina", &pb)).unwrap();

    // Pushes store without resolving: both replicas hold the conflict.
    common::replicate(&a, &b, Direction::Push).await;
    common::replicate(&b, &a, Direction::Push).await;
    for db in [&a, &b] {
        let c = db.default_collection().unwrap();
        assert_eq!(c.get("child-1").unwrap().unwrap().conflicts.len(), 1);
        db.compact_with_grace(Duration::ZERO).unwrap();
        assert_eq!(read_all(&c, &pa.digest), bytes_a);
        assert_eq!(read_all(&c, &pb.digest), bytes_b);
    }

    // A pull resolves (the default resolver keeps the CouchDB winner).
    common::replicate(&a, &b, Direction::PushAndPull).await;
    common::replicate(&b, &a, Direction::PushAndPull).await;
    common::assert_same(&a, &b);
    let winner = ca.get("child-1").unwrap().unwrap();
    assert!(winner.conflicts.is_empty());
    let named = ca.blobs("child-1").unwrap();
    assert_eq!(named.len(), 1);
    for db in [&a, &b] {
        db.compact_with_grace(Duration::ZERO).unwrap();
        let c = db.default_collection().unwrap();
        let expected = if named[0].blob == pa { &bytes_a } else { &bytes_b };
        assert_eq!(&read_all(&c, &named[0].blob.digest), expected);
    }
}

#[derive(Clone, Debug)]
enum Op {
    Save { doc: usize, blob: Option<usize> },
    Delete { doc: usize },
    Purge { doc: usize },
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, proptest::option::of(0..3usize)).prop_map(|(doc, blob)| Op::Save { doc, blob }),
        1 => (0..4usize).prop_map(|doc| Op::Delete { doc }),
        1 => (0..4usize).prop_map(|doc| Op::Purge { doc }),
        2 => Just(Op::Compact),
    ]
}

/// Every blob any stored revision body names is present with its bytes.
fn assert_named_blobs_present(c: &Collection, bytes: &[Vec<u8>]) {
    for doc in 0..4 {
        let Some(tree) = c.revision_tree(&format!("doc-{doc}")).unwrap() else {
            continue;
        };
        for node in tree.nodes() {
            let Some(body) = &node.body else { continue };
            let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(body).unwrap();
            if let Some(p) = map.get("photo") {
                let digest: BlobDigest = p["digest"].as_str().unwrap().parse().unwrap();
                let got = read_all(c, &digest);
                assert!(bytes.contains(&got));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn compaction_never_removes_a_blob_a_stored_revision_names(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path(), "camp.db");
        let c = db.default_collection().unwrap();
        let bytes: Vec<Vec<u8>> = (0..3).map(|i| photo(20 + i as u8, 3000 + i * 100)).collect();
        for op in ops {
            match op {
                Op::Save { doc, blob } => {
                    let id = format!("doc-{doc}");
                    let body = match blob {
                        Some(j) => body_with(&id, &c.save_blob(&bytes[j][..], None).unwrap()),
                        None => serde_json::json!({"name": id}).to_string(),
                    };
                    let current = c.get(&id).unwrap().map(|d| d.rev);
                    c.save(&id, current.as_ref(), &body).unwrap();
                }
                Op::Delete { doc } => {
                    let id = format!("doc-{doc}");
                    if let Some(d) = c.get(&id).unwrap().filter(|d| !d.deleted) {
                        c.delete(&id, &d.rev).unwrap();
                    }
                }
                Op::Purge { doc } => {
                    c.purge(&format!("doc-{doc}")).unwrap();
                }
                Op::Compact => {
                    db.compact_with_grace(Duration::ZERO).unwrap();
                    assert_named_blobs_present(&c, &bytes);
                    // Whatever is left is named by someone.
                    let named: std::collections::HashSet<String> = (0..4)
                        .filter_map(|d| c.revision_tree(&format!("doc-{d}")).unwrap())
                        .flat_map(|t| t.nodes().iter().filter_map(|n| n.body.clone()).collect::<Vec<_>>())
                        .filter_map(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
                        .filter_map(|v| v["photo"]["digest"].as_str().map(|d| d.parse::<BlobDigest>().unwrap().to_hex()))
                        .collect();
                    let files: std::collections::HashSet<String> = blob_files(&db).into_iter().collect();
                    prop_assert_eq!(files, named);
                }
            }
            assert_named_blobs_present(&c, &bytes);
        }
    }
}

// Blobs over the network (push, pull, resume, refusals, the checkpoint rule
// for peers without blobs) are tested in net_blobs.rs.
