//! `POST /{db}/_bulk_docs`: with `new_edits:false` (replication) each
//! revision is stored with its history as given, unverified (CouchDB ids
//! are not ours), all in one transaction; with `new_edits:true` (the
//! default) each document is a local edit of the revision its `_rev`
//! names. One result per refused document (and, for edits, per stored
//! one), in request order; a refused document leaves nothing stored.

use hyper::body::Incoming;
use hyper::Request;
use serde_json::Value;

use super::blobs::{attachments_to_body, Md5Cache};
use super::http::{json_response, read_json, Reply};
use super::revision_docs::body_text;
use super::routes::DbPath;
use super::Ctx;
use crate::error::Error;
use crate::net::couch::wire::{BulkDocsRequest, BulkDocsResult, CouchDoc, CouchError};
use crate::revision::{RevId, RevisionTrust};
use crate::store::Collection;
use crate::tuning::MAX_FACE_ENTRIES;

pub(crate) async fn handle(ctx: &Ctx<'_>, path: &DbPath, request: Request<Incoming>) -> Reply {
    let collection = ctx.collection(path).await?;
    ctx.require_write()?;
    let request: BulkDocsRequest = read_json(ctx, request).await?;
    if request.docs.len() > MAX_FACE_ENTRIES {
        return Err(CouchError::too_large(format!(
            "_bulk_docs holds {} documents; the limit is {MAX_FACE_ENTRIES}",
            request.docs.len()
        )));
    }
    let new_edits = request.new_edits;
    let docs: Vec<Result<CouchDoc, CouchError>> = request
        .docs
        .into_iter()
        .map(|doc| match doc {
            Value::Object(map) => CouchDoc::from_object(map, !new_edits),
            _ => Err(CouchError::bad_request("every document must be a JSON object")),
        })
        .collect();
    let cache = ctx.connection.state.md5.clone();
    let results = super::blocking(move || {
        let docs = with_attachments(&collection, &cache, docs, &mut |_| None);
        if new_edits {
            edit(&collection, docs)
        } else {
            replicate(&collection, docs)
        }
    })
    .await?;
    json_response(201, &results)
}

/// The documents with their attachments stored as blobs and named in
/// their bodies (`follows` gives multipart parts by attachment name).
pub(crate) fn with_attachments(
    collection: &Collection,
    cache: &Md5Cache,
    docs: Vec<Result<CouchDoc, CouchError>>,
    follows: &mut dyn FnMut(&str) -> Option<Vec<u8>>,
) -> Vec<Result<CouchDoc, CouchError>> {
    docs.into_iter()
        .map(|doc| {
            let mut doc = doc?;
            attachments_to_body(collection, cache, &mut doc, follows)?;
            Ok(doc)
        })
        .collect()
}

/// Stores revisions as given. Only refusals are reported, as CouchDB does.
pub(crate) fn replicate(
    collection: &Collection,
    docs: Vec<Result<CouchDoc, CouchError>>,
) -> Result<Vec<BulkDocsResult>, CouchError> {
    let revs_limit = collection.database().config().revs_limit as usize;
    collection
        .database()
        .batch(|b| {
            let mut refused = Vec::new();
            for doc in docs {
                let stored = doc.and_then(|doc| {
                    let history = doc.history(revs_limit.max(2))?;
                    let body = body_text(&doc.body)?;
                    Ok((doc, history, body))
                });
                let (doc, history, body) = match stored {
                    Ok(s) => s,
                    Err(e) => {
                        refused.push(BulkDocsResult::refused("", None, &e));
                        continue;
                    }
                };
                match b.insert_revision(
                    collection,
                    &doc.id,
                    &history,
                    doc.deleted,
                    &body,
                    RevisionTrust::Unverified,
                ) {
                    Ok(_) => {}
                    Err(e) if is_document_error(&e) => {
                        refused.push(BulkDocsResult::refused(
                            &doc.id,
                            history.first(),
                            &CouchError::from_core(&e),
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(refused)
        })
        .map_err(|e| CouchError::from_core(&e))
}

/// Local edits: each document saved over its `_rev`.
fn edit(collection: &Collection, docs: Vec<Result<CouchDoc, CouchError>>) -> Result<Vec<BulkDocsResult>, CouchError> {
    collection
        .database()
        .batch(|b| {
            let mut results = Vec::new();
            for doc in docs {
                let doc = match doc {
                    Ok(doc) => doc,
                    Err(e) => {
                        results.push(BulkDocsResult::refused("", None, &e));
                        continue;
                    }
                };
                let id = if doc.id.is_empty() {
                    uuid::Uuid::new_v4().simple().to_string()
                } else {
                    doc.id.clone()
                };
                let saved: Result<RevId, Error> = match (doc.deleted, &doc.rev) {
                    (true, Some(rev)) => b.delete(collection, &id, rev),
                    (true, None) => Err(Error::Conflict {
                        id: id.clone(),
                        current: None,
                    }),
                    (false, rev) => match body_text(&doc.body) {
                        Ok(body) => b.save(collection, &id, rev.as_ref(), &body),
                        Err(e) => {
                            results.push(BulkDocsResult::refused(&id, None, &e));
                            continue;
                        }
                    },
                };
                match saved {
                    Ok(rev) => results.push(BulkDocsResult::ok(&id, &rev)),
                    Err(e) if is_document_error(&e) => {
                        results.push(BulkDocsResult::refused(
                            &id,
                            doc.rev.as_ref(),
                            &CouchError::from_core(&e),
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(results)
        })
        .map_err(|e| CouchError::from_core(&e))
}

/// Whether an error is one document's (reported in its result) rather
/// than the store's (failing the request).
pub(crate) fn is_document_error(e: &Error) -> bool {
    matches!(
        e,
        Error::InvalidInput(_) | Error::Corrupt(_) | Error::Blob(_) | Error::Conflict { .. } | Error::NotFound { .. }
    )
}
