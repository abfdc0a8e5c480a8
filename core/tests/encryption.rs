//! Encryption at rest (issue 15): nothing readable on disk, wrong or
//! missing keys and damaged files refused with typed errors without
//! changing anything, and re-keying in every direction.

mod common;

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use outpost_core::replication::Direction;

use outpost_core::{Database, DatabaseConfig, EncryptionKey, Error, InvalidInput};

const MARKER: &str = "MARKER-Amina-7f3c";
/// The repeated content of the test photo.
const PATTERN: &[u8] = b"PATTERN-photo-9d2e";
const DOCS: usize = 1_000;

fn keyed(key: &EncryptionKey) -> DatabaseConfig {
    DatabaseConfig {
        encryption_key: Some(key.clone()),
        ..DatabaseConfig::default()
    }
}

/// Saves `count` documents whose bodies hold the marker, in one batch.
fn fill(db: &Database, count: usize) {
    let docs = db.default_collection().unwrap();
    db.batch(|batch| {
        for i in 0..count {
            let body = format!(r#"{{"name":"{MARKER}","i":{i}}}"#);
            batch.save(&docs, &format!("child-{i}"), None, &body)?;
        }
        Ok(())
    })
    .unwrap();
}

/// Every file under `dir`, recursively, with its bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

/// The files under `dir` that contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
        .map(|(path, _)| path)
        .collect()
}

/// A closed encrypted database `camp.db` in `dir` holding `docs`
/// documents, and its key.
fn closed_encrypted(dir: &Path, docs: usize) -> (PathBuf, EncryptionKey) {
    let path = dir.join("camp.db");
    let key = EncryptionKey::generate().unwrap();
    let db = Database::open(&path, keyed(&key)).unwrap();
    fill(&db, docs);
    db.close().unwrap();
    (path, key)
}

fn count_docs(db: &Database) -> usize {
    db.default_collection().unwrap().count().unwrap() as usize
}

#[test]
fn marker_appears_in_no_file_while_open_or_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let key = EncryptionKey::generate().unwrap();
    let db = Database::open(dir.path().join("camp.db"), keyed(&key)).unwrap();
    fill(&db, DOCS);
    assert!(
        dir.path().join("camp.db-wal").exists(),
        "the WAL is where fresh writes are"
    );
    assert_eq!(files_containing(dir.path(), MARKER.as_bytes()), Vec::<PathBuf>::new());
    db.close().unwrap();
    assert_eq!(files_containing(dir.path(), MARKER.as_bytes()), Vec::<PathBuf>::new());
    let db = Database::open(dir.path().join("camp.db"), keyed(&key)).unwrap();
    assert_eq!(count_docs(&db), DOCS);

    // The same writes to a plain file do show the marker: the check can fail.
    let plain = Database::open(dir.path().join("plain.db"), DatabaseConfig::default()).unwrap();
    fill(&plain, 10);
    assert!(!files_containing(dir.path(), MARKER.as_bytes()).is_empty());
}

/// A photo of `len` bytes: the pattern, repeated.
fn photo(len: usize) -> Vec<u8> {
    PATTERN.iter().copied().cycle().take(len).collect()
}

fn read_blob(db: &Database, blob: &outpost_core::BlobRef) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut reader = db.default_collection().unwrap().blob(&blob.digest).unwrap();
    reader.read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[test]
