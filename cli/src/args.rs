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
    /// The passphrase of an encrypted database.
    #[command(flatten)]
    pub key: KeyArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands; each group has its own module under `commands/`.
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
    /// Print the documents matching a Mango selector as JSON lines (default limit 25).
    Find(FindArgs),
    /// Create, list or delete the value and full-text indexes of a collection.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Full-text search over the collection's text indexes; prints the documents, best first.
    Search(SearchArgs),
    /// Store FILE as the blob NAME of document ID (added or replaced); prints the new revision.
    Attach(AttachArgs),
    /// Write the bytes of the blob NAME of document ID to stdout.
    Attachment(AttachmentArgs),
    /// List the blobs of a document, one JSON line each.
    Attachments(AttachmentsArgs),
    /// Remove blobs no document names and leftover temporary files; prints what it removed.
    Compact(CompactArgs),
    /// Serve a database to peers over WebSocket + TLS until Ctrl-C.
    Serve(ServeArgs),
    /// Replicate a database with a peer started by `outpost serve`.
    Sync(SyncArgs),
    /// Manage the system users a hub's `outpost serve` lets in (stored in its database).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage the servers a hub's `outpost serve` replicates with continuously, and see their status.
    #[command(subcommand)]
    Servers(ServersCommand),
    /// Show sync in a few seconds: a hub, two phones, a conflict, in temp dirs.
    Demo,
    /// Measure throughput: SQLite ceiling, saves, local and network replication.
    Bench(BenchArgs),
    /// Encrypt a plain database in place with the passphrase of --key-env/--key-file.
    Encrypt(KeyChangeArgs),
    /// Make an encrypted database plain (its passphrase by --key-env/--key-file).
    Decrypt(KeyChangeArgs),
    /// Change an encrypted database's passphrase to --new-key-env/--new-key-file.
    Rekey {
        /// The database.
        #[command(flatten)]
        db: KeyChangeArgs,
        /// The new passphrase.
        #[command(flatten)]
        new: NewKeyArgs,
    },
}

/// Where the passphrase of an encrypted database is, for every command
/// that opens one: never the passphrase itself, which other local users
/// could read on a command line.
#[derive(Clone, Debug, Default, Args)]
pub struct KeyArgs {
    /// Read the database's passphrase from the environment variable VAR.
    #[arg(long, value_name = "VAR", global = true, conflicts_with = "key_file")]
    pub key_env: Option<String>,
    /// Read the database's passphrase from FILE (one trailing line break is ignored).
    #[arg(long, value_name = "FILE", global = true)]
    pub key_file: Option<PathBuf>,
}

/// `outpost rekey`: where the new passphrase is.
#[derive(Debug, Args)]
pub struct NewKeyArgs {
    /// Read the new passphrase from the environment variable VAR.
    #[arg(long, value_name = "VAR", conflicts_with = "new_key_file")]
    pub new_key_env: Option<String>,
    /// Read the new passphrase from FILE.
    #[arg(long, value_name = "FILE")]
    pub new_key_file: Option<PathBuf>,
}

/// `outpost encrypt`, `decrypt` and `rekey`: the database changed in place.
#[derive(Debug, Args)]
pub struct KeyChangeArgs {
    /// The database file; no other program may have it open meanwhile.
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
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

/// `outpost find`.
#[derive(Debug, Args)]
pub struct FindArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The selector, a JSON object: `{"camp": "north", "age": {"$lt": 10}}`.
    pub selector: String,
    /// Sort by FIELD (dotted path), `FIELD:desc` for descending; repeat for
    /// several.
    #[arg(long, value_name = "FIELD[:desc]")]
    pub sort: Vec<String>,
    /// At most N documents.
    #[arg(long, value_name = "N", default_value_t = outpost_core::tuning::DEFAULT_QUERY_LIMIT)]
    pub limit: usize,
    /// Skip the first N documents.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub skip: usize,
    /// Print only these fields of each body (comma-separated dotted paths);
    /// `_id` and `_rev` always come.
    #[arg(long, value_name = "a,b", value_delimiter = ',')]
    pub fields: Vec<String>,
    /// Print the plan (which index, SQLite's plan) as one JSON line instead
    /// of the documents.
    #[arg(long)]
    pub explain: bool,
}

