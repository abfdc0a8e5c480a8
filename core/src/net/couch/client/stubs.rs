//! Attachment bytes moved only when the other side lacks them.
//!
//! Push: for a revision with blobs whose history the target may share, the
//! target's nearest ancestor of it (from `_revs_diff`'s
//! `possible_ancestors`, else asked with a second `_revs_diff` of the
//! revision's history) is read without bytes (`_bulk_get`), and each
//! attachment whose name, length and MD5 match the target's goes as the
//! target's stub (its `revpos` too, which CouchDB checks). CouchDB takes a
//! stub by name and `revpos` in that ancestor, PouchDB by digest, Outpost's
//! face by digest; should the target still refuse one (`missing_stub`),
//! the documents go again with their bytes.
//!
//! Pull: revisions of documents the local database holds with blobs are
//! fetched without attachment bytes; each stub is matched by name and MD5
//! with the blob an earlier local revision holds (the bytes stay home),
//! and only the others are fetched, one attachment per request
//! (`GET /{db}/{id}/{name}?rev=`), as PouchDB's replicator does.
//! `atts_since` is not used: PouchDB (express-pouchdb) ignores it.

use std::collections::{BTreeMap, HashMap, HashSet};

use hyper::Method;
use serde_json::{Map, Value};

use super::docs::{content_type_of, fetched_blob};
use super::http::encode;
use super::CouchEndpoint;
use crate::blob::reference::blobs_of_canonical;
use crate::blob::BlobRef;
use crate::error::Result;
use crate::net::couch::known_blobs::{earlier_blob_with_md5, Md5Cache};
use crate::net::couch::wire::{Attachment, RevsDiffReply};
use crate::replication::Revision;
use crate::revision::RevId;
use crate::store::Database;
use crate::tuning::{COUCH_ANCESTOR_PROBE_DEPTH, MAX_BLOB_BYTES, MAX_COUCH_ANCESTORS_KEPT, MAX_COUCH_ANSWER_BYTES};

/// Attachments of one pulled revision matched with blobs, by name.
pub(super) type KnownStubs = HashMap<String, BlobRef>;

/// The attachments a target holds for some pushed revisions, by index.
pub(super) type HeldAttachments = HashMap<usize, BTreeMap<String, Attachment>>;

impl CouchEndpoint {
    /// Remembers the `possible_ancestors` a `_revs_diff` answered for a
    /// document, for the push of its revisions.
    pub(super) fn note_ancestors(&self, collection: &str, id: &str, ancestors: &[String]) {
        let revs: Vec<RevId> = ancestors.iter().filter_map(|r| r.parse().ok()).collect();
        let mut kept = self.ancestors.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= MAX_COUCH_ANCESTORS_KEPT {
            kept.clear();
        }
        kept.insert((collection.to_owned(), id.to_owned()), revs);
    }

    /// The target's attachments of the nearest ancestor it holds of each
    /// revision with blobs, by index in `revisions`. Best effort: what
    /// cannot be learnt goes with its bytes.
    pub(super) async fn held_attachments(&self, collection: &str, revisions: &[Revision]) -> HeldAttachments {
        let with_blobs: Vec<usize> = (0..revisions.len())
            .filter(|&i| revisions[i].history.len() > 1)
            .filter(|&i| blobs_of_canonical(&revisions[i].body).is_ok_and(|b| !b.is_empty()))
            .collect();
        if with_blobs.is_empty() {
            return HeldAttachments::new();
        }
        match self.target_attachments(collection, revisions, with_blobs).await {
            Ok(held) => held,
            Err(e) => {
                tracing::info!(url = %self.url, error = %e, "cannot tell which attachments the server holds; sending their bytes");
                HeldAttachments::new()
            }
        }
    }

