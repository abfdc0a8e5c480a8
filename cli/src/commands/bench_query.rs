//! The `query` scenario of `outpost bench`: 100,000 child records (name,
//! age, camp, status) and four kinds of query, each timed many times
//! without indexes and then with them: equality on a field, a range with a
//! sort and limit 20, a two-field compound equality, and a full-text name
//! search (without its index, the same search as a `$regex` scan). The
//! p50 and p99 of each kind go to the last line (`query_eq_p50_ms`, ...,
//! `query_eq_noindex_p50_ms`, ...). tests/pouchdb/bench_query.js runs the
//! same data and queries on pouchdb-find.

use std::time::{Duration, Instant};

use outpost_core::{Collection, Query};

use super::workload;
use super::Measured;

/// Runs of each indexed query kind.
const INDEXED_RUNS: usize = 400;
/// Runs of each query kind without an index (each scans the collection).
const SCAN_RUNS: usize = 15;
/// Documents per write transaction while filling.
const FILL_BATCH: usize = 1_000;

const FIRST_NAMES: &[&str] = &[
    "Amina", "Yusuf", "Leila", "Fatima", "Omar", "Hawa", "Ibrahim", "Mariam", "Abdi", "Nasra", "Khadija", "Ali",
    "Zainab", "Hassan", "Aisha", "Musa", "Halima", "Idris", "Safiya", "Bilal", "Amína", "Ruth", "Samuel", "Grace",
    "Joseph", "Esther", "Daniel", "Rahel", "Tesfaye", "Ayaan",
];
const LAST_NAMES: &[&str] = &[
    "Diallo",
    "Mohamed",
    "Abdullahi",
    "Okello",
    "Nkurunziza",
    "Haile",
    "Osman",
    "Bello",
    "Kamara",
    "Achieng",
    "Mensah",
    "Traoré",
    "Ndayishimiye",
    "Warsame",
    "Tesfay",
    "Juma",
    "Ochieng",
    "Barry",
    "Sesay",
    "Kiprono",
];
const STATUSES: &[&str] = &["registered", "reunited", "referred", "missing"];
const CAMPS: usize = 20;

/// The `i`th child record (deterministic).
pub(crate) fn child(i: usize) -> String {
    let first = FIRST_NAMES[i % FIRST_NAMES.len()];
    let last = LAST_NAMES[(i / FIRST_NAMES.len()) % LAST_NAMES.len()];
    serde_json::json!({
        "name": format!("{first} {last}"),
        "age": i % 18,
        "camp": format!("camp-{:02}", (i / 7) % CAMPS),
        "status": STATUSES[(i / 3) % STATUSES.len()],
    })
    .to_string()
}