/// `outpost index ...`.
#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Create a value index on one or more fields (dotted paths).
    Create(IndexCreateArgs),
    /// Create a full-text index (case and diacritics ignored) on one or more fields.
    CreateText(IndexCreateArgs),
    /// List the indexes, one JSON line each.
    List(DbArgs),
    /// Delete an index.
    Delete(IndexDeleteArgs),
}

/// `outpost index create` and `create-text`.
#[derive(Debug, Args)]
pub struct IndexCreateArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The index's name (A-Z a-z 0-9 _ -).
    pub name: String,
    /// The fields to index.
    #[arg(required = true)]
    pub fields: Vec<String>,
}

/// `outpost index delete`.
#[derive(Debug, Args)]
pub struct IndexDeleteArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The index's name.
    pub name: String,
}

/// `outpost search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The words to find (all must match; `word*` matches a prefix).
    pub text: String,
    /// At most N documents.
    #[arg(long, value_name = "N", default_value_t = outpost_core::tuning::DEFAULT_QUERY_LIMIT)]
    pub limit: usize,
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

/// `outpost attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Save over this revision only (fails if the document changed since);
    /// without it, the current revision (or a new document).
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// The blob's MIME type (`image/jpeg`).
    #[arg(long, value_name = "TYPE")]
    pub content_type: Option<String>,
    /// The document id.
    pub id: String,
    /// The top-level field that names the blob.
    pub name: String,
    /// The file to store (streamed).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `outpost attachment`.
#[derive(Debug, Args)]
pub struct AttachmentArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The document id.
    pub id: String,
    /// The blob's name: a top-level field, or a JSON pointer (`/photos/0`).
    pub name: String,
}

/// `outpost attachments`.
#[derive(Debug, Args)]
pub struct AttachmentsArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The document id.
    pub id: String,
}

/// `outpost compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The database file.
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// Keep blob and temporary files written less than this many seconds
    /// ago (a save in progress in another program may need them).
    #[arg(long, value_name = "SECONDS", default_value_t = outpost_core::tuning::BLOB_COMPACT_GRACE.as_secs())]
    pub grace_secs: u64,
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

/// A `NAME:PASSWORD` argument, kept as given (split by
/// `commands::net::credentials`); its `Debug` output hides the password.
#[derive(Clone)]
pub struct UserArg(pub String);

impl std::str::FromStr for UserArg {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(UserArg(s.to_owned()))
    }
}

impl std::fmt::Debug for UserArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.0.split_once(':').map_or("?", |(name, _)| name);
        write!(f, "UserArg({name}:<hidden>)")
    }
}

/// `outpost serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The database file (created if missing).
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// A collection to serve, created if missing; repeat for several
    /// [default: _default].
    #[arg(long, value_name = "NAME")]
    pub collection: Vec<String>,
    /// TCP port; 0 picks a free one (printed when ready).
    #[arg(long, default_value_t = 4984)]
    pub port: u16,
    /// Listen on this IP address or interface name (e.g. 192.168.1.20,
    /// wlan0) [default: every IPv4 interface].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// A user who may connect, as NAME:PASSWORD; repeat for several. Other
    /// local users can read the command line of a running process: on a
    /// shared machine, run it from a script they cannot read.
    #[arg(long, value_name = "NAME:PASSWORD")]
    pub user: Vec<UserArg>,
    /// Let anyone who can reach the port read and write, without a password
    /// (only when no --user is given).
    #[arg(long, conflicts_with = "user")]
    pub anonymous: bool,
    /// Refuse pushes: peers may only pull.
    #[arg(long)]
    pub read_only: bool,
    /// Allow delta sync with peers that ask for it (`outpost sync
    /// --delta-sync`): an edited document moves as the changes from the
    /// revision the other side holds, not the whole body. Off by default.
    #[arg(long)]
    pub delta_sync: bool,
    /// Serve plain ws:// without TLS: passwords and documents cross the
    /// network readable by anyone on it.
    #[arg(long, conflicts_with_all = ["identity", "cert"])]
    pub no_tls: bool,
    /// Keep the TLS identity in the key store under LABEL: loaded if it is
    /// there, otherwise generated (self-signed) and saved, so that the
    /// fingerprint peers pin stays the same across restarts. Without it (or
    /// --cert/--key) a new identity and fingerprint are made on every start.
    /// Set OUTPOST_KEY_PASSPHRASE to seal stored identities with a passphrase.
    #[arg(long, value_name = "LABEL", conflicts_with_all = ["cert", "key"])]
    pub identity: Option<String>,
    /// The key store's directory [default: $XDG_DATA_HOME/outpost/identities,
    /// or ~/.local/share/outpost/identities].
    /// Also where the key sealing configured servers' passwords is kept
    /// (`outpost servers add --key-dir`).
    #[arg(long, value_name = "DIR")]
    pub key_dir: Option<PathBuf>,
    /// Present this certificate chain (PEM, leaf first), e.g. issued by a
    /// camp CA; needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
}

