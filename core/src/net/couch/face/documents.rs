//! `GET/PUT/DELETE /{db}/{id}` and `GET/PUT /{db}/{id}/{attachment}`.
//!
//! `GET` answers the winner, or `?rev=`, with `_revisions` for `revs=true`
//! and `_conflicts` for `conflicts=true`; `?open_revs=all` or
//! `open_revs=[...]` answers a JSON array of `{"ok": doc}` and
//! `{"missing": rev}`. `PUT` is a local edit over `_rev` (or `?rev=`), or
//! with `?new_edits=false` a revision stored as given.

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{json, Map, Value};

use super::blobs::AttachmentSource;
use super::bulk_docs::{replicate, with_attachments};
use super::bulk_get::load_tree;
use super::http::{bytes_response, json_response, parse_json, read_body, streaming_response, FaceBody, Reply};
use super::revision_docs::{body_text, latest_of, revision_object, DocOptions};
use super::routes::DbPath;
use super::Ctx;
use crate::blob::reference::blobs_in_body;
use crate::blob::BlobRef;
use crate::net::couch::attachments::{md5_digest, NESTED_PREFIX};
use crate::net::couch::multipart::{self, boundary_of, MultipartWriter};
use crate::net::couch::wire::{parse_rev, CouchDoc, CouchError};
use crate::revision::RevId;
use crate::tuning::{BLOB_IO_BUFFER_BYTES, MAX_FACE_ENTRIES, MAX_FACE_MULTIPART_PARTS, MAX_FACE_REQUEST_BYTES};
use hyper::body::Bytes;
use std::collections::{HashMap, VecDeque};

pub(crate) async fn handle(ctx: &Ctx<'_>, path: &DbPath, id: &str, request: Request<Incoming>) -> Reply {
    match *request.method() {
        Method::GET | Method::HEAD => {
            let multipart = request
                .headers()
                .get(hyper::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("multipart/mixed"));
            get(ctx, path, id, multipart).await
        }
        Method::PUT => put(ctx, path, id, request).await,
        Method::DELETE => delete(ctx, path, id).await,
        _ => Err(CouchError::new(
            405,
            "method_not_allowed",
            "Only GET, PUT and DELETE are served here.",
        )),
    }
}

async fn get(ctx: &Ctx<'_>, path: &DbPath, id: &str, multipart: bool) -> Reply {
    let collection = ctx.collection(path).await?;
    let q = &ctx.query;
    let options = DocOptions {
        revs: q.flag("revs")?,
        conflicts: q.flag("conflicts")?,
    };
    let rev = q.get("rev").map(parse_rev).transpose()?;
    let open_revs = match q.get("open_revs") {
        None => None,
        Some("all") => Some(None),
        Some(_) => {
            let list: Vec<String> = q.json("open_revs")?.unwrap_or_default();
            if list.len() > MAX_FACE_ENTRIES {
                return Err(CouchError::bad_request("open_revs names too many revisions"));
            }
            Some(Some(
                list.iter().map(|r| parse_rev(r)).collect::<Result<Vec<RevId>, _>>()?,
            ))
        }
    };
    let latest = q.flag("latest")?;
    let id = id.to_owned();
    let cache = ctx.connection.state.md5.clone();
    let inline = q.flag("attachments")?;
    let reply = super::blocking(move || {
        let attachments = AttachmentSource::new(collection.clone(), cache, inline);
        let tree = load_tree(&collection, &id)?;
        if let Some(open_revs) = open_revs {
            let Some(tree) = tree else {
                let missing = open_revs.unwrap_or_default();
                return Ok(json!(missing
                    .iter()
                    .map(|r| json!({"missing": r.to_string()}))
                    .collect::<Vec<_>>()));
            };
            let revs: Vec<RevId> = match open_revs {
                None => tree.leaves().iter().map(|n| n.rev.clone()).collect(),
                Some(list) => list
                    .into_iter()
                    .flat_map(|r| if latest { latest_of(&tree, r) } else { vec![r] })
                    .collect(),
            };
            let mut out = Vec::with_capacity(revs.len());
            for rev in revs {
                out.push(match revision_object(&id, &tree, &rev, options, &attachments)? {
                    Some(doc) => json!({"ok": doc}),
                    None => json!({"missing": rev.to_string()}),
                });
            }
            return Ok(Value::Array(out));
        }
        let tree = tree.ok_or_else(|| CouchError::not_found("missing"))?;
        let winner = tree.winner().ok_or_else(|| CouchError::not_found("missing"))?;
        if rev.is_none() && winner.deleted {
            return Err(CouchError::not_found("deleted"));
        }
        let rev = rev.unwrap_or_else(|| winner.rev.clone());
        let options = DocOptions {
            conflicts: options.conflicts && rev == winner.rev,
            ..options
        };
        match revision_object(&id, &tree, &rev, options, &attachments)? {
            Some(doc) => Ok(Value::Object(doc)),
            None => Err(CouchError::not_found("missing")),
        }
    })
    .await?;
    match reply {
        Value::Array(revisions) if multipart => Ok(multipart_mixed(&revisions)),
        reply => json_response(200, &reply),
    }
}

