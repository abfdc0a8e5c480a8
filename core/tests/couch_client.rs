//! The CouchDB-protocol client against a small fault-injecting server on
//! 127.0.0.1: what a real server never sends (a huge answer, a lying
//! `_revisions`, a broken `_bulk_get`, a sequence a megabyte long) fails
//! cleanly with nothing stored, and opaque CouchDB 3 sequences and
//! CouchDB-shaped `_local` checkpoints work. The happy paths against a real
//! PouchDB server are in tests/interop/client.test.js.

use std::sync::{Arc, Mutex};

use outpost_core::net::RemoteConfig;
use outpost_core::replication::{Direction, Replicator, ReplicatorConfig};
use outpost_core::{Database, DatabaseConfig, Error, ReplicationError};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake server gets wrong.
#[derive(Clone, Copy, Default)]
struct Faults {
    /// `_changes` answers 20 MB, without a Content-Length.
    huge_changes: bool,
    /// `_bulk_get` answers a `_revisions` that does not start at `_rev`.
    lying_revisions: bool,
    /// `_bulk_get` answers 404 (a server without it).
    broken_bulk_get: bool,
    /// `last_seq` is 1 MB long.
    long_sequence: bool,
    /// `_changes` with `include_docs=true` answers 20 MB (pages without
    /// documents are fine).
    huge_with_docs: bool,
    /// `GET /db` answers 404 until a `PUT /db` creates it.
    absent_db: bool,
}

/// What the fake server received in `_bulk_docs` bodies.
type Pushed = Mutex<Vec<Value>>;

/// A CouchDB-like server holding one document `a` at `2-bb`, its feed at
/// the opaque sequence `1-g1AAAA`; it takes pushed documents but refuses
/// any named `b`.
struct Fake {
    faults: Faults,
    requests: Mutex<Vec<String>>,
    local: Mutex<Option<Value>>,
    pushed: Pushed,
    /// Bytes read from and written to every connection, as `(read, written)`.
    wire: Mutex<(u64, u64)>,
    /// Whether a `PUT /db` created the database.
    created: Mutex<bool>,
}

const SEQ: &str = "1-g1AAAA";

fn doc(lying: bool) -> Value {
    let revisions = if lying {
        json!({"start": 3, "ids": ["cc", "bb", "aa"]})
    } else {
        json!({"start": 2, "ids": ["bb", "aa"]})
    };
    json!({"_id": "a", "_rev": "2-bb", "_revisions": revisions, "name": "Amina"})
}

