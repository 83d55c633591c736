import Testing
@testable import Kernels

/// FastHybridFullyConnected / FastHybridConv2D against the reference hybrid kernels: bit-identical floats.
@Suite("Fast hybrid (dynamic-range) FULLY_CONNECTED and CONV_2D")
struct FastHybridKernelTests {
    static func floats(_ count: Int, _ rng: inout SplitMix) -> [Float] {
        // Mostly plain random rows; sometimes rows whose values land on exact .5 ties after scaling.
        switch FastTest.int(0...5, &rng) {
        case 0: return row(count, kind: .symmetricTies, &rng)
        case 1: return row(count, kind: .asymmetricTies, &rng)
        default: break
        }
        let range: ClosedRange<Float> = FastTest.pick([-1...1, -0.2...3, -5 ... -0.5, 0...2], &rng)
        return (0..<count).map { _ in FastTest.int(0...9, &rng) == 0 ? 0 : rng.float(in: range) }
    }

    /// Kinds of rows for the input-quantization tests.
    enum RowKind: CaseIterable {
        /// Uniform in a random range (some zeros).
        case random
        /// A power-of-two step 2^e and one value ±127·2^e, so the symmetric inverse is exactly 2^-e:
        /// the other values are (k + 0.5)·2^e (exact ties, positive and negative), k·2^e, and the
        /// floats just below and above the ties (0.49999997 + 0.5 rounds up to 1 in float).
        case symmetricTies
        /// rmin = -a·2^e and rmax = (255 - a)·2^e, so the asymmetric scale is exactly 2^e and the zero
        /// point a - 128: the other values are ties (k + 0.5)·2^e between them, integers and near-ties.
        case asymmetricTies
        /// All zeros, some of them -0.0.
        case zeros
        /// Huge and special values: ±3e38 (rmax - rmin overflows to inf), ±inf, NaN, subnormals.
        case special
        /// Only subnormal values (scale underflows: factor 0 or an infinite inverse).
        case tiny
        /// A NaN first, then random values (the symmetric scan starts from values[0]).
        case leadingNaN
    }

    static func row(_ count: Int, kind: RowKind, _ rng: inout SplitMix) -> [Float] {
        guard count > 0 else { return [] }
        let step = Float(sign: .plus, exponent: FastTest.int(-8...6, &rng), significand: 1)
        func near(_ v: Float) -> Float {
            switch FastTest.int(0...3, &rng) {
            case 0: return v.nextDown
            case 1: return v.nextUp
            default: return v
            }
        }
        var x: [Float]
        switch kind {
        case .random:
            return floats(count, &rng)
        case .symmetricTies:
            x = (0..<count).map { _ in
                let k = Float(FastTest.int(-127...126, &rng))
                switch FastTest.int(0...5, &rng) {
                case 0: return k * step
                case 1: return near((k + 0.5) * step)
                default: return (k + 0.5) * step
                }
            }
            x[FastTest.int(0...(count - 1), &rng)] = FastTest.pick([127, -127], &rng) * step
        case .asymmetricTies:
            let a = FastTest.pick([0, 255, FastTest.int(0...255, &rng), FastTest.int(0...255, &rng)], &rng)
            x = (0..<count).map { _ in
                let k = Float(FastTest.int(-a...(254 - a), &rng))
                switch FastTest.int(0...5, &rng) {
                case 0: return k * step
                case 1: return near((k + 0.5) * step)
                default: return (k + 0.5) * step
                }
            }
            x[FastTest.int(0...(count - 1), &rng)] = -Float(a) * step
            x[FastTest.int(0...(count - 1), &rng)] = Float(255 - a) * step
        case .zeros:
            return (0..<count).map { _ in FastTest.int(0...2, &rng) == 0 ? -0.0 : 0 }
        case .special:
            let specials: [Float] = [3e38, -3e38, .infinity, -.infinity, .nan, -.nan, .leastNonzeroMagnitude,
                                     -.leastNormalMagnitude, .greatestFiniteMagnitude, 0, -0.0, 1, -2.5]
            x = (0..<count).map { _ in
                FastTest.int(0...2, &rng) == 0 ? FastTest.pick(specials, &rng) : rng.float(in: -10...10)
            }
        case .tiny:
            x = (0..<count).map { _ in
                Float(bitPattern: UInt32(FastTest.int(0...40, &rng)) | (FastTest.int(0...1, &rng) == 0 ? 0 : 0x8000_0000))
            }
        case .leadingNaN:
            x = floats(count, &rng)
            x[0] = .nan
        }
        return x
    }

