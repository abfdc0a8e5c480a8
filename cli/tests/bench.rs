//! `outpost bench` runs every scenario, local and network (and `blobs` and `delta` when named), and ends with the key=value line.

mod common;

use common::ok;

#[test]
fn bench_prints_every_key_with_a_positive_number() {
    let out = ok(&["bench", "--docs", "2000"]);
    let last = out.lines().last().expect("output");
    let pairs: Vec<(&str, &str)> = last
        .split_whitespace()
        .map(|kv| kv.split_once('=').unwrap_or_else(|| panic!("not key=value: {kv:?}")))
        .collect();
    for key in [
        "sqlite_ceiling_rows_per_s",
        "single_saves_per_s",
        "batched_saves_per_s",
        "local_replication_docs_per_s",
        "push_docs_per_s",
        "push_mb_per_s",
        "pull_docs_per_s",
        "pull_mb_per_s",
        "latency_p50_ms",
        "latency_p99_ms",
        "peak_rss_mb",
    ] {
        let value = pairs
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("{key} missing from {last:?}"))
            .1;
        let number: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("{key}={value} is not a number"));
        assert!(number > 0.0, "{key}={value}");
    }
    assert!(pairs.contains(&("docs", "2000")), "{last}");
    // One table row per scenario.
    assert!(out.contains("local replication"), "{out}");
    assert!(out.contains("network pull"), "{out}");
    assert!(!out.contains("blob pull"), "blobs runs only when named: {out}");
    assert!(!out.contains("edit one field"), "delta runs only when named: {out}");
}

#[test]
fn blobs_runs_only_when_named_and_prints_its_keys() {
    let out = ok(&["bench", "--scenario", "blobs", "--docs", "3"]);
    let last = out.lines().last().expect("output");
    for key in [
        "docs=3",
        "blob_size=200000",
        "blob_pull_docs_per_s=",
        "blob_pull_mb_per_s=",
        "blob_pull_cpu_s=",
        "peak_rss_mb=",
    ] {
        assert!(last.contains(key), "{key} missing from {last:?}");
    }
    let rate: f64 = last
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("blob_pull_mb_per_s="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number for blob_pull_mb_per_s in {last:?}"));
    assert!(rate > 0.0, "{last}");
    let cpu: f64 = last
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("blob_pull_cpu_s="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number for blob_pull_cpu_s in {last:?}"));
    assert!(cpu >= 0.0, "{last}");
    assert!(out.contains("blob pull"), "{out}");
}

#[test]
fn delta_runs_only_when_named_and_the_edit_moves_fewer_bytes_with_saving_on() {
    let out = ok(&["bench", "--scenario", "delta", "--docs", "20"]);
    let last = out.lines().last().expect("output");
    let figure = |key: &str| -> f64 {
        last.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no number for {key} in {last:?}"))
    };
    assert!(last.contains("docs=20 doc_size=10000"), "{last}");
    // 20 bodies of 10 KB at least cross with saving off.
    assert!(figure("delta_full_bytes") > 200_000.0, "{last}");
    assert!(figure("delta_bytes") < figure("delta_full_bytes"), "{last}");
    let ratio = figure("delta_bytes_ratio");
    // Delta sync sends each edit as its changes: a few hundred bytes a
    // document and the TLS handshake, not 10 KB bodies.
    assert!(ratio > 0.0 && ratio < 0.1, "{last}");
    // The hub keeps the 20 parents' bodies as delta bases.
    assert!(figure("delta_base_bytes") >= 200_000.0, "{last}");
    assert!(figure("delta_db_bytes") > figure("delta_base_bytes"), "{last}");
    assert!(
        figure("delta_docs_per_s") > 0.0 && figure("delta_full_docs_per_s") > 0.0,
        "{last}"
    );
    assert!(out.contains("edit one field, push again"), "{out}");
}
