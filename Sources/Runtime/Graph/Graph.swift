import TensorCore

/// A model as a dataflow graph: the hub every stage after training speaks.
///
/// ## Design
///
/// A `Graph` is kept close to one TFLite subgraph so that importing and exporting `.tflite` files
/// are near 1:1 maps (see DESIGN.md, "The one picture"):
///
/// - ``tensors`` — every value: activations, graph inputs and outputs, and constants (weights,
///   biases, shape operands). A ``GraphTensor`` has a name, static shape, ``TensorCore/ElementType``,
///   optional affine quantization (per tensor or per axis) and optional constant bytes.
/// - ``operators`` — in execution order. A ``GraphOperator`` has typed options
///   (``GraphOperator/Options``), input and output tensor indices (TFLite operand order, `-1` for
///   an absent optional operand) and the TFLite op version.
/// - ``inputs`` / ``outputs`` — tensor indices fed and read by the caller.
/// - ``metadata``, ``signatures``, ``name``, ``description`` — carried through from a file so that a
///   round trip keeps them; nothing in QuantKit's computation depends on them.
///
/// A float model, a dynamic-range ("hybrid") model (float activations, int8 weights), a full-int8
/// model and a float16-weight model (FLOAT16 constants behind DEQUANTIZE) are all `Graph`s; the
/// element types and quantization parameters of the tensors say which is which.
///
/// Nothing about a `Graph` is trusted until ``validate()`` passes: indices in range, each operator's
/// shapes, element types and quantization parameters consistent with what its kernel requires
/// (the load-time and `Prepare` checks of the TFLite interpreter), constant data of the right length,
/// and every operand defined before it is used. The TFLite reader validates every graph it returns;
/// code that builds or rewrites a graph calls ``validate()`` before handing it on.
public struct Graph: Sendable, Equatable {
    /// All tensors; operators and ``inputs``/``outputs`` refer to them by index.
    public var tensors: [GraphTensor]
    /// Operators in execution order.
    public var operators: [GraphOperator]
    /// Indices of the tensors the caller feeds.
    public var inputs: [Int]
    /// Indices of the tensors the caller reads.
    public var outputs: [Int]
    /// Subgraph name (TFLite `SubGraph.name`), if any.
    public var name: String?
    /// Model description (TFLite `Model.description`), if any.
    public var description: String?
    /// Named opaque blobs (TFLite `Model.metadata`), e.g. `min_runtime_version`.
    public var metadata: [Metadata]
    /// Named entry points (TFLite `SignatureDef`s of this subgraph).
    public var signatures: [Signature]

    public init(tensors: [GraphTensor], operators: [GraphOperator], inputs: [Int], outputs: [Int],
                name: String? = nil, description: String? = nil,
                metadata: [Metadata] = [], signatures: [Signature] = []) {
        self.tensors = tensors
        self.operators = operators
        self.inputs = inputs
        self.outputs = outputs
        self.name = name
        self.description = description
        self.metadata = metadata
        self.signatures = signatures
    }

    /// A named metadata blob (TFLite `Metadata` with its buffer's bytes).
    public struct Metadata: Sendable, Equatable {
        public var name: String
        public var bytes: [UInt8]
        public init(name: String, bytes: [UInt8]) {
            self.name = name
            self.bytes = bytes
        }

        /// The bytes read as a NUL-terminated string (e.g. `min_runtime_version` = `"1.14.0"`).
        public var string: String {
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// A named entry point: aliases for some input and output tensors (TFLite `SignatureDef`).
    public struct Signature: Sendable, Equatable {
        public var key: String
        /// `(alias, tensor index)` pairs for the inputs.
        public var inputs: [(name: String, tensor: Int)]
        /// `(alias, tensor index)` pairs for the outputs.
        public var outputs: [(name: String, tensor: Int)]

        public init(key: String, inputs: [(name: String, tensor: Int)], outputs: [(name: String, tensor: Int)]) {
            self.key = key
            self.inputs = inputs
            self.outputs = outputs
        }

        public static func == (a: Signature, b: Signature) -> Bool {
            a.key == b.key
                && a.inputs.map(\.name) == b.inputs.map(\.name) && a.inputs.map(\.tensor) == b.inputs.map(\.tensor)
                && a.outputs.map(\.name) == b.outputs.map(\.name) && a.outputs.map(\.tensor) == b.outputs.map(\.tensor)
        }
    }
}

extension Graph {
    /// The indices of the operators that read tensor `index`.
    public func consumers(of index: Int) -> [Int] {
        operators.indices.filter { operators[$0].inputs.contains(index) }
    }

    /// The index of the operator that writes tensor `index`, or `nil` (input, constant or unused).
    public func producer(of index: Int) -> Int? {
        operators.indices.first { operators[$0].outputs.contains(index) }
    }

    /// `"tensor 8 'sequential/conv2d/Conv2D'"`, for messages; safe for any index.
    public func describeTensor(_ index: Int) -> String {
        guard tensors.indices.contains(index) else { return "tensor \(index)" }
        let name = tensors[index].name
        return name.isEmpty ? "tensor \(index)" : "tensor \(index) '\(name)'"
    }

    /// `"operator 1 (CONV_2D)"`, for messages; safe for any index.
    public func describeOperator(_ index: Int) -> String {
        guard operators.indices.contains(index) else { return "operator \(index)" }
        return "operator \(index) (\(operators[index].kind.tfliteName))"
    }

    /// Total number of elements in constant tensors of the given element types (all when `nil`).
    public func constantElementCount(of types: Set<ElementType>? = nil) -> Int {
        tensors.reduce(0) { sum, t in
            guard t.isConstant, types?.contains(t.elementType) ?? true else { return sum }
            return sum + (t.elementCount ?? 0)
        }
    }
}
