//! `serve`'s TLS identity: a label in the desktop key store (`--identity`,
//! kept under `--key-dir`), so a listener's fingerprint stays the same
//! across restarts; or a given certificate and key in PEM files (`--cert`,
//! `--key`), for example issued by a camp CA.
//!
//! The key store is outpost-core's [`FileKeyStore`]: one file per label,
//! readable by its owner only, sealed with `OUTPOST_KEY_PASSPHRASE` when
//! that is set. An empty (or blank) passphrase is refused, never taken as
//! "no passphrase"; so is a key directory other users may write.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use outpost_core::net::{FileKeyStore, StoredIdentity, TlsIdentity};

use crate::args::ServeArgs;
use crate::error::CliError;

/// Environment variable with a passphrase that seals stored identities.
pub const PASSPHRASE_VAR: &str = "OUTPOST_KEY_PASSPHRASE";

/// The identity choice of `serve`: given, stored under a label, or neither
/// (a new one at every start).
pub fn from_args(args: &ServeArgs) -> Result<(Option<TlsIdentity>, Option<StoredIdentity>), CliError> {
    match (&args.cert, &args.key, &args.identity) {
        (Some(cert), Some(key), None) => Ok((Some(load_pem(cert, key)?), None)),
        (None, None, Some(label)) => {
            let dir = key_dir(args.key_dir.as_deref())?;
            let store = key_store(&dir)?;
            tracing::info!(label = %label, dir = %dir.display(), "TLS identity from the key store");
            Ok((None, Some(StoredIdentity::new(Arc::new(store), label.clone()))))
        }
        (None, None, None) => Ok((None, None)),
        _ => Err(CliError::Usage(
            "give either --identity LABEL, or both --cert FILE and --key FILE".to_owned(),
        )),
    }
}

/// The key store in `dir`, sealed with [`PASSPHRASE_VAR`] when it is set.
pub fn key_store(dir: &Path) -> Result<FileKeyStore, CliError> {
    let mut store = FileKeyStore::new(dir);
    if let Some(passphrase) = passphrase()? {
        store = store
            .with_passphrase(passphrase)
            .map_err(|_| CliError::Usage(format!("{PASSPHRASE_VAR} is set but empty: set it to a real passphrase, or unset it to store identities unsealed")))?;
    }
    Ok(store)
}

/// The passphrase in [`PASSPHRASE_VAR`], if it is set. A value that is not
/// UTF-8 is an error, never a reason to store identities unsealed.
fn passphrase() -> Result<Option<String>, CliError> {
    match std::env::var(PASSPHRASE_VAR) {
        Ok(passphrase) => Ok(Some(passphrase)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(CliError::Usage(format!(
            "{PASSPHRASE_VAR} is not valid UTF-8; use a passphrase of UTF-8 text"
        ))),
    }
}

/// `--key-dir`, else `$XDG_DATA_HOME/outpost/identities`, else
/// `~/.local/share/outpost/identities`.
pub fn key_dir(given: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(dir) = given {
        return Ok(dir.to_owned());
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .ok_or_else(|| CliError::Usage("no home directory: give --key-dir DIR for --identity".to_owned()))?;
    Ok(data.join("outpost").join("identities"))
}

fn load_pem(cert: &std::path::Path, key: &std::path::Path) -> Result<TlsIdentity, CliError> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| CliError::io(format!("reading {}", path.display()), e))
    };
    let (cert_text, key_text) = (read(cert)?, read(key)?);
    TlsIdentity::from_pem(&cert_text, &key_text)
        .map_err(|e| CliError::core(format!("loading the TLS identity {}", cert.display()), e))
}
