// swift-tools-version:5.9
// The Outpost Swift Package: the generated bindings and the hand-written
// async layer (target Outpost) over the Rust library packaged as
// OutpostFFI.xcframework. Run ./build-xcframework.sh on a Mac first: it
// builds the XCFramework and writes Sources/Outpost/Generated/Outpost.swift.
import PackageDescription

let package = Package(
    name: "Outpost",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Outpost", targets: ["Outpost"]),
    ],
    targets: [
        .binaryTarget(name: "OutpostFFI", path: "OutpostFFI.xcframework"),
        .target(name: "Outpost", dependencies: ["OutpostFFI"], path: "Sources/Outpost"),
        .testTarget(name: "OutpostTests", dependencies: ["Outpost"], path: "Tests/OutpostTests"),
    ]
)
