import Foundation
import Testing

/// Locates `../shared` (golden models) relative to the package root, or `$QUANTKIT_SHARED`.
enum Fixtures {
    static let sharedDirectory: URL = {
        if let override = ProcessInfo.processInfo.environment["QUANTKIT_SHARED"], !override.isEmpty {
            return URL(fileURLWithPath: override, isDirectory: true)
        }
        // <root>/Tests/TFLiteTests/Fixtures.swift → <root>/../shared
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.deletingLastPathComponent().appendingPathComponent("shared", isDirectory: true)
    }()

    static var goldenDirectory: URL { sharedDirectory.appendingPathComponent("golden", isDirectory: true) }

    static func goldenURL(_ model: String) -> URL {
        goldenDirectory.appendingPathComponent("\(model).tflite")
    }

    /// The bytes of a golden model; records a clear failure when the shared directory is missing.
    static func goldenBytes(_ model: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
        let url = goldenURL(model)
        guard FileManager.default.fileExists(atPath: url.path) else {
            Issue.record("golden model \(url.path) not found; set QUANTKIT_SHARED to the shared directory (the one holding golden/)",
                         sourceLocation: sourceLocation)
            throw CancellationError()
        }
        return [UInt8](try Data(contentsOf: url))
    }

    /// `QUANTKIT_LONG_TESTS=1` runs the exhaustive variants (every byte × several masks, denser samples).
    static let longTests = ProcessInfo.processInfo.environment["QUANTKIT_LONG_TESTS"].map { $0 != "" && $0 != "0" } ?? false

    static let goldenModels = ["seed_float", "seed_dynamic", "seed_int8", "seed_int8_floatio", "seed_float16", "qat_int8"]
}

/// SplitMix64, for seeded mutations.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
