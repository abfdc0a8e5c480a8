//! The JNI glue against a real desktop JVM: the same Rust code and the same
//! `KeystoreHelper` as on Android, with the desktop stand-in provider
//! `FileBackedAndroidKeyStore` (tests/java) registered as "AndroidKeyStore".
//!
//! Needs a JDK (JAVA_HOME, /usr/lib/jvm/default-java, or `javac` on PATH);
//! without one every test prints why and passes, unless
//! OUTPOST_REQUIRE_JVM=1 (as tests/keystore.sh sets), which makes that a failure.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use jni::objects::{JString, JValue};
use jni::vm::{InitArgsBuilder, JavaVM};
use jni::{jni_sig, jni_str, Env, JNIVersion, NativeMethod};
use outpost_android::KeyStoreError;

/// The JVM of this test process and the directories it works in.
struct Jvm {
    vm: JavaVM,
    classes: PathBuf,
    work: PathBuf,
}

/// Environment variables that hand the parent's setup to a child process.
const CHILD_CLASSES: &str = "OUTPOST_TEST_CLASSES";
const CHILD_WORK: &str = "OUTPOST_TEST_WORK";
const CHILD_LABEL: &str = "OUTPOST_TEST_LABEL";
const CHILD_SECRET_HEX: &str = "OUTPOST_TEST_SECRET_HEX";

/// The process's JVM, started once; `None` (with the reason printed) if there is no JDK.
fn jvm() -> Option<&'static Jvm> {
    static JVM: OnceLock<Result<Jvm, String>> = OnceLock::new();
    match JVM.get_or_init(start_jvm) {
        Ok(jvm) => Some(jvm),
        Err(why) if std::env::var("OUTPOST_REQUIRE_JVM").as_deref() == Ok("1") => {
            panic!("OUTPOST_REQUIRE_JVM=1 but the host JVM tests cannot run: {why}")
        }
        Err(why) => {
            eprintln!("skipping host JVM test: {why}");
            None
        }
    }
}

fn java_home() -> Result<PathBuf, String> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("JAVA_HOME").map(PathBuf::from).into_iter().collect();
    candidates.push("/usr/lib/jvm/default-java".into());
    if let Ok(out) = Command::new("sh")
        .args(["-c", "readlink -f \"$(command -v javac)\""])
        .output()
    {
        let javac = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if let Some(home) = javac.parent().and_then(Path::parent) {
            candidates.push(home.to_path_buf());
        }
    }
    candidates
        .into_iter()
        .find(|home| home.join("bin/javac").is_file() && libjvm(home).is_file())
        .ok_or_else(|| "no JDK found (set JAVA_HOME to a JDK 11+ with bin/javac and lib/server/libjvm)".into())
}

fn libjvm(home: &Path) -> PathBuf {
    let name = if cfg!(target_os = "macos") {
        "libjvm.dylib"
    } else {
        "libjvm.so"
    };
    home.join("lib/server").join(name)
}

/// Compiles the shipped helper and the test provider with javac.
fn compile_java(home: &Path, out: &Path) -> Result<(), String> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = [
        "java/org/outpost/keystore/KeystoreHelper.java",
        "java/org/outpost/keystore/Native.java",
        "tests/java/org/outpost/keystore/desktop/FileBackedAndroidKeyStore.java",
    ];
    let status = Command::new(home.join("bin/javac"))
        .args(["-Xlint:all", "-Werror", "-d"])
        .arg(out)
        .args(sources.iter().map(|s| crate_dir.join(s)))
        .status()
        .map_err(|e| format!("cannot run javac: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("javac failed: {status}"))
    }
}

