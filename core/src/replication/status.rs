//! What a replicator reports: activity, progress, errors, document events.

use super::config::Direction;
use crate::error::Error;
use crate::revision::RevId;

/// What the replicator is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActivityLevel {
    /// Not running (never started, finished, or stopped by an error).
    Stopped,
    /// Waiting to retry after a transient error.
    Offline,
    /// Opening the connection and reading checkpoints.
    Connecting,
    /// Caught up, waiting for changes (continuous mode).
    Idle,
    /// Transferring changes.
    Busy,
}

/// Changes processed so far, of those known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Changes processed.
    pub completed: u64,
    /// Changes known to need processing (grows as new changes arrive).
    pub total: u64,
}

/// A snapshot of a replicator's state.
#[derive(Clone, Debug)]
pub struct ReplicatorStatus {
    /// Activity.
    pub activity: ActivityLevel,
    /// Progress.
    pub progress: Progress,
    /// The last error, if any (kept when the replicator stops on it).
    pub error: Option<Error>,
    /// While [`ActivityLevel::Offline`]: when the next attempt is due.
    pub next_attempt: Option<std::time::SystemTime>,
    /// Bytes sent to and received from the remote on the wire (TLS,
    /// HTTP and WebSocket framing included) since the replicator was
    /// made, over every run and reconnection, as of the last status
    /// change (statuses change at every batch and when a run ends). Zero
    /// for a local remote.
    pub wire: WireBytes,
}

/// Bytes an endpoint moved on the network.
///
/// # Examples
/// ```
/// use outpost_core::replication::WireBytes;
/// let bytes = WireBytes { sent: 10, received: 32 };
/// assert_eq!(bytes.total(), 42);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireBytes {
    /// Bytes written to the network.
    pub sent: u64,
    /// Bytes read from the network.
    pub received: u64,
}

impl WireBytes {
    /// Sent plus received.
    pub fn total(&self) -> u64 {
        self.sent.saturating_add(self.received)
    }
}

impl Default for ReplicatorStatus {
    fn default() -> Self {
        ReplicatorStatus {
            activity: ActivityLevel::Stopped,
            progress: Progress::default(),
            error: None,
            next_attempt: None,
            wire: WireBytes::default(),
        }
    }
}

/// One document replicated (or refused) in one direction.
#[derive(Clone, Debug)]
pub struct DocumentEvent {
    /// Collection name.
    pub collection: String,
    /// Document id.
    pub id: String,
    /// The revision replicated.
    pub rev: RevId,
    /// [`Direction::Push`] or [`Direction::Pull`].
    pub direction: Direction,
    /// Whether the revision is a deletion.
    pub deleted: bool,
    /// Whether the peer removed access to the document (reserved for
    /// peers with access control; always `false` between Outpost stores).
    pub access_removed: bool,
    /// Why this document was not stored, if it was not.
    pub error: Option<Error>,
}
