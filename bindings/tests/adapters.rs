//! The FFI adapters as a Kotlin or Swift implementation sees them, driven
//! from Rust: a failing filter fails closed, a failing resolver falls back to
//! the default resolution, listener handles remove their listener, a failing
//! password authenticator refuses.

use std::sync::{Arc, Mutex};

use outpost_ffi::*;

fn open(dir: &tempfile::TempDir, name: &str) -> Arc<Database> {
    Database::open(dir.path().join(name).display().to_string(), DatabaseConfig::default()).unwrap()
}

fn config(collection: CollectionReplication, direction: Direction) -> ReplicatorConfig {
    ReplicatorConfig {
        direction: Some(direction),
        continuous: false,
        collections: vec![collection],
        max_attempts: None,
        max_attempt_wait_ms: 300_000,
        delta_sync: false,
    }
}

fn collection(name: &str) -> CollectionReplication {
    CollectionReplication {
        name: name.into(),
        doc_ids: None,
        push_filter: None,
        pull_filter: None,
        conflict_resolver: None,
    }
}

/// Refuses drafts and throws (as a foreign exception would arrive) on "boom".
struct DraftFilter;

impl ReplicationFilter for DraftFilter {
    fn include(&self, revision: FilteredRevision) -> Result<bool, OutpostError> {
        if revision.body.contains("boom") {
            return Err(OutpostError::Internal("the filter threw".into()));
        }
        Ok(!revision.body.contains("draft"))
    }
}

