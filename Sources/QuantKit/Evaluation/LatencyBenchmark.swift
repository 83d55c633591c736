#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Times repeated runs of an interpreter: warm-up, then timed runs, each run copying the input in,
/// running every operator and copying the output out (as `quantkit run` does).
public struct LatencyBenchmark: Sendable {
    /// How long a phase lasts.
    public enum Budget: Sendable, Equatable {
        /// Exactly this many runs.
        case runs(Int)
        /// Runs until about this many seconds have passed, at least `minimumRuns`, at most `maximumRuns`.
        case seconds(Double, minimumRuns: Int, maximumRuns: Int)
    }

    public var warmup: Budget
    public var timed: Budget

    /// About 0.5 s of warm-up (at least 2 runs) and 3 s of timed runs (at least 5): `quantkit bench`'s defaults.
    public init(warmup: Budget = .seconds(0.5, minimumRuns: 2, maximumRuns: 1000),
                timed: Budget = .seconds(3, minimumRuns: 5, maximumRuns: 100_000)) {
        self.warmup = warmup
        self.timed = timed
    }

    /// What a benchmark measured. Times are seconds per run of `samplesPerRun` samples.
    public struct Measurement: Sendable, Equatable {
        public var samplesPerRun: Int
        public var warmupRuns: Int
        /// Every timed run, in order.
        public var runSeconds: [Double]
        public var median: Double { Statistics.median(runSeconds) }
        public var minimum: Double { runSeconds.min() ?? .nan }
        public var maximum: Double { runSeconds.max() ?? .nan }
        public var mean: Double { runSeconds.isEmpty ? .nan : runSeconds.reduce(0, +) / Double(runSeconds.count) }
        /// Samples per second at the median run time.
        public var throughputPerSecond: Double { Double(samplesPerRun) / median }

        public init(samplesPerRun: Int, warmupRuns: Int, runSeconds: [Double]) {
            self.samplesPerRun = samplesPerRun
            self.warmupRuns = warmupRuns
            self.runSeconds = runSeconds
        }
    }

    /// Benchmarks `interpreter` on `inputs` (one buffer per graph input, `count` samples each).
    /// `phase` is told when warm-up ends and timing begins.
    public func measure(_ interpreter: Interpreter, inputs: [UnsafeRawBufferPointer], count: Int,
                        phase: ((_ warmupRuns: Int, _ warmupSeconds: Double) -> Void)? = nil) throws -> Measurement {
        let outputs = interpreter.outputTensors.map {
            UnsafeMutableRawBufferPointer.allocate(byteCount: max(count * $0.byteCount, 1), alignment: 64)
        }
        defer { for b in outputs { b.deallocate() } }
        let outputViews = zip(outputs, interpreter.outputTensors).map {
            UnsafeMutableRawBufferPointer(rebasing: $0[0..<(count * $1.byteCount)])
        }
        func once() throws -> Double {
            let t0 = Clock.monotonicSeconds()
            try interpreter.run(inputs: inputs, count: count, outputs: outputViews)
            return Clock.monotonicSeconds() - t0
        }
        func repeatRuns(_ budget: Budget) throws -> [Double] {
            var times: [Double] = []
            let start = Clock.monotonicSeconds()
            switch budget {
            case .runs(let n):
                for _ in 0..<max(n, 0) { times.append(try once()) }
            case .seconds(let seconds, let minimumRuns, let maximumRuns):
                repeat {
                    times.append(try once())
                } while times.count < minimumRuns || (Clock.monotonicSeconds() - start < seconds && times.count < maximumRuns)
            }
            return times
        }
        let warmStart = Clock.monotonicSeconds()
        let warm = try repeatRuns(warmup)
        phase?(warm.count, Clock.monotonicSeconds() - warmStart)
        let times = try repeatRuns(timed)
        return Measurement(samplesPerRun: count, warmupRuns: warm.count, runSeconds: times)
    }

    /// `measure` on `count` samples of deterministic synthetic input: float32 uniform in [0, 1),
    /// int8/uint8 uniform over the type (seed 0), zeros for other types.
    public func measureSynthetic(_ interpreter: Interpreter, count: Int,
                                 phase: ((_ warmupRuns: Int, _ warmupSeconds: Double) -> Void)? = nil) throws -> Measurement {
        let buffers = LatencyBenchmark.syntheticInputs(interpreter, count: count)
        defer { for b in buffers { b.deallocate() } }
        let views = zip(buffers, interpreter.inputTensors).map { UnsafeRawBufferPointer(rebasing: $0[0..<(count * $1.byteCount)]) }
        return try measure(interpreter, inputs: views, count: count, phase: phase)
    }

    /// One freshly allocated buffer per graph input holding `count` synthetic samples (seed 0);
    /// the caller deallocates them.
    public static func syntheticInputs(_ interpreter: Interpreter, count: Int) -> [UnsafeMutableRawBufferPointer] {
        var random = SeededRandom(seed: 0)
        return interpreter.inputTensors.map { t in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count * t.byteCount, 1), alignment: 64)
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            let n = count * t.elementCount
            switch t.elementType {
            case .float32:
                let p = buffer.bindMemory(to: Float.self)
                for k in 0..<n { p[k] = random.nextUnitFloat() }
            case .int8, .uint8:
                for k in 0..<n { buffer[k] = UInt8(truncatingIfNeeded: random.next() >> 56) }
            default:
                break  // zeros: a valid value of every other type (indices, shapes, float16)
            }
            return buffer
        }
    }
}

/// Small statistics used by the benchmarks and reports.
public enum Statistics {
    /// The median (mean of the middle two for an even count); NaN for no values.
    public static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

/// The monotonic clock.
public enum Clock {
    /// Seconds on the monotonic clock (`CLOCK_MONOTONIC`).
    public static func monotonicSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}

/// Facts about this machine and process, read from /proc (nil where unavailable).
public enum SystemInfo {
    /// The process's peak resident set size in bytes (`VmHWM` in /proc/self/status).
    public static func peakResidentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kb = Int(fields[1]) else { return nil }
            return kb * 1024
        }
        return nil
    }

    /// The CPU's model name from /proc/cpuinfo.
    public static func cpuModelName() -> String? {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in info.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                let name = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if !name.isEmpty { return name }
            }
        }
        return nil
    }

    /// Logical cores available to this process.
    public static var activeCores: Int { max(ProcessInfo.processInfo.activeProcessorCount, 1) }
}
