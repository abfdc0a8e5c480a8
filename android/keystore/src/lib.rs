//! Android Keystore glue for Outpost: keeps small secrets (a listener's TLS
//! identity) sealed by a non-exportable AES-256-GCM key that lives in the
//! Android Keystore, with the sealed blobs in the app's private storage.
//!
//! The Rust side calls the Java class `org.outpost.keystore.KeystoreHelper`
//! (shipped in `java/`, compiled into the app by the Gradle module) through
//! JNI. Because uniffi loads the library through JNA, which does not run
//! `JNI_OnLoad`, the app must call `org.outpost.keystore.Native.nativeInit(keyDir)`
//! once before the first [`save`], [`load`] or [`delete`]; until then they
//! return [`KeyStoreError::Unavailable`]. After that they may be called from
//! any thread: a thread that is not attached to the JVM is attached for the
//! call and detached afterwards. Calls are serialised.
//!
//! # Examples
//! ```no_run
//! // After Native.nativeInit(...) ran in the app:
//! outpost_android::save("camp-hub", b"identity bytes")?;
//! assert_eq!(outpost_android::load("camp-hub")?.as_deref(), Some(&b"identity bytes"[..]));
//! outpost_android::delete("camp-hub")?;
//! assert_eq!(outpost_android::load("camp-hub")?, None);
//! # Ok::<(), outpost_android::KeyStoreError>(())
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod files;
mod helper;
mod label;

pub use error::{KeyStoreError, Result};
pub use label::{check_label, MAX_LABEL_LEN};

use jni::objects::{JClass, JString};
use jni::EnvUnowned;

/// Seals `secret` and stores it under `label`, replacing what was there.
///
/// # Errors
/// [`KeyStoreError::BadLabel`] for a bad label; [`KeyStoreError::Unavailable`]
/// before `nativeInit` or when the key directory cannot be written;
/// [`KeyStoreError::Platform`] when the Android Keystore fails.
pub fn save(label: &str, secret: &[u8]) -> Result<()> {
    check_label(label)?;
    let guard = helper::lock();
    let state = helper::ready(&guard)?;
    let blob = state.seal(label, secret)?;
    state.files.write(label, &blob)
}

/// The secret stored under `label`, or `None` if there is none.
///
/// # Errors
/// [`KeyStoreError::Corrupt`] when a blob is stored but does not open (damaged,
/// or its key is gone from the Keystore): never `None` or garbage in that case.
/// [`KeyStoreError::BadLabel`], [`KeyStoreError::Unavailable`] and
/// [`KeyStoreError::Platform`] as for [`save`].
pub fn load(label: &str) -> Result<Option<Vec<u8>>> {
    check_label(label)?;
    let guard = helper::lock();
    let state = helper::ready(&guard)?;
    match state.files.read(label)? {
        None => Ok(None),
        Some(blob) => state.open(label, &blob).map(Some),
    }
}

/// Deletes the secret stored under `label` and its Keystore key; deleting a
/// missing label is `Ok`.
///
/// # Errors
/// As for [`save`].
pub fn delete(label: &str) -> Result<()> {
    check_label(label)?;
    let guard = helper::lock();
    let state = helper::ready(&guard)?;
    state.files.remove(label)?;
    state.delete_key(label)
}

/// `static native void org.outpost.keystore.Native.nativeInit(String keyDir)`:
/// see the crate docs. Throws `java.lang.RuntimeException` when the directory
/// cannot be created or the helper class cannot be loaded.
#[allow(unsafe_code)] // an exported symbol the JVM resolves by name
#[no_mangle]
pub extern "system" fn Java_org_outpost_keystore_Native_nativeInit<'caller>(
    mut unowned_env: EnvUnowned<'caller>,
    class: JClass<'caller>,
    key_dir: JString<'caller>,
) {
    unowned_env
        .with_env(|env| helper::init(env, &class, &key_dir))
        .resolve::<jni::errors::ThrowRuntimeExAndDefault>()
}
