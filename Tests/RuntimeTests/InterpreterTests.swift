import Foundation
import Kernels
import Runtime
import TensorCore
import Testing

/// Small hand-made graphs, checked against naive math and against direct kernel calls.
@Suite("Interpreter")
struct InterpreterTests {
    // MARK: - Fixtures

    /// A seeded generator for test data.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func float(_ range: ClosedRange<Float>) -> Float {
            range.lowerBound + Float(next() >> 40) / Float(1 << 24) * (range.upperBound - range.lowerBound)
        }
        mutating func floats(_ n: Int, _ range: ClosedRange<Float>) -> [Float] { (0..<n).map { _ in float(range) } }
        mutating func int8s(_ n: Int, _ range: ClosedRange<Int8>) -> [Int8] {
            (0..<n).map { _ in Int8(Int(range.lowerBound) + Int(next() % UInt64(Int(range.upperBound) - Int(range.lowerBound) + 1))) }
        }
    }

    /// x [1,5,5,2] → CONV_2D 3×3 (3 filters, SAME, RELU) → MAX_POOL 2×2/2 (SAME) → RESHAPE [1,27]
    /// → FULLY_CONNECTED 4 → SOFTMAX; plus a DEPTHWISE_CONV/AVERAGE_POOL/MEAN/ADD branch on the conv output.
    static func floatGraph(seed: UInt64 = 1) -> (graph: Graph, weights: [String: [Float]]) {
        var g = Generator(state: seed)
        let w = g.floats(3 * 3 * 3 * 2, -1...1), b = g.floats(3, -0.5...0.5)
        let fw = g.floats(4 * 27, -1...1), fb = g.floats(4, -0.2...0.2)
        let dw = g.floats(3 * 3 * 6, -1...1)
        let t: [GraphTensor] = [
            GraphTensor(name: "x", shape: [1, 5, 5, 2], elementType: .float32),                                    // 0
            GraphTensor(name: "w", shape: [3, 3, 3, 2], elementType: .float32, data: ConstantData(float32: w)),   // 1
            GraphTensor(name: "b", shape: [3], elementType: .float32, data: ConstantData(float32: b)),            // 2
            GraphTensor(name: "conv", shape: [1, 5, 5, 3], elementType: .float32),                                // 3
            GraphTensor(name: "pool", shape: [1, 3, 3, 3], elementType: .float32),                                // 4
            GraphTensor(name: "shape", shape: [2], elementType: .int32, data: ConstantData(int32: [-1, 27])),     // 5
            GraphTensor(name: "flat", shape: [1, 27], elementType: .float32),                                     // 6
            GraphTensor(name: "fw", shape: [4, 27], elementType: .float32, data: ConstantData(float32: fw)),      // 7
            GraphTensor(name: "fb", shape: [4], elementType: .float32, data: ConstantData(float32: fb)),          // 8
            GraphTensor(name: "logits", shape: [1, 4], elementType: .float32),                                    // 9
            GraphTensor(name: "probs", shape: [1, 4], elementType: .float32),                                     // 10
            GraphTensor(name: "dw", shape: [1, 3, 3, 6], elementType: .float32, data: ConstantData(float32: dw)), // 11
            GraphTensor(name: "dconv", shape: [1, 3, 3, 6], elementType: .float32),                               // 12
            GraphTensor(name: "avg", shape: [1, 3, 3, 6], elementType: .float32),                                 // 13
            GraphTensor(name: "sum", shape: [1, 3, 3, 6], elementType: .float32),                                 // 14
            GraphTensor(name: "axes", shape: [2], elementType: .int32, data: ConstantData(int32: [1, 2])),        // 15
            GraphTensor(name: "mean", shape: [1, 6], elementType: .float32),                                      // 16
        ]
        let ops: [GraphOperator] = [
            GraphOperator(.conv2D(.init(padding: .same, fusedActivation: .relu)), inputs: [0, 1, 2], outputs: [3]),
            GraphOperator(.maxPool2D(.init(padding: .same, strideWidth: 2, strideHeight: 2, filterWidth: 2, filterHeight: 2)),
                          inputs: [3], outputs: [4]),
            GraphOperator(.reshape(.init()), inputs: [4, 5], outputs: [6]),
            GraphOperator(.fullyConnected(.init()), inputs: [6, 7, 8], outputs: [9]),
            GraphOperator(.softmax(.init(beta: 1)), inputs: [9], outputs: [10]),
            GraphOperator(.depthwiseConv2D(.init(padding: .same, depthMultiplier: 2)), inputs: [4, 11, -1], outputs: [12]),
            GraphOperator(.averagePool2D(.init(padding: .same, strideWidth: 1, strideHeight: 1, filterWidth: 2, filterHeight: 2)),
                          inputs: [12], outputs: [13]),
            GraphOperator(.add(.init(fusedActivation: .relu6)), inputs: [12, 13], outputs: [14]),
            GraphOperator(.mean(.init(keepDims: false)), inputs: [14, 15], outputs: [16]),
        ]
        return (Graph(tensors: t, operators: ops, inputs: [0], outputs: [10, 16]),
                ["w": w, "b": b, "fw": fw, "fb": fb, "dw": dw])
    }

    /// Naive double-precision NHWC helpers.
    static func naiveConv(_ x: [Double], h: Int, w: Int, c: Int, filter: [Double], k: Int, out: Int, bias: [Double]?,
                          depthwise: Bool = false) -> [Double] {
        // SAME, stride 1: pad_before = (k - 1) / 2.
        let pad = (k - 1) / 2
        var y = [Double](repeating: 0, count: h * w * out)
        for oy in 0..<h { for ox in 0..<w { for o in 0..<out {
            var s = bias?[o] ?? 0
            for ky in 0..<k { for kx in 0..<k {
                let iy = oy - pad + ky, ix = ox - pad + kx
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                if depthwise {
                    s += x[(iy * w + ix) * c + o / (out / c)] * filter[(ky * k + kx) * out + o]
                } else {
                    for i in 0..<c { s += x[(iy * w + ix) * c + i] * filter[((o * k + ky) * k + kx) * c + i] }
                }
            } }
            y[(oy * w + ox) * out + o] = s
        } } }
        return y
    }

    static func naivePool(_ x: [Double], h: Int, w: Int, c: Int, k: Int, stride: Int, average: Bool) -> (y: [Double], oh: Int, ow: Int) {
        let oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride
        let padH = max((oh - 1) * stride + k - h, 0) / 2, padW = max((ow - 1) * stride + k - w, 0) / 2
        var y = [Double](repeating: 0, count: oh * ow * c)
        for oy in 0..<oh { for ox in 0..<ow { for ch in 0..<c {
            var m = -Double.infinity, s = 0.0, n = 0.0
            for ky in 0..<k { for kx in 0..<k {
                let iy = oy * stride - padH + ky, ix = ox * stride - padW + kx
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                let v = x[(iy * w + ix) * c + ch]
                m = max(m, v); s += v; n += 1
            } }
            y[(oy * ow + ox) * c + ch] = average ? s / n : m
        } } }
        return (y, oh, ow)
    }

    // MARK: - Float ops vs naive math

    @Test func floatGraphMatchesNaiveMath() throws {
        let (graph, p) = Self.floatGraph()
        let interpreter = try Interpreter(graph: graph)
        var g = Generator(state: 99)
        let x = g.floats(50, -1...1)
        var probs = [Float](repeating: 0, count: 4), mean = [Float](repeating: 0, count: 6)
        try x.withUnsafeBytes { i in
            try probs.withUnsafeMutableBytes { o1 in
                try mean.withUnsafeMutableBytes { o2 in try interpreter.run(inputs: [i], count: 1, outputs: [o1, o2]) }
            }
        }
        let d = { (a: [Float]) in a.map(Double.init) }
        let conv = Self.naiveConv(d(x), h: 5, w: 5, c: 2, filter: d(p["w"]!), k: 3, out: 3, bias: d(p["b"]!)).map { max($0, 0) }
        let (pool, _, _) = Self.naivePool(conv, h: 5, w: 5, c: 3, k: 2, stride: 2, average: false)
        let fw = d(p["fw"]!), fb = d(p["fb"]!)
        var logits = [Double](repeating: 0, count: 4)
        for n in 0..<4 {
            var s: Double = fb[n]
            for k in 0..<27 { s += pool[k] * fw[n * 27 + k] }
            logits[n] = s
        }
        let top: Double = logits.max()!
        let e: [Double] = logits.map { exp($0 - top) }
        let total: Double = e.reduce(0, +)
        let expected: [Double] = e.map { $0 / total }
        for k in 0..<4 { #expect(abs(Double(probs[k]) - expected[k]) < 1e-5, "probability \(k)") }
        let dconv = Self.naiveConv(pool, h: 3, w: 3, c: 3, filter: d(p["dw"]!), k: 3, out: 6, bias: nil, depthwise: true)
        let (avg, _, _) = Self.naivePool(dconv, h: 3, w: 3, c: 6, k: 2, stride: 1, average: true)
        let sum: [Double] = zip(dconv, avg).map { min(max($0 + $1, 0), 6) }
        for c in 0..<6 {
            var m = 0.0
            for k in 0..<9 { m += sum[k * 6 + c] }
            m /= 9
            #expect(abs(Double(mean[c]) - m) < 1e-5, "mean channel \(c)")
        }
    }

    // MARK: - Int8 chain vs direct kernel calls

    /// QUANTIZE → CONV_2D (per-channel, RELU) → MAX_POOL → RESHAPE → FULLY_CONNECTED (per-tensor)
    /// → SOFTMAX → DEQUANTIZE, with random weights.
    static func int8Graph(seed: UInt64 = 7) -> Graph {
        var g = Generator(state: seed)
        let act = GraphTensor.Quantization(scale: 0.05, zeroPoint: -10)
        let wScales: [Float] = [0.01, 0.02, 0.015]
        let t: [GraphTensor] = [
            GraphTensor(name: "x", shape: [1, 6, 6, 2], elementType: .float32),
            GraphTensor(name: "xq", shape: [1, 6, 6, 2], elementType: .int8, quantization: .init(scale: 0.01, zeroPoint: 3)),
            GraphTensor(name: "w", shape: [3, 2, 2, 2], elementType: .int8,
                        quantization: .init(scales: wScales, zeroPoints: [0, 0, 0], quantizedDimension: 0),
                        data: ConstantData(int8: g.int8s(24, -127...127))),
            GraphTensor(name: "b", shape: [3], elementType: .int32,
                        quantization: .init(scales: wScales.map { $0 * 0.01 }, zeroPoints: [0, 0, 0]),
                        data: ConstantData(int32: [100, -250, 40])),
            GraphTensor(name: "conv", shape: [1, 3, 3, 3], elementType: .int8, quantization: act),
            GraphTensor(name: "pool", shape: [1, 2, 2, 3], elementType: .int8, quantization: act),
            GraphTensor(name: "flat", shape: [1, 12], elementType: .int8, quantization: act),
            GraphTensor(name: "fw", shape: [4, 12], elementType: .int8, quantization: .init(scale: 0.02, zeroPoint: 0),
                        data: ConstantData(int8: g.int8s(48, -127...127))),
            GraphTensor(name: "fb", shape: [4], elementType: .int32, quantization: .init(scale: 0.001, zeroPoint: 0),
                        data: ConstantData(int32: [5, -7, 11, 0])),
            GraphTensor(name: "logits", shape: [1, 4], elementType: .int8, quantization: .init(scale: 0.1, zeroPoint: 0)),
            GraphTensor(name: "probs", shape: [1, 4], elementType: .int8, quantization: .init(scale: 1.0 / 256, zeroPoint: -128)),
            GraphTensor(name: "out", shape: [1, 4], elementType: .float32),
        ]
        let ops: [GraphOperator] = [
            GraphOperator(.quantize, inputs: [0], outputs: [1]),
            GraphOperator(.conv2D(.init(padding: .valid, strideWidth: 2, strideHeight: 2, fusedActivation: .relu)),
                          inputs: [1, 2, 3], outputs: [4], version: 3),
            GraphOperator(.maxPool2D(.init(padding: .same, strideWidth: 2, strideHeight: 2, filterWidth: 2, filterHeight: 2)),
                          inputs: [4], outputs: [5], version: 2),
            GraphOperator(.reshape(.init(newShape: [-1, 12])), inputs: [5], outputs: [6]),
            GraphOperator(.fullyConnected(.init()), inputs: [6, 7, 8], outputs: [9], version: 4),
            GraphOperator(.softmax(.init(beta: 1)), inputs: [9], outputs: [10], version: 2),
            GraphOperator(.dequantize, inputs: [10], outputs: [11], version: 2),
        ]
        return Graph(tensors: t, operators: ops, inputs: [0], outputs: [11])
    }

    @Test func int8ChainMatchesDirectKernelCalls() throws {
        let graph = Self.int8Graph()
        let interpreter = try Interpreter(graph: graph, options: InterpreterOptions(preservesIntermediates: true))
        var g = Generator(state: 5)
        let x = g.floats(72, -1.2...1.2)
        let out: [Float] = try interpreter.run(x)

        // The same chain by hand, with the parameters BUILTIN_REF uses.
        let t = graph.tensors
        func affine(_ i: Int) -> AffineQuantization {
            AffineQuantization(scale: t[i].quantization!.scales[0], zeroPoint: Int32(t[i].quantization!.zeroPoints[0]))
        }
        let w = t[2].data!.int8Values(), b = t[3].data!.int32Values(), fw = t[7].data!.int8Values(), fb = t[8].data!.int32Values()
        /// `count` outputs computed by `body(input, output)`.
        func apply<In, Out: BitwiseCopyable>(_ input: [In], _ count: Int, _ zero: Out,
                                             _ body: (UnsafeBufferPointer<In>, UnsafeMutableBufferPointer<Out>) -> Void) -> [Out] {
            var out = [Out](repeating: zero, count: count)
            input.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer { o in body(i, o) } }
            return out
        }
        let xq = apply(x, 72, Int8(0)) { ReferenceKernels.quantize($0, output: $1, parameters: affine(1)) }
        let convParameters = QuantizedConvParameters.convolution(input: affine(1), weightScales: t[2].quantization!.scales,
                                                                output: affine(4), activation: .relu)
        let geometry = Conv2DGeometry(batches: 1, inputHeight: 6, inputWidth: 6, inputChannels: 2, filterHeight: 2, filterWidth: 2,
                                      outputChannels: 3, strideHeight: 2, strideWidth: 2, padding: .valid)
        let conv = apply(xq, 27, Int8(0)) { i, o in
            w.withUnsafeBufferPointer { w in
                b.withUnsafeBufferPointer { b in
                    ReferenceKernels.conv2D(input: i, filter: w, bias: b, output: o, geometry: geometry, parameters: convParameters)
                }
            }
        }
        let poolGeometry = Conv2DGeometry(batches: 1, inputHeight: 3, inputWidth: 3, inputChannels: 3, filterHeight: 2, filterWidth: 2,
                                          outputChannels: 3, strideHeight: 2, strideWidth: 2, padding: .same)
        let pool = apply(conv, 12, Int8(0)) {
            ReferenceKernels.maxPool2D(input: $0, output: $1, geometry: poolGeometry, activation: ActivationRange(min: -128, max: 127))
        }
        let fcParameters = QuantizedConvParameters.fullyConnected(input: affine(6), weightScales: [0.02], output: affine(9), activation: .none)
        let logits = apply(pool, 4, Int8(0)) { i, o in
            fw.withUnsafeBufferPointer { fw in
                fb.withUnsafeBufferPointer { fb in
                    ReferenceKernels.fullyConnected(input: i, weights: fw, bias: fb, output: o,
                                                    geometry: FullyConnectedGeometry(batches: 1, accumDepth: 12, outputDepth: 4),
                                                    parameters: fcParameters)
                }
            }
        }
        let probs = apply(logits, 4, Int8(0)) {
            ReferenceKernels.softmax(input: $0, output: $1, depth: 4, parameters: QuantizedSoftmaxParameters(inputScale: 0.1))
        }
        let expected = apply(probs, 4, Float(0)) { ReferenceKernels.dequantize($0, output: $1, parameters: affine(10)) }
        #expect(out == expected)
        #expect(try interpreter.intermediate(4).data!.int8Values() == conv)
        #expect(try interpreter.intermediate(9).data!.int8Values() == logits)
        #expect(try interpreter.intermediate(1).data!.int8Values() == xq)
        #expect(conv.contains { $0 != conv[0] }, "a non-trivial fixture")
        // The int8 result is close to the float computation it approximates.
        #expect(abs(expected.reduce(0, +) - 1) < 0.05)
    }

    // MARK: - Intermediates

    @Test func intermediatesNeedPreservationUnlessKept() throws {
        let graph = Self.int8Graph()
        let plain = try Interpreter(graph: graph)
        var g = Generator(state: 3)
        let x = g.floats(72 * 3, -1...1)
        let _: [Float] = try plain.run(x)
        // The graph output and constants are always readable; a reused activation is not.
        #expect(try plain.intermediate(11).shape == [3, 4])
        #expect(try plain.intermediate(2).data == graph.tensors[2].data)
        #expect(throws: InterpreterError.self) { try plain.intermediate(4) }
        do { _ = try plain.intermediate(4) } catch { #expect(error.kind == .notPreserved) }
        #expect(throws: InterpreterError.self) { try plain.intermediate(99) }

        let kept = try Interpreter(graph: graph, options: InterpreterOptions(preservesIntermediates: true))
        let _: [Float] = try kept.run(x)
        let all = try kept.intermediates()
        #expect(Set(all.keys) == [0, 1, 4, 5, 6, 9, 10, 11])
        #expect(all[4]!.shape == [3, 3, 3, 3], "the last chunk's three samples")
        #expect(all[11]!.data!.float32Values() == (try plain.intermediate(11)).data!.float32Values())
    }

    // MARK: - Batches

    @Test(arguments: ["seed_int8", "seed_dynamic", "seed_float16"])
    func batchOfNEqualsNSingleRuns(_ model: String) throws {
        let graph = try SharedFiles.model(model)
        let single = try Interpreter(graph: graph, options: InterpreterOptions(batchCapacity: 1))
        let batched = try Interpreter(graph: graph, options: InterpreterOptions(batchCapacity: 8, threadCount: 2))
        #expect(single.batchCapacity == 1 && batched.batchCapacity == 8 && batched.threadCount == 2)
        let sample = single.inputTensor.byteCount
        var input = try SharedFiles.bytes(model == "seed_int8" ? "seed_int8.input.i8.bin" : "input.f32.bin")
        input = Array(input[0..<(21 * sample)])
        // An all-zero sample in the middle (hybrid kernels special-case an all-zero input).
        let zero: UInt8 = model == "seed_int8" ? UInt8(bitPattern: -128) : 0
        for k in (9 * sample)..<(10 * sample) { input[k] = model == "seed_int8" ? zero : 0 }
        let outBytes = single.outputTensor.byteCount
        var one = [UInt8](repeating: 0, count: 21 * outBytes)
        for s in 0..<21 {
            try input[(s * sample)..<((s + 1) * sample)].withUnsafeBytes { i in
                try one[(s * outBytes)..<((s + 1) * outBytes)].withUnsafeMutableBytes { o in try single.run(input: i, count: 1, output: o) }
            }
        }
        var many = [UInt8](repeating: 0, count: 21 * outBytes)
        var reported: [Int] = []
        try input.withUnsafeBytes { i in
            try many.withUnsafeMutableBytes { o in try batched.run(input: i, count: 21, output: o, progress: { reported.append($0) }) }
        }
        #expect(many == one)
        #expect(reported.last == 21)
    }

    // MARK: - Errors

    @Test func wrongInputSizeIsAClearError() throws {
        let interpreter = try Interpreter(graph: Self.int8Graph())
        var out = [Float](repeating: 0, count: 8)
        let input = [Float](repeating: 0, count: 100)
        do {
            try input.withUnsafeBytes { i in try out.withUnsafeMutableBytes { o in try interpreter.run(input: i, count: 2, output: o) } }
            Issue.record("expected an error")
        } catch let error as InterpreterError {
            #expect(error.kind == .inputSize)
            #expect(error.tensorIndex == 0)
            #expect(error.message.contains("576") && error.message.contains("400"), "\(error.message)")
        }
        do {
            let _: [Float] = try interpreter.run([Float](repeating: 0, count: 73))
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .inputSize)
            #expect(error.message.contains("73") && error.message.contains("72"), "\(error.message)")
        }
        do {
            let _: [Int8] = try interpreter.run([Float](repeating: 0, count: 72))
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .typeMismatch)
        }
        do {
            try input.withUnsafeBytes { i in
                try out.withUnsafeMutableBytes { o in try interpreter.run(input: UnsafeRawBufferPointer(rebasing: i[0..<288]), count: 1, output: o) }
            }
            Issue.record("expected an error")
        } catch let error as InterpreterError {
            #expect(error.kind == .outputSize)
        }
    }

    @Test func unsupportedOperatorsAreNamedAtPrepare() throws {
        // Hybrid depthwise convolution: no reference kernel.
        let t: [GraphTensor] = [
            GraphTensor(name: "x", shape: [1, 4, 4, 2], elementType: .float32),
            GraphTensor(name: "dw", shape: [1, 3, 3, 2], elementType: .int8, quantization: .init(scales: [0.1, 0.2], zeroPoints: [0, 0], quantizedDimension: 3),
                        data: ConstantData(int8: [Int8](repeating: 1, count: 18))),
            GraphTensor(name: "y", shape: [1, 4, 4, 2], elementType: .float32),
        ]
        let graph = Graph(tensors: t, operators: [GraphOperator(.depthwiseConv2D(.init(padding: .same)), inputs: [0, 1, -1], outputs: [2])],
                          inputs: [0], outputs: [2])
        do {
            _ = try Interpreter(graph: graph)
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .unsupported)
            #expect(error.operatorIndex == 0)
            #expect(error.message.contains("operator 0 (DEPTHWISE_CONV_2D)"), "\(error.message)")
        }
        // An invalid graph is reported as such.
        var broken = Self.int8Graph()
        broken.operators[1].inputs[1] = 42
        do {
            _ = try Interpreter(graph: broken)
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .invalidGraph)
        }
    }

    // MARK: - Memory planning

    @Test func memoryPlanReusesBuffers() throws {
        let interpreter = try Interpreter(graph: try SharedFiles.model("seed_float"), options: InterpreterOptions(batchCapacity: 4))
        let plan = interpreter.memoryPlan
        // Sum of the intermediate (and input/output) tensors vs the arena.
        #expect(plan.arenaByteCount < plan.totalTensorByteCount)
        #expect(plan.arenaByteCount <= plan.totalTensorByteCount * 2 / 3, "arena \(plan.arenaByteCount) of \(plan.totalTensorByteCount)")
        // No two tensors that are alive together overlap.
        for a in plan.entries {
            #expect(a.offset % MemoryPlan.alignment == 0)
            #expect(a.offset + a.byteCount <= plan.arenaByteCount)
            for b in plan.entries where a.tensor < b.tensor {
                let together = a.firstStep <= b.lastStep && b.firstStep <= a.lastStep
                let overlap = a.offset < b.offset + b.byteCount && b.offset < a.offset + a.byteCount
                #expect(!(together && overlap), "tensors \(a.tensor) and \(b.tensor)")
            }
        }
        // Sized for the batch capacity, not for the sample count.
        let input = interpreter.inputTensor
        #expect(plan.entry(for: input.index)!.byteCount == 4 * input.byteCount)
        let preserved = try Interpreter(graph: try SharedFiles.model("seed_float"), options: InterpreterOptions(batchCapacity: 4, preservesIntermediates: true))
        #expect(preserved.memoryPlan.arenaByteCount >= preserved.memoryPlan.totalTensorByteCount)
        print("seed_float, batch 4: arena \(plan.arenaByteCount) bytes for \(plan.totalTensorByteCount) bytes of tensors")
    }

    @Test func greedyPlannerPacksDisjointLifetimes() {
        let plan = MemoryPlan([(0, 100, -1, 0), (1, 200, 0, 1), (2, 100, 1, 2), (3, 50, 2, Int.max)])
        // 1 (200 B, steps 0-1) conflicts with 0 and 2; 0 and 2 may share; 3 conflicts with 2 only.
        #expect(plan.entry(for: 1)!.offset == 0)
        #expect(plan.entry(for: 0)!.offset == 256)
        #expect(plan.entry(for: 2)!.offset == 256)
        #expect(plan.entry(for: 3)!.offset == 0)
        #expect(plan.arenaByteCount == 384)
        let flat = MemoryPlan([(0, 100, -1, 0), (1, 200, 0, 1)], reuse: false)
        #expect(flat.arenaByteCount == 256 + 128)
    }

    // MARK: - Constants, folding and input quantization

    @Test func float16WeightsAreDequantizedOnceAtPrepare() throws {
        let graph = try SharedFiles.model("seed_float16")
        let interpreter = try Interpreter(graph: graph)
        let dequantizes = graph.operators.indices.filter { graph.operators[$0].kind == .dequantize }
        #expect(!dequantizes.isEmpty)
        #expect(interpreter.foldedOperators == dequantizes)
        // The folded weights are float32 in memory: about twice the float16 bytes.
        #expect(interpreter.constantByteCount >= 2 * graph.tensors.filter { $0.elementType == .float16 }.reduce(0) { $0 + ($1.data?.byteCount ?? 0) })
        let folded = try interpreter.intermediate(graph.operators[dequantizes[0]].outputs[0])
        #expect(folded.elementType == .float32 && folded.data!.byteCount == folded.elementCount! * 4)
    }

    @Test func inputQuantizationMatchesTheGoldenPipeline() throws {
        let interpreter = try Interpreter(graph: try SharedFiles.model("seed_int8"))
        let floats = InterpreterGoldenTests.floats(try SharedFiles.bytes("input.f32.bin"))
        let expected = try SharedFiles.bytes("seed_int8.input.i8.bin").map { Int8(bitPattern: $0) }
        #expect(interpreter.inputTensor.quantizeInput(floats) == expected)
    }
}