impl Fake {
    fn answer(&self, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>, bool) {
        self.requests.lock().unwrap().push(format!("{method} {target}"));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let json_answer = |status, v: Value| (status, v.to_string().into_bytes(), true);
        match (method, path) {
            ("GET", "/db") if self.faults.absent_db && !*self.created.lock().unwrap() => {
                json_answer(404, json!({"error": "not_found", "reason": "Database does not exist."}))
            }
            ("PUT", "/db") => {
                *self.created.lock().unwrap() = true;
                json_answer(201, json!({"ok": true}))
            }
            ("GET", "/db") => json_answer(
                200,
                json!({"db_name": "db", "update_seq": SEQ, "instance_start_time": "0"}),
            ),
            ("GET", _) if path.starts_with("/db/_local/") => match self.local.lock().unwrap().clone() {
                Some(v) => json_answer(200, v),
                None => json_answer(404, json!({"error": "not_found", "reason": "missing"})),
            },
            ("PUT", _) if path.starts_with("/db/_local/") => {
                let mut v: Value = serde_json::from_slice(body).unwrap();
                v["_rev"] = json!("0-1");
                *self.local.lock().unwrap() = Some(v);
                json_answer(201, json!({"ok": true, "id": path, "rev": "0-1"}))
            }
            ("GET", "/db/_changes") => {
                if self.faults.huge_changes || (self.faults.huge_with_docs && query.contains("include_docs=true")) {
                    let padding = "x".repeat(20 * 1024 * 1024);
                    let body = json!({"results": [], "last_seq": 0, "padding": padding});
                    return (200, body.to_string().into_bytes(), false);
                }
                let last_seq = if self.faults.long_sequence {
                    json!("9".repeat(1024 * 1024) + "-x")
                } else {
                    json!(SEQ)
                };
                let rows = if query.contains("since=0&") {
                    json!([{"seq": SEQ, "id": "a", "changes": [{"rev": "2-bb"}]}])
                } else {
                    json!([])
                };
                json_answer(200, json!({"results": rows, "last_seq": last_seq}))
            }
            ("POST", "/db/_revs_diff") => {
                // Only a push asks: everything asked for is missing.
                let asked: serde_json::Map<String, Value> = serde_json::from_slice(body).unwrap();
                let missing: serde_json::Map<String, Value> = asked
                    .into_iter()
                    .map(|(id, revs)| (id, json!({"missing": revs})))
                    .collect();
                json_answer(200, Value::Object(missing))
            }
            ("POST", "/db/_bulk_docs") => {
                let request: Value = serde_json::from_slice(body).unwrap();
                let docs = request["docs"].as_array().cloned().unwrap_or_default();
                self.pushed.lock().unwrap().extend(docs.iter().cloned());
                let refused: Vec<Value> = docs
                    .iter()
                    .filter(|d| d["_id"] == "b")
                    .map(|d| json!({"id": "b", "rev": d["_rev"], "error": "forbidden", "reason": "not here"}))
                    .collect();
                json_answer(201, json!(refused))
            }
            ("POST", "/db/_bulk_get") if self.faults.broken_bulk_get => {
                json_answer(404, json!({"error": "not_found", "reason": "missing"}))
            }
            ("POST", "/db/_bulk_get") => json_answer(
                200,
                json!({"results": [{"id": "a", "docs": [{"ok": doc(self.faults.lying_revisions)}]}]}),
            ),
            ("GET", "/db/a") if query.contains("open_revs=") => json_answer(200, json!([{"ok": doc(false)}])),
            _ => json_answer(404, json!({"error": "not_found", "reason": "no route"})),
        }
    }

    async fn serve(self: Arc<Self>, mut stream: TcpStream) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if buf.first() == Some(&0x16) {
                // A TLS ClientHello: answered as node's HTTP server does.
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                    .await;
                return;
            }
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut words = head.split_whitespace();
        let (method, target) = (
            words.next().unwrap_or("").to_owned(),
            words.next().unwrap_or("").to_owned(),
        );
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        self.wire.lock().unwrap().0 += buf.len() as u64;
        let (status, body, with_length) = self.answer(&method, &target, &buf[head_end..head_end + length]);
        let mut response = format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nConnection: close\r\n");
        if with_length {
            response.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        response.push_str("\r\n");
        self.wire.lock().unwrap().1 += (response.len() + body.len()) as u64;
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.write_all(&body).await;
        let _ = stream.shutdown().await;
    }
}

/// Starts the fake server; returns it and its database URL.
async fn start(faults: Faults) -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake {
        faults,
        requests: Mutex::new(Vec::new()),
        local: Mutex::new(None),
        pushed: Mutex::new(Vec::new()),
        wire: Mutex::new((0, 0)),
        created: Mutex::new(false),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/db", listener.local_addr().unwrap());
    let server = fake.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(server.clone().serve(stream));
        }
    });
    (fake, url)
}

async fn pull(db: &Database, url: &str) -> outpost_core::Result<()> {
    let config = ReplicatorConfig {
        direction: Direction::Pull,
        max_attempts: Some(1),
        ..Default::default()
    };
    Replicator::remote(db.clone(), RemoteConfig::new(url), config)?
        .run()
        .await
}

fn open() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("hub.db"), DatabaseConfig::default()).unwrap();
    (dir, db)
}

fn assert_misbehaved(outcome: outpost_core::Result<()>, what: &str) {
    match outcome {
        Err(Error::Replication(ReplicationError::PeerMisbehaved(why))) => {
            assert!(why.contains(what), "{why}");
        }
        other => panic!("expected PeerMisbehaved({what}), got {other:?}"),
    }
}

