//! `Session`: serves one peer's requests against the listener's database,
//! enforcing what the listener allows (served collections, read-only).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use super::connection::RequestHandler;
use super::protocol::{
    error_to_wire, Request, WireChanges, WireDocRevs, WireError, WireFetched, WireInsertResult, WireRevision,
};
use crate::error::{Error, InvalidInput, ReplicationError, Result};
use crate::replication::{Endpoint, LocalEndpoint};
use crate::revision::RevId;
use crate::tuning::{CHANGES_BATCH_SIZE, FETCH_BATCH_BYTES};

/// Checkpoints written by peers must use this prefix, so a peer cannot
/// overwrite other local documents.
const CHECKPOINT_PREFIX: &str = "checkpoint-";

/// Most history entries a peer may ask for per revision.
const MAX_FETCH_HISTORY: usize = 1000;

/// Counts of a listener's connections, shared by its sessions.
#[derive(Debug, Default)]
pub(crate) struct ActivityCounters {
    /// Connections with at least one request being served.
    pub active: AtomicUsize,
}

/// What one peer may do.
pub(crate) struct Session {
    pub endpoint: LocalEndpoint,
    pub collections: Arc<HashSet<String>>,
    pub read_only: bool,
    pub counters: Arc<ActivityCounters>,
    /// Requests of this peer being served (not counting long polls).
    pub busy: AtomicUsize,
}

#[async_trait]
impl RequestHandler for Session {
    async fn handle(&self, request: Request) -> std::result::Result<String, WireError> {
        let _busy = (!request.is_long_poll()).then(|| BusyGuard::new(self));
        self.serve(request).await.map_err(|e| {
            if !matches!(e, Error::InvalidInput(_) | Error::Replication(_)) {
                tracing::warn!(error = %super::log_safe::log_safe(&e.to_string()), "a request from a peer failed");
            }
            error_to_wire(&e)
        })
    }
}

impl Session {
    async fn serve(&self, request: Request) -> Result<String> {
        let ep = &self.endpoint;
        match request {
            Request::Hello(_) => Err(ReplicationError::PeerMisbehaved("hello sent twice".into()).into()),
            Request::Changes {
                collection,
                since,
                limit,
            } => {
                self.check_collection(&collection)?;
                let batch = ep
                    .changes(&collection, since, limit.clamp(1, CHANGES_BATCH_SIZE))
                    .await?;
                json(&WireChanges::from(&batch))
            }
            Request::CountChanges { collection, since } => {
                self.check_collection(&collection)?;
                json(&ep.count_changes(&collection, since).await?)
            }
            Request::WaitChanges { since } => {
                ep.wait_for_changes(since).await?;
                Ok("{}".into())
            }
            Request::RevsDiff { collection, revs } => {
                self.check_writable(&collection)?;
                let revs = revs.into_iter().map(WireDocRevs::parse).collect::<Result<Vec<_>>>()?;
                let missing = ep.revs_diff(&collection, revs).await?;
                let wire: Vec<WireDocRevs> = missing
                    .into_iter()
                    .map(|m| WireDocRevs::new(m.id, &m.missing))
                    .collect();
                json(&wire)
            }
            Request::Fetch {
                collection,
                wanted,
                max_history,
                max_bytes,
            } => {
                self.check_collection(&collection)?;
                let wanted = wanted
                    .into_iter()
                    .map(|(id, rev)| Ok((id, rev.parse::<RevId>()?)))
                    .collect::<Result<Vec<_>>>()?;
                let fetched = ep
                    .fetch(
                        &collection,
                        &wanted,
                        max_history.clamp(1, MAX_FETCH_HISTORY),
                        max_bytes.clamp(1, FETCH_BATCH_BYTES),
                    )
                    .await?;
                Ok(WireFetched::encode(&fetched.revisions, fetched.consumed))
            }
            Request::Insert { collection, revisions } => {
                self.check_writable(&collection)?;
                let revisions = revisions
                    .into_iter()
                    .map(WireRevision::into_revision)
                    .collect::<Result<Vec<_>>>()?;
                let outcomes = ep.insert(&collection, revisions).await?;
                let wire: Vec<WireInsertResult> = outcomes.into_iter().map(WireInsertResult::from).collect();
                json(&wire)
            }
            Request::GetCheckpoint { collection, id } => {
                self.check_collection(&collection)?;
                check_checkpoint_id(&id)?;
                Ok(ep
                    .get_checkpoint(&collection, &id)
                    .await?
                    .unwrap_or_else(|| "null".into()))
            }
            Request::PutCheckpoint { collection, id, body } => {
                self.check_collection(&collection)?;
                check_checkpoint_id(&id)?;
                ep.put_checkpoint(&collection, &id, body.get()).await?;
                Ok("{}".into())
            }
        }
    }

    fn check_collection(&self, name: &str) -> Result<()> {
        if self.collections.contains(name) {
            Ok(())
        } else {
            Err(ReplicationError::NotServed(format!("collection {name:?}")).into())
        }
    }

    fn check_writable(&self, name: &str) -> Result<()> {
        self.check_collection(name)?;
        if self.read_only {
            return Err(ReplicationError::ReadOnly.into());
        }
        Ok(())
    }
}

fn check_checkpoint_id(id: &str) -> Result<()> {
    if id.starts_with(CHECKPOINT_PREFIX) && id.len() <= 200 {
        Ok(())
    } else {
        Err(InvalidInput::BadId(id.to_owned()).into())
    }
}

fn json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt(format!("cannot encode a reply: {e}")))
}

/// Counts this session as active while a request is being served.
struct BusyGuard<'a> {
    session: &'a Session,
}

impl<'a> BusyGuard<'a> {
    fn new(session: &'a Session) -> Self {
        if session.busy.fetch_add(1, Ordering::SeqCst) == 0 {
            session.counters.active.fetch_add(1, Ordering::SeqCst);
        }
        BusyGuard { session }
    }
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        if self.session.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.session.counters.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
