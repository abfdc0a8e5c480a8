//! Network sync throughput, memory and latency over TLS on loopback.
//!
//! A plain bench binary (no harness) that prints figures:
//!
//! ```text
//! cargo bench -p outpost-core --bench sync                        # pull, push, latency at 100000 docs
//! cargo bench -p outpost-core --bench sync -- --docs 200000       # another size (memory flatness)
//! cargo bench -p outpost-core --bench sync -- --scenario latency  # one scenario
//! ```
//!
//! - `pull` / `push`: one-shot replication of N ~1 KB documents between this
//!   process and a listener in a child process (this binary re-executed
//!   with `--role listener`), so each side's peak RSS (`VmHWM`, reset after
//!   filling) is its own. TLS with a pinned fingerprint and basic auth.
//! - `latency`: a continuous push-and-pull replicator and a listener in
//!   this process; 200 documents written one at a time on A, each timed
//!   until it is visible on B; p50 and p99.
//!
//! Run by `cargo test --benches` it does a tiny run, so it stays fast.

// Shared with the store bench and `outpost bench`; this bench uses part of it.
#[allow(dead_code)]
mod workload;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use outpost_core::net::{
    ClientAuth, Listener, ListenerAuthenticator, ListenerConfig, RemoteConfig, ServerTrust, UserTable,
};
use outpost_core::replication::{ActivityLevel, Direction, Replicator, ReplicatorConfig};
use workload::{fill, mib, open, per_second, proc_status_kib, Outcome, BODY_BYTES};

const DEFAULT_DOCS: usize = 100_000;
const TEST_DOCS: usize = 300;
const LATENCY_SAMPLES: usize = 200;
const USER: &str = "bench";
const PASSWORD: &str = "bench-password";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if value("--role").as_deref() == Some("listener") {
        let db = value("--db").expect("--db");
        let n = value("--fill").and_then(|v| v.parse().ok()).unwrap_or(0);
        if let Err(e) = run_listener_child(&db, n) {
            eprintln!("listener child failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    let bench = args.iter().any(|a| a == "--bench");
    let scenario = value("--scenario");
    let docs = value("--docs")
        .map(|v| v.replace('_', "").parse().expect("--docs needs a number"))
        .unwrap_or(if bench || scenario.is_some() {
            DEFAULT_DOCS
        } else {
            TEST_DOCS
        });
    let scenario = scenario.unwrap_or_else(|| "all".into());
    println!("sync bench: {docs} documents of ~{BODY_BYTES} bytes over TLS on 127.0.0.1");
    let mut figures = Vec::new();
    for (name, direction) in [("pull", Direction::Pull), ("push", Direction::Push)] {
        if scenario == "all" || scenario == name {
            match transfer(direction, docs) {
                Ok(f) => {
                    println!(
                        "{name:>5}: {:>8.0} docs/s {:>6.1} MB/s  peak RSS: replicator {:.1} MiB, listener {:.1} MiB",
                        f.docs_per_s, f.mb_per_s, f.replicator_rss_mib, f.listener_rss_mib
                    );
                    figures.push(format!(
                        "{name}_docs_per_s={:.0} {name}_mb_per_s={:.1} {name}_replicator_rss_mib={:.1} {name}_listener_rss_mib={:.1}",
                        f.docs_per_s, f.mb_per_s, f.replicator_rss_mib, f.listener_rss_mib
                    ));
                }
                Err(e) => panic!("{name} failed: {e}"),
            }
        }
    }
    if scenario == "all" || scenario == "latency" {
        let (p50, p99) = latency().unwrap_or_else(|e| panic!("latency failed: {e}"));
        println!(
            "latency: p50 {p50:.2} ms, p99 {p99:.2} ms ({LATENCY_SAMPLES} single writes, continuous push-and-pull)"
        );
        figures.push(format!("latency_p50_ms={p50:.2} latency_p99_ms={p99:.2}"));
    }
    println!("docs={docs} {}", figures.join(" "));
}

struct Transfer {
    docs_per_s: f64,
    mb_per_s: f64,
    replicator_rss_mib: f64,
    listener_rss_mib: f64,
}

/// Resets this process's peak RSS to its current RSS (Linux).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn listener_config() -> Outcome<ListenerConfig> {
    let users = UserTable::new().with_user(USER, PASSWORD)?;
    let mut config = ListenerConfig::new(ListenerAuthenticator::Users(users));
    config.interface = Some("127.0.0.1".into());
    Ok(config)
}

fn remote(url: &str, fingerprint: &str) -> RemoteConfig {
    RemoteConfig::new(url)
        .with_auth(ClientAuth::basic(USER, PASSWORD))
        .with_trust(ServerTrust::PinnedFingerprint(fingerprint.to_owned()))
}

/// The child: fills its database, serves it until stdin closes, then
/// reports its document count and peak RSS.
fn run_listener_child(path: &str, n: usize) -> Outcome<()> {
    let db = open(std::path::Path::new(path))?;
    fill(&db, n, BODY_BYTES)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let listener = runtime.block_on(Listener::start(db.clone(), listener_config()?))?;
    reset_peak_rss();
    println!("{} {}", listener.urls()[0], listener.fingerprint().unwrap_or_default());
    std::io::stdout().flush()?;
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest)?;
    runtime.block_on(listener.stop());
    let count = db.default_collection()?.count()?;
    println!("count={count} peak_rss_kib={}", proc_status_kib("VmHWM").unwrap_or(0));
    Ok(())
}

