//! `GET/PUT/DELETE /{db}/_local/{id}`: the checkpoints CouchDB clients
//! keep here. They are stored per user through the listener's per-peer
//! checkpoint store (so one user cannot read or overwrite another's, and
//! each has a bounded number), as `{couch_rev, doc}` so that `_rev` counts
//! `0-1`, `0-2`, ... as CouchDB's do. A checkpoint's `history` array is
//! cut, oldest entries first, to fit the stored size limit.

use hyper::body::Incoming;
use hyper::{Method, Request};
use serde_json::{json, Map, Value};

use super::http::{json_response, read_json, Reply};
use super::routes::DbPath;
use super::Ctx;
use crate::net::couch::wire::{CouchError, StoredLocalDoc};
use crate::net::peer_checkpoints::PeerCheckpoints;
use crate::net::session::Session;
use crate::replication::LocalEndpoint;
use crate::tuning::MAX_CHECKPOINT_BYTES;

/// The prefix the per-peer checkpoint store requires, and ours after it.
const STORED_PREFIX: &str = "checkpoint-couch-";

pub(crate) async fn handle(ctx: &Ctx<'_>, path: &DbPath, id: &str, request: Request<Incoming>) -> Reply {
    ctx.collection(path).await?;
    let checkpoints = PeerCheckpoints::new(&Session::peer_scope(ctx.principal()?), ctx.state.read_only);
    let store = LocalEndpoint::new(ctx.state.db.clone());
    let stored_id = format!("{STORED_PREFIX}{id}");
    let current = read(&checkpoints, &store, &path.collection, &stored_id).await?;
    match *request.method() {
        Method::GET | Method::HEAD => match current {
            Some(doc) => json_response(200, &doc.to_object(id)),
            None => Err(CouchError::not_found("missing")),
        },
        Method::PUT => {
            let doc: Map<String, Value> = read_json(ctx, request).await?;
            let next = StoredLocalDoc::next(current.as_ref(), doc)?;
            let rev = next.rev();
            write(&checkpoints, &store, &path.collection, &stored_id, next).await?;
            json_response(201, &json!({"ok": true, "id": format!("_local/{id}"), "rev": rev}))
        }
        Method::DELETE => {
            let Some(current) = current else {
                return Err(CouchError::not_found("missing"));
            };
            if ctx.query.get("rev") != Some(current.rev().as_str()) {
                return Err(CouchError::conflict("Document update conflict."));
            }
            // Emptied rather than removed: the per-peer store keeps its count.
            let emptied = StoredLocalDoc {
                couch_rev: 0,
                doc: Map::new(),
            };
            write(&checkpoints, &store, &path.collection, &stored_id, emptied).await?;
            json_response(200, &json!({"ok": true, "id": format!("_local/{id}"), "rev": "0-0"}))
        }
        _ => Err(CouchError::new(
            405,
            "method_not_allowed",
            "Only GET, PUT and DELETE are served here.",
        )),
    }
}

async fn read(
    checkpoints: &PeerCheckpoints,
    store: &LocalEndpoint,
    collection: &str,
    stored_id: &str,
) -> Result<Option<StoredLocalDoc>, CouchError> {
    let text = checkpoints
        .get(store, collection, stored_id)
        .await
        .map_err(|e| CouchError::from_core(&e))?;
    let Some(text) = text else { return Ok(None) };
    let doc: StoredLocalDoc = serde_json::from_str(&text).map_err(|e| {
        CouchError::new(
            500,
            "internal_server_error",
            format!("a stored checkpoint is unreadable: {e}"),
        )
    })?;
    // A deleted one reads as missing.
    Ok((doc.couch_rev > 0).then_some(doc))
}

async fn write(
    checkpoints: &PeerCheckpoints,
    store: &LocalEndpoint,
    collection: &str,
    stored_id: &str,
    mut doc: StoredLocalDoc,
) -> Result<(), CouchError> {
    let mut text = encode(&doc)?;
    while text.len() > MAX_CHECKPOINT_BYTES {
        let Some(Value::Array(history)) = doc.doc.get_mut("history") else {
            break;
        };
        if history.pop().is_none() {
            break;
        }
        text = encode(&doc)?;
    }
    checkpoints
        .put(store, collection, stored_id, &text)
        .await
        .map_err(|e| CouchError::from_core(&e))
}

fn encode(doc: &StoredLocalDoc) -> Result<String, CouchError> {
    serde_json::to_string(doc).map_err(|e| CouchError::new(500, "internal_server_error", e.to_string()))
}
