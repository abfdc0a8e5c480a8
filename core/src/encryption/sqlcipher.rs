//! SQLCipher's side: keying a connection, telling a wrong key from a
//! damaged file, and exporting the database under another key.

use std::path::Path;

use rusqlite::{Connection, ErrorCode};
use zeroize::Zeroizing;

use super::EncryptionKey;
use crate::error::{Error, InvalidInput, Result};
use crate::private_files;
use crate::tuning::{ENCRYPTED_PAGE_BYTES, ENCRYPTED_PAGE_CACHE_KIB};

/// SQLCipher settings of every encrypted file, given after the key and
/// before the first read, for `schema` (`main`, or an export's attached
/// file). They are part of the file format: a file written with other
/// settings does not open (`Error::WrongKey`).
///
/// - HMAC-SHA256 over each page instead of SQLCipher 4's default
///   HMAC-SHA512: as strong a check of a 256-bit-keyed page, and about
///   twice as fast where SHA-256 has CPU instructions and SHA-512 has not
///   (x86 SHA-NI, ARMv8 phones), which is most of what a page costs.
/// - Pages of [`ENCRYPTED_PAGE_BYTES`] instead of 4096: half the pages to
///   seal and open for the same data (docs/benchmarks.md, "Encryption").
/// - `cipher_memory_security` off (SQLCipher's default since 4.5, stated so
///   that a later default cannot change it): on, it locks and wipes every
///   SQLite allocation, and slows every statement; the threat model leaves
///   a running, unlocked device out of scope.
fn cipher_settings(schema: &str) -> String {
    format!(
        "PRAGMA {schema}.cipher_page_size = {ENCRYPTED_PAGE_BYTES};
         PRAGMA {schema}.cipher_hmac_algorithm = HMAC_SHA256;
         PRAGMA cipher_memory_security = OFF;"
    )
}

/// The first bytes of a plain (unencrypted) SQLite file.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Keys `conn` (a fresh connection to `path`, nothing read yet) with `key`,
/// or leaves it plain for `None`, then proves the key by reading the
/// schema. Nothing is written.
///
/// # Errors
/// [`Error::WrongKey`] if the file does not open with that key (a wrong
/// key, or no key for an encrypted file); [`InvalidInput::BadConfig`] if
/// a key was given for a plain file.
pub(crate) fn key_connection(conn: &Connection, path: &Path, key: Option<&EncryptionKey>) -> Result<()> {
    if let Some(key) = key {
        // A pragma takes no bound value: the statement text holds the key,
        // in a buffer wiped when dropped.
        let mut statement = Zeroizing::new(String::with_capacity(96));
        statement.push_str("PRAGMA key = \"");
        statement.push_str(&key.sqlcipher_literal());
        statement.push_str("\";");
        conn.execute_batch(&statement)?;
        conn.execute_batch(&cipher_settings("main"))?;
    }
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)) {
        Ok(_) if key.is_some() => {
            // Temporary tables and sorts stay in memory, never in a file.
            conn.pragma_update(None, "temp_store", "MEMORY")?;
            // Every page read past the cache is decrypted and authenticated
            // again: a larger cache keeps hot pages decrypted.
            conn.pragma_update(None, "cache_size", -i64::from(ENCRYPTED_PAGE_CACHE_KIB))?;
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            if key.is_some() && starts_plain(path) {
                Err(InvalidInput::BadConfig(
                    "this database is not encrypted: open it without a key, or encrypt it with change_encryption_key"
                        .into(),
                )
                .into())
            } else {
                Err(Error::WrongKey)
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether the file at `path` starts like a plain SQLite database.
fn starts_plain(path: &Path) -> bool {
    use std::io::Read;
    let mut start = [0u8; 16];
    private_files::open_no_follow(path)
        .and_then(|mut f| f.read_exact(&mut start))
        .map(|()| &start == PLAIN_HEADER)
        .unwrap_or(false)
}

/// Copies the whole database behind `conn` into a new file at `dest`
/// (created 0600; it must not exist) encrypted with `key`, or plain for
/// `None`, and syncs it to disk. The copy's blob key is `blob_key` (none
/// in a plain file, never even in a freed page). `conn` itself is not
/// changed.
pub(crate) fn export_to(
    conn: &Connection,
    dest: &Path,
    key: Option<&EncryptionKey>,
    blob_key: Option<&EncryptionKey>,
) -> Result<()> {
    private_files::create_new(dest).map_err(|e| Error::Encryption(format!("cannot create {}: {e}", dest.display())))?;
    let literal = key.map(EncryptionKey::sqlcipher_literal);
    let key_value = literal.as_ref().map(|l| l.as_str()).unwrap_or("");
    let dest_text = dest
        .to_str()
        .ok_or_else(|| InvalidInput::BadConfig(format!("the path {} is not UTF-8", dest.display())))?;
    conn.execute("ATTACH DATABASE ?1 AS outpost_export KEY ?2", [dest_text, key_value])?;
    let settings = match key {
        Some(_) => conn.execute_batch(&cipher_settings("outpost_export")),
        None => Ok(()),
    };
    let exported = settings
        .and_then(|()| conn.query_row("SELECT sqlcipher_export('outpost_export')", [], |_| Ok(())))
        .and_then(|()| {
            // The schema version is not always carried over; set it.
            let version: i64 = conn.query_row("PRAGMA main.user_version", [], |r| r.get(0))?;
            conn.execute_batch(&format!("PRAGMA outpost_export.user_version = {version}"))?;
            conn.execute_batch(
                "PRAGMA outpost_export.secure_delete = ON;
                 DELETE FROM outpost_export.info WHERE key = 'blob_key';",
            )?;
            if let Some(blob_key) = blob_key {
                conn.execute(
                    "INSERT INTO outpost_export.info (key, value) VALUES ('blob_key', ?1)",
                    [blob_key.as_bytes()],
                )?;
            }
            Ok(())
        })
        .map_err(Error::from);
    let detached = conn.execute("DETACH DATABASE outpost_export", []).map_err(Error::from);
    exported?;
    detached?;
    let file = private_files::open_no_follow(dest)
        .map_err(|e| Error::Encryption(format!("cannot reopen {}: {e}", dest.display())))?;
    file.sync_all()
        .map_err(|e| Error::Encryption(format!("cannot sync {}: {e}", dest.display())))?;
    Ok(())
}
