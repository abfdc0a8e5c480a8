//! `CouchEndpoint`: a database on any CouchDB-protocol server (CouchDB,
//! PouchDB Server / express-pouchdb, Cloudant, an Outpost listener's HTTP
//! face) as one side of a replication, over HTTP(S).
//!
//! It speaks what CouchDB's replicator speaks: `GET /{db}` (and `PUT` with
//! create-target), `_changes?style=all_docs` (longpoll for continuous
//! replication), `_revs_diff`, `_bulk_get?revs=true&attachments=true` with a
//! fallback to `GET /{db}/{id}?open_revs=..&revs=true&latest=true` for
//! servers without it, `_bulk_docs` with `new_edits:false`, and checkpoints
//! in `_local` documents shaped like CouchDB's ([`checkpoint_doc`]).
//! Collections map to databases as the face names them: `_default` is the
//! URL's database, a named collection `{db}.{collection}`.
//!
//! Every answer is untrusted: bounded in bytes (`tuning.rs`), parsed into
//! checked types (`couch::wire`), sequences bounded ([`Sequence`]), and
//! revisions stored as [`RevisionTrust::Unverified`] (their ids are not
//! ours to check).

mod checkpoint_doc;
mod docs;
mod held_blobs;
mod http;
mod stubs;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::StreamExt;
use hyper::{Method, StatusCode};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use self::held_blobs::{PulledBlobs, StagedBlobs};
use self::http::{encode, is_too_large, Answer, HttpClient};
use crate::blob::{BlobDigest, BlobRef};
use crate::error::{BlobError, Error, InvalidInput, ReplicationError, Result};
use crate::net::couch::known_blobs::Md5Cache;
use crate::net::couch::wire::{Attachment, BulkDocsResult, ChangeRow, RevsDiffReply};
use crate::net::{ClientAuth, RemoteConfig};
use crate::replication::{
    ChangesPage, Endpoint, FetchedBatch, InsertOutcome, MissingRevs, Revision, Sequence, WireBytes,
};
use crate::revision::{RevId, RevisionTrust};
use crate::store::{Change, Database};
use crate::tuning::{
    COUCH_FETCHES_IN_FLIGHT, COUCH_FETCH_BATCH, COUCH_LONGPOLL_HEARTBEAT, COUCH_LONGPOLL_TIMEOUT,
    COUCH_PUSHES_IN_FLIGHT, COUCH_PUSH_BATCH, COUCH_REQUEST_TIMEOUT, MAX_COUCH_ANSWER_BYTES,
    MAX_COUCH_FETCH_ANSWER_BYTES, MAX_COUCH_PUSH_REQUEST_BYTES,
};

/// A CouchDB-protocol database as a replication endpoint.
///
/// # Examples
/// ```
/// use outpost_core::net::couch::client::CouchEndpoint;
/// use outpost_core::net::{ClientAuth, RemoteConfig};
/// let remote = RemoteConfig::new("https://central.example.org/children")
///     .with_auth(ClientAuth::basic("amina", "correct horse"));
/// let endpoint = CouchEndpoint::new(remote, true).unwrap();
/// # let _ = endpoint;
/// ```
pub struct CouchEndpoint {
    /// The URL without credentials, for messages.
    url: String,
    /// `scheme://host:port`.
    origin: String,
    /// The database's path (`/children`), percent-encoded as given.
    db_path: String,
    http: HttpClient,
    pushes: bool,
    create_target: bool,
    /// Database paths known to exist.
    checked: tokio::sync::Mutex<HashSet<String>>,
    /// Database paths this endpoint created (create-target): they lack
    /// every revision but those pushed since, so pushes skip `_revs_diff`.
    created: Mutex<HashSet<String>>,
    /// The `_rev` of each `_local` document read or written, by path.
    local_revs: Mutex<HashMap<String, String>>,
    /// Cleared once the server fails a `_bulk_get`: fetch then uses
    /// `open_revs`.
    bulk_get: AtomicBool,
    /// Cleared once a `_changes` page with documents is too large: pages
    /// then list revisions only.
    include_docs: AtomicBool,
    /// First-generation documents the last `_changes` page carried, by
    /// (id, revision): fetch takes them from here instead of asking again.
    from_feed: Mutex<HashMap<(String, RevId), Map<String, Value>>>,
    pulled: PulledBlobs,
    staged: StagedBlobs,
    /// The local database replicating with this server, when known: its
    /// blobs match the server's attachment stubs, so bytes already held do
    /// not move again ([`stubs`]).
    local: Option<Database>,
    /// MD5 digests of the local database's blobs.
    md5: Arc<Md5Cache>,
    /// `possible_ancestors` of the last `_revs_diff`s, by (collection, id).
    ancestors: Mutex<HashMap<(String, String), Vec<RevId>>>,
}

