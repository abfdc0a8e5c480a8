//! Convergence: seeded random runs over five real databases — creates,
//! updates, deletes, conflicting edits on different replicas, one-shot
//! replications between random pairs in random directions and some
//! continuous ones — then a full sync, after which every database must hold
//! exactly the same documents (winner, body, deleted flag and leaves).
//!
//! Runs once with databases linked in-process and once over real TLS
//! connections to a listener per database (fewer operations).
//!
//! `OUTPOST_CONVERGE_SEEDS=7,8` replays given seeds; `OUTPOST_CONVERGE_OPS`
//! sets the operations per seed (2,000 by default, 300 over the network) for
//! longer runs.

mod common;

use std::collections::BTreeMap;

use common::net::{listener, net_replicator};
use common::{open, replicator, snapshot, DocState};
use outpost_core::net::Listener;
use outpost_core::replication::{Direction, Replicator};
use outpost_core::{Collection, Database, Error};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DATABASES: usize = 5;
const DOC_IDS: usize = 40;
const MAX_CONTINUOUS: usize = 3;

fn env_list(name: &str, default: &[u64]) -> Vec<u64> {
    match std::env::var(name) {
        Ok(v) => v.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => default.to_vec(),
    }
}

/// Saves over the current winner (or creates); a conflict with a concurrent
/// continuous pull just skips the edit.
fn edit(c: &Collection, id: &str, body: &str) {
    let current = c.get(id).unwrap();
    let rev = current.as_ref().filter(|d| !d.deleted).map(|d| d.rev.clone());
    match c.save(id, rev.as_ref(), body) {
        Ok(_) | Err(Error::Conflict { .. }) => {}
        Err(e) => panic!("save failed: {e}"),
    }
}

fn delete(c: &Collection, id: &str) {
    if let Some(doc) = c.get(id).unwrap().filter(|d| !d.deleted) {
        match c.delete(id, &doc.rev) {
            Ok(_) | Err(Error::Conflict { .. }) => {}
            Err(e) => panic!("delete failed: {e}"),
        }
    }
}

fn random_direction(rng: &mut StdRng) -> Direction {
    [Direction::Push, Direction::Pull, Direction::PushAndPull][rng.gen_range(0..3)]
}

/// How the replicas reach each other.
enum Links {
    /// In-process endpoints.
    Local,
    /// A TLS listener per database.
    Network(Vec<Listener>),
}

impl Links {
    async fn new(network: bool, dbs: &[Database]) -> Links {
        if !network {
            return Links::Local;
        }
        let mut listeners = Vec::new();
        for db in dbs {
            listeners.push(listener(db).await);
        }
        Links::Network(listeners)
    }

    fn replicator(&self, dbs: &[Database], a: usize, b: usize, direction: Direction, continuous: bool) -> Replicator {
        match self {
            Links::Local => replicator(&dbs[a], &dbs[b], direction, continuous),
            Links::Network(listeners) => net_replicator(&dbs[a], &listeners[b], direction, continuous),
        }
    }

    async fn replicate(&self, dbs: &[Database], a: usize, b: usize, direction: Direction) {
        let r = self.replicator(dbs, a, b, direction, false);
        r.run().await.expect("replication");
    }
}

async fn run_seed(seed: u64, ops: usize, network: bool) {
    eprintln!("converge: seed {seed}, {ops} operations, network {network} (replay with OUTPOST_CONVERGE_SEEDS={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let dbs: Vec<Database> = (0..DATABASES).map(|i| open(dir.path(), &format!("db{i}.db"))).collect();
    let links = Links::new(network, &dbs).await;
    let colls: Vec<Collection> = dbs.iter().map(|d| d.default_collection().unwrap()).collect();
    let mut continuous: Vec<Replicator> = Vec::new();
    let mut stats = BTreeMap::<&str, usize>::new();

    for op in 0..ops {
        let id = format!("doc-{}", rng.gen_range(0..DOC_IDS));
        let (a, b) = {
            let a = rng.gen_range(0..DATABASES);
            let mut b = rng.gen_range(0..DATABASES - 1);
            if b >= a {
                b += 1;
            }
            (a, b)
        };
        let roll = rng.gen_range(0..100);
        let kind = match roll {
            0..=34 => {
                edit(&colls[a], &id, &format!(r#"{{"op":{op},"by":{a}}}"#));
                "edit"
            }
            35..=44 => {
                delete(&colls[a], &id);
                "delete"
            }
            45..=54 => {
                // The same document edited on two replicas before they sync.
                edit(&colls[a], &id, &format!(r#"{{"op":{op},"by":{a},"branch":true}}"#));
                edit(&colls[b], &id, &format!(r#"{{"op":{op},"by":{b},"branch":true}}"#));
                "conflicting edit"
            }
            55..=92 => {
                links.replicate(&dbs, a, b, random_direction(&mut rng)).await;
                "one-shot replication"
            }
            _ => {
                if continuous.len() < MAX_CONTINUOUS {
                    let r = links.replicator(&dbs, a, b, random_direction(&mut rng), true);
                    r.start().unwrap();
                    continuous.push(r);
                    "start continuous"
                } else {
                    let r = continuous.swap_remove(rng.gen_range(0..continuous.len()));
                    r.stop();
                    "stop continuous"
                }
            }
        };
        *stats.entry(kind).or_default() += 1;
    }
    for r in &continuous {
        r.stop();
    }
    for r in &continuous {
        let mut status = r.subscribe_status();
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            status.wait_for(|s| s.activity == outpost_core::replication::ActivityLevel::Stopped),
        )
        .await
        .expect("continuous replicator stops")
        .unwrap();
    }

    // Full sync: star rounds through db0 until nothing changes.
    let mut rounds = 0;
    let states = loop {
        rounds += 1;
        assert!(
            rounds <= 6,
            "seed {seed}: no convergence after {} full-sync rounds",
            rounds - 1
        );
        for _ in 0..2 {
            for b in 1..DATABASES {
                links.replicate(&dbs, 0, b, Direction::PushAndPull).await;
            }
        }
        let states: Vec<BTreeMap<String, DocState>> = colls.iter().map(snapshot).collect();
        if states.iter().all(|s| s == &states[0]) {
            break states;
        }
    };
    for (i, s) in states.iter().enumerate() {
        assert_eq!(s, &states[0], "seed {seed}: database {i} differs from database 0");
    }
    let conflicted = states[0]
        .values()
        .filter(|d| d.leaves.iter().filter(|(_, del)| !del).count() > 1)
        .count();
    assert_eq!(conflicted, 0, "seed {seed}: conflicts left after the full sync");
    let multi_leaf = states[0].values().filter(|d| d.leaves.len() > 1).count();
    eprintln!(
        "converge: seed {seed} converged in {rounds} round(s); {} documents, {multi_leaf} with resolved branches; {stats:?}",
        states[0].len()
    );
    assert!(
        multi_leaf > 0,
        "seed {seed}: the run made no conflict, so it tested little"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_converge_after_random_operations() {
    let ops = env_list("OUTPOST_CONVERGE_OPS", &[2000])[0] as usize;
    for seed in env_list("OUTPOST_CONVERGE_SEEDS", &[1, 2, 3]) {
        run_seed(seed, ops, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_converge_over_tls_connections() {
    let ops = env_list("OUTPOST_CONVERGE_OPS", &[300])[0] as usize;
    for seed in env_list("OUTPOST_CONVERGE_SEEDS", &[11]) {
        run_seed(seed, ops, true).await;
    }
}
