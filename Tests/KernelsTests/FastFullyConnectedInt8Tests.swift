import Testing
@testable import Kernels

/// FastFullyConnectedInt8 and the Int8GEMM engine against the reference, value for value.
@Suite("Fast int8 FULLY_CONNECTED and GEMM")
struct FastFullyConnectedInt8Tests {
    static func check(batches: Int, depth: Int, units: Int, perChannel: Bool, withBias: Bool, mode: RequantMode = .refFloatFC,
                      _ rng: inout SplitMix) {
        let g = FullyConnectedGeometry(batches: batches, accumDepth: depth, outputDepth: units)
        var p = FastTest.parameters(channels: units, perChannel: perChannel, fullyConnected: true, &rng)
        if mode != .refFloatFC {
            p.requantizers = p.requantizers.map { ChannelRequantizer(mode: mode, doubleScale: $0.doubleScale, floatScale: $0.floatScale) }
        }
        let weights = FastTest.int8s(units * depth, &rng, in: -127...127)
        let bias: [Int32]? = withBias ? FastTest.biases(units, &rng, huge: FastTest.int(0...4, &rng) == 0) : nil
        let input = FastTest.int8s(batches * depth, &rng)
        var expected = [Int8](repeating: 0, count: batches * units)
        input.withUnsafeBufferPointer { x in weights.withUnsafeBufferPointer { w in expected.withUnsafeMutableBufferPointer { y in
            if let bias {
                bias.withUnsafeBufferPointer { ReferenceKernels.fullyConnected(input: x, weights: w, bias: $0, output: y, geometry: g, parameters: p) }
            } else {
                ReferenceKernels.fullyConnected(input: x, weights: w, bias: nil, output: y, geometry: g, parameters: p)
            }
        } } }
        for backend in FastTest.backends {
            let kernel = weights.withUnsafeBufferPointer { w in
                bias.map { b in b.withUnsafeBufferPointer { FastFullyConnectedInt8(weights: w, bias: $0, geometry: g, parameters: p, backend: backend) } }
                    ?? FastFullyConnectedInt8(weights: w, bias: nil, geometry: g, parameters: p, backend: backend)
            }
            guard let kernel else {
                Issue.record("FastFullyConnectedInt8 refused \(g)")
                return
            }
            // Three runs per thread count: the channel blocks are visited forward, backward, forward.
            for threads in [1, 2] {
                for run in 0..<3 {
                    var got = [Int8](repeating: 99, count: batches * units)
                    FastTest.withScratch(kernel.scratchByteCount(batches: batches, threads: threads)) { scratch in
                        input.withUnsafeBufferPointer { x in got.withUnsafeMutableBufferPointer { y in
                            kernel.run(input: x, output: y, batches: batches, scratch: scratch, threads: threads)
                        } }
                    }
                    #expect(FastTest.firstMismatch(got, expected) == nil,
                            "\(backend) threads \(threads) run \(run) \(g) perChannel \(perChannel) mode \(mode) zp \(p.inputZeroPoint)")
                }
            }
        }
    }

    @Test("Tile edges: rows around 4, outputs around 16 and 64, depth around 4")
    func tileEdges() {
        var rng = SplitMix(seed: 21)
        for batches in [1, 2, 3, 4, 5] {
            for units in [1, 15, 16, 17, 63, 64, 65, 100] {
                for depth in [1, 3, 4, 5, 7, 16, 33] {
                    Self.check(batches: batches, depth: depth, units: units, perChannel: FastTest.int(0...1, &rng) == 0,
                               withBias: FastTest.int(0...3, &rng) > 0, &rng)
                }
            }
        }
    }

    @Test("Long depths (K chunking), many rows, every requantization mode", arguments: RequantMode.allCases)
    func longDepths(mode: RequantMode) {
        var rng = SplitMix(seed: 22)
        for (batches, depth, units) in [(1, 1100, 40), (9, 1500, 70), (16, 2049, 33), (6, 513, 130)] {
            Self.check(batches: batches, depth: depth, units: units, perChannel: FastTest.int(0...1, &rng) == 0,
                       withBias: true, mode: mode, &rng)
        }
    }

    @Test("Weight zero points other than 0 are refused")
    func weightZeroPoint() {
        let g = FullyConnectedGeometry(batches: 1, accumDepth: 4, outputDepth: 2)
        let p = QuantizedConvParameters.fullyConnected(input: .init(scale: 0.1, zeroPoint: 0), weightScales: [0.1], weightZeroPoint: 3,
                                                       output: .init(scale: 0.1, zeroPoint: 0), activation: .none)
        let w = [Int8](repeating: 1, count: 8)
        #expect(w.withUnsafeBufferPointer { FastFullyConnectedInt8(weights: $0, bias: nil, geometry: g, parameters: p) } == nil)
    }

    @Test("Int8GEMM: every backend gives the exact int32 products, signed and unsigned A, block ranges, both orders")
    func gemm() {
        var rng = SplitMix(seed: 23)
        for _ in 0..<40 {
            let rows = FastTest.int(1...13, &rng), depth = FastTest.int(1...1300, &rng), n = FastTest.int(1...90, &rng)
            let w = FastTest.int8s(n * depth, &rng)   // -128 included
            let a = FastTest.int8s(rows * depth, &rng)
            let packed = w.withUnsafeBufferPointer { PackedInt8Weights(weights: $0, outputCount: n, depth: depth) }
            #expect(packed.rowSums == (0..<n).map { r in (0..<depth).reduce(Int32(0)) { $0 &+ Int32(w[r * depth + $1]) } })
            let lo = FastTest.int(0...(packed.blockCount - 1), &rng), hi = FastTest.int((lo + 1)...packed.blockCount, &rng)
            for activations in [Int8GEMM.Activations.signed, .unsigned] {
                var expected = [Int32](repeating: 0, count: rows * 16 * hi)
                for m in 0..<rows {
                    for c in (16 * lo)..<(16 * hi) where c < n {
                        var s: Int32 = 0
                        for k in 0..<depth {
                            let byte = UInt8(bitPattern: a[m * depth + k])
                            let x = activations == .signed ? Int32(byte ^ 0x80) : Int32(byte)
                            s &+= x &* Int32(w[c * depth + k])
                        }
                        expected[m * 16 * hi + c] = s
                    }
                }
                for backend in FastTest.backends {
                    for reversed in [false, true] {
                        var c = [Int32](repeating: 0, count: rows * 16 * hi)
                        a.withUnsafeBytes { ab in c.withUnsafeMutableBufferPointer { cb in
                            Int8GEMM.multiply(a: ab.baseAddress!, rowStride: depth, rows: rows, activations: activations, weights: packed,
                                              blocks: lo..<hi, reversed: reversed, c: cb.baseAddress!, cRowStride: 16 * hi, backend: backend)
                        } }
                        #expect(FastTest.firstMismatch(c, expected) == nil,
                                "\(backend) \(activations) rows \(rows) depth \(depth) n \(n) blocks \(lo)..<\(hi) reversed \(reversed)")
                    }
                }
            }
        }
    }

    /// The exact int32 products `Σ_k a(m, k) · w[c][k]` of rows `a` (stride `rowStride`), columns of
    /// `blocks` only (others 0), rows `cRowStride` apart.
    static func products(_ a: [Int8], rows: Int, rowStride: Int, depth: Int, _ w: [Int8], n: Int,
                         activations: Int8GEMM.Activations, blocks: Range<Int>, cRowStride: Int) -> [Int32] {
        var expected = [Int32](repeating: 0, count: rows * cRowStride)
        for m in 0..<rows {
            for c in (16 * blocks.lowerBound)..<(16 * blocks.upperBound) where c < n {
                var s: Int32 = 0
                for k in 0..<depth {
                    let byte = UInt8(bitPattern: a[m * rowStride + k])
                    let x = activations == .signed ? Int32(byte ^ 0x80) : Int32(byte)
                    s &+= x &* Int32(w[c * depth + k])
                }
                expected[m * cRowStride + c] = s
            }
        }
        return expected
    }

    @Test("Int8GEMM tile edges of the AMX path: rows around 16 and 32, depth around 64, odd block counts, strided rows, extremes")
    func gemmTileEdges() {
        var rng = SplitMix(seed: 24)
        let shapes: [(rows: Int, depth: Int, n: Int)] = [
            (15, 64, 16), (16, 64, 16), (17, 64, 17), (16, 63, 32), (16, 65, 33), (31, 128, 48), (32, 128, 64),
            (33, 192, 65), (47, 256, 80), (48, 256, 128), (49, 255, 100), (64, 257, 31), (196, 256, 128),
            (40, 1024, 40), (20, 4, 64), (35, 640, 200),
        ]
        for (index, shape) in shapes.enumerated() {
            let (rows, depth, n) = shape
            let extreme = index % 5 == 4   // all weights -128 and all activations 255: the largest sums
            let w = extreme ? [Int8](repeating: -128, count: n * depth) : FastTest.int8s(n * depth, &rng)
            let rowStride = depth + FastTest.pick([0, 0, 3, 64], &rng)
            let a = extreme ? [Int8](repeating: 127, count: rows * rowStride) : FastTest.int8s(rows * rowStride, &rng)
            let packed = w.withUnsafeBufferPointer { PackedInt8Weights(weights: $0, outputCount: n, depth: depth) }
            let ranges = [0..<packed.blockCount, (packed.blockCount > 1 ? 1 : 0)..<packed.blockCount]
            for blocks in ranges {
                let cRowStride = 16 * blocks.upperBound + FastTest.pick([0, 16], &rng)
                for activations in [Int8GEMM.Activations.signed, .unsigned] {
                    let expected = Self.products(a, rows: rows, rowStride: rowStride, depth: depth, w, n: n,
                                                 activations: activations, blocks: blocks, cRowStride: cRowStride)
                    for backend in FastTest.backends {
                        for reversed in [false, true] {
                            var c = [Int32](repeating: 0, count: rows * cRowStride)
                            a.withUnsafeBytes { ab in c.withUnsafeMutableBufferPointer { cb in
                                Int8GEMM.multiply(a: ab.baseAddress!, rowStride: rowStride, rows: rows, activations: activations,
                                                  weights: packed, blocks: blocks, reversed: reversed, c: cb.baseAddress!,
                                                  cRowStride: cRowStride, backend: backend)
                            } }
                            #expect(FastTest.firstMismatch(c, expected) == nil,
                                    "\(backend) \(activations) rows \(rows) stride \(rowStride) depth \(depth) n \(n) blocks \(blocks) reversed \(reversed)")
                        }
                    }
                }
            }
        }
    }
}
