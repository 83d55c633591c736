import Testing
@testable import Kernels

/// Floor division for Int64 (the model arithmetic below avoids C's truncation on purpose).
private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

/// Straightforward model of SRDHM: round half up (toward +inf) of a*b / 2^31, saturating.
private func modelSRDHM(_ a: Int32, _ b: Int32) -> Int32 {
    if a == .min && b == .min { return .max }
    return Int32(floorDiv(Int64(a) * Int64(b) + (1 << 30), 1 << 31))
}

/// Straightforward model of RoundingDivideByPOT: round half away from zero of x / 2^e.
private func modelRDBP(_ x: Int32, _ e: Int) -> Int32 {
    if e == 0 { return x }
    let magnitude = (abs(Int64(x)) + (Int64(1) << (e - 1))) >> e
    return Int32(x < 0 ? -magnitude : magnitude)
}

@Suite("Fixed point primitives")
struct FixedPointTests {
    @Test("RoundingDivideByPOT over every int16-range x and every exponent", arguments: 0...31)
    func roundingDivideByPOTExhaustive(exponent: Int) {
        var mismatches = 0
        for x in Int32(Int16.min)...Int32(Int16.max) where FixedPoint.roundingDivideByPOT(x, exponent: exponent) != modelRDBP(x, exponent) {
            mismatches += 1
        }
        #expect(mismatches == 0)
        // And the extremes of the int32 range.
        for x in [Int32.min, Int32.min + 1, Int32.max, Int32.max - 1, 1 << 30, -(1 << 30)] {
            #expect(FixedPoint.roundingDivideByPOT(x, exponent: exponent) == modelRDBP(x, exponent))
        }
    }

    @Test("RoundingDivideByPOT ties go away from zero")
    func roundingDivideTies() {
        #expect(FixedPoint.roundingDivideByPOT(3, exponent: 1) == 2)
        #expect(FixedPoint.roundingDivideByPOT(-3, exponent: 1) == -2)
        #expect(FixedPoint.roundingDivideByPOT(5, exponent: 2) == 1)   // 1.25
        #expect(FixedPoint.roundingDivideByPOT(-6, exponent: 2) == -2) // -1.5
    }

