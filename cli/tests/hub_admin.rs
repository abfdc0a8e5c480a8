//! Camp hub administration end to end: system users stored with
//! `outpost users` (passwords only ever on stdin), a real `outpost serve`
//! letting them in by role, and a removed user cut off at once.

mod common;

use std::path::Path;
use std::time::Duration;

use common::process::{serve, Stream};
use common::{json, ok, outpost_with_stdin, path, succeeded};
use outpost_core::net::{ClientAuth, RemoteConfig, ServerTrust};
use outpost_core::replication::{ActivityLevel, Direction, Replicator, ReplicatorConfig, ReplicatorStatus};
use outpost_core::{Database, DatabaseConfig, Error, ReplicationError};

const CAMP_PASSWORD: &str = "camp2-pw-7f3a9c1e";
const VIEWER_PASSWORD: &str = "viewer-pw-52d8b0aa";

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `outpost users add --password-stdin` with the password as one line.
fn add_user(db: &Path, name: &str, role: &str, password: &str) {
    let args = ["users", "add", "--db", s(db), name, "--role", role, "--password-stdin"];
    succeeded(outpost_with_stdin(&args, format!("{password}\n").as_bytes()));
}

/// A replicator from `local` to the hub as `user`, retrying fast; a
/// one-shot one makes a single attempt.
fn replicator(
    hub: &Hub,
    local: &Database,
    user: &str,
    password: &str,
    direction: Direction,
    continuous: bool,
) -> Replicator {
    let remote = RemoteConfig::new(hub.url.as_str())
        .with_auth(ClientAuth::basic(user, password))
        .with_trust(ServerTrust::PinnedFingerprint(hub.pin.clone()));
    let config = ReplicatorConfig {
        direction,
        continuous,
        max_attempts: (!continuous).then_some(1),
        max_attempt_wait: Duration::from_millis(200),
        ..Default::default()
    };
    Replicator::remote(local.clone(), remote, config).expect("replicator")
}

/// Where a served hub is.
struct Hub {
    url: String,
    pin: String,
}

async fn wait_status(r: &Replicator, check: impl FnMut(&ReplicatorStatus) -> bool) -> ReplicatorStatus {
    let mut rx = r.subscribe_status();
    let status = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(check))
        .await
        .expect("status reached in time")
        .expect("status channel open")
        .clone();
    status
}

