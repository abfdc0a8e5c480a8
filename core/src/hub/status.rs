//! `ServerStatus` and the `hub_server_status` table: the state of each
//! configured server's replication, written by the running hub so another
//! process (`outpost servers status`) reads it live (CouchDB's
//! `_replication_state`, `_replication_state_time` and
//! `_replication_stats`).

use std::collections::BTreeMap;

use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::store::Database;
use crate::tuning::SERVER_STATUS_STALE_AFTER;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS hub_server_status (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL
) STRICT, WITHOUT ROWID";

/// Where a configured server's replication is (see [`ServerStatus`] for
/// an example).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    /// Connecting or transferring changes.
    Running,
    /// Caught up, waiting for changes.
    Idle,
    /// The server cannot be reached; retried at `next_retry`.
    Offline,
    /// Stopped on an error (`error` says which); retried after a long
    /// backoff, or at once when the server is added again.
    Error,
    /// Not running (the hub is not serving, or the server was removed; or
    /// the hub that ran it is gone: see [`ServerStatus::seen_at`]).
    Stopped,
}

/// A configured server's replication status, as JSON in the database and
/// in `outpost servers status --json`.
///
/// # Examples
/// ```
/// use outpost_core::hub::{ServerState, ServerStatus};
/// let status = ServerStatus::stopped("camp-1", 0);
/// assert_eq!(status.state, ServerState::Stopped);
/// assert_eq!(serde_json::to_value(&status).unwrap()["state"], "stopped");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// The server's name.
    pub name: String,
    /// Its state.
    pub state: ServerState,
    /// When the state last changed (seconds since the Unix epoch).
    pub state_time: u64,
    /// With `offline` or `error`: when the next attempt is due.
    pub next_retry: Option<u64>,
    /// With `error` (and `offline`): what went wrong.
    pub error: Option<String>,
    /// Documents pulled from the server (this run of the hub).
    pub docs_read: u64,
    /// Documents pushed to the server (this run of the hub).
    pub docs_written: u64,
    /// Documents that could not be stored (this run of the hub).
    pub docs_failed: u64,
    /// Changes known and not yet processed.
    pub pending: u64,
    /// When the replication last caught up (seconds since the Unix epoch).
    pub last_success: Option<u64>,
    /// When the running hub last confirmed this status (seconds since the
    /// Unix epoch; it does every
    /// [`crate::tuning::SERVER_STATUS_HEARTBEAT`]).
    #[serde(default)]
    pub heartbeat: u64,
}

impl ServerStatus {
    /// A server stopped since `state_time`, with nothing counted.
    pub fn stopped(name: &str, state_time: u64) -> ServerStatus {
        ServerStatus {
            name: name.to_owned(),
            state: ServerState::Stopped,
            state_time,
            next_retry: None,
            error: None,
            docs_read: 0,
            docs_written: 0,
            docs_failed: 0,
            pending: 0,
            last_success: None,
            heartbeat: state_time,
        }
    }

    /// This status as a reader at `now` should show it: a status the hub no
    /// longer confirms (not for [`SERVER_STATUS_STALE_AFTER`]: the hub was
    /// killed, or its machine lost power) is `stopped` since its last
    /// heartbeat, with an error saying so, instead of `running` forever.
    ///
    /// # Examples
    /// ```
    /// use outpost_core::hub::{ServerState, ServerStatus};
    /// let mut status = ServerStatus::stopped("camp-1", 1_000);
    /// status.state = ServerState::Running;
    /// assert_eq!(status.seen_at(1_005).state, ServerState::Running);
    /// assert_eq!(status.seen_at(9_000).state, ServerState::Stopped);
    /// ```
    pub fn seen_at(&self, now: u64) -> ServerStatus {
        let stale = now.saturating_sub(self.heartbeat) > SERVER_STATUS_STALE_AFTER.as_secs();
        if self.state == ServerState::Stopped || !stale {
            return self.clone();
        }
        ServerStatus {
            state: ServerState::Stopped,
            state_time: self.heartbeat,
            next_retry: None,
            error: Some("the hub process running it stopped without saying so (killed?)".into()),
            pending: 0,
            ..self.clone()
        }
    }
}

/// The `hub_server_status` table of a database.
#[derive(Clone)]
pub(crate) struct StatusTable {
    db: Database,
}

impl StatusTable {
    pub(crate) fn open(db: &Database) -> Result<StatusTable> {
        db.write(|conn| Ok(conn.execute_batch(CREATE_TABLE)?))?;
        Ok(StatusTable { db: db.clone() })
    }

    /// Writes one server's status.
    pub(crate) fn put(&self, status: &ServerStatus) -> Result<()> {
        let text = serde_json::to_string(status).map_err(|e| crate::Error::Corrupt(e.to_string()))?;
        self.db.write(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO hub_server_status (name, status) VALUES (?1, ?2)",
                params![status.name, text],
            )?;
            Ok(())
        })
    }

    /// Forgets a removed server's status.
    pub(crate) fn remove(&self, name: &str) -> Result<()> {
        self.db.write(|conn| {
            conn.execute("DELETE FROM hub_server_status WHERE name = ?1", [name])?;
            Ok(())
        })
    }

    /// Every stored status, by name (unreadable rows are skipped).
    pub(crate) fn all(&self) -> Result<BTreeMap<String, ServerStatus>> {
        let rows = self.db.read(|conn| {
            let mut stmt = conn.prepare("SELECT name, status FROM hub_server_status")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(name, text)| Some((name, serde_json::from_str(&text).ok()?)))
            .collect())
    }
}