impl std::fmt::Debug for CouchEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CouchEndpoint")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl CouchEndpoint {
    /// An endpoint for `config` (an `http://` or `https://` URL naming a
    /// database); `pushes` if the replication writes to it. Nothing is
    /// connected until first use.
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] for a URL that is not `http(s)://host/db`
    /// or carries credentials, a client certificate (not supported over
    /// HTTP), or a bad trust setting.
    pub fn new(config: RemoteConfig, pushes: bool) -> Result<CouchEndpoint> {
        let bad = |why: &str| -> Error { InvalidInput::BadConfig(format!("bad URL {:?}: {why}", config.url)).into() };
        let uri: hyper::Uri = config.url.parse().map_err(|_| bad("not a URL"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("a CouchDB server's URL starts with https:// (or http://)")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("credentials belong in the replicator's auth, not in the URL"));
        }
        if uri.query().is_some() {
            return Err(bad("no query string expected"));
        }
        let db_path = uri.path().trim_end_matches('/').to_owned();
        if db_path.is_empty() {
            return Err(bad("no database name in the path (https://host/NAME)"));
        }
        let origin = format!("{}://{}", if tls { "https" } else { "http" }, authority);
        let basic = match &config.auth {
            None => None,
            Some(ClientAuth::Basic { username, password }) => Some((username.as_str(), password.as_str())),
            Some(ClientAuth::Certificate(_)) => {
                return Err(InvalidInput::BadConfig(
                    "client certificates are not supported with CouchDB servers; use a user name and password".into(),
                )
                .into())
            }
        };
        if basic.is_some() && !tls {
            tracing::warn!(url = %config.url, "sending a password over http:// without TLS");
        }
        let tls_config = if tls {
            Some(crate::net::tls::client_config(&config.trust, None)?)
        } else {
            None
        };
        let url = format!("{origin}{db_path}");
        Ok(CouchEndpoint {
            http: HttpClient::new(&url, tls_config, basic)?,
            url,
            origin,
            db_path,
            pushes,
            create_target: config.create_target,
            checked: tokio::sync::Mutex::new(HashSet::new()),
            created: Mutex::new(HashSet::new()),
            local_revs: Mutex::new(HashMap::new()),
            bulk_get: AtomicBool::new(true),
            include_docs: AtomicBool::new(true),
            from_feed: Mutex::new(HashMap::new()),
            pulled: PulledBlobs::default(),
            staged: StagedBlobs::default(),
            local: None,
            md5: Arc::default(),
            ancestors: Mutex::new(HashMap::new()),
        })
    }

    /// The endpoint replicating with `local`: pulled attachment stubs are
    /// matched with the blobs `local` holds, so an edit of a document moves
    /// only the attachments that changed. Pushes send stubs for bytes the
    /// server holds whether or not this is set.
    #[must_use]
    pub fn with_local(mut self, local: Database) -> CouchEndpoint {
        self.local = Some(local);
        self
    }

    /// The database path of a collection.
    fn db(&self, collection: &str) -> String {
        if collection == crate::store::DEFAULT_COLLECTION {
            self.db_path.clone()
        } else {
            format!("{}.{}", self.db_path, encode(collection))
        }
    }

    fn uri(&self, collection: &str, rest: &str) -> String {
        format!("{}{}{rest}", self.origin, self.db(collection))
    }

    async fn call(&self, method: Method, uri: &str, body: Option<&Value>, max: usize) -> Result<Answer> {
        let body = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        self.http.call(method, uri, body, max).await
    }

    /// Makes sure the collection's database exists (creating it when asked
    /// to and pushing), once per endpoint.
    async fn ensure_db(&self, collection: &str) -> Result<()> {
        let db = self.db(collection);
        let mut checked = self.checked.lock().await;
        if checked.contains(&db) {
            return Ok(());
        }
        let uri = self.uri(collection, "");
        let answer = self.call(Method::GET, &uri, None, MAX_COUCH_ANSWER_BYTES).await?;
        match answer.status {
            s if s.is_success() => {
                let _: Map<String, Value> = answer.json("database info")?;
            }
            StatusCode::NOT_FOUND if self.create_target && self.pushes => {
                let created = self.call(Method::PUT, &uri, None, MAX_COUCH_ANSWER_BYTES).await?;
                if created.status == StatusCode::CREATED {
                    self.created
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(db.clone());
                }
                if !created.ok() && created.status != StatusCode::PRECONDITION_FAILED {
                    return Err(created.error());
                }
            }
            StatusCode::NOT_FOUND => {
                return Err(ReplicationError::NotServed(format!(
                    "{}{db} (no such database; create it, or pass create-target when pushing)",
                    self.origin
                ))
                .into())
            }
            _ => return Err(answer.error()),
        }
        checked.insert(db);
        Ok(())
    }

    /// One `_changes` request (`longpoll` waits for a change).
    async fn changes_reply(
        &self,
        collection: &str,
        since: &Sequence,
        limit: usize,
        longpoll: bool,
        include_docs: bool,
    ) -> Result<ChangesWithDocs> {
        let mut uri = self.uri(
            collection,
            &format!(
                "/_changes?style=all_docs&since={}&limit={limit}",
                encode(&since.to_string())
            ),
        );
        if include_docs {
            uri.push_str("&include_docs=true");
        }
        let mut timeout = COUCH_REQUEST_TIMEOUT;
        if longpoll {
            uri.push_str(&format!(
                "&feed=longpoll&timeout={}&heartbeat={}",
                COUCH_LONGPOLL_TIMEOUT.as_millis(),
                COUCH_LONGPOLL_HEARTBEAT.as_millis()
            ));
            timeout += COUCH_LONGPOLL_TIMEOUT;
        }
        let answer = self
            .http
            .send(Method::GET, &uri, None, MAX_COUCH_ANSWER_BYTES, timeout)
            .await?;
        if !answer.ok() {
            return Err(answer.error());
        }
        answer.json("_changes")
    }

    /// Fetches `wanted` with one `_bulk_get`; `None` if the server lacks it
    /// (or answers it with something unusable).
    async fn bulk_get(
        &self,
        collection: &str,
        wanted: &[(String, RevId)],
        attachments: bool,
    ) -> Result<Option<Vec<Map<String, Value>>>> {
        let docs: Vec<Value> = wanted
            .iter()
            .map(|(id, rev)| serde_json::json!({"id": id, "rev": rev.to_string()}))
            .collect();
        let query = if attachments {
            "?revs=true&attachments=true"
        } else {
            "?revs=true"
        };
        let uri = self.uri(collection, &format!("/_bulk_get{query}"));
        let answer = self
            .call(
                Method::POST,
                &uri,
                Some(&serde_json::json!({ "docs": docs })),
                MAX_COUCH_FETCH_ANSWER_BYTES,
            )
            .await?;
        match answer.status.as_u16() {
            200 => {}
            401 | 403 => return Err(answer.error()),
            400 | 404 | 405 | 415 | 500 | 501 => return Ok(None),
            _ => return Err(answer.error()),
        }
        // Read leniently: express-pouchdb answers a missing revision with
        // `{}` where CouchDB writes `{"error":..}`; only `{"ok":doc}` counts.
        let Ok(reply) = answer.json::<BulkGetAnswer>("_bulk_get") else {
            return Ok(None);
        };
        let found = reply
            .results
            .into_iter()
            .flat_map(|r| r.docs)
            .filter_map(|mut item| match item.remove("ok") {
                Some(Value::Object(doc)) => Some(doc),
                _ => None,
            })
            .collect();
        Ok(Some(found))
    }

    /// Fetches `wanted` one document at a time with `open_revs`.
    async fn open_revs(
        &self,
        collection: &str,
        wanted: &[(String, RevId)],
        attachments: bool,
    ) -> Result<Vec<Map<String, Value>>> {
        let mut found = Vec::new();
        let mut i = 0;
        while i < wanted.len() {
            let id = &wanted[i].0;
            let revs: Vec<String> = wanted[i..]
                .iter()
                .take_while(|(other, _)| other == id)
                .map(|(_, r)| r.to_string())
                .collect();
            i += revs.len();
            let open = serde_json::to_string(&revs).unwrap_or_default();
            let uri = self.uri(
                collection,
                &format!(
                    "/{}?revs=true&latest=true&attachments={attachments}&open_revs={}",
                    encode(id),
                    encode(&open)
                ),
            );
            let answer = self.call(Method::GET, &uri, None, MAX_COUCH_FETCH_ANSWER_BYTES).await?;
            if answer.status == StatusCode::NOT_FOUND {
                continue;
            }
            if !answer.ok() {
                return Err(answer.error());
            }
            let items: Vec<Map<String, Value>> = answer.json("open_revs")?;
            for mut item in items {
                if let Some(Value::Object(doc)) = item.remove("ok") {
                    found.push(doc);
                }
            }
        }
        Ok(found)
    }

    /// Fetches the documents of `wanted`, halving the batch while the
    /// server's answer is too large.
    async fn fetch_docs(
        &self,
        collection: &str,
        wanted: &[(String, RevId)],
    ) -> Result<(usize, Vec<Map<String, Value>>)> {
        let mut count = wanted.len();
        loop {
            match self.fetch_part(collection, &wanted[..count]).await {
                Err(e) if count > 1 && is_too_large(&e) => count /= 2,
                Err(e) => return Err(e),
                Ok(docs) => return Ok((count, docs)),
            }
        }
    }

    /// Fetches `part`: with attachment bytes, but as stubs for documents
    /// the local database holds with blobs ([`stubs`]).
    async fn fetch_part(&self, collection: &str, part: &[(String, RevId)]) -> Result<Vec<Map<String, Value>>> {
        let held = self.docs_with_blobs(collection, part).await;
        if held.is_empty() {
            return self.fetch_with(collection, part, true).await;
        }
        let (stubbed, inline): (Vec<_>, Vec<_>) = part.iter().cloned().partition(|(id, _)| held.contains(id));
        let mut docs = Vec::new();
        if !inline.is_empty() {
            docs = self.fetch_with(collection, &inline, true).await?;
        }
        docs.extend(self.fetch_with(collection, &stubbed, false).await?);
        Ok(docs)
    }

    /// Fetches `part` by `_bulk_get`, or `open_revs` where that fails;
    /// attachment bytes inline if `attachments`, else stubs.
    async fn fetch_with(
        &self,
        collection: &str,
        part: &[(String, RevId)],
        attachments: bool,
    ) -> Result<Vec<Map<String, Value>>> {
        if self.bulk_get.load(Ordering::Relaxed) {
            if let Some(docs) = self.bulk_get(collection, part, attachments).await? {
                return Ok(docs);
            }
            tracing::info!(url = %self.url, "the server has no usable _bulk_get; fetching with open_revs");
            self.bulk_get.store(false, Ordering::Relaxed);
        }
        self.open_revs(collection, part, attachments).await
    }

    /// Documents for the start of `wanted` and how many entries they
    /// answer: a leading run the last `_changes` page carried, or else a
    /// few `_bulk_get`s at once (the server works on one while this side
    /// parses another) up to the next entry the page carried.
    async fn fetch_some(
        &self,
        collection: &str,
        wanted: &[(String, RevId)],
    ) -> Result<(usize, Vec<Map<String, Value>>)> {
        let (carried, first_carried) = {
            let mut from_feed = self.from_feed.lock().unwrap_or_else(|e| e.into_inner());
            let carried: Vec<Map<String, Value>> = wanted
                .iter()
                .map_while(|(id, rev)| from_feed.remove(&(id.clone(), rev.clone())))
                .collect();
            let first = wanted
                .iter()
                .position(|(id, rev)| from_feed.contains_key(&(id.clone(), rev.clone())));
            (carried, first)
        };
        if !carried.is_empty() {
            return Ok((carried.len(), carried));
        }
        let end = first_carried
            .unwrap_or(wanted.len())
            .min(COUCH_FETCH_BATCH * COUCH_FETCHES_IN_FLIGHT);
        let chunks: Vec<&[(String, RevId)]> = wanted[..end].chunks(COUCH_FETCH_BATCH).collect();
        let answers = futures_util::future::try_join_all(chunks.iter().map(|c| self.fetch_docs(collection, c))).await?;
        let (mut consumed, mut docs) = (0, Vec::new());
        for (chunk, (count, found)) in chunks.iter().zip(answers) {
            consumed += count;
            docs.extend(found);
            if count < chunk.len() {
                // A halved batch: what follows it is asked for again.
                break;
            }
        }
        Ok((consumed, docs))
    }

    /// The `_local` document path of checkpoint `id`.
    fn local_uri(&self, collection: &str, id: &str) -> String {
        self.uri(collection, &format!("/_local/{}", encode(id)))
    }

    async fn read_local(&self, uri: &str) -> Result<Option<String>> {
        let answer = self.call(Method::GET, uri, None, MAX_COUCH_ANSWER_BYTES).await?;
        if answer.status == StatusCode::NOT_FOUND {
            self.local_revs.lock().unwrap_or_else(|e| e.into_inner()).remove(uri);
            return Ok(None);
        }
        if !answer.ok() {
            return Err(answer.error());
        }
        let doc: Map<String, Value> = answer.json("_local document")?;
        let (body, rev) = checkpoint_doc::from_local_doc(&doc);
        if let Some(rev) = rev {
            self.local_revs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(uri.to_owned(), rev);
        }
        Ok(body)
    }

    async fn write_local(&self, uri: &str, id: &str, body: &str) -> Result<Answer> {
        let rev = self
            .local_revs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uri)
            .cloned();
        let doc = checkpoint_doc::to_local_doc(id, rev.as_deref(), body)?;
        self.call(Method::PUT, uri, Some(&doc), MAX_COUCH_ANSWER_BYTES).await
    }

    /// Pushes the revisions of `revisions` at `indices` in a few
    /// `_bulk_docs` at once (so the server stores one while the next
    /// crosses the network), blobs `held` by the server as its stubs.
    /// Records each refusal in `outcomes`; returns the indices refused for
    /// a stub, to be sent again with their bytes.
    async fn push_group(
        &self,
        collection: &str,
        revisions: &[Revision],
        indices: &[usize],
        held: &HashMap<usize, BTreeMap<String, Attachment>>,
        outcomes: &mut [InsertOutcome],
    ) -> Result<Vec<usize>> {
        let none = BTreeMap::new();
        let mut groups: Vec<PushGroup> = Vec::new();
        for &index in indices {
            let revision = &revisions[index];
            let stubs = held.get(&index).unwrap_or(&none);
            let (doc, stubbed) = match docs::to_couch(revision, |b| self.staged.complete(b), stubs) {
                Ok((doc, stubbed)) => (doc.to_string(), stubbed),
                Err(e) => {
                    outcomes[index].result = Err(e);
                    continue;
                }
            };
            if doc.len() > MAX_COUCH_PUSH_REQUEST_BYTES {
                outcomes[index].result = Err(InvalidInput::BodyTooLarge {
                    size: doc.len(),
                    limit: MAX_COUCH_PUSH_REQUEST_BYTES,
                }
                .into());
                continue;
            }
            let fits = groups.last().is_some_and(|g| {
                g.docs.len() < COUCH_PUSH_BATCH && g.bytes + doc.len() <= MAX_COUCH_PUSH_REQUEST_BYTES
            });
            if !fits {
                groups.push(PushGroup::default());
            }
            if let Some(group) = groups.last_mut() {
                group.bytes += doc.len() + 1;
                group.docs.push(PushDoc {
                    index,
                    id: revision.id.clone(),
                    rev: revision.rev().map(ToString::to_string).unwrap_or_default(),
                    json: doc,
                    stubbed,
                });
            }
        }
        let mut again = Vec::new();
        let mut sending = futures_util::stream::iter(groups.into_iter().map(|g| self.bulk_docs(collection, g)))
            .buffer_unordered(COUCH_PUSHES_IN_FLIGHT);
        while let Some(refused) = sending.next().await {
            for (index, code, reason) in refused? {
                if stubs::is_missing_stub(&code) && !held.is_empty() {
                    again.push(index);
                } else {
                    outcomes[index].result = Err(ReplicationError::Refused { code, message: reason }.into());
                }
            }
        }
        Ok(again)
    }

    /// Sends one `_bulk_docs` request of `group`'s documents; returns the
    /// refusals as (index in the insert, error, reason).
    async fn bulk_docs(&self, collection: &str, group: PushGroup) -> Result<Vec<(usize, String, String)>> {
        let uri = self.uri(collection, "/_bulk_docs");
        let mut body = String::with_capacity(group.bytes + 32);
        body.push_str(r#"{"new_edits":false,"docs":["#);
        for (i, doc) in group.docs.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&doc.json);
        }
        body.push_str("]}");
        let answer = self
            .http
            .call(Method::POST, &uri, Some(body.into_bytes()), MAX_COUCH_ANSWER_BYTES)
            .await?;
        if answer.status == StatusCode::PRECONDITION_FAILED && group.docs.iter().any(|d| d.stubbed) {
            // PouchDB refuses the whole request when one stub names bytes
            // it lacks: nothing was stored.
            let code = String::from(stubs::MISSING_STUB);
            return Ok(group
                .docs
                .iter()
                .map(|d| (d.index, code.clone(), String::new()))
                .collect());
        }
        if !answer.ok() {
            return Err(answer.error());
        }
        let results: Vec<BulkDocsResult> = answer.json("_bulk_docs")?;
        let mut refused = Vec::new();
        for r in results {
            let Some(code) = r.error else { continue };
            // The refused revision, by id (and revision when the server names it).
            let matching = group
                .docs
                .iter()
                .find(|d| d.id == r.id && r.rev.as_ref().is_none_or(|rev| *rev == d.rev));
            if let Some(doc) = matching {
                refused.push((doc.index, code, r.reason.unwrap_or_default()));
            }
        }
        Ok(refused)
    }
}

