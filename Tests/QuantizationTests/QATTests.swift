import Datasets
import Foundation
import Kernels
import NeuralNet
import Quantization
import Runtime
import TFLite
import TensorCore
import Testing

/// Quantization-aware training: preparation mirrors the integer graph, conversion with learned
/// ranges reproduces the simulated model, bad input is a clear error, and the model file round-trips.
@Suite("Quantization-aware training")
struct QATTests {
    // MARK: Fixtures

    /// FashionMNIST images (the golden set's 1000 test images, pixel/255) with labels.
    static let images: Swift.Result<LabeledImages, any Error> = Swift.Result {
        let pixels = try Golden.inputs(), labels = try Golden.labels()
        return LabeledImages(images: pixels, labels: labels.map { Int32($0) }, sampleShape: [28, 28, 1], classCount: 10)
    }

    /// A small CNN with every layer kind QAT places differently.
    static func smallModel(seed: UInt64 = 1, batchNorm: Bool = false) -> Sequential {
        Sequential(inputShape: [28, 28, 1], seed: seed) {
            if batchNorm {
                Conv2D(filters: 6, kernelSize: 3, strides: 2, padding: .same)
                BatchNormalization()
                Activation(.relu)
                DepthwiseConv2D(kernelSize: 3, padding: .same, depthMultiplier: 2)
                BatchNormalization()
                Activation(.relu6)
            } else {
                Conv2D(filters: 6, kernelSize: 3, strides: 2, padding: .same, activation: .relu)
            }
            MaxPooling2D()
            Dropout(0.1)
            Conv2D(filters: 8, kernelSize: 2, padding: .valid, activation: .relu)
            if batchNorm {
                GlobalAveragePooling2D()
            } else {
                Flatten()
            }
            Dense(16)
            Activation(.relu)
            Dense(10, activation: .softmax)
        }
    }

    /// QAT-trains `model` briefly (a few steps on 256 images) and returns the QAT model.
    static func trained(_ model: Sequential, options: QAT.Options = .init(), epochs: Int = 1) throws -> QATModel {
        let qat = try QAT.prepare(model, options: options)
        qat.compile(optimizer: Adam(learningRate: 3e-3))
        try qat.fit(images.get().prefix(256), epochs: epochs, batchSize: 32, verbose: .silent)
        return qat
    }

    /// Runs the converted graph (reference kernels) and the simulated model on `count` images; returns
    /// both outputs as probabilities (int8 dequantized) and the number of top-1 disagreements.
    static func compare(_ qat: QATModel, _ graph: Graph, count: Int = 200) throws -> (maxDifference: Float, disagreements: Int) {
        let data = try images.get()
        let (x, _) = data.batch(0..<count)
        let simulated = try qat.predict(x).storage
        let interpreter = try Interpreter(graph: graph, options: InterpreterOptions(threadCount: 2))
        let input = interpreter.inputTensor, output = interpreter.outputTensor
        let floats = Array(x.storage)
        var produced: [Float]
        switch (input.elementType, output.elementType) {
        case (.int8, .int8):
            let q = output.quantization!
            produced = try interpreter.run(input.quantizeInput(floats), as: Int8.self).map {
                Float(Double(q.scales[0]) * Double(Int64($0) - q.zeroPoints[0]))
            }
        case (.float32, .float32):
            produced = try interpreter.run(floats, as: Float.self)
        default:
            Issue.record("unexpected I/O types \(input.elementType) / \(output.elementType)")
            return (.infinity, count)
        }
        var maxDifference: Float = 0
        var disagreements = 0
        for s in 0..<count {
            let a = simulated[(s * 10)..<((s + 1) * 10)], b = produced[(s * 10)..<((s + 1) * 10)]
            for (u, v) in zip(a, b) { maxDifference = max(maxDifference, abs(u - v)) }
            if a.firstIndex(of: a.max()!)! != b.firstIndex(of: b.max()!)! { disagreements += 1 }
        }
        return (maxDifference, disagreements)
    }

    // MARK: Preparation

