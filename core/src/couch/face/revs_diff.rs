//! `POST /{db}/_revs_diff`: which of the client's revisions are missing
//! here. Ids with nothing missing are left out of the reply, as CouchDB does.

use hyper::body::Incoming;
use hyper::Request;

use super::http::{json_response, read_json, Reply};
use super::routes::DbPath;
use super::Ctx;
use crate::couch::wire::{parse_rev, CouchError, RevsDiffEntry, RevsDiffReply, RevsDiffRequest};
use crate::replication::{Endpoint, LocalEndpoint};
use crate::tuning::MAX_FACE_ENTRIES;

pub(crate) async fn handle(ctx: &Ctx<'_>, path: &DbPath, request: Request<Incoming>) -> Reply {
    ctx.collection(path).await?;
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
    let reply: RevsDiffReply = missing
        .into_iter()
        .map(|m| {
            let entry = RevsDiffEntry {
                missing: m.missing.iter().map(ToString::to_string).collect(),
                possible_ancestors: None,
            };
            (m.id, entry)
        })
        .collect();
    json_response(200, &reply)
}
