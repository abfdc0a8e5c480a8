//! `outpost sync` killed with SIGKILL midway through a large blob: the next
//! sync completes, the bytes are identical, and it receives only what the
//! first one had not (the partial file the kill left is resumed).

#![cfg(unix)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::process::{run, serve, Proc};
use common::{path, succeeded};
use outpost_core::BlobDigest;

const USER: &str = "worker:correct horse";
const LONG: Duration = Duration::from_secs(90);
/// The issue's case: a sync killed midway through a 50 MB photo.
const SIZE: usize = 50 * 1000 * 1000;

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn ok(args: &[&str]) -> String {
    succeeded(run(args, LONG))
}

/// Bytes that differ from one position to the next, quick to make.
fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i >> 9) as u8) ^ (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// The partial file of a blob being received into `db`, if any.
fn partial_file(db: &Path) -> Option<PathBuf> {
    let dir = PathBuf::from(format!("{}.blobs", s(db)));
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with(".partial-"))
        .map(|e| e.path())
}

fn partial_len(db: &Path) -> u64 {
    partial_file(db)
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len())
}

#[test]
fn a_sync_killed_midway_through_a_blob_resumes_from_the_bytes_received() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (path(dir.path(), "hub.db"), path(dir.path(), "phone.db"));
    let video = path(dir.path(), "statement.bin");
    std::fs::write(&video, bytes(5, SIZE)).unwrap();
    ok(&["put", "--db", s(&hub), "child-1", r#"{"name":"Amina"}"#]);
    ok(&["attach", "--db", s(&hub), "child-1", "statement", s(&video)]);
    let listed = ok(&["attachments", "--db", s(&hub), "child-1"]);
    let listed: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    let digest: BlobDigest = listed["digest"].as_str().unwrap().parse().unwrap();
    let served = serve(&hub, &["--user", USER]);
    let pin = served.fingerprint.clone().expect("TLS");
    let sync = [
        "sync",
        "--db",
        s(&phone),
        "--url",
        &served.url,
        "--user",
        USER,
        "--pin",
        &pin,
        "--pull",
    ];

    // Killed once a few MiB of the blob have arrived (watching the file the
    // transfer writes, up to LONG).
    let mut first = Proc::spawn("sync", &sync);
    let deadline = Instant::now() + LONG;
    while partial_len(&phone) < 4 * 1024 * 1024 {
        assert!(Instant::now() < deadline, "no blob bytes arrived: {:?}", first.seen);
        // Poll interval of the condition above, not a synchronisation.
        std::thread::sleep(Duration::from_millis(1));
    }
    first.signal("KILL");
    first.wait_exit(LONG);
    let kept = partial_len(&phone);
    assert!(
        kept > 0 && kept < SIZE as u64,
        "killed midway: {kept} of {SIZE} bytes kept"
    );
    // Held open, so its inode cannot be reused by a new file meanwhile.
    let held = std::fs::File::open(partial_file(&phone).unwrap()).unwrap();
    let left = held.metadata().unwrap().ino();
    assert!(
        !ok(&["export", "--db", s(&phone)]).contains("child-1"),
        "the record is not stored without its blob"
    );

    // The next sync receives only the rest, and the bytes are identical.
    ok(&sync);
    assert_eq!(partial_len(&phone), 0);
    let file = PathBuf::from(format!("{}.blobs", s(&phone))).join(digest.to_hex());
    // The file the kill left was continued, not written again from zero
    // (which removes it and creates a new one): the second sync received
    // only SIZE - kept bytes.
    assert_eq!(
        std::fs::metadata(&file).unwrap().ino(),
        left,
        "resumed from {kept} bytes"
    );
    assert!(
        std::fs::read(&file).unwrap() == bytes(5, SIZE),
        "the blob arrived intact"
    );
    assert!(ok(&["export", "--db", s(&phone)]).contains("child-1"));
    drop((held, served));
}
