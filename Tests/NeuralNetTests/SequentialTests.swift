import Foundation
import Testing
import TensorCore
import Datasets
import NeuralNet

/// A small synthetic 10-class image problem: class k has a bright 3x3 blob at a k-dependent place.
func syntheticImages(count: Int, seed: UInt64 = 7, side: Int = 12) -> LabeledImages {
    var random = SeededRandom(seed: seed)
    var images = [Float](repeating: 0, count: count * side * side)
    var labels = [Int32]()
    for n in 0..<count {
        let label = Int(random.next() % 10)
        labels.append(Int32(label))
        let cy = 1 + (label / 5) * 5 + Int(random.next() % 3), cx = 1 + (label % 5) * 2
        for i in 0..<(side * side) { images[n * side * side + i] = random.nextFloat(in: 0, 0.3) }
        for dy in 0..<3 { for dx in 0..<3 where cy + dy < side && cx + dx < side {
            images[n * side * side + (cy + dy) * side + cx + dx] = 1
        } }
    }
    return LabeledImages(images: images, labels: labels, sampleShape: [side, side, 1], classCount: 10)
}

func smallCNN(seed: UInt64 = 0) -> Sequential {
    Sequential(seed: seed) {
        Conv2D(filters: 8, kernelSize: 2, padding: .same, activation: .relu)
        MaxPooling2D()
        Dropout(0.1)
        Conv2D(filters: 8, kernelSize: 3, padding: .valid, activation: .relu)
        Flatten()
        Dense(16)
        Activation(.relu)
        Dense(10, activation: .softmax)
    }
}

@Suite("Sequential models")
struct SequentialTests {
    @Test func seedCNNHasKerasParameterCount() {
        let model = seedCNN()
        #expect(model.parameterCount == 1_641_674)
        let summary = model.summary()
        #expect(summary.contains("Total params: 1,641,674"))
        #expect(summary.contains("conv2d_1 (Conv2D)"))
        #expect(summary.contains("(None, 7, 7, 128)"))
    }

