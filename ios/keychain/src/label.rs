//! Label validation: the one rule for names of stored secrets.
//!
//! This module is the same in `outpost-android` and `outpost-apple`, and
//! matches `outpost_core::net::check_label`.

use crate::error::{KeyStoreError, Result};

/// The longest label, in characters (all ASCII, so also in bytes).
pub const MAX_LABEL_LEN: usize = 128;

/// Checks that `label` is 1-128 characters of `A-Za-z0-9._-`, not starting with `.`,
/// so it is safe as a file name, a key store alias and a Keychain account.
///
/// # Errors
/// [`KeyStoreError::BadLabel`] otherwise.
///
/// # Examples
/// ```
#[doc = concat!("use ", env!("CARGO_CRATE_NAME"), "::check_label;")]
/// assert!(check_label("camp-hub.identity_1").is_ok());
/// assert!(check_label("../etc/passwd").is_err());
/// ```
pub fn check_label(label: &str) -> Result<()> {
    let ok = !label.is_empty()
        && label.len() <= MAX_LABEL_LEN
        && !label.starts_with('.')
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(KeyStoreError::BadLabel(label.chars().take(MAX_LABEL_LEN + 1).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for label in ["a", "hub", "camp-7.listener_id", &"x".repeat(MAX_LABEL_LEN), "a..b"] {
            assert_eq!(check_label(label), Ok(()), "{label}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        let too_long = "x".repeat(MAX_LABEL_LEN + 1);
        for label in ["", ".hidden", "..", "a/b", "a\\b", "a b", "é", "a\0b", "a:b", &too_long] {
            assert!(
                matches!(check_label(label), Err(KeyStoreError::BadLabel(_))),
                "{label:?}"
            );
        }
    }
}
