import Foundation
import Testing
@testable import Kernels

/// The fast float kernels (FastFloatConv2D with and without a fused max pool, FastFloatFullyConnected)
/// against the reference kernels, on every backend this CPU supports.
///
/// Float results differ from the reference's only by summation order (FMA, tiles), so each output
/// must lie within `1e-5 · (1 + Σ|terms|)` of the reference, where Σ|terms| is the same convolution
/// (or FULLY_CONNECTED) run by the reference on |input|, |weights| and |bias| (max-pooled like the output).
@Suite("Fast float kernels")
struct FastFloatKernelTests {
    static let activations: [ActivationRange<Float>] = [
        FusedActivation.none.floatRange, FusedActivation.relu.floatRange, FusedActivation.relu6.floatRange,
        FusedActivation.reluN1To1.floatRange,
    ]

    static func floats(_ count: Int, _ rng: inout SplitMix, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in rng.float(in: -scale...scale) }
    }

    /// nil when every `fast[i]` is within `1e-5 · (1 + magnitude[i])` of `reference[i]`; else the
    /// worst element and how many are out of tolerance.
    static func mismatch(_ fast: [Float], _ reference: [Float], magnitude: [Float]) -> String? {
        guard fast.count == reference.count, reference.count == magnitude.count else {
            return "sizes \(fast.count) / \(reference.count) / \(magnitude.count)"
        }
        var bad = 0, worst = -1
        var worstRatio: Float = 0
        for i in fast.indices {
            let tolerance = 1e-5 * (1 + magnitude[i])
            let diff = abs(fast[i] - reference[i])
            if !(diff <= tolerance) {
                bad += 1
                if !(diff / tolerance <= worstRatio) { worstRatio = diff / tolerance; worst = i }
            }
        }
        guard bad > 0 else { return nil }
        return "\(bad) of \(fast.count) out of tolerance; worst at \(worst): fast \(fast[worst]), reference \(reference[worst]), "
            + "Σ|terms| \(magnitude[worst])"
    }

    static func withScratch<R>(_ bytes: Int, _ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes, 1), alignment: 16)
        defer { scratch.deallocate() }
        scratch.initializeMemory(as: UInt8.self, repeating: 0xA5)   // garbage must not matter
        return body(scratch)
    }

    // MARK: - CONV_2D

    struct ConvCase: CustomStringConvertible {
        var geometry: Conv2DGeometry
        var activation: ActivationRange<Float>
        var filter: [Float]
        var bias: [Float]?
        var input: [Float]
        var pool: FastFloatConv2D.FusedMaxPool?

        var description: String {
            let g = geometry
            return "b\(g.batches) \(g.inputHeight)x\(g.inputWidth)x\(g.inputChannels) f\(g.filterHeight)x\(g.filterWidth) "
                + "s\(g.strideHeight),\(g.strideWidth) d\(g.dilationHeight),\(g.dilationWidth) pad\(g.padTop),\(g.padLeft) "
                + "-> \(g.outputHeight)x\(g.outputWidth)x\(g.outputChannels) clamp[\(activation.min), \(activation.max)] "
                + "bias \(bias == nil ? "no" : "yes") "
                + "pool \(pool.map { "\($0.filterHeight)x\($0.filterWidth)/\($0.strideHeight),\($0.strideWidth) [\($0.activation.min), \($0.activation.max)]" } ?? "-")"
        }
    }

    static func randomConvCase(_ rng: inout SplitMix, pooled: Bool) -> ConvCase {
        let inputChannels = FastTest.pick([1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 31, 64], &rng)
        let outputChannels = FastTest.pick([1, 3, 4, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 80, 129], &rng)
        let filterHeight = FastTest.int(1...3, &rng), filterWidth = FastTest.int(1...3, &rng)
        let stride = pooled ? FastTest.int(1...2, &rng) : FastTest.int(1...3, &rng)
        let dilation = FastTest.pick([1, 1, 1, 2], &rng)
        let padding = FastTest.pick(PaddingType.allCases, &rng)
        let height = FastTest.int(pooled ? 4...12 : 1...11, &rng), width = FastTest.int(pooled ? 4...12 : 1...11, &rng)
        let g = Conv2DGeometry(batches: FastTest.int(1...3, &rng), inputHeight: height, inputWidth: width,
                               inputChannels: inputChannels, filterHeight: filterHeight, filterWidth: filterWidth,
                               outputChannels: outputChannels, strideHeight: stride, strideWidth: FastTest.pick([stride, 1], &rng),
                               dilationHeight: dilation, dilationWidth: FastTest.pick([dilation, 1], &rng), padding: padding)
        var pool: FastFloatConv2D.FusedMaxPool?
        if pooled {
            let f = FastTest.int(2...3, &rng)
            let activation = FastTest.pick([FusedActivation.none.floatRange, ActivationRange(min: -0.5, max: 100),
                                            ActivationRange(min: -100, max: 0.25)], &rng)
            pool = .init(filterHeight: f, filterWidth: FastTest.pick([f, 2], &rng), strideHeight: FastTest.int(1...f, &rng),
                         strideWidth: FastTest.int(1...f, &rng), activation: activation)
        }
        return ConvCase(geometry: g, activation: FastTest.pick(activations, &rng),
                        filter: floats(g.convFilterCount, &rng),
                        bias: FastTest.int(0...4, &rng) == 0 ? nil : floats(outputChannels, &rng),
                        input: floats(g.inputCount, &rng, scale: 2), pool: pool)
    }

    /// The reference conv2D (then maxPool2D with the pool's clamp) and the per-output Σ|terms|.
    static func reference(_ c: ConvCase) -> (output: [Float], magnitude: [Float]) {
        let g = c.geometry
        func conv(_ input: [Float], _ filter: [Float], _ bias: [Float]?, _ activation: ActivationRange<Float>) -> [Float] {
            var out = [Float](repeating: 0, count: g.outputCount)
            input.withUnsafeBufferPointer { x in filter.withUnsafeBufferPointer { w in out.withUnsafeMutableBufferPointer { y in
                if let bias {
                    bias.withUnsafeBufferPointer { ReferenceKernels.conv2D(input: x, filter: w, bias: $0, output: y, geometry: g, activation: activation) }
                } else {
                    ReferenceKernels.conv2D(input: x, filter: w, bias: nil, output: y, geometry: g, activation: activation)
                }
            } } }
            return out
        }
        let output = conv(c.input, c.filter, c.bias, c.activation)
        let magnitude = conv(c.input.map(abs), c.filter.map(abs), c.bias?.map(abs), FusedActivation.none.floatRange)
        guard let pool = c.pool else { return (output, magnitude) }
        if g.outputHeight < pool.filterHeight || g.outputWidth < pool.filterWidth { return ([], []) }
        let pg = Conv2DGeometry(batches: g.batches, inputHeight: g.outputHeight, inputWidth: g.outputWidth,
                                inputChannels: g.outputChannels, filterHeight: pool.filterHeight, filterWidth: pool.filterWidth,
                                outputChannels: g.outputChannels, strideHeight: pool.strideHeight, strideWidth: pool.strideWidth,
                                padding: .valid)
        func maxPool(_ x: [Float], _ activation: ActivationRange<Float>) -> [Float] {
            var pooled = [Float](repeating: 0, count: pg.outputCount)
            x.withUnsafeBufferPointer { x in pooled.withUnsafeMutableBufferPointer { y in
                ReferenceKernels.maxPool2D(input: x, output: y, geometry: pg, activation: activation)
            } }
            return pooled
        }
        return (maxPool(output, pool.activation), maxPool(magnitude, FusedActivation.none.floatRange))
    }

    static func kernel(_ c: ConvCase, backend: SIMDBackend) -> FastFloatConv2D? {
        c.filter.withUnsafeBufferPointer { w in
            c.bias.map { b in b.withUnsafeBufferPointer {
                FastFloatConv2D(filter: w, bias: $0, geometry: c.geometry, activation: c.activation, fusedMaxPool: c.pool, backend: backend)
            } } ?? FastFloatConv2D(filter: w, bias: nil, geometry: c.geometry, activation: c.activation, fusedMaxPool: c.pool, backend: backend)
        }
    }

    static func fast(_ kernel: FastFloatConv2D, _ input: [Float], batches: Int, threads: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: kernel.outputCount(batches: batches))
        withScratch(kernel.scratchByteCount(threads: threads)) { scratch in
            input.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { y in
                kernel.run(input: x, output: y, batches: batches, scratch: scratch, threads: threads)
            } }
        }
        return out
    }

    /// Every backend and 1 or 2 threads within tolerance of the reference; the thread count does not
    /// change a single bit.
    static func check(_ c: ConvCase) {
        let (expected, magnitude) = reference(c)
        for backend in FastTest.backends {
            guard let kernel = kernel(c, backend: backend) else {
                Issue.record("FastFloatConv2D refused \(c)")
                return
            }
            let one = fast(kernel, c.input, batches: c.geometry.batches, threads: 1)
            #expect(mismatch(one, expected, magnitude: magnitude) == nil, "\(backend) \(c)")
            let two = fast(kernel, c.input, batches: c.geometry.batches, threads: 2)
            #expect(FastTest.firstMismatch(two, one) == nil, "\(backend) 2 threads vs 1: \(c)")
        }
    }

    @Test("CONV_2D: random shapes, channels, strides, dilations, paddings, clamps, batches 1-3", arguments: 0..<6)
    func randomConvolutions(seed: UInt64) {
        var rng = SplitMix(seed: 7000 + seed)
        for _ in 0..<25 { Self.check(Self.randomConvCase(&rng, pooled: false)) }
    }

    @Test("CONV_2D with fused max pool: windows 2x2 to 3x3, strides 1-3 (overlapping too), pool clamps", arguments: 0..<4)
    func randomPooled(seed: UInt64) {
        var rng = SplitMix(seed: 8000 + seed)
        for _ in 0..<25 { Self.check(Self.randomConvCase(&rng, pooled: true)) }
    }

    @Test("CONV_2D tile edges: pixels around 6 and 12, channels around 16 and 64, 1x1 read directly and padded 2x2")
    func convTileEdges() {
        var rng = SplitMix(seed: 71)
        for pixels in [1, 5, 6, 7, 11, 12, 13] {
            for channels in [1, 15, 16, 17, 63, 64, 65] {
                for (depth, filter) in [(1, 1), (3, 1), (16, 1), (4, 2), (5, 2)] {
                    let g = Conv2DGeometry(batches: 1, inputHeight: 1, inputWidth: pixels, inputChannels: depth,
                                           filterHeight: filter, filterWidth: filter, outputChannels: channels,
                                           padding: filter == 1 ? .valid : .same)
                    Self.check(ConvCase(geometry: g, activation: FusedActivation.none.floatRange,
                                        filter: Self.floats(g.convFilterCount, &rng), bias: Self.floats(channels, &rng),
                                        input: Self.floats(g.inputCount, &rng), pool: nil))
                }
            }
        }
    }

    @Test("CONV_2D deeper than one K chunk (1024): 3x3 over 130 channels, 1x1 over 1100 channels")
    func convDepthChunks() {
        var rng = SplitMix(seed: 72)
        for (cin, filter, size) in [(130, 3, 6), (1100, 1, 4), (1030, 2, 3)] {
            let g = Conv2DGeometry(batches: 2, inputHeight: size, inputWidth: size, inputChannels: cin, filterHeight: filter,
                                   filterWidth: filter, outputChannels: 20, padding: .same)
            Self.check(ConvCase(geometry: g, activation: FusedActivation.relu.floatRange,
                                filter: Self.floats(g.convFilterCount, &rng), bias: Self.floats(20, &rng),
                                input: Self.floats(g.inputCount, &rng), pool: nil))
        }
    }

    @Test("CONV_2D: the seed CNN's layers, pooled and not, batches 1 and 3")
    func seedConvolutions() {
        var rng = SplitMix(seed: 73)
        for (size, cin, cout) in [(28, 1, 64), (14, 64, 128)] {
            for batches in [1, 3] {
                let g = Conv2DGeometry(batches: batches, inputHeight: size, inputWidth: size, inputChannels: cin, filterHeight: 2,
                                       filterWidth: 2, outputChannels: cout, padding: .same)
                let filter = Self.floats(g.convFilterCount, &rng, scale: 0.5), bias = Self.floats(cout, &rng, scale: 0.1)
                let input = Self.floats(g.inputCount, &rng)
                for pool in [nil, FastFloatConv2D.FusedMaxPool(filterHeight: 2, filterWidth: 2, strideHeight: 2, strideWidth: 2)] {
                    Self.check(ConvCase(geometry: g, activation: FusedActivation.relu.floatRange, filter: filter, bias: bias,
                                        input: input, pool: pool))
                }
            }
        }
    }

    @Test("CONV_2D: a sample's output does not depend on the batch it runs in")
    func convBatchIndependence() {
        var rng = SplitMix(seed: 74)
        let g = Conv2DGeometry(batches: 3, inputHeight: 9, inputWidth: 7, inputChannels: 5, filterHeight: 3, filterWidth: 2,
                               outputChannels: 37, strideHeight: 2, padding: .same)
        let c = ConvCase(geometry: g, activation: FusedActivation.relu6.floatRange, filter: Self.floats(g.convFilterCount, &rng),
                         bias: Self.floats(37, &rng), input: Self.floats(g.inputCount, &rng), pool: nil)
        for backend in FastTest.backends {
            let kernel = Self.kernel(c, backend: backend)!
            let all = Self.fast(kernel, c.input, batches: 3, threads: 2)
            let perSample = g.inputHeight * g.inputWidth * g.inputChannels
            let outPerSample = kernel.outputCount(batches: 1)
            for b in 0..<3 {
                let single = Self.fast(kernel, Array(c.input[b * perSample..<(b + 1) * perSample]), batches: 1, threads: 1)
                #expect(FastTest.firstMismatch(single, Array(all[b * outPerSample..<(b + 1) * outPerSample])) == nil, "\(backend) sample \(b)")
            }
        }
    }

    @Test("CONV_2D: grouped convolutions are refused; a pool larger than the output writes nothing")
    func convEdgeCases() {
        let grouped = Conv2DGeometry(batches: 1, inputHeight: 3, inputWidth: 3, inputChannels: 4, filterHeight: 1, filterWidth: 1,
                                     filterInputChannels: 2, outputChannels: 4, padding: .valid)
        let filter = [Float](repeating: 1, count: grouped.convFilterCount)
        #expect(filter.withUnsafeBufferPointer {
            FastFloatConv2D(filter: $0, bias: nil, geometry: grouped, activation: FusedActivation.none.floatRange)
        } == nil)
        let g = Conv2DGeometry(batches: 1, inputHeight: 2, inputWidth: 5, inputChannels: 1, filterHeight: 1, filterWidth: 1,
                               outputChannels: 3, padding: .valid)
        let pool = FastFloatConv2D.FusedMaxPool(filterHeight: 3, filterWidth: 2, strideHeight: 1, strideWidth: 1)
        let kernel = [Float](repeating: 1, count: 3).withUnsafeBufferPointer {
            FastFloatConv2D(filter: $0, bias: nil, geometry: g, activation: FusedActivation.none.floatRange, fusedMaxPool: pool)
        }!
        #expect(kernel.outputHeight == 0 && kernel.outputCount(batches: 1) == 0)
        #expect(Self.fast(kernel, [Float](repeating: 1, count: 10), batches: 1, threads: 2).isEmpty)
    }

    // MARK: - FULLY_CONNECTED

    static func checkFullyConnected(rows: Int, depth k: Int, units n: Int, activation: ActivationRange<Float>, hasBias: Bool,
                                    _ rng: inout SplitMix) {
        let g = FullyConnectedGeometry(batches: rows, accumDepth: k, outputDepth: n)
        let weights = floats(k * n, &rng), bias = hasBias ? floats(n, &rng) : nil, input = floats(rows * k, &rng, scale: 2)
        func reference(_ x: [Float], _ w: [Float], _ b: [Float]?, _ activation: ActivationRange<Float>) -> [Float] {
            var out = [Float](repeating: 0, count: rows * n)
            x.withUnsafeBufferPointer { x in w.withUnsafeBufferPointer { w in out.withUnsafeMutableBufferPointer { y in
                if let b {
                    b.withUnsafeBufferPointer { ReferenceKernels.fullyConnected(input: x, weights: w, bias: $0, output: y, geometry: g, activation: activation) }
                } else {
                    ReferenceKernels.fullyConnected(input: x, weights: w, bias: nil, output: y, geometry: g, activation: activation)
                }
            } } }
            return out
        }
        let expected = reference(input, weights, bias, activation)
        let magnitude = reference(input.map(abs), weights.map(abs), bias?.map(abs), FusedActivation.none.floatRange)
        let label = "rows \(rows) depth \(k) units \(n) clamp[\(activation.min), \(activation.max)] bias \(hasBias)"
        for backend in FastTest.backends {
            let kernel = weights.withUnsafeBufferPointer { w in
                bias.map { b in b.withUnsafeBufferPointer {
                    FastFloatFullyConnected(weights: w, bias: $0, geometry: g, activation: activation, backend: backend)
                } } ?? FastFloatFullyConnected(weights: w, bias: nil, geometry: g, activation: activation, backend: backend)
            }
            var first: [Float]?
            for threads in [1, 2] {
                for reversed in [false, true] {
                    var out = [Float](repeating: .nan, count: rows * n)
                    input.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { y in
                        kernel.run(input: x, output: y, rows: rows, threads: threads, reversed: reversed)
                    } }
                    if let first {
                        #expect(FastTest.firstMismatch(out, first) == nil, "\(backend) threads \(threads) reversed \(reversed) vs 1 thread: \(label)")
                    } else {
                        #expect(mismatch(out, expected, magnitude: magnitude) == nil, "\(backend) \(label)")
                        first = out
                    }
                }
            }
            // Row 0 alone gives the same bits as row 0 of the batch.
            if rows > 1, let first {
                var single = [Float](repeating: .nan, count: n)
                input.withUnsafeBufferPointer { x in single.withUnsafeMutableBufferPointer { y in
                    kernel.run(input: UnsafeBufferPointer(rebasing: x[0..<k]), output: y, rows: 1)
                } }
                #expect(FastTest.firstMismatch(single, Array(first[0..<n])) == nil, "\(backend) row 0 alone: \(label)")
            }
        }
    }

    @Test("FULLY_CONNECTED: rows around the 6-row tile, units around 16 and 64, depths around the 1024 chunk", arguments: 0..<4)
    func fullyConnected(seed: UInt64) {
        var rng = SplitMix(seed: 9000 + seed)
        for _ in 0..<12 {
            let rows = FastTest.pick([1, 2, 3, 5, 6, 7, 12, 13, 20], &rng)
            let depth = FastTest.pick([1, 3, 15, 16, 17, 100, 256, 1023, 1025, 2100], &rng)
            let units = FastTest.pick([1, 10, 15, 16, 17, 33, 64, 65, 100, 129], &rng)
            Self.checkFullyConnected(rows: rows, depth: depth, units: units, activation: FastTest.pick(Self.activations, &rng),
                                     hasBias: FastTest.int(0...3, &rng) > 0, &rng)
        }
    }

    @Test("FULLY_CONNECTED: the seed CNN's layers 6272 -> 256 (relu) and 256 -> 10, batches 1 and 3")
    func seedFullyConnected() {
        var rng = SplitMix(seed: 91)
        for rows in [1, 3] {
            Self.checkFullyConnected(rows: rows, depth: 6272, units: 256, activation: FusedActivation.relu.floatRange, hasBias: true, &rng)
            Self.checkFullyConnected(rows: rows, depth: 256, units: 10, activation: FusedActivation.none.floatRange, hasBias: true, &rng)
        }
    }

    // MARK: - Pooling

    @Test("FastPooling: max and average pools, float and int8, equal the reference value for value", arguments: 0..<3)
    func pooling(seed: UInt64) {
        var rng = SplitMix(seed: 9500 + seed)
        for _ in 0..<40 {
            let channels = FastTest.pick([1, 3, 15, 16, 17, 33, 64], &rng)
            let f = FastTest.int(1...3, &rng)
            let g = Conv2DGeometry(batches: FastTest.int(1...3, &rng), inputHeight: FastTest.int(1...9, &rng),
                                   inputWidth: FastTest.int(1...9, &rng), inputChannels: channels, filterHeight: f,
                                   filterWidth: FastTest.pick([f, 1, 2], &rng), outputChannels: channels,
                                   strideHeight: FastTest.int(1...3, &rng), strideWidth: FastTest.int(1...3, &rng),
                                   padding: FastTest.pick(PaddingType.allCases, &rng))
            if g.outputHeight == 0 || g.outputWidth == 0 { continue }
            let label = "b\(g.batches) \(g.inputHeight)x\(g.inputWidth)x\(channels) f\(g.filterHeight)x\(g.filterWidth) s\(g.strideHeight),\(g.strideWidth) pad\(g.padTop),\(g.padLeft)"
            let activation = FastTest.pick(Self.activations, &rng)
            let x = Self.floats(g.inputCount, &rng, scale: 3)
            var fast = [Float](repeating: .nan, count: g.outputCount), reference = fast
            x.withUnsafeBufferPointer { x in
                fast.withUnsafeMutableBufferPointer { FastPooling.maxPool2D(input: x, output: $0, geometry: g, activation: activation) }
                reference.withUnsafeMutableBufferPointer { ReferenceKernels.maxPool2D(input: x, output: $0, geometry: g, activation: activation) }
            }
            #expect(fast.map(\.bitPattern) == reference.map(\.bitPattern), "float max \(label)")
            x.withUnsafeBufferPointer { x in
                fast.withUnsafeMutableBufferPointer { FastPooling.averagePool2D(input: x, output: $0, geometry: g, activation: activation) }
                reference.withUnsafeMutableBufferPointer { ReferenceKernels.averagePool2D(input: x, output: $0, geometry: g, activation: activation) }
            }
            #expect(fast.map(\.bitPattern) == reference.map(\.bitPattern), "float average \(label)")

            let q = FastTest.int8s(g.inputCount, &rng)
            let clamp = FastTest.pick([ActivationRange<Int32>(min: -128, max: 127), ActivationRange(min: -10, max: 100)], &rng)
            var fast8 = [Int8](repeating: 0, count: g.outputCount), reference8 = fast8
            var sums = [Int32](repeating: 0, count: channels)
            q.withUnsafeBufferPointer { x in
                fast8.withUnsafeMutableBufferPointer { FastPooling.maxPool2D(input: x, output: $0, geometry: g, activation: clamp) }
                reference8.withUnsafeMutableBufferPointer { ReferenceKernels.maxPool2D(input: x, output: $0, geometry: g, activation: clamp) }
            }
            #expect(FastTest.firstMismatch(fast8, reference8) == nil, "int8 max \(label)")
            q.withUnsafeBufferPointer { x in sums.withUnsafeMutableBufferPointer { s in
                fast8.withUnsafeMutableBufferPointer { FastPooling.averagePool2D(input: x, output: $0, geometry: g, activation: clamp, scratch: s) }
                reference8.withUnsafeMutableBufferPointer { ReferenceKernels.averagePool2D(input: x, output: $0, geometry: g, activation: clamp) }
            } }
            #expect(FastTest.firstMismatch(fast8, reference8) == nil, "int8 average \(label)")
        }
    }

    // MARK: - Plumbing

    @Test("FloatGEMMCall has qk_f32_gemm's layout (8-byte fields, lo/hi sharing one)")
    func callLayout() {
        typealias C = FloatGEMMCall
        #expect(MemoryLayout<C>.size == 144 && MemoryLayout<C>.alignment == 8)
        let offsets: [(PartialKeyPath<C>, Int)] = [
            (\C.offsets, 0), (\C.a, 8), (\C.zero, 16), (\C.lda, 24), (\C.rows, 32), (\C.taps, 40), (\C.channels, 48),
            (\C.weights, 56), (\C.blockStride, 64), (\C.blockBegin, 72), (\C.blockEnd, 80), (\C.bias, 88),
            (\C.lo, 96), (\C.hi, 100), (\C.pool, 104), (\C.c, 112), (\C.ldc, 120), (\C.columns, 128), (\C.reverse, 136),
        ]
        for (path, offset) in offsets { #expect(MemoryLayout<C>.offset(of: path) == offset, "\(path)") }
    }

    @Test("The tolerance check rejects an output off by 1e-4 of its magnitude")
    func toleranceCanFail() {
        let reference: [Float] = [1, -2, 3], magnitude: [Float] = [10, 10, 10]
        #expect(Self.mismatch(reference, reference, magnitude: magnitude) == nil)
        #expect(Self.mismatch([1, -2 + 1e-3, 3], reference, magnitude: magnitude) != nil)
        #expect(Self.mismatch([1, .nan, 3], reference, magnitude: magnitude) != nil)
    }
}

