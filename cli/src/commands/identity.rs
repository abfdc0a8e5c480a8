//! `serve --identity PREFIX`: a TLS identity kept in two PEM files,
//! `PREFIX.cert.pem` and `PREFIX.key.pem`, so that a listener's fingerprint
//! stays the same across restarts.
//!
//! This is a stopgap until the key store (issue 5) holds identities; the
//! key file is written with owner-only permissions (0600) and never printed.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use outpost_core::net::TlsIdentity;

use crate::error::CliError;

/// The two files of an identity.
struct Files {
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn new(prefix: &Path) -> Files {
        let with = |suffix: &str| {
            let mut name = prefix.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        Files {
            cert: with(".cert.pem"),
            key: with(".key.pem"),
        }
    }
}

/// Loads the identity at `prefix`, or generates a self-signed one and saves
/// it there if neither file exists.
///
/// # Errors
/// A [`CliError::Usage`] if only one of the two files exists, a
/// [`CliError::Io`] if they cannot be read or written, a [`CliError::Core`]
/// if their contents are not a certificate and key.
pub fn load_or_create(prefix: &Path) -> Result<TlsIdentity, CliError> {
    let files = Files::new(prefix);
    match (files.cert.exists(), files.key.exists()) {
        (true, true) => load(&files),
        (false, false) => {
            let identity =
                TlsIdentity::generate_self_signed(&[]).map_err(|e| CliError::core("generating a TLS identity", e))?;
            save(&files, &identity)?;
            tracing::info!(cert = %files.cert.display(), "saved a new TLS identity");
            Ok(identity)
        }
        (true, false) | (false, true) => Err(CliError::Usage(format!(
            "--identity needs both {} and {}, or neither (to create them); one is missing",
            files.cert.display(),
            files.key.display()
        ))),
    }
}

fn load(files: &Files) -> Result<TlsIdentity, CliError> {
    let read =
        |path: &Path| std::fs::read_to_string(path).map_err(|e| CliError::io(format!("reading {}", path.display()), e));
    let (cert, key) = (read(&files.cert)?, read(&files.key)?);
    TlsIdentity::from_pem(&cert, &key)
        .map_err(|e| CliError::core(format!("loading the TLS identity {}", files.cert.display()), e))
}

fn save(files: &Files, identity: &TlsIdentity) -> Result<(), CliError> {
    // The key first, created exclusively with owner-only permissions, so it
    // is never readable by others even for a moment.
    write_new(&files.key, &pem("PRIVATE KEY", identity.private_key_der()), true)?;
    write_new(&files.cert, &pem("CERTIFICATE", identity.certificate()), false)
}

fn write_new(path: &Path, text: &str, private: bool) -> Result<(), CliError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let context = || format!("writing {}", path.display());
    let mut file = options.open(path).map_err(|e| CliError::io(context(), e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::io(context(), e))
}

/// DER as PEM text with the given label, 64 base64 characters a line.
fn pem(label: &str, der: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_identity_loads_with_the_same_fingerprint_and_a_private_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("hub");
        let first = load_or_create(&prefix).unwrap();
        let again = load_or_create(&prefix).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("hub.key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_file(dir.path().join("hub.key.pem")).unwrap();
        assert!(matches!(load_or_create(&prefix), Err(CliError::Usage(_))));
    }
}
