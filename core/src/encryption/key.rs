//! `EncryptionKey`: 256 secret bits, zeroised on drop, never printed.

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, InvalidInput, Result};

/// A 256-bit database encryption key.
///
/// Its bytes are wiped from memory when it is dropped, and its `Debug`
/// output never shows them. Keep it in a platform key store (or derive it
/// from a passphrase with [`EncryptionKey::from_passphrase`]); never log it.
///
/// # Examples
/// ```
/// use outpost_core::EncryptionKey;
/// let key = EncryptionKey::generate().unwrap();
/// assert_eq!(format!("{key:?}"), "EncryptionKey(<redacted>)");
/// let same = EncryptionKey::from_bytes(key.as_bytes()).unwrap();
/// assert!(same == key);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey {
    bytes: Zeroizing<[u8; EncryptionKey::LEN]>,
}

impl EncryptionKey {
    /// Length of a key in bytes.
    pub const LEN: usize = 32;

    /// A fresh random key from the operating system's generator.
    ///
    /// # Errors
    /// [`Error::Corrupt`] in the unlikely case the system's random source fails.
    pub fn generate() -> Result<EncryptionKey> {
        let mut bytes = Zeroizing::new([0u8; Self::LEN]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| Error::Corrupt("the system random generator failed".into()))?;
        Ok(EncryptionKey { bytes })
    }

    /// A key from exactly 32 bytes (as kept by a key store).
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Result<EncryptionKey> {
        let array: [u8; Self::LEN] = bytes.try_into().map_err(|_| {
            InvalidInput::BadConfig(format!("an encryption key is {} bytes, not {}", Self::LEN, bytes.len()))
        })?;
        let key = EncryptionKey {
            bytes: Zeroizing::new(array),
        };
        let mut array = array;
        array.zeroize();
        Ok(key)
    }

    /// The key's bytes (for sealing in a key store). Wipe any copy you make.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// The key's bytes as an array (to key another cipher with).
    pub(crate) fn as_array(&self) -> &[u8; Self::LEN] {
        &self.bytes
    }

    /// The key as SQLCipher's raw-key literal `x'…'`, in a buffer that is
    /// wiped when dropped.
    pub(crate) fn sqlcipher_literal(&self) -> Zeroizing<String> {
        let mut literal = Zeroizing::new(String::with_capacity(3 + 2 * Self::LEN));
        literal.push_str("x'");
        for byte in self.bytes.iter() {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            literal.push(HEX[usize::from(byte >> 4)] as char);
            literal.push(HEX[usize::from(byte & 0x0f)] as char);
        }
        literal.push('\'');
        literal
    }
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}