/// Timings of the fast float kernels on the seed CNN's shapes, per backend and thread count.
/// Runs only with `QUANTKIT_FAST_BENCH=1`; prints the best and the median microseconds of single calls
/// (the best is what a quiet machine gives; the machine is shared).
@Suite("Fast float kernel timings", .serialized, .enabled(if: ProcessInfo.processInfo.environment["QUANTKIT_FAST_BENCH"] == "1"))
struct FastFloatKernelBenchmarks {
    static func time(_ calls: Int, _ body: () -> Void) -> (best: Double, median: Double) {
        for _ in 0..<max(2, calls / 10) { body() }
        var samples: [Double] = []
        samples.reserveCapacity(calls)
        for _ in 0..<calls {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1000)
        }
        samples.sort()
        return (samples[0], samples[samples.count / 2])
    }

    static func report(_ name: String, _ results: [(String, (best: Double, median: Double))]) {
        print("BENCH \(name): " + results.map { "\($0.0) \(String(format: "%.1f", $0.1.best)) (median \(String(format: "%.1f", $0.1.median))) µs" }
            .joined(separator: ", "))
    }

    static func calls(_ backend: SIMDBackend, _ fast: Int) -> Int { backend == .portable ? max(5, fast / 20) : fast }

    @Test("CONV_2D + MAX_POOL_2D: seed conv1 28x28x1->64 and conv2 14x14x64->128, fused and not")
    func convolutions() {
        var rng = SplitMix(seed: 1)
        for (name, size, cin, cout) in [("conv1 28x28x1->64", 28, 1, 64), ("conv2 14x14x64->128", 14, 64, 128)] {
            let g = Conv2DGeometry(batches: 1, inputHeight: size, inputWidth: size, inputChannels: cin, filterHeight: 2,
                                   filterWidth: 2, outputChannels: cout, padding: .same)
            let filter = FastFloatKernelTests.floats(g.convFilterCount, &rng), bias = FastFloatKernelTests.floats(cout, &rng)
            let input = FastFloatKernelTests.floats(g.inputCount, &rng)
            let pool = FastFloatConv2D.FusedMaxPool(filterHeight: 2, filterWidth: 2, strideHeight: 2, strideWidth: 2)
            for fused in [nil, pool] {
                var results: [(String, (best: Double, median: Double))] = []
                for backend in FastTest.backends {
                    let kernel = filter.withUnsafeBufferPointer { w in bias.withUnsafeBufferPointer {
                        FastFloatConv2D(filter: w, bias: $0, geometry: g, activation: FusedActivation.relu.floatRange,
                                        fusedMaxPool: fused, backend: backend)!
                    } }
                    for threads in [1, 2] {
                        var out = [Float](repeating: 0, count: kernel.outputCount(batches: 1))
                        let t = FastFloatKernelTests.withScratch(kernel.scratchByteCount(threads: threads)) { scratch in
                            input.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { y in
                                Self.time(Self.calls(backend, 2000)) {
                                    kernel.run(input: x, output: y, batches: 1, scratch: scratch, threads: threads)
                                }
                            } }
                        }
                        results.append(("\(backend)/\(threads)t", t))
                    }
                }
                Self.report(name + (fused == nil ? "" : " + fused 2x2/2 pool"), results)
            }
            // The unfused pool on its own.
            let pg = Conv2DGeometry(batches: 1, inputHeight: size, inputWidth: size, inputChannels: cout, filterHeight: 2,
                                    filterWidth: 2, outputChannels: cout, strideHeight: 2, strideWidth: 2, padding: .valid)
            let convOut = FastFloatKernelTests.floats(pg.inputCount, &rng)
            var pooled = [Float](repeating: 0, count: pg.outputCount)
            let t = convOut.withUnsafeBufferPointer { x in pooled.withUnsafeMutableBufferPointer { y in
                Self.time(2000) { FastPooling.maxPool2D(input: x, output: y, geometry: pg, activation: FusedActivation.none.floatRange) }
            } }
            Self.report("FastPooling.maxPool2D \(size)x\(size)x\(cout) 2x2/2", [("swift", t)])
        }
    }

    @Test("FULLY_CONNECTED: seed FC1 6272->256 (batch 1 alternating `reversed` as the interpreter does, batch 16) and FC2 256->10")
    func fullyConnected() {
        var rng = SplitMix(seed: 2)
        for (k, n, rows) in [(6272, 256, 1), (6272, 256, 16), (256, 10, 1)] {
            let g = FullyConnectedGeometry(batches: rows, accumDepth: k, outputDepth: n)
            let weights = FastFloatKernelTests.floats(k * n, &rng), bias = FastFloatKernelTests.floats(n, &rng)
            let input = FastFloatKernelTests.floats(rows * k, &rng)
            var results: [(String, (best: Double, median: Double))] = []
            for backend in FastTest.backends {
                let kernel = weights.withUnsafeBufferPointer { w in bias.withUnsafeBufferPointer {
                    FastFloatFullyConnected(weights: w, bias: $0, geometry: g, activation: FusedActivation.relu.floatRange, backend: backend)
                } }
                for threads in [1, 2] {
                    var out = [Float](repeating: 0, count: rows * n)
                    var pass = 0
                    let t = input.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { y in
                        Self.time(Self.calls(backend, k * n > 100_000 ? 300 : 5000)) {
                            pass += 1
                            kernel.run(input: x, output: y, rows: rows, threads: threads, reversed: pass & 1 == 1)
                        }
                    } }
                    results.append(("\(backend)/\(threads)t", t))
                }
            }
            Self.report("FC \(k)->\(n) batch \(rows)", results)
        }
    }
}
