//! Integration tests of the document store on real SQLite files.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use outpost_core::tuning::{MAX_BODY_BYTES, MAX_COLLECTION_NAME_CHARS, MAX_DOC_ID_BYTES};
use outpost_core::{
    ChangeEvent, ChangesBatch, Collection, Database, DatabaseConfig, Document, Durability, Error, InvalidInput, RevId,
    DEFAULT_COLLECTION,
};

/// Longest wait for anything that should happen promptly.
const WAIT: Duration = Duration::from_secs(10);

fn open(path: &Path) -> Database {
    Database::open(path, DatabaseConfig::default()).expect("open database")
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("test.db")
}

/// The `InvalidInput` inside an error, or a panic naming the error.
fn invalid(err: Error) -> InvalidInput {
    match err {
        Error::InvalidInput(i) => i,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

/// What an observer can see of a collection and of one document id.
#[derive(Debug, PartialEq)]
struct Snapshot {
    count: u64,
    last_sequence: u64,
    changes: ChangesBatch,
    doc: Option<Document>,
}

fn snapshot(c: &Collection, id: &str) -> Snapshot {
    Snapshot {
        count: c.count().unwrap(),
        last_sequence: c.database().last_sequence().unwrap(),
        changes: c.changes(0, usize::MAX).unwrap(),
        doc: c.get(id).unwrap(),
    }
}

fn ids(batch: &ChangesBatch) -> Vec<&str> {
    batch.changes.iter().map(|c| c.id.as_str()).collect()
}

/// Records every event a listener receives.
fn recorder() -> (
    Arc<Mutex<Vec<ChangeEvent>>>,
    impl Fn(&ChangeEvent) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (seen, move |e: &ChangeEvent| sink.lock().unwrap().push(e.clone()))
}

/// Events grouped by commit (sequence): a batch that interleaves
/// collections may report one collection in several events.
fn by_sequence(events: &[ChangeEvent]) -> Vec<(u64, Vec<&str>)> {
    let mut out: Vec<(u64, Vec<&str>)> = Vec::new();
    for e in events {
        let ids = e.doc_ids.iter().map(String::as_str);
        match out.last_mut() {
            Some((seq, all)) if *seq == e.sequence => all.extend(ids),
            _ => out.push((e.sequence, ids.collect())),
        }
    }
    out
}

// ---------------------------------------------------------------- opening

#[test]
fn open_creates_the_file_and_uuid_is_stable_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    assert!(!path.exists());
    let db = open(&path);
    assert!(path.exists());
    let uuid = db.uuid().to_owned();
    assert_eq!(uuid.len(), 36, "uuid {uuid:?}");
    assert_eq!(uuid.matches('-').count(), 4, "uuid {uuid:?}");
    assert_eq!(db.path(), std::fs::canonicalize(&path).unwrap());
    assert_eq!(db.last_sequence().unwrap(), 0);
    let rev = db.default_collection().unwrap().save("a", None, r#"{"v":1}"#).unwrap();
    db.close().unwrap();
    drop(db);

    let again = open(&path);
    assert_eq!(again.uuid(), uuid);
    assert_eq!(again.last_sequence().unwrap(), 1);
    let doc = again.default_collection().unwrap().get("a").unwrap().unwrap();
    assert_eq!((doc.rev, doc.body.as_str()), (rev, r#"{"v":1}"#));

    let other = open(&dir.path().join("other.db"));
    assert_ne!(other.uuid(), uuid, "two files share a uuid");
}

#[test]
fn durability_full_opens_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let config = DatabaseConfig {
        durability: Durability::Full,
        ..DatabaseConfig::default()
    };
    let db = Database::open(&path, config.clone()).unwrap();
    assert_eq!(db.config(), &config);
    let rev = db.default_collection().unwrap().save("a", None, "{}").unwrap();
    db.close().unwrap();
    let db = open(&path);
    assert_eq!(db.default_collection().unwrap().get("a").unwrap().unwrap().rev, rev);
}

#[test]
fn open_refuses_bad_config_and_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let zero = DatabaseConfig {
        revs_limit: 0,
        ..DatabaseConfig::default()
    };
    let err = Database::open(db_path(&dir), zero).unwrap_err();
    assert!(matches!(invalid(err), InvalidInput::BadConfig(_)));
    assert!(!db_path(&dir).exists(), "a refused open created the file");

    let missing = dir.path().join("no-such-dir").join("x.db");
    let err = Database::open(&missing, DatabaseConfig::default()).unwrap_err();
    assert!(matches!(invalid(err), InvalidInput::BadConfig(_)));
    assert!(!missing.parent().unwrap().exists());
}

// ---------------------------------------------------------------- collections

#[test]
fn collections_create_list_delete() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    assert_eq!(db.collection_names().unwrap(), vec![DEFAULT_COLLECTION]);
    assert_eq!(db.default_collection().unwrap().name(), DEFAULT_COLLECTION);

    let families = db.create_collection("families").unwrap();
    let children = db.create_collection("children").unwrap();
    assert_eq!(families.name(), "families");
    assert_eq!(
        db.collection_names().unwrap(),
        vec![DEFAULT_COLLECTION, "children", "families"]
    );
    families.save("f1", None, r#"{"n":1}"#).unwrap();
    children.save("c1", None, r#"{"n":1}"#).unwrap();

    // Creating again returns the existing collection, documents and all.
    let same = db.create_collection("families").unwrap();
    assert_eq!(same.count().unwrap(), 1);
    assert_eq!(
        db.collection("families").unwrap().get("f1").unwrap().unwrap().body,
        r#"{"n":1}"#
    );
    // Collections are separate namespaces.
    assert!(children.get("f1").unwrap().is_none());
    assert!(db.default_collection().unwrap().get("f1").unwrap().is_none());

    assert!(matches!(db.collection("missing"), Err(Error::CollectionNotFound(n)) if n == "missing"));
    assert!(matches!(
        db.delete_collection("missing"),
        Err(Error::CollectionNotFound(_))
    ));

    db.delete_collection("families").unwrap();
    assert_eq!(db.collection_names().unwrap(), vec![DEFAULT_COLLECTION, "children"]);
    assert!(matches!(db.collection("families"), Err(Error::CollectionNotFound(_))));
    // A handle to the deleted collection can no longer write.
    assert!(matches!(
        families.save("f2", None, "{}"),
        Err(Error::CollectionNotFound(n)) if n == "families"
    ));
    // Recreated, it is empty.
    let families = db.create_collection("families").unwrap();
    assert_eq!(families.count().unwrap(), 0);
    assert!(families.get("f1").unwrap().is_none());
    assert_eq!(children.count().unwrap(), 1);
}

#[test]
fn default_collection_cannot_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    docs.save("a", None, "{}").unwrap();
    let before = snapshot(&docs, "a");
    let err = db.delete_collection(DEFAULT_COLLECTION).unwrap_err();
    assert_eq!(invalid(err), InvalidInput::BadCollectionName(DEFAULT_COLLECTION.into()));
    assert_eq!(db.collection_names().unwrap(), vec![DEFAULT_COLLECTION]);
    assert_eq!(snapshot(&docs, "a"), before);
}

#[test]
fn bad_collection_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let too_long = "a".repeat(MAX_COLLECTION_NAME_CHARS + 1);
    for name in ["", "_private", "%x", "a b", "a/b", "a.b", "é", "a\n", too_long.as_str()] {
        let shown: String = name.chars().take(100).collect();
        let err = db.create_collection(name).unwrap_err();
        assert_eq!(invalid(err), InvalidInput::BadCollectionName(shown.clone()), "{name:?}");
        let err = db.collection(name).unwrap_err();
        assert_eq!(invalid(err), InvalidInput::BadCollectionName(shown), "{name:?}");
    }
    assert_eq!(db.collection_names().unwrap(), vec![DEFAULT_COLLECTION]);
    // The edges of the rule are accepted.
    let longest = "b".repeat(MAX_COLLECTION_NAME_CHARS);
    for name in ["a", "A-z_0%9", longest.as_str()] {
        assert_eq!(db.create_collection(name).unwrap().name(), name);
    }
    assert_eq!(db.collection_names().unwrap().len(), 4);
}

#[test]
fn stale_handle_of_deleted_collection_never_writes_into_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let old = db.create_collection("old").unwrap();
    db.delete_collection("old").unwrap();
    // SQLite may hand the freed id to the next collection created.
    let new = db.create_collection("new").unwrap();
    let before = snapshot(&new, "x");
    assert!(matches!(
        old.save("x", None, "{}"),
        Err(Error::CollectionNotFound(n)) if n == "old"
    ));
    assert!(matches!(old.put_local("l", "{}"), Err(Error::CollectionNotFound(_))));
    assert_eq!(snapshot(&new, "x"), before);
    assert_eq!(new.get_local("l").unwrap(), None);
}

