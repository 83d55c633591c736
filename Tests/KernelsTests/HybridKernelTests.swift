import Testing
@testable import Kernels

@Suite("Dynamic-range (hybrid) kernels")
struct HybridKernelTests {
    @Test("Symmetric input quantization: lanes of 8 versus the tail on an exact tie")
    func symmetricLanesAndTail() {
        // range 127 -> factor 1, inverse 1; 2.5 is an exact tie in lane 1 and in tail position 9.
        let row: [Float] = [127, 2.5, -2.5, 0.49999997, 0, 0, 0, 0, 0, 2.5, -2.5]
        func run(_ rounding: HybridInputQuantization.LaneRounding) -> ([Int8], Float) {
            var q = [Int8](repeating: 0, count: row.count)
            let f = row.withUnsafeBufferPointer { r in q.withUnsafeMutableBufferPointer {
                HybridInputQuantization.symmetric(r, into: $0, laneRounding: rounding)
            } }
            return (q, f)
        }
        let (neon, factor) = run(.addHalfAndTruncate)
        #expect(factor == 1)
        // 0.49999997 + 0.5 rounds to 1.0 in float, so the add-half lane gives 1.
        #expect(neon == [127, 3, -3, 1, 0, 0, 0, 0, 0, 3, -3])
        let (even, _) = run(.tiesToEven)
        #expect(even == [127, 2, -2, 0, 0, 0, 0, 0, 0, 3, -3])
        let (away, _) = run(.halfAwayFromZero)
        #expect(away == [127, 3, -3, 0, 0, 0, 0, 0, 0, 3, -3])
    }

    @Test("Asymmetric input quantization: range includes 0, zero point from the smaller-error side")
    func asymmetric() {
        let row: [Float] = [0.5, 1.0, 2.0, 3.0]       // rmin = 0 -> zero point -128
        var q = [Int8](repeating: 0, count: 4)
        let (factor, zp) = row.withUnsafeBufferPointer { r in q.withUnsafeMutableBufferPointer {
            HybridInputQuantization.asymmetric(r, into: $0)
        } }
        #expect(zp == -128)
        #expect(factor == Float(3.0 / 255.0))
        #expect(q == [-85, -43, 42, 127])   // -128 + 42.5 -> -128 + 43 (half away in the tail)
        let mixed: [Float] = [-1, 3]
        var q2 = [Int8](repeating: 0, count: 2)
        let (_, zp2) = mixed.withUnsafeBufferPointer { r in q2.withUnsafeMutableBufferPointer { HybridInputQuantization.asymmetric(r, into: $0) } }
        #expect(zp2 == -64)                            // -128 + 63.75 -> -64
        var zeros = [Int8](repeating: 5, count: 3)
        let (f0, z0) = [Float](repeating: 0, count: 3).withUnsafeBufferPointer { r in zeros.withUnsafeMutableBufferPointer { HybridInputQuantization.asymmetric(r, into: $0) } }
        #expect(f0 == 1)
        #expect(z0 == 0)
        #expect(zeros == [0, 0, 0])
    }

    @Test("Hybrid FC stays close to the float FC on dequantized weights",
          arguments: [(true, true), (true, false), (false, true), (false, false)])
    func hybridFC(perChannel: Bool, asymmetric: Bool) {
        var rng = SplitMix(seed: 71)
        let g = FullyConnectedGeometry(batches: 3, accumDepth: 37, outputDepth: 5)
        let input = (0..<111).map { _ in rng.float(in: -0.5...2) }
        let weights = (0..<185).map { _ in rng.int8(in: -127...127) }
        let scales = perChannel ? (0..<5).map { _ in rng.float(in: 0.001...0.01) } : [Float(0.005)]
        let bias = (0..<5).map { _ in rng.float(in: -1...1) }
        let params = weights.withUnsafeBufferPointer {
            HybridFullyConnectedParameters(weights: $0, geometry: g, weightScales: scales, asymmetricInputs: asymmetric, activation: .relu)
        }
        var out = [Float](repeating: 0, count: 15)
        var scratch = [Int8](repeating: 0, count: 37)
        input.withUnsafeBufferPointer { i in weights.withUnsafeBufferPointer { w in bias.withUnsafeBufferPointer { b in
            out.withUnsafeMutableBufferPointer { o in scratch.withUnsafeMutableBufferPointer { s in
                ReferenceKernels.hybridFullyConnected(input: i, weights: w, bias: b, output: o, geometry: g, parameters: params, scratch: s)
            } }
        } } }
        for b in 0..<3 { for n in 0..<5 {
            let row = input[(b * 37)..<(b * 37 + 37)]
            let step = asymmetric ? Double(Swift.max(row.max()!, 0) - Swift.min(row.min()!, 0)) / 255
                                  : Double(row.map { abs($0) }.max()!) / 127
            var sum = Double(bias[n]), bound = 1e-4
            for k in 0..<37 {
                let w = Double(weights[n * 37 + k]) * Double(scales[perChannel ? n : 0])
                sum += Double(input[b * 37 + k]) * w
                bound += abs(w) * step * 0.51        // at most half a step of input error per element
            }
            #expect(abs(Double(out[b * 5 + n]) - Swift.max(sum, 0)) <= bound)
            #expect(out[b * 5 + n] >= 0)
        } }
    }

