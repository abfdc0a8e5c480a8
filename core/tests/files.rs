//! Local files (issue 10, item 9), with real files in temp directories and
//! the usual umask 022: a database, its WAL and shared-memory files are
//! readable by their owner only; symbolic links planted by another user are
//! never followed; the key store never writes a key through a planted file
//! or link, refuses a directory others may write, and refuses an empty
//! passphrase.

#![cfg(unix)]

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use outpost_core::net::{FileKeyStore, KeyStore, TlsIdentity};
use outpost_core::{Database, DatabaseConfig, Error, InvalidInput, KeyStoreError};

/// The usual umask, under which files are created 0644 unless asked not to.
fn usual_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn open(path: &Path) -> outpost_core::Result<Database> {
    Database::open(path, DatabaseConfig::default())
}

/// Opens `path`, writes a document and keeps the handle, so the WAL and
/// shared-memory files exist.
fn open_and_write(path: &Path) -> Database {
    let db = open(path).unwrap();
    db.create_collection("children")
        .unwrap()
        .save("child-1", None, r#"{"name":"Amina"}"#)
        .unwrap();
    db
}

fn companion(db: &Path, suffix: &str) -> std::path::PathBuf {
    db.with_file_name(format!("{}{suffix}", db.file_name().unwrap().to_str().unwrap()))
}

fn identity() -> TlsIdentity {
    TlsIdentity::generate_self_signed(&[]).unwrap()
}

#[test]
fn a_new_database_its_wal_and_shm_are_owner_only() {
    usual_umask();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("camp.db");
    let db = open_and_write(&path);
    for suffix in ["", "-wal", "-shm"] {
        let file = companion(&path, suffix);
        assert!(file.exists(), "{} exists while the database is open", file.display());
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    db.close().unwrap();
}

#[test]
fn an_existing_database_readable_by_others_is_tightened_when_opened() {
    usual_umask();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    // What an older version left behind: the database and its WAL 0644.
    let db = open_and_write(&path);
    chmod(&path, 0o644);
    chmod(&companion(&path, "-wal"), 0o644);
    let again = open(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&companion(&path, "-wal")), 0o600);
    assert_eq!(
        again
            .collection("children")
            .unwrap()
            .get("child-1")
            .unwrap()
            .unwrap()
            .id,
        "child-1"
    );
    drop((db, again));

    // A file that is not a database, given by mistake, is left as it is.
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "shopping list\n".repeat(100)).unwrap();
    chmod(&notes, 0o644);
    assert!(open(&notes).is_err());
    assert_eq!(mode(&notes), 0o644);
}

#[test]
fn a_symlink_planted_at_the_database_path_is_refused_not_followed() {
    usual_umask();
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();

    // A dangling link: following it would create the attacker's file.
    let target = elsewhere.path().join("readable-by-attacker.db");
    let path = dir.path().join("camp.db");
    symlink(&target, &path).unwrap();
    let err = open(&path).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(InvalidInput::BadConfig(why)) if why.contains("symbolic link")),
        "{err}"
    );
    assert!(!target.exists(), "nothing was created through the link");

    // A link to an existing file: left as it was.
    std::fs::write(&target, b"someone else's file").unwrap();
    assert!(open(&path).is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"someone else's file");

    // A link planted where the WAL will go, beside a real database.
    let real = dir.path().join("real.db");
    open_and_write(&real).close().unwrap();
    std::fs::remove_file(companion(&real, "-wal")).ok();
    let wal_target = elsewhere.path().join("wal");
    symlink(&wal_target, companion(&real, "-wal")).unwrap();
    let err = open(&real).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(!wal_target.exists(), "no WAL was written through the link");
}

