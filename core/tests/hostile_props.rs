//! Property test of hostile peers: honest replicas A and B edit, delete and
//! sync, while a peer M with a valid login inserts well-formed but
//! malicious revisions into either of them (forged ids, predicted tombstone
//! ids, revisions planted under predicted ids, huge generations, long
//! histories, many conflicting leaves). Afterwards A and B must export the
//! same live documents (id, revision, body), and every export must succeed.
//!
//! M inserts through `LocalEndpoint::insert`, the exact path a listener's
//! session calls for a peer's `insert` request (the network tests in
//! `hostile_revisions.rs` go through a real listener).
//!
//! `OUTPOST_HOSTILE_CASES` sets the number of cases (24 by default).

mod common;

use common::{live_export, open, replicate};
use outpost_core::replication::{Direction, Endpoint, LocalEndpoint, Revision};
use outpost_core::tuning::{MAX_LIVE_LEAVES, MAX_REV_GENERATION};
use outpost_core::{Collection, Database, Error, InvalidInput, RevId};
use proptest::prelude::*;

const DOCS: usize = 3;

/// What M sends about one document of one replica, `W` being that
/// replica's current winner (or an invented first revision).
#[derive(Clone, Debug)]
enum Attack {
    /// A live body under the id deleting `W` will compute.
    PredictedTombstoneLive,
    /// A live body under a made-up id, child of `W`.
    ForgedId(u64),
    /// A well-formed child of the predicted tombstone id, named without
    /// (or with) its parent `W`.
    PlantedUnderPrediction { with_parent: bool },
    /// A well-formed child of a made-up chain beside `W` (unverifiable
    /// ancestors with made-up parent claims).
    ForgedChain(u64),
    /// A revision planted under the id resolving a conflict over `W` will
    /// compute.
    PlantedUnderResolution,
    /// A well-formed revision at the last generation.
    HugeGeneration,
    /// A well-formed revision with a history of this many made-up ids.
    LongHistory(u64),
    /// This many well-formed conflicting children of `W`.
    ManyLeaves(usize),
}

#[derive(Clone, Debug)]
enum Op {
    Edit {
        on_b: bool,
        doc: usize,
        n: u8,
    },
    Delete {
        on_b: bool,
        doc: usize,
    },
    Sync,
    Attack {
        on_b: bool,
        doc: usize,
        attack: Attack,
    },
    /// M attacks one replica while the other deletes (or edits) the same
    /// document, before they sync: the race the predicted ids aim at.
    Race {
        on_b: bool,
        doc: usize,
        attack: Attack,
        delete: bool,
    },
}

fn attack_strategy() -> impl Strategy<Value = Attack> {
    prop_oneof![
        Just(Attack::PredictedTombstoneLive),
        any::<u64>().prop_map(Attack::ForgedId),
        any::<bool>().prop_map(|with_parent| Attack::PlantedUnderPrediction { with_parent }),
        Just(Attack::PlantedUnderResolution),
        any::<u64>().prop_map(Attack::ForgedChain),
        Just(Attack::HugeGeneration),
        (2u64..400).prop_map(Attack::LongHistory),
        (1usize..=MAX_LIVE_LEAVES + 4).prop_map(Attack::ManyLeaves),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 0..DOCS, any::<u8>()).prop_map(|(on_b, doc, n)| Op::Edit { on_b, doc, n }),
        2 => (any::<bool>(), 0..DOCS).prop_map(|(on_b, doc)| Op::Delete { on_b, doc }),
        3 => Just(Op::Sync),
        3 => (any::<bool>(), 0..DOCS, attack_strategy()).prop_map(|(on_b, doc, attack)| Op::Attack { on_b, doc, attack }),
        2 => (any::<bool>(), 0..DOCS, attack_strategy(), any::<bool>())
            .prop_map(|(on_b, doc, attack, delete)| Op::Race { on_b, doc, attack, delete }),
    ]
}

