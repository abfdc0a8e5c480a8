//! The CLI's error type, and the one place where core errors become
//! messages that say what went wrong and what to do about it.

use std::path::PathBuf;
use std::process::ExitCode;

use outpost_core::{Error as CoreError, ReplicationError};

/// Why a command failed. Its `Display` is the one line printed after
/// `outpost: `.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Arguments that parse but make no sense (clap catches the rest).
    #[error("{0} (see outpost --help)")]
    Usage(String),
    /// A command that reads needs an existing database.
    #[error("no database at {} (check --db; `outpost put` or `outpost import` create one)", .0.display())]
    NoDatabase(PathBuf),
    /// The requested document does not exist.
    #[error("no document {id:?} in collection {collection:?}")]
    NoDocument {
        /// Document id.
        id: String,
        /// Collection name.
        collection: String,
    },
    /// `delete` of a document that is deleted already.
    #[error("document {0:?} is already deleted")]
    AlreadyDeleted(String),
    /// The store refused or failed; `context` says what was being done.
    #[error("{context}: {}", describe(.source))]
    Core {
        /// What the command was doing.
        context: String,
        /// The error from outpost-core.
        source: CoreError,
    },
    /// Reading input or writing output failed.
    #[error("{context}: {source}")]
    Io {
        /// What the command was doing.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// One line of an import could not be imported.
    #[error(
        "import stopped at line {line}: {reason}; {imported} documents from the lines before it were imported, \
         none from this line on (fix the line and import the file again)"
    )]
    Import {
        /// 1-based line number in the input.
        line: u64,
        /// What is wrong with the line.
        reason: String,
        /// Documents committed before the failing batch.
        imported: u64,
    },
    /// The passphrase could not be read or does not fit this database.
    #[error("{0}")]
    Key(String),
    /// A benchmark scenario failed.
    #[error("benchmark scenario {scenario} failed: {reason}")]
    Bench {
        /// The scenario's name.
        scenario: &'static str,
        /// Why.
        reason: String,
    },
}

impl CliError {
    /// An error from outpost-core while doing `context`.
    pub fn core(context: impl Into<String>, source: CoreError) -> CliError {
        CliError::Core {
            context: context.into(),
            source,
        }
    }

    /// An I/O error while doing `context`.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> CliError {
        CliError::Io {
            context: context.into(),
            source,
        }
    }

    /// 2 for a command line that makes no sense, 1 for everything else.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}

/// A core error as a message for a person at a terminal: what happened and
/// what to do.
pub fn describe(e: &CoreError) -> String {
    match e {
        CoreError::InvalidInput(input) => input.to_string(),
        CoreError::NotFound { id, .. } => format!("there is no document {id:?}"),
        CoreError::Conflict { id, current } => match current {
            Some(rev) => format!(
                "document {id:?} was changed by someone else (its current revision is {rev}); \
                 run `outpost get` to see it, then retry with --rev {rev}"
            ),
            None => format!("document {id:?} does not exist at that revision; run `outpost get` to see it"),
        },
        CoreError::CollectionNotFound(name) => format!(
            "the collection {name:?} does not exist in this database (`outpost put` or `outpost import` \
             with --collection {name} create it)"
        ),
        CoreError::SchemaTooNew { .. } => e.to_string(),
        CoreError::Corrupt(why) => {
            format!("the database is damaged ({why}); restore it from a backup or sync it again from a peer")
        }
        CoreError::Storage(sqlite) => format!(
            "SQLite failed: {sqlite} (is it an Outpost database file, is the disk full or read-only, \
             or is another program holding a lock on it?)"
        ),
        CoreError::Closed => "the database was closed while in use".to_owned(),
        CoreError::Network(why) => {
            format!("{why} (is another program using the port? pick another with --port, or check --bind)")
        }
        CoreError::Replication(r) => describe_replication(r),
        CoreError::WrongKey => {
            "the database is encrypted and does not open with this passphrase (check --key-env/--key-file)".to_owned()
        }
        // Variants added to core later get core's own message.
        other => other.to_string(),
    }
}

/// A replication failure as a message: what happened and what to do.
fn describe_replication(e: &ReplicationError) -> String {
    match e {
        ReplicationError::Unreachable(why) => format!(
            "the peer is unreachable ({why}); check the URL, that the peer (`outpost serve`, or the CouchDB \
             server) runs there and that the network lets you reach it (--retry keeps trying longer)"
        ),
        ReplicationError::Unauthorized(why) => {
            format!("login refused ({why}); check the user name and password given with --user")
        }
        ReplicationError::CertificateRejected(why) => format!(
            "the peer's TLS certificate was rejected ({why}); nothing was sent. Check --pin against the \
             fingerprint `outpost serve` printed: a different one may mean someone is impersonating the peer"
        ),
        ReplicationError::TlsMismatch(why) => {
            format!(
                "{why} (a peer started with --no-tls has a ws:// URL, any other a wss:// URL; a CouchDB \
                 server has an https:// URL, or http:// without TLS)"
            )
        }
        ReplicationError::ReadOnly => {
            "the peer is read-only (started with --read-only); sync with --pull to only receive".to_owned()
        }
        ReplicationError::IncompatibleProtocol { ours, theirs } => format!(
            "the peer speaks sync protocol version {theirs} and this outpost version {ours}; \
             upgrade the older one"
        ),
        ReplicationError::NotServed(what) => format!(
            "the peer does not serve {what}; check the URL's path (the name `outpost serve` printed, or \
             the CouchDB database) and the --collection names it serves"
        ),
        ReplicationError::Refused { code, message } => format!("the peer refused ({code}): {message}"),
        ReplicationError::PeerMisbehaved(why) => {
            format!("the peer broke the sync protocol ({why}); is the URL an `outpost serve` peer?")
        }
        ReplicationError::Stopped => "the replication was stopped".to_owned(),
        // Variants added to core later get core's own message.
        other => other.to_string(),
    }
}

/// `text` on one line, fit for a terminal: line breaks become spaces, so
/// that every failure is exactly one line on stderr, and any other control
/// or invisible character is shown escaped (`\u{1b}`): error texts quote
/// what a peer sent, and a hostile hub must not drive the worker's terminal
/// with escape sequences.
pub fn one_line(text: &str) -> String {
    let joined = text
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = String::with_capacity(joined.len());
    for c in joined.chars() {
        if outpost_core::net::hides_text(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn one_line_joins_lines_and_escapes_what_would_drive_a_terminal() {
        assert_eq!(one_line("refused:\r\n  wrong password \n"), "refused: wrong password");
        assert_eq!(one_line("a\u{1b}[2Jb\u{202e}c\td"), "a\\u{1b}[2Jb\\u{202e}c\\u{9}d");
        assert_eq!(one_line("Amína «ok»"), "Amína «ok»");
    }
}