fn blobs_saved_and_received_are_sealed_and_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let key = EncryptionKey::generate().unwrap();
    let db = Database::open(dir.path().join("camp.db"), keyed(&key)).unwrap();
    let docs = db.default_collection().unwrap();
    // Sizes around the 64 KiB record: empty, short, exactly one, one and a byte, several.
    let mut saved = Vec::new();
    for len in [0, 5, 65_536, 65_537, 300_001] {
        let bytes = photo(len);
        let blob = docs.save_blob(&bytes[..], Some("image/jpeg")).unwrap();
        assert_eq!(blob.length, len as u64);
        docs.save(&format!("photo-{len}"), None, &common::body_with("x", &blob))
            .unwrap();
        assert_eq!(read_blob(&db, &blob).unwrap(), bytes, "{len} bytes read back");
        saved.push((blob, bytes));
    }
    // Saving the same bytes again deduplicates by the plaintext digest.
    let again = docs.save_blob(&photo(300_001)[..], None).unwrap();
    assert_eq!(again.digest, saved[4].0.digest);
    // Seeking into the middle of a record.
    let mut reader = docs.blob(&saved[4].0.digest).unwrap();
    reader.seek(SeekFrom::Start(70_000)).unwrap();
    let mut some = vec![0u8; 10];
    reader.read_exact(&mut some).unwrap();
    assert_eq!(some, saved[4].1[70_000..70_010]);

    // Received from a peer (a second encrypted database), in chunks.
    let other_key = EncryptionKey::generate().unwrap();
    let phone = Database::open(dir.path().join("phone.db"), keyed(&other_key)).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(common::replicate(&phone, &db, Direction::Pull));
    // Every one, the empty blob too, with its document.
    assert_eq!(phone.default_collection().unwrap().count().unwrap(), saved.len() as u64);
    for (blob, bytes) in &saved {
        assert_eq!(
            &read_blob(&phone, blob).unwrap(),
            bytes,
            "{} bytes received",
            bytes.len()
        );
    }
    assert_eq!(files_containing(dir.path(), PATTERN), Vec::<PathBuf>::new());
    db.close().unwrap();
    phone.close().unwrap();
    assert_eq!(files_containing(dir.path(), PATTERN), Vec::<PathBuf>::new());

    // A plain database's blob files do hold the pattern: the check can fail.
    let plain = Database::open(dir.path().join("plain.db"), DatabaseConfig::default()).unwrap();
    plain
        .default_collection()
        .unwrap()
        .save_blob(&photo(100)[..], None)
        .unwrap();
    assert!(!files_containing(dir.path(), PATTERN).is_empty());
}

#[test]
fn a_flipped_byte_in_a_blob_record_is_a_read_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = EncryptionKey::generate().unwrap();
    let db = Database::open(dir.path().join("camp.db"), keyed(&key)).unwrap();
    let docs = db.default_collection().unwrap();
    let bytes = photo(200_000);
    let blob = docs.save_blob(&bytes[..], None).unwrap();
    let file = db.blob_dir().join(blob.digest.to_hex());
    let original = std::fs::read(&file).unwrap();
    // In the header's salt, in the second record, and in the last tag.
    for at in [10, 24 + 65_556 + 100, original.len() - 1] {
        let mut damaged = original.clone();
        damaged[at] ^= 0x01;
        std::fs::write(&file, &damaged).unwrap();
        let error = read_blob(&db, &blob).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "byte {at}: {error}");
        assert_eq!(std::fs::read(&file).unwrap(), damaged, "nothing rewritten");
    }
    // Cut short: not a whole file (refused when opened), or a record missing.
    for len in [original.len() - 7, 24 + 65_556] {
        std::fs::write(&file, &original[..len]).unwrap();
        let result = docs.blob(&blob.digest).and_then(|mut r| {
            let mut out = Vec::new();
            r.read_to_end(&mut out)
                .map_err(|e| outpost_core::BlobError::Io(e.to_string()).into())
        });
        assert!(result.is_err(), "cut to {len}");
    }
    std::fs::write(&file, &original).unwrap();
    assert_eq!(read_blob(&db, &blob).unwrap(), bytes);
}

