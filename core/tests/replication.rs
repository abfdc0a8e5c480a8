//! The replication engine between real SQLite files: directions, modes,
//! filters, conflicts, status, events, pending documents and resume.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{assert_same, body, open, replicate, replicator, snapshot, wait_until};
use outpost_core::replication::{
    ActivityLevel, CollectionConfig, Conflict, Direction, LocalEndpoint, Replicator, ReplicatorConfig, Resolution,
};
use outpost_core::{Database, Error, InvalidInput, RevId};

fn fill(db: &Database, n: usize) {
    let c = db.default_collection().unwrap();
    db.batch(|b| {
        for i in 0..n {
            b.save(&c, &format!("doc-{i:05}"), None, &body(i))?;
        }
        Ok(())
    })
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_pull_and_both_copy_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    fill(&a, 300);
    replicate(&a, &b, Direction::Push).await;
    assert_eq!(b.default_collection().unwrap().count().unwrap(), 300);

    let c = open(dir.path(), "c.db");
    replicate(&c, &a, Direction::Pull).await;
    assert_same(&c, &a);

    // Push-and-pull: each side gets the other's new documents.
    a.default_collection()
        .unwrap()
        .save("only-a", None, r#"{"x":1}"#)
        .unwrap();
    c.default_collection()
        .unwrap()
        .save("only-c", None, r#"{"x":2}"#)
        .unwrap();
    replicate(&a, &c, Direction::PushAndPull).await;
    assert_same(&c, &a);
    assert_eq!(a.default_collection().unwrap().count().unwrap(), 302);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_and_updates_replicate() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    let ca = a.default_collection().unwrap();
    let r1 = ca.save("d", None, r#"{"v":1}"#).unwrap();
    replicate(&a, &b, Direction::Push).await;
    let r2 = ca.save("d", Some(&r1), r#"{"v":2}"#).unwrap();
    replicate(&a, &b, Direction::Push).await;
    let got = b.default_collection().unwrap().get("d").unwrap().unwrap();
    assert_eq!((got.rev.clone(), got.body.as_str()), (r2.clone(), r#"{"v":2}"#));
    let r3 = ca.delete("d", &r2).unwrap();
    replicate(&a, &b, Direction::Push).await;
    let got = b.default_collection().unwrap().get("d").unwrap().unwrap();
    assert!(got.deleted);
    assert_eq!(got.rev, r3);
    assert_eq!(b.default_collection().unwrap().count().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_replication_follows_new_writes_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    let r = replicator(&a, &b, Direction::PushAndPull, true);
    let mut status = r.subscribe_status();
    r.start().unwrap();
    tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| s.activity == ActivityLevel::Idle),
    )
    .await
    .expect("idle in time")
    .unwrap();

    a.default_collection()
        .unwrap()
        .save("from-a", None, r#"{"n":1}"#)
        .unwrap();
    let cb = b.default_collection().unwrap();
    wait_until(&b, || cb.get("from-a").unwrap().is_some()).await;
    cb.save("from-b", None, r#"{"n":2}"#).unwrap();
    let ca = a.default_collection().unwrap();
    wait_until(&a, || ca.get("from-b").unwrap().is_some()).await;

    r.stop();
    tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| s.activity == ActivityLevel::Stopped),
    )
    .await
    .expect("stopped in time")
    .unwrap();
    assert!(r.status().error.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doc_id_and_push_and_pull_filters() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    let ca = a.default_collection().unwrap();
    for (id, body) in [
        ("p1", r#"{"public":true}"#),
        ("p2", r#"{"public":false}"#),
        ("p3", r#"{"public":true}"#),
    ] {
        ca.save(id, None, body).unwrap();
    }
    let remote = Arc::new(LocalEndpoint::new(b.clone()));
    let ids = ReplicatorConfig {
        direction: Direction::Push,
        collections: vec![CollectionConfig::new("_default").with_doc_ids(["p1", "p2"])],
        ..Default::default()
    };
    Replicator::new(a.clone(), remote.clone(), ids)
        .unwrap()
        .run()
        .await
        .unwrap();
    let cb = b.default_collection().unwrap();
    assert_eq!(snapshot(&cb).keys().cloned().collect::<Vec<_>>(), ["p1", "p2"]);

    let push_filter = ReplicatorConfig {
        direction: Direction::Push,
        collections: vec![
            CollectionConfig::new("_default").with_push_filter(Arc::new(|r| r.body.contains(r#""public":true"#)))
        ],
        ..Default::default()
    };
    Replicator::new(a.clone(), remote.clone(), push_filter)
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(snapshot(&cb).keys().cloned().collect::<Vec<_>>(), ["p1", "p2", "p3"]);

    let c = open(dir.path(), "c.db");
    let pull_filter = ReplicatorConfig {
        direction: Direction::Pull,
        collections: vec![CollectionConfig::new("_default").with_pull_filter(Arc::new(|r| r.id != "p1"))],
        ..Default::default()
    };
    Replicator::new(c.clone(), Arc::new(LocalEndpoint::new(a.clone())), pull_filter)
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(
        snapshot(&c.default_collection().unwrap())
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        ["p2", "p3"]
    );
}

/// Makes the same document diverge on `a` and `b`: returns (rev on a, rev on b).
async fn diverge(a: &Database, b: &Database, body_a: &str, body_b: &str) -> (RevId, RevId) {
    let ca = a.default_collection().unwrap();
    let base = ca.save("x", None, r#"{"v":0}"#).unwrap();
    replicate(a, b, Direction::Push).await;
    let ra = ca.save("x", Some(&base), body_a).unwrap();
    let rb = b.default_collection().unwrap().save("x", Some(&base), body_b).unwrap();
    (ra, rb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_resolver_keeps_the_couchdb_winner_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    let (ra, rb) = diverge(&a, &b, r#"{"v":"a"}"#, r#"{"v":"b"}"#).await;
    // Each side pulls the other's edit and resolves independently.
    replicate(&a, &b, Direction::Pull).await;
    replicate(&b, &a, Direction::Pull).await;
    let winner = ra.clone().max(rb.clone());
    for db in [&a, &b] {
        let doc = db.default_collection().unwrap().get("x").unwrap().unwrap();
        assert_eq!(doc.rev, winner);
        assert!(doc.conflicts.is_empty(), "conflict left: {:?}", doc.conflicts);
    }
    // The two resolutions wrote the same tombstone, so a sync adds nothing new.
    replicate(&a, &b, Direction::PushAndPull).await;
    assert_same(&a, &b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_resolver_lets_a_deletion_win() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    let (ra, _) = diverge(&a, &b, r#"{"v":"a"}"#, r#"{"v":"b"}"#).await;
    a.default_collection().unwrap().delete("x", &ra).unwrap();
    replicate(&b, &a, Direction::PushAndPull).await;
    replicate(&a, &b, Direction::PushAndPull).await;
    for db in [&a, &b] {
        let doc = db.default_collection().unwrap().get("x").unwrap().unwrap();
        assert!(doc.deleted, "the deletion should win");
    }
    assert_same(&a, &b);
    // The document can be created again afterwards, and stays.
    let cb = b.default_collection().unwrap();
    cb.save("x", None, r#"{"v":"again"}"#).unwrap();
    replicate(&b, &a, Direction::PushAndPull).await;
    assert!(!a.default_collection().unwrap().get("x").unwrap().unwrap().deleted);
    assert!(!cb.get("x").unwrap().unwrap().deleted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resolver_merges_and_converges() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    diverge(&a, &b, r#"{"a":1}"#, r#"{"b":2}"#).await;
    let seen: Arc<Mutex<Vec<Conflict>>> = Arc::default();
    let seen2 = seen.clone();
    let merge = move |c: &Conflict| {
        seen2.lock().unwrap().push(c.clone());
        let mut merged = serde_json::Map::new();
        for r in &c.revisions {
            if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(&r.body) {
                merged.extend(m);
            }
        }
        Resolution::Merge(serde_json::Value::Object(merged).to_string())
    };
    let config = ReplicatorConfig {
        direction: Direction::PushAndPull,
        collections: vec![CollectionConfig::new("_default").with_conflict_resolver(Arc::new(merge))],
        ..Default::default()
    };
    let r = Replicator::new(a.clone(), Arc::new(LocalEndpoint::new(b.clone())), config).unwrap();
    r.run().await.unwrap();
    r.run().await.unwrap();
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "resolver called once: {calls:?}");
    assert_eq!(calls[0].id, "x");
    assert_eq!(calls[0].revisions.len(), 2);
    for db in [&a, &b] {
        let doc = db.default_collection().unwrap().get("x").unwrap().unwrap();
        assert_eq!(doc.body, r#"{"a":1,"b":2}"#);
        assert!(doc.conflicts.is_empty());
    }
    assert_same(&a, &b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_progress_and_document_events() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    fill(&a, 2500);
    let c = a.default_collection().unwrap();
    let first = c.get("doc-00000").unwrap().unwrap();
    c.delete("doc-00000", &first.rev).unwrap();
    let r = replicator(&a, &b, Direction::Push, false);
    let events = Arc::new(Mutex::new(Vec::new()));
    let events2 = events.clone();
    let _token = r.add_document_listener(move |batch| events2.lock().unwrap().extend(batch.iter().cloned()));
    let activities = Arc::new(Mutex::new(Vec::new()));
    let activities2 = activities.clone();
    let _status_token = r.add_status_listener(move |s| activities2.lock().unwrap().push(s.activity));
    r.run().await.unwrap();
    let status = r.status();
    assert_eq!(status.activity, ActivityLevel::Stopped);
    assert!(status.error.is_none());
    assert_eq!((status.progress.completed, status.progress.total), (2500, 2500));
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 2500);
    assert!(events
        .iter()
        .all(|e| e.direction == Direction::Push && e.error.is_none()));
    assert_eq!(
        events
            .iter()
            .filter(|e| e.deleted)
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>(),
        ["doc-00000"]
    );
    let activities = activities.lock().unwrap();
    assert!(activities.contains(&ActivityLevel::Busy), "{activities:?}");
    assert_eq!(activities.last(), Some(&ActivityLevel::Stopped));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_documents_follow_the_push_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    fill(&a, 5);
    let r = replicator(&a, &b, Direction::Push, false);
    assert_eq!(r.pending_document_ids("_default").await.unwrap().len(), 5);
    assert!(r.is_document_pending("_default", "doc-00003").await.unwrap());
    r.run().await.unwrap();
    assert!(r.pending_document_ids("_default").await.unwrap().is_empty());
    let c = a.default_collection().unwrap();
    let doc = c.get("doc-00001").unwrap().unwrap();
    c.save("doc-00001", Some(&doc.rev), r#"{"edited":true}"#).unwrap();
    let pending = r.pending_document_ids("_default").await.unwrap();
    assert_eq!(pending.into_iter().collect::<Vec<_>>(), ["doc-00001"]);
    assert!(!r.is_document_pending("_default", "doc-00003").await.unwrap());
    let pull_only = replicator(&a, &b, Direction::Pull, false);
    assert!(matches!(
        pull_only.pending_document_ids("_default").await,
        Err(Error::InvalidInput(InvalidInput::BadConfig(_)))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_replication_resumes_with_only_the_remainder() {
    const N: usize = 5000;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    fill(&a, N);
    let r = replicator(&a, &b, Direction::Push, false);
    let transferred = Arc::new(AtomicUsize::new(0));
    let (t2, r2) = (transferred.clone(), r.clone());
    let token = r.add_document_listener(move |events| {
        t2.fetch_add(events.len(), Ordering::SeqCst);
        r2.stop();
    });
    r.run().await.unwrap();
    let first = transferred.load(Ordering::SeqCst);
    let stored = b.default_collection().unwrap().count().unwrap() as usize;
    assert!(first > 0 && first < N, "first run moved {first} of {N}");
    assert_eq!(stored, first);
    drop(token);

    // A new replicator with the same configuration resumes from the checkpoint.
    let again = replicator(&a, &b, Direction::Push, false);
    let moved = Arc::new(AtomicUsize::new(0));
    let m2 = moved.clone();
    let _token = again.add_document_listener(move |events| {
        m2.fetch_add(events.len(), Ordering::SeqCst);
    });
    again.run().await.unwrap();
    assert_eq!(
        moved.load(Ordering::SeqCst),
        N - first,
        "only the remainder is transferred"
    );
    assert_eq!(
        again.status().progress.total as usize,
        N - first,
        "reading starts at the checkpoint"
    );
    assert_eq!(b.default_collection().unwrap().count().unwrap() as usize, N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_checkpoint_restarts_from_zero_without_resending() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    fill(&a, 50);
    replicate(&a, &b, Direction::Push).await;
    // Forget the target's checkpoints: the sides now disagree.
    let cb = b.default_collection().unwrap();
    let r = replicator(&a, &b, Direction::Push, false);
    let checkpoint_ids = checkpoint_ids(&a);
    assert_eq!(checkpoint_ids.len(), 1);
    let checkpoint_id = &checkpoint_ids[0];
    assert!(cb.get_local(checkpoint_id).unwrap().is_some());
    cb.delete_local(checkpoint_id).unwrap();
    let moved = Arc::new(AtomicUsize::new(0));
    let m2 = moved.clone();
    let _token = r.add_document_listener(move |e| {
        m2.fetch_add(e.len(), Ordering::SeqCst);
    });
    r.run().await.unwrap();
    assert_eq!(r.status().progress.total, 50, "restarted from zero");
    assert_eq!(moved.load(Ordering::SeqCst), 0, "nothing re-sent");
}

/// Ids of checkpoint local documents (named `checkpoint-<hash>`).
fn checkpoint_ids(db: &Database) -> Vec<String> {
    let path = db.path().to_owned();
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT id FROM local_docs WHERE id LIKE 'checkpoint-%'")
        .unwrap();
    let ids = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    ids
}

#[test]
fn bad_configurations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    let remote = Arc::new(LocalEndpoint::new(b));
    for config in [
        ReplicatorConfig {
            collections: vec![],
            ..Default::default()
        },
        ReplicatorConfig {
            collections: vec![CollectionConfig::new("_default"), CollectionConfig::new("_default")],
            ..Default::default()
        },
        ReplicatorConfig {
            max_attempts: Some(0),
            ..Default::default()
        },
        ReplicatorConfig {
            max_attempt_wait: Duration::ZERO,
            ..Default::default()
        },
    ] {
        assert!(matches!(
            Replicator::new(a.clone(), remote.clone(), config),
            Err(Error::InvalidInput(InvalidInput::BadConfig(_)))
        ));
    }
}
