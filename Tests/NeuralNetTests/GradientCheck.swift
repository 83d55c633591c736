import Testing
import TensorCore
import NeuralNet

/// Compares a layer's backward pass with central finite differences of
/// `L = sum(forward(x) * R)` for a fixed random `R`, over every input and parameter element.
func checkGradients(_ layer: any Layer, inputShape: [Int], batch: Int = 2, seed: UInt64 = 1,
                    input: Tensor? = nil, epsilon: Float = 1e-2, tolerance: Double = 2e-2,
                    sourceLocation: SourceLocation = #_sourceLocation) throws {
    var random = SeededRandom(seed: seed)
    try layer.build(inputShape: inputShape, random: &random)
    let x = input ?? Tensor(shape: [batch] + inputShape, uninitialized: { b in
        for i in b.indices { b[i] = random.nextFloat(in: -1, 1) }
    })
    var dropoutRandom = SeededRandom(seed: 99)
    let y = layer.forward(x, training: true, random: &dropoutRandom)
    let r = Tensor(shape: y.shape, uninitialized: { b in
        for i in b.indices { b[i] = random.nextFloat(in: -1, 1) }
    })
    func loss(_ input: Tensor) -> Double {
        var rng = SeededRandom(seed: 99)
        let out = layer.forward(input, training: true, random: &rng)
        var total = 0.0
        for i in 0..<out.count { total += Double(out.storage[i]) * Double(r.storage[i]) }
        return total
    }
    // Analytic gradients (from a fresh forward so the caches are for x).
    var rng = SeededRandom(seed: 99)
    _ = layer.forward(x, training: true, random: &rng)
    let dx = try #require(layer.backward(r, options: BackwardOptions()), sourceLocation: sourceLocation)
    let parameterGradients = layer.parameters.filter(\.trainable).map(\.gradient)

    func compare(_ analytic: Float, _ numeric: Double, _ what: String) {
        let error = abs(Double(analytic) - numeric)
        #expect(error <= tolerance * max(1, abs(numeric)),
                "\(layer.typeName) \(what): analytic \(analytic), numeric \(numeric)", sourceLocation: sourceLocation)
    }
    var xp = x
    for i in 0..<x.count {
        let v = xp.storage[i]
        xp.storage[i] = v + epsilon
        let plus = loss(xp)
        xp.storage[i] = v - epsilon
        let minus = loss(xp)
        xp.storage[i] = v
        compare(dx.storage[i], (plus - minus) / (2 * Double(epsilon)), "d input[\(i)]")
    }
    for (p, g) in zip(layer.parameters.filter(\.trainable), parameterGradients) {
        for i in 0..<p.value.count {
            let v = p.value.storage[i]
            p.value.storage[i] = v + epsilon
            let plus = loss(x)
            p.value.storage[i] = v - epsilon
            let minus = loss(x)
            p.value.storage[i] = v
            compare(g.storage[i], (plus - minus) / (2 * Double(epsilon)), "d \(p.name)[\(i)]")
        }
    }
}

/// Inputs whose values are all distinct and at least `gap` apart (no ties for max pooling).
func distinctInput(shape: [Int], gap: Float = 0.05, seed: UInt64 = 3) -> Tensor {
    var random = SeededRandom(seed: seed)
    let n = shape.reduce(1, *)
    let order = random.permutation(n)
    return Tensor(shape: shape, storage: order.map { Float($0) * gap - Float(n) * gap / 2 })
}

@Suite("Backward passes match finite differences")
struct GradientTests {
    @Test(arguments: [Padding.same, .valid])
    func conv2D(padding: Padding) throws {
        try checkGradients(Conv2D(filters: 3, kernelSize: 2, padding: padding), inputShape: [5, 4, 2])
    }

    @Test func conv2DStridedOddKernel() throws {
        try checkGradients(Conv2D(filters: 2, kernelSize: (3, 2), strides: (2, 1), padding: .same), inputShape: [5, 5, 3])
    }

