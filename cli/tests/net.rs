//! `outpost serve` and `outpost sync` as real processes on loopback: a
//! pinned TLS sync with a password, refusals as one line, and recovery
//! after either process is killed midway.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::process::{free_port, run, serve, Proc, Stream};
use common::{one_line_failure, outpost_with_stdin, path, succeeded};

const USER: &str = "worker:correct horse";
const LONG: Duration = Duration::from_secs(90);

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Imports `n` documents `PREFIX-00000`... into `db`.
fn fill(db: &Path, prefix: &str, n: usize) {
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "{{\"_id\":\"{prefix}-{i:05}\",\"name\":\"child {i}\",\"note\":\"{}\"}}\n",
                "x".repeat(200)
            )
        })
        .collect();
    let run = outpost_with_stdin(&["import", "--db", s(db), "-"], lines.as_bytes());
    assert!(run.output.status.success(), "import: {run:?}");
}

/// Runs `outpost` (for at most [`LONG`]) and returns its stdout, asserting
/// that it succeeded with nothing on stderr.
fn ok(args: &[&str]) -> String {
    succeeded(run(args, LONG))
}

/// Runs `outpost` (for at most [`LONG`]) and returns its one line on
/// stderr, asserting that it failed without a panic.
fn fails(args: &[&str]) -> String {
    one_line_failure(&run(args, LONG))
}

fn export(db: &Path) -> String {
    ok(&["export", "--db", s(db)])
}

/// `sync --db DB --url URL --user USER --pin FINGERPRINT ARGS...`.
fn sync_args<'a>(db: &'a Path, url: &'a str, pin: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["sync", "--db", s(db), "--url", url, "--user", USER, "--pin", pin];
    all.extend_from_slice(args);
    all
}

/// The completed count of a progress line `sync: ACTIVITY DONE/TOTAL changes...`.
fn completed(line: &str) -> Option<(&str, u64)> {
    let mut words = line.strip_prefix("sync: ")?.split_whitespace();
    let activity = words.next()?;
    let done = words.next()?.split('/').next()?.parse().ok()?;
    Some((activity, done))
}

/// The bytes sent and received from a summary line
/// (`..., N bytes sent, M received`).
fn wire_bytes(summary: &str) -> Option<(u64, u64)> {
    let (_, tail) = summary.rsplit_once(" s, ")?;
    let mut words = tail.split_whitespace();
    let sent = words.next()?.parse().ok()?;
    let received = words.nth(2)?.parse().ok()?;
    Some((sent, received))
}

#[test]
fn serve_and_sync_with_a_pinned_fingerprint_give_identical_exports() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (path(dir.path(), "hub.db"), path(dir.path(), "phone.db"));
    fill(&hub, "hub", 30);
    fill(&phone, "phone", 40);
    let mut served = serve(&hub, &["--user", USER, "--user", "other:pw"]);
    let pin = served.fingerprint.clone().expect("TLS by default");
    assert!(pin.starts_with("sha256:") && pin.len() == 7 + 64, "{pin}");
    assert!(pin[7..]
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));

    let out = ok(&sync_args(&phone, &served.url, &pin, &[]));
    let summary = out.lines().last().expect("a summary line");
    assert!(summary.contains("40 documents pushed, 30 pulled"), "{out}");
    let (sent, received) = wire_bytes(summary).expect("bytes in the summary");
    // 40 documents went up and 30 came down, TLS and framing included.
    assert!(sent > 40 * 20 && received > 30 * 20, "{summary}");
    assert!(out.contains("sync: connecting"), "status lines: {out}");
    assert_eq!(export(&phone), export(&hub));
    assert_eq!(export(&phone).lines().count(), 70);

    // A change on the phone, pushed only.
    ok(&["put", "--db", s(&phone), "phone-00001", r#"{"name":"changed"}"#]);
    let out = ok(&sync_args(&phone, &served.url, &pin, &["--push"]));
    assert!(out.contains("1 document pushed, 0 pulled"), "{out}");
    assert_eq!(export(&phone), export(&hub));

    // SIGTERM stops serve cleanly.
    served.proc.signal("TERM");
    let status = served.proc.wait_exit(LONG);
    assert!(status.success(), "{:?}", served.proc.seen);
}

#[test]
fn wrong_password_wrong_pin_and_a_read_only_peer_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (path(dir.path(), "hub.db"), path(dir.path(), "phone.db"));
    fill(&phone, "phone", 5);
    let served = serve(&hub, &["--user", USER, "--read-only"]);
    let pin = served.fingerprint.clone().expect("TLS");

    let mut args = sync_args(&phone, &served.url, &pin, &[]);
    args[6] = "worker:wrong";
    let line = fails(&args);
    assert!(line.contains("login refused"), "{line}");
    assert!(!line.contains("wrong"), "the password is not repeated: {line}");

    let other = format!("sha256:{}", "0".repeat(64));
    let line = fails(&sync_args(&phone, &served.url, &other, &[]));
    assert!(line.contains("certificate was rejected"), "{line}");

    // No trust option: a self-signed listener is not a public CA's.
    let line = fails(&["sync", "--db", s(&phone), "--url", &served.url, "--user", USER]);
    assert!(line.contains("certificate was rejected"), "{line}");

    let line = fails(&sync_args(&phone, &served.url, &pin, &[]));
    assert!(line.contains("read-only"), "{line}");
    // (Without --user: a password over ws:// is warned about on stderr.)
    let plain = served.url.replace("wss://", "ws://");
    let line = fails(&["sync", "--db", s(&phone), "--url", &plain, "--pull"]);
    assert!(line.contains("wss://"), "{line}");
    let wrong_path = format!("{}x", served.url);
    let line = fails(&sync_args(&phone, &wrong_path, &pin, &["--pull"]));
    assert!(line.contains("does not serve"), "{line}");

    // Pulling from a read-only peer works.
    ok(&sync_args(&phone, &served.url, &pin, &["--pull"]));
    assert_eq!(export(&hub), "", "nothing was pushed");
}

