//! The commands, one module per group, and what they share: opening the
//! database and collection named on the command line.
//!
//! - `docs`: `put`, `get`, `delete`, `conflicts`;
//! - `import_export`: `import`, `export`;
//! - `blobs`: `attach`, `attachment`, `attachments`, `compact`;
//! - `serve`, `sync`, `demo`: the network commands, with what they share
//!   in `net` (runtime, signals, credentials), `identity` (`--identity`
//!   key store, `--cert`/`--key`) and `progress` (replication status lines and bar);
//! - `query`: `find`, `index create|create-text|list|delete`, `search`;
//! - `users`: `users add|list|remove|passwd`, a hub's stored system users
//!   (passwords read by `password`); `servers`: `servers
//!   add|list|remove|status`, the servers a hub replicates with;
//! - `bench` and `bench_net`: `bench`, local and network scenarios;
//! - `keys`: `--key-env`/`--key-file` for every command, and `encrypt`,
//!   `decrypt`, `rekey`.

mod bench;
mod blobs;
mod demo;
mod docs;
mod identity;
mod import_export;
mod keys;
mod net;
mod password;
mod progress;
mod query;
mod serve;
mod servers;
mod sync;
mod users;

use std::path::Path;

use outpost_core::{Collection, Database, Document};

use crate::args::{Command, DbArgs};
use crate::error::CliError;

/// Runs one command.
pub fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Put(args) => docs::put(&args),
        Command::Get(args) => docs::get(&args),
        Command::Delete(args) => docs::delete(&args),
        Command::Conflicts(args) => docs::conflicts(&args),
        Command::Import(args) => import_export::import(&args),
        Command::Export(args) => import_export::export(&args),
        Command::Find(args) => query::find(&args),
        Command::Index(command) => query::index(&command),
        Command::Search(args) => query::search(&args),
        Command::Attach(args) => blobs::attach(&args),
        Command::Attachment(args) => blobs::attachment(&args),
        Command::Attachments(args) => blobs::attachments(&args),
        Command::Compact(args) => blobs::compact(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Sync(args) => sync::run(&args),
        Command::Users(command) => users::run(&command),
        Command::Servers(command) => servers::run(&command),
        Command::Demo => demo::run(),
        Command::Bench(args) => bench::run(&args),
        Command::Encrypt(args) => keys::encrypt(&args),
        Command::Decrypt(args) => keys::decrypt(&args),
        Command::Rekey { db, new } => keys::rekey(&db, &new),
    }
}

/// Opens an existing database and collection, for commands that only read
/// or change what is there: a missing file is an error, never a new one.
pub(crate) fn open_existing(args: &DbArgs) -> Result<(Database, Collection), CliError> {
    if !args.db.is_file() {
        return Err(CliError::NoDatabase(args.db.clone()));
    }
    let db = open_db(&args.db)?;
    let collection = db
        .collection(&args.collection)
        .map_err(|e| CliError::core(format!("opening collection {:?}", args.collection), e))?;
    Ok((db, collection))
}

/// Opens a database and collection, creating either if needed, for
/// commands that write.
pub(crate) fn open_or_create(args: &DbArgs) -> Result<(Database, Collection), CliError> {
    let db = open_db(&args.db)?;
    let collection = db
        .create_collection(&args.collection)
        .map_err(|e| CliError::core(format!("opening collection {:?}", args.collection), e))?;
    Ok((db, collection))
}

/// Opens the existing database file at `path`, for commands that only read
/// it or remove from it: a missing file is an error, never a new one.
pub(crate) fn open_existing_db(path: &Path) -> Result<Database, CliError> {
    if !path.is_file() {
        return Err(CliError::NoDatabase(path.to_owned()));
    }
    open_db(path)
}

/// Opens (or creates) the database file at `path`, with the key of
/// `--key-env`/`--key-file` if one was given.
pub(crate) fn open_db(path: &Path) -> Result<Database, CliError> {
    keys::open_with_key(path)
}

pub(crate) use keys::set_key_source;

/// Documents read per page when walking a collection.
const PAGE: usize = 1_000;

/// Calls `f` on every live document of `coll` in id order, reading a page
/// of [`PAGE`] documents at a time so that memory stays flat.
pub(crate) fn each_live_doc(
    coll: &Collection,
    mut f: impl FnMut(&Document) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let mut after: Option<String> = None;
    loop {
        let page = coll
            .all_docs(after.as_deref(), PAGE)
            .map_err(|e| CliError::core("reading documents", e))?;
        page.iter().try_for_each(&mut f)?;
        match page.last() {
            Some(last) if page.len() == PAGE => after = Some(last.id.clone()),
            _ => return Ok(()),
        }
    }
}
