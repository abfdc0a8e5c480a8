//! `GET/POST /{db}/_changes`: the normal, longpoll and continuous feeds,
//! with `since` (`0`, `now` or a sequence of ours), `limit`,
//! `style=all_docs`, `heartbeat`, `timeout` and the `_doc_ids` filter.
//!
//! Every feed streams: rows are read from the store a page at a time and
//! written as they are read, so memory stays flat however long the feed.
//! A longpoll or continuous feed waits for the database's next change,
//! writing a newline every `heartbeat` while it waits, and ends at its
//! `timeout` (capped at [`MAX_FACE_FEED_TIMEOUT`]). Feeds are never
//! compressed.
//!
//! A streamed feed holds each page it has read in the connection's and the
//! listener's byte budgets until hyper has written it, as WebSocket replies
//! are held: a client that asks for a big feed and stops reading stops the
//! feed once its connection's budget is full (with the page read last
//! waiting outside it), and the write timeout then closes it.

use std::collections::HashSet;
use std::time::Duration;

use std::sync::Arc;

use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::blobs::{AttachmentSource, Md5Cache};
use super::http::{bytes_response, parse_json, read_body, streaming_response, Chunk, Reply};
use super::revision_docs::{revision_object, DocOptions};
use super::routes::DbPath;
use super::Ctx;
use crate::net::budget::Budgets;
use crate::net::couch::wire::{encode_seq, parse_since, ChangeRow, ChangesRequest, CouchError, RevEntry, Since};
use crate::store::{Change, Collection};
use crate::tuning::{
    CHANGES_BATCH_SIZE, FACE_DEFAULT_FEED_TIMEOUT, FACE_FEED_PAGE_BYTES, MAX_FACE_BUFFERED_CHANGES, MAX_FACE_DOC_IDS,
    MAX_FACE_FEED_TIMEOUT, MAX_FACE_REQUEST_BYTES, MIN_FACE_HEARTBEAT,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Feed {
    Normal,
    Longpoll,
    Continuous,
}

/// A feed's parameters, checked.
struct FeedParams {
    feed: Feed,
    include_docs: Option<DocsIncluded>,
    since: u64,
    limit: Option<usize>,
    all_leaves: bool,
    doc_ids: Option<HashSet<String>>,
    heartbeat: Option<Duration>,
    timeout: Duration,
}

pub(crate) async fn handle(ctx: &Ctx<'_>, path: &DbPath, request: Request<Incoming>) -> Reply {
    let collection = ctx.collection(path).await?;
    let q = &ctx.query;
    let feed = match q.get("feed").unwrap_or("normal") {
        "normal" => Feed::Normal,
        "longpoll" => Feed::Longpoll,
        "continuous" => Feed::Continuous,
        other => return Err(CouchError::bad_request(format!("feed={other} is not supported"))),
    };
    if q.flag("descending")? {
        return Err(CouchError::bad_request("descending is not supported by this face"));
    }
    let include_docs = q.flag("include_docs")?.then(|| DocsIncluded {
        cache: ctx.connection.state.md5.clone(),
        conflicts: q.flag("conflicts").unwrap_or(false),
    });
    let doc_ids = match q.get("filter") {
        None => None,
        Some("_doc_ids") => Some(doc_ids(ctx, request).await?),
        Some(_) => return Err(CouchError::bad_request("only the _doc_ids filter is supported")),
    };
    let since = match q.get("since").map(parse_since).transpose()?.unwrap_or(Since::Seq(0)) {
        Since::Seq(seq) => seq,
        Since::Now => ctx.blocking_db(|db| db.last_sequence()).await?,
    };
    let limit = q
        .number("limit")?
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX).max(1));
    let all_leaves = match q.get("style") {
        None | Some("main_only") => false,
        Some("all_docs") => true,
        Some(_) => return Err(CouchError::bad_request("style must be main_only or all_docs")),
    };
    let heartbeat = match q.get("heartbeat") {
        None => None,
        Some("true") => Some(Duration::from_secs(60)),
        Some(_) => q
            .number("heartbeat")?
            .map(|ms| Duration::from_millis(ms).max(MIN_FACE_HEARTBEAT)),
    };
    let timeout = q
        .number("timeout")?
        .map_or(FACE_DEFAULT_FEED_TIMEOUT, Duration::from_millis)
        .min(MAX_FACE_FEED_TIMEOUT);
    let params = FeedParams {
        feed,
        include_docs,
        since,
        limit,
        all_leaves,
        doc_ids,
        heartbeat,
        timeout,
    };
    let content_type = if feed == Feed::Continuous {
        "text/plain; charset=utf-8"
    } else {
        "application/json"
    };
    // A short normal feed (a replicator's batch) is answered whole, with
    // its length: clients read a sized reply faster than a chunked one.
    if feed == Feed::Normal && params.limit.is_some_and(|l| l <= MAX_FACE_BUFFERED_CHANGES) {
        let (tx, mut rx) = mpsc::channel::<Chunk>(16);
        // Held whole in the budgets once built, as every sized reply.
        let run = run_feed(collection, params, FeedOut { tx, budgets: None });
        let collect = async {
            let mut out = Vec::new();
            while let Some((chunk, _)) = rx.recv().await {
                out.extend_from_slice(&chunk);
            }
            out
        };
        let (ran, out) = tokio::join!(run, collect);
        ran.map_err(|e| CouchError::new(500, "internal_server_error", e.to_string()))?;
        return Ok(bytes_response(200, content_type, out));
    }
    let (response, tx) = streaming_response(content_type);
    let out = FeedOut {
        tx,
        budgets: Some(ctx.connection.budgets.clone()),
    };
    tokio::spawn(async move {
        if let Err(e) = run_feed(collection, params, out).await {
            tracing::debug!(error = %e, "a _changes feed ended early");
        }
    });
    Ok(response)
}

