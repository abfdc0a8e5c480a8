//! iOS Keychain glue for Outpost: keeps small secrets (a listener's TLS
//! identity) as generic password items of the Keychain, service
//! [`SERVICE`], account = label, readable after the first unlock and only on
//! this device (`kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`: never in
//! backups restored elsewhere, never synced to iCloud).
//!
//! On targets other than Apple's the functions exist but return
//! [`KeyStoreError::Unavailable`], so the workspace builds everywhere.
//!
//! # Examples
//! ```no_run
//! outpost_apple::save("camp-hub", b"identity bytes")?;
//! assert_eq!(outpost_apple::load("camp-hub")?.as_deref(), Some(&b"identity bytes"[..]));
//! outpost_apple::delete("camp-hub")?;
//! assert_eq!(outpost_apple::load("camp-hub")?, None);
//! # Ok::<(), outpost_apple::KeyStoreError>(())
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod error;
#[cfg(target_vendor = "apple")]
#[allow(unsafe_code)] // FFI glue: the Security framework's C API
mod keychain;
mod label;

pub use error::{KeyStoreError, Result};
pub use label::{check_label, MAX_LABEL_LEN};

/// The Keychain service (`kSecAttrService`) of every item this crate writes.
pub const SERVICE: &str = "org.outpost.identity";

/// Stores `secret` under `label`, replacing what was there.
///
/// # Errors
/// [`KeyStoreError::BadLabel`] for a bad label; [`KeyStoreError::Unavailable`]
/// off Apple platforms, or when the Keychain cannot be used yet (before the
/// first unlock after a reboot); [`KeyStoreError::Platform`] for any other
/// Keychain status.
pub fn save(label: &str, secret: &[u8]) -> Result<()> {
    check_label(label)?;
    platform::save(label, secret)
}

/// The secret stored under `label`, or `None` if there is none.
///
/// # Errors
/// As for [`save`]; an item that is not data is [`KeyStoreError::Corrupt`].
pub fn load(label: &str) -> Result<Option<Vec<u8>>> {
    check_label(label)?;
    platform::load(label)
}

/// Deletes the secret stored under `label`; deleting a missing label is `Ok`.
///
/// # Errors
/// As for [`save`].
pub fn delete(label: &str) -> Result<()> {
    check_label(label)?;
    platform::delete(label)
}

#[cfg(target_vendor = "apple")]
use keychain as platform;

#[cfg(not(target_vendor = "apple"))]
mod platform {
    //! Stand-ins for targets without a Keychain: every call is `Unavailable`.
    use crate::error::{KeyStoreError, Result};

    fn unavailable() -> KeyStoreError {
        KeyStoreError::Unavailable("the Keychain exists only on Apple platforms".into())
    }

    pub(crate) fn save(_label: &str, _secret: &[u8]) -> Result<()> {
        Err(unavailable())
    }

    pub(crate) fn load(_label: &str) -> Result<Option<Vec<u8>>> {
        Err(unavailable())
    }

    pub(crate) fn delete(_label: &str) -> Result<()> {
        Err(unavailable())
    }
}

#[cfg(all(test, not(target_vendor = "apple")))]
mod tests {
    use super::*;

    #[test]
    fn off_apple_every_call_is_unavailable() {
        assert!(matches!(save("hub", b"x"), Err(KeyStoreError::Unavailable(_))));
        assert!(matches!(load("hub"), Err(KeyStoreError::Unavailable(_))));
        assert!(matches!(delete("hub"), Err(KeyStoreError::Unavailable(_))));
    }

    #[test]
    fn labels_are_checked_first() {
        assert!(matches!(save("../hub", b"x"), Err(KeyStoreError::BadLabel(_))));
        assert!(matches!(load(""), Err(KeyStoreError::BadLabel(_))));
        assert!(matches!(delete(".hub"), Err(KeyStoreError::BadLabel(_))));
    }
}
