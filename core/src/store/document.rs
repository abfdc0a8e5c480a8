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

/// A page of documents read in id order, with the ids of damaged rows that
/// were skipped (and logged) instead of failing the whole read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page<T> {
    /// The items read, in id order.
    pub items: Vec<T>,
    /// Ids of the rows of this page that failed their checks (see
    /// [`crate::Error::Corrupt`]); they are left out of `items`.
    pub damaged: Vec<String>,
    /// The last id read (damaged or not): pass it as `start_after` of the
    /// next page; `None` when nothing is left.
    pub last_id: Option<String>,
}

/// A live document with conflicts, without bodies (see
/// [`crate::Collection::conflicted_docs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictedDoc {
    /// Document id.
    pub id: String,
    /// Winning revision id.
    pub rev: RevId,
    /// Losing live leaf revisions, highest first.
    pub conflicts: Vec<RevId>,
}
