//! The CouchDB face against raw HTTP: what PouchDB never sends (malformed
//! JSON, histories that are not chains, huge lists, lying lengths, foreign
//! sequences, over-limit bodies), read-only and unauthenticated requests.
//! Each gets CouchDB's status and `{"error","reason"}`, nothing is stored,
//! and the listener keeps serving. PouchDB itself is in
//! tests/interop/face.test.js.

mod common;

use common::net::{listener_config, users, PASSWORD, USER};
use common::open;
use outpost_core::net::couch::attachments::md5_digest;
use outpost_core::net::couch::multipart::{boundary_of, parse, MultipartWriter};
use outpost_core::net::Listener;
use outpost_core::tuning::{
    CHANGES_BATCH_SIZE, CONNECTION_BUFFER_BYTES, MAX_FACE_DOC_IDS, MAX_FACE_REQUEST_BYTES, MAX_FAILED_LOGINS,
};
use outpost_core::Database;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A reply: status, headers (names lowercased) and the body, de-chunked.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Asserts a CouchDB error of this status and name.
    fn assert_error(&self, status: u16, error: &str) {
        assert_eq!(self.status, status, "{}", String::from_utf8_lossy(&self.body));
        let body = self.json();
        assert_eq!(body["error"], error, "{body}");
        assert!(body["reason"].is_string(), "{body}");
    }
}

fn basic() -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    format!("Basic {encoded}")
}

struct Hub {
    _dir: tempfile::TempDir,
    db: Database,
    listener: Listener,
}

async fn hub(read_only: bool) -> Hub {
    hub_with(read_only, std::time::Duration::from_secs(30)).await
}

async fn hub_with(read_only: bool, write_timeout: std::time::Duration) -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "hub.db");
    let mut config = listener_config(users());
    config.disable_tls = true;
    config.read_only = read_only;
    config.write_timeout = write_timeout;
    let listener = Listener::start(db.clone(), config).await.unwrap();
    Hub {
        _dir: dir,
        db,
        listener,
    }
}

impl Hub {
    /// One request on its own connection, with Basic credentials unless
    /// `headers` gives an `Authorization` (or `None` to send none).
    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n");
        let auth = basic();
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("authorization")) {
            head.push_str(&format!("Authorization: {auth}\r\n"));
        }
        for (name, value) in headers {
            if !value.is_empty() {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-length")) {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut stream = TcpStream::connect(("127.0.0.1", self.listener.port())).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        // The server may answer (and close) before reading the whole body.
        let _ = stream.write_all(body).await;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        parse_reply(&raw)
    }

    async fn json(&self, method: &str, path: &str, body: Value) -> Reply {
        self.send(
            method,
            path,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
        .await
    }

    /// `POST /_session` with a form and no other credentials.
    async fn log_in(&self, password: &str) -> Reply {
        let form = format!("name={USER}&password={}", password.replace(' ', "+"));
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", ""),
        ];
        self.send("POST", "/_session", &headers, form.as_bytes()).await
    }

    fn count(&self) -> u64 {
        self.db.default_collection().unwrap().count().unwrap()
    }
}

