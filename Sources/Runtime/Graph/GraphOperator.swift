import Kernels

/// One operator of a ``Graph``: what it computes (kind and typed options), which tensors it reads
/// and writes, and the TFLite operator version it was read with (or should be written with).
///
/// Inputs and outputs are indices into ``Graph/tensors``; an input of `-1` marks an absent optional
/// operand (for example a FULLY_CONNECTED without bias), as in TFLite.
///
/// Operand order is TFLite's:
///
/// | kind | inputs | options |
/// |---|---|---|
/// | CONV_2D | input NHWC, filter OHWI, bias [O] | padding, strides, dilations, fused activation |
/// | DEPTHWISE_CONV_2D | input NHWC, filter [1,KH,KW,C·M], bias [C·M] | + depth multiplier |
/// | FULLY_CONNECTED | input (flattened to [-1,K]), weights [N,K], bias [N] (optional) | fused activation, keepNumDims, asymmetricQuantizeInputs |
/// | MAX_POOL_2D, AVERAGE_POOL_2D | input NHWC | padding, strides, filter size, fused activation |
/// | MEAN | input, axes (constant int32) | keepDims |
/// | ADD | a, b (broadcasting) | fused activation |
/// | RESHAPE | input, new shape (constant int32, optional) | newShape (optional) |
/// | SOFTMAX | input (softmax over the last axis) | beta |
/// | QUANTIZE | float (or integer, to requantize) input | — |
/// | DEQUANTIZE | int8/uint8/int16/float16 input | — |
public struct GraphOperator: Sendable, Equatable {
    /// The computation and its typed options.
    public var options: Options
    /// Input tensor indices (`-1` = absent optional operand).
    public var inputs: [Int]
    /// Output tensor indices.
    public var outputs: [Int]
    /// The TFLite operator version (`OperatorCode.version`); 1 when unknown.
    public var version: Int

    public init(_ options: Options, inputs: [Int], outputs: [Int], version: Int = 1) {
        self.options = options
        self.inputs = inputs
        self.outputs = outputs
        self.version = version
    }

    /// The operator kind (options without their payload).
    public var kind: Kind { options.kind }
}

extension GraphOperator {
    /// The operators a ``Graph`` can hold.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case conv2D, depthwiseConv2D, fullyConnected, maxPool2D, averagePool2D
        case mean, add, reshape, softmax, quantize, dequantize

