//! The blob key of an encrypted database: 32 random bytes kept inside the
//! encrypted file (`info.blob_key`), from which each blob file's key is
//! derived. Kept in the database rather than derived from its key, so a
//! re-key (one atomic rename) never has to re-seal every photo; it is as
//! secret as the database, and never in a plain file.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension};
use zeroize::Zeroizing;

use super::EncryptionKey;
use crate::blob::seal::BlobSealer;
use crate::error::{Error, Result};

/// The sealer of this database's blob files: `None` for a plain database;
/// for an encrypted one, from its blob key (made on first use).
pub(crate) fn blob_sealer(conn: &Connection, encrypted: bool) -> Result<Option<Arc<BlobSealer>>> {
    if !encrypted {
        return Ok(None);
    }
    let read = || -> Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(conn
            .query_row("SELECT value FROM info WHERE key = 'blob_key'", [], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()?
            .map(Zeroizing::new))
    };
    let stored = match read()? {
        Some(stored) => stored,
        None => {
            let fresh = EncryptionKey::generate()?;
            conn.execute(
                "INSERT OR IGNORE INTO info (key, value) VALUES ('blob_key', ?1)",
                [fresh.as_bytes()],
            )?;
            read()?.ok_or_else(|| Error::Corrupt("the blob key was not stored".into()))?
        }
    };
    let key: &[u8; 32] = stored
        .as_slice()
        .try_into()
        .map_err(|_| Error::Corrupt("the stored blob key is not 32 bytes".into()))?;
    Ok(Some(Arc::new(BlobSealer::new(key))))
}
