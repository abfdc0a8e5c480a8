//! The database key of every command: `--key-env VAR` / `--key-file FILE`
//! name where the passphrase is (never the passphrase itself, which other
//! local users could read on the command line), and `encrypt`, `decrypt`
//! and `rekey`, which change a database's key in place.
//!
//! A passphrase becomes the 256-bit key through Argon2id with the salt in
//! `<db>.salt` (made when the database is first encrypted, never changed).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use outpost_core::{Database, DatabaseConfig, EncryptionKey, PassphraseSalt};
use zeroize::Zeroizing;

use crate::args::{KeyArgs, KeyChangeArgs, NewKeyArgs};
use crate::error::CliError;

/// Where the passphrase of the database is: set once from the command line.
static KEY: OnceLock<KeyArgs> = OnceLock::new();

/// Remembers the command line's `--key-env` / `--key-file` for every
/// database the command opens.
pub(crate) fn set_key_source(args: KeyArgs) {
    KEY.set(args).ok();
}

/// Where a passphrase is read from.
enum Source<'a> {
    Env(&'a str),
    File(&'a Path),
}

impl<'a> Source<'a> {
    fn of(env: Option<&'a String>, file: Option<&'a PathBuf>) -> Option<Source<'a>> {
        match (env, file) {
            (Some(var), _) => Some(Source::Env(var)),
            (None, Some(file)) => Some(Source::File(file)),
            (None, None) => None,
        }
    }

    /// The passphrase, in a buffer wiped when dropped. A key file's one
    /// trailing line break is not part of it.
    fn read(&self) -> Result<Zeroizing<Vec<u8>>, CliError> {
        let bytes = match self {
            Source::Env(var) => match std::env::var_os(var) {
                Some(value) => Zeroizing::new(value.into_encoded_bytes()),
                None => {
                    return Err(CliError::Key(format!(
                        "the environment variable {var} (--key-env) is not set"
                    )))
                }
            },
            Source::File(file) => Zeroizing::new(
                std::fs::read(file).map_err(|e| CliError::io(format!("reading the key file {}", file.display()), e))?,
            ),
        };
        let end = bytes
            .strip_suffix(b"\r\n")
            .or_else(|| bytes.strip_suffix(b"\n"))
            .map_or(bytes.len(), <[u8]>::len);
        let passphrase = Zeroizing::new(bytes[..end].to_vec());
        if passphrase.is_empty() {
            return Err(CliError::Key("the passphrase is empty".into()));
        }
        Ok(passphrase)
    }

    /// The key for the database at `db`, from this passphrase and the
    /// database's salt (created if `create_salt`).
    fn key_for(&self, db: &Path, create_salt: bool) -> Result<EncryptionKey, CliError> {
        let passphrase = self.read()?;
        let salt = if create_salt {
            PassphraseSalt::load_or_create(db).map(Some)
        } else {
            PassphraseSalt::load(db)
        }
        .map_err(|e| CliError::core(format!("opening {}", db.display()), e))?
        .ok_or_else(|| {
            CliError::Key(format!(
                "{} has no salt file ({}): it is not encrypted with a passphrase (use `outpost encrypt` first)",
                db.display(),
                PassphraseSalt::path_for(db).display()
            ))
        })?;
        EncryptionKey::from_passphrase(&passphrase, &salt)
            .map_err(|e| CliError::core(format!("opening {}", db.display()), e))
    }
}

/// The key of the command line for the database at `db`, if one was given.
/// A new database gets its salt file.
fn command_line_key(db: &Path) -> Result<Option<EncryptionKey>, CliError> {
    let Some(args) = KEY.get() else { return Ok(None) };
    let Some(source) = Source::of(args.key_env.as_ref(), args.key_file.as_ref()) else {
        return Ok(None);
    };
    let is_new = std::fs::metadata(db).map_or(true, |m| m.len() == 0);
    source.key_for(db, is_new).map(Some)
}

/// Opens (or creates) the database file at `path` with the command line's
/// key, if any.
pub(crate) fn open_with_key(path: &Path) -> Result<Database, CliError> {
    let config = DatabaseConfig {
        encryption_key: command_line_key(path)?,
        ..DatabaseConfig::default()
    };
    let keyless = config.encryption_key.is_none();
    Database::open(path, config).map_err(|e| match e {
        outpost_core::Error::WrongKey if keyless => CliError::Key(format!(
            "opening {}: it is not a database, or it is encrypted: give its passphrase with --key-env VAR or \
             --key-file FILE",
            path.display()
        )),
        e => CliError::core(format!("opening {}", path.display()), e),
    })
}

/// The key given by `--key-env`/`--key-file`, required by `what`.
fn required_key(db: &Path, what: &str, create_salt: bool) -> Result<EncryptionKey, CliError> {
    let args = KEY.get().cloned().unwrap_or_default();
    Source::of(args.key_env.as_ref(), args.key_file.as_ref())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{what} needs the passphrase: give --key-env VAR or --key-file FILE"
            ))
        })?
        .key_for(db, create_salt)
}

fn change(db: &Database, path: &Path, key: Option<&EncryptionKey>) -> Result<(), CliError> {
    db.change_encryption_key(key)
        .map_err(|e| CliError::core(format!("changing the key of {}", path.display()), e))?;
    db.close().map_err(|e| CliError::core("closing the database", e))
}

fn existing(args: &KeyChangeArgs) -> Result<&Path, CliError> {
    if !args.db.is_file() {
        return Err(CliError::NoDatabase(args.db.clone()));
    }
    Ok(&args.db)
}

/// `outpost encrypt`: encrypts a plain database in place with the
/// passphrase of `--key-env`/`--key-file`.
pub(crate) fn encrypt(args: &KeyChangeArgs) -> Result<(), CliError> {
    let path = existing(args)?;
    let key = required_key(path, "encrypt", true)?;
    let db = Database::open(path, DatabaseConfig::default())
        .map_err(|e| CliError::core(format!("opening {} (is it encrypted already?)", path.display()), e))?;
    change(&db, path, Some(&key))
}

/// `outpost decrypt`: makes an encrypted database plain again.
pub(crate) fn decrypt(args: &KeyChangeArgs) -> Result<(), CliError> {
    let path = existing(args)?;
    let db = open_with_key_required(path, "decrypt")?;
    change(&db, path, None)
}

/// `outpost rekey`: re-encrypts a database with the passphrase of
/// `--new-key-env`/`--new-key-file`.
pub(crate) fn rekey(args: &KeyChangeArgs, new: &NewKeyArgs) -> Result<(), CliError> {
    let path = existing(args)?;
    let db = open_with_key_required(path, "rekey")?;
    let new_key = Source::of(new.new_key_env.as_ref(), new.new_key_file.as_ref())
        .ok_or_else(|| {
            CliError::Usage("rekey needs the new passphrase: --new-key-env VAR or --new-key-file FILE".into())
        })?
        .key_for(path, false)?;
    change(&db, path, Some(&new_key))
}

fn open_with_key_required(path: &Path, what: &str) -> Result<Database, CliError> {
    let key = required_key(path, what, false)?;
    let config = DatabaseConfig {
        encryption_key: Some(key),
        ..DatabaseConfig::default()
    };
    Database::open(path, config).map_err(|e| CliError::core(format!("opening {}", path.display()), e))
}
