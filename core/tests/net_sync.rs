//! Replication over real WebSocket + TLS connections on 127.0.0.1: every
//! direction, one-shot and continuous, client certificates, the listener's
//! API, a listener restarted mid-replication, and a three-peer mesh.

mod common;

use common::net::{config, listener, listener_config, net_replicator, wait_idle, wait_status, TestCa};
use common::{assert_same, body, open, wait_until};
use outpost_core::net::{
    ClientAuth, ClientCertificates, Listener, ListenerAuthenticator, RemoteConfig, ServerTrust, TlsIdentity,
};
use outpost_core::replication::{ActivityLevel, Direction, Replicator};
use outpost_core::{Database, Error, ReplicationError};

fn fill(db: &Database, prefix: &str, n: usize) {
    let c = db.default_collection().unwrap();
    db.batch(|b| {
        for i in 0..n {
            b.save(&c, &format!("{prefix}-{i}"), None, &body(i))?;
        }
        Ok(())
    })
    .unwrap();
}

fn count(db: &Database) -> u64 {
    db.default_collection().unwrap().count().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_pull_and_push_and_pull_over_tls_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let listener = listener(&hub).await;
    fill(&phone, "phone", 50);
    fill(&hub, "hub", 30);

    let push = net_replicator(&phone, &listener, Direction::Push, false);
    assert_eq!(push.pending_document_ids("_default").await.unwrap().len(), 50);
    let pushed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = pushed.clone();
    let _token = push.add_document_listener(move |events| {
        sink.lock()
            .unwrap()
            .extend(events.iter().filter(|e| e.error.is_none()).map(|e| e.id.clone()))
    });
    push.run().await.unwrap();
    assert_eq!(count(&hub), 80, "push sent the phone's 50 documents");
    assert_eq!(pushed.lock().unwrap().len(), 50, "one event per pushed document");
    assert!(push.pending_document_ids("_default").await.unwrap().is_empty());
    let progress = push.status().progress;
    assert_eq!((progress.completed, progress.total), (50, 50));
    assert_eq!(count(&phone), 50, "push brought nothing back");

    net_replicator(&phone, &listener, Direction::Pull, false)
        .run()
        .await
        .unwrap();
    assert_eq!(count(&phone), 80);
    assert_same(&hub, &phone);

    // Edits on both sides, then both directions on one connection.
    let (hc, pc) = (hub.default_collection().unwrap(), phone.default_collection().unwrap());
    hc.save("hub-new", None, r#"{"from":"hub"}"#).unwrap();
    pc.save("phone-new", None, r#"{"from":"phone"}"#).unwrap();
    let rev = pc.get("hub-1").unwrap().unwrap().rev;
    pc.delete("hub-1", &rev).unwrap();
    let r = net_replicator(&phone, &listener, Direction::PushAndPull, false);
    r.run().await.unwrap();
    assert_eq!(r.status().activity, ActivityLevel::Stopped);
    assert!(r.status().error.is_none());
    assert_same(&hub, &phone);
    assert!(hc.get("hub-1").unwrap().unwrap().deleted);
    assert!(listener.connection_status().total_accepted >= 3);
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_replication_propagates_both_ways_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let listener = listener(&hub).await;
    let r = net_replicator(&phone, &listener, Direction::PushAndPull, true);
    r.start().unwrap();
    wait_idle(&r).await;
    assert_eq!(listener.connection_status().connections, 1);

    phone
        .default_collection()
        .unwrap()
        .save("from-phone", None, r#"{"n":1}"#)
        .unwrap();
    let hc = hub.default_collection().unwrap();
    wait_until(&hub, || hc.get("from-phone").unwrap().is_some()).await;
    hc.save("from-hub", None, r#"{"n":2}"#).unwrap();
    let pc = phone.default_collection().unwrap();
    wait_until(&phone, || pc.get("from-hub").unwrap().is_some()).await;

    r.stop();
    let status = wait_status(&r, |s| s.activity == ActivityLevel::Stopped).await;
    assert!(status.error.is_none(), "stopped cleanly: {:?}", status.error);
    listener.stop().await;
    assert_same(&hub, &phone);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_by_fingerprint_and_by_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    fill(&phone, "p", 20);
    let phone_identity = TlsIdentity::generate_self_signed(&[]).unwrap();
    let auth =
        ListenerAuthenticator::ClientCertificates(ClientCertificates::Fingerprints(vec![phone_identity.fingerprint()]));
    let listener = Listener::start(hub.clone(), listener_config(auth)).await.unwrap();
    let remote = RemoteConfig::new(listener.urls()[0].clone())
        .with_auth(ClientAuth::Certificate(phone_identity))
        .with_trust(ServerTrust::SelfSignedOnly);
    Replicator::remote(phone.clone(), remote, config(Direction::PushAndPull, false))
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_same(&hub, &phone);
    listener.stop().await;

    // A camp CA issues both the listener's and the phone's certificates.
    let ca = TestCa::new();
    let mut cfg = listener_config(ListenerAuthenticator::ClientCertificates(
        ClientCertificates::CaCertificates(vec![ca.der()]),
    ));
    cfg.identity = Some(ca.issue());
    let listener = Listener::start(hub.clone(), cfg).await.unwrap();
    fill(&phone, "q", 5);
    let remote = RemoteConfig::new(listener.urls()[0].clone())
        .with_auth(ClientAuth::Certificate(ca.issue()))
        .with_trust(ServerTrust::CaCertificates(vec![ca.der()]));
    Replicator::remote(phone.clone(), remote, config(Direction::Push, false))
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(count(&hub), 25);
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_reports_port_urls_fingerprint_and_connections() {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(dir.path(), "camp.db");
    let mut cfg = listener_config(common::net::users());
    cfg.interface = Some("lo".into());
    let listener = Listener::start(hub.clone(), cfg).await.unwrap();
    assert_ne!(listener.port(), 0);
    assert_eq!(
        listener.urls(),
        vec![format!("wss://127.0.0.1:{}/camp", listener.port())]
    );
    let fp = listener.fingerprint().unwrap();
    assert_eq!(fp.len(), 71);
    assert_eq!(
        fp,
        outpost_core::net::fingerprint(listener.identity().unwrap().certificate())
    );
    assert_eq!(listener.connection_status().connections, 0);

    // A given identity is the one presented, so its fingerprint is stable.
    let identity = TlsIdentity::generate_self_signed(&[]).unwrap();
    let mut cfg = listener_config(common::net::users());
    cfg.identity = Some(identity.clone());
    cfg.port = listener.port();
    listener.stop().await;
    let again = Listener::start(hub.clone(), cfg)
        .await
        .expect("the port is free again after stop");
    assert_eq!(again.fingerprint().unwrap(), identity.fingerprint());
    assert_eq!(again.port(), listener.port());

    // All interfaces: one URL per address, loopback among them.
    let mut cfg = listener_config(common::net::users());
    cfg.interface = None;
    let all = Listener::start(hub.clone(), cfg).await.unwrap();
    assert!(all.urls().iter().any(|u| u.starts_with("wss://127.0.0.1:")));
    all.stop().await;
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_restart_mid_replication_then_completes_with_writes_made_during_the_outage() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    fill(&hub, "big", 20_000);
    let identity = TlsIdentity::generate_self_signed(&[]).unwrap();
    let mut cfg = listener_config(common::net::users());
    cfg.identity = Some(identity);
    let listener = Listener::start(hub.clone(), cfg.clone()).await.unwrap();
    cfg.port = listener.port();

    let r = net_replicator(&phone, &listener, Direction::PushAndPull, true);
    r.start().unwrap();
    // Stop the listener once part of the data has arrived.
    let pc = phone.default_collection().unwrap();
    wait_until(&phone, || pc.count().unwrap() >= 2_000).await;
    listener.stop().await;
    let offline = wait_status(&r, |s| s.activity == ActivityLevel::Offline).await;
    assert!(
        offline.error.as_ref().is_some_and(Error::is_transient),
        "a stopped listener is a transient error: {:?}",
        offline.error
    );
    let during = count(&phone);
    assert!(during < 20_000, "the outage came before the end ({during} documents)");
    pc.save("written-offline", None, r#"{"during":"outage"}"#).unwrap();
    hub.default_collection()
        .unwrap()
        .save("hub-offline", None, r#"{"during":"outage"}"#)
        .unwrap();

    let listener = Listener::start(hub.clone(), cfg).await.unwrap();
    let hc = hub.default_collection().unwrap();
    wait_until(&hub, || hc.get("written-offline").unwrap().is_some()).await;
    wait_until(&phone, || pc.count().unwrap() == 20_002).await;
    let caught_up = wait_status(&r, |s| s.activity == ActivityLevel::Idle).await;
    assert!(caught_up.error.is_none(), "the outage is over: {:?}", caught_up.error);
    r.stop();
    wait_status(&r, |s| s.activity == ActivityLevel::Stopped).await;
    listener.stop().await;
    assert_same(&hub, &phone);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_of_three_peers_propagates_and_converges() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        open(dir.path(), "a.db"),
        open(dir.path(), "b.db"),
        open(dir.path(), "c.db"),
    );
    let listener_a = listener(&a).await;
    let listener_b = listener(&b).await;
    // B serves C while replicating with A: a listener and a replicator in one process.
    let b_to_a = net_replicator(&b, &listener_a, Direction::PushAndPull, true);
    let c_to_b = net_replicator(&c, &listener_b, Direction::PushAndPull, true);
    b_to_a.start().unwrap();
    c_to_b.start().unwrap();

    let (ca, cc) = (a.default_collection().unwrap(), c.default_collection().unwrap());
    ca.save("from-a", None, r#"{"v":"a"}"#).unwrap();
    wait_until(&c, || cc.get("from-a").unwrap().is_some()).await;

    // Concurrent edits of the same document on A and C.
    let rev_a = ca.get("from-a").unwrap().unwrap().rev;
    let rev_c = cc.get("from-a").unwrap().unwrap().rev;
    ca.save("from-a", Some(&rev_a), r#"{"v":"edited on a"}"#).unwrap();
    cc.save("from-a", Some(&rev_c), r#"{"v":"edited on c"}"#).unwrap();
    cc.save("from-c", None, r#"{"v":"c"}"#).unwrap();
    wait_until(&a, || ca.get("from-c").unwrap().is_some()).await;
    let settled = |db: &Database| {
        let d = db.default_collection().unwrap().get("from-a").unwrap().unwrap();
        d.conflicts.is_empty() && d.rev.generation() >= 2
    };
    wait_until(&a, || settled(&a)).await;
    wait_until(&c, || {
        settled(&c) && cc.get("from-a").unwrap().unwrap().rev == ca.get("from-a").unwrap().unwrap().rev
    })
    .await;
    wait_idle(&b_to_a).await;
    wait_idle(&c_to_b).await;
    b_to_a.stop();
    c_to_b.stop();
    wait_status(&b_to_a, |s| s.activity == ActivityLevel::Stopped).await;
    wait_status(&c_to_b, |s| s.activity == ActivityLevel::Stopped).await;
    listener_a.stop().await;
    listener_b.stop().await;
    assert_same(&a, &b);
    assert_same(&b, &c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_listener_is_transient_and_one_shot_gives_up_after_max_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let phone = open(dir.path(), "phone.db");
    // Bind and release a port so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = config(Direction::Push, false);
    cfg.max_attempts = Some(2);
    let remote = RemoteConfig::new(format!("wss://127.0.0.1:{port}/hub")).with_trust(ServerTrust::SelfSignedOnly);
    let err = Replicator::remote(phone, remote, cfg).unwrap().run().await.unwrap_err();
    assert!(
        matches!(err, Error::Replication(ReplicationError::Unreachable(_))),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_an_idle_connection_alive_and_runs_close_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let listener = listener(&hub).await;
    let remote = common::net::remote(&listener).with_heartbeat(std::time::Duration::from_millis(50));
    let r = Replicator::remote(phone.clone(), remote, config(Direction::PushAndPull, true)).unwrap();
    r.start().unwrap();
    wait_idle(&r).await;
    // The subject here is time passing with no traffic but pings: twelve
    // times the 150 ms the replicator waits before declaring the link lost.
    tokio::time::sleep(std::time::Duration::from_millis(1800)).await;
    let status = r.status();
    assert_eq!(status.activity, ActivityLevel::Idle, "{:?}", status.error);
    assert_eq!(listener.connection_status().total_accepted, 1, "never reconnected");
    assert_eq!(listener.connection_status().connections, 1);
    r.stop();
    wait_status(&r, |s| s.activity == ActivityLevel::Stopped).await;

    // A finished run closes its connection; the listener sees it go.
    let one_shot = net_replicator(&phone, &listener, Direction::Pull, false);
    one_shot.run().await.unwrap();
    let mut open = listener.subscribe_connections();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), open.wait_for(|n| *n == 0)).await;
    assert!(
        closed.is_ok(),
        "connections left open: {:?}",
        listener.connection_status()
    );
    listener.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_completes_after_failed_attempts_reports_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone) = (open(dir.path(), "hub.db"), open(dir.path(), "phone.db"));
    let mut cfg = listener_config(common::net::users());
    cfg.identity = Some(TlsIdentity::generate_self_signed(&[]).unwrap());
    let listener = Listener::start(hub.clone(), cfg.clone()).await.unwrap();
    cfg.port = listener.port();
    let r = net_replicator(&phone, &listener, Direction::PushAndPull, false);
    listener.stop().await;

    // Nothing to move, so no busy phase clears the error: only the outcome can.
    r.start().unwrap();
    let offline = wait_status(&r, |s| s.activity == ActivityLevel::Offline).await;
    assert!(
        offline.error.as_ref().is_some_and(Error::is_transient),
        "{:?}",
        offline.error
    );
    let listener = Listener::start(hub.clone(), cfg).await.unwrap();
    let done = wait_status(&r, |s| s.activity == ActivityLevel::Stopped).await;
    assert!(done.error.is_none(), "the run completed: {:?}", done.error);
    listener.stop().await;
}

/// A body of about `len` bytes that compression shrinks by a quarter at
/// most (base64 of a hash chain: 6 bits of entropy a byte).
fn incompressible(seed: usize, len: usize) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let mut bytes = Vec::with_capacity(len);
    let mut block = Sha256::digest(seed.to_le_bytes()).to_vec();
    while bytes.len() * 4 / 3 < len {
        block = Sha256::digest(&block).to_vec();
        bytes.extend_from_slice(&block);
    }
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!("{{\"photo_note\":\"{text}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_the_bytes_each_way_on_the_wire() {
    const DOCS: usize = 40;
    const BODY: usize = 4_000;
    let dir = tempfile::tempdir().unwrap();
    let (hub, phone, tablet) = (
        open(dir.path(), "hub.db"),
        open(dir.path(), "phone.db"),
        open(dir.path(), "tablet.db"),
    );
    let listener = listener(&hub).await;
    let c = phone.default_collection().unwrap();
    for i in 0..DOCS {
        c.save(&format!("child-{i}"), None, &incompressible(i, BODY)).unwrap();
    }
    // What the bodies take at least on the wire, compressed.
    let bodies = (DOCS * BODY) as u64 * 7 / 10;

    let push = net_replicator(&phone, &listener, Direction::Push, false);
    assert_eq!(push.status().wire.total(), 0, "nothing moved before the run");
    let last_emitted = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = last_emitted.clone();
    let _token = push.add_status_listener(move |s| *seen.lock().unwrap() = Some(s.wire));
    push.run().await.unwrap();
    let pushed = push.status().wire;
    assert!(pushed.sent >= bodies, "{pushed:?} for {bodies} bytes of bodies");
    assert!(pushed.received > 0 && pushed.received < pushed.sent / 4, "{pushed:?}");
    // The stopped status emitted at the end carries the same totals.
    assert_eq!(*last_emitted.lock().unwrap(), Some(pushed));

    let pull = net_replicator(&tablet, &listener, Direction::Pull, false);
    pull.run().await.unwrap();
    let pulled = pull.status().wire;
    assert!(pulled.received >= bodies, "{pulled:?}");
    assert!(pulled.sent > 0 && pulled.sent < pulled.received / 4, "{pulled:?}");
    assert_eq!(count(&tablet), DOCS as u64);

    // Nothing new: a second push moves a small fraction of the first.
    push.run().await.unwrap();
    let again = push.status().wire;
    assert!(again.sent - pushed.sent < bodies / 10, "{pushed:?} then {again:?}");
    listener.stop().await;
}
