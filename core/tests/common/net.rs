//! Network helpers: listeners on 127.0.0.1 with TLS and a user table,
//! replicators that pin their fingerprint, and test certificates.

use std::time::Duration;

use outpost_core::net::{
    ClientAuth, Listener, ListenerAuthenticator, ListenerConfig, RemoteConfig, ServerTrust, TlsIdentity, UserTable,
};
use outpost_core::replication::{ActivityLevel, Direction, Replicator, ReplicatorConfig, ReplicatorStatus};
use outpost_core::Database;

pub const USER: &str = "worker";
pub const PASSWORD: &str = "correct horse battery";

/// A WebSocket to a listener without TLS, before any frame: a raw peer,
/// for sending what a real peer never would.
pub type RawWs = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Opens a [`RawWs`] to `listener` (which must run without TLS).
pub async fn raw_websocket(listener: &Listener) -> RawWs {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", listener.port()))
        .await
        .unwrap();
    tokio_tungstenite::client_async(listener.urls()[0].as_str(), tcp)
        .await
        .unwrap()
        .0
}

/// A user table with [`USER`].
pub fn users() -> ListenerAuthenticator {
    ListenerAuthenticator::Users(UserTable::new().with_user(USER, PASSWORD).unwrap())
}

/// A listener config on 127.0.0.1.
pub fn listener_config(auth: ListenerAuthenticator) -> ListenerConfig {
    let mut config = ListenerConfig::new(auth);
    config.interface = Some("127.0.0.1".into());
    config
}

/// A TLS listener on 127.0.0.1 with [`users`].
pub async fn listener(db: &Database) -> Listener {
    Listener::start(db.clone(), listener_config(users()))
        .await
        .expect("listener")
}

/// The listener's URL with basic auth and its fingerprint pinned.
pub fn remote(listener: &Listener) -> RemoteConfig {
    RemoteConfig::new(listener.urls()[0].clone())
        .with_auth(ClientAuth::basic(USER, PASSWORD))
        .with_trust(ServerTrust::PinnedFingerprint(listener.fingerprint().expect("TLS")))
}

/// Retries quickly (tests wait for reconnects).
pub fn config(direction: Direction, continuous: bool) -> ReplicatorConfig {
    ReplicatorConfig {
        direction,
        continuous,
        max_attempt_wait: Duration::from_secs(1),
        ..Default::default()
    }
}

/// A replicator from `local` to `listener`.
pub fn net_replicator(local: &Database, listener: &Listener, direction: Direction, continuous: bool) -> Replicator {
    Replicator::remote(local.clone(), remote(listener), config(direction, continuous)).expect("replicator")
}

/// Waits (up to 60 s) for a status that satisfies `check`.
pub async fn wait_status(r: &Replicator, check: impl FnMut(&ReplicatorStatus) -> bool) -> ReplicatorStatus {
    let mut rx = r.subscribe_status();
    let status = tokio::time::timeout(Duration::from_secs(60), rx.wait_for(check))
        .await
        .expect("status reached in time")
        .expect("status channel open")
        .clone();
    status
}

/// Waits for a continuous replicator to be idle.
pub async fn wait_idle(r: &Replicator) {
    wait_status(r, |s| s.activity == ActivityLevel::Idle).await;
}

/// A CA and a function issuing identities signed by it.
pub struct TestCa {
    pub cert: rcgen::Certificate,
    pub key: rcgen::KeyPair,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Camp test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa { cert, key }
    }

    pub fn der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }

    /// An identity for 127.0.0.1 / localhost issued by this CA.
    pub fn issue(&self) -> TlsIdentity {
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        TlsIdentity::from_der(vec![cert.der().to_vec()], key.serialize_der()).unwrap()
    }
}
