//! Documents and changes as the store hands them out.

use crate::revision::RevId;

/// The winning revision of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// Document id.
    pub id: String,
    /// Winning revision id.
    pub rev: RevId,
    /// Body as canonical JSON (`{}` for a plain deletion).
    pub body: String,
    /// Whether the winning revision is a deletion.
    pub deleted: bool,
    /// Losing live leaf revisions (conflicts), highest first.
    pub conflicts: Vec<RevId>,
    /// Database sequence of the document's latest change.
    pub sequence: u64,
}

/// One entry of the changes feed: a document at its latest change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Database sequence of this change.
    pub sequence: u64,
    /// Document id.
    pub id: String,
    /// Winning revision.
    pub rev: RevId,
    /// Whether the winning revision is a deletion.
    pub deleted: bool,
    /// Every leaf revision, the winner first (more than one if the document
    /// has branches).
    pub leaves: Vec<RevId>,
}

/// A page of the changes feed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangesBatch {
    /// Changes in sequence order.
    pub changes: Vec<Change>,
    /// The feed is complete up to this sequence: pass it as `since` to read
    /// on. It can be past the last change listed (changes of other
    /// collections are skipped).
    pub last_sequence: u64,
}