    @Test func wholeModelGradientMatchesFiniteDifferences() throws {
        // Softmax + cross-entropy through conv, pooling and dense layers: the fused p - y
        // gradient, back-propagated, against central differences of the batch loss.
        let data = syntheticImages(count: 4, side: 6)
        let model = Sequential(seed: 3) {
            Conv2D(filters: 3, kernelSize: 2, padding: .same)
            AveragePooling2D()
            Flatten()
            Dense(10, activation: .softmax)
        }
        try model.build(inputShape: [6, 6, 1])
        let (x, labels) = data.batch(0..<4)
        func loss() -> Double {
            Loss.sparseCategoricalCrossentropy.evaluate(model.forward(x, training: true), labels: labels).loss
        }
        let p = model.forward(x, training: true)
        var g = Loss.sparseCategoricalCrossentropy.logitsGradient(p, labels: labels)
        for (i, layer) in model.layers.enumerated().reversed() {
            g = layer.backward(g, options: BackwardOptions(needsInputGradient: i > 0, gradientBypassesActivation: i == 3)) ?? g
        }
        let eps: Float = 1e-2
        for parameter in model.trainableParameters {
            let analytic = parameter.gradient
            for i in stride(from: 0, to: parameter.value.count, by: max(1, parameter.value.count / 25)) {
                let v = parameter.value.storage[i]
                parameter.value.storage[i] = v + eps
                let plus = loss()
                parameter.value.storage[i] = v - eps
                let minus = loss()
                parameter.value.storage[i] = v
                let numeric = (plus - minus) / (2 * Double(eps))
                #expect(abs(Double(analytic.storage[i]) - numeric) <= 1e-3 + 2e-2 * abs(numeric),
                        "\(parameter.name)[\(i)]: analytic \(analytic.storage[i]) numeric \(numeric)")
            }
        }
    }

    @Test func lossFallsAndAccuracyRises() throws {
        let data = syntheticImages(count: 600)
        let model = smallCNN()
        model.compile(optimizer: Adam(learningRate: 3e-3))
        let history = try model.fit(data, epochs: 4, batchSize: 32, verbose: .silent)
        let losses = history.epochs.map(\.loss)
        #expect(losses.last! < losses.first! * 0.5, "loss \(losses)")
        let eval = try model.evaluate(syntheticImages(count: 300, seed: 8))
        #expect(eval.accuracy > 0.8, "accuracy \(eval.accuracy)")
    }

    @Test func sgdTrainsToo() throws {
        let data = syntheticImages(count: 400)
        let model = smallCNN()
        model.compile(optimizer: SGD(learningRate: 0.05, momentum: 0.9))
        let history = try model.fit(data, epochs: 3, batchSize: 32, verbose: .silent)
        #expect(history.epochs.last!.loss < history.epochs.first!.loss)
    }

    @Test func sameSeedSameWeightsBitForBit() throws {
        let data = syntheticImages(count: 200)
        func train(seed: UInt64) throws -> [Float] {
            let model = smallCNN(seed: seed)
            model.compile()
            try model.fit(data, epochs: 2, batchSize: 16, verbose: .silent)
            return model.parameters.flatMap(\.value.storage)
        }
        let a = try train(seed: 0), b = try train(seed: 0), c = try train(seed: 1)
        #expect(a == b)
        #expect(a != c)
    }

    @Test func dataParallelTrainingMatchesSerialTraining() throws {
        // Without dropout, splitting each batch across two replicas and summing their
        // gradients must give the same updates as one pass, up to float rounding.
        let data = syntheticImages(count: 256)
        func train(parallel: Bool) throws -> [Float] {
            let model = Sequential(seed: 5) {
                Conv2D(filters: 6, kernelSize: 2, padding: .same, activation: .relu)
                MaxPooling2D()
                Conv2D(filters: 8, kernelSize: 3, padding: .valid, activation: .relu)
                Flatten()
                Dense(10, activation: .softmax)
            }
            model.dataParallel = parallel
            model.compile(optimizer: SGD(learningRate: 0.05))
            try model.fit(data, epochs: 1, batchSize: 32, verbose: .silent)
            return model.parameters.flatMap(\.value.storage)
        }
        let serial = try train(parallel: false), parallel = try train(parallel: true)
        let diff = zip(serial, parallel).map { abs($0 - $1) }.max()!
        #expect(diff < 1e-4, "max weight difference \(diff)")
        #expect(serial != parallel || Parallel.threadCount < 2, "the parallel path really ran")
    }

    @Test func adamFollowsKerasUpdateRule() {
        let p = Parameter(name: "w", value: Tensor(shape: [2], storage: [1, -2]))
        let adam = Adam()
        p.gradient = Tensor(shape: [2], storage: [0.5, -3])
        adam.step([p])
        // After one step, m/(sqrt(v)) = sign(g) so w moves by lr * (1 - tiny) against the gradient.
        #expect(abs(p.value.storage[0] - (1 - 1e-3)) < 1e-6)
        #expect(abs(p.value.storage[1] - (-2 + 1e-3)) < 1e-6)
        p.gradient = Tensor(shape: [2], storage: [0.5, -3])
        adam.step([p])
        #expect(abs(p.value.storage[0] - (1 - 2e-3)) < 1e-6)
        #expect(adam.iterations == 2)
    }

    @Test func nonFiniteLossStopsTrainingWithEpochAndStep() throws {
        var data = syntheticImages(count: 64)
        data.images[40 * 144 + 5] = .nan
        let model = smallCNN()
        model.compile()
        #expect {
            try model.fit(data, epochs: 1, batchSize: 16, verbose: .silent)
        } throws: { error in
            let e = error as? ModelError
            return e?.kind == .nonFiniteLoss && e!.message.contains("epoch 1") && e!.message.contains("step")
        }
    }

    @Test func fitBeforeCompileIsAnError() {
        #expect(throws: ModelError.self) { try smallCNN().fit(syntheticImages(count: 8), verbose: .silent) }
    }

    @Test func wrongInputShapeNamesTheLayer() {
        let model = Sequential { Dense(3) }
        #expect {
            try model.build(inputShape: [4, 4, 1])
        } throws: { error in
            (error as? ModelError)?.message.contains("Flatten") == true
        }
    }

    @Test func historyWritesJSONAndCSV() throws {
        let data = syntheticImages(count: 64)
        let model = smallCNN()
        model.compile()
        let history = try model.fit(data, epochs: 2, batchSize: 32, validation: syntheticImages(count: 32, seed: 9), verbose: .silent)
        let csv = history.csv().split(separator: "\n")
        #expect(csv.count == 3)
        #expect(csv[0].hasPrefix("epoch,loss,accuracy,val_loss,val_accuracy"))
        let decoded = try JSONDecoder().decode(History.self, from: Data(try history.json().utf8))
        #expect(decoded == history)
        #expect(history.epochs.allSatisfy { $0.valAccuracy != nil })
    }
}