        /// TFLite's builtin operator name (`CONV_2D`, …), used in messages.
        public var tfliteName: String {
            switch self {
            case .conv2D: "CONV_2D"
            case .depthwiseConv2D: "DEPTHWISE_CONV_2D"
            case .fullyConnected: "FULLY_CONNECTED"
            case .maxPool2D: "MAX_POOL_2D"
            case .averagePool2D: "AVERAGE_POOL_2D"
            case .mean: "MEAN"
            case .add: "ADD"
            case .reshape: "RESHAPE"
            case .softmax: "SOFTMAX"
            case .quantize: "QUANTIZE"
            case .dequantize: "DEQUANTIZE"
            }
        }
    }

    /// An operator's kind with its typed options.
    public enum Options: Sendable, Equatable {
        case conv2D(Conv2DOptions)
        case depthwiseConv2D(DepthwiseConv2DOptions)
        case fullyConnected(FullyConnectedOptions)
        case maxPool2D(Pool2DOptions)
        case averagePool2D(Pool2DOptions)
        case mean(MeanOptions)
        case add(AddOptions)
        case reshape(ReshapeOptions)
        case softmax(SoftmaxOptions)
        case quantize
        case dequantize

        public var kind: Kind {
            switch self {
            case .conv2D: .conv2D
            case .depthwiseConv2D: .depthwiseConv2D
            case .fullyConnected: .fullyConnected
            case .maxPool2D: .maxPool2D
            case .averagePool2D: .averagePool2D
            case .mean: .mean
            case .add: .add
            case .reshape: .reshape
            case .softmax: .softmax
            case .quantize: .quantize
            case .dequantize: .dequantize
            }
        }

        /// The fused activation, for the kinds that have one.
        public var fusedActivation: FusedActivation? {
            switch self {
            case .conv2D(let o): o.fusedActivation
            case .depthwiseConv2D(let o): o.fusedActivation
            case .fullyConnected(let o): o.fusedActivation
            case .maxPool2D(let o), .averagePool2D(let o): o.fusedActivation
            case .add(let o): o.fusedActivation
            default: nil
            }
        }
    }

    /// Window padding (TFLite `Padding`: SAME = 0, VALID = 1): Kernels' ``Kernels/PaddingType``.
    public typealias Padding = PaddingType

    /// An activation fused into an operator's output (TFLite `ActivationFunctionType`: NONE = 0,
    /// RELU = 1, RELU_N1_TO_1 = 2, RELU6 = 3; TANH and SIGN_BIT are not supported): Kernels'
    /// ``Kernels/FusedActivation``.
    public typealias FusedActivation = Kernels.FusedActivation

    /// CONV_2D options (TFLite `Conv2DOptions`).
    public struct Conv2DOptions: Sendable, Equatable {
        public var padding: Padding
        public var strideWidth: Int
        public var strideHeight: Int
        public var dilationWidth: Int
        public var dilationHeight: Int
        public var fusedActivation: FusedActivation

        public init(padding: Padding, strideWidth: Int = 1, strideHeight: Int = 1,
                    dilationWidth: Int = 1, dilationHeight: Int = 1, fusedActivation: FusedActivation = .none) {
            self.padding = padding
            self.strideWidth = strideWidth
            self.strideHeight = strideHeight
            self.dilationWidth = dilationWidth
            self.dilationHeight = dilationHeight
            self.fusedActivation = fusedActivation
        }
    }

    /// DEPTHWISE_CONV_2D options (TFLite `DepthwiseConv2DOptions`).
    ///
    /// `depthMultiplier` is redundant (output channels / input channels); TFLite ignores it since
    /// TF 2.0 and so does validation when it is 0.
    public struct DepthwiseConv2DOptions: Sendable, Equatable {
        public var padding: Padding
        public var strideWidth: Int
        public var strideHeight: Int
        public var depthMultiplier: Int
        public var dilationWidth: Int
        public var dilationHeight: Int
        public var fusedActivation: FusedActivation

        public init(padding: Padding, strideWidth: Int = 1, strideHeight: Int = 1, depthMultiplier: Int = 1,
                    dilationWidth: Int = 1, dilationHeight: Int = 1, fusedActivation: FusedActivation = .none) {
            self.padding = padding
            self.strideWidth = strideWidth
            self.strideHeight = strideHeight
            self.depthMultiplier = depthMultiplier
            self.dilationWidth = dilationWidth
            self.dilationHeight = dilationHeight
            self.fusedActivation = fusedActivation
        }
    }

    /// FULLY_CONNECTED options (TFLite `FullyConnectedOptions`, DEFAULT weights format only).
    public struct FullyConnectedOptions: Sendable, Equatable {
        public var fusedActivation: FusedActivation
        /// Keep the input's leading dimensions (`[..., K] → [..., N]`) instead of `[batches, N]`.
        public var keepNumDims: Bool
        /// Hybrid only: quantize the float input asymmetrically per batch row at run time.
        public var asymmetricQuantizeInputs: Bool

        public init(fusedActivation: FusedActivation = .none, keepNumDims: Bool = false,
                    asymmetricQuantizeInputs: Bool = false) {
            self.fusedActivation = fusedActivation
            self.keepNumDims = keepNumDims
            self.asymmetricQuantizeInputs = asymmetricQuantizeInputs
        }
    }

    /// MAX_POOL_2D / AVERAGE_POOL_2D options (TFLite `Pool2DOptions`).
    public struct Pool2DOptions: Sendable, Equatable {
        public var padding: Padding
        public var strideWidth: Int
        public var strideHeight: Int
        public var filterWidth: Int
        public var filterHeight: Int
        public var fusedActivation: FusedActivation

        public init(padding: Padding, strideWidth: Int, strideHeight: Int, filterWidth: Int, filterHeight: Int,
                    fusedActivation: FusedActivation = .none) {
            self.padding = padding
            self.strideWidth = strideWidth
            self.strideHeight = strideHeight
            self.filterWidth = filterWidth
            self.filterHeight = filterHeight
            self.fusedActivation = fusedActivation
        }
    }

    /// MEAN options (TFLite `ReducerOptions`); the axes are the constant int32 input 1.
    public struct MeanOptions: Sendable, Equatable {
        public var keepDims: Bool
        public init(keepDims: Bool = false) { self.keepDims = keepDims }
    }

    /// ADD options (TFLite `AddOptions`).
    public struct AddOptions: Sendable, Equatable {
        public var fusedActivation: FusedActivation
        /// int16 only: power-of-two scales (TFLite default `true`); kept for round trips.
        public var potScaleInt16: Bool
        public init(fusedActivation: FusedActivation = .none, potScaleInt16: Bool = true) {
            self.fusedActivation = fusedActivation
            self.potScaleInt16 = potScaleInt16
        }
    }

    /// RESHAPE options (TFLite `ReshapeOptions`). The converter omits them and passes the new shape
    /// as a constant int32 input 1 instead; either or both may be present.
    public struct ReshapeOptions: Sendable, Equatable {
        /// The target shape (one entry may be -1), or `nil` when the options were absent.
        public var newShape: [Int]?
        public init(newShape: [Int]? = nil) { self.newShape = newShape }
    }

    /// SOFTMAX options (TFLite `SoftmaxOptions`; note its schema default `beta = 0.0`).
    public struct SoftmaxOptions: Sendable, Equatable {
        public var beta: Float
        public init(beta: Float = 1) { self.beta = beta }
    }
}
