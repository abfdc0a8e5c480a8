//! `Session`: serves one peer's requests against the listener's database,
//! enforcing what the listener allows (served collections, read-only, the
//! peer's own checkpoints, fetch replies of a known size).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::Serialize;

use super::auth::Principal;
use super::budget::ByteBudget;
use super::chunk_buffer::ChunkBuffer;
use super::connection::{Answer, RequestHandler};
use super::peer_checkpoints::PeerCheckpoints;
use super::protocol::{
    blob_from_wire, blob_to_wire, decode_chunk, encode_chunk, error_to_wire, limit_exceeded, FetchLimits, Request,
    WireBinaryChunk, WireBlob, WireBlobChunk, WireChanges, WireDocRevs, WireError, WireFetched, WireInsertResult,
    WireRevision,
};
use crate::blob::reference::blobs_of_canonical;
use crate::blob::BlobDigest;
use crate::error::{BlobError, Error, InvalidInput, ReplicationError, Result};
use crate::replication::{Endpoint, InsertOutcome, LocalEndpoint, Sequence};
use crate::revision::RevId;
use crate::tuning::{
    CHANGES_BATCH_SIZE, MAX_BLOB_CHUNK_BYTES, MAX_DELTA_BASES, MAX_INSERT_REVISIONS, MAX_MISSING_BLOBS_PER_REQUEST,
    MAX_SESSION_READABLE_BLOBS,
};

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
    /// Blobs this peer may read: named by revisions it fetched from a
    /// served collection (at most [`MAX_SESSION_READABLE_BLOBS`]).
    pub readable_blobs: Mutex<HashSet<BlobDigest>>,
    /// Whether the peer negotiated `foreign_revisions`: if not, its
    /// `fetch` replies leave foreign revisions out (it would refuse them)
    /// and a `foreign` mark it sends is ignored (the id is verified).
    pub foreign_revisions: bool,
    /// Whether delta sync was negotiated (feature `delta_sync`): only then
    /// do `revs_diff` replies name delta bases, `fetch` take them, and
    /// `insert` take deltas.
    pub delta_sync: bool,
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
    async fn handle(&self, request: Request, payload: Option<Vec<u8>>) -> std::result::Result<Answer, WireError> {
        let _busy = (!request.is_long_poll()).then(|| BusyGuard::new(self));
        let served = match request {
            Request::ReadBlob {
                digest,
                offset,
                max_len,
                binary,
            } => self.read_blob(&digest, offset, max_len, binary).await,
            Request::AppendBlob { blob, offset, data } => self.append_blob(&blob, offset, data, payload).await,
            request => self.serve(request).await.map(Answer::from),
        };
        served.map_err(|e| {
            if !matches!(e, Error::InvalidInput(_) | Error::Replication(_)) {
                tracing::warn!(error = %super::log_safe::log_safe(&e.to_string()), "a request from a peer failed");
            }
            error_to_wire(&e)
        })
    }
}

impl Session {
    /// The delta bases of a `fetch` request, parsed: none unless delta
    /// sync was negotiated.
    ///
    /// # Errors
    /// [`ReplicationError::PeerMisbehaved`] for more than
    /// [`MAX_DELTA_BASES`] bases for one revision; a bad revision id.
    fn delta_bases(&self, bases: Vec<Vec<String>>) -> Result<Vec<Vec<RevId>>> {
        if !self.delta_sync {
            return Ok(Vec::new());
        }
        bases
            .into_iter()
            .map(|revs| {
                if revs.len() > MAX_DELTA_BASES {
                    return Err(ReplicationError::PeerMisbehaved(format!(
                        "{} delta bases for one revision; the most is {MAX_DELTA_BASES}",
                        revs.len()
                    ))
                    .into());
                }
                revs.iter().map(|r| Ok(r.parse::<RevId>()?)).collect()
            })
            .collect()
    }