#[tokio::test]
async fn pulls_with_opaque_sequences_and_couch_shaped_checkpoints() {
    let (fake, url) = start(Faults::default()).await;
    let (_dir, db) = open();
    pull(&db, &url).await.unwrap();
    let doc = db.default_collection().unwrap().get("a").unwrap().unwrap();
    assert_eq!(doc.rev.to_string(), "2-bb");
    let local = fake.local.lock().unwrap().clone().unwrap();
    assert_eq!(local["source_last_seq"], SEQ);
    assert_eq!(local["history"][0]["last_seq"], SEQ);
    assert!(local["session_id"].is_string());
    assert!(local["_id"].as_str().unwrap().starts_with("_local/"));

    // The next run resumes from the opaque sequence and fetches nothing.
    fake.requests.lock().unwrap().clear();
    pull(&db, &url).await.unwrap();
    let requests = fake.requests.lock().unwrap().clone();
    assert!(
        requests.iter().any(|r| r.contains(&format!("since={SEQ}"))),
        "{requests:?}"
    );
    assert!(!requests.iter().any(|r| r.contains("_bulk_get")), "{requests:?}");
}

#[tokio::test]
async fn status_counts_every_byte_the_server_read_and_wrote() {
    let (fake, url) = start(Faults::default()).await;
    let (_dir, db) = open();
    let config = ReplicatorConfig {
        direction: Direction::Pull,
        max_attempts: Some(1),
        ..Default::default()
    };
    let replicator = Replicator::remote(db.clone(), RemoteConfig::new(url), config).unwrap();
    replicator.run().await.unwrap();
    let wire = replicator.status().wire;
    let (read, written) = *fake.wire.lock().unwrap();
    assert!(read > 0 && written > 0);
    assert_eq!((wire.sent, wire.received), (read, written));
}

/// Pulls from a server with `faults`, which must work around them and
/// store the document; returns the requests it received.
async fn pulled_despite(faults: Faults) -> Vec<String> {
    let (fake, url) = start(faults).await;
    let (_dir, db) = open();
    pull(&db, &url).await.unwrap();
    assert!(db.default_collection().unwrap().get("a").unwrap().is_some());
    let requests = fake.requests.lock().unwrap().clone();
    requests
}

#[tokio::test]
async fn broken_bulk_get_falls_back_to_open_revs() {
    let requests = pulled_despite(Faults {
        broken_bulk_get: true,
        ..Default::default()
    })
    .await;
    assert!(requests.iter().any(|r| r.contains("open_revs=")), "{requests:?}");
}

/// Pulls from a server with `faults`, which must fail as the peer's
/// misbehaviour naming `what`, leaving nothing stored and no checkpoint.
async fn refused_with_nothing_stored(faults: Faults, what: &str) {
    let (fake, url) = start(faults).await;
    let (_dir, db) = open();
    assert_misbehaved(pull(&db, &url).await, what);
    assert_eq!(db.last_sequence().unwrap(), 0);
    assert!(db.default_collection().unwrap().get("a").unwrap().is_none());
    assert!(fake.local.lock().unwrap().is_none());
}

/// A huge answer (20 MB without a Content-Length), a `_revisions` that
/// does not start at `_rev`, a `last_seq` 1 MB long: each refused as the
/// peer's misbehaviour, nothing stored, no checkpoint written.
#[tokio::test]
async fn lies_and_huge_answers_are_refused_and_nothing_is_stored() {
    let huge = Faults {
        huge_changes: true,
        ..Default::default()
    };
    let lying = Faults {
        lying_revisions: true,
        ..Default::default()
    };
    let long_sequence = Faults {
        long_sequence: true,
        ..Default::default()
    };
    for (faults, what) in [(huge, "larger than"), (lying, "_rev"), (long_sequence, "sequence")] {
        refused_with_nothing_stored(faults, what).await;
    }
}

