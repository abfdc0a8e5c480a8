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

echo "== cargo ndk (4 ABIs)"
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -t x86 -o android/src/main/jniLibs \
    build -p outpost-ffi --lib --no-default-features "${profile_flag[@]}"

echo "== generate the Kotlin bindings (android = true)"
cargo build -p outpost-ffi --lib --bin uniffi-bindgen
host_lib=target/debug/liboutpost_ffi.so
[[ "$(uname -s)" == "Darwin" ]] && host_lib=target/debug/liboutpost_ffi.dylib
rm -rf android/src/main/generated/kotlin
target/debug/uniffi-bindgen generate --library "$host_lib" --language kotlin \
    --config uniffi.toml --out-dir android/src/main/generated/kotlin

if command -v gradle >/dev/null; then
    echo "== gradle assembleRelease"
    gradle -p android assembleRelease
    echo "AAR: android/build/outputs/aar/"
else
    echo "Gradle not found: open android/ in Android Studio, or run 'gradle -p android assembleRelease'"
fi
