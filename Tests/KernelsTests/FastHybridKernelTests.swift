import Testing
@testable import Kernels

/// FastHybridFullyConnected / FastHybridConv2D against the reference hybrid kernels: bit-identical floats.
@Suite("Fast hybrid (dynamic-range) FULLY_CONNECTED and CONV_2D")
struct FastHybridKernelTests {
    static func floats(_ count: Int, _ rng: inout SplitMix) -> [Float] {
        let range: ClosedRange<Float> = FastTest.pick([-1...1, -0.2...3, -5 ... -0.5, 0...2], &rng)
        return (0..<count).map { _ in FastTest.int(0...9, &rng) == 0 ? 0 : rng.float(in: range) }
    }

    @Test("FULLY_CONNECTED: shapes around the tiles, per-channel / per-tensor, symmetric / asymmetric inputs, lane roundings",
          arguments: 0..<4)
    func fullyConnected(seed: UInt64) {
        var rng = SplitMix(seed: 5000 + seed)
        for i in 0..<32 {
            let g = FullyConnectedGeometry(batches: FastTest.int(1...5, &rng), accumDepth: FastTest.pick([1, 3, 4, 5, 8, 13, 16, 37, 300, 1100], &rng),
                                           outputDepth: FastTest.pick([1, 15, 16, 17, 63, 64, 65, 130], &rng))
            let weights = FastTest.int8s(g.outputDepth * g.accumDepth, &rng, in: -127...127)
            let perChannel = FastTest.int(0...1, &rng) == 0
            let scales = (0..<(perChannel ? g.outputDepth : 1)).map { _ in FastTest.scale(-10 ... -4, &rng) }
            let bias: [Float]? = FastTest.int(0...3, &rng) == 0 ? nil : (0..<g.outputDepth).map { _ in rng.float(in: -1...1) }
            let p = weights.withUnsafeBufferPointer {
                HybridFullyConnectedParameters(weights: $0, geometry: g, weightScales: scales, asymmetricInputs: FastTest.int(0...1, &rng) == 0,
                                               activation: FastTest.pick(FusedActivation.allCases, &rng),
                                               laneRounding: FastTest.pick(HybridInputQuantization.LaneRounding.allCases, &rng))
            }
            // Every 8th case has an all-zero input (the reference's early exit).
            let input = i % 8 == 7 ? [Float](repeating: 0, count: g.batches * g.accumDepth) : Self.floats(g.batches * g.accumDepth, &rng)
            var expected = [Float](repeating: 0, count: g.batches * g.outputDepth)
            var refScratch = [Int8](repeating: 0, count: g.accumDepth)
            input.withUnsafeBufferPointer { x in weights.withUnsafeBufferPointer { w in expected.withUnsafeMutableBufferPointer { y in
                refScratch.withUnsafeMutableBufferPointer { s in
                    if let bias {
                        bias.withUnsafeBufferPointer {
                            ReferenceKernels.hybridFullyConnected(input: x, weights: w, bias: $0, output: y, geometry: g, parameters: p, scratch: s)
                        }
                    } else {
                        ReferenceKernels.hybridFullyConnected(input: x, weights: w, bias: nil, output: y, geometry: g, parameters: p, scratch: s)
                    }
                } } } }
            for backend in FastTest.backends {
                let kernel = weights.withUnsafeBufferPointer { w in
                    bias.map { b in b.withUnsafeBufferPointer { FastHybridFullyConnected(weights: w, bias: $0, geometry: g, parameters: p, backend: backend) } }
                        ?? FastHybridFullyConnected(weights: w, bias: nil, geometry: g, parameters: p, backend: backend)
                }
                for threads in [1, 2] {
                    var got = [Float](repeating: .nan, count: g.batches * g.outputDepth)
                    FastTest.withScratch(kernel.scratchByteCount(batches: g.batches, threads: threads)) { scratch in
                        input.withUnsafeBufferPointer { x in got.withUnsafeMutableBufferPointer { y in
                            kernel.run(input: x, output: y, batches: g.batches, scratch: scratch, threads: threads)
                        } }
                    }
                    #expect(FastTest.firstMismatch(got.map(\.bitPattern), expected.map(\.bitPattern)) == nil,
                            "\(backend) threads \(threads) \(g) perChannel \(perChannel) asymmetric \(p.asymmetricInputs)")
                }
            }
        }
    }

    @Test("CONV_2D: shapes, strides, dilations, paddings, per-channel (asymmetric) / per-tensor (symmetric)", arguments: 0..<4)
    func convolution(seed: UInt64) {
        var rng = SplitMix(seed: 6000 + seed)
        for _ in 0..<24 {
            let cin = FastTest.pick([1, 2, 3, 5, 8, 16, 17], &rng), cout = FastTest.pick([1, 4, 15, 16, 17, 33, 64, 65], &rng)
            let stride = FastTest.int(1...3, &rng), dilation = FastTest.pick([1, 1, 2], &rng)
            let g = Conv2DGeometry(batches: FastTest.int(1...3, &rng), inputHeight: FastTest.int(1...9, &rng),
                                   inputWidth: FastTest.int(1...9, &rng), inputChannels: cin,
                                   filterHeight: FastTest.int(1...3, &rng), filterWidth: FastTest.int(1...3, &rng),
                                   outputChannels: cout, strideHeight: stride, strideWidth: FastTest.pick([stride, 1], &rng),
                                   dilationHeight: dilation, dilationWidth: FastTest.pick([dilation, 1], &rng),
                                   padding: FastTest.pick(PaddingType.allCases, &rng))
            let perChannel = FastTest.int(0...1, &rng) == 0
            let p = HybridConvParameters(weightScales: (0..<(perChannel ? cout : 1)).map { _ in FastTest.scale(-10 ... -4, &rng) },
                                         activation: FastTest.pick(FusedActivation.allCases, &rng),
                                         laneRounding: FastTest.pick(HybridInputQuantization.LaneRounding.allCases, &rng))
            let filter = FastTest.int8s(g.convFilterCount, &rng, in: -127...127)
            let bias: [Float]? = FastTest.int(0...3, &rng) == 0 ? nil : (0..<cout).map { _ in rng.float(in: -1...1) }
            let input = Self.floats(g.inputCount, &rng)
            var expected = [Float](repeating: 0, count: g.outputCount)
            var refScratch = [Int8](repeating: 0, count: g.inputHeight * g.inputWidth * cin)
            input.withUnsafeBufferPointer { x in filter.withUnsafeBufferPointer { w in expected.withUnsafeMutableBufferPointer { y in
                refScratch.withUnsafeMutableBufferPointer { s in
                    if let bias {
                        bias.withUnsafeBufferPointer {
                            ReferenceKernels.hybridConv2D(input: x, filter: w, bias: $0, output: y, geometry: g, parameters: p, scratch: s)
                        }
                    } else {
                        ReferenceKernels.hybridConv2D(input: x, filter: w, bias: nil, output: y, geometry: g, parameters: p, scratch: s)
                    }
                } } } }
            for backend in FastTest.backends {
                let kernel = filter.withUnsafeBufferPointer { w in
                    bias.map { b in b.withUnsafeBufferPointer { FastHybridConv2D(filter: w, bias: $0, geometry: g, parameters: p, backend: backend) } }
                        ?? FastHybridConv2D(filter: w, bias: nil, geometry: g, parameters: p, backend: backend)
                }
                guard let kernel else {
                    Issue.record("FastHybridConv2D refused \(g)")
                    return
                }
                for threads in [1, 2] {
                    var got = [Float](repeating: .nan, count: g.outputCount)
                    FastTest.withScratch(kernel.scratchByteCount(batches: g.batches, threads: threads)) { scratch in
                        input.withUnsafeBufferPointer { x in got.withUnsafeMutableBufferPointer { y in
                            kernel.run(input: x, output: y, batches: g.batches, scratch: scratch, threads: threads)
                        } }
                    }
                    #expect(FastTest.firstMismatch(got.map(\.bitPattern), expected.map(\.bitPattern)) == nil,
                            "\(backend) threads \(threads) \(g) perChannel \(perChannel)")
                }
            }
        }
    }
}
