import TensorCore

/// Adam with Keras's defaults and update rule.
///
///     t = iterations + 1
///     alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
///     m += (g - m) * (1 - beta1);  v += (g^2 - v) * (1 - beta2)
///     w -= alpha * m / (sqrt(v) + epsilon)
///
/// Defaults: lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-7 (Keras).
public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public private(set) var iterations = 0
    private var m: [[Float]] = []
    private var v: [[Float]] = []

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    public func step(_ parameters: [Parameter]) {
        if m.count != parameters.count {
            m = parameters.map { [Float](repeating: 0, count: $0.value.count) }
            v = m
        }
        iterations += 1
        let t = Double(iterations)
        let alpha = Float(Double(learningRate) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
        let b1 = beta1, b2 = beta2, eps = epsilon
        for (index, p) in parameters.enumerated() {
            p.value.storage.withUnsafeMutableBufferPointer { w in
                p.gradient.storage.withUnsafeBufferPointer { g in
                    m[index].withUnsafeMutableBufferPointer { mp in
                        v[index].withUnsafeMutableBufferPointer { vp in
                            let (wp, gp, mpp, vpp) = (w.baseAddress!, g.baseAddress!, mp.baseAddress!, vp.baseAddress!)
                            Parallel.forEachChunk(w.count, costPerItem: 4) { r in
                                let o = r.lowerBound
                                Adam.update(wp + o, gp + o, mpp + o, vpp + o, count: r.count,
                                            alpha: alpha, beta1: b1, beta2: b2, epsilon: eps)
                            }
                        }
                    }
                }
            }
        }
    }

    /// One Adam step over `count` weights, eight lanes at a time.
    @inlinable
    static func update(_ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                       _ v: UnsafeMutablePointer<Float>, count: Int, alpha: Float, beta1: Float, beta2: Float, epsilon: Float) {
        let a = SIMD8<Float>(repeating: alpha), c1 = SIMD8<Float>(repeating: 1 - beta1)
        let c2 = SIMD8<Float>(repeating: 1 - beta2), eps = SIMD8<Float>(repeating: epsilon)
        var i = 0
        while i + 8 <= count {
            let gi = Vectorized.load(g + i)
            var mi = Vectorized.load(m + i)
            var vi = Vectorized.load(v + i)
            mi += (gi - mi) * c1
            vi += (gi * gi - vi) * c2
            Vectorized.store(mi, m + i)
            Vectorized.store(vi, v + i)
            Vectorized.store(Vectorized.load(w + i) - a * mi / (vi.squareRoot() + eps), w + i)
            i += 8
        }
        while i < count {
            let gi = g[i]
            m[i] += (gi - m[i]) * (1 - beta1)
            v[i] += (gi * gi - v[i]) * (1 - beta2)
            w[i] -= alpha * m[i] / (v[i].squareRoot() + epsilon)
            i += 1
        }
    }

    public var state: OptimizerState {
        OptimizerState(kind: "adam",
                       hyperparameters: ["learning_rate": Double(learningRate), "beta_1": Double(beta1),
                                         "beta_2": Double(beta2), "epsilon": Double(epsilon)],
                       iterations: iterations, slots: m.isEmpty ? [:] : ["m": m, "v": v])
    }

    public func restore(_ state: OptimizerState, parameters: [Parameter]) throws {
        iterations = max(0, state.iterations)
        m = try checkSlots(state.slots["m"], name: "m", parameters: parameters)
        v = try checkSlots(state.slots["v"], name: "v", parameters: parameters)
    }
}

#if canImport(Glibc)
import Glibc
#endif
