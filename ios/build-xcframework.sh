#!/usr/bin/env bash
# Builds ios/OutpostFFI.xcframework (iOS device; iOS simulator arm64 + x86_64;
# macOS arm64 + x86_64, so `swift test` runs on a Mac) and writes the
# generated Swift bindings to ios/Sources/OutpostBindings/OutpostBindings.swift, for the Swift
# Package at the repository root (Package.swift). Needs macOS with Xcode and
# rustup.
# Usage: ios/build-xcframework.sh [--debug]
#        ios/build-xcframework.sh --release URL
#   --release URL also zips the XCFramework to target/OutpostFFI.xcframework.zip
#   and sets Package.swift's `releasedFFI` to URL (where you upload the zip)
#   and the zip's checksum; commit that and the generated Swift on the
#   release tag.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

profile=release
cargo_profile=(--release)
release_url=""
case "${1:-}" in
    --debug) profile=debug; cargo_profile=() ;;
    --release) release_url="${2:?--release needs the URL the zip will be downloaded from}" ;;
esac

if [[ "$(uname -s)" != "Darwin" ]] || ! command -v xcodebuild >/dev/null; then
    echo "build-xcframework.sh needs macOS with Xcode (xcodebuild)" >&2
    exit 1
fi

device=aarch64-apple-ios
simulators=(aarch64-apple-ios-sim x86_64-apple-ios)
macs=(aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "$device" "${simulators[@]}" "${macs[@]}"

# The mobile libraries do not need the bindgen (feature "cli").
for target in "$device" "${simulators[@]}" "${macs[@]}"; do
    echo "== cargo build $target"
    cargo build -p outpost-ffi --lib --no-default-features --target "$target" "${cargo_profile[@]}"
done
lib() { echo "target/$1/$profile/liboutpost_ffi.a"; }

echo "== generate the Swift bindings"
cargo build -p outpost-ffi --bin uniffi-bindgen
out="$root/target/bindings/swift-release"
rm -rf "$out"
host="$(rustc -vV | sed -n 's/^host: //p')"
target/debug/uniffi-bindgen generate --library "target/$host/$profile/liboutpost_ffi.dylib" \
    --language swift --config uniffi.toml --out-dir "$out"
mkdir -p ios/Sources/OutpostBindings
cp "$out/OutpostBindings.swift" ios/Sources/OutpostBindings/OutpostBindings.swift

echo "== fat libraries (lipo) and headers"
work="$root/target/xcframework"
rm -rf "$work"
mkdir -p "$work/headers" "$work/ios-simulator" "$work/macos"
cp "$out/OutpostFFI.h" "$work/headers/"
cp "$out/OutpostFFI.modulemap" "$work/headers/module.modulemap"
lipo -create "$(lib "${simulators[0]}")" "$(lib "${simulators[1]}")" -output "$work/ios-simulator/liboutpost_ffi.a"
lipo -create "$(lib "${macs[0]}")" "$(lib "${macs[1]}")" -output "$work/macos/liboutpost_ffi.a"

echo "== xcodebuild -create-xcframework"
rm -rf ios/OutpostFFI.xcframework
xcodebuild -create-xcframework \
    -library "$(lib "$device")" -headers "$work/headers" \
    -library "$work/ios-simulator/liboutpost_ffi.a" -headers "$work/headers" \
    -library "$work/macos/liboutpost_ffi.a" -headers "$work/headers" \
    -output ios/OutpostFFI.xcframework

if [[ -n "$release_url" ]]; then
    echo "== release zip and Package.swift"
    zip_file="$root/target/OutpostFFI.xcframework.zip"
    rm -f "$zip_file"
    (cd ios && zip -qry "$zip_file" OutpostFFI.xcframework)
    checksum="$(swift package compute-checksum "$zip_file")"
    sed -i '' "s|^let releasedFFI: (url: String, checksum: String)? = .*|let releasedFFI: (url: String, checksum: String)? = (url: \"$release_url\", checksum: \"$checksum\")|" Package.swift
    echo "upload $zip_file to $release_url, then commit Package.swift and ios/Sources/OutpostBindings/OutpostBindings.swift on the release tag"
fi

echo "built ios/OutpostFFI.xcframework; now: swift test (from the repository root)"