/// An `open_revs` reply as `multipart/mixed`: one JSON part per revision
/// (`{"missing": rev}` for those not found), attachments inline.
fn multipart_mixed(revisions: &[Value]) -> Response<FaceBody> {
    let boundary = MultipartWriter::random_boundary();
    let mut writer = MultipartWriter::new(&boundary);
    for revision in revisions {
        let part = revision.get("ok").unwrap_or(revision);
        writer.part(&[("Content-Type", "application/json")], part.to_string().as_bytes());
    }
    bytes_response(
        200,
        &format!("multipart/mixed; boundary=\"{boundary}\""),
        writer.finish(),
    )
}

/// The attachment parts after the document part of a `multipart/related`
/// body: by `Content-Disposition` file name, or else in order.
#[derive(Default)]
struct FollowingParts {
    named: HashMap<String, Vec<u8>>,
    unnamed: VecDeque<Vec<u8>>,
}

impl FollowingParts {
    /// The document and its attachment parts.
    fn split(body: &[u8], content_type: &str) -> Result<(Map<String, Value>, FollowingParts), CouchError> {
        let boundary = boundary_of(content_type)?;
        let parts = multipart::parse(body, &boundary, MAX_FACE_MULTIPART_PARTS)?;
        let (first, rest) = parts
            .split_first()
            .ok_or_else(|| CouchError::bad_request("the multipart body has no document part"))?;
        let doc = parse_json(first.body)?;
        let mut following = FollowingParts::default();
        for part in rest {
            if part
                .header("content-encoding")
                .is_some_and(|e| !e.eq_ignore_ascii_case("identity"))
            {
                return Err(CouchError::new(
                    415,
                    "unsupported_media_type",
                    "compressed attachment parts are not accepted; send them unencoded",
                ));
            }
            match part.filename() {
                Some(name) => {
                    following.named.insert(name, part.body.to_vec());
                }
                None => following.unnamed.push_back(part.body.to_vec()),
            }
        }
        Ok((doc, following))
    }

    fn take(&mut self, name: &str) -> Option<Vec<u8>> {
        self.named.remove(name).or_else(|| self.unnamed.pop_front())
    }
}

async fn put(ctx: &Ctx<'_>, path: &DbPath, id: &str, request: Request<Incoming>) -> Reply {
    let collection = ctx.collection(path).await?;
    ctx.require_write()?;
    let new_edits = ctx.query.get("new_edits") != Some("false");
    let query_rev = ctx.query.get("rev").map(parse_rev).transpose()?;
    let content_type = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let body = read_body(ctx, request, MAX_FACE_REQUEST_BYTES).await?;
    let (map, mut parts): (Map<String, Value>, FollowingParts) = if content_type.starts_with("multipart/related") {
        FollowingParts::split(&body.bytes, &content_type)?
    } else {
        (parse_json(&body.bytes)?, FollowingParts::default())
    };
    let mut doc = CouchDoc::from_object(map, false)?;
    if !doc.id.is_empty() && doc.id != id {
        return Err(CouchError::bad_request("the _id in the body is not the id in the URL"));
    }
    doc.id = id.to_owned();
    if doc.rev.is_none() {
        doc.rev = query_rev;
    }
    if !new_edits {
        let rev = doc.history(1)?.remove(0);
        let cache = ctx.connection.state.md5.clone();
        let refused = super::blocking(move || {
            let docs = with_attachments(&collection, &cache, vec![Ok(doc)], &mut |name| parts.take(name));
            replicate(&collection, docs)
        })
        .await?;
        if let Some(r) = refused.first() {
            let error = r.error.as_deref().unwrap_or("bad_request");
            let status = match error {
                "missing_stub" => 412,
                "too_large" => 413,
                "unsupported_media_type" => 415,
                _ => 400,
            };
            return Err(CouchError::new(status, error, r.reason.clone().unwrap_or_default()));
        }
        return json_response(201, &json!({"ok": true, "id": id, "rev": rev.to_string()}));
    }
    let (id_owned, parent, deleted) = (id.to_owned(), doc.rev.clone(), doc.deleted);
    let cache = ctx.connection.state.md5.clone();
    let rev = super::blocking(move || {
        let mut docs = with_attachments(&collection, &cache, vec![Ok(doc)], &mut |name| parts.take(name));
        let doc = docs.remove(0)?;
        let body = body_text(&doc.body)?;
        let saved = match (deleted, &parent) {
            (true, Some(parent)) => collection.delete(&id_owned, parent),
            _ => collection.save(&id_owned, parent.as_ref(), &body),
        };
        saved.map_err(|e| CouchError::from_core(&e))
    })
    .await?;
    json_response(201, &json!({"ok": true, "id": id, "rev": rev.to_string()}))
}

