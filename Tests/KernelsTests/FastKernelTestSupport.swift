import Foundation
@testable import Kernels

/// Shared helpers of the fast-kernel differential tests.
enum FastTest {
    /// Every backend this CPU can run (`.portable` always).
    static var backends: [SIMDBackend] { SIMDBackend.supported }

    static func int8s(_ count: Int, _ rng: inout SplitMix, in range: ClosedRange<Int> = -128...127) -> [Int8] {
        (0..<count).map { _ in rng.int8(in: range) }
    }

    static func int(_ range: ClosedRange<Int>, _ rng: inout SplitMix) -> Int {
        range.lowerBound + Int(rng.next() % UInt64(range.count))
    }

    static func pick<T>(_ values: [T], _ rng: inout SplitMix) -> T { values[int(0...(values.count - 1), &rng)] }

    /// A random scale 2^u with u uniform in `exponents`.
    static func scale(_ exponents: ClosedRange<Float>, _ rng: inout SplitMix) -> Float {
        Float(exp2(Double(rng.float(in: exponents))))
    }

    /// Conv/FC parameters whose effective scales `in * w[c] / out` spread over 2^-16 ... 2^3, so
    /// requantization shifts are negative and positive.
    static func parameters(channels: Int, perChannel: Bool, fullyConnected: Bool, _ rng: inout SplitMix)
        -> QuantizedConvParameters {
        let inputScale = scale(-9 ... -3, &rng)
        let weightScales = (0..<(perChannel ? channels : 1)).map { _ in scale(-10 ... -5, &rng) }
        let effective = scale(-16...3, &rng)
        let outputScale = inputScale * weightScales[0] / effective
        let input = AffineQuantization(scale: inputScale, zeroPoint: Int32(int(-128...127, &rng)))
        let output = AffineQuantization(scale: outputScale, zeroPoint: Int32(int(-128...127, &rng)))
        let activation = pick(FusedActivation.allCases, &rng)
        return fullyConnected
            ? .fullyConnected(input: input, weightScales: weightScales, output: output, activation: activation)
            : .convolution(input: input, weightScales: weightScales, output: output, activation: activation)
    }

    /// Int32 biases: small, or occasionally huge (so accumulators approach the int32 limits).
    static func biases(_ count: Int, _ rng: inout SplitMix, huge: Bool = false) -> [Int32] {
        (0..<count).map { _ in
            huge ? Int32(truncatingIfNeeded: Int64(bitPattern: rng.next()) >> 33)
                 : Int32(int(-40_000...40_000, &rng))
        }
    }

    /// Scratch memory for a fast kernel.
    static func withScratch<R>(_ bytes: Int, _ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes, 1), alignment: 16)
        defer { scratch.deallocate() }
        // Garbage in the scratch must not matter.
        scratch.initializeMemory(as: UInt8.self, repeating: 0xA5)
        return body(scratch)
    }

    /// nil when `fast` equals `reference` element for element; else the first difference (and how
    /// many elements differ), short enough for a failure message.
    static func firstMismatch<T: Equatable>(_ fast: [T], _ reference: [T]) -> String? {
        guard fast.count == reference.count else { return "sizes \(fast.count) vs \(reference.count)" }
        guard let i = fast.indices.first(where: { fast[$0] != reference[$0] }) else { return nil }
        let count = fast.indices.count(where: { fast[$0] != reference[$0] })
        return "\(count) of \(fast.count) differ; first at \(i): fast \(fast[i]), reference \(reference[i])"
    }
}
