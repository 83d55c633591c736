import Runtime
import TensorCore

/// Encodes a `Graph` as a TFLite model with the test `FBEncoder` (schema facts from spec §6), so the
/// reader can be checked on every op kind, and hostile variants can be derived from valid models.
enum TestModelEncoder {
    static func typeCode(_ t: ElementType) -> Int8 {
        switch t {
        case .float32: 0
        case .float16: 1
        case .int32: 2
        case .uint8: 3
        case .int64: 4
        case .int16: 7
        case .int8: 9
        }
    }

    static func code(_ kind: GraphOperator.Kind) -> Int32 {
        switch kind {
        case .add: 0
        case .averagePool2D: 1
        case .conv2D: 3
        case .depthwiseConv2D: 4
        case .dequantize: 6
        case .fullyConnected: 9
        case .maxPool2D: 17
        case .reshape: 22
        case .softmax: 25
        case .mean: 40
        case .quantize: 114
        }
    }

    static func activation(_ a: GraphOperator.FusedActivation) -> FB {
        switch a {
        case .none: .i8(0)
        case .relu: .i8(1)
        case .reluN1To1: .i8(2)
        case .relu6: .i8(3)
        }
    }

    static func padding(_ p: GraphOperator.Padding) -> FB { .i8(p == .same ? 0 : 1) }

    /// (options type, options table)
    static func options(_ o: GraphOperator.Options) -> (UInt8, FB?) {
        switch o {
        case .conv2D(let p):
            (1, .table([0: padding(p.padding), 1: .i32(Int32(p.strideWidth)), 2: .i32(Int32(p.strideHeight)),
                        3: activation(p.fusedActivation), 4: .i32(Int32(p.dilationWidth)),
                        5: .i32(Int32(p.dilationHeight))]))
        case .depthwiseConv2D(let p):
            (2, .table([0: padding(p.padding), 1: .i32(Int32(p.strideWidth)), 2: .i32(Int32(p.strideHeight)),
                        3: .i32(Int32(p.depthMultiplier)), 4: activation(p.fusedActivation),
                        5: .i32(Int32(p.dilationWidth)), 6: .i32(Int32(p.dilationHeight))]))
        case .fullyConnected(let p):
            (8, .table([0: activation(p.fusedActivation), 2: .bool(p.keepNumDims), 3: .bool(p.asymmetricQuantizeInputs)]))
        case .maxPool2D(let p), .averagePool2D(let p):
            (5, .table([0: padding(p.padding), 1: .i32(Int32(p.strideWidth)), 2: .i32(Int32(p.strideHeight)),
                        3: .i32(Int32(p.filterWidth)), 4: .i32(Int32(p.filterHeight)), 5: activation(p.fusedActivation)]))
        case .mean(let p): (27, .table([0: .bool(p.keepDims)]))
        case .add(let p): (11, .table([0: activation(p.fusedActivation), 1: .bool(p.potScaleInt16)]))
        case .reshape(let p): p.newShape.map { (17, .table([0: .ints($0)])) } ?? (0, nil)
        case .softmax(let p): (9, .table([0: .f32(p.beta)]))
        case .quantize: (0, nil)
        case .dequantize: (0, nil)
        }
    }

    /// The model as an `FB` tree (so tests can tamper with it before encoding).
    static func tree(_ g: Graph) -> FB {
        var buffers: [FB] = [.table([:])]
        var tensors: [FB] = []
        for t in g.tensors {
            var fields: [Int: FB] = [0: .ints(t.shape), 1: .i8(typeCode(t.elementType)), 3: .string(t.name)]
            if let data = t.data {
                fields[2] = .u32(UInt32(buffers.count))
                buffers.append(.table([0: .data(data.bytes)]))
            } else {
                fields[2] = .u32(0)
            }
            if let q = t.quantization {
                var qf: [Int: FB] = [2: .floats(q.scales), 3: .longs(q.zeroPoints), 6: .i32(Int32(q.quantizedDimension))]
                if !q.min.isEmpty { qf[0] = .floats(q.min) }
                if !q.max.isEmpty { qf[1] = .floats(q.max) }
                fields[4] = .table(qf)
            }
            if let s = t.shapeSignature { fields[7] = .ints(s) }
            if t.isVariable { fields[5] = .bool(true) }
            tensors.append(.table(fields))
        }
        var codes: [(Int32, Int)] = []
        var operators: [FB] = []
        for o in g.operators {
            let key = (code(o.kind), o.version)
            let index = codes.firstIndex { $0 == key } ?? { codes.append(key); return codes.count - 1 }()
            var fields: [Int: FB] = [0: .u32(UInt32(index)), 1: .ints(o.inputs), 2: .ints(o.outputs)]
            let (type, table) = options(o.options)
            if let table {
                fields[3] = .u8(type)
                fields[4] = table
            }
            operators.append(.table(fields))
        }
        var metadata: [FB] = []
        for m in g.metadata {
            metadata.append(.table([0: .string(m.name), 1: .u32(UInt32(buffers.count))]))
            buffers.append(.table([0: .data(m.bytes)]))
        }
        var subgraph: [Int: FB] = [0: .tables(tensors), 1: .ints(g.inputs), 2: .ints(g.outputs), 3: .tables(operators)]
        if let name = g.name { subgraph[4] = .string(name) }
        var model: [Int: FB] = [
            0: .u32(3),
            1: .tables(codes.map { .table([0: .i8(Int8(min($0.0, 127))), 2: .i32(Int32($0.1)), 3: .i32($0.0)]) }),
            2: .tables([.table(subgraph)]),
            4: .tables(buffers),
        ]
        if let d = g.description { model[3] = .string(d) }
        if !metadata.isEmpty { model[6] = .tables(metadata) }
        return .table(model)
    }

    static func encode(_ g: Graph) -> [UInt8] { FBEncoder.encode(tree(g)) }
}