#[async_trait]
impl Endpoint for CouchEndpoint {
    fn wire_bytes(&self) -> WireBytes {
        self.http.wire_bytes()
    }

    async fn uuid(&self) -> Result<String> {
        // CouchDB's replicator names a remote by its URL too.
        let mut h = Sha256::new();
        h.update(b"couchdb\0");
        h.update(self.url.as_bytes());
        Ok(hex::encode(&h.finalize()[..16]))
    }

    async fn changes(&self, collection: &str, since: &Sequence, limit: usize) -> Result<ChangesPage> {
        self.ensure_db(collection).await?;
        // Documents come with the page (for many servers at no extra cost):
        // first generations need no history, so fetch takes them from here.
        let with_docs = self.include_docs.load(Ordering::Relaxed);
        let reply = match self.changes_reply(collection, since, limit, false, with_docs).await {
            Err(e) if with_docs && is_too_large(&e) => {
                self.include_docs.store(false, Ordering::Relaxed);
                self.changes_reply(collection, since, limit, false, false).await?
            }
            reply => reply?,
        };
        let last_sequence = Sequence::from_peer_json(&reply.last_seq)?;
        let mut changes = Vec::with_capacity(reply.results.len());
        let mut from_feed = HashMap::new();
        for RowWithDoc { row, doc } in reply.results {
            let leaves = row
                .changes
                .iter()
                .map(|c| c.rev.parse::<RevId>())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| ReplicationError::PeerMisbehaved(format!("a _changes row of {:?}: {e}", row.id)))?;
            let Some(rev) = leaves.first().cloned() else {
                return Err(ReplicationError::PeerMisbehaved(format!(
                    "a _changes row of {:?} lists no revision",
                    row.id
                ))
                .into());
            };
            if let Some(doc) = doc.filter(|d| usable_from_feed(d, &rev, leaves.len())) {
                from_feed.insert((row.id.clone(), rev.clone()), doc);
            }
            changes.push(Change {
                sequence: row.seq.as_u64().unwrap_or(0),
                id: row.id,
                rev,
                deleted: row.deleted,
                leaves,
            });
        }
        *self.from_feed.lock().unwrap_or_else(|e| e.into_inner()) = from_feed;
        Ok(ChangesPage { changes, last_sequence })
    }

    async fn count_changes(&self, collection: &str, since: &Sequence) -> Result<u64> {
        self.ensure_db(collection).await?;
        let answer = self
            .call(Method::GET, &self.uri(collection, ""), None, MAX_COUCH_ANSWER_BYTES)
            .await?;
        if !answer.ok() {
            return Err(answer.error());
        }
        let info: Map<String, Value> = answer.json("database info")?;
        // Only numeric sequences can be subtracted; an opaque feed reports
        // no estimate (progress then grows as batches arrive).
        let update_seq = info.get("update_seq").and_then(|v| Sequence::from_peer_json(v).ok());
        Ok(match (update_seq.and_then(|s| s.as_number()), since.as_number()) {
            (Some(end), Some(since)) => end.saturating_sub(since),
            _ => 0,
        })
    }

    async fn wait_for_changes(&self, collection: &str, since: &Sequence) -> Result<()> {
        self.ensure_db(collection).await?;
        loop {
            // Some servers (express-pouchdb) ignore `timeout` and hold a
            // longpoll open until a change: a quiet feed is polled again.
            let waiting = self.changes_reply(collection, since, 1, true, false);
            let Ok(reply) = tokio::time::timeout(COUCH_LONGPOLL_TIMEOUT + COUCH_LONGPOLL_HEARTBEAT, waiting).await
            else {
                continue;
            };
            let reply = reply?;
            let last = Sequence::from_peer_json(&reply.last_seq)?;
            if !reply.results.is_empty() || &last != since {
                return Ok(());
            }
        }
    }

    fn revision_trust(&self) -> RevisionTrust {
        RevisionTrust::Unverified
    }

    async fn revs_diff(&self, collection: &str, revs: Vec<(String, Vec<RevId>)>) -> Result<Vec<MissingRevs>> {
        let db = self.db(collection);
        if self.created.lock().unwrap_or_else(|e| e.into_inner()).contains(&db) {
            // A database created by this endpoint holds only what it was
            // sent since (or what others write meanwhile, which sending
            // again with `new_edits:false` leaves as it is): everything
            // is missing, without costing the server a `_revs_diff`.
            return Ok(revs
                .into_iter()
                .map(|(id, missing)| MissingRevs::new(id, missing))
                .collect());
        }
        let mut asked: HashMap<String, HashSet<RevId>> = HashMap::new();
        let mut request = Map::new();
        for (id, list) in revs {
            request.insert(id.clone(), list.iter().map(|r| Value::from(r.to_string())).collect());
            asked.entry(id).or_default().extend(list);
        }
        let uri = self.uri(collection, "/_revs_diff");
        let answer = self
            .call(
                Method::POST,
                &uri,
                Some(&Value::Object(request)),
                MAX_COUCH_ANSWER_BYTES,
            )
            .await?;
        if !answer.ok() {
            return Err(answer.error());
        }
        let reply: RevsDiffReply = answer.json("_revs_diff")?;
        let mut out = Vec::new();
        for (id, entry) in reply {
            // Only what was asked: a server cannot make us send other revisions.
            let Some(known) = asked.get(&id) else { continue };
            if let Some(ancestors) = &entry.possible_ancestors {
                self.note_ancestors(collection, &id, ancestors);
            }
            let missing: Vec<RevId> = entry
                .missing
                .iter()
                .filter_map(|r| r.parse::<RevId>().ok())
                .filter(|r| known.contains(r))
                .collect();
            if !missing.is_empty() {
                out.push(MissingRevs::new(id, missing));
            }
        }
        Ok(out)
    }

    /// CouchDB has no delta sync: the bases are ignored and every revision
    /// comes whole.
    async fn fetch_deltas(
        &self,
        collection: &str,
        wanted: &[(String, RevId)],
        _bases: &[Vec<RevId>],
        max_history: usize,
        _max_bytes: usize,
    ) -> Result<FetchedBatch> {
        if wanted.is_empty() {
            return Ok(FetchedBatch::default());
        }
        let (consumed, docs) = self.fetch_some(collection, wanted).await?;
        let asked: HashSet<(&str, &RevId)> = wanted[..consumed].iter().map(|(id, r)| (id.as_str(), r)).collect();
        let known = self.resolve_stubs(collection, &docs).await?;
        let none = HashMap::new();
        let mut by_key: HashMap<(String, RevId), Revision> = HashMap::new();
        let mut blobs = Vec::new();
        for doc in docs {
            let key = match (doc.get("_id"), doc.get("_rev")) {
                (Some(Value::String(id)), Some(Value::String(rev))) => (id.clone(), rev.clone()),
                _ => Default::default(),
            };
            let pulled = docs::from_couch(doc, max_history, known.get(&key).unwrap_or(&none))?;
            let revision = pulled.revision;
            let Some(rev) = revision.rev().cloned() else { continue };
            if !asked.contains(&(revision.id.as_str(), &rev)) {
                // `latest=true` may answer with a newer leaf; the changes
                // feed lists that one too, so it comes in its own turn.
                continue;
            }
            blobs.extend(pulled.blobs);
            by_key.insert((revision.id.clone(), rev), revision);
        }
        self.pulled.keep(blobs);
        let revisions = wanted[..consumed]
            .iter()
            .filter_map(|(id, rev)| by_key.remove(&(id.clone(), rev.clone())))
            .collect();
        Ok(FetchedBatch { revisions, consumed })
    }

    async fn insert(&self, collection: &str, revisions: Vec<Revision>) -> Result<Vec<InsertOutcome>> {
        self.ensure_db(collection).await?;
        let held = self.held_attachments(collection, &revisions).await;
        let mut outcomes: Vec<InsertOutcome> = revisions
            .iter()
            .map(|r| InsertOutcome {
                id: r.id.clone(),
                result: Ok(true),
            })
            .collect();
        let everything: Vec<usize> = (0..revisions.len()).collect();
        let mut again = self
            .push_group(collection, &revisions, &everything, &held, &mut outcomes)
            .await?;
        if !again.is_empty() {
            // The server lacks bytes a stub named: send those with their bytes.
            tracing::info!(url = %self.url, documents = again.len(), "the server refused attachment stubs; sending the bytes");
            again = self
                .push_group(collection, &revisions, &again, &HashMap::new(), &mut outcomes)
                .await?;
        }
        for index in again {
            outcomes[index].result = Err(ReplicationError::Refused {
                code: stubs::MISSING_STUB.into(),
                message: "the server refused the attachments".into(),
            }
            .into());
        }
        let sent_blobs: Vec<BlobRef> = revisions
            .iter()
            .flat_map(|r| crate::blob::reference::blobs_of_canonical(&r.body).unwrap_or_default())
            .collect();
        self.staged.forget(Some(&sent_blobs));
        Ok(outcomes)
    }

    async fn get_checkpoint(&self, collection: &str, id: &str) -> Result<Option<String>> {
        self.ensure_db(collection).await?;
        self.read_local(&self.local_uri(collection, id)).await
    }

    async fn put_checkpoint(&self, collection: &str, id: &str, body: &str) -> Result<()> {
        let uri = self.local_uri(collection, id);
        let mut answer = self.write_local(&uri, id, body).await?;
        if answer.status == StatusCode::CONFLICT {
            // Someone else wrote it (or our `_rev` is stale): read and retry once.
            self.read_local(&uri).await?;
            answer = self.write_local(&uri, id, body).await?;
        }
        if !answer.ok() {
            return Err(answer.error());
        }
        let reply: Map<String, Value> = answer.json("_local write")?;
        if let Some(rev) = reply.get("rev").and_then(Value::as_str) {
            self.local_revs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(uri, rev.to_owned());
        }
        Ok(())
    }

    async fn missing_blobs(&self, blobs: Vec<BlobRef>) -> Result<Vec<BlobRef>> {
        // A CouchDB server cannot be asked by SHA-256; attachments go inline
        // with each pushed revision, so every blob is handed over.
        Ok(blobs)
    }

    async fn read_blob(&self, digest: &BlobDigest, offset: u64, max_len: usize) -> Result<Vec<u8>> {
        self.pulled.read(digest, offset, max_len)
    }

    async fn blob_receive_offset(&self, blob: &BlobRef) -> Result<u64> {
        Ok(self.staged.held(blob))
    }

    async fn append_blob(&self, blob: &BlobRef, offset: u64, bytes: Vec<u8>) -> Result<u64> {
        if blob.length > crate::tuning::MAX_COUCH_STAGED_BLOB_BYTES {
            return Err(BlobError::NotSupported.into());
        }
        self.staged.append(blob, offset, &bytes)
    }

    async fn close(&self) {
        self.pulled.clear();
        self.from_feed.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.staged.forget(None);
        self.checked.lock().await.clear();
    }
}