    @Test("SRDHM matches the 64-bit model on every int8 x int8 pair scaled up, and on random pairs")
    func srdhm() {
        var rng = SplitMix(seed: 1)
        var mismatches = 0
        for a in -128...127 {
            for b in -128...127 {
                // Spread the int8 values over the int32 range so products reach the rounding bits.
                let x = Int32(a) << 24 | Int32(truncatingIfNeeded: rng.next() & 0xFFFFFF)
                let y = Int32(b) << 24 | Int32(truncatingIfNeeded: rng.next() & 0xFFFFFF)
                if FixedPoint.saturatingRoundingDoublingHighMul(x, y) != modelSRDHM(x, y) { mismatches += 1 }
                let small = (Int32(a), Int32(b) << 23)
                if FixedPoint.saturatingRoundingDoublingHighMul(small.0, small.1) != modelSRDHM(small.0, small.1) { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
        #expect(FixedPoint.saturatingRoundingDoublingHighMul(.min, .min) == .max)
        // Exact half: 1 * 2^30 = 2^30 -> 0.5 -> rounds up to 1; -0.5 -> 0.
        #expect(FixedPoint.saturatingRoundingDoublingHighMul(1, 1 << 30) == 1)
        #expect(FixedPoint.saturatingRoundingDoublingHighMul(-1, 1 << 30) == 0)
    }

    @Test("QuantizeMultiplier: the spec's examples", arguments: [
        (0.25, Int32(1_073_741_824), -1), (0.5, 1_073_741_824, 0), (0.0003125, 1_374_389_535, -11),
        (1.5, 1_610_612_736, 1), (1e-10, 0, 0), (0.0, 0, 0),
    ])
    func quantizeMultiplierExamples(real: Double, multiplier: Int32, shift: Int) {
        let q = QuantizedMultiplier(real)
        #expect(q.multiplier == multiplier)
        #expect(q.shift == shift)
    }

    @Test("QuantizeMultiplier renormalizes q == 2^31")
    func quantizeMultiplierRenormalization() {
        // Just below 1.0: frexp gives q = 1 - 2^-53, which rounds to 2^31.
        let q = QuantizedMultiplier(1.0 - 0x1p-53)
        #expect(q.multiplier == 1 << 30)
        #expect(q.shift == 1)
        // Random multipliers reconstruct within 2^-31 relative error.
        var rng = SplitMix(seed: 7)
        for _ in 0..<1000 {
            let real = Double(rng.next() % 1_000_000 + 1) * 1e-7
            let r = QuantizedMultiplier(real)
            #expect(r.multiplier >= 1 << 30)
            #expect(abs(r.realValue - real) <= real * 0x1p-31)
        }
    }

    @Test("MultiplyByQuantizedMultiplier with a left shift (multiplier > 1)")
    func mbqmGreaterThanOne() {
        let q = QuantizedMultiplier(1.5)
        #expect(q.apply(to: 10) == 15)
        #expect(q.apply(to: -3) == -4)     // -4.5: SRDHM(-6, 0.75) = -4.5 -> half up -> -4
        #expect(FixedPoint.multiplyByQuantizedMultiplierGreaterThanOne(10, multiplier: q.multiplier, leftShift: 1) == 15)
    }
}

@Suite("Requantization modes")
struct RequantizationTests {
    /// The spec's worked example, §2.3: effective scale 0.25, zero points 0.
    static let workedExampleTable: [(acc: Int32, expected: [RequantMode: Int32])] = [
        (-6, [.gemmlowpDouble: -2, .refFloatFC: -2, .ruyX86: -1, .xnnpackFP32: -2, .tfliteSingle: -1]),
        (-2, [.gemmlowpDouble: -1, .refFloatFC: -1, .ruyX86: 0, .xnnpackFP32: 0, .tfliteSingle: 0]),
        (2, [.gemmlowpDouble: 1, .refFloatFC: 1, .ruyX86: 1, .xnnpackFP32: 0, .tfliteSingle: 1]),
        (10, [.gemmlowpDouble: 3, .refFloatFC: 3, .ruyX86: 3, .xnnpackFP32: 2, .tfliteSingle: 3]),
    ]

    @Test("Worked example table", arguments: workedExampleTable)
    func workedExample(acc: Int32, expected: [RequantMode: Int32]) {
        for (mode, value) in expected {
            let r = ChannelRequantizer(mode: mode, doubleScale: 0.25, floatScale: 0.25)
            #expect(r.quantizedMultiplier == QuantizedMultiplier(multiplier: 1 << 30, shift: -1))
            #expect(r.requantize(acc, outputZeroPoint: 0, activationMin: -128, activationMax: 127) == value,
                    "mode \(mode), acc \(acc)")
        }
    }

    @Test("Modes agree away from ties on random accumulators and scales")
    func modesAgreeAwayFromTies() {
        var rng = SplitMix(seed: 3)
        for _ in 0..<20_000 {
            let acc = Int32(truncatingIfNeeded: Int64(rng.next() % 2_000_001) - 1_000_000)
            let scale = Double(rng.next() % 100_000 + 1) * 1e-8
            let exact = Double(acc) * scale
            if abs(exact - exact.rounded(.down) - 0.5) < 1e-3 { continue }
            let expected = Int32(Swift.min(Swift.max(exact.rounded(), -128), 127))
            for mode in RequantMode.allCases {
                let r = ChannelRequantizer(mode: mode, doubleScale: scale, floatScale: Float(scale))
                #expect(r.requantize(acc, outputZeroPoint: 0, activationMin: -128, activationMax: 127) == expected,
                        "mode \(mode) acc \(acc) scale \(scale)")
            }
        }
    }
}

@Suite("Quantization helpers")
struct QuantizationHelperTests {
    @Test("QUANTIZE rounds ties half away from zero after a float division")
    func quantizeTies() {
        let q = AffineQuantization(scale: 0.5, zeroPoint: 0)
        #expect(q.quantize(0.25) == 1)      // 0.5 -> 1
        #expect(q.quantize(-0.25) == -1)    // -0.5 -> -1
        #expect(q.quantize(0.75) == 2)      // 1.5 -> 2
        #expect(q.quantize(1.25) == 3)      // 2.5 -> 3 (ties-even would give 2)
        #expect(q.quantize(1000) == 127)
        #expect(q.quantize(-1000) == -128)
        let p = AffineQuantization(scale: 1.0 / 255.0, zeroPoint: -128)
        #expect(p.quantize(0) == -128)
        #expect(p.quantize(1) == 127)
        #expect(p.dequantize(-128) == 0)
        #expect(p.dequantize(127) == Float(Double(Float(1.0 / 255.0)) * 255))
    }

    @Test("Fused activation ranges, including the spec's RELU6 example")
    func activationRanges() {
        let output = AffineQuantization(scale: 0.0235294, zeroPoint: -128)
        #expect(FusedActivation.relu6.int8Range(output: output) == ActivationRange(min: -128, max: 127))
        let centered = AffineQuantization(scale: 0.05, zeroPoint: 3)
        #expect(FusedActivation.none.int8Range(output: centered) == ActivationRange(min: -128, max: 127))
        #expect(FusedActivation.relu.int8Range(output: centered) == ActivationRange(min: 3, max: 127))
        #expect(FusedActivation.relu6.int8Range(output: centered) == ActivationRange(min: 3, max: 123))
        #expect(FusedActivation.reluN1To1.int8Range(output: centered) == ActivationRange(min: -17, max: 23))
        #expect(FusedActivation.relu6.floatRange.clamp(7) == 6)
        #expect(FusedActivation.relu.floatRange.clamp(-1) == 0)
    }

