//! Store and replication throughput, and the peak memory of a replication.
//!
//! A plain bench binary (no harness) that prints figures:
//!
//! ```text
//! cargo bench -p outpost-core --bench store                       # all scenarios, 100000 docs
//! cargo bench -p outpost-core --bench store -- --docs 20000       # another size
//! cargo bench -p outpost-core --bench store -- --runs 5           # median of 5 runs of each
//! cargo bench -p outpost-core --bench store -- --scenario memory  # peak RSS at 100k and 1M docs (slow)
//! cargo bench -p outpost-core --bench store -- --scenario batched # one scenario alone, to profile it
//! ```
//!
//! Scenarios, each in a fresh temporary directory, with ~1 KB JSON bodies
//! (the documents and scenarios 1-4 live in `workload/mod.rs`, shared with
//! `outpost bench`):
//!
//! 1. the raw SQLite ceiling: plain rusqlite INSERTs of the same rows
//!    (`id TEXT PRIMARY KEY, body TEXT`) in one transaction, WAL,
//!    `synchronous = NORMAL`, one prepared statement;
//! 2. single-document saves ([`Collection::save`], one transaction each);
//! 3. batched saves ([`Database::batch`], 1000 documents per batch);
//! 4. one-shot local-to-local push replication of every document into an
//!    empty database;
//! 5. the peak RSS (`VmHWM`) of scenario 4, measured in a child process (this
//!    binary re-executed with `--scenario replicate`) because peak RSS is
//!    process-wide.
//!
//! Run by `cargo test --benches` (no `--bench` argument), it does a tiny run
//! so that it stays fast.

mod workload;

use std::process::Command;
use std::time::Duration;

use workload::{mib, per_second, proc_status_kib, Docs, BODY_BYTES, MAX_SINGLE_SAVES};

/// Documents per scenario when run by `cargo bench` without `--docs`.
const DEFAULT_DOCS: usize = 100_000;
/// Documents per scenario when run as a test (`cargo test --benches`).
const TEST_DOCS: usize = 200;
/// Sizes compared by `--scenario memory`.
const MEMORY_SIZES: [usize; 2] = [100_000, 1_000_000];

struct Args {
    docs: usize,
    runs: usize,
    scenario: Option<String>,
}

fn parse_args() -> Args {
    let mut docs = None;
    let mut scenario = None;
    let mut runs = 1;
    let mut bench = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if let Some(v) = arg.strip_prefix("--docs=") {
            docs = Some(parse_count(v, "--docs"));
        } else if let Some(v) = arg.strip_prefix("--scenario=") {
            scenario = Some(v.to_owned());
        } else if let Some(v) = arg.strip_prefix("--runs=") {
            runs = parse_count(v, "--runs");
        } else if arg == "--docs" {
            docs = Some(parse_count(&args.next().expect("--docs needs a number"), "--docs"));
        } else if arg == "--runs" {
            runs = parse_count(&args.next().expect("--runs needs a number"), "--runs");
        } else if arg == "--scenario" {
            scenario = Some(args.next().expect("--scenario needs a name"));
        } else if arg == "--bench" {
            bench = true;
        }
        // Anything else (libtest flags, filters) is ignored.
    }
    let fallback = if bench || scenario.is_some() {
        DEFAULT_DOCS
    } else {
        TEST_DOCS
    };
    Args {
        docs: docs.unwrap_or(fallback),
        runs,
        scenario,
    }
}

fn parse_count(v: &str, flag: &str) -> usize {
    let n: usize = v
        .replace('_', "")
        .parse()
        .unwrap_or_else(|_| panic!("{flag} needs a positive number"));
    assert!(n > 0, "{flag} needs a positive number");
    n
}

fn main() {
    let args = parse_args();
    match args.scenario.as_deref() {
        None | Some("all") => run_all(args.docs, args.runs),
        Some("replicate") => run_replicate_child(args.docs),
        Some("memory") => run_memory(),
        Some(one @ ("ceiling" | "single" | "batched" | "replication")) => run_one(one, args.docs),
        Some(other) => {
            panic!("unknown scenario {other:?}: use all, ceiling, single, batched, replication, replicate or memory")
        }
    }
}

