//! Stores fetched revisions in the target, after the filter, and reports
//! one event per document.

use super::config::{Direction, ReplicationFilter};
use super::endpoint::{Endpoint, Revision};
use super::status::DocumentEvent;
use crate::error::{ReplicationError, Result};

/// Inserts `revisions` (those `filter` accepts) into `target`; returns the
/// events of the revisions that were new or refused.
pub async fn insert(
    target: &dyn Endpoint,
    collection: &str,
    direction: Direction,
    revisions: Vec<Revision>,
    filter: Option<&ReplicationFilter>,
) -> Result<Vec<DocumentEvent>> {
    let accepted: Vec<Revision> = revisions
        .into_iter()
        .filter(|r| r.rev().is_some() && filter.is_none_or(|f| f(r)))
        .collect();
    if accepted.is_empty() {
        return Ok(Vec::new());
    }
    let heads: Vec<_> = accepted.iter().map(|r| (r.history[0].clone(), r.deleted)).collect();
    let outcomes = target.insert(collection, accepted).await?;
    if outcomes.len() != heads.len() {
        return Err(ReplicationError::PeerMisbehaved(format!(
            "{} insert results for {} revisions",
            outcomes.len(),
            heads.len()
        ))
        .into());
    }
    Ok(outcomes
        .into_iter()
        .zip(heads)
        .filter(|(o, _)| !matches!(o.result, Ok(false)))
        .map(|(o, (rev, deleted))| DocumentEvent {
            collection: collection.to_owned(),
            id: o.id,
            rev,
            direction,
            deleted,
            access_removed: false,
            error: o.result.err(),
        })
        .collect())
}
