//! Trust in revisions received from peers: a revision id is a claim about
//! content, checked before anything of it is stored.
//!
//! On Outpost's own protocol every revision id is [`RevId::compute`]'s (or
//! a numbered [`RevId::compute_variant`]) over its parent, deleted flag and
//! body, so the receiver recomputes it. Revisions from CouchDB or PouchDB
//! carry ids of another scheme and cannot be checked; they come in
//! [`RevisionTrust::Unverified`], and what keeps replicas converging with
//! them is that no local edit ever aliases an existing id
//! ([`crate::RevTree::add_child`]). docs/ARCHITECTURE.md, "Trust in
//! revisions", states the rule.

use super::RevId;
use crate::error::InvalidInput;

/// How far a revision handed to [`crate::Batch::insert_revision`] is
/// checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevisionTrust {
    /// Outpost's own revision ids: `history[0]` must be the hash of
    /// `history[1]` (required from generation 2 on), the deleted flag and
    /// the canonical body. Everything received over Outpost's protocol.
    Verified,
    /// Ids of another scheme (CouchDB, PouchDB) that cannot be checked:
    /// stored as given. Reserved for the CouchDB-compatible face.
    Unverified,
}

/// Checks `history[0]` against its content under `trust`.
///
/// # Errors
/// [`InvalidInput::RevIdMismatch`] if the id is not the hash of its content,
/// or names a generation past 1 without its parent (it cannot be checked).
pub(crate) fn check_revision(
    trust: RevisionTrust,
    history: &[RevId],
    deleted: bool,
    canonical_body: &str,
) -> Result<(), InvalidInput> {
    let Some(rev) = history.first() else {
        return Err(InvalidInput::BadHistory("the history is empty".into()));
    };
    if trust == RevisionTrust::Unverified {
        return Ok(());
    }
    let parent = history.get(1);
    let unverifiable = rev.generation() > 1 && parent.is_none();
    if unverifiable || !rev.matches_content(parent, deleted, canonical_body) {
        return Err(InvalidInput::RevIdMismatch(rev.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_forged_and_unverifiable_ids() {
        let first = RevId::compute(None, false, "{}", &[]).unwrap();
        let honest = RevId::compute(Some(&first), false, r#"{"a":1}"#, &[]).unwrap();
        let check = |h: &[RevId], deleted, body| check_revision(RevisionTrust::Verified, h, deleted, body);
        assert!(check(std::slice::from_ref(&first), false, "{}").is_ok());
        assert!(check(&[honest.clone(), first.clone()], false, r#"{"a":1}"#).is_ok());
        assert!(check(&[honest.clone(), first.clone()], false, r#"{"a":2}"#).is_err());
        assert!(check(&[honest.clone(), first.clone()], true, r#"{"a":1}"#).is_err());
        assert!(check(std::slice::from_ref(&honest), false, r#"{"a":1}"#).is_err());
        assert!(check_revision(RevisionTrust::Unverified, &[honest], false, "{}").is_ok());
    }
}
