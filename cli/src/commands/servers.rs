//! `outpost servers add|list|remove|status`: the servers a hub's `outpost
//! serve` replicates with continuously (see
//! [`outpost_core::hub::ReplicationManager`]), and their status as the
//! running hub keeps it in the database (`--watch` on a terminal: a line
//! per server with a progress bar while it runs; plain lines otherwise).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use outpost_core::hub::{ReplicationManager, ServerConfig, ServerState, ServerStatus};
use outpost_core::net::ServerTrust;
use outpost_core::replication::Direction;
use outpost_core::Database;

use super::{identity, open_db, open_existing_db, password, sync};
use crate::args::{ServerAddArgs, ServerStatusArgs, ServersCommand};
use crate::error::CliError;
use crate::output::print_line;

/// How often `servers status --watch` reads the status again.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// Runs one `servers` command.
pub fn run(command: &ServersCommand) -> Result<(), CliError> {
    match command {
        ServersCommand::Add(args) => add(args),
        ServersCommand::List(args) => {
            let db = open_existing_db(&args.db)?;
            for server in ReplicationManager::servers(&db).map_err(|e| CliError::core("listing servers", e))? {
                print_line(&server.to_json_line())?;
            }
            Ok(())
        }
        ServersCommand::Remove(args) => {
            let db = open_existing_db(&args.db.db)?;
            let removed = ReplicationManager::remove(&db, &args.name)
                .map_err(|e| CliError::core(format!("removing the server {:?}", args.name), e))?;
            if !removed {
                return Err(CliError::Usage(format!("there is no server {:?}", args.name)));
            }
            Ok(())
        }
        ServersCommand::Status(args) => status(args),
    }
}

fn add(args: &ServerAddArgs) -> Result<(), CliError> {
    let trust = if let Some(pin) = &args.pin {
        ServerTrust::PinnedFingerprint(pin.clone())
    } else if args.self_signed_only {
        ServerTrust::SelfSignedOnly
    } else if let Some(file) = &args.ca {
        ServerTrust::CaCertificates(sync::ca_certificates(file)?)
    } else {
        ServerTrust::SystemRoots
    };
    sync::check_plaintext_password(&args.url, args.allow_plaintext)?;
    let name = &args.server.name;
    let mut config = ServerConfig::new(name.as_str(), args.url.as_str(), args.user.as_str()).with_trust(trust);
    config.direction = match (args.push, args.pull) {
        (true, _) => Direction::Push,
        (_, true) => Direction::Pull,
        _ => Direction::PushAndPull,
    };
    // None named: every collection the server serves, asked at each connection.
    config.collections = args.collection.clone();
    let db = open_db(&args.server.db.db)?;
    let keys = identity::key_store(&identity::key_dir(args.key_dir.as_deref())?)?;
    let manager = ReplicationManager::open(&db, Arc::new(keys))
        .map_err(|e| CliError::core("opening the configured servers", e))?;
    let password = password::read_new(args.password_stdin, &format!("{} at {}", args.user, args.url))?;
    manager
        .add(&config, &password)
        .map_err(|e| CliError::core(format!("adding the server {name:?}"), e))
}

fn status(args: &ServerStatusArgs) -> Result<(), CliError> {
    let db = open_existing_db(&args.db.db)?;
    if args.watch && !args.json && std::io::stdout().is_terminal() {
        return watch_with_bars(&db);
    }
    let mut shown: Option<Vec<ServerStatus>> = None;
    loop {
        let statuses = read_statuses(&db)?;
        if shown.as_ref() != Some(&statuses) {
            for status in &statuses {
                let line = if args.json {
                    serde_json::to_string(status).map_err(|e| CliError::Usage(e.to_string()))?
                } else {
                    human(status)
                };
                print_line(&line)?;
            }
            shown = Some(statuses);
        }
        if !args.watch {
            return Ok(());
        }
        std::thread::sleep(WATCH_EVERY);
    }
}

/// `--watch` on a terminal, until interrupted: one line per server, redrawn
/// in place, with a bar of the documents done out of those known while it
/// is `running` (a first big sync).
fn watch_with_bars(db: &Database) -> Result<(), CliError> {
    let lines = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
    let running = ProgressStyle::with_template("{msg}\n  [{bar:40}] {pos}/{len} documents")
        .map_err(|e| CliError::Usage(e.to_string()))?
        .progress_chars("=> ");
    let still = ProgressStyle::with_template("{msg}").map_err(|e| CliError::Usage(e.to_string()))?;
    let mut shown: BTreeMap<String, ProgressBar> = BTreeMap::new();
    loop {
        let statuses = read_statuses(db)?;
        shown.retain(|name, line| {
            let kept = statuses.iter().any(|s| &s.name == name);
            if !kept {
                line.finish_and_clear();
            }
            kept
        });
        for status in &statuses {
            let line = shown
                .entry(status.name.clone())
                .or_insert_with(|| lines.add(ProgressBar::new(0)));
            let done = status.docs_read.saturating_add(status.docs_written);
            let busy = status.state == ServerState::Running && status.pending > 0;
            line.set_style(if busy { running.clone() } else { still.clone() });
            line.set_length(done.saturating_add(status.pending));
            line.set_position(done);
            line.set_message(human(status));
        }
        std::thread::sleep(WATCH_EVERY);
    }
}

fn read_statuses(db: &Database) -> Result<Vec<ServerStatus>, CliError> {
    ReplicationManager::statuses(db).map_err(|e| CliError::core("reading the servers' status", e))
}

/// One line for a person: name, state (with its error or next retry),
/// counts and the last success, times relative to now.
fn human(status: &ServerStatus) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let ago = |t: u64| format!("{} s ago", now.saturating_sub(t));
    let state = serde_json::to_value(status.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut line = format!(
        "{}: {state} since {} | read {} written {} failed {} pending {} | last success {}",
        status.name,
        if status.state_time == 0 {
            "never started".to_owned()
        } else {
            ago(status.state_time)
        },
        status.docs_read,
        status.docs_written,
        status.docs_failed,
        status.pending,
        status.last_success.map_or("never".to_owned(), ago),
    );
    if let Some(retry) = status.next_retry {
        line.push_str(&format!(" | next retry in {} s", retry.saturating_sub(now)));
    }
    if let Some(error) = &status.error {
        line.push_str(&format!(" | error: {error}"));
    }
    line
}
