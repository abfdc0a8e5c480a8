#!/usr/bin/env bash
# The one test command. Usage: tests/run.sh [SUITE]
#   rust    formatting, clippy, and every Rust test (unit, integration, doc)
#   kotlin  builds the host cdylib, generates the Kotlin bindings (JVM
#           config) with the in-workspace uniffi-bindgen, and runs the Kotlin
#           tests (tests/kotlin, Maven + JUnit 5 + JNA) on a desktop JVM; then
#           the Android flavour (tests/kotlin/android): the bindings generated
#           with uniffi.toml (android = true), the Kotlin layer, OutpostAndroid.kt
#           and the key-store Java helper compiled against the real Android 14
#           classes (org.robolectric:android-all) with README.md's Kotlin blocks
#           (tests/readme_snippets.py), and a marked subset of the Kotlin tests
#           run under Robolectric
#   swift   generates the Swift bindings and parses every Swift file
#           (generated, hand-written, tests, Package.swift, README.md's Swift
#           blocks) with tree-sitter,
#           and lints the parse trees for calls to the layer's own throwing or
#           async functions without `try` or `await`; no Swift toolchain
#           runs here
#   keystore  the platform key-store glue crates: host JVM tests of the
#           Android Keystore JNI code, and `cargo check`/clippy of the Android
#           and iOS crates for aarch64-linux-android and aarch64-apple-ios
#           (tests/keystore.sh; adds the rustup targets)
#   pouchdb the PouchDB harness (tests/pouchdb: express-pouchdb server and
#           bench for interop tests and benchmarks): npm ci, then its smoke
#           test with node --test (Node >= 20; not part of `all` yet)
#   interop real CouchDB-protocol peers from npm against Outpost: builds the
#           `outpost` binary, installs the PouchDB harness (tests/pouchdb),
#           then runs every tests/interop/*.test.js with node --test
#           (OUTPOST_BIN names the binary, NODE_PATH the harness's modules)
#   all     (the default) rust, kotlin, swift, keystore and interop
# It installs what its suites need (rustup components, Maven dependencies,
# a Python venv with tree-sitter under target/) before running them.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

suite="${1:-all}"

need_rust_components() {
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
}

run_rust() {
    need_rust_components
    echo "== cargo fmt --check"
    cargo fmt --all -- --check
    echo "== cargo clippy"
    cargo clippy --workspace --all-targets -- -D warnings
    echo "== cargo test"
    cargo test --workspace
}

# Builds the host library and the bindgen, and generates LANGUAGE bindings
# with CONFIG into OUT (emptied first, so nothing stale survives).
generate_bindings() {
    local language="$1" config="$2" out="$3" library=target/debug/liboutpost_ffi.so
    [[ "$(uname -s)" == "Darwin" ]] && library=target/debug/liboutpost_ffi.dylib
    cargo build -p outpost-ffi --lib --bin uniffi-bindgen
    rm -rf "$out"
    target/debug/uniffi-bindgen generate --library "$library" \
        --language "$language" --config "$config" --out-dir "$out" --no-format
}

# README.md's Kotlin and Swift blocks as sources under target/readme/ (emptied first).
write_readme_snippets() {
    rm -rf "$root/target/readme"
    python3 tests/readme_snippets.py README.md "$root/target/readme"
}

run_kotlin() {
    echo "== kotlin: generate bindings (JVM config)"
    generate_bindings kotlin bindings/uniffi-jvm.toml "$root/target/bindings/kotlin-jvm"
    echo "== kotlin: mvn test (tests/kotlin)"
    mvn -B -ntp -f tests/kotlin/pom.xml clean test \
        -Doutpost.generated="$root/target/bindings/kotlin-jvm" \
        -Doutpost.libdir="$root/target/debug"
    echo "== kotlin: generate bindings (Android config, android = true)"
    generate_bindings kotlin uniffi.toml "$root/target/bindings/kotlin-android"
    write_readme_snippets
    echo "== kotlin: Android flavour against android-all, README's Kotlin compiled, subset under Robolectric (tests/kotlin/android)"
    mvn -B -ntp -f tests/kotlin/android/pom.xml clean test \
        -Doutpost.generated="$root/target/bindings/kotlin-android" \
        -Doutpost.libdir="$root/target/debug" \
        -Doutpost.readme="$root/target/readme/kotlin"
}

run_swift() {
    echo "== swift: generate bindings"
    local out="$root/target/bindings/swift"
    generate_bindings swift uniffi.toml "$out"
    local venv="$root/target/swift-parse-venv"
    if ! "$venv/bin/python" -c "import tree_sitter, tree_sitter_swift" 2>/dev/null; then
        echo "== swift: installing tree-sitter into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "tree-sitter>=0.23,<0.26" "tree-sitter-swift>=0.6,<0.8"
    fi
    write_readme_snippets
    echo "== swift: parse every Swift file"
    "$venv/bin/python" tests/swift_parse.py "$out" ios Package.swift "$root/target/readme/swift"
}

run_pouchdb() {
    echo "== pouchdb: npm ci (tests/pouchdb)"
    npm ci --prefix tests/pouchdb --no-audit --no-fund
    echo "== pouchdb: node --test (tests/pouchdb/smoke.test.js)"
    local log status=0 passed failed
    log="$(mktemp)"
    node --test --test-reporter=tap tests/pouchdb/smoke.test.js 2>&1 | tee "$log" || status=$?
    passed="$(sed -n 's/^# pass //p' "$log")"
    failed="$(sed -n 's/^# fail //p' "$log")"
    rm -f "$log"
    [[ "$status" -ne 0 ]] && echo "node --test exited with $status"
    echo "${passed:-0} passed, ${failed:-0} failed"
    return "$status"
}

run_interop() {
    echo "== interop: build the outpost binary"
    cargo build -p outpost-cli --bin outpost
    echo "== interop: npm ci (tests/pouchdb)"
    npm ci --prefix tests/pouchdb --no-audit --no-fund
    local tests=(tests/interop/*.test.js)
    if [[ ! -e "${tests[0]}" ]]; then
        echo "no interop tests (tests/interop/*.test.js)"
        return 0
    fi
    echo "== interop: node --test ${tests[*]}"
    OUTPOST_BIN="$root/target/debug/outpost" NODE_PATH="$root/tests/pouchdb/node_modules" \
        node --test --test-concurrency=1 "${tests[@]}"
}

case "$suite" in
    rust) run_rust ;;
    kotlin) run_kotlin ;;
    swift) run_swift ;;
    keystore) bash tests/keystore.sh ;;
    pouchdb) run_pouchdb ;;
    interop) run_interop ;;
    all) run_rust; run_kotlin; run_swift; bash tests/keystore.sh; run_interop ;;
    *) echo "unknown suite '$suite' (known: rust, kotlin, swift, keystore, pouchdb, interop, all)" >&2; exit 2 ;;
esac
