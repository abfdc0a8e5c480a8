//! `attach`, `attachment`, `attachments`, `export` and `compact` through
//! the real binary, with a real photo-sized file.

mod common;

use std::process::{Command, Stdio};

use common::{fails, json, ok, path};

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect()
}

/// `outpost attachment` with its raw stdout (binary, not UTF-8).
fn attachment(db: &str, id: &str, name: &str) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["attachment", "--db", db, id, name])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run outpost");
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn attach_list_read_export_and_compact() {
    let dir = tempfile::tempdir().unwrap();
    let db = path(dir.path(), "camp.db");
    let db = db.to_str().unwrap();
    let photo = bytes(1, 300_000);
    let photo_file = path(dir.path(), "amina.jpg");
    std::fs::write(&photo_file, &photo).unwrap();
    let photo_file = photo_file.to_str().unwrap();

    let r1 = ok(&["put", "--db", db, "child-1", r#"{"name":"Amina"}"#]);
    let r2 = ok(&[
        "attach",
        "--db",
        db,
        "--content-type",
        "image/jpeg",
        "child-1",
        "photo",
        photo_file,
    ]);
    assert!(r2.trim().starts_with("2-"), "{r2}");
    // A stale --rev is refused.
    let stale = fails(&["attach", "--db", db, "--rev", r1.trim(), "child-1", "photo", photo_file]);
    assert!(stale.contains("changed"), "{stale}");

    let listed = ok(&["attachments", "--db", db, "child-1"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 1, "{listed}");
    let entry = json(lines[0]);
    assert_eq!(entry["name"], "photo");
    assert_eq!(entry["content_type"], "image/jpeg");
    assert_eq!(entry["length"], photo.len() as u64);
    let digest = entry["digest"].as_str().unwrap().to_owned();
    assert!(digest.starts_with("sha256-"), "{digest}");

    assert_eq!(attachment(db, "child-1", "photo"), photo);
    let missing = fails(&["attachment", "--db", db, "child-1", "voice"]);
    assert!(missing.contains("no blob"), "{missing}");

    // Export shows the reference, never the bytes, and the body keeps its fields.
    let exported = ok(&["export", "--db", db]);
    let doc = json(exported.lines().next().unwrap());
    assert_eq!(doc["name"], "Amina");
    assert_eq!(doc["photo"]["@type"], "blob");
    assert_eq!(doc["photo"]["digest"], digest.as_str());
    assert!(exported.len() < 1000, "{} bytes exported", exported.len());

    // Replacing the photo keeps the old one named by the parent's body,
    // kept as a delta base (docs/ARCHITECTURE.md, "Ancestor bodies"):
    // compact leaves it, even with no grace period.
    let second = bytes(2, 1000);
    let second_file = path(dir.path(), "new.jpg");
    std::fs::write(&second_file, &second).unwrap();
    ok(&["attach", "--db", db, "child-1", "photo", second_file.to_str().unwrap()]);
    assert_eq!(attachment(db, "child-1", "photo"), second);
    let kept = ok(&["compact", "--db", db, "--grace-secs", "0"]);
    assert_eq!(
        kept.lines().collect::<Vec<_>>(),
        ["removed 0 blobs (0 bytes), 0 temporary files, 0 partial transfers"]
    );
    // One edit more drops that body, which leaves the old photo unnamed;
    // within the default grace period nothing goes, then compact removes it.
    ok(&["attach", "--db", db, "child-1", "photo", second_file.to_str().unwrap()]);
    let kept = ok(&["compact", "--db", db]);
    assert_eq!(
        kept.lines().collect::<Vec<_>>(),
        ["removed 0 blobs (0 bytes), 0 temporary files, 0 partial transfers"]
    );
    let removed = ok(&["compact", "--db", db, "--grace-secs", "0"]);
    assert_eq!(
        removed.lines().collect::<Vec<_>>(),
        [
            format!("removed blob {digest} ({} bytes)", photo.len()),
            format!(
                "removed 1 blobs ({} bytes), 0 temporary files, 0 partial transfers",
                photo.len()
            ),
        ]
    );
    assert_eq!(attachment(db, "child-1", "photo"), second);
}
