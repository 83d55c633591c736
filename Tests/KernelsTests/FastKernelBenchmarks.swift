import Foundation
import Testing
@testable import Kernels

/// Timings of the fast int8 and hybrid kernels on the seed CNN's shapes, per backend and thread count.
/// Runs only with `QUANTKIT_FAST_BENCH=1` (prints microseconds per call, best of several rounds).
@Suite("Fast int8 kernel timings", .serialized, .enabled(if: ProcessInfo.processInfo.environment["QUANTKIT_FAST_BENCH"] == "1"))
struct FastKernelBenchmarks {
    /// Best time per call in microseconds over `rounds` rounds of `iterations` calls.
    static func time(iterations: Int, rounds: Int = 30, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<rounds {
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<iterations { body() }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1000 / Double(iterations)
            best = min(best, elapsed)
        }
        return best
    }

    /// The backends to time: all supported ones, or the one named by `QUANTKIT_FAST_BENCH_BACKEND`.
    static var backends: [SIMDBackend] {
        let only = ProcessInfo.processInfo.environment["QUANTKIT_FAST_BENCH_BACKEND"]
        return FastTest.backends.filter { only == nil || $0.rawValue == only }
    }

    static func report(_ name: String, _ results: [(String, Double)]) {
        print("BENCH \(name): " + results.map { "\($0.0) \(String(format: "%.1f", $0.1)) µs" }.joined(separator: ", "))
    }

