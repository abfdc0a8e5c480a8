//! Persistent TLS identities: the [`KeyStore`] trait, the [`FileKeyStore`]
//! for desktops and servers, and [`StoredIdentity`] for listeners whose
//! fingerprint must survive restarts.
//!
//! On phones the SDKs plug in the platform's store (Android Keystore, iOS
//! Keychain) through the same trait.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use zeroize::Zeroizing;

use super::identity::TlsIdentity;
use crate::error::{InvalidInput, KeyStoreError, Result};
use crate::private_files;
use crate::tuning::{MAX_IDENTITY_FILE_BYTES, TEMP_NAME_RANDOM_BYTES};

/// Saves, loads and deletes TLS identities by label.
///
/// Implementations keep private keys out of reach of other apps and users,
/// and never put key material in errors or logs.
pub trait KeyStore: Send + Sync {
    /// Saves `identity` under `label`, replacing any identity there.
    ///
    /// # Errors
    /// [`KeyStoreError`] when the store cannot be written.
    fn save(&self, label: &str, identity: &TlsIdentity) -> Result<()>;

    /// The identity saved under `label`, or `None` if there is none.
    ///
    /// # Errors
    /// [`KeyStoreError::Unreadable`] or [`KeyStoreError::WrongPassphrase`]
    /// when one is stored but cannot be read: never `None` in that case.
    fn load(&self, label: &str) -> Result<Option<TlsIdentity>>;

    /// Deletes the identity under `label` (nothing if there is none).
    ///
    /// # Errors
    /// [`KeyStoreError::Unavailable`] when the store cannot be written.
    fn delete(&self, label: &str) -> Result<()>;
}

/// A listener identity kept in a key store: loaded if present, otherwise
/// created (self-signed) and saved, so its fingerprint stays the same
/// across restarts.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
/// use outpost_core::net::{FileKeyStore, StoredIdentity};
/// let stored = StoredIdentity::new(Arc::new(FileKeyStore::new(dir.path())), "camp-hub");
/// let first = stored.load_or_create().unwrap();
/// assert_eq!(stored.load_or_create().unwrap().fingerprint(), first.fingerprint());
/// ```
#[derive(Clone)]
pub struct StoredIdentity {
    /// Where it is kept.
    pub store: Arc<dyn KeyStore>,
    /// Its label there.
    pub label: String,
}

impl std::fmt::Debug for StoredIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredIdentity")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl StoredIdentity {
    /// The identity `label` of `store`.
    pub fn new(store: Arc<dyn KeyStore>, label: impl Into<String>) -> Self {
        StoredIdentity {
            store,
            label: label.into(),
        }
    }

    /// Loads the identity, or creates and saves a new self-signed one if
    /// the label is free.
    ///
    /// # Errors
    /// The store's error; an unreadable stored identity is an error, never a
    /// reason to silently make a new one.
    pub fn load_or_create(&self) -> Result<TlsIdentity> {
        if let Some(identity) = self.store.load(&self.label)? {
            return Ok(identity);
        }
        let identity = TlsIdentity::generate_self_signed(&[])?;
        self.store.save(&self.label, &identity)?;
        tracing::info!(label = %self.label, fingerprint = %identity.fingerprint(), "created a new TLS identity");
        Ok(identity)
    }
}

/// The identity stored under `label` from its [`TlsIdentity::to_bytes`]
/// form, for [`KeyStore`] implementations.
///
/// # Errors
/// [`KeyStoreError::Unreadable`] if the bytes are not an identity.
pub fn decode_stored_identity(label: &str, bytes: &[u8]) -> Result<TlsIdentity> {
    TlsIdentity::from_bytes(bytes).map_err(|reason| {
        KeyStoreError::Unreadable {
            label: label.to_owned(),
            reason,
        }
        .into()
    })
}

/// Checks a label: 1-128 characters of `A-Za-z0-9._-`, not starting with `.`.
pub fn check_label(label: &str) -> Result<()> {
    let ok = !label.is_empty()
        && label.len() <= 128
        && !label.starts_with('.')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(KeyStoreError::BadLabel(label.to_owned()).into())
    }
}

/// Identities in files of a directory, readable only by their owner (mode
/// 0600 in a 0700 directory), optionally sealed with a passphrase
/// (Argon2id key, ChaCha20-Poly1305).
///
/// For desktops and hubs; on phones use the platform key store.
///
/// Every save writes a temporary file with an unpredictable name, created
/// with `O_EXCL | O_NOFOLLOW` and mode 0600, then fsyncs and renames it, so
/// a file or symbolic link planted in the directory is never written
/// through. A directory this store creates gets mode 0700; an existing one
/// that another user owns or that the group or others may write is refused
/// ([`KeyStoreError::NotPrivate`], saying how to fix it), as is a symbolic
/// link where an identity should be. A stored identity of ours readable by
/// others (from an older version) is tightened to 0600 when loaded.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use outpost_core::net::{FileKeyStore, KeyStore, TlsIdentity};
/// let store = FileKeyStore::new(dir.path()).with_passphrase("long camp passphrase").unwrap();
/// let identity = TlsIdentity::generate_self_signed(&[]).unwrap();
/// store.save("hub", &identity).unwrap();
/// assert_eq!(store.load("hub").unwrap().unwrap().fingerprint(), identity.fingerprint());
/// ```
#[derive(Clone)]
pub struct FileKeyStore {
    dir: PathBuf,
    passphrase: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for FileKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKeyStore")
            .field("dir", &self.dir)
            .field("sealed", &self.passphrase.is_some())
            .finish()
    }
}

