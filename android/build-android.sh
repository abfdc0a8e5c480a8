#!/usr/bin/env bash
# Builds what the Android library module needs, then the AAR if Gradle is
# installed:
#   src/main/jniLibs/<abi>/liboutpost_ffi.so  for arm64-v8a, armeabi-v7a, x86_64, x86
#   src/main/generated/kotlin/                 uniffi Kotlin bindings (uniffi.toml: android = true)
# Needs rustup and the Android NDK (ANDROID_NDK_HOME); installs cargo-ndk.
# Usage: android/build-android.sh [--debug]
set -euo pipefail
cd "$(dirname "$0")/.."

profile_flag=(--release)
[[ "${1:-}" == "--debug" ]] && profile_flag=()

if [[ -z "${ANDROID_NDK_HOME:-}" || ! -d "${ANDROID_NDK_HOME}" ]]; then
    echo "set ANDROID_NDK_HOME to an installed Android NDK (r26 or later)" >&2
    exit 1
fi
command -v cargo-ndk >/dev/null || cargo install cargo-ndk --locked
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android

# The app's minSdk (android/build.gradle.kts): link against API 24's libc.
min_sdk=24
# 16 KB pages (required for apps targeting Android 15+ on Google Play): ELF
# segments aligned to 16 KB on every ABI; NDK r27 and earlier default to 4 KB.
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-z,max-page-size=16384 -C link-arg=-Wl,-z,common-page-size=16384"

echo "== cargo ndk (4 ABIs, API $min_sdk, 16 KB pages)"
cargo ndk --platform "$min_sdk" -t arm64-v8a -t armeabi-v7a -t x86_64 -t x86 -o android/src/main/jniLibs \
    build -p outpost-ffi --lib --no-default-features "${profile_flag[@]}"

echo "== generate the Kotlin bindings (android = true)"
cargo build -p outpost-ffi --lib --bin uniffi-bindgen
host_lib=target/debug/liboutpost_ffi.so
[[ "$(uname -s)" == "Darwin" ]] && host_lib=target/debug/liboutpost_ffi.dylib
rm -rf android/src/main/generated/kotlin
target/debug/uniffi-bindgen generate --library "$host_lib" --language kotlin \
    --config uniffi.toml --out-dir android/src/main/generated/kotlin

# Gradle 8.10.2, the version gradle/wrapper/gradle-wrapper.properties pins
# (generate the wrapper scripts once with `gradle wrapper` from any Gradle).
if [[ -x android/gradlew ]]; then
    gradle=(android/gradlew -p android)
elif command -v gradle >/dev/null; then
    gradle=(gradle -p android)
else
    echo "Gradle not found: open android/ in Android Studio, or run 'gradle -p android assembleRelease'"
    exit 0
fi
echo "== gradle assembleRelease publishToMavenLocal"
"${gradle[@]}" assembleRelease publishToMavenLocal
echo "AAR: android/build/outputs/aar/ (and org.outpost:outpost-android:0.1.0 in ~/.m2 with its POM)"
