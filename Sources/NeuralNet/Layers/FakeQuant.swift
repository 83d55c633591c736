import Kernels
import TensorCore

/// How a fake-quant op learns its range during training (the quantizers of
/// tensorflow/model-optimization).
public enum RangeObserver: Codable, Hashable, Sendable {
    /// `MovingAverageQuantizer`: each training step takes the batch's `min(batch min, 0)` and
    /// `max(batch max, 0)` and moves the range toward them,
    /// `range ← range − (range − batch)·(1 − decay)` (`assign_moving_average`, no debiasing); the
    /// step's fake-quant uses the updated range. TFMOT: decay 0.999, range starts at ±6.
    case movingAverage(decay: Float)
    /// `AllValuesQuantizer`: the running global min and max of everything seen (starts at 0, 0).
    /// TFMOT uses it for the model input.
    case allValues
}

/// The settings of an activation fake-quant: how it learns its range, and which tensor of the
/// integer model it stands for.
public struct FakeQuantConfiguration: Codable, Equatable, Sendable {
    public var observer: RangeObserver
    /// The range before training (TFMOT: ±6 for moving averages, 0 for all-values).
    public var initialMin: Float
    public var initialMax: Float
    /// The name of the float model's graph tensor whose int8 parameters this range sets
    /// (`input`, or the name of the layer that produces it).
    public var tensor: String
    /// `true` when the operator producing `tensor` is kept in float (a layer opted out of
    /// quantization): the range then sets the parameters of the QUANTIZE after it.
    public var floatProducer: Bool
    /// `true`: the first training batch sets the range outright (`min(batch min, 0)`,
    /// `max(batch max, 0)`), the observer takes over from the second (PyTorch's moving-average
    /// observers start this way); `false`: the range starts at `initialMin`/`initialMax` (TFMOT).
    public var startsFromFirstBatch: Bool

    public init(observer: RangeObserver, initialMin: Float, initialMax: Float, tensor: String, floatProducer: Bool = false,
                startsFromFirstBatch: Bool = false) {
        self.observer = observer
        self.initialMin = initialMin
        self.initialMax = initialMax
        self.tensor = tensor
        self.floatProducer = floatProducer
        self.startsFromFirstBatch = startsFromFirstBatch
    }

    /// TFMOT's activation quantizer: moving average, decay 0.999, range ±6 to start with (or,
    /// with `startsFromFirstBatch`, the first batch's range).
    public static func movingAverage(tensor: String, decay: Float = 0.999, floatProducer: Bool = false,
                                     startsFromFirstBatch: Bool = false) -> FakeQuantConfiguration {
        FakeQuantConfiguration(observer: .movingAverage(decay: decay), initialMin: -6, initialMax: 6, tensor: tensor,
                               floatProducer: floatProducer, startsFromFirstBatch: startsFromFirstBatch)
    }

    /// TFMOT's input quantizer: the global min and max of all values seen.
    public static func allValues(tensor: String) -> FakeQuantConfiguration {
        FakeQuantConfiguration(observer: .allValues, initialMin: 0, initialMax: 0, tensor: tensor)
    }

    func validate() throws {
        switch observer {
        case .movingAverage(let decay):
            guard decay > 0 && decay <= 1 else { throw ModelError(.badModelFile, "model file: fake-quant decay \(decay) not in (0, 1]") }
        case .allValues:
            break
        }
        guard initialMin.isFinite, initialMax.isFinite, initialMin <= 0, initialMax >= 0 else {
            throw ModelError(.badModelFile, "model file: fake-quant initial range [\(initialMin), \(initialMax)] must be finite and contain 0")
        }
    }
}

/// A layer with state that training forward passes update outside the optimizer (learned
/// ranges), which data-parallel replicas must combine after each step.
public protocol ReplicaMergeable: Layer {
    /// Folds the state that the replicas' copies of this layer reached during the step into this
    /// layer (whose own copy processed another part of the same batch).
    func mergeReplicaState(from replicas: [any Layer])
}

/// The learned range of one fake-quant and the fake-quant op itself, shared by ``FakeQuant`` and
/// the output quantizer of ``FakeQuantWrapper``.
final class ActivationQuantizer {
    let settings: FakeQuantConfiguration
    let minimum: Parameter
    let maximum: Parameter
    /// Training batches observed (for `startsFromFirstBatch`; saved with the range).
    let batches: Parameter
    /// Batches whose activations held NaN or an infinity (the range was left as it was).
    var nonFiniteBatches = 0
    var simulatesRounding = true
    var frozen = false
    private var lastInput = Tensor(shape: [0])
    private var lastGrid: FakeQuantGrid?