fn compute(parent: Option<&RevId>, deleted: bool, body: &str) -> RevId {
    RevId::compute(parent, deleted, body, &[]).expect("generation in range")
}

fn evil(tag: impl std::fmt::Display) -> String {
    format!(r#"{{"mallory":"{tag}"}}"#)
}

fn live(id: &str, history: Vec<RevId>, body: String) -> Revision {
    Revision {
        id: id.to_owned(),
        history,
        deleted: false,
        body,
        foreign: false,
        delta: None,
    }
}

/// The revisions M sends for `attack` on document `id` of `c`.
fn forge(c: &Collection, id: &str, attack: &Attack) -> Vec<Revision> {
    let winner = c
        .get(id)
        .unwrap()
        .map(|d| d.rev)
        .unwrap_or_else(|| RevId::new(1, "m0").unwrap());
    let predicted = || RevId::compute(Some(&winner), true, "{}", &[]).ok();
    // No room left for the live revisions below (the last generation is a
    // tombstone's).
    let at_cap = winner.generation() >= MAX_REV_GENERATION - 2;
    match attack {
        Attack::PredictedTombstoneLive => predicted()
            .map(|t| vec![live(id, vec![t, winner.clone()], evil("tombstone"))])
            .unwrap_or_default(),
        Attack::ForgedId(n) if !at_cap => {
            let forged = RevId::new(winner.generation() + 1, &format!("f{n:x}")).unwrap();
            vec![live(id, vec![forged, winner.clone()], evil(n))]
        }
        Attack::PlantedUnderPrediction { with_parent } if !at_cap => {
            let Some(t) = predicted() else { return Vec::new() };
            let body = evil("planted");
            let mut history = vec![compute(Some(&t), false, &body), t];
            if *with_parent {
                history.push(winner.clone());
            }
            vec![live(id, history, body)]
        }
        Attack::ForgedChain(n) if !at_cap => {
            let fake = RevId::new(winner.generation() + 1, &format!("c{n:x}")).unwrap();
            let fake_parent = RevId::new(winner.generation(), &format!("d{n:x}")).unwrap();
            let body = evil(format!("chain{n:x}"));
            vec![live(
                id,
                vec![compute(Some(&fake), false, &body), fake, fake_parent],
                body,
            )]
        }
        Attack::PlantedUnderResolution if !at_cap => {
            let Ok(t) = RevId::compute(Some(&winner), true, r#"{"resolved_conflict":true}"#, &[]) else {
                return Vec::new();
            };
            let body = evil("resolution");
            vec![live(id, vec![compute(Some(&t), false, &body), t], body)]
        }
        Attack::HugeGeneration => {
            let below = RevId::new(MAX_REV_GENERATION - 2, "f").unwrap();
            let body = evil("huge");
            vec![live(id, vec![compute(Some(&below), false, &body), below], body)]
        }
        Attack::LongHistory(length) => {
            let parent = RevId::new(*length - 1, "h").unwrap();
            let body = evil(format!("long{length}"));
            let history = std::iter::once(compute(Some(&parent), false, &body))
                .chain((1..*length).rev().map(|g| RevId::new(g, "h").unwrap()))
                .collect();
            vec![live(id, history, body)]
        }
        Attack::ManyLeaves(n) if !at_cap => (0..*n)
            .map(|i| {
                let body = evil(format!("leaf{i}"));
                live(id, vec![compute(Some(&winner), false, &body), winner.clone()], body)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Saves over the current live winner (or creates); typed refusals a
/// hostile peer can cause (a document pinned at the last generation, or
/// at its leaf cap) are expected, anything else fails the test.
fn edit(c: &Collection, id: &str, body: &str) {
    let rev = c.get(id).unwrap().filter(|d| !d.deleted).map(|d| d.rev);
    check_edit(c.save(id, rev.as_ref(), body));
}

fn delete(c: &Collection, id: &str) {
    if let Some(doc) = c.get(id).unwrap().filter(|d| !d.deleted) {
        check_edit(c.delete(id, &doc.rev));
    }
}

fn check_edit(result: outpost_core::Result<RevId>) {
    match result {
        Ok(_)
        | Err(Error::InvalidInput(
            InvalidInput::GenerationLimit { .. }
            | InvalidInput::TooManyLeaves { .. }
            | InvalidInput::TreeTooLarge { .. },
        )) => {}
        Err(e) => panic!("an honest edit failed: {e}"),
    }
}

async fn sync(a: &Database, b: &Database) {
    replicate(a, b, Direction::PushAndPull).await;
}

/// M sends `attack` on document `doc` of `db`.
async fn mallory(db: &Database, c: &Collection, doc: usize, attack: &Attack) {
    let revisions = forge(c, &format!("doc-{doc}"), attack);
    if !revisions.is_empty() {
        let outcomes = LocalEndpoint::new(db.clone()).insert("_default", revisions).await;
        outcomes.expect("a hostile insert fails per document, never as a whole");
    }
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (open(dir.path(), "a.db"), open(dir.path(), "b.db"));
    let (ca, cb) = (a.default_collection().unwrap(), b.default_collection().unwrap());
    for op in &ops {
        match op {
            Op::Edit { on_b, doc, n } => {
                let c = if *on_b { &cb } else { &ca };
                edit(c, &format!("doc-{doc}"), &format!(r#"{{"n":{n},"by_b":{on_b}}}"#));
            }
            Op::Delete { on_b, doc } => delete(if *on_b { &cb } else { &ca }, &format!("doc-{doc}")),
            Op::Sync => sync(&a, &b).await,
            Op::Attack { on_b, doc, attack } => {
                let (db, c) = if *on_b { (&b, &cb) } else { (&a, &ca) };
                mallory(db, c, *doc, attack).await;
            }
            Op::Race {
                on_b,
                doc,
                attack,
                delete: deletes,
            } => {
                let (db, c, other) = if *on_b { (&b, &cb, &ca) } else { (&a, &ca, &cb) };
                mallory(db, c, *doc, attack).await;
                let id = format!("doc-{doc}");
                if *deletes {
                    delete(other, &id);
                } else {
                    edit(other, &id, r#"{"raced":true}"#);
                }
            }
        }
    }
    // Full sync until nothing changes (conflicts resolve after each pull).
    for _ in 0..4 {
        sync(&a, &b).await;
    }
    let (export_a, export_b) = (live_export(&a), live_export(&b));
    assert_eq!(export_a, export_b, "A and B differ after a full sync");
    for c in [&ca, &cb] {
        let (_, damaged) = c.changes_reporting(0, usize::MAX).expect("the changes feed reads");
        assert!(damaged.is_empty(), "damaged rows: {damaged:?}");
    }
}

/// Runs one case on a runtime of its own.
fn run_to_end(ops: Vec<Op>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(ops));
}

fn cases() -> u32 {
    std::env::var("OUTPOST_HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn honest_replicas_converge_whatever_a_hostile_peer_inserts(ops in prop::collection::vec(op_strategy(), 1..30)) {
        run_to_end(ops);
    }
}

/// The issue's attack as scripted cases: M plants a live body under the
/// tombstone id of a record that the other replica then deletes (document
/// 0), or a child of that id with no parent named (document 1), and then
/// the record's current revision is deleted once more (document 1).
#[test]
fn the_predicted_tombstone_races_converge() {
    let ops = vec![
        Op::Edit {
            on_b: false,
            doc: 0,
            n: 1,
        },
        Op::Edit {
            on_b: false,
            doc: 1,
            n: 1,
        },
        Op::Sync,
        Op::Race {
            on_b: false,
            doc: 0,
            attack: Attack::PredictedTombstoneLive,
            delete: true,
        },
        Op::Race {
            on_b: true,
            doc: 1,
            attack: Attack::PlantedUnderPrediction { with_parent: false },
            delete: true,
        },
        Op::Sync,
        Op::Delete { on_b: false, doc: 1 },
    ];
    run_to_end(ops);
}