    /// The row lengths of the input-quantization tests: every length up to 40, and lengths around
    /// multiples of 8, 16 and 64 (the lanes are groups of 8; the kernels' vectors 8, 16, 32, 64).
    static let rowLengths: [Int] = Array(0...40) + [47, 48, 49, 55, 56, 57, 63, 64, 65, 71, 72, 79, 80, 81, 95, 96, 97,
                                                    127, 128, 129, 135, 191, 192, 193, 255, 256, 257, 1023, 1024, 1031, 6272, 12544]

    @Test("Input quantization (symmetric / asymmetric, every lane rounding): fast equals the reference value for value",
          arguments: RowKind.allCases)
    func inputQuantization(kind: RowKind) {
        var rng = SplitMix(seed: 4000 + UInt64(RowKind.allCases.firstIndex(of: kind)!))
        for count in Self.rowLengths {
            for _ in 0..<(count <= 256 ? 3 : 1) {
                let x = Self.row(count, kind: kind, &rng)
                for rounding in HybridInputQuantization.LaneRounding.allCases {
                    for asymmetric in [false, true] {
                        // Sentinels past the row: nothing beyond `count` may be written.
                        var expected = [Int8](repeating: 0x55, count: count + 9)
                        let (refFactor, refZP) = x.withUnsafeBufferPointer { v in expected.withUnsafeMutableBufferPointer { q in
                            asymmetric ? HybridInputQuantization.asymmetric(v, into: q, laneRounding: rounding)
                                       : (HybridInputQuantization.symmetric(v, into: q, laneRounding: rounding), 0)
                        } }
                        for backend in FastTest.backends {
                            var got = [Int8](repeating: 0x55, count: count + 9)
                            let (factor, zp) = x.withUnsafeBufferPointer { v in got.withUnsafeMutableBufferPointer { q in
                                asymmetric ? HybridInputQuantization.asymmetric(v, into: q, laneRounding: rounding, backend: backend)
                                           : (HybridInputQuantization.symmetric(v, into: q, laneRounding: rounding, backend: backend), 0)
                            } }
                            let what = "\(backend) \(kind) count \(count) \(rounding) \(asymmetric ? "asymmetric" : "symmetric")"
                            #expect(FastTest.firstMismatch(got, expected) == nil, "\(what)")
                            #expect(factor.bitPattern == refFactor.bitPattern && zp == refZP,
                                    "\(what): factor \(factor) zp \(zp), reference \(refFactor) \(refZP)")
                        }
                    }
                }
            }
        }
    }

    @Test("Input quantization: the lanes and the tail round a tie differently, on every backend")
    func inputQuantizationTies() {
        // Symmetric, inverse exactly 1: 2.5 in the lanes (index 1, 2) and in the tail (index 9, 10);
        // 0.49999997 + 0.5 rounds to 1 in float, so the add-half lane gives 1.
        let row: [Float] = [127, 2.5, -2.5, 0.49999997, 0, 0, 0, 0, 0, 2.5, -2.5]
        let expected: [HybridInputQuantization.LaneRounding: [Int8]] = [
            .addHalfAndTruncate: [127, 3, -3, 1, 0, 0, 0, 0, 0, 3, -3],
            .tiesToEven: [127, 2, -2, 0, 0, 0, 0, 0, 0, 3, -3],
            .halfAwayFromZero: [127, 3, -3, 0, 0, 0, 0, 0, 0, 3, -3],
        ]
        // Asymmetric, scale exactly 1 and zero point -1 (rmin -127, rmax 128): lanes and tail again.
        let asymmetricRow: [Float] = [-127, 128, 2.5, -2.5, -0.5, 0, 0, 0, 2.5, -2.5, -0.5]
        let expectedAsymmetric: [HybridInputQuantization.LaneRounding: [Int8]] = [
            .addHalfAndTruncate: [-128, 127, 2, -4, -2, -1, -1, -1, 2, -4, -2],
            .tiesToEven: [-128, 127, 1, -3, -1, -1, -1, -1, 2, -4, -2],
            .halfAwayFromZero: [-128, 127, 2, -4, -2, -1, -1, -1, 2, -4, -2],
        ]
        for backend in FastTest.backends {
            for rounding in HybridInputQuantization.LaneRounding.allCases {
                var q = [Int8](repeating: 0, count: row.count)
                let factor = row.withUnsafeBufferPointer { r in q.withUnsafeMutableBufferPointer {
                    HybridInputQuantization.symmetric(r, into: $0, laneRounding: rounding, backend: backend)
                } }
                #expect(factor == 1)
                #expect(q == expected[rounding], "\(backend) \(rounding)")
                var qa = [Int8](repeating: 0, count: asymmetricRow.count)
                let (scale, zp) = asymmetricRow.withUnsafeBufferPointer { r in qa.withUnsafeMutableBufferPointer {
                    HybridInputQuantization.asymmetric(r, into: $0, laneRounding: rounding, backend: backend)
                } }
                #expect(scale == 1 && zp == -1)
                #expect(qa == expectedAsymmetric[rounding], "\(backend) \(rounding) asymmetric")
            }
        }
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

    @Test("FULLY_CONNECTED and CONV_2D on zero, tie, special and NaN rows: bit-identical to the reference",
          arguments: RowKind.allCases)
    func specialRows(kind: RowKind) {
        var rng = SplitMix(seed: 7000 + UInt64(RowKind.allCases.firstIndex(of: kind)!))
        for _ in 0..<6 {
            // FULLY_CONNECTED: each row of its own kind, or zeros (the all-zero early exit, with NaN rows too).
            let g = FullyConnectedGeometry(batches: FastTest.int(1...3, &rng), accumDepth: FastTest.pick([7, 8, 9, 16, 17, 63, 64, 65, 200], &rng),
                                           outputDepth: FastTest.pick([1, 10, 16, 33], &rng))
            let weights = FastTest.int8s(g.outputDepth * g.accumDepth, &rng, in: -127...127)
            let perChannel = FastTest.int(0...1, &rng) == 0
            let scales = (0..<(perChannel ? g.outputDepth : 1)).map { _ in FastTest.scale(-10 ... -4, &rng) }
            let bias = (0..<g.outputDepth).map { _ in FastTest.int(0...4, &rng) == 0 ? -0.0 : rng.float(in: -1...1) }
            let p = weights.withUnsafeBufferPointer {
                HybridFullyConnectedParameters(weights: $0, geometry: g, weightScales: scales, asymmetricInputs: FastTest.int(0...1, &rng) == 0,
                                               activation: FastTest.pick(FusedActivation.allCases, &rng),
                                               laneRounding: FastTest.pick(HybridInputQuantization.LaneRounding.allCases, &rng))
            }
            let input = (0..<g.batches).flatMap { _ in
                Self.row(g.accumDepth, kind: FastTest.int(0...2, &rng) == 0 ? .zeros : kind, &rng)
            }
            var expected = [Float](repeating: 0, count: g.batches * g.outputDepth)
            var refScratch = [Int8](repeating: 0, count: g.accumDepth)
            input.withUnsafeBufferPointer { x in weights.withUnsafeBufferPointer { w in expected.withUnsafeMutableBufferPointer { y in
                refScratch.withUnsafeMutableBufferPointer { s in bias.withUnsafeBufferPointer {
                    ReferenceKernels.hybridFullyConnected(input: x, weights: w, bias: $0, output: y, geometry: g, parameters: p, scratch: s)
                } } } } }
            for backend in FastTest.backends {
                let kernel = weights.withUnsafeBufferPointer { w in bias.withUnsafeBufferPointer {
                    FastHybridFullyConnected(weights: w, bias: $0, geometry: g, parameters: p, backend: backend)
                } }
                var got = [Float](repeating: .nan, count: g.batches * g.outputDepth)
                FastTest.withScratch(kernel.scratchByteCount(batches: g.batches)) { scratch in
                    input.withUnsafeBufferPointer { x in got.withUnsafeMutableBufferPointer { y in
                        kernel.run(input: x, output: y, batches: g.batches, scratch: scratch)
                    } }
                }
                #expect(FastTest.firstMismatch(got.map(\.bitPattern), expected.map(\.bitPattern)) == nil,
                        "FC \(backend) \(kind) \(g) perChannel \(perChannel) asymmetric \(p.asymmetricInputs)")
            }

            // CONV_2D: images of this kind (sizes around multiples of 8).
            let cin = FastTest.pick([1, 3, 8], &rng), cout = FastTest.pick([1, 7, 16, 17], &rng)
            let cg = Conv2DGeometry(batches: FastTest.int(1...2, &rng), inputHeight: FastTest.int(1...6, &rng), inputWidth: FastTest.int(1...6, &rng),
                                    inputChannels: cin, filterHeight: 2, filterWidth: 2, outputChannels: cout,
                                    strideHeight: 1, strideWidth: 1, padding: FastTest.pick(PaddingType.allCases, &rng))
            let convPerChannel = FastTest.int(0...1, &rng) == 0
            let cp = HybridConvParameters(weightScales: (0..<(convPerChannel ? cout : 1)).map { _ in FastTest.scale(-10 ... -4, &rng) },
                                          activation: FastTest.pick(FusedActivation.allCases, &rng),
                                          laneRounding: FastTest.pick(HybridInputQuantization.LaneRounding.allCases, &rng))
            let filter = FastTest.int8s(cg.convFilterCount, &rng, in: -127...127)
            let convBias: [Float]? = FastTest.int(0...2, &rng) == 0 ? nil : (0..<cout).map { _ in FastTest.int(0...4, &rng) == 0 ? -0.0 : rng.float(in: -1...1) }
            let imageSize = cg.inputHeight * cg.inputWidth * cin
            let image = (0..<cg.batches).flatMap { _ in Self.row(imageSize, kind: kind, &rng) }
            var convExpected = [Float](repeating: 0, count: cg.outputCount)
            var convScratch = [Int8](repeating: 0, count: imageSize)
            image.withUnsafeBufferPointer { x in filter.withUnsafeBufferPointer { w in convExpected.withUnsafeMutableBufferPointer { y in
                convScratch.withUnsafeMutableBufferPointer { s in
                    if let convBias {
                        convBias.withUnsafeBufferPointer {
                            ReferenceKernels.hybridConv2D(input: x, filter: w, bias: $0, output: y, geometry: cg, parameters: cp, scratch: s)
                        }
                    } else {
                        ReferenceKernels.hybridConv2D(input: x, filter: w, bias: nil, output: y, geometry: cg, parameters: cp, scratch: s)
                    }
                } } } }
            for backend in FastTest.backends {
                let kernel = filter.withUnsafeBufferPointer { w in
                    convBias.map { b in b.withUnsafeBufferPointer { FastHybridConv2D(filter: w, bias: $0, geometry: cg, parameters: cp, backend: backend) } }
                        ?? FastHybridConv2D(filter: w, bias: nil, geometry: cg, parameters: cp, backend: backend)
                }
                guard let kernel else {
                    Issue.record("FastHybridConv2D refused \(cg)")
                    return
                }
                var got = [Float](repeating: .nan, count: cg.outputCount)
                FastTest.withScratch(kernel.scratchByteCount(batches: cg.batches)) { scratch in
                    image.withUnsafeBufferPointer { x in got.withUnsafeMutableBufferPointer { y in
                        kernel.run(input: x, output: y, batches: cg.batches, scratch: scratch)
                    } }
                }
                #expect(FastTest.firstMismatch(got.map(\.bitPattern), convExpected.map(\.bitPattern)) == nil,
                        "CONV \(backend) \(kind) \(cg) perChannel \(convPerChannel)")
            }
        }
    }

    @Test("CONV_2D with a fused MAX_POOL_2D: bit-identical to the reference conv, then the reference pool", arguments: 0..<4)
    func convolutionWithPool(seed: UInt64) {
        var rng = SplitMix(seed: 8000 + seed)
        for i in 0..<20 {
            // 64 and 128 input channels at stride 1 take the AMX backend's implicit GEMM.
            let cin = FastTest.pick([1, 3, 8, 17, 64, 128], &rng), cout = FastTest.pick([1, 7, 16, 17, 33, 64], &rng)
            let implicit = cin >= 64
            let g = Conv2DGeometry(batches: FastTest.int(1...3, &rng), inputHeight: FastTest.int(implicit ? 2...30 : 1...12, &rng),
                                   inputWidth: FastTest.int(implicit ? 2...20 : 1...12, &rng), inputChannels: cin,
                                   filterHeight: FastTest.int(1...3, &rng), filterWidth: FastTest.int(implicit ? 2...3 : 1...3, &rng),
                                   outputChannels: cout, strideHeight: implicit ? 1 : FastTest.int(1...2, &rng),
                                   strideWidth: implicit ? 1 : FastTest.int(1...2, &rng),
                                   padding: FastTest.pick(PaddingType.allCases, &rng))
            // Non-overlapping, overlapping (stride < filter) and gapped (stride > filter) windows.
            let (fh, fw, sh, sw) = FastTest.pick([(2, 2, 2, 2), (2, 2, 2, 2), (3, 3, 2, 2), (2, 2, 1, 1), (1, 1, 1, 1),
                                                   (3, 2, 1, 3), (1, 2, 3, 2)], &rng)
            let pool = FastHybridConv2D.FusedMaxPool(filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw,
                                                     activation: FastTest.pick(FusedActivation.allCases, &rng).floatRange)
            let perChannel = FastTest.int(0...1, &rng) == 0
            let p = HybridConvParameters(weightScales: (0..<(perChannel ? cout : 1)).map { _ in FastTest.scale(-10 ... -4, &rng) },
                                         activation: FastTest.pick(FusedActivation.allCases, &rng),
                                         laneRounding: FastTest.pick(HybridInputQuantization.LaneRounding.allCases, &rng))
            let filter = FastTest.int8s(g.convFilterCount, &rng, in: -127...127)
            let bias: [Float]? = FastTest.int(0...3, &rng) == 0 ? nil
                : (0..<cout).map { _ in FastTest.int(0...4, &rng) == 0 ? -0.0 : rng.float(in: -1...1) }
            let imageSize = g.inputHeight * g.inputWidth * cin
            let kind = i % 5 == 4 ? FastTest.pick([RowKind.special, .leadingNaN, .zeros], &rng) : .random
            let input = (0..<g.batches).flatMap { _ in Self.row(imageSize, kind: kind, &rng) }
            // The reference pair: hybridConv2D, then maxPool2D (VALID) with the pool's clamp.
            var conv = [Float](repeating: 0, count: g.outputCount)
            var refScratch = [Int8](repeating: 0, count: imageSize)
            input.withUnsafeBufferPointer { x in filter.withUnsafeBufferPointer { w in conv.withUnsafeMutableBufferPointer { y in
                refScratch.withUnsafeMutableBufferPointer { s in
                    if let bias {
                        bias.withUnsafeBufferPointer {
                            ReferenceKernels.hybridConv2D(input: x, filter: w, bias: $0, output: y, geometry: g, parameters: p, scratch: s)
                        }
                    } else {
                        ReferenceKernels.hybridConv2D(input: x, filter: w, bias: nil, output: y, geometry: g, parameters: p, scratch: s)
                    }
                } } } }
            let pg = Conv2DGeometry(batches: g.batches, inputHeight: g.outputHeight, inputWidth: g.outputWidth,
                                    inputChannels: cout, filterHeight: fh, filterWidth: fw, outputChannels: cout,
                                    strideHeight: sh, strideWidth: sw, padding: .valid)
            let pooledCount = g.outputHeight >= fh && g.outputWidth >= fw ? pg.outputCount : 0
            var expected = [Float](repeating: 0, count: pooledCount)
            if pooledCount > 0 {
                conv.withUnsafeBufferPointer { x in expected.withUnsafeMutableBufferPointer { y in
                    ReferenceKernels.maxPool2D(input: x, output: y, geometry: pg, activation: pool.activation)
                } }
            }
            for backend in FastTest.backends {
                let kernel = filter.withUnsafeBufferPointer { w in
                    bias.map { b in b.withUnsafeBufferPointer {
                        FastHybridConv2D(filter: w, bias: $0, geometry: g, parameters: p, fusedMaxPool: pool, backend: backend)
                    } } ?? FastHybridConv2D(filter: w, bias: nil, geometry: g, parameters: p, fusedMaxPool: pool, backend: backend)
                }
                guard let kernel else {
                    Issue.record("FastHybridConv2D refused \(g)")
                    return
                }
                #expect(kernel.outputCount(batches: g.batches) == pooledCount)
                if backend == .avx512amx && pooledCount > 0 {
                    #expect(kernel.readsPaddedInput == implicit, "\(g)")
                }
                for threads in [1, 2] {
                    var got = [Float](repeating: .nan, count: pooledCount)
                    FastTest.withScratch(kernel.scratchByteCount(batches: g.batches, threads: threads)) { scratch in
                        input.withUnsafeBufferPointer { x in got.withUnsafeMutableBufferPointer { y in
                            kernel.run(input: x, output: y, batches: g.batches, scratch: scratch, threads: threads)
                        } }
                    }
                    #expect(FastTest.firstMismatch(got.map(\.bitPattern), expected.map(\.bitPattern)) == nil,
                            "\(backend) threads \(threads) \(g) pool \(fh)x\(fw)/\(sh)x\(sw) perChannel \(perChannel) \(kind)")
                }
            }
        }
    }
}