fn parse_reply(raw: &[u8]) -> Reply {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let status = response.parse(raw).expect("an HTTP reply");
    let httparse::Status::Complete(head_len) = status else {
        panic!("incomplete reply: {}", String::from_utf8_lossy(raw));
    };
    let headers: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let mut body = raw[head_len..].to_vec();
    if headers.iter().any(|(n, v)| n == "transfer-encoding" && v == "chunked") {
        body = dechunk(&body);
    }
    Reply {
        status: response.code.unwrap(),
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap().trim(), 16).unwrap();
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

#[tokio::test]
async fn malformed_requests_get_couch_errors_and_store_nothing() {
    let hub = hub(false).await;
    let bulk = "/hub/_bulk_docs";
    hub.send("POST", bulk, &[("Content-Type", "application/json")], b"{\"docs\": [")
        .await
        .assert_error(400, "bad_request");
    hub.json("POST", bulk, json!([1, 2]))
        .await
        .assert_error(400, "bad_request");

    // Histories that are not chains, or disagree with _rev: refused per document.
    let docs = json!({"new_edits": false, "docs": [
        {"_id": "a", "_rev": "1-x", "_revisions": {"start": 1, "ids": ["x", "w", "v"]}},
        {"_id": "b", "_rev": "3-y", "_revisions": {"start": 2, "ids": ["y", "x"]}},
        {"_id": "c", "_rev": "2-bad hash", "_revisions": {"start": 2, "ids": ["bad hash", "x"]}},
        {"_id": "d", "_revisions": {"start": 0, "ids": ["x"]}},
        {"_id": "e", "_rev": "1-x", "_foo": 1},
        {"_id": "_design/x", "_rev": "1-x"},
        {"_id": "f", "_rev": "1-x", "_attachments": {"p": {"data": "!!not base64", "content_type": "a/b"}}},
        {"_id": "g", "_rev": "1-x", "_attachments": {"p": {"data": "aGk=", "digest": md5_digest(b"other")}}},
        {"_id": "h", "_rev": "2-x", "_attachments": {"p": {"stub": true, "digest": md5_digest(b"never"), "length": 5}}},
        "not an object",
    ]});
    let reply = hub.json("POST", bulk, docs).await;
    assert_eq!(reply.status, 201);
    let results = reply.json();
    assert_eq!(results.as_array().unwrap().len(), 10, "{results}");
    assert!(
        results.as_array().unwrap().iter().all(|r| r["error"].is_string()),
        "{results}"
    );
    assert_eq!(results[7]["error"], "bad_request");
    assert_eq!(results[8]["error"], "missing_stub");
    assert_eq!(results[4]["error"], "doc_validation");

    // A since that is not ours, a huge doc_ids list, bad query values.
    hub.send("GET", "/hub/_changes?since=12-g1AAAAFreeform", &[], b"")
        .await
        .assert_error(400, "bad_request");
    let ids: Vec<String> = (0..=MAX_FACE_DOC_IDS).map(|i| format!("id{i}")).collect();
    hub.json("POST", "/hub/_changes?filter=_doc_ids", json!({ "doc_ids": ids }))
        .await
        .assert_error(400, "bad_request");
    hub.send("GET", "/hub/_changes?limit=-1", &[], b"")
        .await
        .assert_error(400, "bad_request");
    hub.send("GET", "/hub/_changes?feed=eventsource", &[], b"")
        .await
        .assert_error(400, "bad_request");
    hub.json("POST", "/hub/_revs_diff", json!({"a": ["not-a-rev"]}))
        .await
        .assert_error(400, "bad_request");

    // A body larger than the limit is refused before it is read.
    let too_long = (MAX_FACE_REQUEST_BYTES + 1).to_string();
    hub.send("POST", bulk, &[("Content-Length", &too_long)], b"{")
        .await
        .assert_error(413, "too_large");

    // Endpoints and databases that are not served.
    hub.send("GET", "/other/x", &[], b"")
        .await
        .assert_error(404, "not_found");
    hub.send("GET", "/hub/_design/views", &[], b"")
        .await
        .assert_error(404, "not_found");
    hub.send("DELETE", "/hub", &[], b"")
        .await
        .assert_error(403, "forbidden");
    hub.send("GET", "/hub/missing", &[], b"")
        .await
        .assert_error(404, "not_found");

    assert_eq!(hub.count(), 0, "nothing was stored");
    assert!(hub
        .db
        .default_collection()
        .unwrap()
        .changes(0, 10)
        .unwrap()
        .changes
        .is_empty());
    // And the listener serves the next client.
    let ok = hub.json("PUT", "/hub/child-1", json!({"name": "Amina"})).await;
    assert_eq!(ok.status, 201, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(hub.count(), 1);
}

#[tokio::test]
async fn replication_endpoints_answer_as_couchdb() {
    let hub = hub(false).await;
    let info = hub.send("GET", "/hub", &[], b"").await;
    assert_eq!(info.status, 200);
    assert_eq!(info.json()["update_seq"], 0);
    assert_eq!(info.json()["instance_start_time"], "0");
    hub.send("PUT", "/hub", &[], b"").await.assert_error(412, "file_exists");
    let commit = hub.send("POST", "/hub/_ensure_full_commit", &[], b"").await;
    assert_eq!(
        (commit.status, commit.json()),
        (201, json!({"ok": true, "instance_start_time": "0"}))
    );

    // A branched document pushed as a replicator does.
    let docs = json!({"new_edits": false, "docs": [
        {"_id": "a", "_rev": "2-b", "_revisions": {"start": 2, "ids": ["b", "a"]}, "v": 1},
        {"_id": "a", "_rev": "2-c", "_revisions": {"start": 2, "ids": ["c", "a"]}, "v": 2},
    ]});
    let stored = hub.json("POST", "/hub/_bulk_docs", docs).await;
    assert_eq!((stored.status, stored.json()), (201, json!([])));
    let diff = hub
        .json("POST", "/hub/_revs_diff", json!({"a": ["2-b", "3-d"], "z": ["1-z"]}))
        .await;
    // Leaves older than a missing revision are named as CouchDB names
    // them, so a client can send attachments held here as stubs.
    assert_eq!(
        diff.json(),
        json!({"a": {"missing": ["3-d"], "possible_ancestors": ["2-b", "2-c"]}, "z": {"missing": ["1-z"]}})
    );

    let changes = hub.send("GET", "/hub/_changes?style=all_docs", &[], b"").await;
    let changes = changes.json();
    assert_eq!(
        changes["results"][0]["changes"],
        json!([{"rev": "2-c"}, {"rev": "2-b"}])
    );
    assert_eq!(changes["last_seq"], 2);
    let with_docs = hub
        .send("GET", "/hub/_changes?include_docs=true&conflicts=true", &[], b"")
        .await
        .json();
    let doc = &with_docs["results"][0]["doc"];
    assert_eq!((doc["_rev"].clone(), doc["v"].clone()), (json!("2-c"), json!(2)));
    assert_eq!(doc["_conflicts"], json!(["2-b"]));
    // A longpoll after the last change ends at its timeout with no rows.
    let idle = hub
        .send("GET", "/hub/_changes?feed=longpoll&since=2&timeout=50", &[], b"")
        .await;
    assert_eq!(idle.json()["results"], json!([]));
    let continuous = hub
        .send("GET", "/hub/_changes?feed=continuous&since=0&timeout=50", &[], b"")
        .await;
    let lines: Vec<Value> = String::from_utf8(continuous.body)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1], json!({"last_seq": 2}));

    // _bulk_get: one result per entry, in order, missing ones included.
    let got = hub
        .json(
            "POST",
            "/hub/_bulk_get?revs=true",
            json!({"docs": [
            {"id": "a", "rev": "2-c"}, {"id": "nope", "rev": "1-x"}, {"id": "a", "rev": "2-b"}]}),
        )
        .await
        .json();
    let results = got["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[0]["docs"][0]["ok"]["_revisions"],
        json!({"start": 2, "ids": ["c", "a"]})
    );
    assert_eq!(results[1]["docs"][0]["error"]["error"], "not_found");
    assert_eq!(results[2]["docs"][0]["ok"]["v"], 1);
    // latest=true: an ancestor is answered by the leaves that descend from it.
    let ancestor = json!({"docs": [{"id": "a", "rev": "1-a"}]});
    let latest = hub
        .json("POST", "/hub/_bulk_get?latest=true", ancestor.clone())
        .await
        .json();
    assert_eq!(latest["results"][0]["docs"].as_array().unwrap().len(), 2, "{latest}");
    let exact = hub.json("POST", "/hub/_bulk_get", ancestor).await.json();
    assert_eq!(exact["results"][0]["docs"][0]["error"]["error"], "not_found");
    let open = hub.send("GET", "/hub/a?open_revs=all&revs=true", &[], b"").await.json();
    assert_eq!(open.as_array().unwrap().len(), 2);
    let winner = hub.send("GET", "/hub/a?conflicts=true", &[], b"").await.json();
    assert_eq!(
        (winner["_rev"].clone(), winner["_conflicts"].clone()),
        (json!("2-c"), json!(["2-b"]))
    );

    // _local: 404, then 0-1, then 409 on a stale _rev.
    hub.send("GET", "/hub/_local/cp", &[], b"")
        .await
        .assert_error(404, "not_found");
    let put = hub.json("PUT", "/hub/_local/cp", json!({"last_seq": 2})).await;
    assert_eq!(put.json()["rev"], "0-1");
    assert_eq!(hub.send("GET", "/hub/_local/cp", &[], b"").await.json()["last_seq"], 2);
    hub.json("PUT", "/hub/_local/cp", json!({"last_seq": 3}))
        .await
        .assert_error(409, "conflict");

    // A named collection is created by PUT, as PouchDB creates its database.
    assert_eq!(hub.send("PUT", "/hub.kids", &[], b"").await.status, 201);
    hub.send("PUT", "/hub.kids", &[], b"")
        .await
        .assert_error(412, "file_exists");
    assert!(hub.db.collection("kids").is_ok());
}