async fn delete(ctx: &Ctx<'_>, path: &DbPath, id: &str) -> Reply {
    let collection = ctx.collection(path).await?;
    ctx.require_write()?;
    let rev = ctx
        .query
        .get("rev")
        .map(parse_rev)
        .transpose()?
        .ok_or_else(|| CouchError::conflict("Document update conflict: a rev is needed to delete."))?;
    let id_owned = id.to_owned();
    let rev = super::blocking(move || {
        collection
            .delete(&id_owned, &rev)
            .map_err(|e| CouchError::from_core(&e))
    })
    .await?;
    json_response(200, &json!({"ok": true, "id": id, "rev": rev.to_string()}))
}

/// `GET/PUT/DELETE /{db}/{id}/{name}`: an attachment's bytes (streamed
/// from the blob file), or a new revision adding, replacing or removing it.
pub(crate) async fn attachment(
    ctx: &Ctx<'_>,
    path: &DbPath,
    id: &str,
    name: &str,
    request: Request<Incoming>,
) -> Reply {
    let collection = ctx.collection(path).await?;
    let rev = ctx.query.get("rev").map(parse_rev).transpose()?;
    match *request.method() {
        Method::GET | Method::HEAD => {
            let (id, name) = (id.to_owned(), name.to_owned());
            let c = collection.clone();
            let blob = super::blocking(move || {
                let doc = match &rev {
                    Some(rev) => c.get_revision(&id, rev),
                    None => c.get(&id).map(|d| d.filter(|d| !d.deleted)),
                }
                .map_err(|e| CouchError::from_core(&e))?
                .ok_or_else(|| CouchError::not_found("missing"))?;
                let body: Map<String, Value> = parse_json(doc.body.as_bytes())?;
                let wanted = name
                    .strip_prefix(NESTED_PREFIX)
                    .filter(|p| p.starts_with('/'))
                    .unwrap_or(&name);
                blobs_in_body(&body)
                    .map_err(CouchError::from)?
                    .into_iter()
                    .find(|b| b.name == wanted)
                    .map(|b| b.blob)
                    .ok_or_else(|| CouchError::not_found("Document is missing attachment"))
            })
            .await?;
            Ok(blob_response(collection, blob))
        }
        Method::PUT | Method::DELETE => {
            ctx.require_write()?;
            let is_put = request.method() == Method::PUT;
            let content_type = request
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = if is_put {
                Some(read_body(ctx, request, MAX_FACE_REQUEST_BYTES).await?)
            } else {
                None
            };
            let (id_owned, name) = (id.to_owned(), name.to_owned());
            let cache = ctx.connection.state.md5.clone();
            let rev = super::blocking(move || {
                let current = collection.get(&id_owned).map_err(|e| CouchError::from_core(&e))?;
                let mut body: Map<String, Value> = match &current {
                    Some(doc) if !doc.deleted => parse_json(doc.body.as_bytes())?,
                    _ => Map::new(),
                };
                match bytes {
                    Some(bytes) => {
                        let blob = collection
                            .save_blob(&bytes.bytes[..], content_type.as_deref())
                            .map_err(|e| CouchError::from_core(&e))?;
                        cache.remember(blob.digest, md5_digest(&bytes.bytes));
                        body.insert(name, blob.to_json());
                    }
                    None => {
                        if body.remove(&name).is_none() {
                            return Err(CouchError::not_found("Document is missing attachment"));
                        }
                    }
                }
                collection
                    .save(&id_owned, rev.as_ref(), &body_text(&body)?)
                    .map_err(|e| CouchError::from_core(&e))
            })
            .await?;
            let status = if is_put { 201 } else { 200 };
            json_response(status, &json!({"ok": true, "id": id, "rev": rev.to_string()}))
        }
        _ => Err(CouchError::new(
            405,
            "method_not_allowed",
            "Only GET, PUT and DELETE are served here.",
        )),
    }
}

/// A reply streaming a blob's bytes from its file.
fn blob_response(collection: crate::store::Collection, blob: BlobRef) -> Response<FaceBody> {
    let content_type = blob
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let (mut response, tx) = streaming_response("application/octet-stream");
    let headers = response.headers_mut();
    if let Ok(v) = hyper::header::HeaderValue::from_str(&content_type) {
        headers.insert(hyper::header::CONTENT_TYPE, v);
    }
    headers.insert(
        hyper::header::CONTENT_LENGTH,
        hyper::header::HeaderValue::from(blob.length),
    );
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let Ok(mut reader) = collection.blob(&blob.digest) else {
            return;
        };
        let mut buffer = vec![0u8; BLOB_IO_BUFFER_BYTES];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.blocking_send((Bytes::copy_from_slice(&buffer[..n]), None)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    response
}
