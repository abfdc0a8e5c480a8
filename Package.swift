// swift-tools-version:5.9
// The Outpost Swift Package, at the repository root so an app adds it by the
// repository's URL (File > Add Package Dependencies in Xcode, or
// `.package(url: ..., from: "0.1.0")`). Target Outpost is the public Swift API
// (ios/Sources/Outpost), written by hand over target OutpostBindings, the
// generated bindings (ios/Sources/OutpostBindings/OutpostBindings.swift), which
// it imports without exporting them; both sit over the Rust library, packaged as
// the XCFramework OutpostFFI:
// - working from a clone: ios/build-xcframework.sh builds
//   ios/OutpostFFI.xcframework and the generated Swift, and this manifest uses
//   them (`swift test` from the repository root runs ios/Tests);
// - a release (ios/build-xcframework.sh --release URL): the zipped
//   XCFramework is uploaded to URL, `releasedFFI` below is set to its URL and
//   checksum, and the generated Swift is committed on the release tag, so an
//   app that adds the package by URL downloads the prebuilt library.
import Foundation
import PackageDescription

/// The released XCFramework (url, checksum); nil until the first release.
let releasedFFI: (url: String, checksum: String)? = nil

let localFFI = "ios/OutpostFFI.xcframework"
let hasLocalFFI = FileManager.default.fileExists(
    atPath: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(localFFI).path)

let ffi: Target = if let released = releasedFFI, !hasLocalFFI {
    .binaryTarget(name: "OutpostFFI", url: released.url, checksum: released.checksum)
} else {
    .binaryTarget(name: "OutpostFFI", path: localFFI)
}

let package = Package(
    name: "Outpost",
    // Swift's Duration (replicator waits and heartbeats) needs iOS 16 / macOS 13.
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        .library(name: "Outpost", targets: ["Outpost"]),
    ],
    targets: [
        ffi,
        .target(
            name: "OutpostBindings",
            dependencies: ["OutpostFFI"],
            path: "ios/Sources/OutpostBindings",
            exclude: ["README.md"],
            linkerSettings: [
                // The Rust library's Keychain glue and TLS trust use Security
                // (through security-framework) and CoreFoundation.
                .linkedFramework("Security"),
                .linkedFramework("CoreFoundation"),
            ]
        ),
        .target(name: "Outpost", dependencies: ["OutpostBindings"], path: "ios/Sources/Outpost"),
        .testTarget(name: "OutpostTests", dependencies: ["Outpost"], path: "ios/Tests/OutpostTests"),
    ]
)
