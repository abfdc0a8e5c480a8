//! Live queries: a query whose results are delivered again whenever a
//! committed change (local or replicated) can affect them.
//!
//! A change listener forwards the changed ids to a worker thread, so the
//! writer that committed never runs the query. The worker drains what has
//! queued, and re-runs the query only if a changed document was among the
//! last results or matches now (or, with `skip`, always: a change before
//! the window shifts it); it delivers the new results only if they differ.

use std::collections::HashSet;
use std::sync::mpsc;

use super::request::Query;
use super::run::find_in;
use crate::error::Result;
use crate::listeners::ListenerToken;
use crate::store::{Collection, Document};
use crate::tuning::LIVE_QUERY_MAX_CHECKED_IDS;

/// A running live query; dropping it (or [`LiveQuery::stop`]) stops it.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::mpsc;
/// use outpost_core::{Database, DatabaseConfig, Query};
/// let db = Database::open(dir.path().join("camp.db"), DatabaseConfig::default()).unwrap();
/// let children = db.default_collection().unwrap();
/// let (tx, rx) = mpsc::channel();
/// let live = children
///     .live_query(Query::new(r#"{"camp": "north"}"#).unwrap(), move |docs| {
///         let _ = tx.send(docs.len());
///     })
///     .unwrap();
/// assert_eq!(rx.recv().unwrap(), 0); // the first results
/// children.save("c1", None, r#"{"camp":"north"}"#).unwrap();
/// assert_eq!(rx.recv().unwrap(), 1);
/// live.stop();
/// ```
#[must_use = "the live query stops when dropped"]
pub struct LiveQuery {
    _token: ListenerToken,
}

impl LiveQuery {
    /// Stops delivering results.
    pub fn stop(self) {}
}

impl From<LiveQuery> for ListenerToken {
    /// The token that keeps the live query running (for handles that
    /// manage listeners as tokens).
    fn from(live: LiveQuery) -> ListenerToken {
        live._token
    }
}

impl std::fmt::Debug for LiveQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveQuery")
    }
}

impl Collection {
    /// Runs `query` now and again after every committed change that can
    /// affect its results (local writes and replicated ones alike), calling
    /// `on_results` from a worker thread with each new result set: first
    /// the current results, then each time they change. A query that fails
    /// later (the database was closed) stops and logs why.
    ///
    /// # Errors
    /// The query's errors, from the first run.
    pub fn live_query(&self, query: Query, on_results: impl Fn(&[Document]) + Send + 'static) -> Result<LiveQuery> {
        let first = self.find(&query)?;
        let (sender, receiver) = mpsc::channel::<Vec<String>>();
        let token = self.add_change_listener(move |event| {
            // The worker has gone only if it stopped on an error.
            let _ = sender.send(event.doc_ids.clone());
        });
        let collection = self.clone();
        std::thread::Builder::new()
            .name("outpost-live-query".into())
            .spawn(move || watch(collection, query, first, receiver, on_results))
            .map_err(|e| crate::Error::Corrupt(format!("cannot start a live query thread: {e}")))?;
        Ok(LiveQuery { _token: token })
    }
}

/// The worker: delivers `last`, then waits for changes until the listener
/// is removed (its sender dropped).
fn watch(
    collection: Collection,
    query: Query,
    mut last: Vec<Document>,
    changes: mpsc::Receiver<Vec<String>>,
    on_results: impl Fn(&[Document]),
) {
    on_results(&last);
    while let Ok(first) = changes.recv() {
        let mut changed: HashSet<String> = first.into_iter().collect();
        while let Ok(more) = changes.try_recv() {
            changed.extend(more);
        }
        match refresh(&collection, &query, &last, &changed) {
            Ok(Some(now)) if now != last => {
                on_results(&now);
                last = now;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "live query stopped");
                return;
            }
        }
    }
}

/// The new results, or `None` when the changes cannot affect them.
fn refresh(
    collection: &Collection,
    query: &Query,
    last: &[Document],
    changed: &HashSet<String>,
) -> Result<Option<Vec<Document>>> {
    let may_affect = query.skip > 0
        || changed.len() > LIVE_QUERY_MAX_CHECKED_IDS
        || last.iter().any(|d| changed.contains(&d.id))
        || matches_any(collection, query, changed)?;
    if !may_affect {
        return Ok(None);
    }
    collection
        .database()
        .read(|conn| find_in(conn, collection, query))
        .map(Some)
}

/// Whether any of `ids` matches the query's selector now.
fn matches_any(collection: &Collection, query: &Query, ids: &HashSet<String>) -> Result<bool> {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let ids_json = serde_json::to_string(&ids).map_err(|e| crate::Error::Corrupt(e.to_string()))?;
    collection.count_matching_ids(query, &ids_json).map(|n| n > 0)
}
