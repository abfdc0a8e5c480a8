//! Persistent TLS identities: the file key store (plain and sealed), and a
//! listener whose stored identity keeps its fingerprint across restarts and
//! refuses to start on an unreadable one rather than replace it.

mod common;

use std::sync::Arc;

use common::net::{listener_config, users};
use common::open;
use outpost_core::net::{FileKeyStore, KeyStore, Listener, StoredIdentity, TlsIdentity};
use outpost_core::{Error, KeyStoreError};

fn identity() -> TlsIdentity {
    TlsIdentity::generate_self_signed(&[]).unwrap()
}

#[test]
fn file_store_saves_loads_and_deletes_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileKeyStore::new(dir.path().join("keys"));
    assert!(store.load("hub").unwrap().is_none());
    let id = identity();
    store.save("hub", &id).unwrap();
    let loaded = store.load("hub").unwrap().unwrap();
    assert_eq!(loaded.fingerprint(), id.fingerprint());
    assert_eq!(loaded.private_key_der(), id.private_key_der());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = std::fs::metadata(dir.path().join("keys/hub.identity")).unwrap();
        assert_eq!(file.permissions().mode() & 0o777, 0o600);
        let folder = std::fs::metadata(dir.path().join("keys")).unwrap();
        assert_eq!(folder.permissions().mode() & 0o777, 0o700);
    }
    store.delete("hub").unwrap();
    assert!(store.load("hub").unwrap().is_none());
    store.delete("hub").unwrap();
    for bad in ["", "../etc/passwd", "a/b", ".hidden", &"x".repeat(200)] {
        assert!(
            matches!(store.load(bad), Err(Error::KeyStore(KeyStoreError::BadLabel(_)))),
            "label {bad:?}"
        );
    }
}

#[test]
fn sealed_store_needs_the_passphrase_and_hides_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let sealed = FileKeyStore::new(dir.path())
        .with_passphrase("camp north passphrase")
        .unwrap();
    let id = identity();
    sealed.save("hub", &id).unwrap();
    let raw = std::fs::read(dir.path().join("hub.identity")).unwrap();
    assert!(
        !String::from_utf8_lossy(&raw).contains("PRIVATE KEY"),
        "the key is not in plain text"
    );
    assert!(
        !format!("{sealed:?}").contains("passphrase"),
        "Debug hides the passphrase"
    );
    assert_eq!(sealed.load("hub").unwrap().unwrap().fingerprint(), id.fingerprint());

    let wrong = FileKeyStore::new(dir.path()).with_passphrase("guess").unwrap();
    let err = wrong.load("hub").unwrap_err();
    assert!(
        matches!(err, Error::KeyStore(KeyStoreError::WrongPassphrase { .. })),
        "{err}"
    );
    let none = FileKeyStore::new(dir.path());
    let err = none.load("hub").unwrap_err();
    assert!(
        matches!(err, Error::KeyStore(KeyStoreError::Unreadable { .. })),
        "{err}"
    );
    assert!(!err.to_string().contains("BEGIN"), "errors carry no key material");
}

#[test]
fn damaged_files_are_unreadable_errors_not_new_identities() {
    let dir = tempfile::tempdir().unwrap();
    let plain = FileKeyStore::new(dir.path());
    plain.save("hub", &identity()).unwrap();
    let path = dir.path().join("hub.identity");
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes.truncate(middle);
    std::fs::write(&path, &bytes).unwrap();
    let err = plain.load("hub").unwrap_err();
    assert!(
        matches!(err, Error::KeyStore(KeyStoreError::Unreadable { .. })),
        "{err}"
    );

    let sealed = FileKeyStore::new(dir.path()).with_passphrase("p").unwrap();
    sealed.save("sealed", &identity()).unwrap();
    let path = dir.path().join("sealed.identity");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    assert!(sealed.load("sealed").is_err(), "a flipped bit is detected");

    std::fs::write(dir.path().join("future.identity"), b"outpost-keystore 9 quantum\n...").unwrap();
    assert!(matches!(
        plain.load("future"),
        Err(Error::KeyStore(KeyStoreError::Unreadable { .. }))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_identity_survives_restarts_and_is_never_silently_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), "hub.db");
    let store: Arc<dyn KeyStore> = Arc::new(FileKeyStore::new(dir.path().join("keys")));
    let mut cfg = listener_config(users());
    cfg.stored_identity = Some(StoredIdentity::new(store.clone(), "camp-hub"));
    let first = Listener::start(db.clone(), cfg.clone()).await.unwrap();
    let fingerprint = first.fingerprint().unwrap();
    first.stop().await;
    let second = Listener::start(db.clone(), cfg.clone()).await.unwrap();
    assert_eq!(
        second.fingerprint().unwrap(),
        fingerprint,
        "same identity after a restart"
    );
    second.stop().await;

    let path = dir.path().join("keys/camp-hub.identity");
    std::fs::write(&path, b"damaged").unwrap();
    let err = Listener::start(db.clone(), cfg.clone())
        .await
        .err()
        .expect("refuses to start");
    assert!(
        matches!(err, Error::KeyStore(KeyStoreError::Unreadable { .. })),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"damaged",
        "the stored identity was left alone"
    );

    cfg.identity = Some(identity());
    assert!(matches!(
        Listener::start(db, cfg).await.err(),
        Some(Error::InvalidInput(_))
    ));
}
