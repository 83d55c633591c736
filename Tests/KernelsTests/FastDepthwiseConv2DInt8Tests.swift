import Testing
@testable import Kernels

/// FastDepthwiseConv2DInt8 against the reference depthwiseConv2D, value for value.
@Suite("Fast int8 DEPTHWISE_CONV_2D")
struct FastDepthwiseConv2DInt8Tests {
    @Test("Random shapes, multipliers, strides, dilations, paddings, zero points, scales and clamps", arguments: 0..<4)
    func random(seed: UInt64) {
        var rng = SplitMix(seed: 4000 + seed)
        for _ in 0..<30 {
            let cin = FastTest.pick([1, 2, 3, 8, 15, 16, 17, 33, 64], &rng)
            let multiplier = FastTest.pick([1, 1, 1, 2, 3], &rng)
            let cout = cin * multiplier
            let stride = FastTest.int(1...3, &rng), dilation = FastTest.pick([1, 1, 2], &rng)
            let g = Conv2DGeometry(batches: FastTest.int(1...3, &rng), inputHeight: FastTest.int(1...10, &rng),
                                   inputWidth: FastTest.int(1...10, &rng), inputChannels: cin,
                                   filterHeight: FastTest.int(1...3, &rng), filterWidth: FastTest.int(1...3, &rng),
                                   outputChannels: cout, strideHeight: stride, strideWidth: FastTest.pick([stride, 1], &rng),
                                   dilationHeight: dilation, dilationWidth: dilation, padding: FastTest.pick(PaddingType.allCases, &rng))
            let p = FastTest.parameters(channels: cout, perChannel: FastTest.int(0...3, &rng) > 0, fullyConnected: false, &rng)
            let filter = FastTest.int8s(g.depthwiseFilterCount, &rng, in: FastTest.pick([-127...127, -128...127], &rng))
            let bias: [Int32]? = FastTest.int(0...4, &rng) == 0 ? nil : FastTest.biases(cout, &rng, huge: FastTest.int(0...5, &rng) == 0)
            let input = FastTest.int8s(g.inputCount, &rng)
            var expected = [Int8](repeating: 0, count: g.outputCount)
            input.withUnsafeBufferPointer { x in filter.withUnsafeBufferPointer { w in expected.withUnsafeMutableBufferPointer { y in
                if let bias {
                    bias.withUnsafeBufferPointer { ReferenceKernels.depthwiseConv2D(input: x, filter: w, bias: $0, output: y, geometry: g, parameters: p) }
                } else {
                    ReferenceKernels.depthwiseConv2D(input: x, filter: w, bias: nil, output: y, geometry: g, parameters: p)
                }
            } } }
            for backend in FastTest.backends {
                let kernel = filter.withUnsafeBufferPointer { w in
                    bias.map { b in b.withUnsafeBufferPointer { FastDepthwiseConv2DInt8(filter: w, bias: $0, geometry: g, parameters: p, backend: backend) } }
                        ?? FastDepthwiseConv2DInt8(filter: w, bias: nil, geometry: g, parameters: p, backend: backend)
                }
                guard let kernel else {
                    Issue.record("FastDepthwiseConv2DInt8 refused \(g)")
                    return
                }
                for threads in [1, 2] {
                    var got = [Int8](repeating: 99, count: g.outputCount)
                    FastTest.withScratch(kernel.scratchByteCount(batches: g.batches, threads: threads)) { scratch in
                        input.withUnsafeBufferPointer { x in got.withUnsafeMutableBufferPointer { y in
                            kernel.run(input: x, output: y, batches: g.batches, scratch: scratch, threads: threads)
                        } }
                    }
                    #expect(FastTest.firstMismatch(got, expected) == nil, "\(backend) threads \(threads) \(g) zp \(p.inputZeroPoint)")
                }
            }
        }
    }
}
