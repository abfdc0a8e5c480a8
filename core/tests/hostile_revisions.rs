//! A hostile authenticated peer against a real listener on 127.0.0.1
//! (issue 10, items 1, 2, 5 and 8): it calls `insert` on a
//! `RemoteEndpoint` with forged revisions, as no honest replicator would.
//! Each test asserts a bound or a state, never a time.

mod common;

use common::net::{listener, net_replicator, remote};
use std::sync::{Arc, Mutex};

use common::{live_export, open};
use outpost_core::net::protocol::DOC_LIMIT;
use outpost_core::net::{Listener, RemoteEndpoint};
use outpost_core::replication::{Direction, Endpoint, InsertOutcome, Revision};
use outpost_core::tuning::{DEFAULT_REVS_LIMIT, MAX_LIVE_LEAVES, MAX_REV_GENERATION};
use outpost_core::{Database, Error, InvalidInput, ReplicationError, RevId};

/// Canonical JSON (keys sorted), as revision ids hash it.
const EVIL: &str = r#"{"camp":"far away","name":"someone else"}"#;

/// What a peer named Mallory, with a valid login, stores on `listener`.
async fn attack(listener: &Listener, revisions: Vec<Revision>) -> Vec<InsertOutcome> {
    let mallory = RemoteEndpoint::new(remote(listener), "mallory", true).expect("endpoint");
    let outcomes = mallory
        .insert("_default", revisions)
        .await
        .expect("the insert is answered");
    mallory.close().await;
    outcomes
}

fn revision(id: &str, history: Vec<RevId>, deleted: bool, body: &str) -> Revision {
    Revision {
        id: id.to_owned(),
        history,
        deleted,
        body: body.to_owned(),
        foreign: false,
        delta: None,
    }
}

fn compute(parent: Option<&RevId>, deleted: bool, body: &str) -> RevId {
    RevId::compute(parent, deleted, body, &[]).expect("generation in range")
}

/// Asserts the outcome is the peer's refusal of that document as invalid
/// input, with `needle` in the message.
fn assert_refused(outcome: &InsertOutcome, needle: &str) {
    assert_refused_as(&outcome.id, outcome.result.as_ref().err(), "invalid_input", needle);
}

