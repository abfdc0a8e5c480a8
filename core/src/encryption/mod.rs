//! Encryption at rest: the database key, its derivation from a
//! passphrase, and SQLCipher's keying and re-keying of the SQLite file.
//!
//! The SQLite file (its pages, WAL and temporary files) is encrypted by
//! SQLCipher: AES-256-CBC per page with a random IV and an HMAC-SHA256 over
//! each page, keyed by the raw 256-bit [`EncryptionKey`] (no PBKDF2 on the
//! raw key: it already is a key). A passphrase becomes a key through
//! Argon2id with a random salt ([`PassphraseSalt`]). Blob files are sealed
//! with keys derived from a random blob key kept inside the encrypted
//! database ([`blob_key`], and `crate::blob::seal` for the file format);
//! a key change converts them too ([`blob_switch`]).

pub(crate) mod blob_key;
mod blob_switch;
mod key;
mod passphrase;
pub(crate) mod rekey;
pub(crate) mod sqlcipher;

pub use key::EncryptionKey;
pub use passphrase::PassphraseSalt;
