//! `outpost find`, `outpost index ...`, `outpost search` and `outpost bench
//! --scenario query` through the real binary, and indexes that stay right
//! when an import is killed with SIGKILL midway.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{fails, json, ok, path, spawn};
use outpost_core::{Database, DatabaseConfig, Query};

/// Longest wait for the killed import to have committed some batches.
const WAIT: Duration = Duration::from_secs(120);

fn put(db: &str, id: &str, body: &str) {
    ok(&["put", "--db", db, id, body]);
}

fn ids(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| json(l)["_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn find_index_and_search_print_documents_as_export_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = path(dir.path(), "camp.db");
    let db = db.to_str().unwrap();
    put(
        db,
        "c1",
        r#"{"name":"Amina Diallo","age":7,"camp":"north","family":{"size":4}}"#,
    );
    put(db, "c2", r#"{"name":"Yusuf","age":12,"camp":"north"}"#);
    put(db, "c3", r#"{"name":"AMÍNA","age":5,"camp":"south"}"#);
    for i in 0..30 {
        put(db, &format!("x{i:02}"), r#"{"camp":"east"}"#);
    }
    // Default limit 25, as CouchDB.
    assert_eq!(ok(&["find", "--db", db, r#"{"camp":"east"}"#]).lines().count(), 25);
    let older = |more: &[&str]| ok(&[&["find", "--db", db, r#"{"age":{"$gt":1}}"#], more].concat());
    assert_eq!(ids(&older(&["--sort", "age:desc", "--limit", "2"])), ["c2", "c1"]);
    let out = older(&["--sort", "age", "--skip", "1", "--fields", "name,family.size"]);
    let mut printed: Vec<serde_json::Value> = out.lines().map(json).collect();
    for doc in &mut printed {
        assert!(doc["_rev"].as_str().unwrap().starts_with("1-"));
        doc.as_object_mut().unwrap().remove("_rev");
    }
    assert_eq!(
        printed,
        [
            serde_json::json!({"_id":"c1","family":{"size":4},"name":"Amina Diallo"}),
            serde_json::json!({"_id":"c2","name":"Yusuf"}),
        ]
    );
    ok(&["index", "create", "--db", db, "by_age", "age"]);
    ok(&["index", "create-text", "--db", db, "names", "name"]);
    let listed: Vec<serde_json::Value> = ok(&["index", "list", "--db", db]).lines().map(json).collect();
    assert_eq!(
        listed[0],
        serde_json::json!({"name":"by_age","kind":"value","fields":["age"]})
    );
    assert_eq!(
        listed[1],
        serde_json::json!({"name":"names","kind":"text","fields":["name"]})
    );
    let plan = json(ok(&["find", "--db", db, r#"{"age":{"$gte":5}}"#, "--explain"]).trim());
    assert_eq!(plan["index"], "by_age");
    // Case and diacritics do not matter; the exact name ranks first.
    let out = ok(&["search", "--db", db, "amina"]);
    assert_eq!(ids(&out), ["c3", "c1"]);
    assert_eq!(ids(&ok(&["search", "--db", db, "ami*", "--limit", "1"])).len(), 1);
    assert_eq!(
        ids(&ok(&["find", "--db", db, r#"{"$text":"AMINA","age":{"$gt":6}}"#])),
        ["c1"]
    );
    ok(&["index", "delete", "--db", db, "by_age"]);
    assert_eq!(ok(&["index", "list", "--db", db]).lines().count(), 1);
}

#[test]
fn bad_queries_and_missing_indexes_fail_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = path(dir.path(), "camp.db");
    let db = db.to_str().unwrap();
    put(db, "c1", r#"{"name":"Amina"}"#);
    let line = fails(&["find", "--db", db, r#"{"age":{"$mod":[2,0]}}"#]);
    assert!(line.contains("$mod"), "{line}");
    let line = fails(&["find", "--db", db, "not json"]);
    assert!(line.contains("not JSON"), "{line}");
    let line = fails(&["find", "--db", db, "{}", "--limit", "100000000"]);
    assert!(line.contains("limit"), "{line}");
    let line = fails(&["search", "--db", db, "amina"]);
    assert!(line.contains("no full-text index"), "{line}");
    let line = fails(&["index", "delete", "--db", db, "nope"]);
    assert!(line.contains("no index named \"nope\""), "{line}");
    let line = fails(&["index", "create", "--db", db, "bad name", "age"]);
    assert!(line.contains("not a valid index name"), "{line}");
    let missing = path(dir.path(), "missing.db");
    fails(&["find", "--db", missing.to_str().unwrap(), "{}"]);
    assert!(!missing.exists());
}

#[test]
fn bench_query_prints_percentiles_with_and_without_indexes() {
    let out = ok(&["bench", "--scenario", "query", "--docs", "600"]);
    let last = out.lines().last().expect("output");
    for kind in ["eq", "range", "compound", "text"] {
        for key in [
            format!("query_{kind}_p50_ms"),
            format!("query_{kind}_p99_ms"),
            format!("query_{kind}_noindex_p50_ms"),
            format!("query_{kind}_noindex_p99_ms"),
        ] {
            let value = last
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("{key} missing from {last:?}"));
            assert!(value.parse::<f64>().unwrap() > 0.0, "{key}={value}");
        }
    }
}

/// Waits (up to [`WAIT`]) until `check` holds.
fn wait_until(mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "condition not reached within {WAIT:?}");
        std::thread::yield_now();
    }
}

#[test]
fn indexes_match_the_documents_after_an_import_is_killed_midway() {
    let dir = tempfile::tempdir().unwrap();
    let file = path(dir.path(), "camp.db");
    let db = file.to_str().unwrap();
    put(db, "seed", r#"{"name":"Seed","camp":"camp-0"}"#);
    ok(&["index", "create", "--db", db, "by_camp", "camp"]);
    ok(&["index", "create-text", "--db", db, "names", "name"]);
    let mut child = spawn(&["import", "--db", db, "-"], Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for i in 0..200_000 {
            let line = format!(
                "{{\"_id\":\"c{i:06}\",\"name\":\"Child{} Amina\",\"camp\":\"camp-{}\"}}\n",
                i % 13,
                i % 7
            );
            if stdin.write_all(line.as_bytes()).is_err() {
                return; // killed
            }
        }
    });
    let reader = Database::open(&file, DatabaseConfig::default()).unwrap();
    let docs = reader.default_collection().unwrap();
    wait_until(|| docs.count().unwrap() > 3_000);
    child.kill().unwrap(); // SIGKILL, likely inside a batch's transaction
    child.wait().unwrap();
    writer.join().unwrap();
    reader.close().unwrap();

    let db = Database::open(&file, DatabaseConfig::default()).unwrap();
    let docs = db.default_collection().unwrap();
    let sqlite = rusqlite::Connection::open(&file).unwrap();
    let check: String = sqlite.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    sqlite
        .execute(
            "INSERT INTO outpost_fts_1_names (outpost_fts_1_names) VALUES ('integrity-check')",
            [],
        )
        .unwrap();
    let count = docs.count().unwrap() as usize;
    assert_eq!((count - 1) % 1_000, 0, "whole import batches only: {count}");
    let all = docs.all_docs(None, 1_000_000).unwrap();
    for camp in 0..7 {
        let q = Query::new(&format!(r#"{{"camp":"camp-{camp}"}}"#))
            .unwrap()
            .limit(10_000)
            .unwrap();
        assert_eq!(docs.explain(&q).unwrap().index.as_deref(), Some("by_camp"));
        let found: Vec<String> = docs.find(&q).unwrap().into_iter().map(|d| d.id).collect();
        let want: Vec<String> = all
            .iter()
            .filter(|d| d.body.contains(&format!("\"camp-{camp}\"")))
            .map(|d| d.id.clone())
            .collect();
        assert_eq!(found, want, "camp-{camp}");
    }
    let named = |word: &str| all.iter().filter(|d| d.body.contains(word)).count();
    assert_eq!(docs.search("amina", 10_000).unwrap().len(), named("Amina"));
    assert_eq!(docs.search("child3", 10_000).unwrap().len(), named("Child3 "));
}