fn start_jvm() -> Result<Jvm, String> {
    let home = java_home()?;
    let (classes, work) = match (std::env::var_os(CHILD_CLASSES), std::env::var_os(CHILD_WORK)) {
        (Some(classes), Some(work)) => (PathBuf::from(classes), PathBuf::from(work)),
        _ => {
            let root = tempfile::Builder::new()
                .prefix("outpost-android-host-")
                .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .map_err(|e| e.to_string())?
                .keep();
            let classes = root.join("classes");
            compile_java(&home, &classes)?;
            (classes, root.join("work"))
        }
    };
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let args = InitArgsBuilder::new()
        .version(JNIVersion::V1_8)
        .option(format!("-Djava.class.path={}", classes.display()))
        .option("-Xcheck:jni")
        .build()
        .map_err(|e| e.to_string())?;
    let vm = JavaVM::with_libjvm(args, || Ok(libjvm(&home))).map_err(|e| format!("cannot start the JVM: {e}"))?;
    let keys = work.join("keys");
    let provider_file = work.join("provider.p12");
    vm.attach_current_thread_for_scope(|env| -> jni::errors::Result<()> {
        let path = env.new_string(provider_file.to_string_lossy())?;
        env.call_static_method(
            jni_str!("org/outpost/keystore/desktop/FileBackedAndroidKeyStore"),
            jni_str!("install"),
            jni_sig!("(Ljava/lang/String;)V"),
            &[JValue::from(&path)],
        )?;
        register_native_init(env)?;
        native_init(env, &keys.to_string_lossy())
    })
    .map_err(|e| format!("cannot set up the JVM: {e}"))?;
    Ok(Jvm { vm, classes, work })
}

/// Binds `Native.nativeInit` to the exported Rust function, as
/// `System.loadLibrary` does for the app's library on Android.
fn register_native_init(env: &mut Env) -> jni::errors::Result<()> {
    let init = outpost_android::Java_org_outpost_keystore_Native_nativeInit as *mut c_void;
    // SAFETY: the function is `extern "system"`, static, and takes (EnvUnowned,
    // JClass, JString), matching `static native void nativeInit(String)`.
    unsafe {
        let method = NativeMethod::from_raw_parts(jni_str!("nativeInit"), jni_str!("(Ljava/lang/String;)V"), init);
        env.register_native_methods(jni_str!("org/outpost/keystore/Native"), &[method])
    }
}

/// Calls `Native.nativeInit(dir)` from Java's side of the boundary.
fn native_init(env: &mut Env, dir: &str) -> jni::errors::Result<()> {
    let dir = env.new_string(dir)?;
    env.call_static_method(
        jni_str!("org/outpost/keystore/Native"),
        jni_str!("nativeInit"),
        jni_sig!("(Ljava/lang/String;)V"),
        &[JValue::from(&dir)],
    )?
    .v()
}

impl Jvm {
    fn blob_path(&self, label: &str) -> PathBuf {
        self.work.join("keys").join(format!("{label}.sealed"))
    }

    /// Removes the key of `label` from the stand-in provider behind the helper's back.
    fn remove_key(&self, label: &str) {
        self.vm
            .attach_current_thread_for_scope(|env| -> jni::errors::Result<()> {
                let label = env.new_string(label)?;
                let alias = env
                    .call_static_method(
                        jni_str!("org/outpost/keystore/KeystoreHelper"),
                        jni_str!("alias"),
                        jni_sig!("(Ljava/lang/String;)Ljava/lang/String;"),
                        &[JValue::from(&label)],
                    )?
                    .l()?;
                let alias = env.cast_local::<JString>(alias)?;
                env.call_static_method(
                    jni_str!("org/outpost/keystore/desktop/FileBackedAndroidKeyStore"),
                    jni_str!("removeEntry"),
                    jni_sig!("(Ljava/lang/String;)V"),
                    &[JValue::from(&alias)],
                )?
                .v()
            })
            .unwrap();
    }
}

