//! Stored revisions as CouchDB documents, and CouchDB documents as
//! revisions to store: the shape shared by `_bulk_get`, `open_revs`,
//! document GETs, `_all_docs` and `_bulk_docs`.

use serde_json::{Map, Value};

use crate::blob::BlobRef;
use crate::couch::attachments::stubs_from_body;
use crate::couch::wire::{doc_object, CouchError, Revisions};
use crate::revision::{RevId, RevTree};

/// What to add to a document object besides its body.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DocOptions {
    /// `_revisions` (the history, up to the revs limit).
    pub(crate) revs: bool,
    /// `_conflicts` (the losing live leaves), for the winner.
    pub(crate) conflicts: bool,
}

/// Most history ids sent in a `_revisions`.
const HISTORY_SENT: usize = crate::tuning::MAX_FETCH_HISTORY;

/// The CouchDB object of revision `rev` of document `id` in `tree`, or
/// `None` when the tree does not hold it with its body. Blobs become
/// `_attachments` stubs, with the `md5-` digest `md5` gives when known.
///
/// # Errors
/// 500 when the stored body does not parse (a damaged row).
pub(crate) fn revision_object(
    id: &str,
    tree: &RevTree,
    rev: &RevId,
    options: DocOptions,
    md5: &mut dyn FnMut(&BlobRef) -> Option<String>,
) -> Result<Option<Map<String, Value>>, CouchError> {
    let Some(node) = tree.get(rev) else { return Ok(None) };
    let Some(body) = &node.body else { return Ok(None) };
    let mut body: Map<String, Value> = serde_json::from_str(body).map_err(|e| {
        CouchError::new(
            500,
            "internal_server_error",
            format!("a stored body is unreadable: {e}"),
        )
    })?;
    let mut extra = Vec::new();
    let attachments = stubs_from_body(&mut body, rev.generation(), md5)?;
    if !attachments.is_empty() {
        let value = serde_json::to_value(attachments)
            .map_err(|e| CouchError::new(500, "internal_server_error", e.to_string()))?;
        extra.push(("_attachments", value));
    }
    if options.conflicts {
        let conflicts = tree.conflicts();
        if !conflicts.is_empty() {
            extra.push((
                "_conflicts",
                Value::from(conflicts.iter().map(ToString::to_string).collect::<Vec<_>>()),
            ));
        }
    }
    if options.revs {
        let history = tree.history(rev, HISTORY_SENT);
        let revisions = Revisions::from_history(&history)?;
        extra.push((
            "_revisions",
            serde_json::to_value(revisions)
                .map_err(|e| CouchError::new(500, "internal_server_error", e.to_string()))?,
        ));
    }
    Ok(Some(doc_object(id, rev, node.deleted, &body, extra)))
}

/// The canonical-JSON-ready body of an incoming document.
///
/// # Errors
/// 400 when it cannot be encoded.
pub(crate) fn body_text(body: &Map<String, Value>) -> Result<String, CouchError> {
    serde_json::to_string(body).map_err(|e| CouchError::bad_request(e.to_string()))
}