#[test]
fn collection_of_another_database_is_refused_in_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir.path().join("a.db"));
    let b = open(&dir.path().join("b.db"));
    let in_a = a.default_collection().unwrap();
    let err = b.batch(|batch| batch.save(&in_a, "x", None, "{}")).unwrap_err();
    assert!(matches!(invalid(err), InvalidInput::BadConfig(_)));
    assert_eq!(in_a.count().unwrap(), 0);
    assert_eq!((a.last_sequence().unwrap(), b.last_sequence().unwrap()), (0, 0));
}

// ---------------------------------------------------------------- documents

#[test]
fn document_lifecycle_save_update_delete_recreate_purge() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    assert!(docs.get("a").unwrap().is_none());
    assert_eq!(docs.count().unwrap(), 0);

    // Create: the body is stored in canonical form.
    let r1 = docs.save("a", None, r#"{ "z": 1, "a": [true, null] }"#).unwrap();
    assert_eq!(r1.generation(), 1);
    assert_eq!(
        r1,
        RevId::compute(None, false, r#"{"a":[true,null],"z":1}"#, &[]).unwrap()
    );
    let doc = docs.get("a").unwrap().unwrap();
    assert_eq!(
        doc,
        Document {
            id: "a".into(),
            rev: r1.clone(),
            body: r#"{"a":[true,null],"z":1}"#.into(),
            deleted: false,
            conflicts: vec![],
            sequence: 1,
        }
    );
    assert_eq!(docs.count().unwrap(), 1);

    // Update.
    let r2 = docs.save("a", Some(&r1), r#"{"z":2}"#).unwrap();
    assert_eq!(r2.generation(), 2);
    let doc = docs.get("a").unwrap().unwrap();
    assert_eq!((&doc.rev, doc.body.as_str(), doc.sequence), (&r2, r#"{"z":2}"#, 2));
    assert_eq!(docs.count().unwrap(), 1);

    // Delete: a tombstone is the winner; the document no longer counts.
    let r3 = docs.delete("a", &r2).unwrap();
    assert_eq!(r3.generation(), 3);
    let doc = docs.get("a").unwrap().unwrap();
    assert_eq!((&doc.rev, doc.body.as_str(), doc.deleted), (&r3, "{}", true));
    assert_eq!(docs.count().unwrap(), 0);
    // Deleting a tombstone again, or a missing document, fails.
    assert!(matches!(docs.delete("a", &r3), Err(Error::Conflict { .. })));
    assert!(matches!(
        docs.delete("missing", &r1),
        Err(Error::NotFound { id, rev: None }) if id == "missing"
    ));

    // Recreate over the tombstone with `None`.
    let r4 = docs.save("a", None, r#"{"back":true}"#).unwrap();
    assert_eq!(r4.generation(), 4);
    assert_eq!(
        docs.revision_tree("a").unwrap().unwrap().history(&r4, 10),
        vec![r4.clone(), r3.clone(), r2.clone(), r1.clone()]
    );
    let doc = docs.get("a").unwrap().unwrap();
    assert!(!doc.deleted);
    assert_eq!(doc.body, r#"{"back":true}"#);
    assert_eq!(docs.count().unwrap(), 1);
    assert_eq!(db.last_sequence().unwrap(), 4);

    // Purge removes every trace, locally, without a new sequence.
    assert!(docs.purge("a").unwrap());
    assert!(docs.get("a").unwrap().is_none());
    assert!(docs.revision_tree("a").unwrap().is_none());
    assert_eq!(docs.count().unwrap(), 0);
    assert!(docs.changes(0, 100).unwrap().changes.is_empty());
    assert!(!docs.purge("a").unwrap());
    // After a purge the id starts a new history.
    let fresh = docs.save("a", None, r#"{"z":1}"#).unwrap();
    assert_eq!(fresh.generation(), 1);
}

#[test]
fn save_over_stale_revision_is_a_conflict_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let r1 = docs.save("a", None, r#"{"v":1}"#).unwrap();
    let r2 = docs.save("a", Some(&r1), r#"{"v":2}"#).unwrap();
    let before = snapshot(&docs, "a");

    let expect_conflict = |result: Result<RevId, Error>, current: Option<&RevId>| match result {
        Err(Error::Conflict { id, current: c }) => {
            assert_eq!(id, "a");
            assert_eq!(c, current.map(RevId::to_string));
        }
        other => panic!("expected a conflict, got {other:?}"),
    };
    expect_conflict(docs.save("a", Some(&r1), r#"{"v":3}"#), Some(&r2));
    expect_conflict(docs.save("a", None, r#"{"v":3}"#), Some(&r2));
    let unknown: RevId = "9-abc".parse().unwrap();
    expect_conflict(docs.save("a", Some(&unknown), r#"{"v":3}"#), Some(&r2));
    expect_conflict(docs.delete("a", &r1), Some(&r2));
    assert_eq!(snapshot(&docs, "a"), before);

    // A revision for a document that does not exist is a conflict too.
    match docs.save("new", Some(&r1), "{}") {
        Err(Error::Conflict { id, current: None }) => assert_eq!(id, "new"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(docs.get("new").unwrap().is_none());
    assert_eq!(snapshot(&docs, "a"), before);

    // The current revision still works.
    let r3 = docs.save("a", Some(&r2), r#"{"v":3}"#).unwrap();
    assert_eq!(docs.get("a").unwrap().unwrap().rev, r3);
}

#[test]
fn get_revision_returns_leaves_with_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let r1 = docs.save("a", None, r#"{"v":1}"#).unwrap();
    let at_r1 = docs.get_revision("a", &r1).unwrap().unwrap();
    assert_eq!(
        (&at_r1.rev, at_r1.body.as_str(), at_r1.deleted),
        (&r1, r#"{"v":1}"#, false)
    );
    let r2 = docs.save("a", Some(&r1), r#"{"v":2}"#).unwrap();
    let at_r2 = docs.get_revision("a", &r2).unwrap().unwrap();
    assert_eq!((&at_r2.rev, at_r2.body.as_str()), (&r2, r#"{"v":2}"#));
    assert_eq!(at_r2.sequence, 2);
    // Ancestors keep their id but not their body.
    assert!(docs.get_revision("a", &r1).unwrap().is_none());
    assert!(docs.revision_tree("a").unwrap().unwrap().get(&r1).is_some());
    let r3 = docs.delete("a", &r2).unwrap();
    let tomb = docs.get_revision("a", &r3).unwrap().unwrap();
    assert!(tomb.deleted);
    assert!(docs.get_revision("a", &"7-abc".parse().unwrap()).unwrap().is_none());
    assert!(docs.get_revision("missing", &r1).unwrap().is_none());
}

#[test]
fn ids_at_the_limits_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let longest = "x".repeat(MAX_DOC_ID_BYTES);
    for id in [longest.as_str(), "a", "é漢字", "with space", "a_b", "1"] {
        let rev = docs.save(id, None, "{}").unwrap();
        assert_eq!(docs.get(id).unwrap().unwrap().rev, rev, "{id:?}");
    }
    // Nested `_` fields are the user's own.
    docs.save("nested", None, r#"{"a":{"_b":1}}"#).unwrap();
    assert_eq!(docs.count().unwrap(), 7);
}

// ---------------------------------------------------------------- bad input

/// Sets up a collection with one document `doc` and checks that `f` fails
/// with exactly `want` and that nothing observable changed.
fn assert_refused(want: InvalidInput, f: impl FnOnce(&Collection, &RevId) -> Result<(), Error>) {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let rev = docs.save("doc", None, r#"{"v":1}"#).unwrap();
    docs.put_local("local", r#"{"l":1}"#).unwrap();
    let rx = db.subscribe();
    let (events, listener) = recorder();
    let _token = docs.add_change_listener(listener);
    let before = snapshot(&docs, "doc");
    let before_new = docs.get("new").unwrap();

    let err = f(&docs, &rev).expect_err("bad input accepted");
    assert_eq!(invalid(err), want);

    assert_eq!(snapshot(&docs, "doc"), before);
    assert_eq!(docs.get("new").unwrap(), before_new);
    assert_eq!(docs.get_local("local").unwrap().as_deref(), Some(r#"{"l":1}"#));
    assert!(!rx.has_changed().unwrap(), "a refused write woke subscribers");
    assert!(events.lock().unwrap().is_empty(), "a refused write called listeners");
}

#[test]
fn invalid_json_is_refused() {
    for body in ["{", "", "{\"a\":}", "{'a':1}", "{\"a\":1}x"] {
        let check = |e: InvalidInput| matches!(e, InvalidInput::InvalidJson(_));
        let dir = tempfile::tempdir().unwrap();
        let db = open(&db_path(&dir));
        let docs = db.default_collection().unwrap();
        let rev = docs.save("doc", None, "{}").unwrap();
        let before = snapshot(&docs, "doc");
        assert!(
            check(invalid(docs.save("doc", Some(&rev), body).unwrap_err())),
            "{body:?}"
        );
        assert!(check(invalid(docs.save("new", None, body).unwrap_err())), "{body:?}");
        assert!(check(invalid(docs.put_local("doc", body).unwrap_err())), "{body:?}");
        assert_eq!(snapshot(&docs, "doc"), before);
        assert!(docs.get("new").unwrap().is_none());
        assert!(docs.get_local("doc").unwrap().is_none());
    }
    // And with the full set of observers, message included:
    for body in ["{", "{\"a\":}", "nope"] {
        let want = InvalidInput::InvalidJson(serde_json_error(body));
        assert_refused(want.clone(), |d, r| d.save("doc", Some(r), body).map(drop));
        assert_refused(want.clone(), |d, _| d.save("new", None, body).map(drop));
        assert_refused(want, |d, _| d.put_local("local", body));
    }
}

/// The message serde_json gives for `text` (InvalidJson carries it).
fn serde_json_error(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text).unwrap_err().to_string()
}

#[test]
fn body_not_an_object_is_refused() {
    for body in ["[1,2]", "3", "\"s\"", "null", "true", "[]"] {
        assert_refused(InvalidInput::BodyNotObject, |d, r| {
            d.save("doc", Some(r), body).map(drop)
        });
        assert_refused(InvalidInput::BodyNotObject, |d, _| d.save("new", None, body).map(drop));
    }
    assert_refused(InvalidInput::BodyNotObject, |d, _| d.put_local("local", "[1]"));
}

#[test]
fn empty_id_is_refused() {
    assert_refused(InvalidInput::EmptyId, |d, _| d.save("", None, "{}").map(drop));
    assert_refused(InvalidInput::EmptyId, |d, r| d.delete("", r).map(drop));
}

#[test]
fn over_long_id_is_refused() {
    let long = "x".repeat(MAX_DOC_ID_BYTES + 1);
    let want = InvalidInput::IdTooLong {
        size: MAX_DOC_ID_BYTES + 1,
        limit: MAX_DOC_ID_BYTES,
    };
    assert_refused(want.clone(), |d, _| d.save(&long, None, "{}").map(drop));
    assert_refused(want, |d, r| d.delete(&long, r).map(drop));
    // The limit is in bytes, not characters.
    let wide = "é".repeat(MAX_DOC_ID_BYTES / 2 + 1);
    let want = InvalidInput::IdTooLong {
        size: wide.len(),
        limit: MAX_DOC_ID_BYTES,
    };
    assert_refused(want, |d, _| d.save(&wide, None, "{}").map(drop));
}

#[test]
fn reserved_and_control_character_ids_are_refused() {
    for id in ["_design/x", "_", "_local/a", "a\nb", "tab\t", "\u{7f}"] {
        assert_refused(InvalidInput::BadId(id.into()), |d, _| d.save(id, None, "{}").map(drop));
        assert_refused(InvalidInput::BadId(id.into()), |d, r| d.delete(id, r).map(drop));
    }
}

#[test]
fn malformed_rev_ids_are_refused() {
    for text in [
        "x",
        "",
        "1",
        "1-",
        "-a",
        "0-a",
        "a-b",
        "1-a b",
        "1-é",
        "+1-a",
        "99999999999999999999-a",
    ] {
        assert_refused(InvalidInput::BadRevId(text.into()), |d, _| {
            let rev = text.parse::<RevId>()?;
            d.save("doc", Some(&rev), r#"{"v":2}"#).map(drop)
        });
    }
    let long_hash = format!("1-{}", "a".repeat(outpost_core::tuning::MAX_REV_HASH_CHARS + 1));
    assert_eq!(
        long_hash.parse::<RevId>(),
        Err(InvalidInput::BadRevId(long_hash.clone()))
    );
    assert!(RevId::new(0, "a").is_err());
}

#[test]
fn reserved_top_level_fields_are_refused() {
    assert_refused(InvalidInput::ReservedField("_foo".into()), |d, r| {
        d.save("doc", Some(r), r#"{"a":1,"_foo":2}"#).map(drop)
    });
    assert_refused(InvalidInput::ReservedField("_id".into()), |d, _| {
        d.save("new", None, r#"{"_id":"new"}"#).map(drop)
    });
    assert_refused(InvalidInput::ReservedField("_rev".into()), |d, _| {
        d.put_local("local", r#"{"_rev":"1-a"}"#)
    });
}

#[test]
fn oversized_body_is_refused() {
    // `{"a":"xxx…"}` of exactly MAX_BODY_BYTES + 1 bytes.
    let body = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_BODY_BYTES + 1 - 8));
    assert_eq!(body.len(), MAX_BODY_BYTES + 1);
    let want = InvalidInput::BodyTooLarge {
        size: MAX_BODY_BYTES + 1,
        limit: MAX_BODY_BYTES,
    };
    assert_refused(want.clone(), |d, r| d.save("doc", Some(r), &body).map(drop));
    assert_refused(want.clone(), |d, _| d.save("new", None, &body).map(drop));
    assert_refused(want, |d, _| d.put_local("local", &body));
}

#[test]
fn body_of_exactly_the_limit_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let body = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_BODY_BYTES - 8));
    assert_eq!(body.len(), MAX_BODY_BYTES);
    docs.save("big", None, &body).unwrap();
    assert_eq!(docs.get("big").unwrap().unwrap().body.len(), MAX_BODY_BYTES);
}

#[test]
fn bad_input_inside_a_batch_rolls_back_the_whole_batch() {
    assert_refused(InvalidInput::EmptyId, |d, r| {
        d.database().batch(|b| {
            b.save(d, "doc", Some(r), r#"{"v":2}"#)?;
            b.save(d, "new", None, "{}")?;
            b.save(d, "", None, "{}")?;
            Ok(())
        })
    });
}

// ---------------------------------------------------------------- batches

#[test]
fn batch_commits_together() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let other = db.create_collection("other").unwrap();
    let rx = db.subscribe();
    let (events, listener) = recorder();
    let _token = docs.add_change_listener(listener);

    let (ra, rb) = db
        .batch(|b| {
            let ra = b.save(&docs, "a", None, r#"{"n":1}"#)?;
            let ra2 = b.save(&docs, "a", Some(&ra), r#"{"n":2}"#)?;
            let rb = b.save(&other, "b", None, "{}")?;
            b.save(&docs, "c", None, "{}")?;
            Ok((ra2, rb))
        })
        .unwrap();
    assert_eq!(ra.generation(), 2);
    assert_eq!(docs.get("a").unwrap().unwrap().rev, ra);
    assert_eq!(other.get("b").unwrap().unwrap().rev, rb);
    assert_eq!(docs.count().unwrap(), 2);
    // One sequence per stored write, published once.
    assert_eq!(db.last_sequence().unwrap(), 4);
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow(), 4);
    // One commit: every event carries the batch's final sequence, and
    // together they list this collection's writes in order.
    assert_eq!(by_sequence(&events.lock().unwrap()), vec![(4, vec!["a", "a", "c"])]);
}

#[test]
fn error_in_batch_closure_rolls_back_everything() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let other = db.create_collection("other").unwrap();
    let r1 = docs.save("a", None, r#"{"v":1}"#).unwrap();
    let before = snapshot(&docs, "a");
    let before_other = snapshot(&other, "b");
    let mut rx = db.subscribe();
    rx.mark_unchanged();
    let (events, listener) = recorder();
    let _token = docs.add_change_listener(listener);

    let result: Result<(), Error> = db.batch(|b| {
        let r2 = b.save(&docs, "a", Some(&r1), r#"{"v":2}"#)?;
        b.delete(&docs, "a", &r2)?;
        b.save(&other, "b", None, "{}")?;
        b.save(&docs, "new", None, "{}")?;
        b.purge(&docs, "a")?;
        b.save(&docs, "x", None, "{}")?;
        // A stale revision: the conflict aborts the whole batch.
        b.save(&docs, "x", Some(&r1), "{}")?;
        Ok(())
    });
    assert!(matches!(result, Err(Error::Conflict { id, .. }) if id == "x"));

    // A closure may also fail with its own error.
    let result: Result<(), Error> = db.batch(|b| {
        b.save(&docs, "y", None, "{}")?;
        Err(Error::NotFound {
            id: "why".into(),
            rev: None,
        })
    });
    assert!(matches!(result, Err(Error::NotFound { id, .. }) if id == "why"));

    assert_eq!(snapshot(&docs, "a"), before);
    assert_eq!(snapshot(&other, "b"), before_other);
    for id in ["new", "x", "y"] {
        assert!(docs.get(id).unwrap().is_none(), "{id} survived a rolled-back batch");
    }
    assert!(!rx.has_changed().unwrap());
    assert!(events.lock().unwrap().is_empty());

    // The database is still usable afterwards.
    docs.save("z", None, "{}").unwrap();
    assert_eq!(db.last_sequence().unwrap(), before.last_sequence + 1);
}

// ---------------------------------------------------------------- changes feed

#[test]
fn changes_feed_orders_by_sequence_each_doc_once_with_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let other = db.create_collection("other").unwrap();
    assert_eq!(docs.changes(0, 100).unwrap(), ChangesBatch::default());

    let ra = docs.save("a", None, r#"{"n":1}"#).unwrap(); // 1
    let rb = docs.save("b", None, r#"{"n":1}"#).unwrap(); // 2
    docs.save("c", None, r#"{"n":1}"#).unwrap(); // 3
    let ra2 = docs.save("a", Some(&ra), r#"{"n":2}"#).unwrap(); // 4
    other.save("o", None, "{}").unwrap(); // 5
    let rb2 = docs.delete("b", &rb).unwrap(); // 6
    let rd = docs.save("d", None, "{}").unwrap(); // 7

    let all = docs.changes(0, 100).unwrap();
    assert_eq!(ids(&all), vec!["c", "a", "b", "d"]);
    let seqs: Vec<u64> = all.changes.iter().map(|c| c.sequence).collect();
    assert_eq!(seqs, vec![3, 4, 6, 7]);
    assert_eq!(all.last_sequence, 7);
    let a = &all.changes[1];
    assert_eq!((&a.rev, a.deleted, &a.leaves), (&ra2, false, &vec![ra2.clone()]));
    let b = &all.changes[2];
    assert_eq!((&b.rev, b.deleted, &b.leaves), (&rb2, true, &vec![rb2.clone()]));
    assert_eq!(all.changes[3].rev, rd);
    // Sequences match what `get` reports.
    for change in &all.changes {
        assert_eq!(docs.get(&change.id).unwrap().unwrap().sequence, change.sequence);
    }

    // `since` is exclusive.
    assert_eq!(ids(&docs.changes(3, 100).unwrap()), vec!["a", "b", "d"]);
    assert_eq!(ids(&docs.changes(4, 100).unwrap()), vec!["b", "d"]);
    let tail = docs.changes(7, 100).unwrap();
    assert!(tail.changes.is_empty());
    assert_eq!(tail.last_sequence, 7);

    // The other collection sees only its own document.
    let o = other.changes(0, 100).unwrap();
    assert_eq!(ids(&o), vec!["o"]);
    // ...but is complete up to the database's last sequence.
    assert_eq!(o.last_sequence, 7);
}

#[test]
fn changes_feed_pages_with_limit_and_last_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let other = db.create_collection("other").unwrap();
    for i in 0..10 {
        docs.save(&format!("d{i}"), None, "{}").unwrap();
        other.save(&format!("o{i}"), None, "{}").unwrap();
    }
    let full = docs.changes(0, usize::MAX).unwrap();
    assert_eq!(full.changes.len(), 10);
    assert_eq!(full.last_sequence, 20);

    // A full page ends at its last change, so nothing is skipped.
    let page = docs.changes(0, 3).unwrap();
    assert_eq!(ids(&page), vec!["d0", "d1", "d2"]);
    assert_eq!(page.last_sequence, page.changes[2].sequence);
    assert_eq!(page.last_sequence, 5);

    for limit in [1, 2, 3, 4, 7, 10, 11] {
        let mut since = 0;
        let mut seen = Vec::new();
        loop {
            let page = docs.changes(since, limit).unwrap();
            assert!(page.changes.len() <= limit);
            assert!(page.last_sequence >= since);
            seen.extend(page.changes.iter().cloned());
            if page.last_sequence == since {
                break;
            }
            since = page.last_sequence;
        }
        assert_eq!(seen, full.changes, "paging with limit {limit}");
        assert_eq!(since, 20);
    }

    // A limit of 0 reads nothing, so it must not claim the feed is complete.
    let none = docs.changes(4, 0).unwrap();
    assert!(none.changes.is_empty());
    assert_eq!(none.last_sequence, 4);
}

#[test]
fn changes_feed_shows_each_document_once_at_its_latest_change() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let mut revs: Vec<RevId> = (0..5)
        .map(|i| docs.save(&format!("d{i}"), None, "{}").unwrap())
        .collect();
    for round in 0..20u64 {
        let i = ((round * 7) % 5) as usize;
        revs[i] = docs
            .save(&format!("d{i}"), Some(&revs[i]), &format!(r#"{{"r":{round}}}"#))
            .unwrap();
    }
    let feed = docs.changes(0, usize::MAX).unwrap();
    assert_eq!(feed.changes.len(), 5);
    assert!(feed.changes.windows(2).all(|w| w[0].sequence < w[1].sequence));
    for change in &feed.changes {
        let i: usize = change.id[1..].parse().unwrap();
        assert_eq!(change.rev, revs[i]);
    }
    assert_eq!(feed.changes.last().unwrap().sequence, 25);
    assert_eq!(feed.last_sequence, 25);
}

// ---------------------------------------------------------------- all_docs

#[test]
fn all_docs_pages_live_documents_in_id_byte_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let other = db.create_collection("other").unwrap();
    // Saved out of order; byte order puts upper case before lower case and
    // multi-byte characters last.
    let ids = ["b", "a", "Z", "é", "a1", "c", "gone"];
    let mut revs = std::collections::BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        revs.insert(*id, docs.save(id, None, &format!(r#"{{"n":{i}}}"#)).unwrap());
    }
    docs.delete("gone", &revs["gone"]).unwrap();
    other.save("a0", None, "{}").unwrap();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = docs.all_docs(after.as_deref(), 2).unwrap();
        assert!(page.len() <= 2);
        for doc in &page {
            assert_eq!(
                Some(doc),
                docs.get(&doc.id).unwrap().as_ref(),
                "all_docs agrees with get"
            );
            assert!(!doc.deleted);
        }
        seen.extend(page.iter().map(|d| d.id.clone()));
        match page.last() {
            Some(last) if page.len() == 2 => after = Some(last.id.clone()),
            _ => break,
        }
    }
    assert_eq!(seen, ["Z", "a", "a1", "b", "c", "é"]);
    assert!(docs.all_docs(Some("é"), 10).unwrap().is_empty());
    assert!(docs.all_docs(None, 0).unwrap().is_empty());
    let others: Vec<String> = other.all_docs(None, 10).unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(others, ["a0"]);
}

#[test]
fn all_docs_lists_the_conflicts_of_a_branched_document() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(&dir.path().join("a.db")), open(&dir.path().join("b.db")));
    let (ca, cb) = (a.default_collection().unwrap(), b.default_collection().unwrap());
    ca.save("plain", None, r#"{"v":0}"#).unwrap();
    ca.save("x", None, r#"{"side":"a"}"#).unwrap();
    cb.save("x", None, r#"{"side":"b"}"#).unwrap();
    // Pushing b's edit into a (a pull would let a's resolver merge it).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(common::replicate(&b, &a, outpost_core::replication::Direction::Push));

    let listed = ca.all_docs(None, 10).unwrap();
    assert_eq!(listed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["plain", "x"]);
    assert!(listed[0].conflicts.is_empty());
    let x = ca.get("x").unwrap().unwrap();
    assert_eq!(x.conflicts.len(), 1, "two live leaves: one conflict");
    assert_eq!(listed[1], x);
}

// ---------------------------------------------------------------- notifications

#[tokio::test]
async fn subscription_wakes_on_write_from_another_thread() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    docs.save("first", None, "{}").unwrap();
    let mut rx = db.subscribe();
    assert_eq!(*rx.borrow_and_update(), 1);

    let writer = {
        let docs = docs.clone();
        thread::spawn(move || docs.save("a", None, r#"{"from":"thread"}"#).unwrap())
    };
    tokio::time::timeout(WAIT, rx.changed())
        .await
        .expect("no wake-up within the timeout")
        .expect("sender dropped");
    let rev = writer.join().unwrap();
    assert_eq!(*rx.borrow_and_update(), 2);
    assert_eq!(docs.get("a").unwrap().unwrap().rev, rev);

    // Refused writes and local documents do not wake subscribers.
    assert!(docs.save("", None, "{}").is_err());
    docs.put_local("l", "{}").unwrap();
    assert!(!rx.has_changed().unwrap());

    // A batch from another thread wakes it once, at its last sequence.
    let writer = {
        let db = db.clone();
        let docs = docs.clone();
        thread::spawn(move || {
            db.batch(|b| {
                for i in 0..5 {
                    b.save(&docs, &format!("b{i}"), None, "{}")?;
                }
                Ok(())
            })
            .unwrap()
        })
    };
    tokio::time::timeout(WAIT, rx.changed()).await.unwrap().unwrap();
    writer.join().unwrap();
    assert_eq!(*rx.borrow_and_update(), 7);
    assert!(!rx.has_changed().unwrap());
}

#[test]
fn collection_listener_is_called_with_the_right_ids_until_its_token_drops() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let other = db.create_collection("other").unwrap();
    let (events, listener) = recorder();
    let token = docs.add_change_listener(listener);

    let ra = docs.save("a", None, "{}").unwrap();
    other.save("o", None, "{}").unwrap();
    docs.delete("a", &ra).unwrap();
    db.batch(|b| {
        b.save(&docs, "b", None, "{}")?;
        b.save(&other, "o2", None, "{}")?;
        b.save(&docs, "c", None, "{}")
    })
    .unwrap();
    docs.purge("c").unwrap();
    docs.put_local("l", "{}").unwrap();

    let heard = events.lock().unwrap().clone();
    assert!(heard.iter().all(|e| e.collection == DEFAULT_COLLECTION));
    assert_eq!(
        by_sequence(&heard),
        vec![(1, vec!["a"]), (3, vec!["a"]), (6, vec!["b", "c"])]
    );

    drop(token);
    docs.save("d", None, "{}").unwrap();
    assert_eq!(
        events.lock().unwrap().len(),
        heard.len(),
        "listener called after its token dropped"
    );
}

#[test]
fn document_listener_sees_only_its_document() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let other = db.create_collection("other").unwrap();
    let (events, listener) = recorder();
    let token = docs.add_document_listener("a", listener);

    docs.save("b", None, "{}").unwrap(); // 1
    other.save("a", None, "{}").unwrap(); // 2: same id, other collection
    let ra = docs.save("a", None, "{}").unwrap(); // 3
    db.batch(|b| {
        b.save(&docs, "x", None, "{}")?; // 4
        b.save(&docs, "a", Some(&ra), r#"{"v":2}"#)?; // 5
        b.save(&docs, "y", None, "{}") // 6
    })
    .unwrap();
    assert_eq!(
        *events.lock().unwrap(),
        vec![
            ChangeEvent {
                collection: DEFAULT_COLLECTION.into(),
                doc_ids: vec!["a".into()],
                sequence: 3,
            },
            ChangeEvent {
                collection: DEFAULT_COLLECTION.into(),
                doc_ids: vec!["a".into()],
                sequence: 6,
            },
        ]
    );
    token.remove();
    let current = docs.get("a").unwrap().unwrap().rev;
    docs.save("a", Some(&current), r#"{"v":3}"#).unwrap();
    assert_eq!(events.lock().unwrap().len(), 2, "listener called after remove()");
}

#[test]
fn listener_may_read_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = docs.clone();
    let tx = Mutex::new(tx);
    let _token = docs.add_change_listener(move |e| {
        let bodies: Vec<String> = e
            .doc_ids
            .iter()
            .map(|id| reader.get(id).unwrap().unwrap().body)
            .collect();
        tx.lock().unwrap().send(bodies).unwrap();
    });
    let writer = {
        let docs = docs.clone();
        thread::spawn(move || docs.save("a", None, r#"{"v":1}"#).unwrap())
    };
    let bodies = rx.recv_timeout(WAIT).expect("listener not called");
    assert_eq!(bodies, vec![r#"{"v":1}"#.to_string()]);
    writer.join().unwrap();
}

// ---------------------------------------------------------------- two handles

#[test]
fn two_handles_writing_concurrently_lose_nothing_and_see_each_others_changes() {
    const PER_THREAD: usize = 150;
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let db1 = open(&path);
    let db2 = open(&path);
    assert_eq!(db1.uuid(), db2.uuid());
    let c1 = db1.default_collection().unwrap();
    let c2 = db2.default_collection().unwrap();
    let (seen1, l1) = recorder();
    let (seen2, l2) = recorder();
    let _t1 = c1.add_change_listener(l1);
    let _t2 = c2.add_change_listener(l2);
    let rx1 = db1.subscribe();
    let rx2 = db2.subscribe();

    let spawn = |db: Database, prefix: &'static str| {
        thread::spawn(move || {
            let c = db.default_collection().unwrap();
            for i in 0..PER_THREAD {
                let id = format!("{prefix}{i}");
                if i % 3 == 0 {
                    // Some writes in pairs through a batch.
                    db.batch(|b| {
                        let rev = b.save(&c, &id, None, r#"{"v":1}"#)?;
                        b.save(&c, &id, Some(&rev), r#"{"v":2}"#)
                    })
                    .unwrap();
                } else {
                    let rev = c.save(&id, None, r#"{"v":1}"#).unwrap();
                    c.save(&id, Some(&rev), r#"{"v":2}"#).unwrap();
                }
            }
        })
    };
    let w1 = spawn(db1.clone(), "one-");
    let w2 = spawn(db2.clone(), "two-");
    w1.join().unwrap();
    w2.join().unwrap();

    let writes = (2 * PER_THREAD * 2) as u64;
    for (c, rx) in [(&c1, &rx1), (&c2, &rx2)] {
        assert_eq!(c.count().unwrap(), 2 * PER_THREAD as u64);
        assert_eq!(c.database().last_sequence().unwrap(), writes);
        assert_eq!(*rx.borrow(), writes, "a subscriber missed the latest write");
        let feed = c.changes(0, usize::MAX).unwrap();
        assert_eq!(feed.changes.len(), 2 * PER_THREAD);
        assert!(feed.changes.windows(2).all(|w| w[0].sequence < w[1].sequence));
        for prefix in ["one-", "two-"] {
            for i in 0..PER_THREAD {
                let doc = c.get(&format!("{prefix}{i}")).unwrap().expect("lost a document");
                assert_eq!((doc.rev.generation(), doc.body.as_str()), (2, r#"{"v":2}"#));
            }
        }
    }
    // Each listener heard every write, through either handle.
    for seen in [seen1, seen2] {
        let seen = seen.lock().unwrap();
        let mut heard: Vec<&str> = seen.iter().flat_map(|e| e.doc_ids.iter().map(String::as_str)).collect();
        assert_eq!(heard.len(), writes as usize);
        heard.sort_unstable();
        heard.dedup();
        assert_eq!(heard.len(), 2 * PER_THREAD);
    }
}

#[tokio::test]
async fn second_handle_wakes_first_handles_subscriber() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let db1 = open(&path);
    let mut rx1 = db1.subscribe();
    let db2 = open(&path);
    let writer = thread::spawn(move || db2.default_collection().unwrap().save("x", None, "{}").unwrap());
    tokio::time::timeout(WAIT, rx1.changed()).await.unwrap().unwrap();
    let rev = writer.join().unwrap();
    assert_eq!(*rx1.borrow(), 1);
    assert_eq!(db1.default_collection().unwrap().get("x").unwrap().unwrap().rev, rev);
}

// ---------------------------------------------------------------- local documents

#[test]
fn local_documents_are_kept_apart_from_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&db_path(&dir));
    let docs = db.default_collection().unwrap();
    let other = db.create_collection("other").unwrap();
    docs.save("a", None, "{}").unwrap();
    let (events, listener) = recorder();
    let _token = docs.add_change_listener(listener);
    let before_seq = db.last_sequence().unwrap();

    assert_eq!(docs.get_local("ckpt").unwrap(), None);
    docs.put_local("ckpt", r#"{ "seq": 5, "a": 1 }"#).unwrap();
    assert_eq!(docs.get_local("ckpt").unwrap().as_deref(), Some(r#"{"a":1,"seq":5}"#));
    docs.put_local("ckpt", r#"{"seq":6}"#).unwrap();
    assert_eq!(docs.get_local("ckpt").unwrap().as_deref(), Some(r#"{"seq":6}"#));
    // Local documents are per collection and are not documents.
    assert_eq!(other.get_local("ckpt").unwrap(), None);
    assert!(docs.get("ckpt").unwrap().is_none());
    assert_eq!(docs.count().unwrap(), 1);
    assert_eq!(ids(&docs.changes(0, 100).unwrap()), vec!["a"]);
    assert_eq!(db.last_sequence().unwrap(), before_seq);
    assert!(events.lock().unwrap().is_empty());

    docs.delete_local("ckpt").unwrap();
    assert_eq!(docs.get_local("ckpt").unwrap(), None);
    docs.delete_local("ckpt").unwrap();
    assert_eq!(db.last_sequence().unwrap(), before_seq);

    // They survive a reopen, and go with their collection.
    other.put_local("keep", r#"{"k":1}"#).unwrap();
    db.close().unwrap();
    let db = open(&db_path(&dir));
    let other = db.collection("other").unwrap();
    assert_eq!(other.get_local("keep").unwrap().as_deref(), Some(r#"{"k":1}"#));
    db.delete_collection("other").unwrap();
    let other = db.create_collection("other").unwrap();
    assert_eq!(other.get_local("keep").unwrap(), None);
}

// ---------------------------------------------------------------- revs_limit

#[test]
fn revs_limit_prunes_history_but_keeps_the_winner() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let config = DatabaseConfig {
        revs_limit: 5,
        ..DatabaseConfig::default()
    };
    let db = Database::open(&path, config.clone()).unwrap();
    let docs = db.default_collection().unwrap();
    let mut revs = vec![docs.save("a", None, r#"{"i":0}"#).unwrap()];
    for i in 1..20 {
        let rev = docs.save("a", revs.last(), &format!(r#"{{"i":{i}}}"#)).unwrap();
        revs.push(rev);
        let tree = docs.revision_tree("a").unwrap().unwrap();
        assert_eq!(tree.nodes().len(), (i + 1).min(5), "after {} revisions", i + 1);
    }
    let tip = revs.last().unwrap().clone();
    assert_eq!(tip.generation(), 20);
    let check = |docs: &Collection| {
        let tree = docs.revision_tree("a").unwrap().unwrap();
        assert_eq!(tree.nodes().len(), 5);
        let leaves: Vec<RevId> = tree.leaves().into_iter().map(|n| n.rev.clone()).collect();
        assert_eq!(leaves, vec![tip.clone()]);
        assert_eq!(tree.winner().unwrap().rev, tip);
        // The five kept, then the pruned parent known by id (so a receiver
        // can check the oldest kept revision's id).
        let newest: Vec<RevId> = revs.iter().rev().take(6).cloned().collect();
        assert_eq!(tree.history(&tip, 100), newest);
        let doc = docs.get("a").unwrap().unwrap();
        assert_eq!((doc.rev, doc.body.as_str()), (tip.clone(), r#"{"i":19}"#));
    };
    check(&docs);
    // Deleting and recreating still works on a pruned tree.
    let gone = docs.delete("a", &tip).unwrap();
    let back = docs.save("a", None, r#"{"back":1}"#).unwrap();
    assert_eq!((gone.generation(), back.generation()), (21, 22));
    let tree = docs.revision_tree("a").unwrap().unwrap();
    assert_eq!(tree.nodes().len(), 5);
    assert_eq!(tree.winner().unwrap().rev, back);
    db.close().unwrap();

    // Reopened with the default limit, nothing more is lost or invented.
    let db = open(&path);
    let docs = db.default_collection().unwrap();
    let tree = docs.revision_tree("a").unwrap().unwrap();
    assert_eq!(tree.nodes().len(), 5);
    assert_eq!(docs.get("a").unwrap().unwrap().rev, back);
}

// ---------------------------------------------------------------- closing

#[test]
fn closed_database_returns_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let db = open(&path);
    let docs = db.default_collection().unwrap();
    let rev = docs.save("a", None, "{}").unwrap();
    let clone = db.clone();
    let other_handle = open(&path);
    db.close().unwrap();

    let closed = |r: Result<(), Error>| assert!(matches!(r, Err(Error::Closed)), "{r:?}");
    closed(docs.get("a").map(drop));
    closed(docs.save("b", None, "{}").map(drop));
    closed(docs.save("a", Some(&rev), "{}").map(drop));
    closed(docs.delete("a", &rev).map(drop));
    closed(docs.purge("a").map(drop));
    closed(docs.count().map(drop));
    closed(docs.changes(0, 10).map(drop));
    closed(docs.get_revision("a", &rev).map(drop));
    closed(docs.revision_tree("a").map(drop));
    closed(docs.get_local("l").map(drop));
    closed(docs.put_local("l", "{}"));
    closed(docs.delete_local("l"));
    closed(clone.last_sequence().map(drop));
    closed(clone.default_collection().map(drop));
    closed(clone.create_collection("x").map(drop));
    closed(clone.collection_names().map(drop));
    closed(clone.delete_collection("x"));
    closed(clone.batch(|_| Ok(())));
    // Closing twice is fine; uuid and path stay readable.
    db.close().unwrap();
    assert_eq!(db.uuid(), other_handle.uuid());

    // Another handle on the same file is unaffected and sees the data.
    let docs2 = other_handle.default_collection().unwrap();
    assert_eq!(docs2.get("a").unwrap().unwrap().rev, rev);
    docs2.save("b", None, "{}").unwrap();
    assert_eq!(docs2.count().unwrap(), 2);
}