#[tokio::test]
async fn push_sends_histories_and_reports_each_refused_document() {
    let (fake, url) = start(Faults::default()).await;
    let (_dir, db) = open();
    let docs = db.default_collection().unwrap();
    let first = docs.save("b", None, r#"{"name":"Bo"}"#).unwrap();
    docs.save("b", Some(&first), r#"{"name":"Bo","camp":"north"}"#).unwrap();
    docs.save("c", None, r#"{"name":"Chen"}"#).unwrap();
    let config = ReplicatorConfig {
        direction: Direction::Push,
        max_attempts: Some(1),
        ..Default::default()
    };
    let replicator = Replicator::remote(db.clone(), RemoteConfig::new(&url), config).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let _token = replicator.add_document_listener(move |e| {
        seen.lock()
            .unwrap()
            .extend(e.iter().map(|e| (e.id.clone(), e.error.is_some())))
    });
    replicator.run().await.unwrap();
    let mut events = events.lock().unwrap().clone();
    events.sort();
    assert_eq!(events, vec![("b".to_owned(), true), ("c".to_owned(), false)]);
    let pushed = fake.pushed.lock().unwrap().clone();
    let b = pushed.iter().find(|d| d["_id"] == "b").unwrap();
    assert_eq!(b["_revisions"]["start"], 2);
    assert_eq!(b["_revisions"]["ids"].as_array().unwrap().len(), 2);
    assert_eq!(b["camp"], "north");
    // The database existed: the push asked which revisions it lacks.
    assert!(fake.requests.lock().unwrap().iter().any(|r| r == "POST /db/_revs_diff"));
}

#[tokio::test]
async fn a_push_into_the_database_it_created_does_not_ask_what_is_missing() {
    let (fake, url) = start(Faults {
        absent_db: true,
        ..Default::default()
    })
    .await;
    let (_dir, db) = open();
    let docs = db.default_collection().unwrap();
    let first = docs.save("c", None, r#"{"name":"Chen"}"#).unwrap();
    docs.save("c", Some(&first), r#"{"name":"Chen","camp":"north"}"#)
        .unwrap();
    docs.save("d", None, r#"{"name":"Dia"}"#).unwrap();
    let config = ReplicatorConfig {
        direction: Direction::Push,
        max_attempts: Some(1),
        ..Default::default()
    };
    let remote = RemoteConfig::new(&url).with_create_target(true);
    Replicator::remote(db.clone(), remote, config)
        .unwrap()
        .run()
        .await
        .unwrap();
    let requests = fake.requests.lock().unwrap().clone();
    assert!(requests.iter().any(|r| r == "PUT /db"), "{requests:?}");
    assert!(!requests.iter().any(|r| r.contains("_revs_diff")), "{requests:?}");
    let mut pushed: Vec<String> = fake
        .pushed
        .lock()
        .unwrap()
        .iter()
        .map(|d| format!("{} {}", d["_id"], d["_rev"]))
        .collect();
    pushed.sort();
    let c = docs.get("c").unwrap().unwrap().rev;
    let d = docs.get("d").unwrap().unwrap().rev;
    assert_eq!(pushed, vec![format!("\"c\" \"{c}\""), format!("\"d\" \"{d}\"")]);
}

#[tokio::test]
async fn a_changes_page_too_large_with_documents_is_read_without_them() {
    let requests = pulled_despite(Faults {
        huge_with_docs: true,
        ..Default::default()
    })
    .await;
    let with_docs = requests.iter().filter(|r| r.contains("include_docs=true")).count();
    assert_eq!(with_docs, 1, "asked with documents once, then without: {requests:?}");
}

#[tokio::test]
async fn https_against_a_plain_server_is_a_tls_mismatch() {
    let (_fake, url) = start(Faults::default()).await;
    let (_dir, db) = open();
    match pull(&db, &url.replace("http://", "https://")).await {
        Err(Error::Replication(ReplicationError::TlsMismatch(why))) => assert!(why.contains("http://"), "{why}"),
        other => panic!("expected TlsMismatch, got {other:?}"),
    }
    assert_eq!(db.last_sequence().unwrap(), 0);
}
