//! Property: delta sync changes what crosses the wire, never what is
//! stored. Random documents and random edit sequences (edits, deletions,
//! conflicting edits on two phones, one phone with a `revs_limit` of 2 so
//! its trees are pruned) are synced over real listeners on 127.0.0.1 (one
//! that allows delta sync when it is on, one that never offers the
//! feature), once with delta sync on everywhere and once with it off;
//! every replica must end with byte-identical leaves (ids, revisions,
//! deleted flags, bodies) in both runs.
//!
//! `OUTPOST_DELTA_CASES` sets the number of cases (12 by default).

mod common;

use std::path::Path;

use common::{leaves, Leaf};
use outpost_core::net::{Listener, ListenerAuthenticator, RemoteConfig};
use outpost_core::replication::{Direction, Replicator, ReplicatorConfig};
use outpost_core::{Database, DatabaseConfig};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Documents the edits touch (few, so edits pile up on the same ones).
const DOCS: u64 = 4;

/// A leaf as compared: document id, revision, deleted flag, body.

#[derive(Clone, Debug)]
enum Op {
    /// Create or edit document `doc` on replica `at` (0, 1: phones; 2: hub).
    Save { at: usize, doc: u64, seed: u64 },
    /// Delete document `doc` on replica `at`.
    Delete { at: usize, doc: u64 },
    /// Sync phone `phone` with hub `hub` (0 allows delta sync, 1 never).
    Sync { phone: usize, hub: usize, direction: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..3usize, 0..DOCS, any::<u64>()).prop_map(|(at, doc, seed)| Op::Save { at, doc, seed }),
        1 => (0..3usize, 0..DOCS).prop_map(|(at, doc)| Op::Delete { at, doc }),
        4 => (0..2usize, 0..2usize, 0..3u8).prop_map(|(phone, hub, direction)| Op::Sync { phone, hub, direction }),
    ]
}

/// SplitMix64: the random choices of one edit, from its seed.
struct Mix(u64);

impl Mix {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % below.max(1)
    }
}

/// A registration of a few hundred bytes.
fn new_body(mix: &mut Mix) -> Value {
    let words = ["water", "point", "Dinka", "Arabic", "school", "zone", "clinic", "river"];
    let notes: Vec<&str> = (0..40).map(|_| words[mix.next(8) as usize]).collect();
    json!({
        "name": format!("child {}", mix.next(1000)),
        "notes": notes.join(" "),
        "family": {"mother": "Ayen", "siblings": mix.next(6), "place": {"camp": "B", "block": mix.next(9)}},
        "tags": ["registered"],
        "age": mix.next(18),
    })
}

/// One random change: a field set, removed or added, nested or not.
fn edit(body: &mut Value, mix: &mut Mix) {
    let Some(map) = body.as_object_mut() else { return };
    match mix.next(7) {
        0 => {
            map.insert("age".into(), json!(mix.next(18)));
        }
        1 => {
            map.remove("age");
        }
        2 => {
            map.insert("tags".into(), json!(["registered", format!("t{}", mix.next(5))]));
        }
        3 => {
            let siblings = mix.next(6);
            if let Some(family) = map.get_mut("family").and_then(Value::as_object_mut) {
                family.insert("siblings".into(), json!(siblings));
                family.remove("place");
            } else {
                map.insert("family".into(), json!({"siblings": siblings}));
            }
        }
        4 => {
            let notes = map.get("notes").and_then(Value::as_str).unwrap_or("").to_owned();
            map.insert("notes".into(), json!(format!("{notes} seen {}", mix.next(100))));
        }
        5 => {
            map.insert("photo_taken".into(), json!(mix.next(2) == 1));
        }
        _ => {
            map.insert("family".into(), json!(["not", "an", "object"]));
        }
    }
}

fn open(dir: &Path, name: &str, revs_limit: u32) -> Database {
    let config = DatabaseConfig {
        revs_limit,
        ..Default::default()
    };
    Database::open(dir.join(name), config).expect("open database")
}

async fn plain_listener(db: &Database, delta_sync: bool) -> Listener {
    let mut config = common::net::listener_config(ListenerAuthenticator::Anonymous);
    config.disable_tls = true;
    config.delta_sync = delta_sync;
    Listener::start(db.clone(), config).await.expect("listener")
}

/// Applies `ops` to two phones and two hubs, ends with a full exchange,
/// and returns every replica's leaves.
fn run(ops: &[Op], delta_sync: bool) -> Vec<Vec<Leaf>> {
    let dir = tempfile::tempdir().unwrap();
    let dbs = [
        open(dir.path(), "phone0.db", 100),
        open(dir.path(), "phone1.db", 2),
        open(dir.path(), "hub0.db", 100),
        open(dir.path(), "hub1.db", 100),
    ];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listeners = [
            plain_listener(&dbs[2], delta_sync).await,
            // Never offers delta sync: a peer without the feature.
            plain_listener(&dbs[3], false).await,
        ];
        let sync = |phone: usize, hub: usize, direction: Direction| {
            let config = ReplicatorConfig {
                direction,
                delta_sync,
                ..Default::default()
            };
            let remote = RemoteConfig::new(listeners[hub].urls()[0].clone());
            let replicator = Replicator::remote(dbs[phone].clone(), remote, config).expect("replicator");
            async move { replicator.run().await.expect("sync") }
        };
        for op in ops {
            match *op {
                Op::Save { at, doc, seed } => {
                    let c = dbs[at].default_collection().unwrap();
                    let id = format!("doc-{doc}");
                    let mut mix = Mix(seed);
                    // Errors (say, an edit of a deleted document) happen
                    // alike in both runs.
                    let _ = match c.get(&id).unwrap() {
                        Some(d) if !d.deleted => {
                            let mut body: Value = serde_json::from_str(&d.body).unwrap();
                            edit(&mut body, &mut mix);
                            c.save(&id, Some(&d.rev), &body.to_string())
                        }
                        Some(d) => c.save(&id, Some(&d.rev), &new_body(&mut mix).to_string()),
                        None => c.save(&id, None, &new_body(&mut mix).to_string()),
                    };
                }
                Op::Delete { at, doc } => {
                    let c = dbs[at].default_collection().unwrap();
                    let id = format!("doc-{doc}");
                    if let Some(d) = c.get(&id).unwrap() {
                        let _ = c.delete(&id, &d.rev);
                    }
                }
                // Push and pull one after the other, never at once: which
                // of a pull's conflict resolutions a concurrent push sees
                // depends on timing, and the runs must be comparable.
                Op::Sync { phone, hub, direction } => {
                    if direction != 1 {
                        sync(phone, hub, Direction::Push).await;
                    }
                    if direction != 0 {
                        sync(phone, hub, Direction::Pull).await;
                    }
                }
            }
        }
        for (phone, hub) in [(0, 0), (1, 0), (0, 1), (1, 1), (0, 0), (1, 0)] {
            sync(phone, hub, Direction::Push).await;
            sync(phone, hub, Direction::Pull).await;
        }
        for listener in &listeners {
            listener.stop().await;
        }
    });
    dbs.iter().map(leaves).collect()
}

fn cases() -> u32 {
    std::env::var("OUTPOST_DELTA_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn delta_sync_stores_exactly_what_full_bodies_store(ops in prop::collection::vec(op(), 1..40)) {
        let with = run(&ops, true);
        let without = run(&ops, false);
        for (replica, (a, b)) in with.iter().zip(&without).enumerate() {
            prop_assert_eq!(a, b, "replica {} differs", replica);
        }
    }
}
