//! The platform key store behind `ListenerConfig.identityLabel`: the
//! Android Keystore (outpost-android) or the iOS Keychain (outpost-apple),
//! adapted to core's `KeyStore` trait. The glue crates store opaque secrets;
//! the identity travels as `TlsIdentity::to_bytes`.

#![cfg_attr(not(any(target_os = "android", target_vendor = "apple")), allow(dead_code))]

use std::sync::Arc;

use outpost_core::net::tls::decode_stored_identity;
use outpost_core::net::{FileKeyStore, KeyStore, TlsIdentity};
use outpost_core::{Error, InvalidInput, KeyStoreError, Result};

use crate::error::OutpostError;
use crate::tls::TlsIdentity as FfiIdentity;

/// A glue crate's failure, in the shape both crates share.
pub(crate) enum GlueError {
    BadLabel(String),
    Unavailable(String),
    Corrupt { label: String, reason: String },
}

/// A platform secret store, as three functions of its glue crate.
pub(crate) struct SecretStore {
    pub save: fn(&str, &[u8]) -> std::result::Result<(), GlueError>,
    pub load: fn(&str) -> std::result::Result<Option<Vec<u8>>, GlueError>,
    pub delete: fn(&str) -> std::result::Result<(), GlueError>,
}

fn to_core(e: GlueError) -> Error {
    match e {
        GlueError::BadLabel(label) => KeyStoreError::BadLabel(label),
        GlueError::Unavailable(why) => KeyStoreError::Unavailable(why),
        GlueError::Corrupt { label, reason } => KeyStoreError::Unreadable { label, reason },
    }
    .into()
}

impl SecretStore {
    /// Saves an opaque secret (a database key) under `label`.
    pub(crate) fn save_secret(&self, label: &str, secret: &[u8]) -> Result<()> {
        (self.save)(label, secret).map_err(to_core)
    }

    /// The secret under `label`, if any.
    pub(crate) fn load_secret(&self, label: &str) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
        Ok((self.load)(label).map_err(to_core)?.map(zeroize::Zeroizing::new))
    }
}

impl KeyStore for SecretStore {
    fn save(&self, label: &str, identity: &TlsIdentity) -> Result<()> {
        self.save_secret(label, &identity.to_bytes())
    }

    fn load(&self, label: &str) -> Result<Option<TlsIdentity>> {
        self.load_secret(label)?
            .map(|secret| decode_stored_identity(label, &secret))
            .transpose()
    }

    fn delete(&self, label: &str) -> Result<()> {
        (self.delete)(label).map_err(to_core)
    }
}

/// Maps a glue crate's error (both crates share one shape) to [`GlueError`].
#[allow(unused_macros)]
macro_rules! glue_store {
    ($glue:ident) => {{
        fn map(e: $glue::KeyStoreError) -> GlueError {
            match e {
                $glue::KeyStoreError::BadLabel(l) => GlueError::BadLabel(l),
                $glue::KeyStoreError::Corrupt { label, reason } => GlueError::Corrupt { label, reason },
                other => GlueError::Unavailable(other.to_string()),
            }
        }
        SecretStore {
            save: |label, secret| $glue::save(label, secret).map_err(map),
            load: |label| $glue::load(label).map_err(map),
            delete: |label| $glue::delete(label).map_err(map),
        }
    }};
}

/// This platform's key store: the Android Keystore or the iOS Keychain;
/// `None` elsewhere (desktops use a `keyStoreDirectory`).
pub(crate) fn platform_key_store() -> Option<SecretStore> {
    #[cfg(target_os = "android")]
    return Some(glue_store!(outpost_android));
    #[cfg(target_vendor = "apple")]
    return Some(glue_store!(outpost_apple));
    #[cfg(not(any(target_os = "android", target_vendor = "apple")))]
    None
}

/// The key store for `directory`: the file store there, or else this
/// platform's key store.
pub(crate) fn key_store(directory: Option<String>) -> Result<Arc<dyn KeyStore>> {
    if let Some(dir) = directory {
        return Ok(Arc::new(FileKeyStore::new(dir)));
    }
    match platform_key_store() {
        Some(store) => Ok(Arc::new(store)),
        None => Err(InvalidInput::BadConfig(
            "no Android Keystore or iOS Keychain on this platform: give a key store directory".into(),
        )
        .into()),
    }
}

