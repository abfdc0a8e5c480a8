//! `outpost bench`: throughput of the store on this machine.
//!
//! Each scenario is one [`Scenario`] entry of [`SCENARIOS`]: a name for
//! `--scenario`, the key of its figure in the last output line, a label for
//! the table and a function that runs it. The local scenarios come from the
//! workload shared with core's bench binary (`core/benches/workload`), so
//! both measure the same thing. The network scenarios (`pull`, `push`:
//! `pull_docs_per_s`, `push_docs_per_s`) are two more entries whose
//! functions replicate through core's network listener on loopback.
//!
//! Output: a table on stdout, row by row as scenarios finish, then one line
//! of `key=value` pairs (docs/s per scenario and `peak_rss_mb`, the
//! process's peak RSS from `VmHWM`).

#[path = "../../../core/benches/workload/mod.rs"]
mod workload;

use std::time::Duration;

use outpost_core::tuning::MAX_BODY_BYTES;

use crate::args::BenchArgs;
use crate::error::CliError;
use crate::output::Lines;

/// What a scenario is given.
struct Workload {
    docs: usize,
    doc_size: usize,
    /// The documents, generated once outside the timed parts, for the
    /// scenarios that take them as a slice.
    generated: Vec<(String, String)>,
}

impl Workload {
    fn documents(&mut self) -> &[(String, String)] {
        if self.generated.is_empty() {
            self.generated = workload::generate(self.docs, self.doc_size);
        }
        &self.generated
    }
}

/// How long a scenario took for how many documents.
struct Measured {
    docs: usize,
    elapsed: Duration,
}

/// One benchmark scenario.
struct Scenario {
    /// Its name for `--scenario`.
    name: &'static str,
    /// Its key in the last line (a rate per second).
    key: &'static str,
    /// Its row label in the table.
    label: &'static str,
    /// Runs it.
    run: fn(&mut Workload) -> workload::Outcome<Measured>,
}

/// Every scenario, in the order they run.
const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "ceiling",
        key: "sqlite_ceiling_rows_per_s",
        label: "raw SQLite ceiling (1 tx)",
        run: sqlite_ceiling,
    },
    Scenario {
        name: "single",
        key: "single_saves_per_s",
        label: "single saves (1 tx each)",
        run: single_saves,
    },
    Scenario {
        name: "batched",
        key: "batched_saves_per_s",
        label: "batched saves (1000 per tx)",
        run: batched_saves,
    },
    Scenario {
        name: "local-replication",
        key: "local_replication_docs_per_s",
        label: "local replication (push)",
        run: local_replication,
    },
];

fn sqlite_ceiling(w: &mut Workload) -> workload::Outcome<Measured> {
    let elapsed = workload::sqlite_ceiling(w.documents())?;
    Ok(Measured { docs: w.docs, elapsed })
}

fn single_saves(w: &mut Workload) -> workload::Outcome<Measured> {
    let n = w.docs.min(workload::MAX_SINGLE_SAVES);
    let elapsed = workload::single_saves(&w.documents()[..n])?;
    Ok(Measured { docs: n, elapsed })
}

fn batched_saves(w: &mut Workload) -> workload::Outcome<Measured> {
    let elapsed = workload::batched_saves(w.documents())?;
    Ok(Measured { docs: w.docs, elapsed })
}

fn local_replication(w: &mut Workload) -> workload::Outcome<Measured> {
    let elapsed = workload::replication(w.docs, w.doc_size)?;
    Ok(Measured { docs: w.docs, elapsed })
}

/// The scenarios named by `--scenario`, in their run order (all of them if
/// none is named).
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
        .filter(|s| names.is_empty() || names.iter().any(|n| n == s.name))
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
    let docs = usize::try_from(args.docs).map_err(|_| CliError::Usage("--docs is too large".to_owned()))?;
    let mut w = Workload {
        docs,
        doc_size,
        generated: Vec::new(),
    };
    let mut out = Lines::stdout();
    out.line(&format!(
        "outpost bench: {docs} documents of {doc_size} bytes (canonical JSON)"
    ))?;
    out.line("")?;
    out.line(&format!(
        "{:<34} {:>10} {:>10} {:>12}",
        "scenario", "docs", "seconds", "docs/s"
    ))?;
    out.flush()?;
    let mut figures = vec![
        ("docs".to_owned(), docs.to_string()),
        ("doc_size".to_owned(), doc_size.to_string()),
    ];
    for scenario in scenarios {
        tracing::info!(scenario = scenario.name, "running");
        let measured = (scenario.run)(&mut w).map_err(|e| CliError::Bench {
            scenario: scenario.name,
            reason: e.to_string(),
        })?;
        let rate = workload::per_second(measured.docs, measured.elapsed);
        out.line(&format!(
            "{:<34} {:>10} {:>10.3} {rate:>12.0}",
            scenario.label,
            measured.docs,
            measured.elapsed.as_secs_f64()
        ))?;
        // Rows appear as scenarios finish, even when stdout is a pipe.
        out.flush()?;
        figures.push((scenario.key.to_owned(), format!("{rate:.0}")));
    }
    let peak =
        workload::proc_status_kib("VmHWM").map_or_else(|| "unknown".to_owned(), |k| format!("{:.1}", workload::mib(k)));
    out.line(&format!("{:<34} {:>10} {peak:>10} MiB", "peak RSS of this process", ""))?;
    out.line("")?;
    figures.push(("peak_rss_mb".to_owned(), peak));
    let line: Vec<String> = figures.iter().map(|(k, v)| format!("{k}={v}")).collect();
    out.line(&line.join(" "))?;
    out.finish()
}