/// The `doc_ids` of a `POST` body, or of the query string.
async fn doc_ids(ctx: &Ctx<'_>, request: Request<Incoming>) -> Result<HashSet<String>, CouchError> {
    let ids = if request.method() == Method::POST {
        let body = read_body(ctx, request, MAX_FACE_REQUEST_BYTES).await?;
        parse_json::<ChangesRequest>(&body.bytes)?.doc_ids
    } else {
        ctx.query.json::<Vec<String>>("doc_ids")?
    };
    let ids = ids.ok_or_else(|| CouchError::bad_request("filter=_doc_ids needs a doc_ids list"))?;
    if ids.len() > MAX_FACE_DOC_IDS {
        return Err(CouchError::bad_request(format!(
            "doc_ids lists {} ids; the limit is {MAX_FACE_DOC_IDS}",
            ids.len()
        )));
    }
    Ok(ids.into_iter().collect())
}

/// With `include_docs=true`: each row carries its winning revision.
struct DocsIncluded {
    cache: Arc<Md5Cache>,
    conflicts: bool,
}

/// Why a feed stopped before its end.
#[derive(Debug, thiserror::Error)]
enum FeedEnd {
    #[error("the client went away")]
    Gone,
    #[error("{0}")]
    Store(#[from] crate::Error),
}

/// Where a feed's text goes: the reply's channel, each chunk held in the
/// connection's budgets when the feed streams.
struct FeedOut {
    tx: mpsc::Sender<Chunk>,
    budgets: Option<Budgets>,
}

impl FeedOut {
    /// Sends `text`, first waiting for room for it in the budgets (or for
    /// the client to go away).
    async fn send(&self, text: impl Into<Bytes>) -> Result<(), FeedEnd> {
        let text = text.into();
        let held = match &self.budgets {
            None => None,
            Some(budgets) => tokio::select! {
                held = budgets.reserve(text.len()) => Some(held.ok_or(FeedEnd::Gone)?),
                () = self.tx.closed() => return Err(FeedEnd::Gone),
            },
        };
        self.tx.send((text, held)).await.map_err(|_| FeedEnd::Gone)
    }
}

async fn run_feed(collection: Collection, p: FeedParams, out: FeedOut) -> Result<(), FeedEnd> {
    let deadline = Instant::now() + p.timeout;
    let mut since = p.since;
    let mut sent = 0usize;
    let continuous = p.feed == Feed::Continuous;
    if !continuous {
        out.send("{\"results\":[\n").await?;
    }
    loop {
        let (rows, last) = read_page(&collection, &p, since, p.limit.map(|l| l - sent)).await?;
        since = since.max(last.0);
        // One write per page: a write per row costs the client a read each.
        let mut page = String::new();
        for row in &rows {
            if !continuous && sent > 0 {
                page.push_str(",\n");
            }
            page.push_str(row);
            if continuous {
                page.push('\n');
            }
            sent += 1;
        }
        if !page.is_empty() {
            out.send(page).await?;
        }
        let limit_reached = p.limit.is_some_and(|l| sent >= l);
        if limit_reached {
            break;
        }
        if last.1 {
            // More rows are there now: read them before any waiting.
            continue;
        }
        let waits = match p.feed {
            Feed::Normal => false,
            Feed::Longpoll => sent == 0,
            Feed::Continuous => true,
        };
        if !waits || !wait_for_change(&collection, since, deadline, p.heartbeat, &out).await? {
            break;
        }
    }
    if continuous {
        out.send(format!("{{\"last_seq\":{}}}\n", encode_seq(since))).await?;
    } else {
        // Changes of the whole database after `since`: an upper bound
        // (other collections, superseded sequences), 0 when caught up, and
        // free; counting rows would scan the collection on every page.
        let pending = collection.database().subscribe().borrow().saturating_sub(since);
        out.send(format!(
            "\n],\n\"last_seq\":{},\"pending\":{pending}}}\n",
            encode_seq(since)
        ))
        .await?;
    }
    Ok(())
}

/// One page of rows after `since` (filtered), as JSON text, the sequence
/// the feed is complete up to, and whether more rows may follow at once.
/// With documents, a page ends after [`FACE_FEED_PAGE_BYTES`].
async fn read_page(
    collection: &Collection,
    p: &FeedParams,
    since: u64,
    left: Option<usize>,
) -> Result<(Vec<String>, (u64, bool)), FeedEnd> {
    let page = left.unwrap_or(CHANGES_BATCH_SIZE).min(CHANGES_BATCH_SIZE);
    let c = collection.clone();
    let batch = tokio::task::spawn_blocking(move || c.changes(since, page))
        .await
        .map_err(|e| crate::Error::Corrupt(e.to_string()))??;
    let full = batch.changes.len() >= page;
    let changes: Vec<Change> = batch
        .changes
        .into_iter()
        .filter(|c| p.doc_ids.as_ref().is_none_or(|ids| ids.contains(&c.id)))
        .collect();
    let page_end = (batch.last_sequence, full);
    let (rows, page_end) = match &p.include_docs {
        None => (
            changes
                .into_iter()
                .map(|c| row(c, p.all_leaves, None).to_string())
                .collect(),
            page_end,
        ),
        Some(included) => {
            let (c, cache, all_leaves) = (collection.clone(), included.cache.clone(), p.all_leaves);
            let options = DocOptions {
                revs: false,
                conflicts: included.conflicts,
            };
            tokio::task::spawn_blocking(move || {
                let attachments = AttachmentSource::new(c.clone(), cache, false);
                let mut rows: Vec<String> = Vec::with_capacity(changes.len());
                let (mut bytes, mut end) = (0usize, page_end);
                for change in changes {
                    if bytes >= FACE_FEED_PAGE_BYTES {
                        // The rest of the batch is read again for the next page.
                        break;
                    }
                    end = (change.sequence, true);
                    let tree = c.revision_tree(&change.id)?;
                    let doc = tree
                        .as_ref()
                        .and_then(|t| revision_object(&change.id, t, &change.rev, options, &attachments).ok())
                        .flatten();
                    let text = row(change, all_leaves, Some(doc.map_or(Value::Null, Value::Object))).to_string();
                    bytes += text.len();
                    rows.push(text);
                }
                if bytes < FACE_FEED_PAGE_BYTES {
                    end = page_end;
                }
                Ok::<_, crate::Error>((rows, end))
            })
            .await
            .map_err(|e| crate::Error::Corrupt(e.to_string()))??
        }
    };
    Ok((rows, page_end))
}

/// A changes row, with `doc` when documents are included.
fn row(change: Change, all_leaves: bool, doc: Option<Value>) -> Value {
    let changes = if all_leaves {
        change.leaves.iter().map(|r| RevEntry { rev: r.to_string() }).collect()
    } else {
        vec![RevEntry {
            rev: change.rev.to_string(),
        }]
    };
    let row = ChangeRow {
        seq: encode_seq(change.sequence),
        id: change.id,
        changes,
        deleted: change.deleted,
    };
    let mut value = serde_json::to_value(row).unwrap_or(Value::Null);
    if let Some(doc) = doc {
        value["doc"] = doc;
    }
    value
}

/// Waits until the database has a change after `since` (`true`), or the
/// deadline passes (`false`), writing a newline every `heartbeat`.
async fn wait_for_change(
    collection: &Collection,
    since: u64,
    deadline: Instant,
    heartbeat: Option<Duration>,
    out: &FeedOut,
) -> Result<bool, FeedEnd> {
    let mut changes = collection.database().subscribe();
    loop {
        let beat = heartbeat.map_or(deadline, |h| (Instant::now() + h).min(deadline));
        tokio::select! {
            changed = async { changes.wait_for(|seq| *seq > since).await.is_ok() } => return Ok(changed),
            () = tokio::time::sleep_until(beat) => {
                if Instant::now() >= deadline {
                    return Ok(false);
                }
                out.send("\n").await?;
            }
            () = out.tx.closed() => return Err(FeedEnd::Gone),
        }
    }
}