#[test]
fn an_unreachable_url_fails_quickly_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let phone = path(dir.path(), "phone.db");
    let url = format!("wss://127.0.0.1:{}/hub", free_port());
    let start = Instant::now();
    let line = fails(&["sync", "--db", s(&phone), "--url", &url, "--self-signed-only"]);
    assert!(line.contains("unreachable"), "{line}");
    assert!(start.elapsed() < Duration::from_secs(20), "{:?}", start.elapsed());
}

#[test]
fn serve_refuses_to_start_without_users_unless_anonymous() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (path(dir.path(), "hub.db"), path(dir.path(), "phone.db"));
    let line = fails(&["serve", "--db", s(&hub), "--bind", "127.0.0.1", "--port", "0"]);
    assert!(line.contains("--user") && line.contains("--anonymous"), "{line}");
    let line = fails(&["serve", "--db", s(&hub), "--user", "nopassword", "--port", "0"]);
    assert!(line.contains("NAME:PASSWORD"), "{line}");

    let served = serve(&hub, &["--anonymous", "--no-tls", "--collection", "children"]);
    assert!(served.url.starts_with("ws://"), "{}", served.url);
    assert_eq!(served.fingerprint, None);
    ok(&["put", "--db", s(&phone), "--collection", "children", "c1", "{}"]);
    ok(&[
        "sync",
        "--db",
        s(&phone),
        "--url",
        &served.url,
        "--collection",
        "children",
    ]);
    assert_eq!(
        ok(&["export", "--db", s(&hub), "--collection", "children"]),
        ok(&["export", "--db", s(&phone), "--collection", "children"])
    );
}

#[test]
fn a_sync_killed_midway_is_completed_by_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (path(dir.path(), "hub.db"), path(dir.path(), "phone.db"));
    fill(&phone, "phone", 20_000);
    let served = serve(&hub, &["--user", USER]);
    let pin = served.fingerprint.clone().expect("TLS");

    let mut first = Proc::spawn("sync", &sync_args(&phone, &served.url, &pin, &["--push"]));
    first.wait_line(
        Stream::Out,
        LONG,
        |l| matches!(completed(l), Some(("busy", done)) if done > 0),
    );
    first.signal("KILL");
    first.wait_exit(LONG);
    assert!(
        !first.lines(Stream::Out).iter().any(|l| l.contains("documents pushed")),
        "killed before it finished: {:?}",
        first.seen
    );
    let partial = export(&hub).lines().count();
    assert!(partial < 20_000, "only part arrived before the kill: {partial}");

    let out = ok(&sync_args(&phone, &served.url, &pin, &["--push"]));
    assert!(out.contains("pushed"), "{out}");
    assert_eq!(export(&hub), export(&phone));
    assert_eq!(export(&hub).lines().count(), 20_000);
}

