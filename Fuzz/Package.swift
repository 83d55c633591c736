// swift-tools-version: 6.0
// The libFuzzer harness for QuantKit's .tflite reader and interpreter. A separate package so
// that the main package stays free of unsafe flags; see Fuzz/README.md for how to run it.
import PackageDescription

let package = Package(
    name: "QuantKitFuzz",
    dependencies: [.package(name: "QuantKit", path: "..")],
    targets: [
        .executableTarget(
            name: "FuzzTFLite",
            dependencies: [.product(name: "QuantKit", package: "QuantKit")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
