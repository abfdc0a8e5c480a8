//! Checkpoints that peers keep on a listener: each peer's apart from every
//! other's, and bounded in size and number.
//!
//! A peer names its checkpoints `checkpoint-…`. The listener stores one as
//! the local document `peer-checkpoint-<scope key>-…`, where the scope key
//! hashes who the peer authenticated as (see [`crate::net`]'s listener: the
//! user name, the client certificate, or "anonymous"). So a peer can
//! neither read nor overwrite another peer's checkpoints, nor those of the
//! listener's own replicators (`checkpoint-…`). Each peer may store a
//! limited number of ids, listed in the local document
//! `peer-checkpoints-<scope key>`; a new id past the limit is refused with
//! `limit_exceeded`, an existing one can always be saved again.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::protocol::limit_exceeded;
use crate::error::{Error, InvalidInput, Result};
use crate::replication::{Endpoint, LocalEndpoint};
use crate::tuning::{MAX_CHECKPOINTS_PER_PEER, MAX_CHECKPOINTS_PER_PEER_READ_ONLY, MAX_CHECKPOINT_BYTES};

/// What a peer's checkpoint ids must start with.
const CHECKPOINT_PREFIX: &str = "checkpoint-";

/// Longest checkpoint id a peer may use, in bytes.
const MAX_CHECKPOINT_ID_BYTES: usize = 200;

/// Serialises the check of a peer's quota with the write that uses it
/// (peers with the same identity may save on several connections at once).
static QUOTA: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The list of a peer's checkpoint ids.
#[derive(Serialize, Deserialize, Default)]
struct Index {
    ids: Vec<String>,
}

/// One peer's checkpoints on a listener.
#[derive(Debug)]
pub(crate) struct PeerCheckpoints {
    /// Hex of the hashed identity: peer-controlled text never becomes part
    /// of a stored id as it is.
    scope_key: String,
    max_ids: usize,
}

impl PeerCheckpoints {
    /// The checkpoints of the peer that authenticated as `peer_scope`, on a
    /// listener that is read-only or not.
    pub(crate) fn new(peer_scope: &str, read_only: bool) -> Self {
        PeerCheckpoints {
            scope_key: hex::encode(&Sha256::digest(peer_scope.as_bytes())[..16]),
            max_ids: if read_only {
                MAX_CHECKPOINTS_PER_PEER_READ_ONLY
            } else {
                MAX_CHECKPOINTS_PER_PEER
            },
        }
    }

    /// The peer's checkpoint `id`, if it saved one.
    ///
    /// # Errors
    /// [`InvalidInput::BadId`] for an id that is not `checkpoint-…`.
    pub(crate) async fn get(&self, store: &LocalEndpoint, collection: &str, id: &str) -> Result<Option<String>> {
        let stored = self.stored_id(id)?;
        store.get_checkpoint(collection, &stored).await
    }

    /// Saves the peer's checkpoint `id`.
    ///
    /// # Errors
    /// [`InvalidInput::BadId`] for an id that is not `checkpoint-…`,
    /// [`InvalidInput::BodyTooLarge`] past [`MAX_CHECKPOINT_BYTES`], and
    /// [`crate::ReplicationError::Refused`] with `limit_exceeded` for a new id
    /// past the peer's quota.
    pub(crate) async fn put(&self, store: &LocalEndpoint, collection: &str, id: &str, body: &str) -> Result<()> {
        let stored = self.stored_id(id)?;
        if body.len() > MAX_CHECKPOINT_BYTES {
            let (size, limit) = (body.len(), MAX_CHECKPOINT_BYTES);
            return Err(InvalidInput::BodyTooLarge { size, limit }.into());
        }
        let _quota = QUOTA.lock().await;
        let index_id = format!("peer-checkpoints-{}", self.scope_key);
        let mut index: Index = match store.get_checkpoint(collection, &index_id).await? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| Error::Corrupt(format!("the checkpoint list {index_id:?} is unreadable: {e}")))?,
            None => Index::default(),
        };
        if !index.ids.contains(&stored) {
            if index.ids.len() >= self.max_ids {
                return Err(limit_exceeded(format!(
                    "this peer already keeps {} checkpoints here, the most allowed; reuse one",
                    self.max_ids
                )));
            }
            index.ids.push(stored.clone());
            let text = serde_json::to_string(&index).map_err(|e| Error::Corrupt(e.to_string()))?;
            // Listed before written: a crash in between costs a slot, never
            // an unlisted checkpoint.
            store.put_checkpoint(collection, &index_id, &text).await?;
        }
        store.put_checkpoint(collection, &stored, body).await
    }

    /// The local document id for the peer's checkpoint `id`.
    fn stored_id(&self, id: &str) -> Result<String> {
        match id.strip_prefix(CHECKPOINT_PREFIX) {
            Some(name) if id.len() <= MAX_CHECKPOINT_ID_BYTES => {
                Ok(format!("peer-checkpoint-{}-{name}", self.scope_key))
            }
            _ => Err(InvalidInput::BadId(id.to_owned()).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_ids_depend_on_the_peer_and_keep_the_prefix_rule() {
        let (a, b) = (
            PeerCheckpoints::new("user:a", false),
            PeerCheckpoints::new("user:b", false),
        );
        let (sa, sb) = (
            a.stored_id("checkpoint-x").unwrap(),
            b.stored_id("checkpoint-x").unwrap(),
        );
        assert_ne!(sa, sb);
        assert!(sa.starts_with("peer-checkpoint-") && sa.ends_with("-x"));
        assert!(a.stored_id("settings").is_err());
        assert!(a.stored_id(&format!("checkpoint-{}", "x".repeat(200))).is_err());
    }
}
