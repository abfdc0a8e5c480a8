//! Stores fetched revisions in the target, after the filter, and reports
//! one event per document. Before a revision is stored, every blob it
//! names is made present on the target: only the blobs the target lacks
//! are transferred, a chunk at a time ([`MAX_BLOB_CHUNK_BYTES`]), resuming
//! from the bytes a cut transfer left. A revision whose blob cannot be
//! transferred (missing at the source, bytes that do not match the digest,
//! a peer without blobs) is that document's error; the others go on.

use std::collections::HashMap;

use futures_util::StreamExt;

use super::config::{Direction, ReplicationFilter};
use super::endpoint::{Endpoint, Revision};
use super::status::DocumentEvent;
use crate::blob::reference::blobs_of_canonical;
use crate::blob::{BlobDigest, BlobRef};
use crate::error::{BlobError, Error, InvalidInput, ReplicationError, Result};
use crate::revision::RevId;
use crate::tuning::{BLOBS_IN_FLIGHT, FETCH_BATCH_BYTES, MAX_BLOB_CHUNK_BYTES};

/// A batch whose blobs are on the target, ready to be stored
/// ([`Prepared::store`]): the events of the revisions refused so far
/// (their blobs could not be brought) and the revisions to store.
pub struct Prepared {
    events: Vec<DocumentEvent>,
    ready: Vec<Revision>,
    heads: Vec<DocumentEvent>,
}

/// Readies `revisions` (those `filter` accepts) for the target: revisions
/// that came as deltas are rebuilt by the target first (so filters see
/// whole bodies), one the target cannot rebuild or check is fetched from
/// `source` again in full (at most `max_history` ids of history), and the
/// blobs the rest name are brought from `source`. Nothing is stored yet:
/// the replicator may prepare one batch while it stores the one before.
pub async fn prepare(
    source: &dyn Endpoint,
    target: &dyn Endpoint,
    collection: &str,
    direction: Direction,
    revisions: Vec<Revision>,
    filter: Option<&ReplicationFilter>,
    max_history: usize,
) -> Result<Prepared> {
    let revisions = rebuild_deltas(source, target, collection, revisions, max_history).await?;
    let accepted: Vec<Revision> = revisions
        .into_iter()
        .filter(|r| r.rev().is_some() && filter.is_none_or(|f| f(r)))
        .collect();
    let failed = transfer_blobs(source, target, &accepted).await?;
    let event = |r: &Revision, error: Option<Error>| event(collection, direction, r, error);
    let mut events = Vec::new();
    let mut ready = Vec::with_capacity(accepted.len());
    for r in accepted {
        match failed.get(&r.id) {
            Some(e) => events.extend(event(&r, Some(e.clone()))),
            None => ready.push(r),
        }
    }
    let heads = ready.iter().filter_map(|r| event(r, None)).collect();
    Ok(Prepared { events, ready, heads })
}

impl Prepared {
    /// Stores the batch in `target`; returns the events of the revisions
    /// that were new or refused (with those [`prepare`] refused). A
    /// revision the target refuses as a bad delta (a damaged delta, a base
    /// it no longer holds) is fetched from `source` in full and stored
    /// from that.
    pub async fn store(
        self,
        source: &dyn Endpoint,
        target: &dyn Endpoint,
        collection: &str,
        direction: Direction,
        max_history: usize,
    ) -> Result<Vec<DocumentEvent>> {
        let Prepared {
            mut events,
            ready,
            heads,
        } = self;
        let refused = store_ready(target, collection, ready, heads, &mut events).await?;
        if !refused.is_empty() {
            let wanted: Vec<(String, RevId)> = refused.into_iter().map(|e| (e.id, e.rev)).collect();
            let full: Vec<Revision> = fetch_full(source, collection, wanted, max_history)
                .await?
                .into_iter()
                .filter(|r| r.rev().is_some())
                .collect();
            let heads: Vec<_> = full
                .iter()
                .filter_map(|r| event(collection, direction, r, None))
                .collect();
            let refused = store_ready(target, collection, full, heads, &mut events).await?;
            events.extend(refused);
        }
        Ok(events)
    }
}

