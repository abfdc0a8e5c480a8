//! `outpost bench`: throughput of the store on this machine.
//!
//! Each scenario is one [`Scenario`] entry of [`SCENARIOS`]: a name for
//! `--scenario`, the key of its figure in the last output line, a label for
//! the table and a function that runs it. The local scenarios come from the
//! workload shared with core's bench binary (`core/benches/workload`), so
//! both measure the same thing. The network scenarios (`push`, `pull`,
//! `latency`) are in `bench_net`: they replicate through core's TLS
//! listener on loopback and add their own figures (MB/s, latency
//! percentiles) to the last line. `blobs` (documents with a 200 KB photo
//! each, pulled over that listener) runs only when named: its default is
//! 500 documents (100 MB of blobs), not the others' 100,000. `query`
//! (`bench_query`: Mango queries and full-text search, p50/p99 with and
//! without indexes), `encryption` (`batched`, `local-replication` and
//! `pull` plain and encrypted in turn, with the ratios) and `delta`
//! (10,000 documents of 10 KB pushed, one field of each changed, pushed
//! again with the byte-saving features off and on; its last-line figures
//! are the bytes on the wire of the second push and `delta_bytes_ratio`)
//! also run only when named.
//!
//! Output: a table on stdout, row by row as scenarios finish, with each
//! scenario's peak RSS (`VmHWM`, reset before each scenario where Linux
//! allows it), then one line of `key=value` pairs: docs/s per scenario and
//! `peak_rss_mb`, the highest of those peaks (the process's peak RSS).

#[path = "../../../core/benches/workload/mod.rs"]
mod workload;

#[path = "bench_net.rs"]
mod net;

#[path = "bench_query.rs"]
mod query;

use std::time::Duration;

use outpost_core::tuning::MAX_BODY_BYTES;

use crate::args::BenchArgs;
use crate::error::CliError;
use crate::output::Lines;

/// What a scenario is given.
struct Workload {
    docs: usize,
    doc_size: usize,
    /// Documents of the `blobs` scenario: `--docs`, else [`BLOB_DOCS`].
    blob_docs: usize,
    /// Documents of the `delta` scenario: `--docs`, else [`DELTA_DOCS`].
    delta_docs: usize,
    /// Body size of the `delta` scenario: `--doc-size`, else
    /// [`DELTA_DOC_BYTES`].
    delta_doc_size: usize,
}

/// The `delta` scenario's documents when `--docs` is not given.
const DELTA_DOCS: usize = 10_000;

/// The `delta` scenario's body size when `--doc-size` is not given (a
/// registration with a few paragraphs of notes).
const DELTA_DOC_BYTES: usize = 10_000;

/// The `blobs` scenario's documents when `--docs` is not given (500 x 200 KB
/// = 100 MB of blobs).
const BLOB_DOCS: usize = 500;

/// The other scenarios' documents when `--docs` is not given.
const DOCS: usize = 100_000;

impl Workload {
    /// The first `n` documents, generated before the timed part; they are
    /// freed (and given back to the system) when the scenario ends, so they
    /// do not count in the next scenario's peak RSS.
    fn documents(&self, n: usize) -> workload::Docs {
        workload::Docs::new(0..n, self.doc_size)
    }
}

