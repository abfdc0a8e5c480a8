//! The network scenarios of `outpost bench`: one-shot `push` and `pull`
//! of the workload between two databases through a TLS listener on
//! 127.0.0.1 (a user table, the fingerprint pinned), and `latency`: with a
//! continuous push-and-pull running, how long each of 200 documents saved
//! one at a time takes to be readable on the other side; `blobs`: a pull,
//! over the same listener, of documents that each carry a photo of random
//! bytes (a blob), into an empty database; `delta`: the bytes on the wire
//! of a push of one edited field per document, byte-saving features
//! (compression, delta sync) off and on.
//!
//! Only the replication is timed; filling the source database is not.

use std::io::{Cursor, Read};
use std::time::{Duration, Instant};

use outpost_core::replication::{ActivityLevel, Direction, Replicator, ReplicatorConfig};
use outpost_core::{BlobDigest, Database};

use super::workload::{self, open};
use super::Measured;
use crate::commands::net::{self, Loopback};

const USER: &str = "bench";
const PASSWORD: &str = "bench-password";

/// Documents saved one at a time by the latency scenario.
pub const LATENCY_DOCS: usize = 200;

/// How long one document may take to arrive before the scenario fails.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(30);

/// `push`: the documents go from a full database to the listener's empty one.
pub fn push(docs: usize, doc_size: usize) -> workload::Outcome<Measured> {
    transfer(Direction::Push, docs, doc_size, "push_mb_per_s")
}

/// `pull`: the documents come from the listener's full database into an empty one.
pub fn pull(docs: usize, doc_size: usize) -> workload::Outcome<Measured> {
    transfer(Direction::Pull, docs, doc_size, "pull_mb_per_s")
}

fn transfer(direction: Direction, docs: usize, doc_size: usize, mb_key: &'static str) -> workload::Outcome<Measured> {
    let dir = tempfile::tempdir()?;
    let full = open(&dir.path().join("full.db"))?;
    workload::fill(&full, docs, doc_size)?;
    let empty = open(&dir.path().join("empty.db"))?;
    let (served, local) = match direction {
        Direction::Push => (&empty, &full),
        _ => (&full, &empty),
    };
    let elapsed = timed_sync(served, local, direction)?;
    let arrived = empty.default_collection()?.count()?;
    if arrived != docs as u64 {
        return Err(format!("{arrived} documents arrived of {docs}").into());
    }
    let mb_per_s = (docs * doc_size) as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9);
    Ok(Measured {
        docs,
        elapsed,
        extra: vec![(mb_key, format!("{mb_per_s:.1}"))],
    })
}

/// Serves `served` on a loopback TLS listener and times one one-shot
/// replication of `local` with it in `direction`.
fn timed_sync(served: &Database, local: &Database, direction: Direction) -> workload::Outcome<Duration> {
    net::runtime()?.block_on(async {
        let hub = Loopback::start(served, USER, PASSWORD).await?;
        let config = ReplicatorConfig {
            direction,
            ..Default::default()
        };
        let replicator = Replicator::remote(local.clone(), hub.remote.clone(), config)?;
        let start = Instant::now();
        replicator.run().await?;
        let elapsed = start.elapsed();
        hub.listener.stop().await;
        workload::Outcome::Ok(elapsed)
    })
}

/// Bytes of each document's photo in the `blobs` scenario (200 KB).
pub const BLOB_BYTES: usize = 200_000;

/// `blobs`: `docs` documents, each with one [`BLOB_BYTES`] photo of random
/// bytes, come from the listener's database into an empty one. The peak RSS
/// is reset once the source is full, so it is the pull's (listener and
/// puller, both in this process), and so is `blob_pull_cpu_s`, the CPU the
/// process used during the pull. The rate is blob bytes / 10^6 / seconds,
/// as PouchDB's `tests/pouchdb/bench.js --scenario blobs` counts it.
pub fn pull_blobs(docs: usize) -> workload::Outcome<Measured> {
    let dir = tempfile::tempdir()?;
    let full = open(&dir.path().join("full.db"))?;
    let last_digest = fill_with_photos(&full, docs)?;
    let empty = open(&dir.path().join("empty.db"))?;
    super::reset_peak_rss();
    let cpu_before = process_cpu_seconds();
    let elapsed = timed_sync(&full, &empty, Direction::Pull)?;
    let cpu = cpu_before
        .zip(process_cpu_seconds())
        .map_or_else(|| "unknown".to_owned(), |(a, b)| format!("{:.2}", b - a));
    check_photos(&empty, docs, last_digest)?;
    let mb_per_s = (docs * BLOB_BYTES) as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9);
    Ok(Measured {
        docs,
        elapsed,
        extra: vec![
            ("blob_size", BLOB_BYTES.to_string()),
            ("blob_pull_mb_per_s", format!("{mb_per_s:.1}")),
            ("blob_pull_cpu_s", cpu),
        ],
    })
}

