import TensorCore

/// Randomly zeroes a fraction `rate` of the inputs in training and scales the rest by
/// `1 / (1 - rate)` (inverted dropout, Keras's `Dropout`); the identity at inference.
///
/// Each element is kept when a 16-bit uniform draw is at least `rate * 65536`, so the
/// drop probability is `rate` to within 2^-16.
public final class Dropout: Layer {
    public var name = "dropout"
    public var typeName: String { "Dropout" }
    public let rate: Float
    public private(set) var outputShape: [Int] = []
    public var parameters: [Parameter] { [] }
    public var configuration: LayerConfiguration { .dropout(rate: rate) }
    private var mask: [Float] = []

    public init(_ rate: Float) {
        precondition(rate >= 0 && rate < 1, "Dropout rate must be in [0, 1), got \(rate)")
        self.rate = rate
    }

    public func build(inputShape: [Int], random: inout SeededRandom) throws {
        outputShape = inputShape
    }

    public func forward(_ input: Tensor, training: Bool, random: inout SeededRandom) -> Tensor {
        guard training, rate > 0 else { return input }
        let n = input.count
        if mask.count != n { mask = [Float](repeating: 0, count: n) }
        let threshold = UInt64((rate * 65536).rounded())
        let keep = 1 / (1 - rate)
        // Each chunk of the tensor draws from its own generator, seeded from the model's, so
        // the masks do not depend on how threads are scheduled.
        let chunks = 8
        let seeds = (0..<chunks).map { _ in random.next() }
        let output = Tensor(shape: input.shape, uninitialized: { y in
            input.storage.withUnsafeBufferPointer { x in
                mask.withUnsafeMutableBufferPointer { m in
                    let (xp, yp, mp) = (x.baseAddress!, y.baseAddress!, m.baseAddress!)
                    Parallel.forEachChunk(chunks, chunks: chunks, costPerItem: n / chunks) { cs in
                        for c in cs {
                            var generator = SeededRandom(seed: seeds[c])
                            let lo = n * c / chunks, hi = n * (c + 1) / chunks
                            var i = lo
                            while i + 4 <= hi {
                                let bits = generator.next()
                                for lane in 0..<4 {
                                    mp[i + lane] = (bits >> (16 * UInt64(lane))) & 0xFFFF >= threshold ? keep : 0
                                }
                                i += 4
                            }
                            var bits = generator.next()
                            while i < hi {
                                mp[i] = bits & 0xFFFF >= threshold ? keep : 0
                                bits >>= 16
                                i += 1
                            }
                            Vectorized.multiply(xp + lo, mp + lo, into: yp + lo, count: hi - lo)
                        }
                    }
                }
            }
        })
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, options: BackwardOptions) -> Tensor? {
        guard options.needsInputGradient else { return nil }
        guard rate > 0 else { return outputGradient }
        var dx = consume outputGradient
        dx.storage.withUnsafeMutableBufferPointer { d in
            mask.withUnsafeBufferPointer { m in
                let (dp, mp) = (d.baseAddress!, m.baseAddress!)
                Parallel.forEachChunk(d.count) { r in
                    Vectorized.multiply(dp + r.lowerBound, mp + r.lowerBound, into: dp + r.lowerBound, count: r.count)
                }
            }
        }
        return dx
    }
}

/// Flattens each sample to one dimension (row-major, so NHWC order), Keras's `Flatten`.
public final class Flatten: Layer {
    public var name = "flatten"
    public var typeName: String { "Flatten" }
    public private(set) var outputShape: [Int] = []
    public var parameters: [Parameter] { [] }
    public var configuration: LayerConfiguration { .flatten }
    private var inputShape: [Int] = []

    public init() {}

    public func build(inputShape: [Int], random: inout SeededRandom) throws {
        self.inputShape = inputShape
        outputShape = [inputShape.reduce(1, *)]
    }

    public func forward(_ input: Tensor, training: Bool, random: inout SeededRandom) -> Tensor {
        input.reshaped([input.batchSize] + outputShape)
    }

    public func backward(_ outputGradient: consuming Tensor, options: BackwardOptions) -> Tensor? {
        guard options.needsInputGradient else { return nil }
        return outputGradient.reshaped([outputGradient.batchSize] + inputShape)
    }
}

/// An activation as a layer of its own, Keras's `Activation("relu")`: `Activation(.relu)`.
public final class Activation: Layer {
    public var name = "activation"
    public var typeName: String { "Activation" }
    public let activation: ActivationFunction
    public private(set) var outputShape: [Int] = []
    public var parameters: [Parameter] { [] }
    public var configuration: LayerConfiguration { .activation(activation) }
    public var outputActivation: ActivationFunction { activation }
    private var lastOutput = Tensor(shape: [0])

    public init(_ activation: ActivationFunction) {
        self.activation = activation
    }

    public func build(inputShape: [Int], random: inout SeededRandom) throws {
        outputShape = inputShape
    }

    public func forward(_ input: Tensor, training: Bool, random: inout SeededRandom) -> Tensor {
        var output = input
        let width = outputShape.last ?? 1
        output.storage.withUnsafeMutableBufferPointer { activation.apply($0, width: width) }
        if training { lastOutput = output }
        return output
    }

    public func backward(_ outputGradient: consuming Tensor, options: BackwardOptions) -> Tensor? {
        guard options.needsInputGradient else { return nil }
        var dx = consume outputGradient
        if !options.gradientBypassesActivation {
            let width = outputShape.last ?? 1
            dx.storage.withUnsafeMutableBufferPointer { d in
                lastOutput.storage.withUnsafeBufferPointer { y in activation.backward(d, output: y, width: width) }
            }
        }
        return dx
    }
}
