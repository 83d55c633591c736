// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "QuantKit",
    products: [
        .library(name: "QuantKit", targets: ["QuantKit"]),
        .executable(name: "quantkit", targets: ["quantkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
    ],
    targets: [
        // System libraries: OpenBLAS (cblas) for float GEMM, zlib for the gzip'd IDX files.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),

        .target(name: "TensorCore", dependencies: [
            "COpenBLAS", .product(name: "Numerics", package: "swift-numerics"),
        ]),
        // SIMD micro-kernels (AVX-512 VNNI / AVX2) with per-function target attributes and runtime dispatch.
        .target(name: "CKernels"),
        .target(name: "Kernels", dependencies: ["TensorCore", "CKernels"], exclude: ["README.md"]),
        .target(name: "Datasets", dependencies: ["TensorCore", "CZlib"]),
        .target(name: "NeuralNet", dependencies: ["TensorCore", "Kernels", "Datasets"]),
        .target(name: "Runtime", dependencies: ["TensorCore", "Kernels"]),
        .target(name: "Quantization", dependencies: ["TensorCore", "Kernels", "NeuralNet", "Runtime"]),
        .target(name: "TFLite", dependencies: ["TensorCore", "Runtime"]),
        .target(name: "QuantKit", dependencies: [
            "TensorCore", "Kernels", "Datasets", "NeuralNet", "Runtime", "Quantization", "TFLite",
        ]),
        .executableTarget(name: "quantkit", dependencies: [
            "QuantKit", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The seed pipeline as a short program using the library (README's API snippets come from it).
        .executableTarget(name: "SeedPipeline", dependencies: ["QuantKit"], path: "Examples/SeedPipeline"),

        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "Datasets"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "TFLite"]),
        .testTarget(name: "TFLiteTests", dependencies: ["TFLite", "Runtime"]),
        .testTarget(name: "QuantizationTests", dependencies: ["Quantization", "TFLite", "Datasets"]),
        .testTarget(name: "QuantKitTests", dependencies: ["QuantKit"]),
        .testTarget(name: "CLITests", dependencies: ["QuantKit", "quantkit", "SeedPipeline"]),
    ],
    swiftLanguageModes: [.v6]
)