const PLAIN_HEADER: &str = "outpost-keystore 1 plain\n";
const SEALED_HEADER: &str = "outpost-keystore 1 sealed\n";
const SALT_LEN: usize = 16;

impl FileKeyStore {
    /// A store in `dir` (created on first save).
    pub fn new(dir: impl AsRef<Path>) -> Self {
        FileKeyStore {
            dir: dir.as_ref().to_owned(),
            passphrase: None,
        }
    }

    /// Seals identities with `passphrase` (and opens only sealed ones).
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] for an empty (or all-blank) passphrase,
    /// which would seal with no secret at all: leave the store unsealed
    /// instead, or give a real passphrase.
    pub fn with_passphrase(mut self, passphrase: impl Into<String>) -> Result<Self> {
        let passphrase = Zeroizing::new(passphrase.into());
        if passphrase.trim().is_empty() {
            return Err(InvalidInput::BadConfig(
                "the key store passphrase is empty; give a real passphrase, or none to store identities unsealed"
                    .into(),
            )
            .into());
        }
        self.passphrase = Some(passphrase);
        Ok(self)
    }

    fn path(&self, label: &str) -> Result<PathBuf> {
        check_label(label)?;
        Ok(self.dir.join(format!("{label}.identity")))
    }

    /// Checks that the directory, if it exists, is ours and not writable by
    /// others; returns whether it exists.
    fn check_dir(&self) -> Result<bool> {
        match fs::metadata(&self.dir) {
            Ok(meta) => match private_files::unsafe_dir_reason(&self.dir, &meta) {
                Some(reason) => Err(KeyStoreError::NotPrivate(reason).into()),
                None => Ok(true),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(unavailable("cannot read", &self.dir, &e)),
        }
    }

    fn seal(&self, plain: &[u8], passphrase: &str) -> Result<Vec<u8>> {
        let salt: [u8; SALT_LEN] = random_bytes()?;
        let nonce: [u8; NONCE_LEN] = random_bytes()?;
        let key = sealing_key(passphrase, &salt)?;
        let mut data = plain.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(SEALED_HEADER), &mut data)
            .map_err(|_| KeyStoreError::Unavailable("sealing failed".into()))?;
        let mut out = SEALED_HEADER.as_bytes().to_vec();
        out.extend_from_slice(&salt);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        Ok(out)
    }

    fn open(&self, label: &str, stored: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let unreadable = |reason: &str| KeyStoreError::Unreadable {
            label: label.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(plain) = stored.strip_prefix(PLAIN_HEADER.as_bytes()) {
            if self.passphrase.is_some() {
                return Err(unreadable("it is not sealed but this store expects a passphrase").into());
            }
            return Ok(Zeroizing::new(plain.to_vec()));
        }
        let Some(sealed) = stored.strip_prefix(SEALED_HEADER.as_bytes()) else {
            return Err(unreadable("unknown format or version").into());
        };
        let Some(passphrase) = &self.passphrase else {
            return Err(unreadable("it is sealed; give the store its passphrase").into());
        };
        if sealed.len() < SALT_LEN + NONCE_LEN {
            return Err(unreadable("truncated").into());
        }
        let (salt, rest) = sealed.split_at(SALT_LEN);
        let (nonce, data) = rest.split_at(NONCE_LEN);
        let key = sealing_key(passphrase, salt)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unreadable("bad nonce"))?;
        let mut data = Zeroizing::new(data.to_vec());
        let plain_len = key
            .open_in_place(nonce, Aad::from(SEALED_HEADER), &mut data)
            .map_err(|_| KeyStoreError::WrongPassphrase {
                label: label.to_owned(),
            })?
            .len();
        data.truncate(plain_len);
        Ok(data)
    }
}

impl FileKeyStore {
    /// Saves an opaque secret (a database key) under `label`, sealed like
    /// an identity; labels share one namespace with identities.
    ///
    /// # Errors
    /// [`KeyStoreError`] when the store cannot be written.
    pub fn save_secret(&self, label: &str, plain: &[u8]) -> Result<()> {
        let path = self.path(label)?;
        let contents = match &self.passphrase {
            Some(passphrase) => self.seal(plain, passphrase)?,
            None => [PLAIN_HEADER.as_bytes(), plain].concat(),
        };
        let contents = Zeroizing::new(contents);
        if !self.check_dir()? {
            private_files::create_dir(&self.dir).map_err(|e| unavailable("cannot create", &self.dir, &e))?;
            self.check_dir()?;
        }
        write_atomically(&self.dir, label, &path, &contents)
    }

