#!/usr/bin/env bash
# The platform key-store glue crates (outpost-android, outpost-apple):
#   1. host JVM tests of the Android JNI glue (a real desktop JVM; a JDK is required here),
#   2. `cargo check` and clippy of both crates for their phone targets.
# Self-contained: adds the rustup targets and components it needs, and a JDK
# through apt-get if none is installed. Called by `tests/run.sh keystore`.
set -euo pipefail
cd "$(dirname "$0")/.."

ANDROID_TARGET=aarch64-linux-android
IOS_TARGET=aarch64-apple-ios

echo "== rustup targets and components"
rustup target add "$ANDROID_TARGET" "$IOS_TARGET" >/dev/null
rustup component add clippy >/dev/null 2>&1 || true

echo "== JDK"
if ! command -v javac >/dev/null 2>&1 && [ -z "${JAVA_HOME:-}" ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq default-jdk-headless >/dev/null
    fi
fi
if [ -z "${JAVA_HOME:-}" ] && command -v javac >/dev/null 2>&1; then
    JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"
    export JAVA_HOME
fi
echo "JAVA_HOME=${JAVA_HOME:-<none>}"

echo "== host tests (the Android glue against a real JVM; skipping is a failure here)"
OUTPOST_REQUIRE_JVM=1 cargo test -p outpost-android -p outpost-apple

echo "== cargo check --target $ANDROID_TARGET"
cargo check -p outpost-android --target "$ANDROID_TARGET"
cargo clippy -p outpost-android --target "$ANDROID_TARGET" --all-targets -- -D warnings

echo "== cargo check --target $IOS_TARGET"
cargo check -p outpost-apple --target "$IOS_TARGET"
cargo clippy -p outpost-apple --target "$IOS_TARGET" --all-targets -- -D warnings

echo "== keystore suite passed"
