#!/usr/bin/env bash
# The one test command. Usage: tests/run.sh [SUITE]
#   rust   formatting, clippy, and every Rust test (unit, integration, doc)
#   (no argument runs every suite)
# It installs what its suites need (rustup components) before running them.
set -euo pipefail
cd "$(dirname "$0")/.."

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

case "$suite" in
    rust) run_rust ;;
    all) run_rust ;;
    *) echo "unknown suite '$suite' (known: rust)" >&2; exit 2 ;;
esac