/// The child process of the memory measurement: builds the source database,
/// replicates it and prints its own peak RSS.
fn run_replicate_child(n: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut hwm_after_fill = None;
    let elapsed = measured(
        "replication",
        workload::replicate(dir.path(), n, BODY_BYTES, || hwm_after_fill = proc_status_kib("VmHWM")),
    );
    let peak = proc_status_kib("VmHWM");
    let show = |v: Option<u64>| v.map_or_else(|| "unknown".to_owned(), |v| v.to_string());
    println!(
        "child docs={n} replication_s={:.3} replication_docs_per_s={:.0} hwm_after_fill_kib={} peak_rss_kib={}",
        elapsed.as_secs_f64(),
        per_second(n, elapsed),
        show(hwm_after_fill),
        show(peak),
    );
}

struct ChildReport {
    peak_kib: u64,
    hwm_after_fill_kib: Option<u64>,
    docs_per_s: Option<f64>,
}

/// Runs this binary again as `--scenario replicate --docs n`.
fn measure_in_child(n: usize) -> Option<ChildReport> {
    let exe = std::env::current_exe().expect("the bench's own path");
    let output = Command::new(exe)
        .args(["--scenario", "replicate", "--docs", &n.to_string()])
        .output()
        .expect("run the child process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        eprintln!(
            "the replication child failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    let line = stdout.lines().find(|l| l.starts_with("child "))?;
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
    };
    Some(ChildReport {
        peak_kib: field("peak_rss_kib")?.parse().ok()?,
        hwm_after_fill_kib: field("hwm_after_fill_kib").and_then(|v| v.parse().ok()),
        docs_per_s: field("replication_docs_per_s").and_then(|v| v.parse().ok()),
    })
}

fn run_memory() {
    println!("outpost-core replication peak RSS (VmHWM of a child process per size; the child fills the source");
    println!("database with batched saves, then pushes it into an empty database)");
    println!();
    println!(
        "{:>10} {:>16} {:>22} {:>20}",
        "docs", "peak RSS (MiB)", "RSS after fill (MiB)", "replication docs/s"
    );
    let mut peaks = Vec::new();
    for n in MEMORY_SIZES {
        let report = measure_in_child(n).expect("the child reports its peak RSS");
        println!(
            "{n:>10} {:>16.1} {:>22} {:>20}",
            mib(report.peak_kib),
            report
                .hwm_after_fill_kib
                .map_or_else(|| "?".to_owned(), |k| format!("{:.1}", mib(k))),
            report.docs_per_s.map_or_else(|| "?".to_owned(), |r| format!("{r:.0}")),
        );
        peaks.push(report.peak_kib);
    }
    let ratio = peaks[1] as f64 / peaks[0] as f64;
    println!();
    println!(
        "peak at {} / peak at {} = {ratio:.2}x (target < 1.5x: {})",
        MEMORY_SIZES[1],
        MEMORY_SIZES[0],
        if ratio < 1.5 { "met" } else { "MISSED" }
    );
    println!(
        "peak_rss_mb_{}={:.1} peak_rss_mb_{}={:.1} peak_rss_ratio={ratio:.2}",
        MEMORY_SIZES[0],
        mib(peaks[0]),
        MEMORY_SIZES[1],
        mib(peaks[1]),
    );
}

// ---------------------------------------------------------------- report