/// Asserts `error` is the peer's refusal of document `id` with wire code
/// `wanted`, with `needle` in the message.
fn assert_refused_as(id: &str, error: Option<&Error>, wanted: &str, needle: &str) {
    match error {
        Some(Error::Replication(ReplicationError::Refused { code, message })) => {
            assert_eq!(code, wanted, "{message}");
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
        other => panic!("{id} was not refused: {other:?}"),
    }
}

/// A full sync: push and pull twice, so that conflicts the phone resolved
/// after the first pull reach the hub.
async fn sync(phone: &Database, listener: &Listener) {
    for _ in 0..2 {
        net_replicator(phone, listener, Direction::PushAndPull, false)
            .run()
            .await
            .expect("sync");
    }
}

fn winner(db: &Database, id: &str) -> outpost_core::Document {
    db.default_collection()
        .unwrap()
        .get(id)
        .unwrap()
        .expect("document exists")
}

/// Item 1: a live revision under the id that deleting R will compute is
/// refused; the same id planted as an unverifiable ancestor cannot make a
/// later deletion diverge, on the phone or on the hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_revision_ids_are_refused_and_deletions_converge() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let listener = listener(&hub).await;
    let people = phone.default_collection().unwrap();
    let r = people.save("child-1", None, r#"{"name":"Amina"}"#).unwrap();
    let r2 = people.save("child-2", None, r#"{"name":"Musa"}"#).unwrap();
    sync(&phone, &listener).await;

    // The issue's attack: a live body under the predicted tombstone id.
    let predicted = compute(Some(&r), true, "{}");
    let forged = attack(
        &listener,
        vec![
            revision("child-1", vec![predicted.clone(), r.clone()], false, EVIL),
            // Unverifiable: generation 2 without its parent.
            revision("child-1", vec![predicted.clone()], false, EVIL),
        ],
    )
    .await;
    assert_refused(&forged[0], "does not match its content");
    assert_refused(&forged[1], "does not match its content");
    let hub_tree = hub
        .default_collection()
        .unwrap()
        .revision_tree("child-1")
        .unwrap()
        .unwrap();
    assert!(
        hub_tree.get(&predicted).is_none(),
        "nothing of a forged revision is stored"
    );

    // The predicted ids named as unverifiable ancestors of well-formed children.
    let on_top = compute(Some(&predicted), false, EVIL);
    let predicted2 = compute(Some(&r2), true, "{}");
    let on_top2 = compute(Some(&predicted2), false, EVIL);
    let planted = attack(
        &listener,
        vec![
            revision("child-1", vec![on_top.clone(), predicted.clone()], false, EVIL),
            revision("child-2", vec![on_top2, predicted2.clone()], false, EVIL),
        ],
    )
    .await;
    assert!(planted.iter().all(|o| matches!(o.result, Ok(true))), "{planted:?}");

    // The phone deletes child-1 (computing the planted id); the hub deletes
    // child-2 (where the planted id is in its own tree).
    assert_eq!(people.delete("child-1", &r).unwrap(), predicted);
    let hub_tombstone = hub.default_collection().unwrap().delete("child-2", &r2).unwrap();
    assert_ne!(hub_tombstone, predicted2, "a local deletion never aliases a planted id");
    sync(&phone, &listener).await;
    assert_eq!(live_export(&hub), live_export(&phone));

    // Whatever is still live is deleted on the phone: both sides agree.
    for id in ["child-1", "child-2"] {
        let doc = winner(&phone, id);
        if !doc.deleted {
            people.delete(id, &doc.rev).unwrap();
        }
    }
    sync(&phone, &listener).await;
    assert_eq!(
        live_export(&hub),
        Vec::new(),
        "the hub shows every deleted record deleted"
    );
    assert_eq!(live_export(&phone), Vec::new());
}

/// Item 2: a revision at the generation cap is accepted, but the next edit
/// is a typed error, not a row that no longer parses; export and sync go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_past_the_generation_cap_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let listener = listener(&hub).await;
    let hub_docs = hub.default_collection().unwrap();
    hub_docs.save("other", None, r#"{"n":1}"#).unwrap();

    // A live revision at the very last generation is not a valid id: that
    // generation is kept for tombstones.
    let past = RevId::new(MAX_REV_GENERATION - 1, "f").unwrap();
    let top = RevId::compute_variant(Some(&past), false, EVIL, &[], 0);
    assert!(top.is_err(), "no live revision at the last generation");
    let forged_top = RevId::new(MAX_REV_GENERATION, "f").unwrap();
    let refused = attack(&listener, vec![revision("pinned", vec![forged_top, past], false, EVIL)]).await;
    assert!(refused[0].result.is_err(), "{refused:?}");

    // The highest a peer can push: one short of the cap.
    let below = RevId::new(MAX_REV_GENERATION - 2, "f").unwrap();
    let pinned = compute(Some(&below), false, EVIL);
    assert_eq!(pinned.generation(), MAX_REV_GENERATION - 1);
    let stored = attack(
        &listener,
        vec![revision("pinned", vec![pinned.clone(), below], false, EVIL)],
    )
    .await;
    assert!(matches!(stored[0].result, Ok(true)), "{stored:?}");

    let edit = hub_docs.save("pinned", Some(&pinned), r#"{"n":2}"#);
    assert!(
        matches!(edit, Err(Error::InvalidInput(InvalidInput::GenerationLimit { .. }))),
        "{edit:?}"
    );
    assert!(
        RevId::new(MAX_REV_GENERATION + 1, "f").is_err(),
        "no id past the cap exists"
    );
    assert!("10000000000000000000-f".parse::<RevId>().is_err());
    assert_eq!(live_export(&hub).len(), 2, "export still reads every document");
    sync(&phone, &listener).await;
    assert_eq!(live_export(&hub), live_export(&phone));

    // A record must always be deletable, even pushed to the cap; and it can
    // be registered again afterwards.
    let phone_docs = phone.default_collection().unwrap();
    let tombstone = phone_docs.delete("pinned", &pinned).unwrap();
    assert_eq!(tombstone.generation(), MAX_REV_GENERATION);
    sync(&phone, &listener).await;
    assert!(hub_docs.get("pinned").unwrap().is_some_and(|d| d.deleted));
    let again = phone_docs.save("pinned", None, r#"{"n":3}"#).unwrap();
    assert_eq!(again.generation(), 1, "recreated as a new branch");
    sync(&phone, &listener).await;
    assert_eq!(live_export(&hub), live_export(&phone));
    assert_eq!(live_export(&hub).len(), 2);
}

/// Item 2: a row damaged in the file (a generation that overflows, as the
/// old code wrote) is reported and skipped by the changes feed, by export
/// and by replication; every other document still moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_row_is_skipped_and_reported_never_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let hub_docs = hub.default_collection().unwrap();
    for id in ["a", "b", "c"] {
        hub_docs.save(id, None, r#"{"n":1}"#).unwrap();
    }
    let raw = rusqlite::Connection::open(hub.path()).unwrap();
    let n = raw
        .execute("UPDATE docs SET rev = '10000000000000000000-ab' WHERE id = 'b'", [])
        .unwrap();
    assert_eq!(n, 1);
    drop(raw);

    let (feed, damaged) = hub_docs.changes_reporting(0, 10).unwrap();
    let ids: Vec<&str> = feed.changes.iter().map(|c| c.id.as_str()).collect();
    assert_eq!((ids, damaged), (vec!["a", "c"], vec!["b".to_owned()]));
    assert_eq!(hub_docs.changes(0, 1).unwrap().changes.len(), 1);
    let page = hub_docs.live_docs(None, 10).unwrap();
    assert_eq!(page.damaged, ["b"]);
    assert_eq!(page.items.len(), 2);

    let listener = listener(&hub).await;
    net_replicator(&phone, &listener, Direction::Pull, false)
        .run()
        .await
        .expect("a pull past a damaged row succeeds");
    let pulled: Vec<String> = live_export(&phone).into_iter().map(|(id, _, _)| id).collect();
    assert_eq!(pulled, ["a", "c"]);
}

/// Item 5: a 100,000-entry history is cut to `revs_limit` before it is
/// merged, so the write transaction does bounded work: a local write made
/// at the same time succeeds, and the stored tree is within the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_history_is_cut_to_revs_limit_and_local_writes_go_on() {
    const LENGTH: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let hub = open(dir.path(), "hub.db");
    let listener = listener(&hub).await;
    let parent = RevId::new(LENGTH - 1, "h").unwrap();
    let top = compute(Some(&parent), false, EVIL);
    let history: Vec<RevId> = std::iter::once(top)
        .chain((1..LENGTH).rev().map(|g| RevId::new(g, "h").unwrap()))
        .collect();
    assert_eq!(history.len() as u64, LENGTH);

    let insert = attack(&listener, vec![revision("long", history, false, EVIL)]);
    let local_writes = {
        let hub = hub.clone();
        tokio::task::spawn_blocking(move || {
            let c = hub.default_collection().unwrap();
            (0..20)
                .map(|i| c.save(&format!("local-{i}"), None, "{}"))
                .collect::<Vec<_>>()
        })
    };
    let (outcomes, writes) = tokio::join!(insert, local_writes);
    assert!(matches!(outcomes[0].result, Ok(true)), "{outcomes:?}");
    for write in writes.unwrap() {
        write.expect("a local write during the long insert succeeds");
    }
    let tree = hub
        .default_collection()
        .unwrap()
        .revision_tree("long")
        .unwrap()
        .unwrap();
    assert!(
        tree.nodes().len() <= DEFAULT_REVS_LIMIT as usize,
        "{} nodes",
        tree.nodes().len()
    );
}

/// Item 8: live leaves per document and stored bytes per document are
/// capped; the revision past either cap is refused as that document's
/// error and nothing of it is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaves_and_tree_bytes_past_their_caps_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(dir.path(), "hub.db");
    let listener = listener(&hub).await;
    let hub_docs = hub.default_collection().unwrap();
    let root = hub_docs.save("many", None, r#"{"n":0}"#).unwrap();

    let leaves: Vec<Revision> = (0..=MAX_LIVE_LEAVES)
        .map(|i| {
            let body = format!(r#"{{"n":{}}}"#, i + 1);
            revision(
                "many",
                vec![compute(Some(&root), false, &body), root.clone()],
                false,
                &body,
            )
        })
        .collect();
    let outcomes = attack(&listener, leaves).await;
    assert!(outcomes[..MAX_LIVE_LEAVES].iter().all(|o| matches!(o.result, Ok(true))));
    let over = &outcomes[MAX_LIVE_LEAVES];
    assert_refused_as(
        &over.id,
        over.result.as_ref().err(),
        DOC_LIMIT,
        "live conflicting revisions",
    );
    let tree = hub_docs.revision_tree("many").unwrap().unwrap();
    assert_eq!(tree.live_leaf_count(), MAX_LIVE_LEAVES);

    // Large conflicting leaves: four of 7 MiB fit, the fifth does not.
    let big = hub_docs.save("big", None, "{}").unwrap();
    let mut refused = None;
    for i in 0..5 {
        let body = format!(r#"{{"i":{i},"x":"{}"}}"#, "x".repeat(7 << 20));
        let rev = compute(Some(&big), false, &body);
        let outcome = attack(&listener, vec![revision("big", vec![rev, big.clone()], false, &body)]).await;
        if outcome[0].result.is_err() {
            refused = Some((i, outcome));
            break;
        }
    }
    let (at, outcome) = refused.expect("the tree byte cap refuses a leaf");
    assert_eq!(at, 4);
    assert_refused_as(
        &outcome[0].id,
        outcome[0].result.as_ref().err(),
        DOC_LIMIT,
        "bytes of revisions",
    );
    assert_eq!(hub_docs.revision_tree("big").unwrap().unwrap().live_leaf_count(), 4);
}

/// A phone's revision that the hub refused at its live-leaf cap (wire code
/// `doc_limit`) is not skipped for good: the refusal holds the push's
/// checkpoint, so once the hub's conflicts are resolved the next push
/// brings it, with no edit on the phone, and both keep the same winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_refused_at_the_leaf_cap_is_pushed_again_once_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    let (phone, hub) = (open(dir.path(), "phone.db"), open(dir.path(), "hub.db"));
    let listener = listener(&hub).await;
    let (phone_docs, hub_docs) = (phone.default_collection().unwrap(), hub.default_collection().unwrap());
    let root = phone_docs.save("many", None, r#"{"n":0}"#).unwrap();
    let push = || async {
        let events = Arc::new(Mutex::new(Vec::new()));
        let r = net_replicator(&phone, &listener, Direction::Push, false);
        let seen = events.clone();
        let _token = r.add_document_listener(move |batch| seen.lock().unwrap().extend(batch.iter().cloned()));
        r.run().await.expect("push");
        let events = events.lock().unwrap().clone();
        events
    };
    push().await;

    // Mallory fills the hub's copy to its cap; the phone's edit is then
    // one live leaf too many there.
    let planted: Vec<Revision> = (0..MAX_LIVE_LEAVES)
        .map(|i| {
            let body = format!(r#"{{"n":{}}}"#, i + 1);
            revision(
                "many",
                vec![compute(Some(&root), false, &body), root.clone()],
                false,
                &body,
            )
        })
        .collect();
    let outcomes = attack(&listener, planted).await;
    assert!(outcomes.iter().all(|o| matches!(o.result, Ok(true))));
    let edit = phone_docs.save("many", Some(&root), r#"{"n":"honest"}"#).unwrap();
    let events = push().await;
    let refused = events.iter().find(|e| e.rev == edit).expect("an event for the edit");
    assert_refused_as(
        &refused.id,
        refused.error.as_ref(),
        DOC_LIMIT,
        "live conflicting revisions",
    );

    // The hub's owner closes the planted leaves; the next push brings the
    // edit although the phone's document did not change since.
    let tree = hub_docs.revision_tree("many").unwrap().unwrap();
    for leaf in tree.leaves().into_iter().filter(|l| !l.deleted) {
        hub_docs.delete("many", &leaf.rev).unwrap();
    }
    let events = push().await;
    assert!(events.iter().any(|e| e.rev == edit && e.error.is_none()), "{events:?}");
    let (on_hub, on_phone) = (winner(&hub, "many"), winner(&phone, "many"));
    assert_eq!((&on_hub.rev, on_hub.deleted), (&edit, false));
    assert_eq!(on_hub.rev, on_phone.rev);
}