fn transfer(direction: Direction, n: usize) -> Outcome<Transfer> {
    let dir = tempfile::tempdir()?;
    let local = open(&dir.path().join("local.db"))?;
    let child_fill = if direction == Direction::Pull { n } else { 0 };
    if direction == Direction::Push {
        fill(&local, n, BODY_BYTES)?;
    }
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--role", "listener", "--fill", &child_fill.to_string(), "--db"])
        .arg(dir.path().join("remote.db"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = BufReader::new(child.stdout.take().ok_or("no child stdout")?);
    let mut line = String::new();
    out.read_line(&mut line)?;
    let (url, fingerprint) = line.trim().split_once(' ').ok_or("the listener child did not start")?;
    let runtime = tokio::runtime::Runtime::new()?;
    let config = ReplicatorConfig {
        direction,
        ..Default::default()
    };
    let replicator = Replicator::remote(local.clone(), remote(url, fingerprint), config)?;
    reset_peak_rss();
    let start = Instant::now();
    runtime.block_on(replicator.run())?;
    let elapsed = start.elapsed();
    let replicator_rss = proc_status_kib("VmHWM").unwrap_or(0);
    drop(child.stdin.take());
    let mut report = String::new();
    out.read_to_string(&mut report)?;
    child.wait()?;
    let field = |key: &str| -> Option<u64> {
        report
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
    };
    let remote_count = field("count").ok_or("no report from the listener child")?;
    let local_count = local.default_collection()?.count()?;
    if remote_count != n as u64 || local_count != n as u64 {
        return Err(format!("expected {n} documents on both sides, got {local_count} and {remote_count}").into());
    }
    let bytes = (n * BODY_BYTES) as f64;
    Ok(Transfer {
        docs_per_s: per_second(n, elapsed),
        mb_per_s: bytes / elapsed.as_secs_f64() / 1e6,
        replicator_rss_mib: mib(replicator_rss),
        listener_rss_mib: mib(field("peak_rss_kib").unwrap_or(0)),
    })
}

fn latency() -> Outcome<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let (a, b) = (open(&dir.path().join("a.db"))?, open(&dir.path().join("b.db"))?);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = Listener::start(b.clone(), listener_config()?).await?;
        let config = ReplicatorConfig {
            continuous: true,
            ..Default::default()
        };
        let fingerprint = listener.fingerprint().unwrap_or_default();
        let replicator = Replicator::remote(a.clone(), remote(&listener.urls()[0], &fingerprint), config)?;
        replicator.start()?;
        let mut status = replicator.subscribe_status();
        tokio::time::timeout(
            Duration::from_secs(30),
            status.wait_for(|s| s.activity == ActivityLevel::Idle),
        )
        .await??;
        let (ca, cb) = (a.default_collection()?, b.default_collection()?);
        let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
        for i in 0..LATENCY_SAMPLES {
            let id = format!("latency-{i}");
            let mut seen = b.subscribe();
            let start = Instant::now();
            ca.save(&id, None, r#"{"probe":true}"#)?;
            tokio::time::timeout(Duration::from_secs(10), async {
                while cb.get(&id).ok().flatten().is_none() {
                    if seen.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await?;
            samples.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        replicator.stop();
        listener.stop().await;
        samples.sort_by(|x, y| x.total_cmp(y));
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Ok((at(0.5), at(0.99)))
    })
}