fn file_contains(dir: &Path, needle: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter(|e| {
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn stored_users_log_in_by_role_and_a_removed_user_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let hub = path(dir.path(), "hub.db");
    add_user(&hub, "camp-2", "sync", CAMP_PASSWORD);
    add_user(&hub, "viewer", "read", VIEWER_PASSWORD);
    let again = outpost_with_stdin(
        &["users", "add", "--db", s(&hub), "viewer", "--password-stdin"],
        b"other\n",
    );
    assert!(common::one_line_failure(&again).contains("exists"), "{again:?}");
    let listed: Vec<_> = ok(&["users", "list", "--db", s(&hub)]).lines().map(json).collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        (listed[0]["name"].as_str(), listed[0]["role"].as_str()),
        (Some("camp-2"), Some("sync"))
    );
    assert_eq!(
        (listed[1]["name"].as_str(), listed[1]["role"].as_str()),
        (Some("viewer"), Some("read"))
    );
    assert!(listed
        .iter()
        .all(|u| u["last_login"].is_null() && u.get("hash").is_none()));
    ok(&["put", "--db", s(&hub), "from-hub", r#"{"n":1}"#]);

    // No --user: the stored users are enough; -vv to check the logs.
    let mut served = serve(&hub, &["-vv"]);
    let to = Hub {
        url: served.url.clone(),
        pin: served.fingerprint.clone().expect("TLS"),
    };
    let phone_dir = tempfile::tempdir().unwrap();
    let phone = Database::open(phone_dir.path().join("phone.db"), DatabaseConfig::default()).unwrap();
    phone
        .default_collection()
        .unwrap()
        .save("from-phone", None, r#"{"n":2}"#)
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // A read user pulls, and its push is refused as read-only.
        let pulled = replicator(&to, &phone, "viewer", VIEWER_PASSWORD, Direction::Pull, false);
        pulled.run().await.unwrap();
        assert!(phone.default_collection().unwrap().get("from-hub").unwrap().is_some());
        let pushed = replicator(&to, &phone, "viewer", VIEWER_PASSWORD, Direction::Push, false);
        let pushed = pushed.run().await;
        assert!(
            matches!(pushed, Err(Error::Replication(ReplicationError::ReadOnly))),
            "{pushed:?}"
        );
        // The same through the CouchDB face on the same port (https://
        // goes to the HTTP endpoint): the read user pulls, its push is refused.
        let face = Hub {
            url: to.url.replacen("wss://", "https://", 1),
            pin: to.pin.clone(),
        };
        let pulled = replicator(&face, &phone, "viewer", VIEWER_PASSWORD, Direction::Pull, false);
        pulled.run().await.unwrap();
        let pushed = replicator(&face, &phone, "viewer", VIEWER_PASSWORD, Direction::Push, false);
        let pushed = pushed.run().await;
        assert!(
            matches!(&pushed, Err(Error::Replication(_))) && format!("{pushed:?}").contains("only read"),
            "{pushed:?}"
        );
        // Another user's password is refused.
        let wrong = replicator(&to, &phone, "camp-2", VIEWER_PASSWORD, Direction::Pull, false);
        let wrong = wrong.run().await;
        assert!(
            matches!(wrong, Err(Error::Replication(ReplicationError::Unauthorized(_)))),
            "{wrong:?}"
        );

        // A sync user pushes, and stays connected...
        let live = replicator(&to, &phone, "camp-2", CAMP_PASSWORD, Direction::PushAndPull, true);
        live.start().unwrap();
        wait_status(&live, |st| st.activity == ActivityLevel::Idle).await;
        let got = ok(&["get", "--db", s(&hub), "from-phone"]);
        assert_eq!(json(&got)["n"], 2);

        // ...until it is removed: its open connection is closed and its
        // reconnect refused, so the replicator stops on `unauthorized`.
        ok(&["users", "remove", "--db", s(&hub), "camp-2"]);
        let stopped = wait_status(&live, |st| st.activity == ActivityLevel::Stopped).await;
        assert!(
            matches!(
                stopped.error,
                Some(Error::Replication(ReplicationError::Unauthorized(_)))
            ),
            "{stopped:?}"
        );
    });
    let listed: Vec<_> = ok(&["users", "list", "--db", s(&hub)]).lines().map(json).collect();
    assert_eq!(listed.len(), 1);
    assert!(listed[0]["last_login"].as_u64().is_some(), "{listed:?}");

    served.proc.signal("TERM");
    served.proc.wait_exit(Duration::from_secs(30));
    for password in [CAMP_PASSWORD, VIEWER_PASSWORD] {
        assert_eq!(
            file_contains(dir.path(), password),
            Vec::<String>::new(),
            "a password in clear"
        );
        let logged: Vec<_> = served.proc.seen.iter().filter(|(_, l)| l.contains(password)).collect();
        assert!(logged.is_empty(), "a password in the log: {logged:?}");
    }
    assert!(
        served.proc.lines(Stream::Err).iter().any(|l| l.contains("DEBUG")),
        "-vv logs at debug"
    );
}

/// One camp hub process: its database, key store and fixed port (so a
/// restart keeps its URL and, with `--identity`, its fingerprint).
struct Camp {
    name: &'static str,
    db: std::path::PathBuf,
    keys: std::path::PathBuf,
    port: u16,
}

impl Camp {
    fn new(dir: &Path, name: &'static str) -> Camp {
        let keys = dir.join(format!("{name}-keys"));
        std::fs::create_dir_all(&keys).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        Camp {
            name,
            db: dir.join(format!("{name}.db")),
            keys,
            port: common::process::free_port(),
        }
    }

    fn serve(&self) -> common::process::Served {
        let port = self.port.to_string();
        let keys = s(&self.keys).to_owned();
        serve(
            &self.db,
            &["-vv", "--port", &port, "--identity", "hub", "--key-dir", &keys],
        )
    }

    /// `servers add` on this camp of a server `to` as `user`.
    fn add_server(&self, name: &str, to: &common::process::Served, user: &str, password: &str) {
        let pin = to.fingerprint.clone().expect("TLS");
        let args = [
            "servers",
            "add",
            "--db",
            s(&self.db),
            name,
            "--url",
            &to.url,
            "--user",
            user,
            "--pin",
            &pin,
            "--key-dir",
            s(&self.keys),
            "--password-stdin",
        ];
        succeeded(outpost_with_stdin(&args, format!("{password}\n").as_bytes()));
    }

    fn export(&self) -> String {
        ok(&["export", "--db", s(&self.db)])
    }

    fn statuses(&self) -> Vec<serde_json::Value> {
        ok(&["servers", "status", "--db", s(&self.db), "--json"])
            .lines()
            .map(json)
            .collect()
    }
}

/// Polls `check` (a few times a second) until it holds, for up to 60 s.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `count` documents `PREFIX-i` as JSON lines for `outpost import`.
fn docs(prefix: &str, range: std::ops::Range<usize>) -> Vec<u8> {
    range
        .map(|i| format!("{{\"_id\":\"{prefix}-{i:05}\",\"camp\":\"{prefix}\",\"i\":{i}}}\n"))
        .collect::<String>()
        .into_bytes()
}

fn import(camp: &Camp, lines: &[u8]) {
    let run = outpost_with_stdin(&["import", "--db", s(&camp.db), "-"], lines);
    assert!(run.output.status.success(), "{run:?}");
}

const PW: [(&str, &str); 3] = [
    ("b-from-a", "pw-b-at-a-91e2c7"),
    ("c-from-a", "pw-c-at-a-3d5f08"),
    ("c-from-b", "pw-c-at-b-6a41bb"),
];

#[test]
fn three_camps_replicate_through_configured_servers_and_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        Camp::new(dir.path(), "a"),
        Camp::new(dir.path(), "b"),
        Camp::new(dir.path(), "c"),
    );
    for (camp, n) in [(&a, 20), (&b, 20), (&c, 20)] {
        import(camp, &docs(camp.name, 0..n));
    }
    // Each hub has its own users: A lets B and C in, B lets C in.
    add_user(&a.db, PW[0].0, "sync", PW[0].1);
    add_user(&a.db, PW[1].0, "sync", PW[1].1);
    add_user(&b.db, PW[2].0, "sync", PW[2].1);
    add_user(&c.db, "tablet", "sync", "pw-tablet-at-c-0f2");
    let (mut sa, mut sb, mut sc) = (a.serve(), b.serve(), c.serve());
    // B configures A; C configures A and B (picked up without a restart).
    b.add_server("camp-a", &sa, PW[0].0, PW[0].1);
    c.add_server("camp-a", &sa, PW[1].0, PW[1].1);
    c.add_server("camp-b", &sb, PW[2].0, PW[2].1);
    let listed: Vec<_> = ok(&["servers", "list", "--db", s(&c.db)]).lines().map(json).collect();
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .all(|l| l.get("password").is_none() && l["direction"] == "both"));

    let converged = |n: usize| {
        let ea = a.export();
        ea.lines().count() == n && ea == b.export() && ea == c.export()
    };
    wait_until("60 documents on every camp", || converged(60));
    wait_until("C idle with both servers", || {
        let st = c.statuses();
        st.len() == 2 && st.iter().all(|s| s["state"] == "idle" && s["last_success"].is_u64())
    });

    // SIGKILL every hub, write more on each, restart, and kill again while
    // they sync; the third start must finish the job.
    let kill_all = |procs: [&mut common::process::Served; 3]| {
        for p in procs {
            p.proc.signal("KILL");
            p.proc.wait_exit(Duration::from_secs(30));
        }
    };
    kill_all([&mut sa, &mut sb, &mut sc]);
    import(&a, &docs("a", 20..2020));
    import(&b, &docs("b", 20..520));
    import(&c, &docs("c", 20..520));
    let (mut sa, mut sb, mut sc) = (a.serve(), b.serve(), c.serve());
    wait_until("some of A's new documents on C", || c.export().contains("\"a-00100\""));
    kill_all([&mut sa, &mut sb, &mut sc]);
    let (mut sa, mut sb, mut sc) = (a.serve(), b.serve(), c.serve());
    wait_until("3060 documents on every camp", || converged(3060));
    let export = a.export();
    let ids: std::collections::HashSet<_> = export
        .lines()
        .map(|l| json(l)["_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3060, "no duplicates");
    for camp in [&a, &b, &c] {
        assert_eq!(
            ok(&["conflicts", "--db", s(&camp.db)]),
            "",
            "no conflicts on {}",
            camp.name
        );
    }

    // Passwords: in no log (-vv) and in no file in clear.
    kill_all([&mut sa, &mut sb, &mut sc]);
    // Killed, nobody marked C's servers stopped: once the hub stops
    // confirming them they read as stopped, not idle or running forever.
    wait_until("C's servers shown stopped once its hub is gone", || {
        c.statuses()
            .iter()
            .all(|s| s["state"] == "stopped" && s["error"].as_str().is_some_and(|e| e.contains("stopped without")))
    });
    for (_, password) in PW {
        assert_eq!(
            file_contains(dir.path(), password),
            Vec::<String>::new(),
            "a password in clear"
        );
        for served in [&sa, &sb, &sc] {
            assert!(
                !served.proc.seen.iter().any(|(_, l)| l.contains(password)),
                "a password in a log"
            );
        }
    }
}

#[test]
fn a_wrong_password_is_an_error_with_backoff_until_the_server_is_added_again() {
    let dir = tempfile::tempdir().unwrap();
    let (a, d) = (Camp::new(dir.path(), "a"), Camp::new(dir.path(), "d"));
    import(&a, &docs("a", 0..5));
    add_user(&a.db, "d-from-a", "read", "the-right-pw-1c9");
    add_user(&d.db, "tablet", "sync", "pw-tablet-at-d-8e1");
    let sa = a.serve();
    let _sd = d.serve();
    d.add_server("camp-a", &sa, "d-from-a", "a-wrong-pw-77f");
    let mut error = serde_json::Value::Null;
    wait_until("camp-a in error", || {
        error = d.statuses().pop().unwrap_or_default();
        error["state"] == "error"
    });
    let message = error["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        message.contains("unauthorized") || message.contains("password"),
        "{error}"
    );
    let (retry, since) = (
        error["next_retry"].as_u64().unwrap(),
        error["state_time"].as_u64().unwrap(),
    );
    assert!(retry >= since + 29, "backs off at least 30 s: {error}");
    let human = ok(&["servers", "status", "--db", s(&d.db)]);
    assert!(
        human.starts_with("camp-a: error since") && human.contains("next retry"),
        "{human}"
    );

    // A pull-only read user: fixing the password recovers it at once.
    let pin = sa.fingerprint.clone().unwrap();
    let args = [
        "servers",
        "add",
        "--db",
        s(&d.db),
        "camp-a",
        "--url",
        &sa.url,
        "--user",
        "d-from-a",
        "--pin",
        &pin,
        "--pull",
        "--key-dir",
        s(&d.keys),
        "--password-stdin",
    ];
    succeeded(outpost_with_stdin(&args, b"the-right-pw-1c9\n"));
    wait_until("camp-a idle", || {
        d.statuses().pop().unwrap_or_default()["state"] == "idle"
    });
    assert_eq!(d.export(), a.export());
    assert!(d.statuses()[0]["docs_read"].as_u64().unwrap() >= 5);
    ok(&["servers", "remove", "--db", s(&d.db), "camp-a"]);
    assert_eq!(ok(&["servers", "list", "--db", s(&d.db)]), "");
}

#[test]
fn servers_status_watch_draws_a_progress_bar_on_a_terminal_during_a_first_big_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Camp::new(dir.path(), "a"), Camp::new(dir.path(), "b"));
    import(&a, &docs("a", 0..20_000));
    add_user(&a.db, "b-from-a", "sync", "pw-b-at-a-5be1d0");
    add_user(&b.db, "tablet", "sync", "pw-tablet-at-b-8c7");
    let (sa, _sb) = (a.serve(), b.serve());
    // Both watchers start before the server is added, so they see the
    // whole first sync: one on a terminal, one piped.
    let watch = ["servers", "status", "--db", s(&b.db), "--watch"];
    let mut on_terminal = common::process::Proc::spawn_on_terminal("watch on a terminal", &watch);
    let mut piped = common::process::Proc::spawn("watch piped", &watch);
    b.add_server("camp-a", &sa, "b-from-a", "pw-b-at-a-5be1d0");
    let bar = on_terminal.wait_line(Stream::Out, Duration::from_secs(120), |l| {
        l.contains("[=") && l.contains(" documents")
    });
    assert!(bar.contains("/"), "{bar}");
    wait_until("B idle with A's 20,000 documents", || {
        b.statuses().pop().unwrap_or_default()["state"] == "idle"
    });
    piped.wait_line(Stream::Out, Duration::from_secs(30), |l| l.starts_with("camp-a: idle"));
    assert!(
        piped.lines(Stream::Out).iter().all(|l| !l.contains("[=")),
        "no bar when piped: {:?}",
        piped.lines(Stream::Out)
    );
    on_terminal.signal("TERM");
    piped.signal("TERM");
}