/// The time of a scenario, or a panic saying which one failed and why.
fn measured(scenario: &str, outcome: workload::Outcome) -> Duration {
    outcome.unwrap_or_else(|e| panic!("scenario {scenario} failed: {e}"))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Flushes the previous scenario's files to disk so that their write-back
/// does not slow down the next one (best effort).
fn settle() {
    let _ = Command::new("sync").status();
}

/// One scenario alone (to profile it): `--scenario ceiling|single|batched|replication`.
fn run_one(scenario: &str, n: usize) {
    let (count, elapsed) = match scenario {
        "ceiling" => (
            n,
            measured(scenario, workload::sqlite_ceiling(&Docs::new(0..n, BODY_BYTES))),
        ),
        "single" => (
            n,
            measured(scenario, workload::single_saves(&Docs::new(0..n, BODY_BYTES))),
        ),
        "batched" => (
            n,
            measured(scenario, workload::batched_saves(&Docs::new(0..n, BODY_BYTES))),
        ),
        _ => (n, measured(scenario, workload::replication(n, BODY_BYTES))),
    };
    println!(
        "{scenario}: {count} docs in {:.3} s = {:.0} docs/s",
        elapsed.as_secs_f64(),
        per_second(count, elapsed)
    );
}

fn run_all(n: usize, runs: usize) {
    let single_n = n.min(MAX_SINGLE_SAVES);
    println!("outpost-core store benchmark: {n} documents of {BODY_BYTES} bytes (canonical JSON), {runs} run(s)");
    println!();
    let docs = Docs::new(0..n, BODY_BYTES);
    let single_docs = Docs::new(0..single_n, BODY_BYTES);

    // Scenarios interleaved run by run, so a slow spell of the machine hits
    // all of them; each figure is the median of its runs.
    let (mut ceilings, mut singles, mut batches, mut replications) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        settle();
        ceilings.push(measured("ceiling", workload::sqlite_ceiling(&docs)));
        settle();
        singles.push(measured("single", workload::single_saves(&single_docs)));
        settle();
        batches.push(measured("batched", workload::batched_saves(&docs)));
        settle();
        replications.push(measured("replication", workload::replication(n, BODY_BYTES)));
        if runs > 1 {
            let secs = |v: &[Duration]| v.last().map_or(0.0, Duration::as_secs_f64);
            println!(
                "run {run}: ceiling {:.0}/s, single {:.0}/s, batched {:.0}/s, replication {:.0}/s",
                n as f64 / secs(&ceilings),
                single_n as f64 / secs(&singles),
                n as f64 / secs(&batches),
                n as f64 / secs(&replications),
            );
        }
    }
    drop((docs, single_docs));
    settle();
    let child = measure_in_child(n);
    if runs > 1 {
        println!();
    }
    let (ceiling, single, batched, replicated) =
        (median(ceilings), median(singles), median(batches), median(replications));

    let ceiling_rate = per_second(n, ceiling);
    let single_rate = per_second(single_n, single);
    let batched_rate = per_second(n, batched);
    let replication_rate = per_second(n, replicated);
    let pct = |rate: f64| 100.0 * rate / ceiling_rate;

    println!(
        "{:<36} {:>10} {:>10} {:>12} {:>12}",
        "scenario", "docs", "seconds", "docs/s", "% ceiling"
    );
    let row = |name: &str, count: usize, elapsed: Duration, rate: f64| {
        println!(
            "{name:<36} {count:>10} {:>10.3} {rate:>12.0} {:>11.1}%",
            elapsed.as_secs_f64(),
            pct(rate)
        );
    };
    row("1. raw SQLite ceiling (1 tx)", n, ceiling, ceiling_rate);
    row("2. single saves (1 tx each)", single_n, single, single_rate);
    row(
        &format!("3. batched saves ({} per batch)", workload::BATCH_SIZE),
        n,
        batched,
        batched_rate,
    );
    row("4. local replication (push)", n, replicated, replication_rate);
    let peak_mb = child.as_ref().map(|c| mib(c.peak_kib));
    match &child {
        Some(c) => println!(
            "{:<36} {n:>10} peak RSS {:.1} MiB (after filling the source: {})",
            "5. replication peak RSS (child)",
            mib(c.peak_kib),
            c.hwm_after_fill_kib
                .map_or_else(|| "?".to_owned(), |k| format!("{:.1} MiB", mib(k))),
        ),
        None => println!("{:<36} {n:>10} unknown", "5. replication peak RSS (child)"),
    }
    println!();
    if n < 10_000 {
        println!("(a tiny run: too few documents for the targets below to mean anything)");
    }
    println!(
        "batched saves = {:.1}% of the SQLite ceiling (target >= 50%: {})",
        pct(batched_rate),
        if pct(batched_rate) >= 50.0 { "met" } else { "MISSED" }
    );
    println!(
        "local replication = {:.1}% of the SQLite ceiling (target >= 30%: {})",
        pct(replication_rate),
        if pct(replication_rate) >= 30.0 { "met" } else { "MISSED" }
    );
    println!(
        "docs={n} sqlite_ceiling_rows_per_s={ceiling_rate:.0} single_saves_per_s={single_rate:.0} \
         batched_saves_per_s={batched_rate:.0} replication_docs_per_s={replication_rate:.0} \
         replication_peak_rss_mb={} batched_pct_of_ceiling={:.1} replication_pct_of_ceiling={:.1}",
        peak_mb.map_or_else(|| "unknown".to_owned(), |m| format!("{m:.1}")),
        pct(batched_rate),
        pct(replication_rate),
    );
}
