#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Kernels
import NeuralNet

/// What one run of the whole pipeline measured: the machine, the training runs and every model variant.
///
/// `quantkit demo` fills one in at the end of the pipeline (train the float CNN, quantize it after
/// training, fine-tune it quantization-aware, evaluate and benchmark every model) and writes it with
/// ``write(to:)`` as `report.md`, `report.json` and three SVG charts.
///
/// The variant marked ``VariantResult/isBaseline`` (else the one named `float32`) is the baseline of
/// the derived figures in ``comparison(for:)``; without a baseline those figures are `nil` and the
/// tables show "—".
public struct PipelineReport: Codable, Sendable, Equatable {
    /// When the report was made, ISO 8601 (`2025-06-01T12:34:56Z`).
    public var created: String
    public var machine: MachineDescription
    /// The data set, as people name it: "FashionMNIST (60,000 train / 10,000 test)".
    public var dataset: String
    /// The float model's training, one record per epoch (a reused model's saved history; empty when none was kept).
    public var floatTraining: [EpochRecord]
    /// The quantization-aware training (fine-tuning or from scratch), one record per epoch.
    public var qatTraining: [EpochRecord]
    /// The models compared, in table order (the baseline first, by convention).
    public var variants: [VariantResult]

    public init(created: String = PipelineReport.timestamp(), machine: MachineDescription, dataset: String,
                floatTraining: [EpochRecord] = [], qatTraining: [EpochRecord] = [], variants: [VariantResult]) {
        self.created = created
        self.machine = machine
        self.dataset = dataset
        self.floatTraining = floatTraining
        self.qatTraining = qatTraining
        self.variants = variants
    }

    /// `date` in ISO 8601 with a time zone offset (`Z` for UTC), to the second.
    public static func timestamp(_ date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// The baseline variant: the first marked ``VariantResult/isBaseline``, else the first named
    /// `float32` (case-insensitive), else `nil`.
    public var baseline: VariantResult? {
        variants.first(where: \.isBaseline) ?? variants.first { $0.name.lowercased() == "float32" }
    }

    /// `variant` against the baseline, `nil` without one.
    public func comparison(for variant: VariantResult) -> VariantComparison? {
        baseline.map { VariantComparison(variant, baseline: $0) }
    }
}

/// The machine the figures were measured on.
public struct MachineDescription: Codable, Sendable, Equatable {
    /// The CPU's model name ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz").
    public var cpu: String
    /// Logical cores available to the process.
    public var logicalCores: Int
    /// The instruction set of the fast int8 kernels (``SIMDBackend/rawValue``: `avx512amx`, `avx512vnni`, `avx2`, `portable`).
    public var simdBackend: String

    public init(cpu: String, logicalCores: Int, simdBackend: String) {
        self.cpu = cpu
        self.logicalCores = logicalCores
        self.simdBackend = simdBackend
    }

    /// This machine: the model name in /proc/cpuinfo (else the architecture from `uname`), the active
    /// processor count and ``SIMDBackend/best``.
    public static func current() -> MachineDescription {
        MachineDescription(cpu: SystemInfo.cpuModelName() ?? architecture() ?? "unknown CPU",
                           logicalCores: ProcessInfo.processInfo.activeProcessorCount,
                           simdBackend: SIMDBackend.best.rawValue)
    }

    static func architecture() -> String? {
        #if canImport(Glibc)
        var names = utsname()
        guard uname(&names) == 0 else { return nil }
        return withUnsafeBytes(of: &names.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        #else
        return nil
        #endif
    }

    enum CodingKeys: String, CodingKey {
        case cpu
        case logicalCores = "logical_cores"
        case simdBackend = "simd_backend"
    }
}

/// Time per inference in milliseconds over the timed runs of a benchmark.
public struct LatencySummary: Codable, Sendable, Equatable {
    public var median: Double
    public var min: Double
    public var max: Double
    /// Timed runs the figures come from, when known.
    public var runs: Int?

    public init(median: Double, min: Double, max: Double, runs: Int? = nil) {
        precondition(min <= median && median <= max, "LatencySummary: min <= median <= max")
        self.median = median
        self.min = min
        self.max = max
        self.runs = runs
    }

    /// The median, min and max of `samples` (milliseconds; the median of an even count is the mean of
    /// the middle two).
    public init(milliseconds samples: [Double]) {
        precondition(!samples.isEmpty, "LatencySummary needs at least one sample")
        let sorted = samples.sorted()
        let n = sorted.count
        let median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        self.init(median: median, min: sorted[0], max: sorted[n - 1], runs: n)
    }
}

/// One model variant: its file, test accuracy and speed.
public struct VariantResult: Codable, Sendable, Equatable {
    /// "float32", "dynamic range", "int8 (PTQ)", "float16", "int8 (QAT)".
    public var name: String
    /// The file's name inside the output directory.
    public var file: String
    public var fileBytes: Int
    /// Accuracy on the test images, in 0...1.
    public var accuracy: Double
    /// Mean cross-entropy on the test images, when measured.
    public var loss: Double?
    /// Milliseconds per inference at batch ``batch`` on ``threads`` threads.
    public var latencyMs: LatencySummary
    /// Inferences per second, when measured.
    public var throughputPerSecond: Double?
    /// The interpreter's kernels (`fast` or `reference`).
    public var kernels: String
    public var threads: Int
    /// Samples per inference in the latency figures.
    public var batch: Int
    /// Whether the derived figures of the other variants are relative to this one.
    public var isBaseline: Bool

