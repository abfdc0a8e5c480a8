//! `GET/POST /{db}/_all_docs`: live documents in id order (`limit`,
//! `include_docs`), or the rows of given `keys` (deleted and missing
//! ones included, as CouchDB answers them).

use hyper::body::Incoming;
use hyper::{Method, Request};
use serde::Deserialize;
use serde_json::{json, Value};

use super::blobs::AttachmentSource;
use super::bulk_get::load_tree;
use super::http::{json_response, read_json, Reply};
use super::revision_docs::{revision_object, DocOptions};
use super::routes::DbPath;
use super::Ctx;
use crate::net::couch::wire::CouchError;
use crate::tuning::{CHANGES_BATCH_SIZE, MAX_FACE_ENTRIES};

#[derive(Deserialize)]
struct KeysBody {
    keys: Option<Vec<String>>,
}

pub(crate) async fn handle(ctx: &Ctx<'_>, path: &DbPath, request: Request<Incoming>) -> Reply {
    let collection = ctx.collection(path).await?;
    let q = &ctx.query;
    for unsupported in [
        "startkey",
        "start_key",
        "endkey",
        "end_key",
        "skip",
        "descending",
        "key",
    ] {
        if q.get(unsupported).is_some() {
            return Err(CouchError::bad_request(format!(
                "{unsupported} is not supported by this face"
            )));
        }
    }
    let options = DocOptions {
        revs: false,
        conflicts: q.flag("conflicts")?,
    };
    let include_docs = q.flag("include_docs")?;
    let keys = if request.method() == Method::POST {
        read_json::<KeysBody>(ctx, request).await?.keys
    } else {
        q.json::<Vec<String>>("keys")?
    };
    let limit = q
        .number("limit")?
        .map_or(MAX_FACE_ENTRIES, |n| usize::try_from(n).unwrap_or(usize::MAX))
        .min(MAX_FACE_ENTRIES);
    if keys.as_ref().is_some_and(|k| k.len() > MAX_FACE_ENTRIES) {
        return Err(CouchError::bad_request(format!(
            "keys lists more than {MAX_FACE_ENTRIES} ids"
        )));
    }
    let cache = ctx.connection.state.md5.clone();
    let inline = q.flag("attachments")?;
    let reply = super::blocking(move || {
        let attachments = AttachmentSource::new(collection.clone(), cache, inline);
        let ids: Vec<String> = match keys {
            Some(keys) => keys,
            None => {
                let mut ids = Vec::new();
                let mut after: Option<String> = None;
                while ids.len() < limit {
                    let page = collection
                        .live_docs(after.as_deref(), CHANGES_BATCH_SIZE.min(limit - ids.len()))
                        .map_err(|e| CouchError::from_core(&e))?;
                    ids.extend(page.items.into_iter().map(|d| d.id));
                    after = page.last_id;
                    if after.is_none() {
                        break;
                    }
                }
                ids
            }
        };
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids.into_iter().take(limit) {
            let tree = load_tree(&collection, &id)?;
            let Some(winner) = tree.as_ref().and_then(|t| t.winner()) else {
                rows.push(json!({"key": id, "error": "not_found"}));
                continue;
            };
            let mut value = json!({"rev": winner.rev.to_string()});
            if winner.deleted {
                value["deleted"] = Value::Bool(true);
            }
            let mut row = json!({"id": id, "key": id, "value": value});
            if include_docs {
                let doc = match (&tree, winner.deleted) {
                    (Some(t), false) => revision_object(&id, t, &winner.rev, options, &attachments)?.map(Value::Object),
                    _ => None,
                };
                row["doc"] = doc.unwrap_or(Value::Null);
            }
            rows.push(row);
        }
        let total = collection.count().map_err(|e| CouchError::from_core(&e))?;
        Ok(json!({"total_rows": total, "offset": 0, "rows": rows}))
    })
    .await?;
    json_response(200, &reply)
}
