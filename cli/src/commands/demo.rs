//! `outpost demo`: sync shown end to end in a few seconds, in a temporary
//! directory: a hub serving over TLS with a password, two phones that pin
//! its fingerprint, registrations flowing both ways, and a conflict made
//! offline and resolved the same way everywhere. It ends with the commands
//! that do the same on real machines.

use std::path::Path;

use outpost_core::net::RemoteConfig;
use outpost_core::replication::{Replicator, ReplicatorConfig};
use outpost_core::{Collection, Database, RevId};

use super::net::{self, Loopback};
use super::progress::Progress;
use super::{each_live_doc, open_db};
use crate::error::CliError;
use crate::output::{document_json, print_line, Fields};

const USER: &str = "worker";
/// A demo password, shown on screen on purpose.
const PASSWORD: &str = "demo-password-1";

/// Registrations saved on each phone before the first sync.
const PHONE_A_RECORDS: &[(&str, &str)] = &[
    (
        "child-001",
        r#"{"name":"Amina","age":7,"camp":"North","status":"separated"}"#,
    ),
    (
        "child-002",
        r#"{"name":"Yusuf","age":4,"camp":"North","status":"separated"}"#,
    ),
    (
        "child-003",
        r#"{"name":"Hawa","age":11,"camp":"North","status":"separated"}"#,
    ),
];
const PHONE_B_RECORDS: &[(&str, &str)] = &[
    (
        "child-004",
        r#"{"name":"Ibrahim","age":9,"camp":"East","status":"separated"}"#,
    ),
    (
        "child-005",
        r#"{"name":"Fatima","age":6,"camp":"East","status":"separated"}"#,
    ),
];
/// The record both phones change while offline, and their two versions.
const CONFLICTED: &str = "child-001";
const EDIT_A: &str = r#"{"name":"Amina","age":7,"camp":"North","status":"reunited","with":"mother"}"#;
const EDIT_B: &str = r#"{"name":"Amina","age":7,"camp":"North","status":"separated","tent":"C-12"}"#;

/// `outpost demo`.
pub fn run() -> Result<(), CliError> {
    let dir = tempfile::tempdir().map_err(|e| CliError::io("creating a temporary directory", e))?;
    net::runtime()?.block_on(demo(dir.path()))
}

fn say(text: &str) -> Result<(), CliError> {
    print_line(text)
}

async fn demo(dir: &Path) -> Result<(), CliError> {
    say(&format!(
        "Outpost demo: a camp hub and two phones, in {}",
        dir.display()
    ))?;
    let hub = open_db(&dir.join("hub.db"))?;
    let phone_a = open_db(&dir.join("phone-a.db"))?;
    let phone_b = open_db(&dir.join("phone-b.db"))?;

    let hub_listener = Loopback::start(&hub, USER, PASSWORD).await?;
    let remote = &hub_listener.remote;
    say("")?;
    say(&format!(
        "1. The hub serves hub.db over TLS at {} to user {USER:?} (password {PASSWORD:?}).",
        remote.url
    ))?;
    say(&format!(
        "   Its certificate fingerprint is {}; the phones pin it, so they talk to this hub and no other.",
        hub_listener.fingerprint()
    ))?;

    say("")?;
    say(&format!(
        "2. Offline, phone A registers {} children and phone B {}.",
        PHONE_A_RECORDS.len(),
        PHONE_B_RECORDS.len()
    ))?;
    save_all(&phone_a, PHONE_A_RECORDS)?;
    save_all(&phone_b, PHONE_B_RECORDS)?;

    say("")?;
    say("3. Each phone syncs with the hub (push and pull, one-shot), with its status as it goes:")?;
    sync("phone A", &phone_a, remote).await?;
    sync("phone B", &phone_b, remote).await?;
    sync("phone A", &phone_a, remote).await?;
    say(&format!("   {}", counts(&hub, &phone_a, &phone_b)?))?;

    say("")?;
    say(&format!("4. Both phones change {CONFLICTED} while offline:"))?;
    let rev_a = edit(&phone_a, EDIT_A)?;
    let rev_b = edit(&phone_b, EDIT_B)?;
    say(&format!("   phone A: {EDIT_A} (revision {rev_a})"))?;
    say(&format!("   phone B: {EDIT_B} (revision {rev_b})"))?;
    say("   Phone A syncs first; then phone B, which pulls A's edit: two open revisions, a conflict.")?;
    sync("phone A", &phone_a, remote).await?;
    sync("phone B", &phone_b, remote).await?;
    say("   Phone B resolved the conflict as it pulled; both phones sync again to pass the resolution on:")?;
    sync("phone B", &phone_b, remote).await?;
    sync("phone A", &phone_a, remote).await?;
    let winner = get(&phone_b, CONFLICTED)?;
    let (kept, dropped) = if winner.rev == rev_a { ("A", "B") } else { ("B", "A") };
    say(&format!(
        "   The default conflict resolver kept phone {kept}'s edit: both are generation 2 and the higher \
         revision id wins, so every device picks the same one without asking the others. Phone {dropped}'s \
         edit stays in the revision history, closed; a custom ConflictResolver could merge the two instead."
    ))?;
    say(&format!("   {}", branches(&phone_b)?))?;
    for (name, db) in [("hub", &hub), ("phone A", &phone_a), ("phone B", &phone_b)] {
        let doc = get(db, CONFLICTED)?;
        say(&format!(
            "   {name:8} {} (open conflicts: {})",
            document_json(&doc, Fields::All)?,
            doc.conflicts.len()
        ))?;
    }

    say("")?;
    let identical = export(&hub)? == export(&phone_a)? && export(&hub)? == export(&phone_b)?;
    say(&format!(
        "5. Final {}; identical on all three: {}.",
        counts(&hub, &phone_a, &phone_b)?,
        if identical { "yes" } else { "NO" }
    ))?;
    hub_listener.listener.stop().await;

    say("")?;
    say("Do it yourself, on the hub machine:")?;
    say("   outpost serve --db hub.db --user worker:PASSWORD --identity hub")?;
    say(
        "   (prints one JSON line with the url and the fingerprint; --identity keeps the fingerprint across restarts)",
    )?;
    say("and on each phone or laptop:")?;
    say("   outpost put --db phone.db child-001 '{\"name\":\"Amina\",\"age\":7}'")?;
    say("   outpost sync --db phone.db --url wss://HUB-IP:4984/hub --user worker:PASSWORD --pin sha256:FINGERPRINT")?;
    say("   outpost sync ... --continuous     # keep syncing until Ctrl-C")?;
    say("   outpost export --db phone.db      # the records; outpost conflicts lists unresolved conflicts")?;
    if identical {
        Ok(())
    } else {
        Err(CliError::Bench {
            scenario: "demo",
            reason: "the three databases differ after sync".to_owned(),
        })
    }
}