/// How long a scenario took for how many documents, and any figures of
/// its own for the last line.
struct Measured {
    docs: usize,
    elapsed: Duration,
    extra: Vec<(&'static str, String)>,
}

impl Measured {
    fn new(docs: usize, elapsed: Duration) -> Measured {
        Measured {
            docs,
            elapsed,
            extra: Vec::new(),
        }
    }
}

/// One benchmark scenario.
struct Scenario {
    /// Its name for `--scenario`.
    name: &'static str,
    /// Its key in the last line (a rate per second), if its rate is one of
    /// its figures.
    key: Option<&'static str>,
    /// Its row label in the table.
    label: &'static str,
    /// Runs it.
    run: fn(&Workload) -> workload::Outcome<Measured>,
    /// Whether it runs when no `--scenario` is given.
    by_default: bool,
}

/// Every scenario, in the order they run.
const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "ceiling",
        key: Some("sqlite_ceiling_rows_per_s"),
        label: "raw SQLite ceiling (1 tx)",
        run: sqlite_ceiling,
        by_default: true,
    },
    Scenario {
        name: "single",
        key: Some("single_saves_per_s"),
        label: "single saves (1 tx each)",
        run: single_saves,
        by_default: true,
    },
    Scenario {
        name: "batched",
        key: Some("batched_saves_per_s"),
        label: "batched saves (1000 per tx)",
        run: batched_saves,
        by_default: true,
    },
    Scenario {
        name: "local-replication",
        key: Some("local_replication_docs_per_s"),
        label: "local replication (push)",
        run: local_replication,
        by_default: true,
    },
    Scenario {
        name: "push",
        key: Some("push_docs_per_s"),
        label: "network push (TLS, loopback)",
        run: |w| net::push(w.docs, w.doc_size),
        by_default: true,
    },
    Scenario {
        name: "pull",
        key: Some("pull_docs_per_s"),
        label: "network pull (TLS, loopback)",
        run: |w| net::pull(w.docs, w.doc_size),
        by_default: true,
    },
    Scenario {
        name: "latency",
        key: None,
        label: "network latency (200 single saves)",
        run: |w| net::latency(w.doc_size),
        by_default: true,
    },
    Scenario {
        name: "blobs",
        key: Some("blob_pull_docs_per_s"),
        label: "blob pull (200 KB photo per doc)",
        run: |w| net::pull_blobs(w.blob_docs),
        by_default: false,
    },
    Scenario {
        name: "query",
        key: None,
        label: "queries (see the query_* figures)",
        run: |w| query::query(w.docs),
        by_default: false,
    },
    Scenario {
        name: "encryption",
        key: None,
        label: "encryption cost (plain vs encrypted)",
        run: encryption,
        by_default: false,
    },
    Scenario {
        name: "delta",
        key: None,
        label: "edit one field, push again",
        run: |w| net::delta(w.delta_docs, w.delta_doc_size),
        by_default: false,
    },
];

/// What the `encryption` scenario compares: its figure's key and the
/// scenario it runs plain and encrypted.
type Compared = (&'static str, fn(&Workload) -> workload::Outcome<Measured>);

/// `encryption`: batched saves, local replication and a network pull, each
/// run plain then encrypted, twice, keeping the faster run of each; the
/// figures are encrypted time / plain time (1.25 = 25% slower).
fn encryption(w: &Workload) -> workload::Outcome<Measured> {
    let compared: [Compared; 3] = [
        ("encryption_batched_ratio", batched_saves),
        ("encryption_local_replication_ratio", local_replication),
        ("encryption_pull_ratio", |w| net::pull(w.docs, w.doc_size)),
    ];
    let key = outpost_core::EncryptionKey::generate()?;
    let mut extra = Vec::new();
    let (mut docs, mut elapsed) = (0, Duration::ZERO);
    for (figure, run) in compared {
        let mut fastest = [Duration::MAX; 2];
        for _round in 0..2 {
            for (i, key) in [None, Some(key.clone())].into_iter().enumerate() {
                workload::set_encryption_key(key);
                let measured = run(w);
                workload::set_encryption_key(None);
                let measured = measured?;
                fastest[i] = fastest[i].min(measured.elapsed);
                docs += measured.docs;
                elapsed += measured.elapsed;
            }
        }
        let ratio = fastest[1].as_secs_f64() / fastest[0].as_secs_f64().max(1e-9);
        extra.push((figure, format!("{ratio:.2}")));
    }
    Ok(Measured { docs, elapsed, extra })
}

fn sqlite_ceiling(w: &Workload) -> workload::Outcome<Measured> {
    let elapsed = workload::sqlite_ceiling(&w.documents(w.docs))?;
    Ok(Measured::new(w.docs, elapsed))
}

fn single_saves(w: &Workload) -> workload::Outcome<Measured> {
    let n = w.docs.min(workload::MAX_SINGLE_SAVES);
    let elapsed = workload::single_saves(&w.documents(n))?;
    Ok(Measured::new(n, elapsed))
}

fn batched_saves(w: &Workload) -> workload::Outcome<Measured> {
    let elapsed = workload::batched_saves(&w.documents(w.docs))?;
    Ok(Measured::new(w.docs, elapsed))
}

fn local_replication(w: &Workload) -> workload::Outcome<Measured> {
    let elapsed = workload::replication(w.docs, w.doc_size)?;
    Ok(Measured::new(w.docs, elapsed))
}

/// The scenarios named by `--scenario`, in their run order (those run by
/// default if none is named).
fn selected(names: &[String]) -> Result<Vec<&'static Scenario>, CliError> {
    if let Some(unknown) = names.iter().find(|n| !SCENARIOS.iter().any(|s| s.name == n.as_str())) {
        let known: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        return Err(CliError::Usage(format!(
            "unknown scenario {unknown:?}; choose from {}",
            known.join(", ")
        )));
    }
    Ok(SCENARIOS
        .iter()
        .filter(|s| {
            if names.is_empty() {
                s.by_default
            } else {
                names.iter().any(|n| n == s.name)
            }
        })
        .collect())
}