    @Test func prepareMirrorsTheIntegerGraph() throws {
        let model = seedCNN()
        let before = model.parameters.map(\.value)
        let qat = try QAT.prepare(model)
        #expect(qat.model.layers.map(\.typeName) == [
            "FakeQuant", "FakeQuantWrapper", "MaxPooling2D", "Dropout", "FakeQuantWrapper", "MaxPooling2D", "Dropout",
            "Flatten", "FakeQuantWrapper", "Dropout", "FakeQuantWrapper", "FakeQuantSoftmax",
        ])
        let wrappers = qat.model.layers.compactMap { $0 as? FakeQuantWrapper }
        #expect(wrappers.map(\.settings.perChannel) == [true, true, false, false], "convolutions per channel, Dense per tensor")
        #expect(wrappers.map(\.settings.output.tensor) == ["conv2d", "conv2d_1", "dense", "dense_1"])
        #expect(wrappers[2].settings.fusedActivation == .relu, "the separate ReLU is fused into the Dense")
        let input = try #require(qat.model.layers.first as? FakeQuant)
        #expect(input.settings.observer == .allValues && input.settings.tensor == "input")
        #expect(qat.ranges.map(\.tensor) == ["input", "conv2d", "conv2d_1", "dense", "dense_1"])
        // The source model is untouched; the float equivalent has its weights and architecture.
        #expect(model.parameters.map(\.value) == before)
        let float = try qat.floatModel()
        #expect(float.parameters.map(\.value) == before)
        #expect(float.layers.map(\.name) == model.layers.map(\.name))
        #expect(try float.graph() == model.graph(), "the lowered float graph is the source model's")
        #expect(qat.model.epochsTrained == model.epochsTrained)
        // TFMOT's scheme with options.
        let tfmot = try QAT.prepare(model, options: .init(perChannelDense: true, rangesStartFromFirstBatch: false))
        #expect(tfmot.ranges.dropFirst().allSatisfy { $0.min == -6 && $0.max == 6 })
        #expect(tfmot.model.layers.compactMap { ($0 as? FakeQuantWrapper)?.settings.perChannel }.allSatisfy { $0 })
    }

    @Test func denseWithSoftmaxIsSplitAtTheLogits() throws {
        let model = Sequential(inputShape: [4], seed: 2) {
            Dense(8, activation: .relu)
            Dense(3, activation: .softmax)
        }
        let qat = try QAT.prepare(model)
        #expect(qat.model.layers.map(\.name) == ["quantize_layer", "quant_dense", "quant_dense_1", "dense_1/softmax"])
        let graph = try qat.convert()
        #expect(graph.operators.map(\.kind) == [.fullyConnected, .fullyConnected, .softmax])
        try graph.validate()
    }

    // MARK: Conversion

    @Test func convertedModelReproducesTheSimulatedModel() throws {
        let qat = try Self.trained(Self.smallModel())
        let result = try qat.quantize(input: .int8, output: .int8)
        let graph = result.graph
        #expect(graph.operators.map(\.kind) == [.conv2D, .maxPool2D, .conv2D, .reshape, .fullyConnected, .fullyConnected, .softmax])
        #expect(result.report.calibrationSamples == 0, "no calibration data")
        #expect(result.report.calibrationRanges.map(\.name) == ["input", "conv2d", "conv2d_1", "dense", "dense_1"])
        // Activation parameters are exactly the fake-quants' grids.
        for r in qat.ranges {
            let t = try #require(graph.tensors.firstIndex { $0.name == r.tensor && $0.data == nil })
            let q = try #require(graph.tensors[t].quantization)
            #expect(q.scales == [r.grid.scale] && q.zeroPoints == [Int64(r.grid.zeroPoint)], "\(r.tensor)")
        }
        let (difference, disagreements) = try Self.compare(qat, graph)
        #expect(disagreements <= 1, "top-1 of the int8 model and the simulation, 200 images")
        #expect(difference <= 3.0 / 256, "softmax outputs within 3 steps of 1/256: \(difference)")
        // Written with the TFLite writer and read back: the same graph.
        let bytes = try TFLiteFile.encode(graph)
        #expect(try TFLiteFile.read(bytes: bytes).operators.count == graph.operators.count)
    }

    @Test func batchNormFoldingDepthwiseAndGlobalPooling() throws {
        let qat = try Self.trained(Self.smallModel(batchNorm: true), options: .init(freezeBatchNormAfter: 4), epochs: 2)
        let wrappers = qat.model.layers.compactMap { $0 as? FakeQuantWrapper }
        #expect(wrappers[0].batchNormFrozen && wrappers[0].batchNormSteps == 16, "8 steps an epoch, frozen after 4")
        #expect(qat.model.layers.contains { ($0 as? FakeQuant)?.settings.tensor == "global_average_pooling2d" })
        let graph = try qat.convert(input: .float32, output: .float32)
        #expect(graph.operators.map(\.kind) == [.quantize, .conv2D, .depthwiseConv2D, .maxPool2D, .conv2D, .mean,
                                                .fullyConnected, .fullyConnected, .softmax, .dequantize])
        // The int8 weights of the first convolution are the fake-quantized folded weights.
        let conv = wrappers[0]
        let kernelIndex = graph.operators[1].inputs[1]
        let stored = graph.tensors[kernelIndex]
        let scales = try #require(stored.quantization?.scales)
        let q = try #require(stored.data?.int8Values())
        let (gamma, variance) = (conv.gamma!.value.storage, conv.movingVariance!.value.storage)
        let factor = (0..<6).map { gamma[$0] / (variance[$0] + 1e-3).squareRoot() }
        let folded = conv.kernel.value.storage.enumerated().map { $1 * factor[$0 % 6] }
        var expected = [Float](repeating: 0, count: folded.count)
        folded.withUnsafeBufferPointer { f in
            expected.withUnsafeMutableBufferPointer {
                _ = FakeQuantArithmetic.fakeQuantizeWeights(f.baseAddress!, count: f.count, channels: 6, perChannel: true, into: $0.baseAddress!)
            }
        }
        // Graph OHWI [6, 3, 3, 1] vs Keras HWIO [3, 3, 1, 6].
        for o in 0..<6 { for k in 0..<9 {
            #expect(Float(q[o * 9 + k]) * scales[o] == expected[k * 6 + o])
        } }
        let (difference, disagreements) = try Self.compare(qat, graph)
        #expect(disagreements <= 2)
        #expect(difference <= 4.0 / 256, "\(difference)")
    }

    @Test func layersKeptInFloatStayFloatOperators() throws {
        let qat = try Self.trained(Self.smallModel(), options: .init(floatLayers: ["dense"]))
        #expect(qat.model.layers.contains { $0 is Dense && $0.name == "dense" })
        let result = try qat.quantize()
        let graph = result.graph
        let fc = try #require(graph.operators.first { $0.kind == .fullyConnected && graph.tensors[$0.outputs[0]].name == "dense" })
        #expect(graph.tensors[fc.inputs[1]].elementType == .float32, "weights stay float")
        #expect(graph.operators.contains { $0.kind == .dequantize } && graph.operators.contains { $0.kind == .quantize })
        #expect(!result.report.floatFallbackOperators.isEmpty)
        let (_, disagreements) = try Self.compare(qat, graph)
        #expect(disagreements <= 1)
    }

    // MARK: Bad input

    @Test func unsupportedLayersNameTheLayerAndSuggestTheOptOut() throws {
        let standaloneNorm = Sequential(inputShape: [8, 8, 1]) {
            Conv2D(filters: 2, kernelSize: 3, activation: .relu)
            MaxPooling2D()
            BatchNormalization()
            Flatten()
            Dense(3, activation: .softmax)
        }
        let error = try #require(throws: QATError.self) { try QAT.prepare(standaloneNorm) }
        #expect(error.kind == .unsupportedLayer && error.layer == "batch_normalization")
        #expect(error.message.contains("'batch_normalization'") && error.message.contains("floatLayers: [\"batch_normalization\"]"))
        // Opted out, it trains in float (the converter cannot lower it: that is reported at conversion).
        let kept = try QAT.prepare(standaloneNorm, options: .init(floatLayers: ["batch_normalization"]))
        #expect(kept.model.layers.contains { $0 is BatchNormalization })
        #expect(throws: QATError.self) { try kept.convert() }

        let standaloneReLU = Sequential(inputShape: [8, 8, 1]) {
            Conv2D(filters: 2, kernelSize: 3)
            MaxPooling2D()
            Activation(.relu)
        }
        let relu = try #require(throws: QATError.self) { try QAT.prepare(standaloneReLU) }
        #expect(relu.layer == "activation" && relu.message.contains("activation: .relu"))

        let convSoftmax = Sequential(inputShape: [8, 8, 1]) { Conv2D(filters: 2, kernelSize: 3, activation: .softmax) }
        #expect(throws: QATError.self) { try QAT.prepare(convSoftmax) }

        let unknown = try #require(throws: QATError.self) { try QAT.prepare(seedCNN(), options: .init(floatLayers: ["dense_9"])) }
        #expect(unknown.kind == .unknownLayer && unknown.message.contains("dense_9") && unknown.message.contains("conv2d_1"))

        #expect(throws: QATError.self) { try QAT.prepare(Sequential(layers: [Dense(2)])) }            // never built
        #expect(throws: QATError.self) { try QAT.prepare(QAT.prepare(seedCNN()).model) }              // twice
        #expect(throws: QATError.self) { try QATModel(seedCNN()) }                                    // float model
    }

    @Test func collapsedRangeIsReportedAndConvertsWithoutDivisionByZero() throws {
        let model = Sequential(inputShape: [4], seed: 3) {
            Dense(5, activation: .relu)
            Dense(3, activation: .softmax)
        }
        // A dead layer: zero weights, negative bias: its ReLU output is always 0.
        let dead = model.layers[0] as! Dense
        dead.kernel.value = Tensor(shape: [4, 5])
        dead.bias!.value = Tensor(shape: [5], repeating: -1)
        let qat = try QAT.prepare(model)
        qat.compile()
        let data = LabeledImages(images: (0..<64).map { Float($0 % 7) / 7 }, labels: (0..<16).map { Int32($0 % 3) },
                                 sampleShape: [4], classCount: 3)
        try qat.fit(data, epochs: 1, batchSize: 16, verbose: .silent)
        let range = try #require(qat.ranges.first { $0.tensor == "dense" })
        #expect(range.grid.collapsed && range.min == 0 && range.max == 0)
        #expect(qat.rangeWarnings.contains { $0.contains("'dense'") && $0.contains("collapsed") })
        let result = try qat.quantize()
        #expect(result.report.notes.contains { $0.contains("collapsed") })
        let t = try #require(result.graph.tensors.first { $0.name == "dense" })
        #expect(t.quantization?.scales == [1] && t.quantization?.zeroPoints == [-128])
        let out = try Interpreter(graph: result.graph).run([Int8](repeating: 10, count: 4), as: Int8.self)
        #expect(out.count == 3)
    }

    @Test func nonFiniteActivationsStopTrainingWithoutPoisoningRanges() throws {
        let qat = try QAT.prepare(Sequential(inputShape: [4], seed: 3) { Dense(3, activation: .softmax) })
        qat.compile()
        var pixels = (0..<64).map { Float($0 % 5) / 5 }
        pixels[5] = .nan
        let data = LabeledImages(images: pixels, labels: (0..<16).map { Int32($0 % 3) }, sampleShape: [4], classCount: 3)
        let error = try #require(throws: ModelError.self) { try qat.fit(data, epochs: 1, batchSize: 16, verbose: .silent) }
        #expect(error.kind == .nonFiniteLoss)
        #expect(qat.ranges.allSatisfy { $0.min.isFinite && $0.max.isFinite })
        #expect(qat.rangeWarnings.contains { $0.contains("NaN or infinite") })
        #expect(throws: Never.self) { try qat.convert() }
    }

    // MARK: Model files

    @Test func qatModelFileRoundTripsAndOldFilesStillRead() throws {
        let qat = try Self.trained(Self.smallModel(batchNorm: true), options: .init(freezeBatchNormAfter: 3))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qk-qat-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("qat.qkmodel")
        try qat.save(to: url)
        let bytes = [UInt8](try Data(contentsOf: url))
        #expect(bytes[8] == 2, "a quantization-aware model is format version 2")
        let loaded = try QATModel.load(from: url)
        #expect(loaded.ranges == qat.ranges)
        let (x, _) = try Self.images.get().batch(0..<32)
        #expect(try loaded.predict(x) == qat.predict(x))
        #expect(try TFLiteFile.encode(loaded.convert()) == TFLiteFile.encode(qat.convert()))
        let wrapper = try #require(loaded.model.layers.compactMap { $0 as? FakeQuantWrapper }.first)
        #expect(wrapper.batchNormSteps == 8 && wrapper.batchNormFrozen)
        // Training continues from the saved state (optimizer included).
        #expect(loaded.model.optimizer != nil)
        try loaded.fit(Self.images.get().prefix(64), epochs: 1, batchSize: 32, verbose: .silent)
        #expect(wrapper.batchNormSteps == 10)

        // A float model is still written as version 1, and read back by the same reader.
        let floatURL = dir.appendingPathComponent("float.qkmodel")
        try Self.smallModel().save(to: floatURL)
        #expect([UInt8](try Data(contentsOf: floatURL))[8] == 1)
        #expect(!(try Sequential.load(from: floatURL).isQuantizationAware))
        #expect(throws: QATError.self) { try QATModel.load(from: floatURL) }

        // A corrupt range (CRC fixed up) is a clear error, not a crash.
        var corrupt = bytes
        let header = String(decoding: bytes[16..<(16 + Int(UInt32(bytes[12]) | UInt32(bytes[13]) << 8 | UInt32(bytes[14]) << 16 | UInt32(bytes[15]) << 24))], as: UTF8.self)
        #expect(header.contains("fakeQuantWrapper"))
        // The first FakeQuant's "min" is the first payload float after the header: make it positive.
        let payload = 16 + header.utf8.count
        withUnsafeBytes(of: Float(0.5).bitPattern.littleEndian) { for k in 0..<4 { corrupt[payload + k] = $0[k] } }
        let crc = corrupt.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(corrupt.count - 4)])) }
        withUnsafeBytes(of: crc.littleEndian) { for k in 0..<4 { corrupt[corrupt.count - 4 + k] = $0[k] } }
        let error = try #require(throws: ModelError.self) { try ModelFile.decode(corrupt) }
        #expect(error.message.contains("does not contain 0"))
    }
}
