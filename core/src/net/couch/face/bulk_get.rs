//! `POST /{db}/_bulk_get`: one result per `{id, rev}` entry, in request
//! order (CouchDB's replicator matches them by position), each the
//! revision with `_revisions` when `revs=true`, or a `not_found` error.
//! Also the JSON form of `GET /{db}/{id}?open_revs=...`.

use hyper::body::Incoming;
use hyper::Request;

use super::blobs::AttachmentSource;
use super::http::{json_response, read_json, Reply};
use super::revision_docs::{latest_of, revision_object, DocOptions};
use super::routes::DbPath;
use super::Ctx;
use crate::net::couch::wire::{
    parse_rev, BulkGetError, BulkGetItem, BulkGetReply, BulkGetRequest, BulkGetResult, CouchError,
};
use crate::revision::{RevId, RevTree};
use crate::store::Collection;
use crate::tuning::{MAX_FACE_ENTRIES, MAX_FACE_REPLY_BYTES};

pub(crate) async fn handle(ctx: &Ctx<'_>, path: &DbPath, request: Request<Incoming>) -> Reply {
    let collection = ctx.collection(path).await?;
    let options = DocOptions {
        revs: ctx.query.flag("revs")?,
        conflicts: false,
    };
    let request: BulkGetRequest = read_json(ctx, request).await?;
    if request.docs.len() > MAX_FACE_ENTRIES {
        return Err(CouchError::too_large(format!(
            "_bulk_get asks for {} revisions; the limit is {MAX_FACE_ENTRIES}",
            request.docs.len()
        )));
    }
    let cache = ctx.connection.state.md5.clone();
    let inline = ctx.query.flag("attachments")?;
    let latest = ctx.query.flag("latest")?;
    let reply = super::blocking(move || {
        let attachments = AttachmentSource::new(collection.clone(), cache, inline);
        let mut loaded: Option<(String, Option<RevTree>)> = None;
        let mut bytes = 0usize;
        let mut results = Vec::with_capacity(request.docs.len());
        for entry in request.docs {
            if loaded.as_ref().map(|(id, _)| id) != Some(&entry.id) {
                let tree = load_tree(&collection, &entry.id)?;
                loaded = Some((entry.id.clone(), tree));
            }
            let tree = loaded.as_ref().and_then(|(_, t)| t.as_ref());
            let wanted = entry.rev.as_deref().map(parse_rev).transpose()?;
            // With latest=true, a revision edited since is answered by the
            // leaves that descend from it.
            let found: Vec<RevId> = match (tree, tree.and_then(|t| revision_in(t, wanted.as_ref()))) {
                (Some(t), Some(rev)) if latest => latest_of(t, rev),
                (_, Some(rev)) => vec![rev],
                _ => Vec::new(),
            };
            let mut items = Vec::with_capacity(found.len().max(1));
            for rev in &found {
                // The stored body's length stands for the document's (the
                // attachments inlined are bounded by the AttachmentSource).
                bytes += tree
                    .and_then(|t| t.get(rev))
                    .and_then(|n| n.body.as_ref())
                    .map_or(0, String::len);
                if bytes > MAX_FACE_REPLY_BYTES {
                    return Err(CouchError::too_large(format!(
                        "the revisions asked for hold more than {MAX_FACE_REPLY_BYTES} bytes; ask for fewer at once"
                    )));
                }
                let doc = tree
                    .map(|t| revision_object(&entry.id, t, rev, options, &attachments))
                    .transpose()?;
                if let Some(Some(doc)) = doc {
                    items.push(BulkGetItem::Ok(doc));
                }
            }
            if items.is_empty() {
                items.push(not_found(&entry.id, entry.rev.as_deref()));
            }
            results.push(BulkGetResult {
                id: entry.id,
                docs: items,
            });
        }
        Ok(BulkGetReply { results })
    })
    .await?;
    json_response(200, &reply)
}

/// A document's revision tree (`None` when there is no such document).
pub(crate) fn load_tree(collection: &Collection, id: &str) -> Result<Option<RevTree>, CouchError> {
    collection.revision_tree(id).map_err(|e| CouchError::from_core(&e))
}

/// `wanted` if the tree has it, else (no revision named) the winner.
fn revision_in(tree: &RevTree, wanted: Option<&RevId>) -> Option<RevId> {
    match wanted {
        Some(rev) => tree.get(rev).map(|n| n.rev.clone()),
        None => tree.winner().map(|n| n.rev.clone()),
    }
}

fn not_found(id: &str, rev: Option<&str>) -> BulkGetItem {
    BulkGetItem::Error(BulkGetError {
        id: id.to_owned(),
        rev: rev.unwrap_or_default().to_owned(),
        error: "not_found".into(),
        reason: "missing".into(),
    })
}