/// The names of the files under `dir` (recursively), relative to it.
fn names_under(dir: &Path) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .map(|(p, _)| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The bytes of the blob file of `blob` in the database at `db`.
fn blob_file(db: &Path, blob: &outpost_core::BlobRef) -> Vec<u8> {
    let mut dir = db.as_os_str().to_owned();
    dir.push(".blobs");
    std::fs::read(Path::new(&dir).join(blob.digest.to_hex())).unwrap()
}

#[test]
fn blobs_are_sealed_resealed_and_opened_with_the_database_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("camp.db");
    let db = Database::open(&path, DatabaseConfig::default()).unwrap();
    fill(&db, 50);
    let docs = db.default_collection().unwrap();
    let small = docs.save_blob(&photo(1000)[..], None).unwrap();
    let large = docs.save_blob(&photo(200_000)[..], None).unwrap();
    let clone = db.clone();
    assert!(
        !files_containing(dir.path(), PATTERN).is_empty(),
        "plain blobs show the pattern"
    );

    let first = EncryptionKey::generate().unwrap();
    db.change_encryption_key(Some(&first)).unwrap();
    assert_eq!(files_containing(dir.path(), PATTERN), Vec::<PathBuf>::new());
    assert_eq!(files_containing(dir.path(), MARKER.as_bytes()), Vec::<PathBuf>::new());
    assert_eq!(read_blob(&clone, &large).unwrap(), photo(200_000), "a clone reads them");
    let sealed_under_first = blob_file(&path, &large);
    db.close().unwrap();
    let db = Database::open(&path, keyed(&first)).unwrap();
    assert_eq!(read_blob(&db, &small).unwrap(), photo(1000));
    assert_eq!(read_blob(&db, &large).unwrap(), photo(200_000));

    let second = EncryptionKey::generate().unwrap();
    db.change_encryption_key(Some(&second)).unwrap();
    assert_ne!(
        blob_file(&path, &large),
        sealed_under_first,
        "sealed again under a new blob key"
    );
    assert_eq!(files_containing(dir.path(), PATTERN), Vec::<PathBuf>::new());
    db.close().unwrap();
    let db = Database::open(&path, keyed(&second)).unwrap();
    assert_eq!(read_blob(&db, &large).unwrap(), photo(200_000));

    db.change_encryption_key(None).unwrap();
    assert_eq!(blob_file(&path, &large), photo(200_000), "plain again");
    db.close().unwrap();
    let db = Database::open(&path, DatabaseConfig::default()).unwrap();
    assert_eq!(read_blob(&db, &small).unwrap(), photo(1000));
    assert_eq!(count_docs(&db), 50);
    let names = names_under(dir.path());
    assert!(
        names.iter().all(|n| !n.contains("rekey") && !n.contains("blobs-old")),
        "{names:?}"
    );
}

#[test]
fn a_damaged_blob_stops_a_key_change_and_leaves_everything_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (path, key) = closed_encrypted(dir.path(), 20);
    let db = Database::open(&path, keyed(&key)).unwrap();
    let blob = db
        .default_collection()
        .unwrap()
        .save_blob(&photo(100_000)[..], None)
        .unwrap();
    let mut sealed = blob_file(&path, &blob);
    sealed[500] ^= 1;
    let mut blob_dir = path.as_os_str().to_owned();
    blob_dir.push(".blobs");
    std::fs::write(Path::new(&blob_dir).join(blob.digest.to_hex()), &sealed).unwrap();
    // The same files, and the same blob files (the database file itself
    // may have taken in its WAL).
    let on_disk = || (names_under(dir.path()), files_under(Path::new(&blob_dir)));
    let before = on_disk();

    let result = db.change_encryption_key(None);
    assert!(matches!(result, Err(Error::Blob(_))), "{result:?}");
    assert!(on_disk() == before, "{:?} became {:?}", before.0, on_disk().0);
    assert_eq!(count_docs(&db), 20, "the handle still works, with the old key");
    db.close().unwrap();
    assert_eq!(open_and_read_all(&path, &key).unwrap(), 20);
}

/// A plain database `camp.db` in `dir` with documents and one blob, its
/// blob directory copied aside as `plain-blobs`, then encrypted in place:
/// the two halves of a switch, to stage a crash between them.
fn encrypted_with_plain_blobs_aside(dir: &Path) -> (PathBuf, EncryptionKey, outpost_core::BlobRef) {
    let path = dir.join("camp.db");
    let db = Database::open(&path, DatabaseConfig::default()).unwrap();
    fill(&db, 30);
    let blob = db
        .default_collection()
        .unwrap()
        .save_blob(&photo(150_000)[..], None)
        .unwrap();
    std::fs::create_dir(dir.join("plain-blobs")).unwrap();
    std::fs::copy(
        dir.join("camp.db.blobs").join(blob.digest.to_hex()),
        dir.join("plain-blobs").join(blob.digest.to_hex()),
    )
    .unwrap();
    let key = EncryptionKey::generate().unwrap();
    db.change_encryption_key(Some(&key)).unwrap();
    db.close().unwrap();
    (path, key, blob)
}