    async fn target_attachments(
        &self,
        collection: &str,
        revisions: &[Revision],
        with_blobs: Vec<usize>,
    ) -> Result<HeldAttachments> {
        let mut nearest: HashMap<usize, RevId> = HashMap::new();
        let mut probe = Vec::new();
        {
            let mut kept = self.ancestors.lock().unwrap_or_else(|e| e.into_inner());
            for i in with_blobs {
                let r = &revisions[i];
                match kept.remove(&(collection.to_owned(), r.id.clone())) {
                    // The highest of the history the target has as a leaf.
                    Some(leaves) => {
                        if let Some(rev) = r.history[1..].iter().find(|h| leaves.contains(h)) {
                            nearest.insert(i, rev.clone());
                        }
                    }
                    None => probe.push(i),
                }
            }
        }
        nearest.extend(self.probe_ancestors(collection, revisions, &probe).await?);
        if nearest.is_empty() {
            return Ok(HeldAttachments::new());
        }
        let mut wanted: Vec<(String, RevId)> = nearest
            .iter()
            .map(|(&i, rev)| (revisions[i].id.clone(), rev.clone()))
            .collect();
        wanted.sort();
        wanted.dedup();
        let mut theirs: HashMap<(String, String), BTreeMap<String, Attachment>> = HashMap::new();
        for doc in self.fetch_with(collection, &wanted, false).await? {
            let key = match (doc.get("_id"), doc.get("_rev")) {
                (Some(Value::String(id)), Some(Value::String(rev))) => (id.clone(), rev.clone()),
                _ => continue,
            };
            let attachments = doc
                .get("_attachments")
                .cloned()
                .and_then(|a| serde_json::from_value(a).ok())
                .unwrap_or_default();
            theirs.insert(key, attachments);
        }
        Ok(nearest
            .into_iter()
            .filter_map(|(i, rev)| {
                let held = theirs.get(&(revisions[i].id.clone(), rev.to_string()))?;
                Some((i, held.clone()))
            })
            .collect())
    }

    /// The nearest ancestor the target holds of each revision of `probe`,
    /// from a `_revs_diff` of their histories.
    async fn probe_ancestors(
        &self,
        collection: &str,
        revisions: &[Revision],
        probe: &[usize],
    ) -> Result<HashMap<usize, RevId>> {
        if probe.is_empty() {
            return Ok(HashMap::new());
        }
        let ancestors = |i: usize| revisions[i].history.iter().skip(1).take(COUCH_ANCESTOR_PROBE_DEPTH);
        let mut request: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for &i in probe {
            request
                .entry(revisions[i].id.as_str())
                .or_default()
                .extend(ancestors(i).map(ToString::to_string));
        }
        let uri = self.uri(collection, "/_revs_diff");
        let body = serde_json::to_value(&request).unwrap_or(Value::Null);
        let answer = self
            .call(Method::POST, &uri, Some(&body), MAX_COUCH_ANSWER_BYTES)
            .await?;
        if !answer.ok() {
            return Err(answer.error());
        }
        let reply: RevsDiffReply = answer.json("_revs_diff")?;
        let mut found = HashMap::new();
        for &i in probe {
            let missing = reply.get(&revisions[i].id).map(|e| &e.missing);
            let held = ancestors(i).find(|rev| missing.is_none_or(|m| !m.contains(&rev.to_string())));
            if let Some(rev) = held {
                found.insert(i, rev.clone());
            }
        }
        Ok(found)
    }

    /// Ids of `wanted` whose revision has ancestors and whose document the
    /// local database holds with blobs: these are fetched without bytes.
    pub(super) async fn docs_with_blobs(&self, collection: &str, wanted: &[(String, RevId)]) -> HashSet<String> {
        let Some(db) = self.local.clone() else {
            return HashSet::new();
        };
        let ids: Vec<String> = wanted
            .iter()
            .filter(|(_, rev)| rev.generation() > 1)
            .map(|(id, _)| id.clone())
            .collect();
        if ids.is_empty() {
            return HashSet::new();
        }
        let collection = collection.to_owned();
        let found = tokio::task::spawn_blocking(move || -> Result<HashSet<String>> {
            let local = db.collection(&collection)?;
            let mut found = HashSet::new();
            for id in ids {
                let Some(tree) = local.revision_tree(&id)? else {
                    continue;
                };
                let holds = tree
                    .nodes()
                    .iter()
                    .filter_map(|n| n.body.as_deref())
                    .any(|body| blobs_of_canonical(body).is_ok_and(|b| !b.is_empty()));
                if holds {
                    found.insert(id);
                }
            }
            Ok(found)
        })
        .await;
        // A collection not created here yet holds nothing.
        found.ok().and_then(Result::ok).unwrap_or_default()
    }