/// Documents of one `_bulk_docs` request.
#[derive(Default)]
struct PushGroup {
    docs: Vec<PushDoc>,
    bytes: usize,
}

/// One pushed revision: its index in the insert, id, revision, JSON, and
/// whether it names attachments by stub.
struct PushDoc {
    index: usize,
    id: String,
    rev: String,
    json: String,
    stubbed: bool,
}

/// Whether a document a `_changes` row carried is a whole revision:
/// the row's only leaf, a first generation (no history to ask for), and
/// no attachments (their bytes are not inline).
fn usable_from_feed(doc: &Map<String, Value>, rev: &RevId, leaves: usize) -> bool {
    leaves == 1
        && rev.generation() == 1
        && !doc.contains_key("_attachments")
        && doc.get("_rev").and_then(Value::as_str) == Some(rev.to_string().as_str())
}

/// A `_changes` answer whose rows may carry the winner's document
/// (`include_docs=true`).
#[derive(serde::Deserialize)]
struct ChangesWithDocs {
    results: Vec<RowWithDoc>,
    last_seq: Value,
}

#[derive(serde::Deserialize)]
struct RowWithDoc {
    #[serde(flatten)]
    row: ChangeRow,
    #[serde(default)]
    doc: Option<Map<String, Value>>,
}

/// A `_bulk_get` answer, each item kept as an object (see
/// [`CouchEndpoint::bulk_get`]).
#[derive(serde::Deserialize)]
struct BulkGetAnswer {
    results: Vec<BulkGetAnswerResult>,
}

#[derive(serde::Deserialize)]
struct BulkGetAnswerResult {
    docs: Vec<Map<String, Value>>,
}

/// Whether a remote URL is a CouchDB-protocol server's (`http://`,
/// `https://`) rather than an Outpost listener's (`ws://`, `wss://`).
pub fn is_couch_url(url: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
}
