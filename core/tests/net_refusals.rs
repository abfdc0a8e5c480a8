//! Everything a listener or replicator must refuse, each asserting the
//! error kind and that no document crossed; and untrusted frames from a
//! raw WebSocket peer, which close that connection without writing
//! anything while the listener keeps serving others.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::net::{config, listener, listener_config, remote, users, TestCa, PASSWORD, USER};
use common::{body, open};
use futures_util::{SinkExt, StreamExt};
use outpost_core::net::{
    ClientAuth, ClientCertificates, Listener, ListenerAuthenticator, RemoteConfig, RemoteEndpoint, ServerTrust,
    TlsIdentity,
};
use outpost_core::replication::{Direction, Endpoint, Replicator, ReplicatorConfig};
use outpost_core::{Database, Error, ReplicationError};
use tokio_tungstenite::tungstenite::Message;

fn seed(db: &Database, n: usize) {
    let c = db.default_collection().unwrap();
    for i in 0..n {
        c.save(&format!("doc-{i}"), None, &body(i)).unwrap();
    }
}

fn count(db: &Database) -> u64 {
    db.default_collection().unwrap().count().unwrap()
}

/// Runs a one-shot push-and-pull with `remote` and returns its error,
/// asserting nothing crossed in either direction.
async fn refused(phone: &Database, hub: &Database, remote: RemoteConfig, direction: Direction) -> ReplicationError {
    let (phone_before, hub_before) = (count(phone), count(hub));
    let mut cfg = config(direction, false);
    cfg.max_attempts = Some(1);
    let err = Replicator::remote(phone.clone(), remote, cfg)
        .unwrap()
        .run()
        .await
        .unwrap_err();
    assert_eq!(count(phone), phone_before, "nothing was pulled");
    assert_eq!(count(hub), hub_before, "nothing was pushed");
    match err {
        Error::Replication(r) => r,
        other => panic!("expected a replication error, got {other}"),
    }
}

struct Pair {
    _dir: tempfile::TempDir,
    hub: Database,
    phone: Database,
}

