//! `POST /{db}/_revs_diff`: which of the client's revisions are missing
//! here. Ids with nothing missing are left out of the reply, as CouchDB does.
//! Like CouchDB, an entry names the `possible_ancestors` held here (leaves
//! older than a missing revision), so a client can send attachments this
//! side holds as stubs.

use hyper::body::Incoming;
use hyper::Request;

use super::http::{json_response, read_json, Reply};
use super::routes::DbPath;
use super::Ctx;
use crate::net::couch::wire::{parse_rev, CouchError, RevsDiffEntry, RevsDiffReply, RevsDiffRequest};
use crate::replication::{Endpoint, LocalEndpoint, MissingRevs};
use crate::store::Collection;
use crate::tuning::MAX_FACE_ENTRIES;

pub(crate) async fn handle(ctx: &Ctx<'_>, path: &DbPath, request: Request<Incoming>) -> Reply {
    let collection = ctx.collection(path).await?;
    let asked: RevsDiffRequest = read_json(ctx, request).await?;
    let total: usize = asked.values().map(Vec::len).sum();
    if total > MAX_FACE_ENTRIES {
        return Err(CouchError::bad_request(format!(
            "_revs_diff names {total} revisions; the limit is {MAX_FACE_ENTRIES}"
        )));
    }
    let mut revs = Vec::with_capacity(asked.len());
    for (id, list) in asked {
        let list = list.iter().map(|r| parse_rev(r)).collect::<Result<Vec<_>, _>>()?;
        revs.push((id, list));
    }
    let missing = LocalEndpoint::new(ctx.state.db.clone())
        .revs_diff(&path.collection, revs)
        .await
        .map_err(|e| CouchError::from_core(&e))?;
    let reply = super::blocking(move || Ok(with_ancestors(&collection, missing))).await?;
    json_response(200, &reply)
}

/// The reply, each entry with the leaves held here older than its newest
/// missing revision. Only documents past their first generation can have
/// any, so a push of new documents reads no revision tree.
fn with_ancestors(collection: &Collection, missing: Vec<MissingRevs>) -> RevsDiffReply {
    missing
        .into_iter()
        .map(|m| {
            let newest = m.missing.iter().map(|r| r.generation()).max().unwrap_or(0);
            let ancestors: Vec<String> = if newest > 1 {
                match collection.revision_tree(&m.id) {
                    Ok(Some(tree)) => tree
                        .leaves()
                        .into_iter()
                        .filter(|n| n.rev.generation() < newest)
                        .map(|n| n.rev.to_string())
                        .collect(),
                    _ => Vec::new(),
                }
            } else {
                Vec::new()
            };
            let entry = RevsDiffEntry {
                missing: m.missing.iter().map(ToString::to_string).collect(),
                possible_ancestors: (!ancestors.is_empty()).then_some(ancestors),
            };
            (m.id, entry)
        })
        .collect()
}