    /// The secret saved under `label` by [`FileKeyStore::save_secret`], or
    /// `None` if there is none.
    ///
    /// # Errors
    /// [`KeyStoreError::Unreadable`] or [`KeyStoreError::WrongPassphrase`]
    /// when one is stored but cannot be read.
    pub fn load_secret(&self, label: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let path = self.path(label)?;
        if !self.check_dir()? {
            return Ok(None);
        }
        let Some(stored) = read_stored(label, &path)? else {
            return Ok(None);
        };
        self.open(label, &stored).map(Some)
    }
}

impl KeyStore for FileKeyStore {
    fn save(&self, label: &str, identity: &TlsIdentity) -> Result<()> {
        self.save_secret(label, &identity.to_bytes())
    }

    fn load(&self, label: &str) -> Result<Option<TlsIdentity>> {
        self.load_secret(label)?
            .map(|plain| decode_stored_identity(label, &plain))
            .transpose()
    }

    fn delete(&self, label: &str) -> Result<()> {
        let path = self.path(label)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(KeyStoreError::Unavailable(format!("cannot delete {}: {e}", path.display())).into()),
        }
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    use ring::rand::SecureRandom;
    let mut out = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| KeyStoreError::Unavailable("no system randomness".into()))?;
    Ok(out)
}

fn sealing_key(passphrase: &str, salt: &[u8]) -> Result<LessSafeKey> {
    let mut key = Zeroizing::new([0u8; 32]);
    argon2::Argon2::default()
        .hash_password_into(passphrase.as_bytes(), salt, &mut key[..])
        .map_err(|e| KeyStoreError::Unavailable(format!("key derivation failed: {e}")))?;
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, &key[..])
        .map_err(|_| KeyStoreError::Unavailable("bad sealing key".into()))?;
    Ok(LessSafeKey::new(unbound))
}

/// The stored bytes at `path`, `None` if there is no file. A symbolic
/// link or another user's file is refused; a file of ours readable by
/// others is tightened to 0600.
fn read_stored(label: &str, path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let file = match private_files::open_no_follow(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if private_files::is_symlink_refusal(&e) => {
            return Err(KeyStoreError::NotPrivate(format!(
                "{} is a symbolic link; remove it (stored identities are never read through links)",
                path.display()
            ))
            .into())
        }
        Err(e) => return Err(unavailable("cannot read", path, &e)),
    };
    let meta = file.metadata().map_err(|e| unavailable("cannot read", path, &e))?;
    if !meta.is_file() || !private_files::owned_by_us(&meta) {
        return Err(KeyStoreError::NotPrivate(format!(
            "{} is not a regular file of this user; remove it",
            path.display()
        ))
        .into());
    }
    if private_files::tighten(&file).map_err(|e| unavailable("cannot restrict", path, &e))? {
        tracing::warn!(path = %path.display(), "a stored identity was readable by other users; it is now 0600");
    }
    // Sized up front so that reading never reallocates and leaves copies of
    // the key in freed memory.
    let capacity = usize::try_from(meta.len().min(MAX_IDENTITY_FILE_BYTES + 1)).unwrap_or(0);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(MAX_IDENTITY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unavailable("cannot read", path, &e))?;
    if bytes.len() as u64 > MAX_IDENTITY_FILE_BYTES {
        return Err(KeyStoreError::Unreadable {
            label: label.to_owned(),
            reason: format!("larger than {MAX_IDENTITY_FILE_BYTES} bytes"),
        }
        .into());
    }
    Ok(Some(bytes))
}

fn unavailable(what: &str, path: &Path, e: &std::io::Error) -> crate::error::Error {
    KeyStoreError::Unavailable(format!("{what} {}: {e}", path.display())).into()
}

/// Writes `contents` to `path` (in `dir`) atomically, readable by the owner
/// only: a new temporary file with a random name (`O_EXCL | O_NOFOLLOW`,
/// mode 0600), fsynced, then renamed over `path`. The temporary file is
/// removed if anything fails.
fn write_atomically(dir: &Path, label: &str, path: &Path, contents: &[u8]) -> Result<()> {
    let random: [u8; TEMP_NAME_RANDOM_BYTES] = random_bytes()?;
    let temp = dir.join(format!(".{label}.{}.tmp", hex::encode(random)));
    let mut file = private_files::create_new(&temp).map_err(|e| unavailable("cannot create", &temp, &e))?;
    let written = file.write_all(contents).and_then(|()| file.sync_all()).and_then(|()| {
        drop(file);
        fs::rename(&temp, path)
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(unavailable("cannot write", path, &e));
    }
    private_files::sync_dir(dir).map_err(|e| unavailable("cannot flush", dir, &e))
}
