import TensorCore

/// Constants of the TFLite FlatBuffers schema (`tflite/converter/schema/schema.fbs` in
/// google-ai-edge/LiteRT, same as `tensorflow/lite/schema/schema.fbs`).
///
/// Field ids are declaration order; a union takes two ids (`X_type`, then `X`); deprecated fields
/// keep their ids. Only what QuantKit reads and writes is listed.
enum Schema {
    static let fileIdentifier = "TFL3"
    static let version: UInt32 = 3

    enum Model {
        static let version = 0, operatorCodes = 1, subgraphs = 2, description = 3, buffers = 4
        static let metadataBuffer = 5, metadata = 6, signatureDefs = 7
    }

    enum OperatorCode {
        static let deprecatedBuiltinCode = 0, customCode = 1, version = 2, builtinCode = 3
    }

    enum SubGraph {
        static let tensors = 0, inputs = 1, outputs = 2, operators = 3, name = 4
    }

    enum Tensor {
        static let shape = 0, type = 1, buffer = 2, name = 3, quantization = 4, isVariable = 5
        static let sparsity = 6, shapeSignature = 7, hasRank = 8, variantTensors = 9, externalBuffer = 10
    }

    enum QuantizationParameters {
        static let min = 0, max = 1, scale = 2, zeroPoint = 3, detailsType = 4, details = 5
        static let quantizedDimension = 6
    }

    enum Operator {
        static let opcodeIndex = 0, inputs = 1, outputs = 2, builtinOptionsType = 3, builtinOptions = 4
        static let customOptions = 5, customOptionsFormat = 6, mutatingVariableInputs = 7, intermediates = 8
    }

    enum Buffer {
        static let data = 0, offset = 1, size = 2
    }

    enum Metadata {
        static let name = 0, buffer = 1
    }

    enum SignatureDef {
        static let inputs = 0, outputs = 1, signatureKey = 2, subgraphIndex = 4
    }

    enum TensorMap {
        static let name = 0, tensorIndex = 1
    }

    /// `BuiltinOperator` codes QuantKit reads and writes.
    enum BuiltinCode {
        static let add: Int32 = 0
        static let averagePool2D: Int32 = 1
        static let conv2D: Int32 = 3
        static let depthwiseConv2D: Int32 = 4
        static let dequantize: Int32 = 6
        static let fullyConnected: Int32 = 9
        static let maxPool2D: Int32 = 17
        static let reshape: Int32 = 22
        static let softmax: Int32 = 25
        static let custom: Int32 = 32
        static let mean: Int32 = 40
        static let quantize: Int32 = 114
        static let placeholderForGreaterOpCodes: Int32 = 127
    }

    /// `BuiltinOptions` union type numbers (1-based; 0 = NONE).
    enum BuiltinOptionsType {
        static let none: UInt8 = 0
        static let conv2D: UInt8 = 1            // Conv2DOptions
        static let depthwiseConv2D: UInt8 = 2   // DepthwiseConv2DOptions
        static let pool2D: UInt8 = 5            // Pool2DOptions
        static let fullyConnected: UInt8 = 8    // FullyConnectedOptions
        static let softmax: UInt8 = 9           // SoftmaxOptions
        static let add: UInt8 = 11              // AddOptions
        static let reshape: UInt8 = 17          // ReshapeOptions
        static let reducer: UInt8 = 27          // ReducerOptions (MEAN, SUM, ...)
        static let dequantize: UInt8 = 38       // DequantizeOptions (empty)
        static let quantize: UInt8 = 89         // QuantizeOptions (empty)
    }

    /// Field ids of the options tables.
    enum Conv2DOptions {
        static let padding = 0, strideW = 1, strideH = 2, fusedActivation = 3, dilationW = 4, dilationH = 5
        static let quantizedBiasType = 6
    }

    enum DepthwiseConv2DOptions {
        static let padding = 0, strideW = 1, strideH = 2, depthMultiplier = 3, fusedActivation = 4
        static let dilationW = 5, dilationH = 6
    }