#[test]
fn an_open_finishes_a_blob_switch_interrupted_after_the_commit() {
    // Crashed after the commit, before the blob directory was switched
    // (`rename_old`: false), or between its two renames (true).
    for rename_old in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (path, key, blob) = encrypted_with_plain_blobs_aside(dir.path());
        let at = |suffix: &str| dir.path().join(format!("camp.db{suffix}"));
        std::fs::rename(at(".blobs"), at(".blobs-rekey")).unwrap();
        let plain_to = if rename_old { ".blobs-old" } else { ".blobs" };
        std::fs::rename(dir.path().join("plain-blobs"), at(plain_to)).unwrap();

        let db = Database::open(&path, keyed(&key)).unwrap();
        assert_eq!(
            read_blob(&db, &blob).unwrap(),
            photo(150_000),
            "rename_old {rename_old}"
        );
        assert_eq!(files_containing(dir.path(), PATTERN), Vec::<PathBuf>::new());
        assert!(!at(".blobs-rekey").exists() && !at(".blobs-old").exists());
    }
}

#[test]
fn an_open_undoes_a_key_change_interrupted_before_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (path, key, blob) = encrypted_with_plain_blobs_aside(dir.path());
    let at = |suffix: &str| dir.path().join(format!("camp.db{suffix}"));
    // A half-written export and a half-converted blob directory.
    std::fs::write(at(".rekey"), b"half an export").unwrap();
    std::fs::rename(dir.path().join("plain-blobs"), at(".blobs-rekey")).unwrap();

    let db = Database::open(&path, keyed(&key)).unwrap();
    assert_eq!(read_blob(&db, &blob).unwrap(), photo(150_000));
    assert_eq!(count_docs(&db), 30);
    assert!(!at(".rekey").exists() && !at(".blobs-rekey").exists());
    assert_eq!(files_containing(dir.path(), PATTERN), Vec::<PathBuf>::new());
}

#[test]
fn wrong_or_missing_key_is_typed_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, key) = closed_encrypted(dir.path(), 50);
    let before = files_under(dir.path());

    let wrong = EncryptionKey::generate().unwrap();
    assert!(matches!(Database::open(&path, keyed(&wrong)), Err(Error::WrongKey)));
    assert!(matches!(
        Database::open(&path, DatabaseConfig::default()),
        Err(Error::WrongKey)
    ));
    assert_eq!(files_under(dir.path()), before, "a refused open wrote nothing");

    let db = Database::open(&path, keyed(&key)).unwrap();
    assert_eq!(count_docs(&db), 50);

    // A key for a plain file says so.
    let plain = dir.path().join("plain.db");
    Database::open(&plain, DatabaseConfig::default())
        .unwrap()
        .close()
        .unwrap();
    assert!(matches!(
        Database::open(&plain, keyed(&key)),
        Err(Error::InvalidInput(InvalidInput::BadConfig(_)))
    ));
}

#[test]
fn a_file_keyed_with_sqlciphers_default_settings_is_refused_as_a_wrong_key() {
    // Our cipher settings (HMAC-SHA256) are part of the file format: a file
    // SQLCipher wrote with its defaults (HMAC-SHA512) under the same key
    // does not open, which shows the settings are in force.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("default.db");
    let key = EncryptionKey::generate().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let keying = format!(
        "PRAGMA key = \"x'{}'\"; CREATE TABLE t (x);",
        hex::encode(key.as_bytes())
    );
    conn.execute_batch(&keying).unwrap();
    drop(conn);
    assert!(matches!(Database::open(&path, keyed(&key)), Err(Error::WrongKey)));
}

#[test]
fn key_never_in_debug_output() {
    let key = EncryptionKey::from_bytes(&[0xAB; 32]).unwrap();
    let shown = format!("{:?}", keyed(&key));
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(
        !shown.to_lowercase().contains("ab, ") && !shown.contains("171"),
        "{shown}"
    );
    assert!(matches!(
        EncryptionKey::from_bytes(&[1; 31]),
        Err(Error::InvalidInput(_))
    ));
}

