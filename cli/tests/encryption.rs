//! Encrypted databases from the command line (issue 15): `--key-env` and
//! `--key-file` on every command, one-line refusals with exit 1 for a
//! missing or wrong passphrase, `encrypt`/`decrypt`/`rekey` in place (also
//! when killed with SIGKILL at any point), and `serve` of an encrypted hub.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{run, serve};
use common::{one_line_failure, outpost_with_stdin, path, succeeded};

const MARKER: &str = "MARKER-Amina-7f3c";
const LONG: Duration = Duration::from_secs(90);

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn ok(args: &[&str]) -> String {
    succeeded(run(args, LONG))
}

/// Runs `outpost` expecting a failure with exit code 1; returns its one line.
fn fails_with_1(args: &[&str]) -> String {
    let result = run(args, LONG);
    assert_eq!(result.output.status.code(), Some(1), "{result:?}");
    one_line_failure(&result)
}

/// Writes a passphrase file and returns its path.
fn key_file(dir: &Path, name: &str, passphrase: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, format!("{passphrase}\n")).unwrap();
    file.to_str().unwrap().to_owned()
}

/// Imports `n` documents holding the marker into `db` with `key_args`.
fn fill(db: &Path, n: usize, key_args: &[&str]) {
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "{{\"_id\":\"child-{i:05}\",\"name\":\"{MARKER}\",\"note\":\"{}\"}}\n",
                "x".repeat(200)
            )
        })
        .collect();
    let mut args = vec!["import", "--db", s(db), "-"];
    args.extend_from_slice(key_args);
    let run = outpost_with_stdin(&args, lines.as_bytes());
    assert!(run.output.status.success(), "import: {run:?}");
}

fn export(db: &Path, key_args: &[&str]) -> String {
    let mut args = vec!["export", "--db", s(db)];
    args.extend_from_slice(key_args);
    ok(&args)
}

/// Whether any file in `dir` holds the marker.
fn marker_on_disk(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        path.is_file()
            && std::fs::read(&path)
                .unwrap()
                .windows(MARKER.len())
                .any(|w| w == MARKER.as_bytes())
    })
}

#[test]
fn key_options_open_an_encrypted_database_and_refuse_a_wrong_or_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = path(dir.path(), "camp.db");
    let right = key_file(dir.path(), "right.key", "camp passphrase");
    let wrong = key_file(dir.path(), "wrong.key", "not it");
    fill(&db, 20, &["--key-file", &right]);
    assert!(!marker_on_disk(dir.path()));
    assert_eq!(export(&db, &["--key-file", &right]).lines().count(), 20);

    let get = |extra: &[&str]| {
        let mut args = vec!["get", "--db", s(&db), "child-00001"];
        args.extend_from_slice(extra);
        fails_with_1(&args)
    };
    assert!(get(&[]).contains("give its passphrase with --key-env"), "no key");
    assert!(get(&["--key-file", &wrong]).contains("does not open with this passphrase"));
    assert!(get(&["--key-file", s(&dir.path().join("absent.key"))]).contains("absent.key"));
    assert!(get(&["--key-env", "OUTPOST_TEST_UNSET_VARIABLE"]).contains("OUTPOST_TEST_UNSET_VARIABLE"));

    // --key-env: the passphrase in an environment variable (a key file's
    // trailing line break is not part of the passphrase).
    let output = Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["get", "--db", s(&db), "child-00001", "--key-env", "CAMP_KEY"])
        .env("CAMP_KEY", "camp passphrase")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains(MARKER));

    // A passphrase for a plain database says so.
    let plain = path(dir.path(), "plain.db");
    fill(&plain, 1, &[]);
    let line = fails_with_1(&["export", "--db", s(&plain), "--key-file", &right]);
    assert!(line.contains("not encrypted"), "{line}");
}

#[test]
fn encrypt_rekey_and_decrypt_change_the_database_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let db = path(dir.path(), "camp.db");
    let first = key_file(dir.path(), "first.key", "first passphrase");
    let second = key_file(dir.path(), "second.key", "second passphrase");
    fill(&db, 50, &[]);
    let plain_export = export(&db, &[]);
    assert!(marker_on_disk(dir.path()));

    ok(&["encrypt", "--db", s(&db), "--key-file", &first]);
    assert!(!marker_on_disk(dir.path()));
    assert_eq!(export(&db, &["--key-file", &first]), plain_export);
    assert!(fails_with_1(&["encrypt", "--db", s(&db), "--key-file", &first]).contains("encrypted"));

    ok(&["rekey", "--db", s(&db), "--key-file", &first, "--new-key-file", &second]);
    fails_with_1(&["export", "--db", s(&db), "--key-file", &first]);
    assert_eq!(export(&db, &["--key-file", &second]), plain_export);

    ok(&["decrypt", "--db", s(&db), "--key-file", &second]);
    assert_eq!(export(&db, &[]), plain_export);
    let usage = run(&["encrypt", "--db", s(&db)], LONG);
    assert_eq!(
        usage.output.status.code(),
        Some(2),
        "no passphrase is a usage error: {usage:?}"
    );
}