    /// Matches the stubs of fetched documents with blobs: a blob an earlier
    /// local revision holds under the same name with the same MD5, else the
    /// bytes fetched alone (kept for the inserter). By `(id, rev)`.
    pub(super) async fn resolve_stubs(
        &self,
        collection: &str,
        docs: &[Map<String, Value>],
    ) -> Result<HashMap<(String, String), KnownStubs>> {
        let stubs: Vec<Stub> = docs.iter().flat_map(stubs_of).collect();
        if stubs.is_empty() {
            return Ok(HashMap::new());
        }
        let (mut known, unknown) = self.match_locally(collection, stubs).await;
        for stub in unknown {
            let uri = self.uri(
                collection,
                &format!("/{}/{}?rev={}", encode(&stub.id), encode(&stub.name), encode(&stub.rev)),
            );
            let max = stub.attachment.length.unwrap_or(MAX_BLOB_BYTES).min(MAX_BLOB_BYTES) as usize;
            let answer = self.call(Method::GET, &uri, None, max).await?;
            if !answer.ok() {
                return Err(answer.error());
            }
            let blob = fetched_blob(&stub.id, &stub.name, &stub.attachment, &answer.body)?;
            self.pulled.keep(vec![(blob.clone(), answer.body.to_vec())]);
            known.entry((stub.id, stub.rev)).or_default().insert(stub.name, blob);
        }
        Ok(known)
    }

    /// Stubs matched with local blobs, and the rest.
    async fn match_locally(
        &self,
        collection: &str,
        stubs: Vec<Stub>,
    ) -> (HashMap<(String, String), KnownStubs>, Vec<Stub>) {
        let Some(db) = self.local.clone() else {
            return (HashMap::new(), stubs);
        };
        let collection = collection.to_owned();
        let md5 = self.md5.clone();
        let matched = tokio::task::spawn_blocking(move || {
            let mut known: HashMap<(String, String), KnownStubs> = HashMap::new();
            let mut unknown = Vec::new();
            for stub in stubs {
                match local_blob(&db, &collection, &md5, &stub) {
                    Some(blob) => {
                        known.entry((stub.id, stub.rev)).or_default().insert(stub.name, blob);
                    }
                    None => unknown.push(stub),
                }
            }
            (known, unknown)
        })
        .await;
        matched.unwrap_or_default()
    }
}

/// One stub of a fetched document.
struct Stub {
    id: String,
    rev: String,
    name: String,
    attachment: Attachment,
}

/// The stubs (attachments without bytes) of a document object.
fn stubs_of(doc: &Map<String, Value>) -> Vec<Stub> {
    let (Some(Value::String(id)), Some(Value::String(rev)), Some(Value::Object(attachments))) =
        (doc.get("_id"), doc.get("_rev"), doc.get("_attachments"))
    else {
        return Vec::new();
    };
    attachments
        .iter()
        .filter_map(|(name, a)| {
            let attachment: Attachment = serde_json::from_value(a.clone()).ok()?;
            (attachment.data.is_none() && attachment.follows != Some(true)).then(|| Stub {
                id: id.clone(),
                rev: rev.clone(),
                name: name.clone(),
                attachment,
            })
        })
        .collect()
}

/// The local blob with a stub's name, length and MD5, if it is held.
fn local_blob(db: &Database, collection: &str, md5: &Md5Cache, stub: &Stub) -> Option<BlobRef> {
    let digest = stub.attachment.digest.as_deref().filter(|d| d.starts_with("md5-"))?;
    let local = db.collection(collection).ok()?;
    let tree = local.revision_tree(&stub.id).ok()??;
    let blob = earlier_blob_with_md5(&local, md5, Some(&tree), &stub.name, digest)?;
    let same = stub.attachment.length.is_none_or(|l| l == blob.length);
    let held = db.blob_store().contains(&blob).unwrap_or(false);
    (same && held).then(|| BlobRef {
        content_type: content_type_of(&stub.attachment),
        ..blob
    })
}

/// CouchDB's error name for a stub that names bytes the server lacks.
pub(super) const MISSING_STUB: &str = "missing_stub";

/// Whether a `_bulk_docs` refusal says a stub named bytes the server lacks.
pub(super) fn is_missing_stub(code: &str) -> bool {
    code == MISSING_STUB
}