fn collection(db: &Database) -> Result<Collection, CliError> {
    db.default_collection()
        .map_err(|e| CliError::core("opening the default collection", e))
}

fn save_all(db: &Database, records: &[(&str, &str)]) -> Result<(), CliError> {
    let coll = collection(db)?;
    for (id, body) in records {
        coll.save(id, None, body)
            .map_err(|e| CliError::core(format!("saving {id}"), e))?;
    }
    Ok(())
}

fn get(db: &Database, id: &str) -> Result<outpost_core::Document, CliError> {
    collection(db)?
        .get(id)
        .map_err(|e| CliError::core(format!("reading {id}"), e))?
        .ok_or_else(|| CliError::NoDocument {
            id: id.to_owned(),
            collection: outpost_core::DEFAULT_COLLECTION.to_owned(),
        })
}

/// Saves `body` over the current revision of the conflicted record.
fn edit(db: &Database, body: &str) -> Result<RevId, CliError> {
    let current = get(db, CONFLICTED)?;
    collection(db)?
        .save(CONFLICTED, Some(&current.rev), body)
        .map_err(|e| CliError::core(format!("saving {CONFLICTED}"), e))
}

/// One one-shot push-and-pull of `phone` with the hub, its status shown.
async fn sync(name: &str, phone: &Database, remote: &RemoteConfig) -> Result<(), CliError> {
    let context = format!("syncing {name}");
    let replicator = Replicator::remote(phone.clone(), remote.clone(), ReplicatorConfig::default())
        .map_err(|e| CliError::core(&context, e))?;
    let progress = Progress::start(&replicator, &format!("   {name}"), false);
    let outcome = replicator.run().await;
    let counts = progress.counts().describe();
    progress.finish(&replicator, outcome.is_err());
    outcome.map_err(|e| CliError::core(&context, e))?;
    say(&format!("   {name}: done, {counts}"))
}

/// The branches of the conflicted record's revision tree, in words.
fn branches(db: &Database) -> Result<String, CliError> {
    let tree = collection(db)?
        .revision_tree(CONFLICTED)
        .map_err(|e| CliError::core(format!("reading {CONFLICTED}"), e))?
        .ok_or_else(|| CliError::NoDocument {
            id: CONFLICTED.to_owned(),
            collection: outpost_core::DEFAULT_COLLECTION.to_owned(),
        })?;
    let leaves: Vec<String> = tree
        .leaves()
        .iter()
        .map(|leaf| match (&leaf.parent, leaf.deleted) {
            (Some(parent), true) => format!("{parent} closed by the deletion {}", leaf.rev),
            _ => format!("{} open", leaf.rev),
        })
        .collect();
    Ok(format!(
        "Phone B's revision tree of {CONFLICTED} has {} branches: {}.",
        leaves.len(),
        leaves.join("; ")
    ))
}

fn count(db: &Database) -> Result<u64, CliError> {
    collection(db)?.count().map_err(|e| CliError::core("counting", e))
}

fn counts(hub: &Database, a: &Database, b: &Database) -> Result<String, CliError> {
    Ok(format!(
        "records: hub {}, phone A {}, phone B {}",
        count(hub)?,
        count(a)?,
        count(b)?
    ))
}

/// Every live document as `outpost export` prints it.
fn export(db: &Database) -> Result<Vec<String>, CliError> {
    let mut lines = Vec::new();
    each_live_doc(&collection(db)?, |doc| {
        lines.push(document_json(doc, Fields::IdAndRev)?);
        Ok(())
    })?;
    Ok(lines)
}