#[test]
fn rekey_killed_with_sigkill_at_any_point_leaves_one_key_that_opens_every_document() {
    let dir = tempfile::tempdir().unwrap();
    let db = path(dir.path(), "camp.db");
    let keys = [
        key_file(dir.path(), "a.key", "passphrase a"),
        key_file(dir.path(), "b.key", "passphrase b"),
    ];
    fill(&db, 5_000, &["--key-file", &keys[0]]);
    let expected = export(&db, &["--key-file", &keys[0]]);
    let rekey = |from: usize| {
        Command::new(env!("CARGO_BIN_EXE_outpost"))
            .args([
                "rekey",
                "--db",
                s(&db),
                "--key-file",
                &keys[from],
                "--new-key-file",
                &keys[1 - from],
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // One whole re-key, to spread the kill points over its length.
    let started = Instant::now();
    assert!(rekey(0).wait().unwrap().success());
    let whole = started.elapsed();
    let mut current = 1;
    let (mut old_key_opened, mut new_key_opened, mut mid_export) = (0, 0, 0);
    for step in 0..12u32 {
        let mut child = rekey(current);
        // A kill point, not a synchronisation: anywhere from the start to past the end.
        std::thread::sleep(whole * (step * 7 % 12 + 4) / 14);
        child.kill().ok();
        child.wait().unwrap();
        mid_export += usize::from(dir.path().join("camp.db.rekey").exists());
        let opens = |k: usize| {
            run(&["export", "--db", s(&db), "--key-file", &keys[k]], LONG)
                .output
                .status
                .success()
        };
        let (old, new) = (opens(current), opens(1 - current));
        assert!(old != new, "step {step}: exactly one key opens (old {old}, new {new})");
        if new {
            current = 1 - current;
            new_key_opened += 1;
        } else {
            old_key_opened += 1;
        }
        assert_eq!(export(&db, &["--key-file", &keys[current]]), expected, "step {step}");
    }
    eprintln!(
        "after SIGKILL: old key opened {old_key_opened} times, new key {new_key_opened} times; \
         {mid_export} kills left a half-written export"
    );
}

/// The repeated content of the test photos.
const PATTERN: &str = "PATTERN-photo-9d2e";

/// Photo `i`: its number, then the pattern repeated, `len` bytes in all.
fn photo(i: usize, len: usize) -> String {
    let mut bytes = format!("photo-{i}-");
    while bytes.len() < len {
        bytes.push_str(PATTERN);
    }
    bytes.truncate(len);
    bytes
}

/// Whether any file under `dir` (recursively) holds `needle`.
fn on_disk_under(dir: &Path, needle: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        if path.is_dir() {
            return on_disk_under(&path, needle);
        }
        std::fs::read(&path)
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
    })
}

#[test]
fn key_changes_of_a_database_with_photos_killed_with_sigkill_leave_one_key_that_opens_every_document_and_photo() {
    // Many photos, so that converting them (a sync for each) is a good part
    // of a key change and kills land in it.
    const PHOTOS: usize = 40;
    const PHOTO_BYTES: usize = 400_000;
    let dir = tempfile::tempdir().unwrap();
    let db = path(dir.path(), "camp.db");
    let keys = [
        key_file(dir.path(), "a.key", "passphrase a"),
        key_file(dir.path(), "b.key", "passphrase b"),
    ];
    fill(&db, 2_000, &[]);
    for i in 0..PHOTOS {
        let file = dir.path().join(format!("photo-{i}.jpg"));
        std::fs::write(&file, photo(i, PHOTO_BYTES)).unwrap();
        ok(&["attach", "--db", s(&db), &format!("child-{i:05}"), "photo", s(&file)]);
        std::fs::remove_file(&file).unwrap();
    }
    let expected = export(&db, &[]);
    // The states a kill may leave, in the order the commands move through
    // them: plain, then encrypted with a, with b, plain again...
    let key_args = |state: usize| -> Vec<&str> {
        match state % 3 {
            0 => vec![],
            1 => vec!["--key-file", &keys[0]],
            _ => vec!["--key-file", &keys[1]],
        }
    };
    let step_from = |state: usize| -> Vec<&str> {
        let db = s(&db);
        match state % 3 {
            0 => vec!["encrypt", "--db", db, "--key-file", &keys[0]],
            1 => vec!["rekey", "--db", db, "--key-file", &keys[0], "--new-key-file", &keys[1]],
            _ => vec!["decrypt", "--db", db, "--key-file", &keys[1]],
        }
    };
    let spawn = |state: usize| {
        Command::new(env!("CARGO_BIN_EXE_outpost"))
            .args(step_from(state))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Reads `photos` back (each run derives the key again: a few per step)
    // and checks every document, and that photos are sealed exactly when
    // the database is encrypted.
    let check = |state: usize, photos: &[usize], when: &str| {
        assert_eq!(export(&db, &key_args(state)), expected, "{when}");
        for &i in photos {
            let id = format!("child-{i:05}");
            let mut args = vec!["attachment", "--db", s(&db), &id, "photo"];
            args.extend(key_args(state));
            let read = common::outpost(&args);
            assert!(read.output.status.success(), "{when}: photo {i}: {}", read.stderr);
            assert!(
                read.output.stdout == photo(i, PHOTO_BYTES).as_bytes(),
                "{when}: photo {i}"
            );
        }
        assert_eq!(
            on_disk_under(dir.path(), PATTERN),
            state % 3 == 0,
            "{when}: photos sealed exactly when the database is encrypted"
        );
    };
    // One whole cycle, to spread the kill points over a command's length.
    let started = Instant::now();
    for state in 0..3 {
        assert!(spawn(state).wait().unwrap().success());
        check(
            state + 1,
            &[0, PHOTOS - 1],
            &format!("after a whole step from state {state}"),
        );
    }
    let whole = started.elapsed() / 3;
    let mut state = 0;
    let (mut moved, mut mid_switch) = (0, 0);
    for step in 0..15u32 {
        let mut child = spawn(state);
        // A kill point, not a synchronisation: anywhere from the start to the end.
        std::thread::sleep(whole * (step * 7 % 15 + 2) / 14);
        child.kill().ok();
        child.wait().unwrap();
        mid_switch += usize::from(
            ["camp.db.rekey", "camp.db.blobs-rekey", "camp.db.blobs-old"]
                .iter()
                .any(|name| dir.path().join(name).exists()),
        );
        let opens = |state: usize| {
            let mut args = vec!["export", "--db", s(&db)];
            args.extend(key_args(state));
            run(&args, LONG).output.status.success()
        };
        let (old, new) = (opens(state), opens(state + 1));
        assert!(old != new, "step {step}: exactly one key opens (old {old}, new {new})");
        if new {
            state += 1;
            moved += 1;
        }
        let some = [step as usize % PHOTOS, (step as usize + PHOTOS / 2) % PHOTOS];
        check(state, &some, &format!("step {step}, state {}", state % 3));
    }
    let all: Vec<usize> = (0..PHOTOS).collect();
    check(state, &all, "at the end");
    eprintln!(
        "after SIGKILL: {moved} of 15 killed key changes had committed; \
         {mid_switch} kills left an export or a blob directory to undo or finish"
    );
}

#[test]
fn serve_of_an_encrypted_hub_syncs_documents_and_a_sealed_photo_with_a_plain_phone() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (path(dir.path(), "hub.db"), path(dir.path(), "phone.db"));
    let key = key_file(dir.path(), "hub.key", "hub passphrase");
    fill(&hub, 30, &["--key-file", &key]);
    let photo: Vec<u8> = b"PATTERN-photo-9d2e".iter().copied().cycle().take(150_000).collect();
    let photo_file = dir.path().join("photo.jpg");
    std::fs::write(&photo_file, &photo).unwrap();
    ok(&[
        "attach",
        "--db",
        s(&hub),
        "--key-file",
        &key,
        "child-00001",
        "photo",
        s(&photo_file),
    ]);
    std::fs::remove_file(&photo_file).unwrap();
    let hub_blobs = dir.path().join("hub.db.blobs");
    assert!(std::fs::read_dir(&hub_blobs).unwrap().all(|entry| {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        !bytes.windows(18).any(|w| w == b"PATTERN-photo-9d2e")
    }));
    let user = "worker:correct horse";
    let mut served = serve(&hub, &["--user", user, "--key-file", &key]);
    let pin = served.fingerprint.clone().expect("TLS by default");
    let out = ok(&[
        "sync",
        "--db",
        s(&phone),
        "--url",
        &served.url,
        "--user",
        user,
        "--pin",
        &pin,
    ]);
    assert!(out.contains("0 documents pushed, 30 pulled"), "{out}");
    assert_eq!(export(&phone, &[]), export(&hub, &["--key-file", &key]));
    let received = common::outpost(&["attachment", "--db", s(&phone), "child-00001", "photo"]).output;
    assert!(
        received.status.success(),
        "{}",
        String::from_utf8_lossy(&received.stderr)
    );
    assert!(
        received.stdout == photo,
        "the photo crossed whole (plaintext inside TLS): {} bytes",
        received.stdout.len()
    );
    served.proc.signal("TERM");
    assert!(served.proc.wait_exit(LONG).success());
}