/// The event of storing (or refusing, with `error`) revision `r`; `None`
/// for a revision without an id (never stored).
fn event(collection: &str, direction: Direction, r: &Revision, error: Option<Error>) -> Option<DocumentEvent> {
    Some(DocumentEvent {
        collection: collection.to_owned(),
        id: r.id.clone(),
        rev: r.rev()?.clone(),
        direction,
        deleted: r.deleted,
        access_removed: false,
        error,
    })
}

/// Inserts `ready` into `target`, adding to `events` the event of each
/// revision that was new or refused, except those refused as bad deltas,
/// which are returned (with their error).
async fn store_ready(
    target: &dyn Endpoint,
    collection: &str,
    ready: Vec<Revision>,
    heads: Vec<DocumentEvent>,
    events: &mut Vec<DocumentEvent>,
) -> Result<Vec<DocumentEvent>> {
    if ready.is_empty() {
        return Ok(Vec::new());
    }
    let outcomes = target.insert(collection, ready).await?;
    if outcomes.len() != heads.len() {
        return Err(ReplicationError::PeerMisbehaved(format!(
            "{} insert results for {} revisions",
            outcomes.len(),
            heads.len()
        ))
        .into());
    }
    let mut refused = Vec::new();
    for (o, mut e) in outcomes.into_iter().zip(heads) {
        if matches!(o.result, Ok(false)) {
            continue;
        }
        e.error = o.result.err();
        if matches!(e.error, Some(Error::InvalidInput(InvalidInput::BadDelta(_)))) {
            refused.push(e);
        } else {
            e.id = o.id;
            events.push(e);
        }
    }
    Ok(refused)
}

/// Has `target` rebuild the revisions that came as deltas; those it cannot
/// rebuild or check are fetched from `source` in full instead.
async fn rebuild_deltas(
    source: &dyn Endpoint,
    target: &dyn Endpoint,
    collection: &str,
    revisions: Vec<Revision>,
    max_history: usize,
) -> Result<Vec<Revision>> {
    if !revisions.iter().any(Revision::needs_rebuild) {
        return Ok(revisions);
    }
    let mut rebuilt = Vec::with_capacity(revisions.len());
    let mut wanted = Vec::new();
    for (r, error) in target.apply_deltas(collection, revisions).await? {
        match (error, r.rev()) {
            (None, _) => rebuilt.push(r),
            (Some(e), Some(rev)) => {
                tracing::info!(error = %crate::net::log_safe::log_safe(&e.to_string()), "a delta did not rebuild; fetching the full body");
                wanted.push((r.id.clone(), rev.clone()));
            }
            (Some(_), None) => {}
        }
    }
    rebuilt.extend(fetch_full(source, collection, wanted, max_history).await?);
    Ok(rebuilt)
}

/// The full bodies of `wanted` from `source` (no delta bases offered).
async fn fetch_full(
    source: &dyn Endpoint,
    collection: &str,
    wanted: Vec<(String, RevId)>,
    max_history: usize,
) -> Result<Vec<Revision>> {
    let mut out = Vec::new();
    let mut next = 0;
    while next < wanted.len() {
        let rest = &wanted[next..];
        let batch = source.fetch(collection, rest, max_history, FETCH_BATCH_BYTES).await?;
        if batch.consumed == 0 || batch.consumed > rest.len() || batch.revisions.iter().any(|r| r.delta.is_some()) {
            return Err(
                ReplicationError::PeerMisbehaved("a fetch of full bodies did not answer with them".into()).into(),
            );
        }
        next += batch.consumed;
        out.extend(batch.revisions);
    }
    Ok(out)
}