/// `outpost sync`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("direction").args(["push", "pull"])))]
#[command(group(clap::ArgGroup::new("trust").args(["pin", "self_signed_only", "ca", "insecure"])))]
pub struct SyncArgs {
    /// The local database file (created if missing).
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// The peer, as printed by `outpost serve`: wss://HOST:PORT/NAME (or ws://
    /// for a peer started with --no-tls); or a CouchDB-protocol server's
    /// database (CouchDB, PouchDB Server, Cloudant): https://HOST/DB (or
    /// http://).
    #[arg(long)]
    pub url: String,
    /// Only send local changes [default: push and pull].
    #[arg(long)]
    pub push: bool,
    /// Only receive the peer's changes [default: push and pull].
    #[arg(long)]
    pub pull: bool,
    /// Keep running and replicate new changes both ways until Ctrl-C; a lost
    /// connection is retried forever.
    #[arg(long)]
    pub continuous: bool,
    /// One-shot only: keep retrying an unreachable peer (10 attempts, with
    /// backoff) instead of giving up after 3.
    #[arg(long)]
    pub retry: bool,
    /// The credentials, as NAME:PASSWORD. Refused with a ws:// or http://
    /// URL (no TLS) unless --allow-plaintext is given.
    #[arg(long, value_name = "NAME:PASSWORD")]
    pub user: Option<UserArg>,
    /// Send the --user password to a ws:// or http:// peer (no TLS)
    /// anyway, with a warning: anyone on the network can read it and every
    /// record, and log in with it.
    #[arg(long, requires = "user")]
    pub allow_plaintext: bool,
    /// Trust exactly the peer whose certificate has this fingerprint (the
    /// `fingerprint` printed by `outpost serve`). Without --pin,
    /// --self-signed-only, --ca or --insecure, a wss:// peer must have a
    /// certificate from a public CA for its host name (the built-in Mozilla
    /// roots).
    #[arg(long, value_name = "sha256:HEX")]
    pub pin: Option<String>,
    /// Trust any self-signed certificate: protects against eavesdroppers but
    /// not against an active attacker (prefer --pin).
    #[arg(long)]
    pub self_signed_only: bool,
    /// Trust certificates for the URL's host issued by the CA certificates in
    /// this PEM file (e.g. a camp's own CA).
    #[arg(long, value_name = "FILE.pem")]
    pub ca: Option<PathBuf>,
    /// Trust any certificate at all. For development only: an active
    /// attacker can read and change everything.
    #[arg(long)]
    pub insecure: bool,
    /// A collection to replicate (created locally if missing); repeat for
    /// several [default: _default].
    #[arg(long, value_name = "NAME")]
    pub collection: Vec<String>,
    /// With an http(s):// CouchDB server: create the remote database if it
    /// does not exist (when pushing). Without it, a missing database is an
    /// error.
    #[arg(long)]
    pub create_target: bool,
    /// Delta sync: send and receive an edited document as the changes from
    /// the revision the other side holds, when the peer allows it (`outpost
    /// serve --delta-sync`). Off by default.
    #[arg(long)]
    pub delta_sync: bool,
}

/// `outpost users`: the hub's stored system users.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user; the password is asked twice on the terminal (or read
    /// as one line from stdin with --password-stdin), never taken from the
    /// command line.
    Add(UserAddArgs),
    /// List the users as JSON lines (name, role, created, last_login), never their hashes.
    List(UserDbArgs),
    /// Remove a user: refused at the next login, open connections closed within a second.
    Remove(UserNameArgs),
    /// Change a user's password (asked like for add); open connections are closed.
    Passwd(UserNameArgs),
}

