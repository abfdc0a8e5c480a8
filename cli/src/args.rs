//! The command line: every command, argument and option, as clap types.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use outpost_core::DEFAULT_COLLECTION;

use crate::error;

/// Outpost: an offline-first document database with sync.
#[derive(Debug, Parser)]
#[command(name = "outpost", version, about, arg_required_else_help = true)]
pub struct Cli {
    /// More log lines on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands. Network commands (`serve`, `sync`, `demo`) join this list
/// once core's network module lands; each gets its own module under
/// `commands/`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update a document; prints its new revision.
    Put(PutArgs),
    /// Print a document as JSON (`_id`, `_rev`, `_deleted`, `_conflicts`, then its fields).
    Get(GetArgs),
    /// Delete a document (writes a tombstone); prints the tombstone's revision.
    Delete(DeleteArgs),
    /// Import JSON lines, one document per line with an `_id` field.
    Import(ImportArgs),
    /// Export the live documents as JSON lines sorted by `_id`.
    Export(DbArgs),
    /// List documents with conflicting revisions, one JSON line each.
    Conflicts(DbArgs),
    /// Measure local throughput: SQLite ceiling, saves, local replication.
    Bench(BenchArgs),
}

/// Which database and collection a command works on.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// The database file.
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// The collection.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_COLLECTION)]
    pub collection: String,
}

/// `outpost put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Save over this revision only (fails if the document changed since);
    /// without it, the current revision is replaced.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// The document id.
    pub id: String,
    /// The body: a JSON object, or `-` to read it from stdin.
    pub json: String,
}

/// `outpost get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The document id.
    pub id: String,
}

/// `outpost delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Delete this revision only (fails if the document changed since);
    /// without it, the current revision is deleted.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// The document id.
    pub id: String,
}

/// `outpost import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The JSON lines file, or `-` for stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `outpost bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Documents per scenario (single saves stop at 5,000).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub docs: u64,
    /// Size of each document body in bytes (canonical JSON) [default: 1000].
    #[arg(long, value_name = "BYTES")]
    pub doc_size: Option<usize>,
    /// Scenarios to run, comma-separated or repeated (default: all).
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub scenario: Vec<String>,
}

/// Reports a command line clap refused: help and version go to stdout with
/// success; a mistake is one line on stderr with exit code 2.
pub fn report_parse_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("outpost: {} (see outpost --help)", error::one_line(first));
            ExitCode::from(2)
        }
    }
}