#[tokio::test]
async fn a_read_only_listener_refuses_every_write() {
    let hub = hub(true).await;
    let docs = json!({"new_edits": false, "docs": [{"_id": "a", "_rev": "1-a"}]});
    hub.json("POST", "/hub/_bulk_docs", docs)
        .await
        .assert_error(403, "forbidden");
    hub.json("PUT", "/hub/a", json!({}))
        .await
        .assert_error(403, "forbidden");
    hub.send("DELETE", "/hub/a?rev=1-a", &[], b"")
        .await
        .assert_error(403, "forbidden");
    hub.send("PUT", "/hub/a/photo", &[("Content-Type", "image/jpeg")], b"jpeg")
        .await
        .assert_error(403, "forbidden");
    hub.send("PUT", "/hub.kids", &[], b"")
        .await
        .assert_error(403, "forbidden");
    assert_eq!(hub.count(), 0);
    assert!(hub.db.collection("kids").is_err());
    // Reading, and keeping a checkpoint (as PouchDB does when pulling), work.
    assert_eq!(hub.send("GET", "/hub/_changes", &[], b"").await.status, 200);
    assert_eq!(
        hub.json("PUT", "/hub/_local/cp", json!({"last_seq": 0})).await.status,
        201
    );
}

#[tokio::test]
async fn credentials_are_required_checked_and_throttled() {
    let hub = hub(false).await;
    let none = [("Authorization", "")];
    // The welcome is open; everything else needs credentials.
    assert_eq!(hub.send("GET", "/", &none, b"").await.status, 200);
    hub.send("GET", "/hub", &none, b"")
        .await
        .assert_error(401, "unauthorized");
    hub.send("GET", "/hub/_changes", &[("Authorization", "Bearer abc")], b"")
        .await
        .assert_error(401, "unauthorized");
    hub.json("PUT", "/hub/a", json!({})).await; // with credentials: stored
    assert_eq!(hub.count(), 1);

    // Wrong passwords: 401, then 429 with Retry-After once the throttle holds.
    use base64::Engine;
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:wrong"))
    );
    for _ in 0..MAX_FAILED_LOGINS {
        hub.send("GET", "/hub", &[("Authorization", &wrong)], b"")
            .await
            .assert_error(401, "unauthorized");
    }
    let throttled = hub.send("GET", "/hub", &[("Authorization", &wrong)], b"").await;
    throttled.assert_error(429, "too_many_requests");
    assert!(throttled.header("retry-after").is_some());

    // Logging in for a cookie goes through the same throttle.
    hub.log_in("wrong").await.assert_error(429, "too_many_requests");
}