    enum Pool2DOptions {
        static let padding = 0, strideW = 1, strideH = 2, filterWidth = 3, filterHeight = 4, fusedActivation = 5
    }

    enum FullyConnectedOptions {
        static let fusedActivation = 0, weightsFormat = 1, keepNumDims = 2, asymmetricQuantizeInputs = 3
        static let quantizedBiasType = 4
    }

    enum SoftmaxOptions { static let beta = 0 }
    enum AddOptions { static let fusedActivation = 0, potScaleInt16 = 1 }
    enum ReshapeOptions { static let newShape = 0 }
    enum ReducerOptions { static let keepDims = 0 }

    /// `TensorType` codes.
    enum TensorType {
        static let float32: Int8 = 0, float16: Int8 = 1, int32: Int8 = 2, uint8: Int8 = 3, int64: Int8 = 4
        static let int16: Int8 = 7, int8: Int8 = 9

        static let names = ["FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64", "STRING", "BOOL", "INT16",
                            "COMPLEX64", "INT8", "FLOAT64", "COMPLEX128", "UINT64", "RESOURCE", "VARIANT",
                            "UINT32", "UINT16", "INT4", "BFLOAT16", "INT2", "UINT4", "FLOAT8_E4M3FN", "FLOAT8_E5M2"]

        static func name(_ code: Int8) -> String {
            code >= 0 && Int(code) < names.count ? "\(names[Int(code)]) (\(code))" : "unknown type \(code)"
        }

        static func elementType(_ code: Int8) -> ElementType? {
            switch code {
            case float32: .float32
            case float16: .float16
            case int32: .int32
            case uint8: .uint8
            case int64: .int64
            case int16: .int16
            case int8: .int8
            default: nil
            }
        }

        static func code(_ type: ElementType) -> Int8 {
            switch type {
            case .float32: float32
            case .float16: float16
            case .int32: int32
            case .uint8: uint8
            case .int64: int64
            case .int16: int16
            case .int8: int8
            }
        }
    }

    /// `Padding`: SAME = 0, VALID = 1.
    enum Padding { static let same: Int8 = 0, valid: Int8 = 1 }

    /// `ActivationFunctionType`: NONE, RELU, RELU_N1_TO_1, RELU6, TANH, SIGN_BIT.
    enum Activation {
        static let none: Int8 = 0, relu: Int8 = 1, reluN1To1: Int8 = 2, relu6: Int8 = 3, tanh: Int8 = 4, signBit: Int8 = 5
    }

    /// Names of `BuiltinOperator` codes 0 ... 161, for messages about operators QuantKit lacks.
    static let builtinNames: [String] = [
        "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE",
        "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D",
        "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU",
        "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH",
        "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD",
        "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN",
        "SUB", "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN",
        "EXP", "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU",
        "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL",
        "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL",
        "LOG", "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK",
        "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY",
        "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU",
        "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND",
        "COS", "WHERE", "RANK", "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND",
        "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2",
        "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL", "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE",
        "BROADCAST_TO", "RFFT2D", "CONV_3D", "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND",
        "HASHTABLE_IMPORT", "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE", "READ_VARIABLE",
        "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL", "BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL",
        "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX",
        "UNSORTED_SEGMENT_SUM", "ATAN2", "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT",
    ]

    /// `"SUB"`, or `"builtin code 249"` for a code this table does not name.
    static func builtinLabel(_ code: Int32) -> String {
        code >= 0 && Int(code) < builtinNames.count ? builtinNames[Int(code)] : "builtin code \(code)"
    }

    /// `"SUB (builtin code 41)"`.
    static func builtinName(_ code: Int32) -> String {
        code >= 0 && Int(code) < builtinNames.count ? "\(builtinNames[Int(code)]) (builtin code \(code))" : "builtin code \(code)"
    }
}
