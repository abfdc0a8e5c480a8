//! Stored revisions as CouchDB documents, and CouchDB documents as
//! revisions to store: the shape shared by `_bulk_get`, `open_revs`,
//! document GETs, `_all_docs` and `_bulk_docs`.

use serde_json::{Map, Value};

use base64::Engine;

use super::blobs::AttachmentSource;
use crate::blob::reference::blobs_in_body;
use crate::net::couch::attachments::{stubs_from_body, NESTED_PREFIX};
use crate::net::couch::wire::{doc_object, CouchError, Revisions};
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
/// `_attachments` stubs with their MD5 digests, or carry their bytes
/// inline when `attachments` says so.
///
/// # Errors
/// 500 when the stored body does not parse (a damaged row).
pub(crate) fn revision_object(
    id: &str,
    tree: &RevTree,
    rev: &RevId,
    options: DocOptions,
    attachments: &AttachmentSource,
) -> Result<Option<Map<String, Value>>, CouchError> {
    let Some(node) = tree.get(rev) else { return Ok(None) };
    // An ancestor's body kept as a delta base is not served: its deleted
    // flag is not kept, so it could not be told apart from a tombstone.
    let Some(body) = node.body.as_ref().filter(|_| tree.is_leaf(rev)) else {
        return Ok(None);
    };
    let mut body: Map<String, Value> = serde_json::from_str(body).map_err(|e| {
        CouchError::new(
            500,
            "internal_server_error",
            format!("a stored body is unreadable: {e}"),
        )
    })?;
    let mut extra = Vec::new();
    let blobs = blobs_in_body(&body).map_err(|e| CouchError::new(500, "internal_server_error", e.to_string()))?;
    let mut stubs = stubs_from_body(&mut body, rev.generation(), &mut |b| attachments.md5(b))?;
    for named in blobs {
        let name = if named.name.starts_with('/') {
            format!("{NESTED_PREFIX}{}", named.name)
        } else {
            named.name
        };
        if let (Some(bytes), Some(stub)) = (attachments.data(&named.blob)?, stubs.get_mut(&name)) {
            stub.data = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
            stub.stub = None;
        }
    }
    if !stubs.is_empty() {
        let value =
            serde_json::to_value(stubs).map_err(|e| CouchError::new(500, "internal_server_error", e.to_string()))?;
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

/// The leaves descending from `rev` (itself when it is a leaf), for `latest=true`.
pub(crate) fn latest_of(tree: &RevTree, rev: RevId) -> Vec<RevId> {
    if tree.get(&rev).is_none() || tree.is_leaf(&rev) {
        return vec![rev];
    }
    let leaves: Vec<RevId> = tree
        .leaves()
        .iter()
        .filter(|leaf| tree.history(&leaf.rev, usize::MAX).contains(&rev))
        .map(|leaf| leaf.rev.clone())
        .collect();
    if leaves.is_empty() {
        vec![rev]
    } else {
        leaves
    }
}