/// Makes every blob the revisions name present on `target`. Returns, by
/// document id, the error of each revision whose blobs could not be
/// brought; fails as a whole only on errors that stop or retry the pass.
async fn transfer_blobs(
    source: &dyn Endpoint,
    target: &dyn Endpoint,
    revisions: &[Revision],
) -> Result<HashMap<String, Error>> {
    let mut failed: HashMap<String, Error> = HashMap::new();
    let mut named: Vec<(usize, Vec<BlobRef>)> = Vec::new();
    let mut wanted: HashMap<BlobDigest, BlobRef> = HashMap::new();
    for (i, r) in revisions.iter().enumerate() {
        match blobs_of_canonical(&r.body) {
            Ok(blobs) if blobs.is_empty() => {}
            Ok(blobs) => {
                for b in &blobs {
                    wanted.entry(b.digest).or_insert_with(|| b.clone());
                }
                named.push((i, blobs));
            }
            // The target refuses the body itself with this error.
            Err(_) => {}
        }
    }
    if wanted.is_empty() {
        return Ok(failed);
    }
    let mut unavailable: HashMap<BlobDigest, Error> = HashMap::new();
    match target.missing_blobs_resuming(wanted.into_values().collect()).await {
        Ok(missing) => {
            // A few blobs at a time, so one blob's round trips and the
            // target's fsyncs overlap another's (one at a time, the pull of
            // 200 KB photos waited on them with the CPU idle).
            let mut results = futures_util::stream::iter(missing)
                .map(|(blob, offset)| async move {
                    let result = transfer_one(source, target, &blob, offset).await;
                    (blob.digest, result)
                })
                .buffer_unordered(BLOBS_IN_FLIGHT);
            while let Some((digest, result)) = results.next().await {
                if let Err(e) = result {
                    if !is_document_error(&e) {
                        return Err(e);
                    }
                    unavailable.insert(digest, e);
                }
            }
        }
        Err(e) if is_document_error(&e) => {
            for (i, _) in &named {
                failed.insert(revisions[*i].id.clone(), e.clone());
            }
            return Ok(failed);
        }
        Err(e) => return Err(e),
    }
    for (i, blobs) in named {
        if let Some(e) = blobs.iter().find_map(|b| unavailable.get(&b.digest)) {
            failed.insert(revisions[i].id.clone(), e.clone());
        }
    }
    Ok(failed)
}

/// Moves one blob a chunk at a time, from where the target's bytes end
/// (`resume`, when the target told it with the missing blobs). An empty
/// blob has no chunk to read; one empty append at 0 publishes it (the
/// target verifies the digest of no bytes), else it stayed missing and
/// its documents were refused on every pass.
async fn transfer_one(source: &dyn Endpoint, target: &dyn Endpoint, blob: &BlobRef, resume: Option<u64>) -> Result<()> {
    if blob.length == 0 {
        target.append_blob(blob, 0, Vec::new()).await?;
        return Ok(());
    }
    let mut offset = match resume {
        Some(offset) => offset,
        None => target.blob_receive_offset(blob).await?,
    };
    while offset < blob.length {
        let want = (blob.length - offset).min(MAX_BLOB_CHUNK_BYTES as u64) as usize;
        let chunk = source.read_blob(&blob.digest, offset, want).await?;
        if chunk.is_empty() || chunk.len() > want {
            // The source's blob is shorter (or longer) than the reference says.
            return Err(BlobError::LengthMismatch {
                digest: blob.digest.to_string(),
                expected: blob.length,
                actual_at_least: offset + chunk.len() as u64,
            }
            .into());
        }
        let held = target.append_blob(blob, offset, chunk).await?;
        if held <= offset {
            return Err(ReplicationError::PeerMisbehaved(format!(
                "the target held {held} bytes of blob {} after a chunk at {offset}",
                blob.digest
            ))
            .into());
        }
        offset = held;
    }
    Ok(())
}

/// Whether an error belongs to the document(s) naming the blob rather than
/// to the whole pass.
fn is_document_error(e: &Error) -> bool {
    matches!(e, Error::Blob(b) if !matches!(b, BlobError::Io(_))) || matches!(e, Error::InvalidInput(_))
}