/// A secret that differs on every run.
fn fresh_secret(len: usize) -> Vec<u8> {
    use std::hash::{BuildHasher, RandomState};
    let state = RandomState::new();
    (0..len).map(|i| state.hash_one(i) as u8).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn assert_corrupt(label: &str, expect_in_reason: &str) {
    match outpost_android::load(label) {
        Err(KeyStoreError::Corrupt { label: got, reason }) => {
            assert_eq!(got, label);
            assert!(reason.contains(expect_in_reason), "reason {reason:?}");
        }
        other => panic!("expected Corrupt for {label}, got {other:?}"),
    }
}

#[test]
fn save_load_replace_delete() {
    let Some(_jvm) = jvm() else { return };
    let (first, second) = (fresh_secret(3000), fresh_secret(17));
    outpost_android::save("round-trip", &first).unwrap();
    assert_eq!(outpost_android::load("round-trip").unwrap(), Some(first));
    outpost_android::save("round-trip", &second).unwrap();
    assert_eq!(outpost_android::load("round-trip").unwrap(), Some(second));
    outpost_android::delete("round-trip").unwrap();
    assert_eq!(outpost_android::load("round-trip").unwrap(), None);
    outpost_android::delete("round-trip").unwrap();
}

#[test]
fn an_empty_secret_round_trips() {
    let Some(_jvm) = jvm() else { return };
    outpost_android::save("empty", b"").unwrap();
    assert_eq!(outpost_android::load("empty").unwrap(), Some(Vec::new()));
}

#[test]
fn load_of_a_missing_label_is_none() {
    let Some(_jvm) = jvm() else { return };
    assert_eq!(outpost_android::load("never-saved").unwrap(), None);
    outpost_android::delete("never-saved").unwrap();
}

#[test]
fn the_blob_on_disk_is_sealed_and_private() {
    let Some(jvm) = jvm() else { return };
    let secret = fresh_secret(64);
    outpost_android::save("on-disk", &secret).unwrap();
    let blob = std::fs::read(jvm.blob_path("on-disk")).unwrap();
    assert_eq!(blob[0], 1, "version byte");
    assert_eq!(
        blob.len(),
        1 + 12 + secret.len() + 16,
        "version + IV + ciphertext + tag"
    );
    assert!(
        !blob.windows(16).any(|w| secret.windows(16).any(|s| s == w)),
        "plaintext on disk"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(jvm.blob_path("on-disk"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn every_flipped_byte_is_corrupt_never_garbage() {
    let Some(jvm) = jvm() else { return };
    let secret = fresh_secret(40);
    outpost_android::save("flipped", &secret).unwrap();
    let path = jvm.blob_path("flipped");
    let good = std::fs::read(&path).unwrap();
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        let expected = if at == 0 {
            "unknown version"
        } else {
            "fails to authenticate"
        };
        assert_corrupt("flipped", expected);
    }
    for len in [0, 1, 12, 28, good.len() - 1] {
        std::fs::write(&path, &good[..len]).unwrap();
        let expected = if len < 29 { "too short" } else { "fails to authenticate" };
        assert_corrupt("flipped", expected);
    }
    std::fs::write(&path, &good).unwrap();
    assert_eq!(outpost_android::load("flipped").unwrap(), Some(secret));
}

#[test]
fn a_blob_under_another_label_does_not_open() {
    let Some(jvm) = jvm() else { return };
    outpost_android::save("label-a", b"secret of a").unwrap();
    outpost_android::save("label-b", b"secret of b").unwrap();
    std::fs::copy(jvm.blob_path("label-a"), jvm.blob_path("label-b")).unwrap();
    assert_corrupt("label-b", "fails to authenticate");
    assert_eq!(
        outpost_android::load("label-a").unwrap().as_deref(),
        Some(&b"secret of a"[..])
    );
}

#[test]
fn a_blob_whose_key_is_gone_is_a_clear_error() {
    let Some(jvm) = jvm() else { return };
    outpost_android::save("lost-key", b"identity").unwrap();
    jvm.remove_key("lost-key");
    assert_corrupt("lost-key", "sealing key is gone");
    // Starting over works: delete, then save under a new key.
    outpost_android::delete("lost-key").unwrap();
    outpost_android::save("lost-key", b"new identity").unwrap();
    assert_eq!(
        outpost_android::load("lost-key").unwrap().as_deref(),
        Some(&b"new identity"[..])
    );
}

#[test]
fn delete_removes_the_key_too() {
    let Some(jvm) = jvm() else { return };
    outpost_android::save("deleted", b"identity").unwrap();
    let blob = std::fs::read(jvm.blob_path("deleted")).unwrap();
    outpost_android::delete("deleted").unwrap();
    assert!(!jvm.blob_path("deleted").exists());
    std::fs::write(jvm.blob_path("deleted"), blob).unwrap();
    assert_corrupt("deleted", "sealing key is gone");
    outpost_android::delete("deleted").unwrap();
}

#[test]
fn bad_labels_are_refused_before_anything_is_written() {
    let Some(jvm) = jvm() else { return };
    for label in ["", "../escape", ".hidden", "a/b", &"x".repeat(129)] {
        assert!(matches!(
            outpost_android::save(label, b"x"),
            Err(KeyStoreError::BadLabel(_))
        ));
        assert!(matches!(outpost_android::load(label), Err(KeyStoreError::BadLabel(_))));
        assert!(matches!(
            outpost_android::delete(label),
            Err(KeyStoreError::BadLabel(_))
        ));
    }
    assert!(!jvm.work.join("escape.sealed").exists());
}

#[test]
fn rust_threads_attach_for_the_call_and_detach_after() {
    let Some(jvm) = jvm() else { return };
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let vm = jvm.vm.clone();
            std::thread::spawn(move || {
                let label = format!("thread-{i}");
                let secret = fresh_secret(100 + i);
                for _ in 0..5 {
                    outpost_android::save(&label, &secret).unwrap();
                    assert_eq!(outpost_android::load(&label).unwrap().as_ref(), Some(&secret));
                }
                assert!(!vm.is_thread_attached().unwrap(), "the thread stayed attached");
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn native_init_throws_for_an_unusable_directory() {
    let Some(jvm) = jvm() else { return };
    let file = jvm.work.join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let outcome = jvm
        .vm
        .attach_current_thread_for_scope(|env| -> jni::errors::Result<()> {
            native_init(env, &file.join("keys").to_string_lossy())
        });
    match outcome {
        Err(jni::errors::Error::CaughtJavaException { name, msg, .. }) => {
            assert_eq!(name, "java.lang.RuntimeException");
            assert!(msg.contains("cannot create the key directory"), "{msg}");
        }
        other => panic!("expected a RuntimeException, got {other:?}"),
    }
    // The earlier initialisation still stands.
    outpost_android::save("after-failed-init", b"x").unwrap();
    assert!(jvm.blob_path("after-failed-init").exists());
}

#[test]
fn a_saved_secret_loads_in_a_new_process() {
    let Some(jvm) = jvm() else { return };
    let secret = fresh_secret(2048);
    outpost_android::save("across-processes", &secret).unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_loads_what_the_parent_saved",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_CLASSES, &jvm.classes)
        .env(CHILD_WORK, &jvm.work)
        .env(CHILD_LABEL, "across-processes")
        .env(CHILD_SECRET_HEX, hex(&secret))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The other half of `a_saved_secret_loads_in_a_new_process`, run by it in a child process.
#[test]
#[ignore = "run as a child process by a_saved_secret_loads_in_a_new_process"]
fn child_loads_what_the_parent_saved() {
    let (Ok(label), Ok(expected)) = (std::env::var(CHILD_LABEL), std::env::var(CHILD_SECRET_HEX)) else {
        panic!("run by a_saved_secret_loads_in_a_new_process, which sets {CHILD_LABEL} and {CHILD_SECRET_HEX}");
    };
    assert!(jvm().is_some(), "the child needs the JVM the parent had");
    assert_eq!(outpost_android::load(&label).unwrap(), Some(unhex(&expected)));
}