/// One kind of query: its name, its keys in the last line (p50 and p99
/// with indexes, then without), and the `n`th query of it.
struct Kind {
    key: &'static str,
    keys: [&'static str; 4],
    run: fn(&Collection, usize, bool) -> workload::Outcome<usize>,
}

const KINDS: &[Kind] = &[
    Kind {
        key: "eq",
        keys: [
            "query_eq_p50_ms",
            "query_eq_p99_ms",
            "query_eq_noindex_p50_ms",
            "query_eq_noindex_p99_ms",
        ],
        run: eq,
    },
    Kind {
        key: "range",
        keys: [
            "query_range_p50_ms",
            "query_range_p99_ms",
            "query_range_noindex_p50_ms",
            "query_range_noindex_p99_ms",
        ],
        run: range,
    },
    Kind {
        key: "compound",
        keys: [
            "query_compound_p50_ms",
            "query_compound_p99_ms",
            "query_compound_noindex_p50_ms",
            "query_compound_noindex_p99_ms",
        ],
        run: compound,
    },
    Kind {
        key: "text",
        keys: [
            "query_text_p50_ms",
            "query_text_p99_ms",
            "query_text_noindex_p50_ms",
            "query_text_noindex_p99_ms",
        ],
        run: text,
    },
];

fn found(c: &Collection, query: Query) -> workload::Outcome<usize> {
    Ok(c.find(&query)?.len())
}

fn eq(c: &Collection, n: usize, _: bool) -> workload::Outcome<usize> {
    found(c, Query::new(&format!(r#"{{"camp":"camp-{:02}"}}"#, n % CAMPS))?)
}

fn range(c: &Collection, n: usize, _: bool) -> workload::Outcome<usize> {
    let low = n % 15;
    let selector = format!(r#"{{"age":{{"$gte":{low},"$lte":{}}}}}"#, low + 2);
    found(c, Query::new(&selector)?.sort("age", false)?.limit(20)?)
}

fn compound(c: &Collection, n: usize, _: bool) -> workload::Outcome<usize> {
    let selector = format!(
        r#"{{"camp":"camp-{:02}","status":"{}"}}"#,
        n % CAMPS,
        STATUSES[n % STATUSES.len()]
    );
    found(c, Query::new(&selector)?)
}

fn text(c: &Collection, n: usize, indexed: bool) -> workload::Outcome<usize> {
    let name = FIRST_NAMES[n % FIRST_NAMES.len()];
    if indexed {
        return Ok(c.search(name, 20)?.len());
    }
    // Without a text index: the closest a selector comes, a case-blind scan.
    let selector = serde_json::json!({"name": {"$regex": format!("(?i)\\b{name}\\b")}}).to_string();
    found(c, Query::new(&selector)?.limit(20)?)
}

/// Fills a collection, times every kind without and with indexes.
pub fn query(docs: usize) -> workload::Outcome<Measured> {
    let dir = tempfile::tempdir()?;
    let db = workload::open(&dir.path().join("query.db"))?;
    let children = db.default_collection()?;
    let started = Instant::now();
    for first in (0..docs).step_by(FILL_BATCH) {
        db.batch(|b| {
            for i in first..(first + FILL_BATCH).min(docs) {
                b.save(&children, &format!("child-{i:08}"), None, &child(i))?;
            }
            Ok(())
        })?;
    }
    let mut extra = vec![("query_fill_s", format!("{:.2}", started.elapsed().as_secs_f64()))];
    for kind in KINDS {
        let times = timed(&children, kind, SCAN_RUNS, false)?;
        extra.push((kind.keys[2], ms(&times, 0.50)));
        extra.push((kind.keys[3], ms(&times, 0.99)));
    }
    let building = Instant::now();
    children.create_index("by_camp", &["camp"])?;
    children.create_index("by_age", &["age"])?;
    children.create_index("by_camp_status", &["camp", "status"])?;
    children.create_text_index("names", &["name"])?;
    extra.push((
        "query_index_build_s",
        format!("{:.2}", building.elapsed().as_secs_f64()),
    ));
    for kind in KINDS {
        let times = timed(&children, kind, INDEXED_RUNS, true)?;
        extra.push((kind.keys[0], ms(&times, 0.50)));
        extra.push((kind.keys[1], ms(&times, 0.99)));
    }
    Ok(Measured {
        docs,
        elapsed: started.elapsed(),
        extra,
    })
}

/// Runs `kind` `runs` times; the sorted durations. Every query must find
/// something (a query that silently matched nothing would time nothing).
fn timed(c: &Collection, kind: &Kind, runs: usize, indexed: bool) -> workload::Outcome<Vec<Duration>> {
    let mut times = Vec::with_capacity(runs);
    for n in 0..runs {
        let start = Instant::now();
        let hits = (kind.run)(c, n, indexed)?;
        times.push(start.elapsed());
        if hits == 0 {
            return Err(format!("the {} query {n} found nothing", kind.key).into());
        }
    }
    times.sort();
    Ok(times)
}

/// The `q` quantile of sorted `times`, in milliseconds.
fn ms(times: &[Duration], q: f64) -> String {
    let rank = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len().max(1)) - 1;
    times
        .get(rank)
        .map_or_else(|| "0".to_owned(), |t| format!("{:.3}", t.as_secs_f64() * 1e3))
}