    @Test("Hybrid FC keeps the bias for an all-zero input")
    func hybridFCZeroInput() {
        let g = FullyConnectedGeometry(batches: 1, accumDepth: 4, outputDepth: 2)
        let weights: [Int8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let params = weights.withUnsafeBufferPointer {
            HybridFullyConnectedParameters(weights: $0, geometry: g, weightScales: [0.1], asymmetricInputs: true, activation: .relu6)
        }
        #expect(params.rowSums == [10, 26])
        var out = [Float](repeating: 9, count: 2)
        var scratch = [Int8](repeating: 0, count: 4)
        [Float](repeating: 0, count: 4).withUnsafeBufferPointer { i in weights.withUnsafeBufferPointer { w in
            [Float(7), -2].withUnsafeBufferPointer { b in out.withUnsafeMutableBufferPointer { o in scratch.withUnsafeMutableBufferPointer { s in
                ReferenceKernels.hybridFullyConnected(input: i, weights: w, bias: b, output: o, geometry: g, parameters: params, scratch: s)
            } } }
        } }
        #expect(out == [6, 0])
    }

    @Test("Hybrid conv (per-channel asymmetric and per-tensor symmetric) stays close to the float conv",
          arguments: [true, false])
    func hybridConv(perChannel: Bool) {
        var rng = SplitMix(seed: 81)
        let g = Conv2DGeometry(batches: 2, inputHeight: 5, inputWidth: 6, inputChannels: 3, filterHeight: 3, filterWidth: 2,
                               outputChannels: 4, strideHeight: 1, strideWidth: 2, padding: .same)
        let input = (0..<g.inputCount).map { _ in rng.float(in: -1...1) }
        let filter = (0..<g.convFilterCount).map { _ in rng.int8(in: -127...127) }
        let scales = perChannel ? (0..<4).map { _ in rng.float(in: 0.001...0.01) } : [Float(0.004)]
        let bias = (0..<4).map { _ in rng.float(in: -0.5...0.5) }
        let params = HybridConvParameters(weightScales: scales, activation: .none)
        var out = [Float](repeating: 0, count: g.outputCount)
        var scratch = [Int8](repeating: 0, count: 90)
        input.withUnsafeBufferPointer { i in filter.withUnsafeBufferPointer { f in bias.withUnsafeBufferPointer { b in
            out.withUnsafeMutableBufferPointer { o in scratch.withUnsafeMutableBufferPointer { s in
                ReferenceKernels.hybridConv2D(input: i, filter: f, bias: b, output: o, geometry: g, parameters: params, scratch: s)
            } }
        } } }
        let fFilter = filter.indices.map { Float(filter[$0]) * scales[perChannel ? $0 / 18 : 0] }
        var expected = [Float](repeating: 0, count: g.outputCount)
        input.withUnsafeBufferPointer { i in fFilter.withUnsafeBufferPointer { f in bias.withUnsafeBufferPointer { b in
            expected.withUnsafeMutableBufferPointer { ReferenceKernels.conv2D(input: i, filter: f, bias: b, output: $0, geometry: g, activation: FusedActivation.none.floatRange) }
        } } }
        // Input quantization error: at most half a step per tap, times the tap's weight.
        let step = perChannel ? 2.0 / 255 : 1.0 / 127
        let maxTapWeight = 127 * Double(scales.max()!)
        for i in out.indices { #expect(abs(Double(out[i] - expected[i])) <= 18 * maxTapWeight * step * 0.51 + 1e-4) }
        // And the tolerance is not vacuous: the outputs are not all tiny.
        #expect(out.map { abs($0) }.max()! > 0.1)
    }
}