/// CPU seconds (user and system, every thread) this process has used so
/// far, from `/proc/self/stat` (Linux only; `None` elsewhere). On a shared
/// machine the pull's CPU time varies far less than its wall time.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields 14 (utime) and 15 (stime) of proc(5); what follows the
    // command name's `)` starts at field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // Linux reports these in USER_HZ, 100 per second on every architecture.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// The id of the `i`th document of the `blobs` scenario.
fn photo_id(i: usize) -> String {
    format!("photo-{i:08}")
}

/// Saves `docs` documents `{"n": i, "photo": <blob>}`, each photo
/// [`BLOB_BYTES`] of random bytes (SplitMix64, seeded by `i`, so every photo
/// differs and none is stored once for two). Returns the last photo's digest.
fn fill_with_photos(db: &Database, docs: usize) -> workload::Outcome<Option<BlobDigest>> {
    let coll = db.default_collection()?;
    let mut photo = vec![0u8; BLOB_BYTES];
    let mut last = None;
    for i in 0..docs {
        let mut state = (i as u64) ^ 0x5EED_B10B;
        for chunk in photo.chunks_mut(8) {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        let blob = coll.save_blob(Cursor::new(&photo), Some("image/jpeg"))?;
        last = Some(blob.digest);
        let body = serde_json::json!({ "n": i, "photo": blob.to_json() }).to_string();
        coll.save(&photo_id(i), None, &body)?;
    }
    Ok(last)
}

/// Every document arrived with its photo stored at full length, and the
/// last photo's bytes hash to its digest.
fn check_photos(db: &Database, docs: usize, last: Option<BlobDigest>) -> workload::Outcome<()> {
    let coll = db.default_collection()?;
    let arrived = coll.count()?;
    if arrived != docs as u64 {
        return Err(format!("{arrived} documents arrived of {docs}").into());
    }
    for i in 0..docs {
        let id = photo_id(i);
        let blobs = coll.blobs(&id)?;
        let [named] = blobs.as_slice() else {
            return Err(format!("{id} arrived with {} blobs, not 1", blobs.len()).into());
        };
        let reader = coll.blob(&named.blob.digest)?;
        if reader.length() != BLOB_BYTES as u64 {
            return Err(format!("{id}'s photo arrived with {} bytes", reader.length()).into());
        }
    }
    if let Some(digest) = last {
        let mut bytes = Vec::with_capacity(BLOB_BYTES);
        coll.blob(&digest)?.read_to_end(&mut bytes)?;
        if BlobDigest::of_bytes(&bytes) != digest {
            return Err("the last photo's bytes do not match its digest".into());
        }
    }
    Ok(())
}

/// `latency`: [`LATENCY_DOCS`] documents saved one at a time on one side of
/// a continuous push-and-pull; each is timed until the other side can read it.
pub fn latency(doc_size: usize) -> workload::Outcome<Measured> {
    let dir = tempfile::tempdir()?;
    let phone = open(&dir.path().join("phone.db"))?;
    let hub = open(&dir.path().join("hub.db"))?;
    let docs = workload::Docs::new(0..LATENCY_DOCS, doc_size);
    let mut latencies = net::runtime()?.block_on(async {
        let listener = Loopback::start(&hub, USER, PASSWORD).await?;
        let config = ReplicatorConfig {
            continuous: true,
            ..Default::default()
        };
        let replicator = Replicator::remote(phone.clone(), listener.remote.clone(), config)?;
        let mut status = replicator.subscribe_status();
        replicator.start()?;
        tokio::time::timeout(ARRIVAL_TIMEOUT, status.wait_for(|s| s.activity == ActivityLevel::Idle))
            .await
            .map_err(|_| "the replicator did not become idle")??;
        let measured = time_arrivals(&phone, &hub, &docs).await;
        replicator.stop();
        listener.listener.stop().await;
        measured
    })?;
    let total = latencies.iter().sum();
    latencies.sort();
    let ms = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        format!("{:.2}", latencies[i].as_secs_f64() * 1e3)
    };
    Ok(Measured {
        docs: LATENCY_DOCS,
        elapsed: total,
        extra: vec![("latency_p50_ms", ms(0.50)), ("latency_p99_ms", ms(0.99))],
    })
}

/// Saves each document on `from` and waits until `to` has it.
async fn time_arrivals(from: &Database, to: &Database, docs: &workload::Docs) -> workload::Outcome<Vec<Duration>> {
    let source = from.default_collection()?;
    let target = to.default_collection()?;
    let mut changed = to.subscribe();
    let mut latencies = Vec::with_capacity(docs.len());
    for (id, body) in docs.iter() {
        let start = Instant::now();
        source.save(id, None, body)?;
        while target.get(id)?.is_none() {
            tokio::time::timeout(ARRIVAL_TIMEOUT, changed.changed())
                .await
                .map_err(|_| format!("{id} did not arrive in time"))??;
        }
        latencies.push(start.elapsed());
    }
    Ok(latencies)
}

/// What one edit-and-resync run of the `delta` scenario measured.
struct Resync {
    /// Bytes on the wire (both ways, TLS included) of the second sync.
    bytes: u64,
    /// Time of the second sync.
    elapsed: Duration,
    /// The hub's database file and its WAL after the second sync.
    db_bytes: u64,
    /// Bytes of the bodies the hub keeps above its leaves (delta bases).
    base_bytes: u64,
}

