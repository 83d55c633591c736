import Testing
@testable import Kernels

/// FastConv2DInt8 (with and without a fused max pool) against the reference conv2D (+ maxPool2D), value for value.
@Suite("Fast int8 CONV_2D")
struct FastConv2DInt8Tests {
    struct Case: CustomStringConvertible {
        var geometry: Conv2DGeometry
        var parameters: QuantizedConvParameters
        var filter: [Int8]
        var bias: [Int32]?
        var input: [Int8]
        var pool: FastConv2DInt8.FusedMaxPool?

        var description: String {
            let g = geometry
            return "b\(g.batches) \(g.inputHeight)x\(g.inputWidth)x\(g.inputChannels) f\(g.filterHeight)x\(g.filterWidth) "
                + "s\(g.strideHeight),\(g.strideWidth) d\(g.dilationHeight),\(g.dilationWidth) pad\(g.padTop),\(g.padLeft) "
                + "-> \(g.outputHeight)x\(g.outputWidth)x\(g.outputChannels) zp\(parameters.inputZeroPoint) "
                + "pool \(pool.map { "\($0.filterHeight)x\($0.filterWidth)/\($0.strideHeight),\($0.strideWidth)" } ?? "-")"
        }
    }

    static func randomCase(_ rng: inout SplitMix, pooled: Bool) -> Case {
        let inputChannels = FastTest.pick([1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64], &rng)
        let outputChannels = FastTest.pick([1, 3, 4, 15, 16, 17, 31, 33, 48, 63, 64, 65, 80, 129], &rng)
        let filterHeight = FastTest.int(1...3, &rng), filterWidth = FastTest.int(1...3, &rng)
        let stride = pooled ? FastTest.int(1...2, &rng) : FastTest.int(1...3, &rng)
        let dilation = FastTest.pick([1, 1, 1, 2], &rng)
        let padding = FastTest.pick(PaddingType.allCases, &rng)
        let height = FastTest.int(pooled ? 4...12 : 1...11, &rng), width = FastTest.int(pooled ? 4...12 : 1...11, &rng)
        let g = Conv2DGeometry(batches: FastTest.int(1...3, &rng), inputHeight: height, inputWidth: width,
                               inputChannels: inputChannels, filterHeight: filterHeight, filterWidth: filterWidth,
                               outputChannels: outputChannels, strideHeight: stride, strideWidth: FastTest.pick([stride, 1], &rng),
                               dilationHeight: dilation, dilationWidth: FastTest.pick([dilation, 1], &rng), padding: padding)
        let parameters = FastTest.parameters(channels: outputChannels, perChannel: FastTest.int(0...3, &rng) > 0,
                                             fullyConnected: false, &rng)
        var pool: FastConv2DInt8.FusedMaxPool?
        if pooled {
            let f = FastTest.int(2...3, &rng)
            let activation = FastTest.pick([ActivationRange<Int32>(min: -128, max: 127), ActivationRange(min: -20, max: 127),
                                            ActivationRange(min: -128, max: 30)], &rng)
            pool = .init(filterHeight: f, filterWidth: FastTest.pick([f, 2], &rng), strideHeight: FastTest.int(1...f, &rng),
                         strideWidth: FastTest.int(1...f, &rng), activation: activation)
        }
        return Case(geometry: g, parameters: parameters,
                    filter: FastTest.int8s(g.convFilterCount, &rng, in: -127...127),
                    bias: FastTest.int(0...4, &rng) == 0 ? nil : FastTest.biases(outputChannels, &rng, huge: FastTest.int(0...5, &rng) == 0),
                    input: FastTest.int8s(g.inputCount, &rng), pool: pool)
    }

    static func reference(_ c: Case) -> [Int8] {
        let g = c.geometry
        var conv = [Int8](repeating: 0, count: g.outputCount)
        c.input.withUnsafeBufferPointer { x in c.filter.withUnsafeBufferPointer { w in conv.withUnsafeMutableBufferPointer { y in
            if let bias = c.bias {
                bias.withUnsafeBufferPointer { ReferenceKernels.conv2D(input: x, filter: w, bias: $0, output: y, geometry: g, parameters: c.parameters) }
            } else {
                ReferenceKernels.conv2D(input: x, filter: w, bias: nil, output: y, geometry: g, parameters: c.parameters)
            }
        } } }
        guard let pool = c.pool else { return conv }
        let pg = Conv2DGeometry(batches: g.batches, inputHeight: g.outputHeight, inputWidth: g.outputWidth,
                                inputChannels: g.outputChannels, filterHeight: pool.filterHeight, filterWidth: pool.filterWidth,
                                outputChannels: g.outputChannels, strideHeight: pool.strideHeight, strideWidth: pool.strideWidth,
                                padding: .valid)
        if pg.outputHeight == 0 || pg.outputWidth == 0 || g.outputHeight < pool.filterHeight || g.outputWidth < pool.filterWidth { return [] }
        var pooled = [Int8](repeating: 0, count: pg.outputCount)
        conv.withUnsafeBufferPointer { x in pooled.withUnsafeMutableBufferPointer { y in
            ReferenceKernels.maxPool2D(input: x, output: y, geometry: pg, activation: pool.activation)
        } }
        return pooled
    }