/// `outpost bench`.
pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    let scenarios = selected(&args.scenario)?;
    let doc_size = args.doc_size.unwrap_or(workload::BODY_BYTES);
    if !(workload::MIN_BODY_BYTES..=MAX_BODY_BYTES).contains(&doc_size) {
        return Err(CliError::Usage(format!(
            "--doc-size must be between {} and {MAX_BODY_BYTES} bytes",
            workload::MIN_BODY_BYTES
        )));
    }
    let given = args
        .docs
        .map(usize::try_from)
        .transpose()
        .map_err(|_| CliError::Usage("--docs is too large".to_owned()))?;
    let only_blobs = scenarios.iter().all(|s| s.name == "blobs");
    let only_delta = scenarios.iter().all(|s| s.name == "delta");
    let docs = given.unwrap_or(if only_blobs {
        BLOB_DOCS
    } else if only_delta {
        DELTA_DOCS
    } else {
        DOCS
    });
    let w = Workload {
        docs,
        doc_size,
        blob_docs: given.unwrap_or(BLOB_DOCS),
        delta_docs: given.unwrap_or(DELTA_DOCS),
        delta_doc_size: args.doc_size.unwrap_or(DELTA_DOC_BYTES),
    };
    let doc_size = if only_delta { w.delta_doc_size } else { doc_size };
    let mut out = Lines::stdout();
    out.line(&format!(
        "outpost bench: {docs} documents of {doc_size} bytes (canonical JSON)"
    ))?;
    out.line("")?;
    out.line(&format!(
        "{:<34} {:>10} {:>10} {:>12} {:>14}",
        "scenario", "docs", "seconds", "docs/s", "peak RSS MiB"
    ))?;
    out.flush()?;
    let mut figures = vec![
        ("docs".to_owned(), docs.to_string()),
        ("doc_size".to_owned(), doc_size.to_string()),
    ];
    let mut peak_kib = None;
    for scenario in scenarios {
        tracing::info!(scenario = scenario.name, "running");
        reset_peak_rss();
        let measured = (scenario.run)(&w).map_err(|e| CliError::Bench {
            scenario: scenario.name,
            reason: e.to_string(),
        })?;
        let peak = workload::proc_status_kib("VmHWM");
        peak_kib = peak_kib.max(peak);
        let rate = workload::per_second(measured.docs, measured.elapsed);
        out.line(&format!(
            "{:<34} {:>10} {:>10.3} {rate:>12.0} {:>14}",
            scenario.label,
            measured.docs,
            measured.elapsed.as_secs_f64(),
            show_mib(peak),
        ))?;
        // Rows appear as scenarios finish, even when stdout is a pipe.
        out.flush()?;
        if let Some(key) = scenario.key {
            figures.push((key.to_owned(), format!("{rate:.0}")));
        }
        figures.extend(measured.extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
    }
    out.line("")?;
    figures.push(("peak_rss_mb".to_owned(), show_mib(peak_kib)));
    let line: Vec<String> = figures.iter().map(|(k, v)| format!("{k}={v}")).collect();
    out.line(&line.join(" "))?;
    out.finish()
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS, so that the
/// next reading is the peak of one scenario (Linux's `clear_refs` value 5).
/// Best effort: where it is refused, readings are the peak since the start.
fn reset_peak_rss() {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        tracing::debug!(error = %e, "cannot reset the peak RSS");
    }
}

fn show_mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "unknown".to_owned(), |k| format!("{:.1}", workload::mib(k)))
}
