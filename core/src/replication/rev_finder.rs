//! Asks the target which revisions of a batch of changes it lacks.

use super::endpoint::{Endpoint, MissingRevs};
use crate::error::Result;
use crate::store::Change;

/// The revisions of `changes` (every leaf of each document) that `target`
/// does not have.
pub async fn find_missing(target: &dyn Endpoint, collection: &str, changes: &[Change]) -> Result<Vec<MissingRevs>> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let asked = changes.iter().map(|c| (c.id.clone(), c.leaves.clone())).collect();
    target.revs_diff(collection, asked).await
}