    static func fast(_ c: Case, backend: SIMDBackend, threads: Int) -> (output: [Int8], poolsAccumulators: Bool)? {
        let g = c.geometry
        let kernel = c.filter.withUnsafeBufferPointer { w in
            c.bias.map { b in b.withUnsafeBufferPointer {
                FastConv2DInt8(filter: w, bias: $0, geometry: g, parameters: c.parameters, fusedMaxPool: c.pool, backend: backend)
            } } ?? FastConv2DInt8(filter: w, bias: nil, geometry: g, parameters: c.parameters, fusedMaxPool: c.pool, backend: backend)
        }
        guard let kernel else { return nil }
        var out = [Int8](repeating: 99, count: kernel.outputCount(batches: g.batches))
        FastTest.withScratch(kernel.scratchByteCount(batches: g.batches, threads: threads)) { scratch in
            c.input.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { y in
                kernel.run(input: x, output: y, batches: g.batches, scratch: scratch, threads: threads)
            } }
        }
        return (out, kernel.poolsAccumulators)
    }

    static func check(_ c: Case) {
        let expected = reference(c)
        for backend in FastTest.backends {
            for threads in [1, 2] {
                guard let (got, _) = fast(c, backend: backend, threads: threads) else {
                    Issue.record("FastConv2DInt8 refused \(c)")
                    return
                }
                #expect(FastTest.firstMismatch(got, expected) == nil, "\(backend) threads \(threads) \(c)")
            }
        }
    }

    @Test("Random shapes, strides, dilations, paddings, zero points, scales and clamps", arguments: 0..<6)
    func randomConvolutions(seed: UInt64) {
        var rng = SplitMix(seed: 1000 + seed)
        for _ in 0..<30 { Self.check(Self.randomCase(&rng, pooled: false)) }
    }

    @Test("Fused max pool: windows 2x2 / 3x3, strides 1-3, pool clamps", arguments: 0..<4)
    func randomPooled(seed: UInt64) {
        var rng = SplitMix(seed: 2000 + seed)
        for _ in 0..<30 { Self.check(Self.randomCase(&rng, pooled: true)) }
    }

    @Test("Tile edges: pixels around 4, channels around 16 and 64, depth around 4")
    func tileEdges() {
        var rng = SplitMix(seed: 3)
        for pixels in [1, 3, 4, 5, 8, 9] {
            for channels in [15, 16, 17, 63, 64, 65] {
                for depth in [3, 4, 5, 8] {
                    let g = Conv2DGeometry(batches: 1, inputHeight: 1, inputWidth: pixels, inputChannels: depth,
                                           filterHeight: 1, filterWidth: 1, outputChannels: channels, padding: .valid)
                    let p = FastTest.parameters(channels: channels, perChannel: true, fullyConnected: false, &rng)
                    Self.check(Case(geometry: g, parameters: p, filter: FastTest.int8s(g.convFilterCount, &rng, in: -127...127),
                                    bias: FastTest.biases(channels, &rng), input: FastTest.int8s(g.inputCount, &rng), pool: nil))
                }
            }
        }
    }

    @Test("Both pooling paths run: int32 accumulators when safe, int8 outputs otherwise")
    func poolingPaths() {
        var rng = SplitMix(seed: 4)
        let g = Conv2DGeometry(batches: 2, inputHeight: 9, inputWidth: 8, inputChannels: 3, filterHeight: 2, filterWidth: 2,
                               outputChannels: 20, padding: .same)
        let p = FastTest.parameters(channels: 20, perChannel: true, fullyConnected: false, &rng)
        let pool = FastConv2DInt8.FusedMaxPool(filterHeight: 2, filterWidth: 2, strideHeight: 2, strideWidth: 2)
        let filter = FastTest.int8s(g.convFilterCount, &rng, in: -127...127), input = FastTest.int8s(g.inputCount, &rng)
        for huge in [false, true] {
            var bias = FastTest.biases(20, &rng)
            if huge { bias[7] = Int32.max - 5 }
            let c = Case(geometry: g, parameters: p, filter: filter, bias: bias, input: input, pool: pool)
            #expect(Self.fast(c, backend: .portable, threads: 1)?.poolsAccumulators == !huge)
            Self.check(c)
        }
    }

    @Test("The seed CNN's layers: 28x28x1 -> 64 and 14x14x64 -> 128, 2x2 same, 2x2/2 pool")
    func seedLayers() {
        var rng = SplitMix(seed: 5)
        for (size, cin, cout) in [(28, 1, 64), (14, 64, 128)] {
            let g = Conv2DGeometry(batches: 2, inputHeight: size, inputWidth: size, inputChannels: cin, filterHeight: 2,
                                   filterWidth: 2, outputChannels: cout, padding: .same)
            let p = FastTest.parameters(channels: cout, perChannel: true, fullyConnected: false, &rng)
            let pool = FastConv2DInt8.FusedMaxPool(filterHeight: 2, filterWidth: 2, strideHeight: 2, strideWidth: 2)
            // Which pooled path each AVX-512 backend takes: conv1 (1 channel) fused in registers, conv2
            // (64 channels) the implicit GEMM on AMX and fused in registers on VNNI.
            for backend in FastTest.backends where backend == .avx512vnni || backend == .avx512amx {
                let filter = [Int8](repeating: 1, count: g.convFilterCount), bias = [Int32](repeating: 0, count: cout)
                let kernel = filter.withUnsafeBufferPointer { w in bias.withUnsafeBufferPointer {
                    FastConv2DInt8(filter: w, bias: $0, geometry: g, parameters: p, fusedMaxPool: pool, backend: backend)
                } }
                let implicit = backend == .avx512amx && cin == 64
                #expect(kernel?.readsPaddedInput == implicit, "\(backend) \(cin)")
                #expect(kernel?.fusesPoolInRegisters == !implicit, "\(backend) \(cin)")
            }
            for fused in [nil, pool] {
                Self.check(Case(geometry: g, parameters: p, filter: FastTest.int8s(g.convFilterCount, &rng, in: -127...127),
                                bias: FastTest.biases(cout, &rng), input: FastTest.int8s(g.inputCount, &rng), pool: fused))
            }
        }
    }

    @Test("AMX implicit GEMM (64k input channels, stride 1): filters, paddings, pools, bands, batches, clamps")
    func implicitGEMM() {
        var rng = SplitMix(seed: 6)
        let shapes: [(h: Int, w: Int, cin: Int, fh: Int, fw: Int, cout: Int, padding: PaddingType, pool: (Int, Int, Int))] = [
            (14, 14, 64, 2, 2, 128, .same, (2, 2, 2)), (7, 9, 64, 3, 3, 17, .same, (2, 2, 2)), (9, 8, 128, 3, 3, 33, .valid, (3, 3, 2)),
            (6, 5, 64, 1, 2, 16, .same, (2, 2, 1)), (30, 20, 64, 2, 3, 48, .same, (2, 2, 2)), (5, 13, 192, 2, 2, 64, .valid, (2, 3, 2)),
            (11, 11, 64, 5, 5, 31, .same, (3, 3, 3)),
        ]
        for (index, s) in shapes.enumerated() {
            let g = Conv2DGeometry(batches: 1 + index % 3, inputHeight: s.h, inputWidth: s.w, inputChannels: s.cin,
                                   filterHeight: s.fh, filterWidth: s.fw, outputChannels: s.cout, padding: s.padding)
            let p = FastTest.parameters(channels: s.cout, perChannel: index % 4 != 3, fullyConnected: false, &rng)
            let activation = FastTest.pick([ActivationRange<Int32>(min: -128, max: 127), ActivationRange(min: -20, max: 127)], &rng)
            let pool = FastConv2DInt8.FusedMaxPool(filterHeight: s.pool.0, filterWidth: s.pool.1, strideHeight: s.pool.2,
                                                   strideWidth: s.pool.2, activation: activation)
            let c = Case(geometry: g, parameters: p, filter: FastTest.int8s(g.convFilterCount, &rng, in: -127...127),
                         bias: FastTest.biases(s.cout, &rng), input: FastTest.int8s(g.inputCount, &rng), pool: pool)
            if SIMDBackend.avx512amx.isSupported {
                let kernel = c.filter.withUnsafeBufferPointer {
                    FastConv2DInt8(filter: $0, bias: nil, geometry: g, parameters: p, fusedMaxPool: pool, backend: .avx512amx)
                }
                #expect(kernel?.readsPaddedInput == true, "\(c)")
            }
            Self.check(c)
        }
    }

    @Test("Grouped convolutions are refused")
    func grouped() {
        let g = Conv2DGeometry(batches: 1, inputHeight: 3, inputWidth: 3, inputChannels: 4, filterHeight: 1, filterWidth: 1,
                               filterInputChannels: 2, outputChannels: 4, padding: .valid)
        let p = QuantizedConvParameters(inputZeroPoint: 0, outputZeroPoint: 0, activation: .init(min: -128, max: 127),
                                        requantizers: [ChannelRequantizer(mode: .gemmlowpDouble, doubleScale: 0.01, floatScale: 0.01)])
        let filter = [Int8](repeating: 1, count: g.convFilterCount)
        #expect(filter.withUnsafeBufferPointer { FastConv2DInt8(filter: $0, bias: nil, geometry: g, parameters: p) } == nil)
    }
}
