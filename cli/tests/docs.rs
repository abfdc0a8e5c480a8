//! `put`, `get`, `delete` and `conflicts` through the real binary.

mod common;

use std::sync::Arc;

use common::{json, ok, path};
use outpost_core::replication::{Direction, LocalEndpoint, Replicator, ReplicatorConfig};
use outpost_core::{Database, DatabaseConfig};

#[test]
fn put_get_delete_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let db = path(dir.path(), "camp.db");
    let db = db.to_str().unwrap();

    let first = ok(&["put", "--db", db, "child-1", r#"{"name":"Amina","age":7}"#]);
    let first = first.trim();
    assert!(first.starts_with("1-"), "{first}");
    let got = ok(&["get", "--db", db, "child-1"]);
    // _id and _rev first, then the body's keys sorted, one line.
    assert_eq!(
        got,
        format!("{{\"_id\":\"child-1\",\"_rev\":\"{first}\",\"age\":7,\"name\":\"Amina\"}}\n")
    );

    // Without --rev, put replaces the current revision.
    let second = ok(&["put", "--db", db, "child-1", r#"{"name":"Amina","age":8}"#]);
    let second = second.trim();
    assert!(second.starts_with("2-"), "{second}");
    assert_eq!(json(&ok(&["get", "--db", db, "child-1"]))["age"], 8);

    // A stale --rev is refused and changes nothing.
    let stale = common::fails(&["put", "--db", db, "--rev", first, "child-1", r#"{"age":9}"#]);
    assert!(stale.contains(second), "names the current revision: {stale}");
    assert_eq!(json(&ok(&["get", "--db", db, "child-1"]))["_rev"], second);

    // A body from stdin, into another collection.
    let run = common::outpost_with_stdin(
        &["put", "--db", db, "--collection", "families", "f-1", "-"],
        br#"{"members":3}"#,
    );
    assert!(run.output.status.success(), "{run:?}");
    let family = json(&ok(&["get", "--db", db, "--collection", "families", "f-1"]));
    assert_eq!(family["members"], 3);
    assert!(common::fails(&["get", "--db", db, "f-1"]).contains("no document \"f-1\""));

    let tombstone = ok(&["delete", "--db", db, "child-1"]);
    let tombstone = tombstone.trim();
    assert!(tombstone.starts_with("3-"), "{tombstone}");
    let deleted = json(&ok(&["get", "--db", db, "child-1"]));
    assert_eq!(deleted["_deleted"], true);
    assert_eq!(deleted["_rev"], tombstone);
    assert!(deleted.get("name").is_none());
    assert!(common::fails(&["delete", "--db", db, "child-1"]).contains("already deleted"));

    // What the binary wrote is what core reads.
    let core = Database::open(db, DatabaseConfig::default()).unwrap();
    let doc = core.default_collection().unwrap().get("child-1").unwrap().unwrap();
    assert!(doc.deleted);
    assert_eq!(doc.rev.to_string(), tombstone);
}

#[test]
fn conflicts_lists_documents_edited_apart_then_replicated() {
    let dir = tempfile::tempdir().unwrap();
    let (a_path, b_path) = (path(dir.path(), "a.db"), path(dir.path(), "b.db"));
    {
        let a = Database::open(&a_path, DatabaseConfig::default()).unwrap();
        let b = Database::open(&b_path, DatabaseConfig::default()).unwrap();
        let (ca, cb) = (a.default_collection().unwrap(), b.default_collection().unwrap());
        ca.save("calm", None, r#"{"v":1}"#).unwrap();
        // The same child registered on two tablets that never talked.
        ca.save("child-7", None, r#"{"tent":"A4"}"#).unwrap();
        cb.save("child-7", None, r#"{"tent":"B9"}"#).unwrap();
        cb.save("child-8", None, r#"{"tent":"B1"}"#).unwrap();
        let config = ReplicatorConfig {
            direction: Direction::Push,
            ..Default::default()
        };
        let push = Replicator::new(b.clone(), Arc::new(LocalEndpoint::new(a.clone())), config).unwrap();
        tokio::runtime::Runtime::new().unwrap().block_on(push.run()).unwrap();
        a.close().unwrap();
        b.close().unwrap();
    }
    let a_db = a_path.to_str().unwrap();
    let listed = ok(&["conflicts", "--db", a_db]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 1, "only child-7 is in conflict: {listed}");
    let line = json(lines[0]);
    assert_eq!(line["_id"], "child-7");

    let core = Database::open(&a_path, DatabaseConfig::default()).unwrap();
    let doc = core.default_collection().unwrap().get("child-7").unwrap().unwrap();
    assert_eq!(line["_rev"], doc.rev.to_string());
    let losers: Vec<String> = doc.conflicts.iter().map(|r| r.to_string()).collect();
    assert_eq!(losers.len(), 1);
    assert_eq!(line["_conflicts"], serde_json::json!(losers));

    // `get` shows the same conflict; the database that was pushed from has none.
    assert_eq!(
        json(&ok(&["get", "--db", a_db, "child-7"]))["_conflicts"],
        serde_json::json!(losers)
    );
    assert_eq!(ok(&["conflicts", "--db", b_path.to_str().unwrap()]), "");
}