    /// Inserts revisions, rebuilding those sent as deltas first; one that
    /// does not rebuild gets its error (`delta_mismatch`) in its place.
    async fn insert_rebuilding(
        &self,
        collection: &str,
        revisions: Vec<crate::replication::Revision>,
    ) -> Result<Vec<InsertOutcome>> {
        let rebuilt = self.endpoint.apply_deltas(collection, revisions).await?;
        let mut outcomes: Vec<Option<InsertOutcome>> = Vec::with_capacity(rebuilt.len());
        let mut ready = Vec::new();
        for (r, error) in rebuilt {
            match error {
                Some(e) => outcomes.push(Some(InsertOutcome {
                    id: r.id,
                    result: Err(e),
                })),
                None => {
                    outcomes.push(None);
                    ready.push(r);
                }
            }
        }
        let mut stored = self.endpoint.insert(collection, ready).await?.into_iter();
        outcomes
            .into_iter()
            .map(|o| {
                o.or_else(|| stored.next())
                    .ok_or_else(|| Error::Corrupt("an insert answered fewer revisions than given".into()))
            })
            .collect()
    }

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
                    .changes(&collection, &Sequence::from(since), limit.clamp(1, CHANGES_BATCH_SIZE))
                    .await?
                    .into_numbered()?;
                json(&WireChanges::from(&batch))
            }
            Request::CountChanges { collection, since } => {
                self.check_collection(&collection)?;
                json(&ep.count_changes(&collection, &Sequence::from(since)).await?)
            }
            Request::WaitChanges { since } => {
                ep.wait_for_changes("", &Sequence::from(since)).await?;
                Ok("{}".into())
            }
            Request::RevsDiff { collection, revs } => {
                self.check_writable(&collection)?;
                let revs = revs.into_iter().map(WireDocRevs::parse).collect::<Result<Vec<_>>>()?;
                let missing = ep.revs_diff(&collection, revs).await?;
                let wire: Vec<WireDocRevs> = missing
                    .into_iter()
                    .map(|m| match self.delta_sync {
                        true => WireDocRevs::with_ancestors(m),
                        false => WireDocRevs::new(m.id, &m.missing),
                    })
                    .collect();
                json(&wire)
            }
            Request::Fetch {
                collection,
                wanted,
                max_history,
                max_bytes,
                bases,
            } => {
                self.check_collection(&collection)?;
                let bases = self.delta_bases(bases)?;
                // Served in part when the whole would not fit the size the
                // connection reserved for the reply.
                let limits = FetchLimits::new(wanted.len(), max_history, max_bytes);
                let wanted = wanted
                    .into_iter()
                    .take(limits.revisions)
                    .map(|(id, rev)| Ok((id, rev.parse::<RevId>()?)))
                    .collect::<Result<Vec<_>>>()?;
                let bases = &bases[..bases.len().min(wanted.len())];
                let mut fetched = ep
                    .fetch_deltas(&collection, &wanted, bases, limits.max_history, limits.max_bytes)
                    .await?;
                if !self.foreign_revisions {
                    // Left out like a revision no longer known: the peer
                    // moves on, and gets it once it speaks the feature and
                    // syncs from scratch (docs/PROTOCOL.md).
                    fetched.revisions.retain(|r| !r.foreign);
                }
                self.remember_readable(fetched.revisions.iter().map(|r| r.body.as_str()));
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
                let mut revisions = revisions
                    .into_iter()
                    .map(WireRevision::into_revision)
                    .collect::<Result<Vec<_>>>()?;
                if !self.foreign_revisions {
                    revisions.iter_mut().for_each(|r| r.foreign = false);
                }
                if !self.delta_sync && revisions.iter().any(|r| r.delta.is_some()) {
                    return Err(
                        ReplicationError::PeerMisbehaved("a delta without the delta_sync feature".into()).into(),
                    );
                }
                let outcomes = self.insert_rebuilding(&collection, revisions).await?;
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
            Request::MissingBlobs { blobs } => {
                self.check_blobs_writable()?;
                if blobs.len() > MAX_MISSING_BLOBS_PER_REQUEST {
                    let n = blobs.len();
                    return Err(limit_exceeded(format!(
                        "{n} blobs in one missing_blobs; the most is {MAX_MISSING_BLOBS_PER_REQUEST}"
                    )));
                }
                let blobs = blobs.iter().map(blob_from_wire).collect::<Result<Vec<_>>>()?;
                let missing = ep.missing_blobs(blobs).await?;
                json(&missing.iter().map(blob_to_wire).collect::<Vec<WireBlob>>())
            }
            Request::BlobReceiveOffset { blob } => {
                self.check_blobs_writable()?;
                json(&ep.blob_receive_offset(&blob_from_wire(&blob)?).await?)
            }
            Request::ReadBlob { .. } | Request::AppendBlob { .. } => {
                Err(ReplicationError::PeerMisbehaved(format!("{} is served apart", request.name())).into())
            }
        }
    }

    /// A chunk of a blob this peer may read: raw bytes after a
    /// [`WireBinaryChunk`] when asked for `binary`, else base64.
    async fn read_blob(&self, digest: &str, offset: u64, max_len: usize, binary: bool) -> Result<Answer> {
        let digest: BlobDigest = digest.parse().map_err(Error::InvalidInput)?;
        if !self.may_read(&digest).await? {
            // The same answer as for a blob not stored at all, so a
            // digest cannot be used to learn what this hub holds.
            return Err(BlobError::Missing {
                digest: digest.to_string(),
            }
            .into());
        }
        let db = self.endpoint.database().clone();
        let max_len = max_len.clamp(1, MAX_BLOB_CHUNK_BYTES);
        // Read straight into the buffer the reply is framed in.
        let chunk = on_storage(move || {
            let mut chunk = ChunkBuffer::new(max_len);
            db.blob_store()
                .read_chunk_into(&digest, offset, max_len, chunk.append_to())
                .map(|()| chunk)
        })
        .await?;
        if binary {
            return Ok(Answer {
                json: json(&WireBinaryChunk {
                    length: chunk.chunk().len(),
                })?,
                bytes: Some(chunk),
            });
        }
        Ok(json(&WireBlobChunk {
            data: encode_chunk(chunk.chunk()),
        })?
        .into())
    }

    /// Appends a chunk that came as base64 `data` or, without it, as the
    /// bytes of a binary frame (the connection lets only this request
    /// carry them, and only without `data`).
    async fn append_blob(
        &self,
        blob: &WireBlob,
        offset: u64,
        data: Option<String>,
        payload: Option<Vec<u8>>,
    ) -> Result<Answer> {
        self.check_blobs_writable()?;
        let blob = blob_from_wire(blob)?;
        let bytes = match (data, payload) {
            (Some(text), None) => decode_chunk(&text, MAX_BLOB_CHUNK_BYTES).map_err(|e| match e {
                Error::InvalidInput(InvalidInput::BadBlob(why)) => limit_exceeded(why),
                other => other,
            })?,
            (None, Some(bytes)) if bytes.len() <= MAX_BLOB_CHUNK_BYTES => bytes,
            (None, Some(bytes)) => {
                return Err(limit_exceeded(format!(
                    "a blob chunk of {} bytes is past the limit of {MAX_BLOB_CHUNK_BYTES} bytes",
                    bytes.len()
                )))
            }
            _ => {
                return Err(InvalidInput::BadBlob(
                    "append_blob carries its bytes as base64 data or in a binary frame, one of the two".into(),
                )
                .into())
            }
        };
        Ok(json(&self.endpoint.append_blob(&blob, offset, bytes).await?)?.into())
    }

    /// Blob writes need a writable listener; they are not tied to one
    /// collection (the store is per database), and a blob only becomes
    /// part of a collection through a revision, which `insert` checks.
    fn check_blobs_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(ReplicationError::ReadOnly.into());
        }
        Ok(())
    }

    /// Records the blobs named by bodies served to this peer.
    fn remember_readable<'a>(&self, bodies: impl Iterator<Item = &'a str>) {
        let mut readable = self.readable_blobs.lock().unwrap_or_else(|e| e.into_inner());
        for body in bodies {
            for blob in blobs_of_canonical(body).unwrap_or_default() {
                if readable.len() >= MAX_SESSION_READABLE_BLOBS {
                    return;
                }
                readable.insert(blob.digest);
            }
        }
    }

    /// Whether this peer may read the blob `digest`: a revision it fetched
    /// named it, or (after a reconnect, or past the remembered set) the
    /// current revision of a document in a served collection names it.
    async fn may_read(&self, digest: &BlobDigest) -> Result<bool> {
        if self
            .readable_blobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(digest)
        {
            return Ok(true);
        }
        let db = self.endpoint.database().clone();
        let collections: Vec<String> = self.collections.iter().cloned().collect();
        let needle = digest.to_string();
        let named = on_storage(move || names_blob_in(&db, &collections, &needle)).await?;
        if named {
            let mut readable = self.readable_blobs.lock().unwrap_or_else(|e| e.into_inner());
            if readable.len() < MAX_SESSION_READABLE_BLOBS {
                readable.insert(*digest);
            }
        }
        Ok(named)
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

/// Whether the current revision of a document in one of `collections`
/// names the blob `digest` (a scan of those bodies: the fallback of
/// [`Session::may_read`], not its usual path).
fn names_blob_in(db: &crate::store::Database, collections: &[String], digest: &str) -> Result<bool> {
    let quoted = format!("\"{digest}\"");
    db.read(|conn| {
        let mut stmt = conn.prepare(
            "SELECT docs.body FROM docs JOIN collections ON collections.id = docs.collection \
             WHERE collections.name = ?1 AND instr(docs.body, ?2) > 0",
        )?;
        for name in collections {
            let mut rows = stmt.query(rusqlite::params![name, quoted])?;
            while let Some(row) = rows.next()? {
                let body: String = row.get(0)?;
                if blobs_of_canonical(&body)
                    .unwrap_or_default()
                    .iter()
                    .any(|b| b.digest.to_string() == digest)
                {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    })
}

/// Runs `f` (file or database work) on the blocking pool.
async fn on_storage<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Corrupt(format!("a storage task failed: {e}")))?
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