#[test]
fn a_continuous_sync_recovers_when_serve_is_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (path(dir.path(), "hub.db"), path(dir.path(), "phone.db"));
    let keys = path(dir.path(), "keys");
    fill(&phone, "phone", 5_000);
    let port = free_port().to_string();
    let args = [
        "--user",
        USER,
        "--port",
        &port,
        "--identity",
        "camp-hub",
        "--key-dir",
        s(&keys),
    ];
    let served = serve(&hub, &args);
    let pin = served.fingerprint.clone().expect("TLS");

    let mut sync = Proc::spawn("sync", &sync_args(&phone, &served.url, &pin, &["--continuous"]));
    sync.wait_line(Stream::Out, LONG, |l| matches!(completed(l), Some(("busy", _))));
    drop(served); // SIGKILL
    sync.wait_line(Stream::Out, LONG, |l| l.starts_with("sync: offline"));
    // Written while the hub is down.
    ok(&["put", "--db", s(&phone), "during-outage", r#"{"name":"late"}"#]);

    let served = serve(&hub, &args);
    assert_eq!(
        served.fingerprint.as_deref(),
        Some(pin.as_str()),
        "same identity, same fingerprint"
    );
    sync.wait_line(Stream::Out, LONG, |l| l.starts_with("sync: idle"));
    assert_eq!(export(&hub), export(&phone));
    assert_eq!(export(&hub).lines().count(), 5_001);

    // Ctrl-C stops the continuous sync cleanly, with its summary.
    sync.signal("INT");
    assert!(sync.wait_exit(LONG).success(), "{:?}", sync.seen);
    assert!(
        sync.lines(Stream::Out).iter().any(|l| l.contains("pushed")),
        "{:?}",
        sync.seen
    );
    assert!(sync.lines(Stream::Err).is_empty(), "{:?}", sync.seen);
}

#[test]
fn a_ca_issued_identity_is_loaded_from_pem_files_and_trusted_with_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (path(dir.path(), "hub.db"), path(dir.path(), "phone.db"));
    // A camp CA, and a certificate for 127.0.0.1 issued by it, as PEM files.
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    std::fs::write(path(dir.path(), "hub.cert.pem"), leaf.pem() + &ca.pem()).unwrap();
    std::fs::write(path(dir.path(), "hub.key.pem"), key.serialize_pem()).unwrap();
    let ca_file = path(dir.path(), "ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    let (cert, key) = (path(dir.path(), "hub.cert.pem"), path(dir.path(), "hub.key.pem"));
    let served = serve(&hub, &["--user", USER, "--cert", s(&cert), "--key", s(&key)]);
    let expected = outpost_core::net::fingerprint(leaf.der());
    assert_eq!(served.fingerprint.as_deref(), Some(expected.as_str()));
    ok(&["put", "--db", s(&phone), "c1", "{}"]);
    let base = ["sync", "--db", s(&phone), "--url", &served.url, "--user", USER];
    ok(&[&base[..], &["--ca", s(&ca_file)]].concat());
    assert_eq!(export(&hub), export(&phone));
    // A CA-issued certificate is not self-signed.
    let line = fails(&[&base[..], &["--self-signed-only"]].concat());
    assert!(line.contains("certificate was rejected"), "{line}");
    let line = fails(&[&base[..], &["--ca", s(&path(dir.path(), "hub.key.pem"))]].concat());
    assert!(line.contains("no certificate"), "{line}");
}

#[cfg(target_os = "linux")]
#[test]
fn serve_binds_an_interface_given_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let hub = path(dir.path(), "hub.db");
    let mut served = Proc::spawn(
        "serve",
        &["serve", "--db", s(&hub), "--bind", "lo", "--port", "0", "--anonymous"],
    );
    let line = served.wait_line(Stream::Out, LONG, |l| l.starts_with('{'));
    let url = common::json(&line)["url"].as_str().map(str::to_owned);
    assert!(
        url.as_deref().is_some_and(|u| u.starts_with("wss://127.0.0.1:")),
        "{line}"
    );
}

/// `serve` of `hub` on a free loopback port with the identity `camp-hub`
/// kept in the key store `keys`.
fn serve_stored_identity<'a>(hub: &'a Path, keys: &'a Path) -> [&'a str; 13] {
    [
        "serve",
        "--db",
        s(hub),
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--user",
        USER,
        "--identity",
        "camp-hub",
        "--key-dir",
        s(keys),
    ]
}

