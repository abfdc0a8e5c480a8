//! Helpers shared by the integration tests: temp databases, one-shot
//! replication, and a comparable snapshot of a collection.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use outpost_core::replication::{Direction, LocalEndpoint, Replicator, ReplicatorConfig};
use outpost_core::{BlobRef, Collection, Database, DatabaseConfig};

pub mod forwarding;
pub mod net;

/// Opens (creating) `name` in `dir`.
pub fn open(dir: &Path, name: &str) -> Database {
    Database::open(dir.join(name), DatabaseConfig::default()).expect("open database")
}

/// A replicator from `local` to `remote` (a local endpoint).
pub fn replicator(local: &Database, remote: &Database, direction: Direction, continuous: bool) -> Replicator {
    let config = ReplicatorConfig {
        direction,
        continuous,
        ..Default::default()
    };
    Replicator::new(local.clone(), Arc::new(LocalEndpoint::new(remote.clone())), config).expect("replicator")
}

/// Runs a one-shot replication to completion.
pub async fn replicate(local: &Database, remote: &Database, direction: Direction) {
    replicator(local, remote, direction, false)
        .run()
        .await
        .expect("replication");
}

/// What a document looks like, for comparing replicas: winner, body,
/// deleted flag and every leaf with its deleted flag.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct DocState {
    pub rev: String,
    pub body: String,
    pub deleted: bool,
    pub leaves: Vec<(String, bool)>,
}

/// Every document of a collection (deleted ones too).
pub fn snapshot(c: &Collection) -> BTreeMap<String, DocState> {
    let mut out = BTreeMap::new();
    let batch = c.changes(0, usize::MAX).expect("changes");
    for change in batch.changes {
        let doc = c.get(&change.id).expect("get").expect("listed document exists");
        let tree = c.revision_tree(&change.id).expect("tree").expect("tree exists");
        let leaves = tree.leaves().iter().map(|n| (n.rev.to_string(), n.deleted)).collect();
        out.insert(
            change.id.clone(),
            DocState {
                rev: doc.rev.to_string(),
                body: doc.body,
                deleted: doc.deleted,
                leaves,
            },
        );
    }
    out
}

/// A leaf of a document: its id, revision, deleted flag and body.
pub type Leaf = (String, String, bool, Option<String>);

/// Every leaf of every document of the default collection, with its
/// deleted flag and body, sorted (kept bodies are compared, not only ids).
pub fn leaves(db: &Database) -> Vec<Leaf> {
    let c = db.default_collection().unwrap();
    let mut out = Vec::new();
    for change in c.changes(0, usize::MAX).unwrap().changes {
        let tree = c.revision_tree(&change.id).unwrap().unwrap();
        for leaf in tree.leaves() {
            out.push((change.id.clone(), leaf.rev.to_string(), leaf.deleted, leaf.body.clone()));
        }
    }
    out.sort();
    out
}

/// Asserts that the default collections of two databases hold the same documents.
pub fn assert_same(a: &Database, b: &Database) {
    let (ca, cb) = (a.default_collection().unwrap(), b.default_collection().unwrap());
    assert_eq!(
        snapshot(&ca),
        snapshot(&cb),
        "{} and {} differ",
        a.path().display(),
        b.path().display()
    );
}

/// A ~1 KB JSON body.
pub fn body(i: usize) -> String {
    format!(
        r#"{{"name":"person {i}","camp":"north","notes":"{}"}}"#,
        "x".repeat(950)
    )
}

/// Waits (on change notifications, not sleeps) until `check` holds.
pub async fn wait_until(db: &Database, mut check: impl FnMut() -> bool) {
    let mut rx = db.subscribe();
    let result = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if check() {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(result.is_ok() && check(), "condition not reached within 30 s");
}

/// Every live document of the default collection as `(id, rev, body)`, in
/// id order, read page by page the way `outpost export` reads it; panics if
/// the read fails.
pub fn live_export(db: &Database) -> Vec<(String, String, String)> {
    let c = db.default_collection().expect("default collection");
    let (mut out, mut after) = (Vec::new(), None::<String>);
    loop {
        let page = c.live_docs(after.as_deref(), 100).expect("export succeeds");
        out.extend(page.items.into_iter().map(|d| (d.id, d.rev.to_string(), d.body)));
        match page.last_id {
            Some(last) => after = Some(last),
            None => return out,
        }
    }
}

/// Names of the files in the blob directory (none if it does not exist).
pub fn blob_files(db: &Database) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(db.blob_dir()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries.map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// A body with a name and a photo.
pub fn body_with(name: &str, blob: &BlobRef) -> String {
    serde_json::json!({"name": name, "photo": blob.to_json()}).to_string()
}
