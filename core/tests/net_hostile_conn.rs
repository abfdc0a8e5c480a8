//! Hostile peers against one connection's and one listener's resources
//! (issue 10, items 6 and 7), on a real listener on 127.0.0.1:
//! - peers that ask for large documents and never read the replies hold at
//!   most a connection's byte budget each, and together at most the
//!   listener's, are closed by the write timeout, and cost nothing stored;
//! - checkpoints are bounded in size and number and kept apart per peer,
//!   and a read-only listener keeps only a few while a pull still resumes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::net::{config, listener_config, raw_websocket, RawWs, TestCa};
use common::open;
use futures_util::{SinkExt, StreamExt};
use outpost_core::net::{
    ClientAuth, ConnectionStatus, Listener, ListenerAuthenticator, RemoteConfig, RemoteEndpoint, ServerTrust, UserTable,
};
use outpost_core::replication::checkpoint::Checkpointer;
use outpost_core::replication::{CollectionConfig, Direction, Endpoint, LocalEndpoint, Replicator};
use outpost_core::tuning::{
    CONNECTION_BUFFER_BYTES, LISTENER_BUFFER_BYTES, MAX_CHECKPOINTS_PER_PEER, MAX_CHECKPOINTS_PER_PEER_READ_ONLY,
    MAX_CHECKPOINT_BYTES, MAX_INSERT_REVISIONS,
};
use outpost_core::{Database, Error, ReplicationError};
use tokio_tungstenite::tungstenite::Message;

/// Size of the document the flooding peers ask for, again and again.
const BIG_BODY_BYTES: usize = 3 << 20;

/// Fetches each flooding peer sends without reading a reply: 120 MiB of
/// replies asked for, several times one connection's budget.
const FLOOD_FETCHES: u64 = 40;

struct Hub {
    dir: tempfile::TempDir,
    db: Database,
    big_body: String,
    big_rev: String,
}

/// A hub with one large document and a few small ones.
fn hub() -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "hub.db");
    let c = db.default_collection().unwrap();
    let big_body = format!(r#"{{"photo":"{}"}}"#, "y".repeat(BIG_BODY_BYTES));
    let big_rev = c.save("big", None, &big_body).unwrap().to_string();
    for i in 0..5 {
        c.save(&format!("doc-{i}"), None, &common::body(i)).unwrap();
    }
    Hub {
        dir,
        db,
        big_body,
        big_rev,
    }
}

/// A plain anonymous listener that gives up on a peer that does not read
/// a frame within `write_timeout`.
async fn plain_listener(db: &Database, write_timeout: Duration) -> Listener {
    let mut cfg = listener_config(ListenerAuthenticator::Anonymous);
    cfg.disable_tls = true;
    cfg.write_timeout = write_timeout;
    Listener::start(db.clone(), cfg).await.unwrap()
}

/// A raw peer that has sent hello and then `frames`, without reading.
async fn raw_peer(listener: &Listener, frames: impl IntoIterator<Item = String>) -> RawWs {
    let mut ws = raw_websocket(listener).await;
    let hello = r#"{"id":0,"req":{"hello":{"protocol":1,"min_protocol":1,"uuid":"raw"}}}"#.to_owned();
    for frame in std::iter::once(hello).chain(frames) {
        ws.send(Message::text(frame)).await.unwrap();
    }
    ws
}

/// The next reply `ws` reads, as text.
async fn next_reply(ws: &mut RawWs) -> String {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a reply in time")
            .expect("the connection is open")
            .unwrap();
        if let Message::Text(text) = message {
            return text.to_string();
        }
    }
}

/// A raw peer that asks [`FLOOD_FETCHES`] times for the large document and
/// never reads anything. Returned to keep its socket open.
async fn flood(listener: &Listener, hub: &Hub) -> RawWs {
    raw_peer(
        listener,
        (1..=FLOOD_FETCHES).map(|id| {
        format!(
            r#"{{"id":{id},"req":{{"fetch":{{"collection":"_default","wanted":[["big","{}"]],"max_history":10,"max_bytes":1}}}}}}"#,
            hub.big_rev
        )
        }),
    )
    .await
}

/// Waits (up to 60 s) until the listener has no connection left.
async fn wait_all_closed(listener: &Listener) {
    let mut open = listener.subscribe_connections();
    tokio::time::timeout(Duration::from_secs(60), open.wait_for(|n| *n == 0))
        .await
        .expect("connections closed in time")
        .unwrap();
}

/// A one-shot anonymous pull into a new database, which must bring every
/// document intact.
async fn pull_everything(hub: &Hub, listener: &Listener, name: &str) {
    let phone = open(hub.dir.path(), name);
    let remote = RemoteConfig::new(listener.urls()[0].clone());
    Replicator::remote(phone.clone(), remote, config(Direction::Pull, false))
        .unwrap()
        .run()
        .await
        .unwrap();
    let c = phone.default_collection().unwrap();
    assert_eq!(c.count().unwrap(), 6);
    assert_eq!(c.get("big").unwrap().unwrap().body, hub.big_body);
}

