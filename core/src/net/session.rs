//! `Session`: serves one peer's requests against the listener's database,
//! enforcing what the listener allows (served collections, read-only, the
//! peer's own checkpoints, fetch replies of a known size).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use super::auth::Principal;
use super::budget::ByteBudget;
use super::connection::RequestHandler;
use super::peer_checkpoints::PeerCheckpoints;
use super::protocol::{
    error_to_wire, limit_exceeded, FetchLimits, Request, WireChanges, WireDocRevs, WireError, WireFetched,
    WireInsertResult, WireRevision,
};
use crate::error::{Error, ReplicationError, Result};
use crate::replication::{Endpoint, LocalEndpoint};
use crate::revision::RevId;
use crate::tuning::{CHANGES_BATCH_SIZE, MAX_INSERT_REVISIONS};

/// Counts of a listener's connections, and the memory budget they share.
#[derive(Debug, Default)]
pub(crate) struct ActivityCounters {
    /// Connections with at least one request being served.
    pub active: AtomicUsize,
    /// Bytes all the listener's connections hold for requests in service
    /// and frames waiting to be written
    /// ([`crate::tuning::LISTENER_BUFFER_BYTES`]).
    pub buffers: Arc<ByteBudget>,
}

/// What one peer may do.
pub(crate) struct Session {
    pub endpoint: LocalEndpoint,
    pub collections: Arc<HashSet<String>>,
    pub read_only: bool,
    pub counters: Arc<ActivityCounters>,
    /// Requests of this peer being served (not counting long polls).
    pub busy: AtomicUsize,
    /// The peer's own checkpoints, kept apart from other peers'.
    pub checkpoints: PeerCheckpoints,
}

impl Session {
    /// Who a peer authenticated as, for keeping its checkpoints apart:
    /// `user:NAME` for basic credentials, `certificate:FINGERPRINT` for a
    /// client certificate, else `anonymous` (all anonymous peers share one
    /// scope).
    pub(crate) fn peer_scope(principal: &Principal) -> String {
        match principal {
            Principal::User(user) => format!("user:{user}"),
            Principal::Certificate { fingerprint } => format!("certificate:{fingerprint}"),
            Principal::Anonymous => "anonymous".to_owned(),
        }
    }
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
                // Served in part when the whole would not fit the size the
                // connection reserved for the reply.
                let limits = FetchLimits::new(wanted.len(), max_history, max_bytes);
                let wanted = wanted
                    .into_iter()
                    .take(limits.revisions)
                    .map(|(id, rev)| Ok((id, rev.parse::<RevId>()?)))
                    .collect::<Result<Vec<_>>>()?;
                let fetched = ep
                    .fetch(&collection, &wanted, limits.max_history, limits.max_bytes)
                    .await?;
                Ok(WireFetched::encode(&fetched.revisions, fetched.consumed))
            }
            Request::Insert { collection, revisions } => {
                self.check_writable(&collection)?;
                if revisions.len() > MAX_INSERT_REVISIONS {
                    let n = revisions.len();
                    return Err(limit_exceeded(format!(
                        "{n} revisions in one insert; the most is {MAX_INSERT_REVISIONS}"
                    )));
                }
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
                Ok(self
                    .checkpoints
                    .get(ep, &collection, &id)
                    .await?
                    .unwrap_or_else(|| "null".into()))
            }
            Request::PutCheckpoint { collection, id, body } => {
                self.check_collection(&collection)?;
                self.checkpoints.put(ep, &collection, &id, body.get()).await?;
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
