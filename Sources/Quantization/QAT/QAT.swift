import Kernels
import NeuralNet
import TensorCore

/// Quantization-aware training, as tensorflow/model-optimization's default 8-bit scheme does it,
/// with placement and arithmetic that mirror QuantKit's int8 converter exactly.
///
///     let qat = try QAT.prepare(model)                      // tfmot.quantization.keras.quantize_model
///     qat.compile(optimizer: Adam(), loss: .sparseCategoricalCrossentropy, metrics: [.accuracy])
///     try qat.fit(train, epochs: 1, batchSize: 64, validation: val)
///     let int8 = try qat.convert(input: .int8, output: .int8)   // a Graph, no calibration data
///     try TFLiteFile.write(int8, to: url)
///
/// What `prepare` puts where (the int8 graph's own structure, spec §7):
///
/// - **model input**: a ``NeuralNet/FakeQuant`` with TFMOT's all-values observer (global min/max);
/// - **Conv2D / DepthwiseConv2D / Dense**, with a directly following BatchNormalization (folded)
///   and ReLU/ReLU6 (fused) — the group the lowering turns into one operator: a
///   ``NeuralNet/FakeQuantWrapper`` with symmetric narrow-range int8 weights (per output channel for
///   convolutions, per tensor for Dense unless ``Options/perChannelDense``) and an output
///   fake-quant with a moving-average range (decay 0.999, starting at ±6) after the fused activation;
/// - **GlobalAveragePooling2D** (MEAN, which requantizes): an output fake-quant;
/// - **MaxPooling2D, AveragePooling2D, Flatten, Dropout**: nothing (same-scale operators keep their
///   input's parameters; dropout is gone at inference);
/// - **softmax**: a ``NeuralNet/FakeQuantSoftmax`` (output grid 1/256, −128 at inference); a Dense
///   with a softmax activation is split into the Dense (whose logits get the fake-quant) and the softmax.
///
/// QuantKit's Sequential has no ADD; average pooling's int8 kernel rounds its mean to the input's grid,
/// which the simulation does not (an error of at most half a step, only in models with average pooling).
public enum QAT {
    /// Choices of `prepare`; the defaults are TFMOT's.
    public struct Options: Sendable, Hashable {
        /// Dense (FULLY_CONNECTED) weights with one scale per output channel instead of one per tensor
        /// (TFMOT's default is per tensor; the PTQ converter's is per channel).
        public var perChannelDense: Bool
        /// Layers kept in float32 (by name): they train and run unquantized; their neighbours stay int8,
        /// with the learned range of their output at the QUANTIZE that follows.
        public var floatLayers: Set<String>
        /// Steps after which folded batch normalization stops using batch statistics (and updating the
        /// moving ones); `nil` never freezes.
        public var freezeBatchNormAfter: Int?
        /// Decay of the moving-average activation ranges (TFMOT: 0.999).
        public var activationDecay: Float
        /// How the model input's range is learned (TFMOT: all values).
        public var inputObserver: RangeObserver
        /// `true`: each moving-average range starts from the first training batch's range;
        /// `false`: from ±6, as TFMOT's do (which, with decay 0.999, still weighs 42% after one
        /// epoch of 860 steps).
        public var rangesStartFromFirstBatch: Bool

        public init(perChannelDense: Bool = false, floatLayers: Set<String> = [], freezeBatchNormAfter: Int? = nil,
                    activationDecay: Float = 0.999, inputObserver: RangeObserver = .allValues,
                    rangesStartFromFirstBatch: Bool = true) {
            self.perChannelDense = perChannelDense
            self.floatLayers = floatLayers
            self.freezeBatchNormAfter = freezeBatchNormAfter
            self.activationDecay = activationDecay
            self.inputObserver = inputObserver
            self.rangesStartFromFirstBatch = rangesStartFromFirstBatch
        }
    }

    /// One learned activation range and the int8 parameters it gives.
    public struct LearnedRange: Sendable, Equatable, CustomStringConvertible {
        /// The fake-quant's layer (a ``NeuralNet/FakeQuant`` or ``NeuralNet/FakeQuantWrapper``).
        public var layer: String
        /// The float graph tensor it stands for.
        public var tensor: String
        public var min: Float
        public var max: Float
        public var grid: FakeQuantGrid
        /// Training batches with NaN or infinite values, which left the range unchanged.
        public var nonFiniteBatches: Int
        /// The producing operator is kept in float (opted out).
        public var floatProducer: Bool

        public var description: String {
            "\(tensor) [\(min), \(max)] -> scale \(grid.scale), zero point \(grid.zeroPoint)"
                + (grid.collapsed ? " (collapsed)" : "") + (nonFiniteBatches > 0 ? " (\(nonFiniteBatches) non-finite batches skipped)" : "")
        }

        /// A warning for a degenerate range, or `nil`.
        public var warning: String? {
            var parts: [String] = []
            if grid.collapsed {
                parts.append("the range of '\(tensor)' (layer \(layer)) collapsed to [\(min), \(max)] (a constant activation); "
                             + "it gets scale 1 and zero point -128, which represents 0 exactly")
            }
            if nonFiniteBatches > 0 {
                parts.append("'\(tensor)' (layer \(layer)) held NaN or infinite values in \(nonFiniteBatches) training batch(es); "
                             + "they were left out of its range")
            }
            return parts.isEmpty ? nil : parts.joined(separator: "; ")
        }
    }
}

/// Why quantization-aware training cannot prepare or convert a model.
public struct QATError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A layer QAT cannot quantize (the message says why and how to keep it float).
        case unsupportedLayer
        /// ``QAT/Options/floatLayers`` names a layer the model does not have.
        case unknownLayer
        /// The model was never built.
        case notBuilt
        /// The model is already quantization-aware (prepare), or is not (convert, load).
        case alreadyPrepared
        case notQuantizationAware
        /// The trained model cannot be converted to int8.
        case conversionFailed
    }
    public var kind: Kind
    public var message: String
    /// The layer concerned, if any.
    public var layer: String?

    public init(_ kind: Kind, _ message: String, layer: String? = nil) {
        self.kind = kind
        self.message = message
        self.layer = layer
    }

    public var description: String { message }
}