    init(_ settings: FakeQuantConfiguration) {
        self.settings = settings
        minimum = Parameter(name: "min", value: Tensor(shape: [1], repeating: settings.initialMin), trainable: false)
        maximum = Parameter(name: "max", value: Tensor(shape: [1], repeating: settings.initialMax), trainable: false)
        batches = Parameter(name: "batches", value: Tensor(shape: [1]), trainable: false)
    }

    var parameters: [Parameter] { [minimum, maximum, batches] }
    var observedBatches: Int { Int(batches.value.storage[0]) }

    var range: (min: Float, max: Float) { (minimum.value.storage[0], maximum.value.storage[0]) }
    var grid: FakeQuantGrid { FakeQuantGrid(min: range.min, max: range.max) }

    /// Updates the range from a training batch (unless frozen); a batch with NaN or an infinity
    /// leaves it unchanged and is counted.
    func observe(_ x: Tensor) {
        guard !frozen, x.count > 0 else { return }
        let r = x.storage.withUnsafeBufferPointer { FakeQuantArithmetic.range($0.baseAddress!, count: $0.count) }
        guard r.finite else {
            nonFiniteBatches += 1
            return
        }
        let bmin = Swift.min(r.min, 0), bmax = Swift.max(r.max, 0)
        var (lo, hi) = range
        let first = settings.startsFromFirstBatch && observedBatches == 0
        switch settings.observer {
        case _ where first:
            (lo, hi) = (bmin, bmax)
        case .movingAverage(let decay):
            lo -= (lo - bmin) * (1 - decay)
            hi -= (hi - bmax) * (1 - decay)
        case .allValues:
            lo = Swift.min(lo, bmin)
            hi = Swift.max(hi, bmax)
        }
        minimum.value.storage[0] = lo
        maximum.value.storage[0] = hi
        // A float counts exactly to 2^24 steps; it only has to tell 0 from more.
        if observedBatches < 1 << 24 { batches.value.storage[0] += 1 }
    }

    func forward(_ input: Tensor, training: Bool) -> Tensor {
        if training { observe(input) }
        let grid = self.grid
        let rounding = simulatesRounding
        let output = Tensor(shape: input.shape, uninitialized: { y in
            input.storage.withUnsafeBufferPointer { x in
                let (xp, yp) = (x.baseAddress!, y.baseAddress!)
                Parallel.forEachChunk(x.count) { r in
                    FakeQuantArithmetic.fakeQuantize(xp + r.lowerBound, into: yp + r.lowerBound, count: r.count,
                                                     grid: grid, rounding: rounding)
                }
            }
        })
        if training {
            lastInput = input
            lastGrid = grid
        }
        return output
    }

    /// The straight-through gradient through the last training forward; with `clamp`, also the
    /// backward pass of the ReLU/ReLU6 whose output the fake-quant took (one pass instead of two).
    func backward(_ gradient: inout Tensor, clamp: (lower: Float, upper: Float)? = nil) {
        guard let grid = lastGrid else { preconditionFailure("FakeQuant: backward without a training forward") }
        gradient.storage.withUnsafeMutableBufferPointer { g in
            lastInput.storage.withUnsafeBufferPointer { x in
                let (gp, xp) = (g.baseAddress!, x.baseAddress!)
                Parallel.forEachChunk(g.count) { r in
                    FakeQuantArithmetic.maskOutside(gp + r.lowerBound, input: xp + r.lowerBound, count: r.count, grid: grid, clamp: clamp)
                }
            }
        }
    }

    /// The replicas' ranges after one step, each updated with a part of the batch, combined into
    /// the range one update with the whole batch gives: both observers are monotone in the batch
    /// extremes, so that is the smallest minimum and the largest maximum.
    func merge(_ others: [ActivationQuantizer]) {
        var (lo, hi) = range
        for o in others {
            lo = Swift.min(lo, o.range.min)
            hi = Swift.max(hi, o.range.max)
            nonFiniteBatches = Swift.max(nonFiniteBatches, o.nonFiniteBatches)
            batches.value.storage[0] = Swift.max(batches.value.storage[0], o.batches.value.storage[0])
        }
        minimum.value.storage[0] = lo
        maximum.value.storage[0] = hi
    }
}