fn pair() -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    seed(&hub, 5);
    phone
        .default_collection()
        .unwrap()
        .save("mine", None, r#"{"a":1}"#)
        .unwrap();
    Pair { _dir: dir, hub, phone }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_credentials_are_permanent_refusals() {
    let p = pair();
    let listener = listener(&p.hub).await;
    let wrong = remote(&listener).with_auth(ClientAuth::basic(USER, "guess"));
    let e = refused(&p.phone, &p.hub, wrong, Direction::PushAndPull).await;
    assert!(matches!(e, ReplicationError::Unauthorized(_)), "{e}");
    let mut none = remote(&listener);
    none.auth = None;
    let e = refused(&p.phone, &p.hub, none, Direction::PushAndPull).await;
    assert!(matches!(e, ReplicationError::Unauthorized(_)), "{e}");
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_lock_the_address_out() {
    let p = pair();
    let listener = listener(&p.hub).await;
    for _ in 0..5 {
        let wrong = remote(&listener).with_auth(ClientAuth::basic(USER, "guess"));
        let e = refused(&p.phone, &p.hub, wrong, Direction::Pull).await;
        assert!(matches!(e, ReplicationError::Unauthorized(_)), "{e}");
    }
    // Locked out: even the right password is told to come back later
    // (transient), before it is checked.
    let e = refused(&p.phone, &p.hub, remote(&listener), Direction::Pull).await;
    assert!(
        matches!(&e, ReplicationError::Unreachable(m) if m.contains("retry")),
        "{e}"
    );
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_client_certificate_is_refused() {
    let p = pair();
    let allowed = TlsIdentity::generate_self_signed(&[]).unwrap();
    let auth = ListenerAuthenticator::ClientCertificates(ClientCertificates::Fingerprints(vec![allowed.fingerprint()]));
    let listener = Listener::start(p.hub.clone(), listener_config(auth)).await.unwrap();
    let stranger = TlsIdentity::generate_self_signed(&[]).unwrap();
    let r = RemoteConfig::new(listener.urls()[0].clone())
        .with_auth(ClientAuth::Certificate(stranger))
        .with_trust(ServerTrust::SelfSignedOnly);
    let e = refused(&p.phone, &p.hub, r, Direction::PushAndPull).await;
    assert!(matches!(e, ReplicationError::Unauthorized(_)), "{e}");
    // No certificate at all.
    let r = RemoteConfig::new(listener.urls()[0].clone()).with_trust(ServerTrust::SelfSignedOnly);
    let e = refused(&p.phone, &p.hub, r, Direction::PushAndPull).await;
    assert!(matches!(e, ReplicationError::Unauthorized(_)), "{e}");
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_trust_modes_refuse_the_wrong_certificate_before_any_data() {
    let p = pair();
    let self_signed = listener(&p.hub).await;
    let other = TlsIdentity::generate_self_signed(&[]).unwrap();
    let pin = remote(&self_signed).with_trust(ServerTrust::PinnedFingerprint(other.fingerprint()));
    let e = refused(&p.phone, &p.hub, pin, Direction::PushAndPull).await;
    assert!(
        matches!(&e, ReplicationError::CertificateRejected(m) if m.contains("pinned")),
        "{e}"
    );
    let pin = remote(&self_signed).with_trust(ServerTrust::PinnedCertificate(other.certificate().to_vec()));
    let e = refused(&p.phone, &p.hub, pin, Direction::PushAndPull).await;
    assert!(matches!(e, ReplicationError::CertificateRejected(_)), "{e}");

    let ca = TestCa::new();
    let by_ca = remote(&self_signed).with_trust(ServerTrust::CaCertificates(vec![ca.der()]));
    let e = refused(&p.phone, &p.hub, by_ca, Direction::PushAndPull).await;
    assert!(
        matches!(e, ReplicationError::CertificateRejected(_)),
        "CA mode vs self-signed: {e}"
    );
    let system = remote(&self_signed).with_trust(ServerTrust::SystemRoots);
    let e = refused(&p.phone, &p.hub, system, Direction::PushAndPull).await;
    assert!(
        matches!(e, ReplicationError::CertificateRejected(_)),
        "system roots vs self-signed: {e}"
    );
    self_signed.stop().await;

    let mut cfg = listener_config(users());
    cfg.identity = Some(ca.issue());
    let ca_signed = Listener::start(p.hub.clone(), cfg).await.unwrap();
    let only_self_signed = remote(&ca_signed).with_trust(ServerTrust::SelfSignedOnly);
    let e = refused(&p.phone, &p.hub, only_self_signed, Direction::PushAndPull).await;
    assert!(
        matches!(&e, ReplicationError::CertificateRejected(m) if m.contains("self-signed")),
        "{e}"
    );
    // The right modes work against the same listeners.
    let ok = remote(&ca_signed).with_trust(ServerTrust::CaCertificates(vec![ca.der()]));
    Replicator::remote(p.phone.clone(), ok, config(Direction::Pull, false))
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(count(&p.phone), 6);
    ca_signed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_mismatches_are_permanent() {
    let p = pair();
    let tls = listener(&p.hub).await;
    let plain_url = tls.urls()[0].replace("wss://", "ws://");
    let mut ws_to_tls = remote(&tls);
    ws_to_tls.url = plain_url;
    let e = refused(&p.phone, &p.hub, ws_to_tls, Direction::PushAndPull).await;
    assert!(
        matches!(&e, ReplicationError::TlsMismatch(m) if m.contains("wss://")),
        "{e}"
    );
    tls.stop().await;

    let mut cfg = listener_config(users());
    cfg.disable_tls = true;
    let plain = Listener::start(p.hub.clone(), cfg).await.unwrap();
    assert!(plain.fingerprint().is_none());
    let wss_to_plain = RemoteConfig::new(plain.urls()[0].replace("ws://", "wss://"))
        .with_auth(ClientAuth::basic(USER, PASSWORD))
        .with_trust(ServerTrust::SelfSignedOnly);
    let e = refused(&p.phone, &p.hub, wss_to_plain, Direction::PushAndPull).await;
    assert!(
        matches!(&e, ReplicationError::TlsMismatch(m) if m.contains("ws://")),
        "{e}"
    );
    plain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_listener_refuses_pushes_and_serves_pulls() {
    let p = pair();
    let mut cfg = listener_config(users());
    cfg.read_only = true;
    let listener = Listener::start(p.hub.clone(), cfg).await.unwrap();
    for direction in [Direction::Push, Direction::PushAndPull] {
        let e = refused(&p.phone, &p.hub, remote(&listener), direction).await;
        assert_eq!(e, ReplicationError::ReadOnly);
    }
    Replicator::remote(p.phone.clone(), remote(&listener), config(Direction::Pull, false))
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(count(&p.phone), 6);
    assert_eq!(count(&p.hub), 5, "the phone's own document was not pushed");
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_database_path_and_unserved_collection_are_refused() {
    let p = pair();
    let listener = listener(&p.hub).await;
    let mut wrong_path = remote(&listener);
    wrong_path.url = format!("wss://127.0.0.1:{}/elsewhere", listener.port());
    let e = refused(&p.phone, &p.hub, wrong_path, Direction::Pull).await;
    assert!(matches!(e, ReplicationError::NotServed(_)), "{e}");

    p.phone.create_collection("photos").unwrap();
    let cfg = ReplicatorConfig {
        collections: vec![outpost_core::replication::CollectionConfig::new("photos")],
        max_attempts: Some(1),
        ..config(Direction::Pull, false)
    };
    let e = Replicator::remote(p.phone.clone(), remote(&listener), cfg)
        .unwrap()
        .run()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Replication(ReplicationError::NotServed(_))), "{e}");
    listener.stop().await;
}

// ---- Raw WebSocket peers (fault injection) ----

type RawWs = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A plain anonymous listener for raw peers.
async fn plain_listener(db: &Database) -> Listener {
    let mut cfg = listener_config(ListenerAuthenticator::Anonymous);
    cfg.disable_tls = true;
    cfg.write_timeout = Duration::from_secs(1);
    Listener::start(db.clone(), cfg).await.unwrap()
}

async fn raw_connect(listener: &Listener) -> RawWs {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", listener.port()))
        .await
        .unwrap();
    let (ws, _) = tokio_tungstenite::client_async(listener.urls()[0].as_str(), tcp)
        .await
        .unwrap();
    ws
}

async fn next_text(ws: &mut RawWs) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("answer in time")
        {
            Some(Ok(Message::Text(t))) => return Some(t.to_string()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Raw peer after a valid hello.
async fn raw_session(listener: &Listener) -> RawWs {
    let mut ws = raw_connect(listener).await;
    let hello = r#"{"id":0,"req":{"hello":{"protocol":1,"min_protocol":1,"uuid":"raw"}}}"#;
    ws.send(Message::text(hello)).await.unwrap();
    let ack = next_text(&mut ws).await.expect("hello answered");
    assert!(ack.contains(r#""re":0,"ok""#), "{ack}");
    ws
}

/// A one-shot pull from a plain anonymous listener, which must succeed.
async fn pull_anonymously(phone: &Database, listener: &Listener) {
    let r = RemoteConfig::new(listener.urls()[0].clone());
    let replicator = Replicator::remote(phone.clone(), r, config(Direction::Pull, false)).unwrap();
    replicator.run().await.unwrap();
}

/// Waits until the server has closed the connection.
async fn assert_closed(ws: &mut RawWs) {
    while next_text(ws).await.is_some() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_version_mismatch_is_refused_both_ways() {
    let p = pair();
    let listener = plain_listener(&p.hub).await;
    let mut ws = raw_connect(&listener).await;
    ws.send(Message::text(
        r#"{"id":0,"req":{"hello":{"protocol":99,"min_protocol":99,"uuid":"future"}}}"#,
    ))
    .await
    .unwrap();
    let reply = next_text(&mut ws).await.expect("refusal");
    assert!(reply.contains(r#""code":"protocol_version""#), "{reply}");
    assert_closed(&mut ws).await;
    listener.stop().await;

    // A fake listener from the future: the replicator stops with a permanent error.
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let fake = tokio::spawn(async move {
        let (stream, _) = tcp.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        let _hello = ws.next().await;
        let refusal = r#"{"re":0,"err":{"code":"protocol_version","message":"speaks 7 only","protocol":7}}"#;
        ws.send(Message::text(refusal)).await.unwrap();
    });
    let r = RemoteConfig::new(format!("ws://127.0.0.1:{port}/hub"));
    let e = refused(&p.phone, &p.hub, r, Direction::PushAndPull).await;
    assert_eq!(e, ReplicationError::IncompatibleProtocol { ours: 1, theirs: 7 });
    fake.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_close_only_that_connection_and_write_nothing() {
    let p = pair();
    let listener = plain_listener(&p.hub).await;
    let sequence_before = p.hub.last_sequence().unwrap();
    let bad_frames: Vec<Message> = vec![
        Message::text("not json"),
        Message::text(r#"{"id":1,"req":{"explode":{}}}"#),
        Message::text(r#"{"id":"one","req":{"changes":{"collection":"_default","since":0,"limit":5}}}"#),
        Message::text(r#"{"id":1,"req":{"changes":{"collection":"_default","since":-1,"limit":5}}}"#),
        Message::text(r#"{"id":1,"re":2,"ok":{}}"#),
        Message::text(r#"{"re":99,"ok":{}}"#),
        Message::text(r#"[1,2,3]"#),
        Message::binary(vec![0xff, 0x00, 0x12]),
        Message::text(format!(
            r#"{{"id":1,"req":{{"wait_changes":{{"since":0}}}},"pad":"{}"}}"#,
            "x".repeat(17 << 20)
        )),
    ];
    for frame in bad_frames {
        let mut ws = raw_session(&listener).await;
        let _ = ws.send(frame).await;
        assert_closed(&mut ws).await;
    }
    // Well-formed requests with bad contents get a typed error, not a write.
    let mut ws = raw_session(&listener).await;
    let bad_insert =
        r#"{"id":1,"req":{"insert":{"collection":"_default","revisions":[{"id":"x","history":["bogus"],"body":{}}]}}}"#;
    ws.send(Message::text(bad_insert)).await.unwrap();
    let reply = next_text(&mut ws).await.unwrap();
    assert!(reply.contains(r#""code":"invalid_input""#), "{reply}");
    let bad_body =
        r#"{"id":2,"req":{"insert":{"collection":"_default","revisions":[{"id":"x","history":["1-aa"],"body":[1]}]}}}"#;
    ws.send(Message::text(bad_body)).await.unwrap();
    let reply = next_text(&mut ws).await.unwrap();
    assert!(reply.contains(r#""err""#) && reply.contains("object"), "{reply}");
    let foreign_local = r#"{"id":3,"req":{"put_checkpoint":{"collection":"_default","id":"settings","body":{}}}}"#;
    ws.send(Message::text(foreign_local)).await.unwrap();
    let reply = next_text(&mut ws).await.unwrap();
    assert!(reply.contains(r#""code":"invalid_input""#), "{reply}");
    drop(ws);
    assert_eq!(p.hub.last_sequence().unwrap(), sequence_before, "nothing was written");

    // The listener still serves well-behaved peers.
    pull_anonymously(&p.phone, &listener).await;
    assert_eq!(count(&p.phone), 6);
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_is_disconnected() {
    let p = pair();
    let big = format!(r#"{{"blob":"{}"}}"#, "y".repeat(200_000));
    let c = p.hub.default_collection().unwrap();
    for i in 0..40 {
        c.save(&format!("big-{i}"), None, &big).unwrap();
    }
    let listener = plain_listener(&p.hub).await;
    let changes = c.changes(0, 100).unwrap();
    let wanted: Vec<String> = changes
        .changes
        .iter()
        .map(|ch| format!(r#"["{}","{}"]"#, ch.id, ch.rev))
        .collect();
    let fetch = |id: u64| {
        format!(
            r#"{{"id":{id},"req":{{"fetch":{{"collection":"_default","wanted":[{}],"max_history":10,"max_bytes":4194304}}}}}}"#,
            wanted.join(",")
        )
    };
    let mut ws = raw_session(&listener).await;
    // Ask for ~8 MB again and again without ever reading a reply. Sending
    // blocks once the listener stops reading too, and fails once it has
    // given up on the connection (its write timeout is 1 s).
    let flood = async {
        for id in 1.. {
            if ws.send(Message::text(fetch(id))).await.is_err() {
                return true;
            }
        }
        false
    };
    let disconnected = tokio::time::timeout(Duration::from_secs(60), flood).await;
    assert!(
        matches!(disconnected, Ok(true)),
        "the stalled connection was closed by the listener"
    );
    drop(ws);
    pull_anonymously(&p.phone, &listener).await;
    assert_eq!(count(&p.phone), 46);
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_told_to_retry_later() {
    let p = pair();
    let mut cfg = listener_config(users());
    cfg.max_connections = 1;
    let listener = Listener::start(p.hub.clone(), cfg).await.unwrap();
    let first = Replicator::remote(p.phone.clone(), remote(&listener), config(Direction::PushAndPull, true)).unwrap();
    first.start().unwrap();
    common::net::wait_idle(&first).await;
    let other = open(p._dir.path(), "other.db");
    let e = refused(&other, &p.hub, remote(&listener), Direction::Pull).await;
    assert!(
        matches!(&e, ReplicationError::Unreachable(m) if m.contains("connection limit")),
        "{e}"
    );
    first.stop();
    listener.stop().await;
}

/// A one-shot push-and-pull whose login is refused costs the listener one
/// password check: the passes do not each race to connect (a slow check
/// used to let both in, doubling what the login throttle counts).
/// An authenticator that refuses every login after `delay`, and the
/// number of password checks it made.
fn counting_refusal(delay: Duration) -> (ListenerAuthenticator, Arc<AtomicUsize>) {
    let checks = Arc::new(AtomicUsize::new(0));
    let counted = checks.clone();
    let refusal = ListenerAuthenticator::password(move |_: &str, _: &str| {
        counted.fetch_add(1, SeqCst);
        // Slow, like an app's accounts service: the window a race needs.
        std::thread::sleep(delay);
        false
    });
    (refusal, checks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_is_checked_once_per_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let (slow_refusal, checks) = counting_refusal(Duration::from_millis(200));
    let listener = Listener::start(hub.clone(), listener_config(slow_refusal))
        .await
        .unwrap();
    let mut config = config(Direction::PushAndPull, false);
    config.max_attempts = Some(1);
    let replicator = Replicator::remote(phone.clone(), remote(&listener), config).unwrap();
    let outcome = replicator.run().await;
    assert!(
        matches!(outcome, Err(Error::Replication(ReplicationError::Unauthorized(_)))),
        "{outcome:?}"
    );
    assert_eq!(checks.load(SeqCst), 1);
}

/// The endpoint itself, under the replicator's pre-check: requests of one
/// attempt running at once (as push, pull and several collections do after
/// a lost connection) share one failed login; the next attempt logs in
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_waiting_on_a_refused_login_share_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let (refusal, checks) = counting_refusal(Duration::ZERO);
    let listener = Listener::start(hub.clone(), listener_config(refusal)).await.unwrap();
    let endpoint = RemoteEndpoint::new(remote(&listener), phone.uuid(), true).unwrap();
    let unauthorized = |outcome: Result<(), Error>| {
        assert!(
            matches!(outcome, Err(Error::Replication(ReplicationError::Unauthorized(_)))),
            "{outcome:?}"
        );
    };
    let (a, b, c, d, e) = tokio::join!(
        endpoint.uuid(),
        endpoint.served_collections(),
        endpoint.get_checkpoint("default", "_local/a"),
        endpoint.put_checkpoint("default", "_local/b", "{}"),
        endpoint.uuid(),
    );
    for outcome in [a.map(drop), b.map(drop), c.map(drop), d, e.map(drop)] {
        unauthorized(outcome);
    }
    unauthorized(endpoint.uuid().await.map(drop));
    assert_eq!(checks.load(SeqCst), 1, "one login for the whole attempt");

    endpoint.begin_attempt().await;
    unauthorized(endpoint.uuid().await.map(drop));
    assert_eq!(checks.load(SeqCst), 2, "the next attempt logs in again");
}