    @Test func conv2DThinPatch() throws {
        // 2x2 kernel on one channel: the small-depth path of the seed's first layer.
        try checkGradients(Conv2D(filters: 5, kernelSize: 2, padding: .same), inputShape: [4, 4, 1], batch: 3)
    }

    @Test func conv2DWideEnoughForBLAS() throws {
        // 3x3x4 = 36 > the small-depth threshold: im2col + GEMM.
        try checkGradients(Conv2D(filters: 3, kernelSize: 3, padding: .valid), inputShape: [5, 5, 4])
    }

    @Test(arguments: [Padding.same, .valid])
    func depthwise(padding: Padding) throws {
        try checkGradients(DepthwiseConv2D(kernelSize: 3, strides: 2, padding: padding, depthMultiplier: 2), inputShape: [5, 5, 2])
    }

    @Test func dense() throws {
        try checkGradients(Dense(4), inputShape: [7], batch: 3)
    }

    @Test func denseSoftmax() throws {
        try checkGradients(Dense(5, activation: .softmax), inputShape: [6], batch: 2)
    }

    @Test(arguments: [ActivationFunction.relu, .relu6, .softmax, .linear])
    func activation(_ f: ActivationFunction) throws {
        // Values away from the kinks at 0 and 6.
        var random = SeededRandom(seed: 5)
        let x = Tensor(shape: [2, 6], uninitialized: { b in
            for i in b.indices {
                let v = random.nextFloat(in: 0.2, 3)
                b[i] = i % 3 == 0 ? -v : (i % 3 == 1 ? v : v + 4)
            }
        })
        try checkGradients(Activation(f), inputShape: [6], input: x, epsilon: 1e-2)
    }

    @Test(arguments: [Padding.valid, .same])
    func maxPooling(padding: Padding) throws {
        try checkGradients(MaxPooling2D(poolSize: 2, padding: padding), inputShape: [5, 5, 3],
                           input: distinctInput(shape: [2, 5, 5, 3]), epsilon: 1e-3)
    }

    @Test func maxPoolingOverlapping() throws {
        try checkGradients(MaxPooling2D(poolSize: 3, strides: 1), inputShape: [4, 4, 2],
                           input: distinctInput(shape: [2, 4, 4, 2]), epsilon: 1e-3)
    }

    @Test(arguments: [Padding.valid, .same])
    func averagePooling(padding: Padding) throws {
        try checkGradients(AveragePooling2D(poolSize: 2, padding: padding), inputShape: [5, 5, 3])
    }

    @Test func globalAveragePooling() throws {
        try checkGradients(GlobalAveragePooling2D(), inputShape: [3, 4, 5])
    }

    @Test func batchNormalizationTraining() throws {
        try checkGradients(BatchNormalization(), inputShape: [3, 3, 4], batch: 3)
    }

    @Test func flatten() throws {
        try checkGradients(Flatten(), inputShape: [2, 3, 4])
    }

    @Test func dropoutScalesAndMasksConsistently() throws {
        let layer = Dropout(0.5)
        var random = SeededRandom(seed: 1)
        try layer.build(inputShape: [1000], random: &random)
        let x = Tensor(shape: [4, 1000], repeating: 1)
        let y = layer.forward(x, training: true, random: &random)
        let kept = y.storage.filter { $0 != 0 }
        #expect(kept.allSatisfy { $0 == 2 }, "kept values are scaled by 1/(1-rate)")
        #expect(abs(Double(kept.count) / 4000 - 0.5) < 0.05, "about half are kept: \(kept.count) of 4000")
        let g = try #require(layer.backward(Tensor(shape: [4, 1000], repeating: 3), options: BackwardOptions()))
        #expect(zip(g.storage, y.storage).allSatisfy { $0 == ($1 == 0 ? 0 : 6) })
        #expect(layer.forward(x, training: false, random: &random) == x, "identity at inference")
    }
}
