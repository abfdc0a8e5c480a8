//! `CredentialSeal`: seals the passwords of configured servers before they
//! are written to the database, with a key kept in the key store (the same
//! [`KeyStore`] as listener identities: a 0600 file, optionally under a
//! passphrase, on desktops; Keychain or Keystore on phones).
//!
//! The key is derived (SHA-256 with a context string) from the private key
//! of an identity stored under [`CREDENTIAL_KEY_LABEL`], created on first
//! use; a password is sealed with ChaCha20-Poly1305 under a random nonce,
//! bound to its server's name so a sealed value cannot be moved to another
//! entry. The database alone never reveals a password.

use std::sync::Arc;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::error::{Error, KeyStoreError, Result};
use crate::net::{KeyStore, StoredIdentity};

/// The key-store label of the identity whose key seals server passwords.
pub const CREDENTIAL_KEY_LABEL: &str = "outpost-hub-credentials";

/// Format version of a sealed value (its first byte).
const SEALED_V1: u8 = 1;

/// Seals and opens server passwords.
pub(crate) struct CredentialSeal {
    key: LessSafeKey,
}

impl CredentialSeal {
    /// The seal of `store` (its key created on first use).
    pub(crate) fn open(store: Arc<dyn KeyStore>) -> Result<CredentialSeal> {
        let identity = StoredIdentity::new(store, CREDENTIAL_KEY_LABEL).load_or_create()?;
        let mut material = Zeroizing::new(b"outpost hub credentials v1\0".to_vec());
        material.extend_from_slice(identity.private_key_der());
        let digest = ring::digest::digest(&ring::digest::SHA256, &material);
        let key = UnboundKey::new(&CHACHA20_POLY1305, digest.as_ref())
            .map_err(|_| Error::Corrupt("cannot make the credential key".into()))?;
        Ok(CredentialSeal {
            key: LessSafeKey::new(key),
        })
    }

    /// `secret` sealed for the server `name`.
    pub(crate) fn seal(&self, name: &str, secret: &str) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::Corrupt("no randomness for a nonce".into()))?;
        let mut data = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut data,
            )
            .map_err(|_| Error::Corrupt("cannot seal a credential".into()))?;
        let mut sealed = vec![SEALED_V1];
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&data);
        Ok(sealed)
    }

    /// The secret sealed for `name`.
    ///
    /// # Errors
    /// [`KeyStoreError::Unreadable`] when it was sealed with another key
    /// (another key store) or changed.
    pub(crate) fn open_sealed(&self, name: &str, sealed: &[u8]) -> Result<Zeroizing<String>> {
        let unreadable = || -> Error {
            KeyStoreError::Unreadable {
                label: CREDENTIAL_KEY_LABEL.to_owned(),
                reason: format!(
                    "the password of server {name:?} was sealed with another key store (add the server again)"
                ),
            }
            .into()
        };
        let (version, rest) = sealed.split_first().ok_or_else(unreadable)?;
        if *version != SEALED_V1 || rest.len() < NONCE_LEN {
            return Err(unreadable());
        }
        let (nonce, data) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unreadable())?;
        let mut data = Zeroizing::new(data.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut data)
            .map_err(|_| unreadable())?;
        let text = std::str::from_utf8(plain).map_err(|_| unreadable())?;
        Ok(Zeroizing::new(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::FileKeyStore;

    #[test]
    fn sealed_passwords_open_only_with_the_same_key_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let seal = CredentialSeal::open(Arc::new(FileKeyStore::new(dir.path()))).unwrap();
        let sealed = seal.seal("camp-1", "s3cret-password").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(seal.open_sealed("camp-1", &sealed).unwrap().as_str(), "s3cret-password");
        assert!(seal.open_sealed("camp-2", &sealed).is_err(), "bound to its name");
        let again = CredentialSeal::open(Arc::new(FileKeyStore::new(dir.path()))).unwrap();
        assert_eq!(
            again.open_sealed("camp-1", &sealed).unwrap().as_str(),
            "s3cret-password"
        );
        let other_dir = tempfile::tempdir().unwrap();
        let other = CredentialSeal::open(Arc::new(FileKeyStore::new(other_dir.path()))).unwrap();
        assert!(other.open_sealed("camp-1", &sealed).is_err(), "another key store");
        assert!(seal.open_sealed("camp-1", &[1, 2, 3]).is_err());
    }
}