#[test]
fn serve_refuses_a_damaged_stored_identity_instead_of_replacing_it() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, keys) = (path(dir.path(), "hub.db"), path(dir.path(), "keys"));
    std::fs::create_dir(&keys).unwrap();
    let stored = keys.join("camp-hub.identity");
    std::fs::write(&stored, "damaged").unwrap();
    // Owner-only, as the store writes it (a looser file gets a warning).
    #[cfg(unix)]
    std::fs::set_permissions(&stored, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let line = fails(&serve_stored_identity(&hub, &keys));
    assert!(line.contains("unreadable") && line.contains("camp-hub"), "{line}");
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), "damaged", "left in place");
}

#[test]
fn a_password_over_ws_is_refused_unless_allowed_and_then_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (path(dir.path(), "hub.db"), path(dir.path(), "phone.db"));
    fill(&phone, "phone", 3);
    let served = serve(&hub, &["--user", USER, "--no-tls"]);
    assert!(served.url.starts_with("ws://"), "{}", served.url);
    let base = ["sync", "--db", s(&phone), "--url", &served.url, "--user", USER];

    let refused = run(&base, LONG);
    let line = one_line_failure(&refused);
    assert_eq!(refused.output.status.code(), Some(2), "{refused:?}");
    assert!(line.contains("ws://") && line.contains("--allow-plaintext"), "{line}");
    assert!(!line.contains("correct horse"), "the password is not repeated: {line}");
    assert_eq!(export(&hub), "", "nothing was sent");

    let allowed = run(&[&base[..], &["--allow-plaintext"]].concat(), LONG);
    assert!(allowed.output.status.success(), "{allowed:?}");
    let warning = allowed.stderr.lines().next().unwrap_or_default();
    assert!(
        warning.starts_with("outpost: WARNING") && warning.contains("unencrypted"),
        "{allowed:?}"
    );
    assert!(!allowed.stderr.contains("correct horse"), "{allowed:?}");
    assert_eq!(export(&hub), export(&phone));
}

#[test]
fn a_sync_that_succeeds_after_retrying_ends_with_a_truthful_status_line() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (path(dir.path(), "hub.db"), path(dir.path(), "phone.db"));
    let port = free_port().to_string();
    // Nothing to transfer, so no busy phase hides the first attempt's error.
    let url = format!("wss://127.0.0.1:{port}/hub");
    let args = [
        "sync",
        "--db",
        s(&phone),
        "--url",
        &url,
        "--user",
        USER,
        "--self-signed-only",
        "--retry",
    ];
    let mut sync = Proc::spawn("sync", &args);
    sync.wait_line(Stream::Out, LONG, |l| l.starts_with("sync: offline"));
    let served = serve(&hub, &["--user", USER, "--port", &port]);
    assert_eq!(served.url, url);

    let status = sync.wait_exit(LONG);
    assert!(status.success(), "{:?}", sync.seen);
    let out = sync.lines(Stream::Out);
    let statuses: Vec<&str> = out.iter().copied().filter(|l| completed(l).is_some()).collect();
    let last = statuses.last().copied().unwrap_or_default();
    assert!(last.starts_with("sync: stopped"), "{out:#?}");
    assert!(!last.contains("failed"), "it succeeded: {out:#?}");
    assert!(
        out.last().is_some_and(|l| l.contains("0 documents pushed, 0 pulled")),
        "{out:#?}"
    );
    assert!(sync.lines(Stream::Err).is_empty(), "{:?}", sync.seen);
}

#[cfg(unix)]
#[test]
fn serve_refuses_an_empty_passphrase_and_a_key_directory_others_may_write() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let (hub, keys) = (path(dir.path(), "hub.db"), path(dir.path(), "keys"));
    let serve_args = |passphrase: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_outpost"))
            .args(serve_stored_identity(&hub, &keys))
            .env_remove("RUST_LOG")
            .env("OUTPOST_KEY_PASSPHRASE", passphrase)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run outpost");
        common::Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            output,
        }
    };

    let line = one_line_failure(&serve_args(""));
    assert!(
        line.contains("OUTPOST_KEY_PASSPHRASE") && line.contains("empty"),
        "{line}"
    );
    assert!(!keys.exists(), "no identity was stored unsealed");

    std::fs::create_dir(&keys).unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o777)).unwrap();
    let line = one_line_failure(&serve_args("a real passphrase"));
    assert!(line.contains(&format!("chmod 700 {}", s(&keys))), "{line}");
    assert_eq!(std::fs::read_dir(&keys).unwrap().count(), 0, "nothing was written");
}
