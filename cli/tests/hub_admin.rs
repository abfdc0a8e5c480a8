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