#[tokio::test]
async fn session_cookies_are_signed_and_expire_with_the_listener() {
    let hub = hub(false).await;
    let none = [("Authorization", "")];
    let login = hub.log_in(PASSWORD).await;
    assert_eq!(login.status, 200, "{}", String::from_utf8_lossy(&login.body));
    assert_eq!(login.json()["name"], USER);
    let set_cookie = login.header("set-cookie").unwrap().to_owned();
    assert!(!set_cookie.contains(PASSWORD) && set_cookie.contains("HttpOnly"));
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let with_cookie = [("Authorization", ""), ("Cookie", cookie.as_str())];
    assert_eq!(hub.send("GET", "/hub", &with_cookie, b"").await.status, 200);
    let session = hub.send("GET", "/_session", &with_cookie, b"").await.json();
    assert_eq!(session["userCtx"]["name"], USER);
    let forged = cookie.replacen("AuthSession=", "AuthSession=x", 1);
    hub.send(
        "GET",
        "/hub",
        &[("Authorization", ""), ("Cookie", forged.as_str())],
        b"",
    )
    .await
    .assert_error(401, "unauthorized");
    hub.json("POST", "/_session", json!({"name": USER, "password": "wrong"}))
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(
        hub.send("GET", "/_session", &none, b"").await.json()["userCtx"]["name"],
        Value::Null
    );
}