/// Saves `identity` under `label` in the platform key store, or in the file
/// key store at `key_store_directory` when given.
///
/// # Errors
/// `KeyStore` if it cannot be written; `InvalidInput` without a store.
#[uniffi::export(default(key_store_directory = None))]
pub fn save_stored_identity(
    label: String,
    identity: Arc<FfiIdentity>,
    key_store_directory: Option<String>,
) -> std::result::Result<(), OutpostError> {
    Ok(key_store(key_store_directory)?.save(&label, &identity.inner)?)
}

/// The identity stored under `label`, or null if there is none.
///
/// # Errors
/// `KeyStore` if one is stored but cannot be read (never null then).
#[uniffi::export(default(key_store_directory = None))]
pub fn load_stored_identity(
    label: String,
    key_store_directory: Option<String>,
) -> std::result::Result<Option<Arc<FfiIdentity>>, OutpostError> {
    let loaded = key_store(key_store_directory)?.load(&label)?;
    Ok(loaded.map(|inner| Arc::new(FfiIdentity { inner })))
}

/// Deletes the identity stored under `label` (nothing if there is none).
///
/// # Errors
/// `KeyStore` if the store cannot be written.
#[uniffi::export(default(key_store_directory = None))]
pub fn delete_stored_identity(
    label: String,
    key_store_directory: Option<String>,
) -> std::result::Result<(), OutpostError> {
    Ok(key_store(key_store_directory)?.delete(&label)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    static SECRETS: Mutex<Option<HashMap<String, Vec<u8>>>> = Mutex::new(None);

    fn memory() -> SecretStore {
        SecretStore {
            save: |l, s| {
                SECRETS
                    .lock()
                    .unwrap()
                    .get_or_insert_with(HashMap::new)
                    .insert(l.into(), s.to_vec());
                Ok(())
            },
            load: |l| Ok(SECRETS.lock().unwrap().get_or_insert_with(HashMap::new).get(l).cloned()),
            delete: |l| {
                SECRETS.lock().unwrap().get_or_insert_with(HashMap::new).remove(l);
                Ok(())
            },
        }
    }

    #[test]
    fn identities_round_trip_and_damage_is_unreadable() {
        let store = memory();
        let identity = TlsIdentity::generate_self_signed(&[]).unwrap();
        store.save("hub", &identity).unwrap();
        assert_eq!(
            store.load("hub").unwrap().unwrap().fingerprint(),
            identity.fingerprint()
        );
        SECRETS
            .lock()
            .unwrap()
            .as_mut()
            .unwrap()
            .insert("hub".into(), b"garbage".to_vec());
        assert!(matches!(
            store.load("hub"),
            Err(Error::KeyStore(KeyStoreError::Unreadable { .. }))
        ));
        store.delete("hub").unwrap();
        assert!(store.load("hub").unwrap().is_none());
    }

    #[test]
    fn glue_errors_keep_their_kind() {
        let failing = SecretStore {
            save: |_, _| Err(GlueError::Unavailable("not initialised".into())),
            load: |l| {
                Err(GlueError::Corrupt {
                    label: l.into(),
                    reason: "key gone".into(),
                })
            },
            delete: |l| Err(GlueError::BadLabel(l.into())),
        };
        let identity = TlsIdentity::generate_self_signed(&[]).unwrap();
        assert!(matches!(
            failing.save("a", &identity),
            Err(Error::KeyStore(KeyStoreError::Unavailable(_)))
        ));
        assert!(matches!(
            failing.load("a"),
            Err(Error::KeyStore(KeyStoreError::Unreadable { .. }))
        ));
        assert!(matches!(
            failing.delete("a"),
            Err(Error::KeyStore(KeyStoreError::BadLabel(_)))
        ));
    }

    #[test]
    fn the_keychain_glue_maps_through_on_every_platform() {
        // outpost-apple builds everywhere; off Apple platforms it is unavailable.
        let store = glue_store!(outpost_apple);
        #[cfg(not(target_vendor = "apple"))]
        assert!(matches!(
            store.load("hub"),
            Err(Error::KeyStore(KeyStoreError::Unavailable(_)))
        ));
        let _ = store;
    }
}