/// The bounds every status must keep, and that nothing is left held once
/// every connection has closed.
fn assert_within_budgets(status: &ConnectionStatus) {
    assert!(
        status.peak_connection_buffered_bytes <= CONNECTION_BUFFER_BYTES,
        "one connection held {} bytes, over its budget of {CONNECTION_BUFFER_BYTES}",
        status.peak_connection_buffered_bytes
    );
    assert!(
        status.peak_buffered_bytes <= LISTENER_BUFFER_BYTES,
        "the listener held {} bytes, over its budget of {LISTENER_BUFFER_BYTES}",
        status.peak_buffered_bytes
    );
    assert_eq!(status.buffered_bytes, 0, "every reservation was given back");
}

/// The hub's documents are all there, the large one intact.
fn assert_nothing_lost(hub: &Hub) {
    let c = hub.db.default_collection().unwrap();
    assert_eq!(c.count().unwrap(), 6);
    assert_eq!(c.get("big").unwrap().unwrap().body, hub.big_body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_reads_holds_at_most_its_connection_budget() {
    let hub = hub();
    let listener = plain_listener(&hub.db, Duration::from_secs(3)).await;
    let stalled = flood(&listener, &hub).await;
    // Another peer is served meanwhile.
    pull_everything(&hub, &listener, "phone.db").await;
    // The write timeout ends the stalled connection.
    wait_all_closed(&listener).await;
    let status = listener.connection_status();
    assert_within_budgets(&status);
    // The budget was really under pressure: without it, the 40 replies
    // would have been queued and held whole.
    assert!(
        status.peak_connection_buffered_bytes > CONNECTION_BUFFER_BYTES / 2,
        "{status:?}"
    );
    drop(stalled);
    assert_nothing_lost(&hub);
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_peers_that_never_read_stay_within_the_listener_budget() {
    let hub = hub();
    let listener = plain_listener(&hub.db, Duration::from_secs(5)).await;
    // Six connections could hold six connection budgets, more than the
    // listener's.
    let peers = LISTENER_BUFFER_BYTES / CONNECTION_BUFFER_BYTES + 2;
    let mut stalled = Vec::new();
    for _ in 0..peers {
        stalled.push(flood(&listener, &hub).await);
    }
    wait_all_closed(&listener).await;
    let status = listener.connection_status();
    assert_within_budgets(&status);
    assert!(
        status.peak_buffered_bytes > LISTENER_BUFFER_BYTES / 2,
        "the stalled peers together filled much of the listener's budget: {status:?}"
    );
    drop(stalled);
    // The listener serves again once they are gone.
    pull_everything(&hub, &listener, "phone.db").await;
    assert_nothing_lost(&hub);
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insert_past_the_revision_limit_is_refused_and_the_connection_goes_on() {
    let hub = hub();
    let listener = plain_listener(&hub.db, Duration::from_secs(30)).await;
    let revision = r#"{"id":"x","history":["1-aa"],"body":{}}"#;
    let revisions = vec![revision; MAX_INSERT_REVISIONS + 1].join(",");
    let insert = format!(r#"{{"id":1,"req":{{"insert":{{"collection":"_default","revisions":[{revisions}]}}}}}}"#);
    let count = r#"{"id":2,"req":{"count_changes":{"collection":"_default","since":0}}}"#.to_owned();
    let mut ws = raw_peer(&listener, [insert, count]).await;
    let replies = [
        next_reply(&mut ws).await,
        next_reply(&mut ws).await,
        next_reply(&mut ws).await,
    ];
    assert!(replies[0].contains(r#""re":0,"ok""#), "{}", replies[0]);
    let refusal = replies.iter().find(|r| r.contains(r#""re":1,"#)).unwrap();
    assert!(refusal.contains(r#""code":"limit_exceeded""#), "{refusal}");
    let counted = replies.iter().find(|r| r.contains(r#""re":2,"#)).unwrap();
    assert!(counted.contains(r#""ok":6"#), "{counted}");
    assert_nothing_lost(&hub);
    listener.stop().await;
}

// ---- Checkpoints ----

const ALICE: (&str, &str) = ("alice", "alice's long passphrase");
const BOB: (&str, &str) = ("bob", "bob's long passphrase");

async fn users_listener(db: &Database, read_only: bool) -> Listener {
    let users = UserTable::new()
        .with_user(ALICE.0, ALICE.1)
        .unwrap()
        .with_user(BOB.0, BOB.1)
        .unwrap();
    let mut cfg = listener_config(ListenerAuthenticator::Users(users));
    cfg.identity = Some(TestCa::new().issue());
    cfg.read_only = read_only;
    Listener::start(db.clone(), cfg).await.unwrap()
}

fn remote_as(listener: &Listener, (user, password): (&str, &str)) -> RemoteConfig {
    RemoteConfig::new(listener.urls()[0].clone())
        .with_auth(ClientAuth::basic(user, password))
        .with_trust(ServerTrust::PinnedFingerprint(listener.fingerprint().unwrap()))
}

/// `user`'s endpoint on `listener`, as a pulling replicator would open it.
fn endpoint_as(listener: &Listener, user: (&str, &str)) -> RemoteEndpoint {
    RemoteEndpoint::new(remote_as(listener, user), &format!("{}-phone", user.0), false).unwrap()
}

/// Saves a checkpoint, returning the wire code of a refusal.
async fn put(ep: &RemoteEndpoint, id: &str, body: &str) -> Result<(), String> {
    match ep.put_checkpoint("_default", id, body).await {
        Ok(()) => Ok(()),
        Err(Error::Replication(ReplicationError::Refused { code, .. })) => Err(code),
        Err(other) => panic!("expected a refusal, got {other}"),
    }
}

async fn get(ep: &RemoteEndpoint, id: &str) -> Option<String> {
    ep.get_checkpoint("_default", id).await.unwrap()
}

/// Fills `ep`'s quota of `quota` ids (`already` are used), then checks the
/// next new id is refused while existing ones can still be saved.
async fn assert_quota(ep: &RemoteEndpoint, quota: usize, already: usize) {
    for i in already..quota {
        put(ep, &format!("checkpoint-{i}"), r#"{"sequence":1}"#).await.unwrap();
    }
    assert_eq!(
        put(ep, "checkpoint-one-too-many", r#"{"sequence":1}"#).await,
        Err("limit_exceeded".to_owned())
    );
    put(ep, &format!("checkpoint-{}", quota - 1), r#"{"sequence":2}"#)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_bounded_and_kept_apart_per_peer() {
    let hub = hub();
    let listener = users_listener(&hub.db, false).await;
    let (alice, bob) = (endpoint_as(&listener, ALICE), endpoint_as(&listener, BOB));

    put(&alice, "checkpoint-shared", r#"{"sequence":1}"#).await.unwrap();
    assert_eq!(get(&bob, "checkpoint-shared").await, None, "bob cannot read alice's");
    put(&bob, "checkpoint-shared", r#"{"sequence":2}"#).await.unwrap();
    assert_eq!(get(&alice, "checkpoint-shared").await.unwrap(), r#"{"sequence":1}"#);
    assert_eq!(get(&bob, "checkpoint-shared").await.unwrap(), r#"{"sequence":2}"#);
    let hubs_own = hub
        .db
        .default_collection()
        .unwrap()
        .get_local("checkpoint-shared")
        .unwrap();
    assert_eq!(hubs_own, None, "peers never write the hub's own checkpoints");

    // Too large: refused, and the connection goes on.
    let oversize = format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_CHECKPOINT_BYTES));
    assert_eq!(
        put(&alice, "checkpoint-big", &oversize).await,
        Err("invalid_input".to_owned())
    );
    assert_eq!(get(&alice, "checkpoint-big").await, None);
    assert_eq!(get(&alice, "checkpoint-shared").await.unwrap(), r#"{"sequence":1}"#);

    assert_quota(&alice, MAX_CHECKPOINTS_PER_PEER, 1).await;
    // Alice's quota is hers: bob still saves new ids.
    put(&bob, "checkpoint-another", r#"{"sequence":3}"#).await.unwrap();
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_listener_keeps_few_checkpoints_and_a_pull_still_resumes() {
    let hub = hub();
    let listener = users_listener(&hub.db, true).await;
    let phone = open(hub.dir.path(), "phone.db");
    let pull = || {
        Replicator::remote(
            phone.clone(),
            remote_as(&listener, ALICE),
            config(Direction::Pull, false),
        )
        .unwrap()
    };
    pull().run().await.unwrap();
    hub.db
        .default_collection()
        .unwrap()
        .save("later", None, r#"{"a":1}"#)
        .unwrap();
    pull().run().await.unwrap();
    assert_eq!(phone.default_collection().unwrap().count().unwrap(), 7);

    // Both sides hold the same checkpoint: the next pull starts after
    // everything it has read, not from zero.
    let local: Arc<dyn Endpoint> = Arc::new(LocalEndpoint::new(phone.clone()));
    let remote: Arc<dyn Endpoint> = Arc::new(endpoint_as(&listener, ALICE));
    let mut checkpointer = Checkpointer::new(local, remote, &CollectionConfig::new("_default"), Direction::Pull)
        .await
        .unwrap();
    assert_eq!(
        checkpointer.load().await.unwrap(),
        hub.db.last_sequence().unwrap().into()
    );

    // The pull used one of alice's few ids.
    let alice = endpoint_as(&listener, ALICE);
    assert_quota(&alice, MAX_CHECKPOINTS_PER_PEER_READ_ONLY, 1).await;
    let oversize = format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_CHECKPOINT_BYTES));
    assert_eq!(
        put(&alice, "checkpoint-0", &oversize).await,
        Err("invalid_input".to_owned())
    );
    listener.stop().await;
}