    /// A variant; `isBaseline` defaults to whether `name` is `float32`.
    public init(name: String, file: String, fileBytes: Int, accuracy: Double, loss: Double? = nil,
                latencyMs: LatencySummary, throughputPerSecond: Double? = nil, kernels: String = "fast",
                threads: Int = 1, batch: Int = 1, isBaseline: Bool? = nil) {
        self.name = name
        self.file = file
        self.fileBytes = fileBytes
        self.accuracy = accuracy
        self.loss = loss
        self.latencyMs = latencyMs
        self.throughputPerSecond = throughputPerSecond
        self.kernels = kernels
        self.threads = threads
        self.batch = batch
        self.isBaseline = isBaseline ?? (name.lowercased() == "float32")
    }

    enum CodingKeys: String, CodingKey {
        case name, file, accuracy, loss, kernels, threads, batch
        case fileBytes = "file_bytes"
        case latencyMs = "latency_ms"
        case throughputPerSecond = "throughput_per_second"
        case isBaseline = "baseline"
    }
}

/// A variant against the baseline (the float model).
public struct VariantComparison: Codable, Sendable, Equatable {
    /// File size as a fraction of the baseline's (0.25 is a quarter).
    public var sizeFraction: Double?
    /// Test accuracy minus the baseline's, in percentage points (+0.03, -0.41).
    public var accuracyChangePoints: Double
    /// The baseline's median latency over this variant's (2.0 is twice as fast).
    public var speedup: Double?

    /// `variant` against `baseline`; a ratio over a zero is `nil`.
    public init(_ variant: VariantResult, baseline: VariantResult) {
        sizeFraction = baseline.fileBytes > 0 ? Double(variant.fileBytes) / Double(baseline.fileBytes) : nil
        accuracyChangePoints = (variant.accuracy - baseline.accuracy) * 100
        speedup = variant.latencyMs.median > 0 ? baseline.latencyMs.median / variant.latencyMs.median : nil
    }

    enum CodingKeys: String, CodingKey {
        case sizeFraction = "size_fraction"
        case accuracyChangePoints = "accuracy_change_points"
        case speedup
    }
}

// MARK: - Training summaries

/// The figures of one training run that the report's summary shows.
public struct TrainingSummary: Sendable, Equatable {
    public var epochs: Int
    /// Training accuracy of the last epoch.
    public var finalAccuracy: Double?
    /// Validation accuracy of the last epoch that has one.
    public var finalValAccuracy: Double?
    /// Median wall-clock seconds of an epoch's training part.
    public var medianEpochSeconds: Double?

    public init(_ records: [EpochRecord]) {
        epochs = records.count
        finalAccuracy = records.last?.accuracy
        finalValAccuracy = records.last(where: { $0.valAccuracy != nil })?.valAccuracy
        let seconds = records.map(\.seconds).sorted()
        let n = seconds.count
        medianEpochSeconds = n == 0 ? nil : n % 2 == 1 ? seconds[n / 2] : (seconds[n / 2 - 1] + seconds[n / 2]) / 2
    }
}

// MARK: - JSON

extension PipelineReport {
    enum CodingKeys: String, CodingKey {
        case created, machine, dataset, variants
        case floatTraining = "float_training"
        case qatTraining = "qat_training"
        case baselineName = "baseline_variant"
    }

    /// One variant in the JSON: its own fields and `vs_float`, the derived figures (absent without a baseline).
    private struct EncodedVariant: Encodable {
        var variant: VariantResult
        var comparison: VariantComparison?

        enum Keys: String, CodingKey { case vsFloat = "vs_float" }

        func encode(to encoder: Encoder) throws {
            try variant.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encodeIfPresent(comparison, forKey: .vsFloat)
        }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        created = try container.decode(String.self, forKey: .created)
        machine = try container.decode(MachineDescription.self, forKey: .machine)
        dataset = try container.decode(String.self, forKey: .dataset)
        floatTraining = try container.decodeIfPresent([EpochRecord].self, forKey: .floatTraining) ?? []
        qatTraining = try container.decodeIfPresent([EpochRecord].self, forKey: .qatTraining) ?? []
        variants = try container.decode([VariantResult].self, forKey: .variants)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(created, forKey: .created)
        try container.encode(machine, forKey: .machine)
        try container.encode(dataset, forKey: .dataset)
        try container.encode(floatTraining, forKey: .floatTraining)
        try container.encode(qatTraining, forKey: .qatTraining)
        try container.encode(variants.map { EncodedVariant(variant: $0, comparison: comparison(for: $0)) }, forKey: .variants)
        try container.encodeIfPresent(baseline?.name, forKey: .baselineName)
    }

    /// The report as pretty-printed JSON with sorted snake_case keys, derived figures included
    /// (`variants[i].vs_float`: `size_fraction`, `accuracy_change_points`, `speedup`).
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// A report read back from ``json()``'s output (derived figures are recomputed, not read).
    public init(json: String) throws {
        self = try JSONDecoder().decode(PipelineReport.self, from: Data(json.utf8))
    }
}
