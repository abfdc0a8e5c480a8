//! `outpost demo` runs on its own, resolves its conflict and ends with
//! three identical databases.

mod common;

use std::time::{Duration, Instant};

use common::ok;

#[test]
fn demo_syncs_resolves_the_conflict_and_ends_identical() {
    let start = Instant::now();
    let out = ok(&["demo"]);
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());
    assert!(out.contains("wss://127.0.0.1:"), "{out}");
    assert!(out.contains("fingerprint is sha256:"), "{out}");
    assert!(out.contains("The default conflict resolver kept phone"), "{out}");
    assert!(out.contains("records: hub 5, phone A 5, phone B 5"), "{out}");
    // The conflict really happened: the losing branch is closed by a deletion.
    assert!(out.contains("revision tree of child-001 has 2 branches"), "{out}");
    assert!(out.contains("closed by the deletion 3-"), "{out}");
    assert!(
        out.contains("Final records: hub 5, phone A 5, phone B 5; identical on all three: yes."),
        "{out}"
    );
    // The conflicted record is the same, with no open conflict, everywhere.
    let winners: Vec<&str> = out.lines().filter(|l| l.contains(r#"{"_id":"child-001""#)).collect();
    assert_eq!(winners.len(), 3, "{out}");
    let rev = |l: &str| {
        l.split("\"_rev\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(str::to_owned)
    };
    assert!(
        winners
            .iter()
            .all(|l| rev(l) == rev(winners[0]) && l.ends_with("(open conflicts: 0)")),
        "{winners:#?}"
    );
    assert!(
        out.contains("outpost serve --db hub.db") && out.contains("outpost sync --db phone.db"),
        "{out}"
    );
}