    @Test("PTQ legacy float parameters: (-1, 3) -> 4/255, -64; ranges are widened to contain 0")
    func legacyPTQ() {
        let q = AffineQuantization.legacyFloatPTQ(min: -1, max: 3)
        #expect(q.scale == Float(4) / 255)
        #expect(q.zeroPoint == -64)
        let positive = AffineQuantization.legacyFloatPTQ(min: 2, max: 4)   // becomes [0, 4]
        #expect(positive.scale == Float(4) / 255)
        #expect(positive.zeroPoint == -128)
        let tiny = AffineQuantization.legacyFloatPTQ(min: 0, max: 0)
        #expect(tiny.scale == Float(Float(5e-7) - Float(-5e-7)) / 255)
    }

    @Test("fakeQuantAttrsToType in double, and the QAT int8 shift")
    func fakeQuant() {
        let (scale, zp) = AffineQuantization.fakeQuantParameters(min: -1, max: 3, quantizedMin: 0, quantizedMax: 255)
        #expect(scale == 4.0 / 255.0)
        #expect(zp == 64)                   // 63.75 rounds to 64
        #expect(AffineQuantization.quantizationAwareInt8(min: -1, max: 3) == AffineQuantization(scale: Float(4.0 / 255.0), zeroPoint: -64))
        let degenerate = AffineQuantization.fakeQuantParameters(min: 0, max: 0, quantizedMin: 0, quantizedMax: 255)
        #expect(degenerate.scale == 1.0)
        #expect(degenerate.zeroPoint == 0)
    }

    @Test("Symmetric per-channel weights, legacy float and double")
    func weightQuantization() {
        let w: [Float] = [0.5, -1.0, 0.25, 0,   // channel 0: absmax 1
                          0.3, 0.1, -0.2, 0.0,  // channel 1: absmax 0.3
                          0, 0, 0, 0]           // channel 2: all zero
        for arithmetic in [WeightQuantization.Arithmetic.legacyFloat, .double] {
            let (values, scales) = w.withUnsafeBufferPointer {
                WeightQuantization.symmetric($0, shape: [3, 4], axis: 0, arithmetic: arithmetic)
            }
            #expect(scales.count == 3)
            #expect(values[0...3] == [64, -127, 32, 0])   // 63.5 -> 64 (half away)
            #expect(values[4...7] == [127, 42, -85, 0])
            #expect(values[8...11] == [0, 0, 0, 0])
            #expect(abs(scales[2] - 1e-6 / 254) < 1e-12)
        }
        // Per-tensor: one absmax over everything.
        let (_, scales) = w.withUnsafeBufferPointer {
            WeightQuantization.symmetric($0, shape: [3, 4], axis: 0, perChannel: false, arithmetic: .legacyFloat)
        }
        #expect(scales == [Float(2) / 254])
        // Bias: scale in * w, round half away.
        let biasScale = WeightQuantization.biasScale(inputScale: 0.5, weightScale: 0.25)
        #expect(biasScale == 0.125)
        #expect(WeightQuantization.quantizeBias(0.1875, biasScale: biasScale) == 2)   // 1.5 -> 2
        #expect(WeightQuantization.quantizeBias(-0.1875, biasScale: biasScale) == -2)
        #expect(WeightQuantization.quantizeBias(1e12, biasScale: biasScale) == Int32.max)
    }

    @Test("Float16 weights: round to nearest even, clamp to ±65504, exact widening")
    func float16() {
        #expect(Float16Conversion.weight(1e6) == 65504)
        #expect(Float16Conversion.weight(-1e6) == -65504)
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even gives 1.
        #expect(Float16Conversion.weight(1 + 0x1p-11) == 1)
        #expect(Float16Conversion.weight(1 + 3 * 0x1p-11) == Float16(1 + 0x1p-9))
        #expect(Float16Conversion.widen(Float16Conversion.weight(0.1)) == Float(Float16(0.1)))
        #expect(Float16Conversion.weight(0x1p-20) != 0)   // subnormal kept
        #expect(Float16Conversion.weight(.nan).isNaN)
        #expect(Float16Conversion.bits(1) == 0x3C00)
    }
}

/// A tiny seeded generator (SplitMix64) so the tests do not depend on another target.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func float(in range: ClosedRange<Float>) -> Float {
        range.lowerBound + (range.upperBound - range.lowerBound) * Float(next() >> 40) / Float(1 << 24)
    }
    mutating func int8(in range: ClosedRange<Int>) -> Int8 {
        Int8(range.lowerBound + Int(next() % UInt64(range.count)))
    }
}
