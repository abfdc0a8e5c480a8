//! The JNI side: remembers the JVM and the `KeystoreHelper` class at
//! `Native.nativeInit`, and calls the helper from any thread, attaching it to
//! the JVM for the call when it is not attached already.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use jni::errors::Error as JniError;
use jni::objects::{JByteArray, JClass, JString};
use jni::refs::{Global, LoaderContext};
use jni::strings::JNIStr;
use jni::vm::JavaVM;
use jni::{jni_sig, jni_str, Env, JValue};

use crate::error::{KeyStoreError, Result};
use crate::files::SealedFiles;

/// Java exceptions that mean "this blob cannot be opened", as opposed to a
/// failing key store.
const CORRUPT_EXCEPTIONS: [&str; 2] = [
    "org.outpost.keystore.KeystoreHelper$CorruptBlobException",
    "org.outpost.keystore.KeystoreHelper$KeyMissingException",
];

/// What `nativeInit` set up.
pub(crate) struct State {
    vm: JavaVM,
    helper: Global<JClass<'static>>,
    pub(crate) files: SealedFiles,
}

/// The state, behind one lock that also serialises key store calls, so two
/// saves of one label cannot race to create its key.
static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Locks the state (no code panics while holding it, so poisoning is ignored).
pub(crate) fn lock() -> MutexGuard<'static, Option<State>> {
    STATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The state, or `Unavailable` before `nativeInit`.
pub(crate) fn ready(guard: &Option<State>) -> Result<&State> {
    guard.as_ref().ok_or_else(|| {
        KeyStoreError::Unavailable(
            "not initialised: call org.outpost.keystore.Native.nativeInit(keyDir) once at start-up".into(),
        )
    })
}

/// The error `nativeInit` throws as a `RuntimeException`.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct InitError(#[from] KeyStoreError);

impl From<JniError> for InitError {
    fn from(error: JniError) -> Self {
        InitError(KeyStoreError::Platform(format!("JNI: {error}")))
    }
}

/// Loads the helper through `caller`'s class loader (the app's, on Android,
/// where `FindClass` from a native thread sees only system classes) and keeps
/// the JVM, the helper class and the key directory for later calls.
pub(crate) fn init(env: &mut Env, caller: &JClass, key_dir: &JString) -> std::result::Result<(), InitError> {
    let dir = key_dir.try_to_string(env).map_err(|e| jni_failure(env, None, e))?;
    if dir.is_empty() {
        return Err(KeyStoreError::Unavailable("nativeInit was given an empty key directory".into()).into());
    }
    let files = SealedFiles::open(Path::new(&dir))?;
    let helper = load_helper(env, caller).map_err(|e| jni_failure(env, None, e))?;
    let vm = env.get_java_vm().map_err(|e| jni_failure(env, None, e))?;
    *lock() = Some(State { vm, helper, files });
    Ok(())
}

fn load_helper(env: &mut Env, caller: &JClass) -> jni::errors::Result<Global<JClass<'static>>> {
    let loader = caller.get_class_loader(env)?;
    let context = if loader.is_null() {
        LoaderContext::None
    } else {
        LoaderContext::Loader(&loader)
    };
    let class = context.load_class(env, jni_str!("org.outpost.keystore.KeystoreHelper"), true)?;
    env.new_global_ref(class)
}

impl State {
    /// `KeystoreHelper.seal(label, secret)`: the sealed blob.
    pub(crate) fn seal(&self, label: &str, secret: &[u8]) -> Result<Vec<u8>> {
        self.with_env(label, |env, helper| {
            let blob = call_bytes(env, helper, jni_str!("seal"), label, secret)?;
            env.convert_byte_array(&blob)
        })
    }

    /// `KeystoreHelper.open(label, blob)`: the secret. The Java copy is wiped.
    pub(crate) fn open(&self, label: &str, blob: &[u8]) -> Result<Vec<u8>> {
        self.with_env(label, |env, helper| {
            let secret = call_bytes(env, helper, jni_str!("open"), label, blob)?;
            let bytes = env.convert_byte_array(&secret)?;
            secret.set_region(env, 0, &vec![0i8; bytes.len()])?;
            Ok(bytes)
        })
    }

    /// `KeystoreHelper.deleteKey(label)`.
    pub(crate) fn delete_key(&self, label: &str) -> Result<()> {
        self.with_env(label, |env, helper| {
            let label = env.new_string(label)?;
            env.call_static_method(
                helper,
                jni_str!("deleteKey"),
                jni_sig!("(Ljava/lang/String;)V"),
                &[JValue::from(&label)],
            )?
            .v()
        })
    }

    /// Runs `call` attached to the JVM (for this call only if the thread was
    /// not attached), turning a thrown exception into a [`KeyStoreError`].
    fn with_env<T>(&self, label: &str, call: impl FnOnce(&mut Env, &JClass) -> jni::errors::Result<T>) -> Result<T> {
        self.vm
            .attach_current_thread_for_scope(|env| -> jni::errors::Result<Result<T>> {
                Ok(call(env, &self.helper).map_err(|e| jni_failure(env, Some(label), e)))
            })
            .unwrap_or_else(|e| Err(KeyStoreError::Unavailable(format!("cannot attach to the JVM: {e}"))))
    }
}

/// `static byte[] method(String label, byte[] bytes)` of the helper; never null.
fn call_bytes<'local>(
    env: &mut Env<'local>,
    helper: &JClass,
    method: &JNIStr,
    label: &str,
    bytes: &[u8],
) -> jni::errors::Result<JByteArray<'local>> {
    let label = env.new_string(label)?;
    let bytes = env.byte_array_from_slice(bytes)?;
    let result = env
        .call_static_method(
            helper,
            method,
            jni_sig!("(Ljava/lang/String;[B)[B"),
            &[JValue::from(&label), JValue::from(&bytes)],
        )?
        .l()?;
    let result = env.cast_local::<JByteArray>(result)?;
    if result.is_null() {
        return Err(JniError::NullPtr("KeystoreHelper returned null"));
    }
    Ok(result)
}

/// Maps a JNI error, catching (clearing) a pending Java exception first: the
/// helper's own exceptions mean a blob that cannot be opened, anything else is
/// the platform's failure. Messages are exception names and texts, which never
/// hold key material.
fn jni_failure(env: &mut Env, label: Option<&str>, error: JniError) -> KeyStoreError {
    let error = match error {
        JniError::JavaException => env.exception_catch().err().unwrap_or(JniError::JavaException),
        other => other,
    };
    match (error, label) {
        (JniError::CaughtJavaException { name, msg, .. }, Some(label))
            if CORRUPT_EXCEPTIONS.contains(&name.as_str()) =>
        {
            KeyStoreError::Corrupt {
                label: label.to_owned(),
                reason: msg,
            }
        }
        (JniError::CaughtJavaException { name, msg, .. }, _) => KeyStoreError::Platform(format!("{name}: {msg}")),
        (other, _) => KeyStoreError::Platform(format!("JNI: {other}")),
    }
}