/// The database whose users a `users` command manages.
#[derive(Debug, Args)]
pub struct UserDbArgs {
    /// The hub's database file (created if missing).
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
}

/// `outpost users remove|passwd`.
#[derive(Debug, Args)]
pub struct UserNameArgs {
    #[command(flatten)]
    pub db: UserDbArgs,
    /// The user name.
    pub name: String,
    /// Read the password as one line from stdin instead of the terminal.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `outpost users add`.
#[derive(Debug, Args)]
pub struct UserAddArgs {
    #[command(flatten)]
    pub user: UserNameArgs,
    /// `sync` pushes and pulls; `read` may only pull.
    #[arg(long, default_value = "sync", value_parser = ["sync", "read"])]
    pub role: String,
}

/// `outpost servers`: the hub's configured servers.
#[derive(Debug, Subcommand)]
pub enum ServersCommand {
    /// Add a server, or replace the one with that NAME; its password is
    /// asked twice on the terminal (or read as one line from stdin with
    /// --password-stdin) and stored sealed with a key from the key store.
    Add(ServerAddArgs),
    /// List the servers as JSON lines (no passwords).
    List(UserDbArgs),
    /// Remove a server: a running hub stops replicating with it within a second.
    Remove(ServerNameArgs),
    /// Show each server's replication state, as the running hub keeps it.
    Status(ServerStatusArgs),
}

/// `outpost servers remove`.
#[derive(Debug, Args)]
pub struct ServerNameArgs {
    #[command(flatten)]
    pub db: UserDbArgs,
    /// The server's name.
    pub name: String,
}

/// `outpost servers status`.
#[derive(Debug, Args)]
pub struct ServerStatusArgs {
    #[command(flatten)]
    pub db: UserDbArgs,
    /// Keep showing the status as it changes, until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    /// One JSON line per server.
    #[arg(long)]
    pub json: bool,
}

/// `outpost servers add`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("direction").args(["push", "pull"])))]
#[command(group(clap::ArgGroup::new("trust").args(["pin", "self_signed_only", "ca"])))]
pub struct ServerAddArgs {
    #[command(flatten)]
    pub server: ServerNameArgs,
    /// The server: wss://HOST:PORT/NAME (another hub, as its `outpost serve`
    /// printed) or https://HOST/DB (a CouchDB).
    #[arg(long)]
    pub url: String,
    /// The user name to log in with (a system user of the other hub).
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// Read the password as one line from stdin instead of the terminal.
    #[arg(long)]
    pub password_stdin: bool,
    /// Trust exactly the certificate with this fingerprint.
    #[arg(long, value_name = "sha256:HEX")]
    pub pin: Option<String>,
    /// Trust certificates issued by the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE.pem")]
    pub ca: Option<PathBuf>,
    /// Trust any self-signed certificate (prefer --pin).
    #[arg(long)]
    pub self_signed_only: bool,
    /// Only send this hub's changes [default: push and pull].
    #[arg(long)]
    pub push: bool,
    /// Only receive the server's changes [default: push and pull].
    #[arg(long)]
    pub pull: bool,
    /// A collection to replicate; repeat for several [default: every
    /// collection the server serves, asked at each connection].
    #[arg(long, value_name = "NAME")]
    pub collection: Vec<String>,
    /// Send the password to a ws:// or http:// server (no TLS) anyway.
    #[arg(long)]
    pub allow_plaintext: bool,
    /// The key store's directory, as for `serve --identity` [default:
    /// $XDG_DATA_HOME/outpost/identities, or ~/.local/share/outpost/identities].
    #[arg(long, value_name = "DIR")]
    pub key_dir: Option<PathBuf>,
}

/// `outpost bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Documents per scenario (single saves stop at 5,000) [default: 100000;
    /// 500 for `blobs`; 10000 for `delta`].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub docs: Option<u64>,
    /// Size of each document body in bytes (canonical JSON) [default: 1000;
    /// 10000 for `delta`].
    #[arg(long, value_name = "BYTES")]
    pub doc_size: Option<usize>,
    /// Scenarios to run, comma-separated or repeated (default: all but
    /// `blobs` and `delta`).
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