/// An activation fake-quant, TFMOT's `QuantizeLayer` / the output quantizer of a layer:
/// int8 asymmetric, per tensor, with a learned range (see ``FakeQuantGrid`` for the arithmetic).
///
/// Training: updates the range from the batch (``RangeObserver``), then rounds to the grid of the
/// updated range. Inference: rounds to the grid of the frozen range. Backward: the
/// straight-through estimator — the gradient passes where the input was inside the nudged range
/// (bounds included) and is zero outside.
///
/// Parameters: `min`, `max` and `batches` (the training batches observed), non-trainable, one value
/// each, saved with the model.
public final class FakeQuant: Layer, ReplicaMergeable {
    public var name = "fake_quant"
    public var typeName: String { "FakeQuant" }
    public let settings: FakeQuantConfiguration
    public private(set) var outputShape: [Int] = []
    let quantizer: ActivationQuantizer

    public init(_ settings: FakeQuantConfiguration) {
        self.settings = settings
        quantizer = ActivationQuantizer(settings)
    }

    public var parameters: [Parameter] { quantizer.parameters }
    public var configuration: LayerConfiguration { .fakeQuant(settings) }

    /// The learned range.
    public var range: (min: Float, max: Float) { quantizer.range }
    /// The int8 grid of the learned range.
    public var grid: FakeQuantGrid { quantizer.grid }
    /// Training batches whose values held NaN or an infinity (they left the range unchanged).
    public var nonFiniteBatches: Int { quantizer.nonFiniteBatches }
    /// When `true`, training forward passes use the range without updating it.
    public var freezesRange: Bool {
        get { quantizer.frozen }
        set { quantizer.frozen = newValue }
    }
    /// When `false`, the forward clamps to the range without rounding: the function whose
    /// derivative the straight-through estimator is (for gradient checks).
    public var simulatesRounding: Bool {
        get { quantizer.simulatesRounding }
        set { quantizer.simulatesRounding = newValue }
    }

    public func build(inputShape: [Int], random: inout SeededRandom) throws {
        outputShape = inputShape
    }

    public func forward(_ input: Tensor, training: Bool, random: inout SeededRandom) -> Tensor {
        quantizer.forward(input, training: training)
    }

    public func backward(_ outputGradient: consuming Tensor, options: BackwardOptions) -> Tensor? {
        guard options.needsInputGradient else { return nil }
        var g = consume outputGradient
        quantizer.backward(&g)
        return g
    }

    public func mergeReplicaState(from replicas: [any Layer]) {
        quantizer.merge(replicas.compactMap { ($0 as? FakeQuant)?.quantizer })
    }
}

/// Softmax whose inference output is rounded to the int8 softmax grid `(1/256, −128)`, the
/// parameters the integer SOFTMAX kernel requires (spec §1.2).
///
/// Training runs the plain softmax, as TFMOT does (it puts no fake-quant on a softmax output): the
/// gradient is the fused softmax–cross-entropy one, and a probability rounded to 0 would make the
/// loss infinite. Inference rounds, so that the simulated model's outputs (and argmax ties) are
/// those of the integer model.
public final class FakeQuantSoftmax: Layer {
    public var name = "fake_quant_softmax"
    public var typeName: String { "FakeQuantSoftmax" }
    public private(set) var outputShape: [Int] = []
    public var parameters: [Parameter] { [] }
    public var configuration: LayerConfiguration { .fakeQuantSoftmax }
    public var outputActivation: ActivationFunction { .softmax }
    /// The int8 softmax output grid.
    public static let grid = FakeQuantGrid(quantization: AffineQuantization(scale: 1.0 / 256.0, zeroPoint: -128))
    private let softmax = Activation(.softmax)

    public init() {}

    public func build(inputShape: [Int], random: inout SeededRandom) throws {
        guard inputShape.count == 1 else {
            throw ModelError(.shapeMismatch, "\(name) (FakeQuantSoftmax) needs flat inputs [classes], got \(inputShape)")
        }
        outputShape = inputShape
        try softmax.build(inputShape: inputShape, random: &random)
    }

    public func forward(_ input: Tensor, training: Bool, random: inout SeededRandom) -> Tensor {
        var y = softmax.forward(input, training: training, random: &random)
        if !training {
            y.storage.withUnsafeMutableBufferPointer { p in
                FakeQuantArithmetic.fakeQuantize(p.baseAddress!, into: p.baseAddress!, count: p.count, grid: Self.grid)
            }
        }
        return y
    }

    public func backward(_ outputGradient: consuming Tensor, options: BackwardOptions) -> Tensor? {
        softmax.backward(outputGradient, options: options)
    }
}