#[tokio::test]
async fn a_connection_without_credentials_gets_one_answer_then_is_closed() {
    let hub = hub(false).await;
    let mut stream = TcpStream::connect(("127.0.0.1", hub.listener.port())).await.unwrap();
    let two = "GET / HTTP/1.1\r\nHost: hub\r\n\r\nGET / HTTP/1.1\r\nHost: hub\r\n\r\n";
    stream.write_all(two.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 1, "{text}");
}

/// A `multipart/related` document body as CouchDB 3 pushes one.
fn related(doc: &Value, parts: &[(&str, &[u8])], boundary: &str) -> Vec<u8> {
    let mut w = MultipartWriter::new(boundary);
    w.part(&[("Content-Type", "application/json")], doc.to_string().as_bytes());
    for (name, bytes) in parts {
        let disposition = format!("attachment; filename=\"{name}\"");
        w.part(&[("Content-Disposition", disposition.as_str())], bytes);
    }
    w.finish()
}

#[tokio::test]
async fn multipart_documents_go_in_and_come_out_byte_for_byte() {
    let hub = hub(false).await;
    let photo: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let doc = json!({"_id": "m", "_rev": "1-abc", "name": "Amina", "_attachments": {
        "photo.jpg": {"follows": true, "content_type": "image/jpeg", "length": photo.len(), "digest": md5_digest(&photo)}}});
    let body = related(&doc, &[("photo.jpg", &photo)], "b0und");
    let ct = [("Content-Type", "multipart/related; boundary=\"b0und\"")];
    let put = hub.send("PUT", "/hub/m?new_edits=false", &ct, &body).await;
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));

    let bytes = hub.send("GET", "/hub/m/photo.jpg?rev=1-abc", &[], b"").await;
    assert_eq!((bytes.status, bytes.header("content-type")), (200, Some("image/jpeg")));
    assert_eq!(bytes.body, photo);
    let stub = &hub.send("GET", "/hub/m", &[], b"").await.json()["_attachments"]["photo.jpg"];
    assert_eq!(stub["digest"], md5_digest(&photo));
    assert_eq!(
        (stub["length"].clone(), stub["stub"].clone()),
        (json!(photo.len()), json!(true))
    );

    // open_revs as multipart/mixed, attachments inline, a missing revision too.
    let mixed = hub
        .send(
            "GET",
            "/hub/m?open_revs=%5B%221-abc%22,%222-zzz%22%5D&revs=true&attachments=true",
            &[("Accept", "multipart/mixed")],
            b"",
        )
        .await;
    let content_type = mixed.header("content-type").unwrap().to_owned();
    let boundary = boundary_of(&content_type).unwrap();
    let parts = parse(&mixed.body, &boundary, 10).unwrap();
    assert_eq!(parts.len(), 2);
    let first: Value = serde_json::from_slice(parts[0].body).unwrap();
    use base64::Engine;
    let inline = base64::engine::general_purpose::STANDARD
        .decode(first["_attachments"]["photo.jpg"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(inline, photo);
    assert_eq!(
        serde_json::from_slice::<Value>(parts[1].body).unwrap(),
        json!({"missing": "2-zzz"})
    );
}

#[tokio::test]
async fn multipart_bodies_that_lie_are_refused_and_store_nothing() {
    let hub = hub(false).await;
    let ct = [("Content-Type", "multipart/related; boundary=\"b0und\"")];
    let att = |length: usize| {
        json!({"_id": "m", "_rev": "1-abc", "_attachments": {
            "p": {"follows": true, "content_type": "a/b", "length": length}}})
    };
    // The stub says 10 bytes; the part holds 5.
    let short = related(&att(10), &[("p", b"12345")], "b0und");
    hub.send("PUT", "/hub/m?new_edits=false", &ct, &short)
        .await
        .assert_error(400, "bad_request");
    // A part whose Content-Length header is not its length.
    let mut lying = String::from_utf8(related(&att(5), &[], "b0und")).unwrap();
    lying = lying.replace("--b0und--", "--b0und\r\nContent-Length: 999\r\n\r\n12345\r\n--b0und--");
    hub.send("PUT", "/hub/m?new_edits=false", &ct, lying.as_bytes())
        .await
        .assert_error(400, "bad_request");
    // A body that never closes, one without its attachment part, a bad boundary.
    let body = related(&att(5), &[("p", b"12345")], "b0und");
    hub.send("PUT", "/hub/m?new_edits=false", &ct, &body[..body.len() - 10])
        .await
        .assert_error(400, "bad_request");
    let missing_part = related(&att(5), &[], "b0und");
    hub.send("PUT", "/hub/m?new_edits=false", &ct, &missing_part)
        .await
        .assert_error(400, "bad_request");
    hub.send(
        "PUT",
        "/hub/m?new_edits=false",
        &[("Content-Type", "multipart/related")],
        &body,
    )
    .await
    .assert_error(400, "bad_request");
    let gzip = related(&att(5), &[("p", b"12345")], "b0und").to_vec();
    let gzip = String::from_utf8(gzip)
        .unwrap()
        .replace("filename=\"p\"", "filename=\"p\"\r\nContent-Encoding: gzip");
    hub.send("PUT", "/hub/m?new_edits=false", &ct, gzip.as_bytes())
        .await
        .assert_error(415, "unsupported_media_type");
    assert_eq!(hub.count(), 0);
    assert!(
        common::blob_files(&hub.db).is_empty(),
        "no blob was kept for a refused body"
    );
    let ok = hub.send("PUT", "/hub/m?new_edits=false", &ct, &body).await;
    assert_eq!(ok.status, 201);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_and_others_are_served() {
    let hub = hub_with(false, std::time::Duration::from_millis(300)).await;
    // More than loopback socket buffers hold, so the server's writes stall.
    let big = vec![7u8; 48 * 1024 * 1024];
    let put = hub
        .send(
            "PUT",
            "/hub/big/scan.bin",
            &[("Content-Type", "application/octet-stream")],
            &big,
        )
        .await;
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    let mut connections = hub.listener.subscribe_connections();
    let mut stalled = TcpStream::connect(("127.0.0.1", hub.listener.port())).await.unwrap();
    let head = format!(
        "GET /hub/big/scan.bin HTTP/1.1\r\nHost: hub\r\nAuthorization: {}\r\n\r\n",
        basic()
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    connections.wait_for(|n| *n >= 1).await.unwrap();
    // Never read: the listener closes the connection at its write timeout.
    tokio::time::timeout(std::time::Duration::from_secs(60), connections.wait_for(|n| *n == 0))
        .await
        .expect("the stalled connection was closed")
        .unwrap();
    assert_eq!(hub.send("GET", "/hub", &[], b"").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_its_client_never_reads_holds_at_most_its_connection_budget() {
    let hub = hub_with(false, std::time::Duration::from_secs(1)).await;
    // Three batches of rows with ~20 KiB documents: 60 MB, more than the
    // connection's budget and than loopback socket buffers hold.
    let body = json!({ "filler": "x".repeat(20 * 1024) }).to_string();
    let c = hub.db.default_collection().unwrap();
    hub.db
        .batch(|b| {
            for i in 0..3 * CHANGES_BATCH_SIZE {
                b.save(&c, &format!("doc-{i:05}"), None, &body)?;
            }
            Ok(())
        })
        .unwrap();
    let mut connections = hub.listener.subscribe_connections();
    let mut stalled = TcpStream::connect(("127.0.0.1", hub.listener.port())).await.unwrap();
    let head = format!(
        "GET /hub/_changes?include_docs=true HTTP/1.1\r\nHost: hub\r\nAuthorization: {}\r\n\r\n",
        basic()
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    connections.wait_for(|n| *n >= 1).await.unwrap();
    // Never read: the feed stops at the budget, and the write timeout ends it.
    tokio::time::timeout(std::time::Duration::from_secs(60), connections.wait_for(|n| *n == 0))
        .await
        .expect("the stalled connection was closed")
        .unwrap();
    let status = hub.listener.connection_status();
    assert!(
        status.peak_connection_buffered_bytes <= CONNECTION_BUFFER_BYTES,
        "{status:?}"
    );
    // The feed was counted: its pages filled much of the budget while the
    // next waited (without the budget, the peak is 0).
    assert!(
        status.peak_connection_buffered_bytes > CONNECTION_BUFFER_BYTES / 2,
        "{status:?}"
    );
    // A client that reads gets every row once, in order, across pages cut
    // by bytes.
    let feed = hub.send("GET", "/hub/_changes?include_docs=true", &[], b"").await;
    assert_eq!(feed.status, 200);
    let feed = feed.json();
    let rows = feed["results"].as_array().unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..3 * CHANGES_BATCH_SIZE).map(|i| format!("doc-{i:05}")).collect();
    assert_eq!(ids, expected);
    assert!(rows
        .iter()
        .all(|r| r["doc"]["filler"].as_str().map(str::len) == Some(20 * 1024)));
    drop(stalled);
}

/// A hub whose listener checks the stored system users, `USER` among them.
async fn system_users_hub() -> (Hub, outpost_core::hub::SystemUsers) {
    use outpost_core::hub::{Role, SystemUsers};
    use outpost_core::net::{ListenerAuthenticator, UserTable};
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "hub.db");
    let stored = SystemUsers::open(&db).unwrap();
    stored.add(USER, PASSWORD, Role::Sync).unwrap();
    let mut config = listener_config(ListenerAuthenticator::SystemUsers {
        stored: stored.clone(),
        also: UserTable::new(),
    });
    config.disable_tls = true;
    let listener = Listener::start(db.clone(), config).await.unwrap();
    let hub = Hub {
        _dir: dir,
        db,
        listener,
    };
    (hub, stored)
}

/// Sends `GET path` with Basic credentials on an open (keep-alive)
/// connection and reads the one reply.
async fn get_on(stream: &mut TcpStream, path: &str) -> Reply {
    let head = format!("GET {path} HTTP/1.1\r\nHost: hub\r\nAuthorization: {}\r\n\r\n", basic());
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        raw.extend_from_slice(&buf[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(head_len)) = response.parse(&raw) {
            let length = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok());
            let complete = match length {
                Some(length) => raw.len() >= head_len + length,
                None => raw.ends_with(b"0\r\n\r\n"),
            };
            if complete || n == 0 {
                return parse_reply(&raw);
            }
        }
        assert!(n > 0, "the connection closed before a whole reply");
    }
}

#[tokio::test]
async fn a_removed_system_user_is_refused_at_once_despite_cached_credentials() {
    let (hub, stored) = system_users_hub().await;
    // Checked once: the header is cached listener-wide and on this connection.
    assert_eq!(hub.send("GET", "/hub", &[], b"").await.status, 200);
    let mut kept = TcpStream::connect(("127.0.0.1", hub.listener.port())).await.unwrap();
    assert_eq!(get_on(&mut kept, "/hub").await.status, 200);

    assert!(stored.remove(USER).unwrap());
    // Well within the credential cache's lifetime: refused on a new connection
    // and on the connection that already passed.
    hub.send("GET", "/hub", &[], b"")
        .await
        .assert_error(401, "unauthorized");
    get_on(&mut kept, "/hub").await.assert_error(401, "unauthorized");
}

#[tokio::test]
async fn a_changed_password_ends_cached_credentials_and_session_cookies() {
    let (hub, stored) = system_users_hub().await;
    let login = hub.log_in(PASSWORD).await;
    assert_eq!(login.status, 200, "{}", String::from_utf8_lossy(&login.body));
    let cookie = login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let with_cookie = [("Authorization", ""), ("Cookie", cookie.as_str())];
    assert_eq!(hub.send("GET", "/hub", &with_cookie, b"").await.status, 200);
    assert_eq!(hub.send("GET", "/hub", &[], b"").await.status, 200);

    stored.set_password(USER, "a new password").unwrap();
    hub.send("GET", "/hub", &with_cookie, b"")
        .await
        .assert_error(401, "unauthorized");
    let session = hub.send("GET", "/_session", &with_cookie, b"").await.json();
    assert_eq!(session["userCtx"]["name"], Value::Null);
    hub.send("GET", "/hub", &[], b"")
        .await
        .assert_error(401, "unauthorized");

    // The new password works, by Basic and for a new cookie; a user removed
    // after logging in loses that cookie too.
    use base64::Engine;
    let renewed = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:a new password"))
    );
    assert_eq!(
        hub.send("GET", "/hub", &[("Authorization", &renewed)], b"")
            .await
            .status,
        200
    );
    let again = hub.log_in("a new password").await;
    assert_eq!(again.status, 200);
    let cookie = again
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let with_cookie = [("Authorization", ""), ("Cookie", cookie.as_str())];
    assert_eq!(hub.send("GET", "/hub", &with_cookie, b"").await.status, 200);
    stored.remove(USER).unwrap();
    hub.send("GET", "/hub", &with_cookie, b"")
        .await
        .assert_error(401, "unauthorized");
}