#[test]
fn a_planted_temp_file_or_symlink_never_receives_the_key() {
    usual_umask();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let store = FileKeyStore::new(&keys);

    // The temporary name older versions used, pre-created 0644 by an attacker.
    let planted = keys.join("hub.identity.tmp");
    std::fs::write(&planted, b"planted").unwrap();
    chmod(&planted, 0o644);
    // The same, as links to a file elsewhere and to a file not made yet.
    let existing = elsewhere.path().join("existing");
    std::fs::write(&existing, b"untouched").unwrap();
    symlink(&existing, keys.join("a.identity.tmp")).unwrap();
    let dangling = elsewhere.path().join("stolen-key");
    symlink(&dangling, keys.join("b.identity.tmp")).unwrap();

    for label in ["hub", "a", "b"] {
        let id = identity();
        store.save(label, &id).unwrap();
        let saved = keys.join(format!("{label}.identity"));
        assert_eq!(mode(&saved), 0o600, "{label}");
        assert_eq!(store.load(label).unwrap().unwrap().fingerprint(), id.fingerprint());
    }
    assert_eq!(std::fs::read(&planted).unwrap(), b"planted");
    assert_eq!(mode(&planted), 0o644, "the planted file was not reused");
    assert_eq!(std::fs::read(&existing).unwrap(), b"untouched");
    assert!(!dangling.exists(), "no key was written through the link");
    let leftovers: Vec<_> = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".tmp") && !name.ends_with(".identity.tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // A link planted where an identity is stored is refused on load, and a
    // save replaces the link itself, not the file it points to.
    symlink(&existing, keys.join("linked.identity")).unwrap();
    let err = store.load("linked").unwrap_err();
    assert!(matches!(err, Error::KeyStore(KeyStoreError::NotPrivate(_))), "{err}");
    store.save("linked", &identity()).unwrap();
    assert_eq!(std::fs::read(&existing).unwrap(), b"untouched");
    assert_eq!(mode(&keys.join("linked.identity")), 0o600);
}

#[test]
fn a_key_directory_others_may_write_is_refused_with_how_to_fix_it() {
    usual_umask();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let store = FileKeyStore::new(&keys);
    store.save("hub", &identity()).unwrap();

    for loose in [0o777, 0o770, 0o702] {
        chmod(&keys, loose);
        for err in [
            store.save("hub", &identity()).unwrap_err(),
            store.load("hub").unwrap_err(),
        ] {
            let Error::KeyStore(KeyStoreError::NotPrivate(why)) = &err else {
                panic!("{loose:o}: {err}");
            };
            assert!(why.contains("writable by other users"), "{why}");
            assert!(why.contains(&format!("chmod 700 {}", keys.display())), "{why}");
        }
    }
    chmod(&keys, 0o755);
    assert!(store.load("hub").unwrap().is_some(), "a readable directory is fine");

    // A directory the store creates is 0700, parents included.
    let fresh = dir.path().join("new/identities");
    FileKeyStore::new(&fresh).save("hub", &identity()).unwrap();
    assert_eq!(mode(&fresh), 0o700);
    assert_eq!(mode(fresh.parent().unwrap()), 0o700);
}

#[test]
fn a_stored_identity_readable_by_others_is_tightened_when_loaded() {
    usual_umask();
    let dir = tempfile::tempdir().unwrap();
    let store = FileKeyStore::new(dir.path());
    store.save("hub", &identity()).unwrap();
    let path = dir.path().join("hub.identity");
    chmod(&path, 0o644);
    assert!(store.load("hub").unwrap().is_some());
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn an_oversized_identity_file_is_unreadable_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.identity");
    let size = outpost_core::tuning::MAX_IDENTITY_FILE_BYTES + 1;
    std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    let err = FileKeyStore::new(dir.path()).load("big").unwrap_err();
    assert!(
        matches!(err, Error::KeyStore(KeyStoreError::Unreadable { .. })),
        "{err}"
    );
}

#[test]
fn an_empty_passphrase_is_refused() {
    for empty in ["", "   ", "\n"] {
        let err = FileKeyStore::new("/nonexistent").with_passphrase(empty).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput(InvalidInput::BadConfig(why)) if why.contains("passphrase is empty")),
            "{empty:?}: {err}"
        );
    }
}