@Suite("Model files")
struct ModelFileTests {
    func trainedModel() throws -> Sequential {
        let model = Sequential(seed: 4) {
            Conv2D(filters: 4, kernelSize: 3, padding: .same, activation: .relu6)
            BatchNormalization()
            DepthwiseConv2D(kernelSize: 3, padding: .same, depthMultiplier: 2, activation: .relu)
            MaxPooling2D()
            AveragePooling2D(poolSize: 2, padding: .same)
            GlobalAveragePooling2D()
            Dropout(0.2)
            Dense(10, activation: .softmax)
        }
        model.compile()
        try model.fit(syntheticImages(count: 64), epochs: 1, batchSize: 16, verbose: .silent)
        return model
    }

    @Test func roundTripGivesIdenticalPredictionsAndResumes() throws {
        let model = try trainedModel()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("qk-\(UUID()).qkmodel")
        defer { try? FileManager.default.removeItem(at: url) }
        try model.save(to: url)
        let loaded = try Sequential.load(from: url)
        let x = syntheticImages(count: 20, seed: 11).batch(0..<20).images
        #expect(try loaded.predict(x) == model.predict(x))
        #expect(loaded.epochsTrained == 1)
        #expect(loaded.optimizer?.iterations == model.optimizer?.iterations)
        // Resuming continues from the same optimizer state: one more epoch on both gives the same weights.
        let data = syntheticImages(count: 64)
        try model.fit(data, epochs: 1, batchSize: 16, verbose: .silent)
        try loaded.fit(data, epochs: 1, batchSize: 16, verbose: .silent)
        let a = model.parameters.map(\.value), b = loaded.parameters.map(\.value)
        #expect(a.count == b.count)
        // Dropout streams restart at load, so compare closeness, not bits.
        for (ta, tb) in zip(a, b) {
            let diff = zip(ta.storage, tb.storage).map { abs($0 - $1) }.max() ?? 0
            #expect(diff < 0.05)
        }
    }

    @Test func corruptTruncatedAndForeignFilesAreClearErrors() throws {
        let model = try trainedModel()
        let bytes = try ModelFile.encode(model)
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x40
        for (bad, expected) in [(Array(bytes.prefix(bytes.count - 9)), "checksum"),
                                (flipped, "checksum"),
                                (Array("hello world, not a model at all".utf8), "not a QuantKit model"),
                                ([0, 0, 0, 0] + Array("TFL3".utf8) + [UInt8](repeating: 0, count: 40), ".tflite"),
                                ([], "not a QuantKit model")] {
            #expect {
                try ModelFile.decode(bad)
            } throws: { error in
                (error as? ModelError)?.kind == .badModelFile && "\(error)".contains(expected)
            }
        }
        // Every truncation is an error, never a crash.
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 200)) {
            #expect(throws: ModelError.self) { try ModelFile.decode(Array(bytes.prefix(cut))) }
        }
    }

    @Test func failedSaveLeavesTheOldFileIntact() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qk-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.qkmodel")
        try AtomicFile.write(Array("precious".utf8), to: url)
        // An unbuilt model cannot be saved: the existing file must survive untouched.
        #expect(throws: ModelError.self) { try smallCNN().save(to: url) }
        #expect(try Data(contentsOf: url) == Data("precious".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["m.qkmodel"], "no temporary files left")
    }
}