/// `delta`: `docs` documents of `doc_size` bytes are pushed through the
/// TLS listener, then one field of each is changed and pushed again; that
/// second push is measured twice, with every byte-saving feature off and
/// then on (compressed frames, feature `deflate`, and delta sync on both
/// the listener and the replicator). The figures are the second push's
/// bytes on the wire each way, their ratio (`delta_bytes_ratio`, on
/// divided by off), both rates, and the hub's database size with the
/// bodies it keeps as delta bases (`delta_db_bytes`, `delta_base_bytes`).
pub fn delta(docs: usize, doc_size: usize) -> workload::Outcome<Measured> {
    let plain = edit_and_resync(docs, doc_size, false)?;
    let saving = edit_and_resync(docs, doc_size, true)?;
    let rate = |r: &Resync| workload::per_second(docs, r.elapsed);
    let ratio = saving.bytes as f64 / plain.bytes.max(1) as f64;
    Ok(Measured {
        docs,
        elapsed: saving.elapsed,
        extra: vec![
            ("delta_full_bytes", plain.bytes.to_string()),
            ("delta_bytes", saving.bytes.to_string()),
            ("delta_full_docs_per_s", format!("{:.0}", rate(&plain))),
            ("delta_docs_per_s", format!("{:.0}", rate(&saving))),
            ("delta_db_bytes", saving.db_bytes.to_string()),
            ("delta_base_bytes", saving.base_bytes.to_string()),
            ("delta_bytes_ratio", format!("{ratio:.3}")),
        ],
    })
}

/// Bytes of the bodies `db` keeps for revisions that are not leaves.
fn ancestor_body_bytes(db: &Database, docs: usize) -> workload::Outcome<u64> {
    let coll = db.default_collection()?;
    let mut bytes = 0;
    for i in 0..docs {
        let Some(tree) = coll.revision_tree(&workload::doc_id(i))? else {
            continue;
        };
        bytes += tree
            .nodes()
            .iter()
            .filter(|n| !tree.is_leaf(&n.rev))
            .filter_map(|n| n.body.as_ref())
            .map(|b| b.len() as u64)
            .sum::<u64>();
    }
    Ok(bytes)
}

/// Pushes `docs` documents, flips one field of each, and measures the
/// second push, with compressed frames and delta sync on or off.
fn edit_and_resync(docs: usize, doc_size: usize, saving: bool) -> workload::Outcome<Resync> {
    let dir = tempfile::tempdir()?;
    let phone = open(&dir.path().join("phone.db"))?;
    workload::fill(&phone, docs, doc_size)?;
    let hub_path = dir.path().join("hub.db");
    let hub_db = open(&hub_path)?;
    net::runtime()?.block_on(async {
        let hub = Loopback::start_with(&hub_db, USER, PASSWORD, saving).await?;
        let config = ReplicatorConfig {
            direction: Direction::Push,
            delta_sync: saving,
            ..Default::default()
        };
        let remote = hub.remote.clone().with_compression(saving);
        let replicator = Replicator::remote(phone.clone(), remote, config)?;
        replicator.run().await?;
        flip_one_field(&phone, docs)?;
        let before = replicator.status().wire.total();
        let start = Instant::now();
        replicator.run().await?;
        let elapsed = start.elapsed();
        let bytes = replicator.status().wire.total() - before;
        hub.listener.stop().await;
        let changed = hub_db
            .default_collection()?
            .get(&workload::doc_id(docs - 1))?
            .is_some_and(|d| d.rev.to_string().starts_with("2-"));
        if !changed {
            return Err("the edits did not arrive".into());
        }
        let size = |p: std::path::PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
        let db_bytes = size(hub_path.clone()) + size(hub_path.with_extension("db-wal"));
        let base_bytes = ancestor_body_bytes(&hub_db, docs)?;
        workload::Outcome::Ok(Resync {
            bytes,
            elapsed,
            db_bytes,
            base_bytes,
        })
    })
}

/// Changes one field (`registered`) of each of the first `docs` documents,
/// a thousand per transaction (read first: a batch holds the connection).
fn flip_one_field(db: &Database, docs: usize) -> workload::Outcome<()> {
    let coll = db.default_collection()?;
    let mut start = 0;
    while start < docs {
        let end = (start + 1000).min(docs);
        let mut edits = Vec::with_capacity(end - start);
        for i in start..end {
            let id = workload::doc_id(i);
            let Some(doc) = coll.get(&id)? else { continue };
            let body = if doc.body.contains(r#""registered":true"#) {
                doc.body.replacen(r#""registered":true"#, r#""registered":false"#, 1)
            } else {
                doc.body.replacen(r#""registered":false"#, r#""registered":true"#, 1)
            };
            edits.push((id, doc.rev, body));
        }
        db.batch(|b| {
            for (id, rev, body) in &edits {
                b.save(&coll, id, Some(rev), body)?;
            }
            Ok(())
        })?;
        start = end;
    }
    Ok(())
}