    @Test("CONV_2D with fused 2x2/2 max pool: seed conv1 and conv2")
    func convolutions() {
        var rng = SplitMix(seed: 9)
        for (name, size, cin, cout) in [("conv1 28x28x1->64 +pool", 28, 1, 64), ("conv2 14x14x64->128 +pool", 14, 64, 128)] {
            let g = Conv2DGeometry(batches: 1, inputHeight: size, inputWidth: size, inputChannels: cin, filterHeight: 2,
                                   filterWidth: 2, outputChannels: cout, padding: .same)
            let p = FastTest.parameters(channels: cout, perChannel: true, fullyConnected: false, &rng)
            let filter = FastTest.int8s(g.convFilterCount, &rng, in: -127...127), bias = FastTest.biases(cout, &rng)
            let input = FastTest.int8s(g.inputCount, &rng)
            let pool = FastConv2DInt8.FusedMaxPool(filterHeight: 2, filterWidth: 2, strideHeight: 2, strideWidth: 2)
            var results: [(String, Double)] = []
            for backend in Self.backends {
                for threads in [1, 2] {
                    let kernel = filter.withUnsafeBufferPointer { w in bias.withUnsafeBufferPointer {
                        FastConv2DInt8(filter: w, bias: $0, geometry: g, parameters: p, fusedMaxPool: pool, backend: backend)!
                    } }
                    var out = [Int8](repeating: 0, count: kernel.outputCount(batches: 1))
                    let t = FastTest.withScratch(kernel.scratchByteCount(batches: 1, threads: threads)) { scratch in
                        input.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { y in
                            Self.time(iterations: backend == .portable ? 5 : 50) {
                                kernel.run(input: x, output: y, batches: 1, scratch: scratch, threads: threads)
                            }
                        } }
                    }
                    results.append(("\(backend)/\(threads)t", t))
                }
            }
            var ref = [Int8](repeating: 0, count: g.outputCount)
            let tRef = input.withUnsafeBufferPointer { x in filter.withUnsafeBufferPointer { w in bias.withUnsafeBufferPointer { b in
                ref.withUnsafeMutableBufferPointer { y in
                    Self.time(iterations: 3, rounds: 3) {
                        ReferenceKernels.conv2D(input: x, filter: w, bias: b, output: y, geometry: g, parameters: p)
                    }
                } } } }
            results.append(("reference conv only", tRef))
            Self.report(name, results)
        }
    }

    @Test("FULLY_CONNECTED 6272 -> 256, batch 1 and 16")
    func fullyConnected() {
        var rng = SplitMix(seed: 10)
        let k = 6272, n = 256
        let weights = FastTest.int8s(k * n, &rng, in: -127...127), bias = FastTest.biases(n, &rng)
        let p = FastTest.parameters(channels: n, perChannel: true, fullyConnected: true, &rng)
        for batches in [1, 16] {
            let g = FullyConnectedGeometry(batches: batches, accumDepth: k, outputDepth: n)
            let input = FastTest.int8s(batches * k, &rng)
            var results: [(String, Double)] = []
            for backend in Self.backends {
                let kernel = weights.withUnsafeBufferPointer { w in bias.withUnsafeBufferPointer {
                    FastFullyConnectedInt8(weights: w, bias: $0, geometry: g, parameters: p, backend: backend)!
                } }
                for threads in [1, 2] {
                    var out = [Int8](repeating: 0, count: batches * n)
                    let t = FastTest.withScratch(kernel.scratchByteCount(batches: batches, threads: threads)) { scratch in
                        input.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { y in
                            Self.time(iterations: backend == .portable ? 2 : 40) {
                                kernel.run(input: x, output: y, batches: batches, scratch: scratch, threads: threads)
                            }
                        } }
                    }
                    results.append(("\(backend)/\(threads)t", t))
                }
            }
            Self.report("FC 6272->256 batch \(batches)", results)
        }
    }

    @Test("Hybrid (dynamic-range): input quantization, seed conv2 and FC 6272 -> 256, batch 1")
    func hybrid() {
        var rng = SplitMix(seed: 11)
        // Input quantization of conv2's 14x14x64 image and of the FC's 6272 inputs (post-ReLU-like rows).
        for count in [12_544, 6272] {
            let x = (0..<count).map { _ in FastTest.int(0...2, &rng) == 0 ? 0 : rng.float(in: 0...4) }
            var q = [Int8](repeating: 0, count: count)
            var results: [(String, Double)] = []
            x.withUnsafeBufferPointer { v in q.withUnsafeMutableBufferPointer { out in
                for backend in Self.backends {
                    results.append(("\(backend)", Self.time(iterations: 50) {
                        _ = HybridInputQuantization.asymmetric(v, into: out, laneRounding: .addHalfAndTruncate, backend: backend)
                    }))
                }
                results.append(("reference", Self.time(iterations: 10, rounds: 10) {
                    _ = HybridInputQuantization.asymmetric(v, into: out, laneRounding: .addHalfAndTruncate)
                }))
            } }
            Self.report("hybrid asymmetric input quantization of \(count) floats", results)
        }

        let g = Conv2DGeometry(batches: 1, inputHeight: 14, inputWidth: 14, inputChannels: 64, filterHeight: 2, filterWidth: 2,
                               outputChannels: 128, padding: .same)
        let filter = FastTest.int8s(g.convFilterCount, &rng, in: -127...127)
        let convBias = (0..<128).map { _ in rng.float(in: -0.1...0.1) }
        let cp = HybridConvParameters(weightScales: (0..<128).map { _ in FastTest.scale(-9 ... -7, &rng) }, activation: .relu)
        let image = (0..<g.inputCount).map { _ in FastTest.int(0...2, &rng) == 0 ? 0 : rng.float(in: 0...4) }
        for pool in [nil, FastHybridConv2D.FusedMaxPool(filterHeight: 2, filterWidth: 2, strideHeight: 2, strideWidth: 2)] {
            var convResults: [(String, Double)] = []
            for backend in Self.backends {
                let kernel = filter.withUnsafeBufferPointer { w in convBias.withUnsafeBufferPointer {
                    FastHybridConv2D(filter: w, bias: $0, geometry: g, parameters: cp, fusedMaxPool: pool, backend: backend)!
                } }
                var out = [Float](repeating: 0, count: kernel.outputCount(batches: 1))
                convResults.append(("\(backend)", FastTest.withScratch(kernel.scratchByteCount(batches: 1)) { scratch in
                    image.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { y in
                        Self.time(iterations: backend == .portable ? 5 : 50) { kernel.run(input: x, output: y, batches: 1, scratch: scratch) }
                    } }
                }))
            }
            Self.report("hybrid conv2 14x14x64->128 (per-channel, asymmetric input)\(pool == nil ? "" : " +pool")", convResults)
        }

        let k = 6272, n = 256
        let fg = FullyConnectedGeometry(batches: 1, accumDepth: k, outputDepth: n)
        let weights = FastTest.int8s(k * n, &rng, in: -127...127)
        let fcBias = (0..<n).map { _ in rng.float(in: -0.1...0.1) }
        let fp = weights.withUnsafeBufferPointer {
            HybridFullyConnectedParameters(weights: $0, geometry: fg, weightScales: (0..<n).map { _ in FastTest.scale(-11 ... -8, &rng) },
                                           asymmetricInputs: true, activation: .relu)
        }
        let row = (0..<k).map { _ in FastTest.int(0...2, &rng) == 0 ? 0 : rng.float(in: 0...4) }
        var fcResults: [(String, Double)] = []
        for backend in Self.backends {
            let kernel = weights.withUnsafeBufferPointer { w in fcBias.withUnsafeBufferPointer {
                FastHybridFullyConnected(weights: w, bias: $0, geometry: fg, parameters: fp, backend: backend)
            } }
            var out = [Float](repeating: 0, count: n)
            fcResults.append(("\(backend)", FastTest.withScratch(kernel.scratchByteCount(batches: 1)) { scratch in
                row.withUnsafeBufferPointer { x in out.withUnsafeMutableBufferPointer { y in
                    Self.time(iterations: backend == .portable ? 2 : 40) { kernel.run(input: x, output: y, batches: 1, scratch: scratch) }
                } }
            }))
        }
        Self.report("hybrid FC 6272->256 batch 1 (per-channel, asymmetric input)", fcResults)
    }
}