/// Opens `path` with `key` and reads every document; any failure is
/// returned as the typed error (a panic fails the test).
fn open_and_read_all(path: &Path, key: &EncryptionKey) -> Result<usize, Error> {
    let db = Database::open(path, keyed(key))?;
    let docs = db.default_collection()?;
    let mut read = 0;
    for change in docs.changes(0, usize::MAX)?.changes {
        docs.get(&change.id)?;
        read += 1;
    }
    Ok(read)
}

#[test]
fn damaged_files_give_typed_errors_and_the_original_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (path, key) = closed_encrypted(dir.path(), 300);
    let original = std::fs::read(&path).unwrap();
    assert!(original.len() > 8 * 4096, "several pages: {}", original.len());

    let damaged = dir.path().join("damaged.db");
    // Truncated in the middle of a page, and cut to half its pages.
    for len in [original.len() / 2 + 100, original.len() / 2] {
        std::fs::write(&damaged, &original[..len]).unwrap();
        let result = open_and_read_all(&damaged, &key);
        assert!(result.is_err(), "truncated to {len}: {result:?}");
        std::fs::remove_file(&damaged).unwrap();
        for companion in ["-wal", "-shm"] {
            std::fs::remove_file(format!("{}{companion}", damaged.display())).ok();
        }
    }
    // One flipped byte in the first page, then in a later one.
    for at in [100, original.len() - 4096 + 200] {
        let mut bytes = original.clone();
        bytes[at] ^= 0x01;
        std::fs::write(&damaged, &bytes).unwrap();
        let result = open_and_read_all(&damaged, &key);
        assert!(
            matches!(result, Err(Error::WrongKey | Error::Storage(_) | Error::Corrupt(_))),
            "flipped byte at {at}: {result:?}"
        );
        let after = std::fs::read(&damaged).unwrap();
        assert_eq!(after.len(), bytes.len());
        assert_eq!(after[at], bytes[at], "the damaged page was not overwritten");
        std::fs::remove_file(&damaged).unwrap();
        for companion in ["-wal", "-shm"] {
            std::fs::remove_file(format!("{}{companion}", damaged.display())).ok();
        }
    }
    assert_eq!(std::fs::read(&path).unwrap(), original);
    assert_eq!(open_and_read_all(&path, &key).unwrap(), 300);
}

#[test]
fn encrypt_rekey_and_decrypt_in_place_keep_every_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("camp.db");
    let db = Database::open(&path, DatabaseConfig::default()).unwrap();
    fill(&db, 200);
    let clone = db.clone();
    let first = EncryptionKey::generate().unwrap();
    let second = EncryptionKey::generate().unwrap();

    db.change_encryption_key(Some(&first)).unwrap();
    assert_eq!(files_containing(dir.path(), MARKER.as_bytes()), Vec::<PathBuf>::new());
    // Clones go on working, and can write, with the new key.
    clone
        .default_collection()
        .unwrap()
        .save("after-encrypt", None, "{}")
        .unwrap();
    assert!(matches!(
        Database::open(&path, DatabaseConfig::default()),
        Err(Error::WrongKey)
    ));

    db.change_encryption_key(Some(&second)).unwrap();
    db.close().unwrap();
    assert!(matches!(Database::open(&path, keyed(&first)), Err(Error::WrongKey)));
    let db = Database::open(&path, keyed(&second)).unwrap();
    assert_eq!(count_docs(&db), 201);

    db.change_encryption_key(None).unwrap();
    db.close().unwrap();
    let db = Database::open(&path, DatabaseConfig::default()).unwrap();
    assert_eq!(count_docs(&db), 201);
    assert!(!files_containing(dir.path(), MARKER.as_bytes()).is_empty());
    let names: Vec<_> = files_under(dir.path()).into_iter().map(|(p, _)| p).collect();
    assert!(
        !names.iter().any(|p| p.to_string_lossy().ends_with(".rekey")),
        "{names:?}"
    );
}

