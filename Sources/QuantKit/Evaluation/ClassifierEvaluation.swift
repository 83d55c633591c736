import Foundation

/// What running an image classifier over a labeled set measured.
public struct ClassifierEvaluation: Sendable, Equatable {
    /// Fraction of samples whose top-1 class (the first maximum, as NumPy's argmax) is the label.
    public var accuracy: Double
    /// Mean of −log(max(p, 1e-7)) of the true class; nil when the output is not a probability vector.
    public var loss: Double?
    /// Samples evaluated.
    public var count: Int
    /// The top-1 class of every sample.
    public var predictions: [Int]
    /// Wall-clock seconds of the interpreter run (input preparation and scoring excluded).
    public var seconds: Double
}

/// Why a model cannot be evaluated as an image classifier.
public struct ClassifierEvaluationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension Interpreter {
    /// Runs every image of `data` through the model and scores its top-1 predictions against the labels.
    ///
    /// The images are fed exactly as the TensorFlow pipeline fed LiteRT: each pixel's byte value divided
    /// by 255 as a float32 division (`LabeledImages` multiplies by 1/255, which differs in the last bit
    /// for some pixels); an int8 input gets them quantized with `TensorDescription.quantizeInput`. An
    /// int8 output is dequantized with its scale and zero point. `progress` is called after each chunk
    /// with the samples done.
    ///
    /// - Throws: `ClassifierEvaluationError` when the model's input does not take one sample of `data`
    ///   or its output is not a vector of class scores; `InterpreterError` from the run.
    public func evaluateClassifier(on data: LabeledImages, progress: ((Int) -> Void)? = nil) throws -> ClassifierEvaluation {
        guard inputTensors.count == 1, outputTensors.count == 1 else {
            throw ClassifierEvaluationError("the model has \(inputTensors.count) inputs and \(outputTensors.count) outputs; a classifier has one of each")
        }
        let (i, o) = (inputTensor, outputTensor)
        guard i.elementCount == data.sampleSize else {
            throw ClassifierEvaluationError("""
                the model's input \(i.elementType) \(Shape.describe(i.shape)) does not take one \
                \(data.sampleShape.map(String.init).joined(separator: "×")) sample (\(data.sampleSize) values)
                """)
        }
        guard o.elementCount >= 1, o.elementType == .float32 || o.elementType == .int8 else {
            throw ClassifierEvaluationError("the model's output \(o.elementType) \(Shape.describe(o.shape)) is not a vector of class scores")
        }
        let n = data.count, classes = o.elementCount
        var inputBytes = try classifierInput(data.images.map { Float(($0 * 255).rounded()) / 255 })
        var outputBytes = [UInt8](repeating: 0, count: n * o.byteCount)
        let start = Date()
        try inputBytes.withUnsafeBytes { input in
            try outputBytes.withUnsafeMutableBytes { output in
                try run(input: input, count: n, output: output, progress: progress)
            }
        }
        let seconds = Date().timeIntervalSince(start)
        inputBytes = []
        let scores = classScores(outputBytes)
        var correct = 0
        var lossSum = 0.0
        var predictions = [Int](repeating: 0, count: n)
        for s in 0..<n {
            let row = scores[(s * classes)..<((s + 1) * classes)]
            predictions[s] = argmax(row)
            let label = Int(data.labels[s])
            if predictions[s] == label { correct += 1 }
            if label >= 0 && label < classes { lossSum += -log(Double(max(row[row.startIndex + label], 1e-7))) }
        }
        return ClassifierEvaluation(accuracy: n > 0 ? Double(correct) / Double(n) : 0,
                                    loss: graph.outputIsProbability && n > 0 ? lossSum / Double(n) : nil,
                                    count: n, predictions: predictions, seconds: seconds)
    }

    /// Float samples in [0, 1] as the model's input bytes: as they are for a float32 input, quantized
    /// for a per-tensor int8 input.
    func classifierInput(_ pixels: [Float]) throws -> [UInt8] {
        let i = inputTensor
        switch i.elementType {
        case .float32:
            return pixels.withUnsafeBytes { [UInt8]($0) }
        case .int8 where i.quantization?.scales.count == 1:
            return i.quantizeInput(pixels).map { UInt8(bitPattern: $0) }
        default:
            throw ClassifierEvaluationError("input type \(i.elementType) is not supported for evaluation (float32 or per-tensor int8)")
        }
    }

    /// Output bytes as float scores (an int8 output dequantized with its scale and zero point).
    func classScores(_ outputBytes: [UInt8]) -> [Float] {
        let o = outputTensor
        if o.elementType == .float32 {
            return outputBytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        let scale = o.quantization?.scales.first ?? 1, zeroPoint = o.quantization?.zeroPoints.first ?? 0
        return outputBytes.map { Float(Double(scale) * Double(Int64(Int8(bitPattern: $0)) - zeroPoint)) }
    }
}

/// The index of the first maximum of `row`, counted from its start (NumPy's argmax).
func argmax(_ row: ArraySlice<Float>) -> Int {
    var best = row.startIndex
    for k in row.indices where row[k] > row[best] { best = k }
    return best - row.startIndex
}

extension Graph {
    /// `true` when the (first) output comes from SOFTMAX, directly or through a DEQUANTIZE.
    public var outputIsProbability: Bool {
        guard let out = outputs.first, var j = producer(of: out) else { return false }
        if operators[j].kind == .dequantize {
            guard let k = producer(of: operators[j].inputs[0]) else { return false }
            j = k
        }
        return operators[j].kind == .softmax
    }
}