#[test]
fn a_failing_pull_filter_keeps_the_revision_out() {
    let dir = tempfile::tempdir().unwrap();
    let (phone, hub) = (open(&dir, "phone.db"), open(&dir, "hub.db"));
    let docs = hub.default_collection().unwrap();
    docs.save("ok".into(), None, r#"{"v":1}"#.into()).unwrap();
    docs.save("draft".into(), None, r#"{"draft":true}"#.into()).unwrap();
    docs.save("boom".into(), None, r#"{"boom":true}"#.into()).unwrap();
    let mut c = collection("_default");
    c.pull_filter = Some(Arc::new(DraftFilter));
    let replicator = Replicator::new(
        phone.clone(),
        ReplicatorTarget::local_database(hub),
        config(c, Direction::Pull),
    )
    .unwrap();
    replicator.run_blocking().unwrap();
    let pulled = phone.default_collection().unwrap();
    assert!(pulled.get("ok".into()).unwrap().is_some());
    assert!(pulled.get("draft".into()).unwrap().is_none());
    assert!(pulled.get("boom".into()).unwrap().is_none());
}

/// Records each conflict, then throws.
struct ThrowingResolver(Mutex<Vec<Conflict>>);

impl ConflictResolver for ThrowingResolver {
    fn resolve(&self, conflict: Conflict) -> Result<Resolution, OutpostError> {
        self.0.lock().unwrap().push(conflict);
        Err(OutpostError::Internal("the resolver threw".into()))
    }
}

#[test]
fn a_failing_resolver_falls_back_to_the_default_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let (phone, hub) = (open(&dir, "phone.db"), open(&dir, "hub.db"));
    let base = phone
        .default_collection()
        .unwrap()
        .save("d".into(), None, r#"{"v":0}"#.into())
        .unwrap();
    let sync = |c: CollectionReplication, d| {
        Replicator::new(
            phone.clone(),
            ReplicatorTarget::local_database(hub.clone()),
            config(c, d),
        )
        .unwrap()
        .run_blocking()
    };
    sync(collection("_default"), Direction::Push).unwrap();
    let phone_rev = phone
        .default_collection()
        .unwrap()
        .save("d".into(), Some(base.clone()), r#"{"v":1}"#.into())
        .unwrap();
    let hub_rev = hub
        .default_collection()
        .unwrap()
        .save("d".into(), Some(base), r#"{"v":2}"#.into())
        .unwrap();
    let resolver = Arc::new(ThrowingResolver(Mutex::new(Vec::new())));
    let mut c = collection("_default");
    c.conflict_resolver = Some(resolver.clone());
    sync(c, Direction::Pull).unwrap();

    let seen = resolver.0.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let mut revs: Vec<&str> = seen[0].revisions.iter().map(|r| r.rev.as_str()).collect();
    revs.sort();
    let mut expected = vec![phone_rev.as_str(), hub_rev.as_str()];
    expected.sort();
    assert_eq!(revs, expected);
    // The default resolution keeps the default winner, the first revision offered.
    let doc = phone.default_collection().unwrap().get("d".into()).unwrap().unwrap();
    assert_eq!(doc.rev, seen[0].revisions[0].rev);
    assert!(doc.conflicts.is_empty());
}

/// Counts the changes it is told about.
struct Counter(Mutex<Vec<String>>);

impl ChangeListener for Counter {
    fn on_change(&self, change: ChangeEvent) -> Result<(), OutpostError> {
        self.0.lock().unwrap().extend(change.doc_ids);
        Err(OutpostError::Internal("a listener's error is ignored".into()))
    }
}

#[test]
fn a_listener_handle_removes_its_listener_when_cancelled_and_a_released_one_stays() {
    let dir = tempfile::tempdir().unwrap();
    let docs = open(&dir, "camp.db").default_collection().unwrap();
    let counter = Arc::new(Counter(Mutex::new(Vec::new())));
    let cancelled = docs.add_change_listener(counter.clone());
    let dropped = docs.add_document_listener("b".into(), counter.clone());
    docs.save("a".into(), None, "{}".into()).unwrap();
    docs.save("b".into(), None, "{}".into()).unwrap();
    cancelled.cancel();
    assert!(!cancelled.is_active());
    // Released (a garbage-collected Kotlin or Swift handle): still registered.
    drop(dropped);
    docs.save("c".into(), None, "{}".into()).unwrap();
    docs.save("b".into(), docs.get("b".into()).unwrap().map(|d| d.rev), "{}".into())
        .unwrap();
    assert_eq!(*counter.0.lock().unwrap(), ["a", "b", "b", "b"]);
}

/// Accepts "hub"/"s3cret" and throws (as a foreign exception would arrive)
/// for the user "crash".
struct HubPassword;

impl PasswordAuthenticator for HubPassword {
    fn authenticate(&self, username: String, password: String) -> Result<bool, OutpostError> {
        if username == "crash" {
            return Err(OutpostError::Internal("the accounts service is down".into()));
        }
        Ok(username == "hub" && password == "s3cret")
    }
}

#[test]
fn a_failing_password_authenticator_refuses_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (phone, hub) = (open(&dir, "phone.db"), open(&dir, "hub.db"));
    phone
        .default_collection()
        .unwrap()
        .save("child-1".into(), None, "{}".into())
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut listener_config = ListenerConfig::new(ListenerAuthenticator::password(Arc::new(HubPassword)));
    listener_config.network_interface = Some("127.0.0.1".into());
    let listener = runtime.block_on(Listener::start(hub.clone(), listener_config)).unwrap();
    let push_as = |username: &str| {
        let target = ReplicatorTarget::url(RemoteTargetConfig {
            url: listener.urls()[0].clone(),
            authentication: Some(ClientAuthentication::basic(username.into(), "s3cret".into())),
            server_trust: listener
                .fingerprint()
                .map(|fingerprint| ServerTrust::PinnedFingerprint { fingerprint }),
            heartbeat_ms: 30_000,
        })
        .unwrap();
        Replicator::new(phone.clone(), target, config(collection("_default"), Direction::Push))
            .unwrap()
            .run_blocking()
    };
    assert!(matches!(push_as("crash"), Err(OutpostError::Auth(_))));
    assert_eq!(hub.default_collection().unwrap().count().unwrap(), 0);
    push_as("hub").unwrap();
    assert_eq!(hub.default_collection().unwrap().count().unwrap(), 1);
    runtime.block_on(listener.stop());
}