#[test]
fn rekey_is_refused_while_another_handle_has_the_file_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("camp.db");
    let key = EncryptionKey::generate().unwrap();
    let db = Database::open(&path, keyed(&key)).unwrap();
    fill(&db, 20);
    let other = Database::open(&path, keyed(&key)).unwrap();
    let result = db.change_encryption_key(None);
    assert!(matches!(result, Err(Error::Encryption(_))), "{result:?}");
    // Both handles still work, with the old key.
    db.default_collection().unwrap().save("a", None, "{}").unwrap();
    other.default_collection().unwrap().save("b", None, "{}").unwrap();
    assert_eq!(count_docs(&db), 22);
    other.close().unwrap();
    db.change_encryption_key(None).unwrap();
    assert_eq!(count_docs(&db), 22);
}

#[test]
fn a_leftover_export_of_an_interrupted_rekey_is_removed_and_the_old_key_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (path, key) = closed_encrypted(dir.path(), 20);
    let leftover = dir.path().join("camp.db.rekey");
    std::fs::write(&leftover, b"half an export").unwrap();
    let db = Database::open(&path, keyed(&key)).unwrap();
    assert_eq!(count_docs(&db), 20);
    assert!(!leftover.exists());
}

#[test]
fn passphrase_keys_depend_on_the_salt_kept_beside_the_database() {
    use outpost_core::PassphraseSalt;
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.db");
    let b = dir.path().join("b.db");
    let salt_a = PassphraseSalt::load_or_create(&a).unwrap();
    let salt_b = PassphraseSalt::load_or_create(&b).unwrap();
    assert_eq!(PassphraseSalt::load(&a).unwrap(), Some(salt_a.clone()));
    let key_a = EncryptionKey::from_passphrase(b"camp passphrase", &salt_a).unwrap();
    let key_b = EncryptionKey::from_passphrase(b"camp passphrase", &salt_b).unwrap();
    assert!(key_a != key_b);
    std::fs::write(PassphraseSalt::path_for(&a), b"short").unwrap();
    assert!(matches!(PassphraseSalt::load(&a), Err(Error::Encryption(_))));
}

/// Value and full-text indexes (schema: expression indexes, FTS5 tables and
/// their triggers) come through encrypting, re-keying and decrypting in
/// place whole: queries use them and find the same documents.
#[test]
fn indexes_survive_encryption_in_place() {
    use outpost_core::Query;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("camp.db");
    let db = Database::open(&path, DatabaseConfig::default()).unwrap();
    fill(&db, 50);
    let docs = db.default_collection().unwrap();
    docs.save("nyakuol", None, r#"{"name":"Nyákuol Deng","i":1000}"#)
        .unwrap();
    docs.create_index("by-i", &["i"]).unwrap();
    docs.create_text_index("names", &["name"]).unwrap();
    let ranged = Query::from_request(r#"{"selector":{"i":{"$gte":40}},"limit":100}"#).unwrap();
    let check = |db: &Database| {
        let docs = db.default_collection().unwrap();
        assert_eq!(docs.find(&ranged).unwrap().len(), 11);
        let hits = docs.search("nyakuol", 10).unwrap();
        assert_eq!(hits.len(), 1, "one FTS row per document, no duplicate from the export");
        assert_eq!(hits[0].document.id, "nyakuol");
        assert_eq!(docs.search("marker", 100).unwrap().len(), 50);
    };
    check(&db);
    let key = EncryptionKey::generate().unwrap();
    db.change_encryption_key(Some(&key)).unwrap();
    check(&db);
    db.close().unwrap();
    let db = Database::open(&path, keyed(&key)).unwrap();
    check(&db);
    db.default_collection()
        .unwrap()
        .save("nyakuol-2", None, r#"{"name":"NYAKUOL","i":2}"#)
        .unwrap();
    assert_eq!(db.default_collection().unwrap().search("nyakuol", 10).unwrap().len(), 2);
    db.change_encryption_key(None).unwrap();
    assert_eq!(db.default_collection().unwrap().search("nyakuol", 10).unwrap().len(), 2);
}
