import Runtime

extension ModelExporter {
    /// Writes an operator's builtin options table: `(builtin_options_type, table)`, or `(NONE, nil)`.
    ///
    /// Every field is written, defaults included: the schema defaults of stride (0), padding
    /// (SAME) and SOFTMAX `beta` (0.0) are traps, and writing all fields keeps one vtable per
    /// options kind. QUANTIZE and DEQUANTIZE get no table (theirs are empty; the converter omits
    /// them), and RESHAPE only when ``GraphOperator/ReshapeOptions/newShape`` is set.
    mutating func writeOptions(_ options: GraphOperator.Options) -> (UInt8, FlatBufferBuilder.Offset?) {
        switch options {
        case .conv2D(let o):
            typealias F = Schema.Conv2DOptions
            builder.startTable()
            builder.add(F.strideW, Int32(o.strideWidth), default: nil)
            builder.add(F.strideH, Int32(o.strideHeight), default: nil)
            builder.add(F.dilationW, Int32(o.dilationWidth), default: nil)
            builder.add(F.dilationH, Int32(o.dilationHeight), default: nil)
            builder.add(F.padding, Self.code(o.padding), default: nil)
            builder.add(F.fusedActivation, Self.code(o.fusedActivation), default: nil)
            return (Schema.BuiltinOptionsType.conv2D, builder.endTable())

        case .depthwiseConv2D(let o):
            typealias F = Schema.DepthwiseConv2DOptions
            builder.startTable()
            builder.add(F.strideW, Int32(o.strideWidth), default: nil)
            builder.add(F.strideH, Int32(o.strideHeight), default: nil)
            builder.add(F.depthMultiplier, Int32(o.depthMultiplier), default: nil)
            builder.add(F.dilationW, Int32(o.dilationWidth), default: nil)
            builder.add(F.dilationH, Int32(o.dilationHeight), default: nil)
            builder.add(F.padding, Self.code(o.padding), default: nil)
            builder.add(F.fusedActivation, Self.code(o.fusedActivation), default: nil)
            return (Schema.BuiltinOptionsType.depthwiseConv2D, builder.endTable())

        case .fullyConnected(let o):
            typealias F = Schema.FullyConnectedOptions
            builder.startTable()
            builder.add(F.fusedActivation, Self.code(o.fusedActivation), default: nil)
            builder.add(F.keepNumDims, o.keepNumDims, default: nil)
            builder.add(F.asymmetricQuantizeInputs, o.asymmetricQuantizeInputs, default: nil)
            return (Schema.BuiltinOptionsType.fullyConnected, builder.endTable())

        case .maxPool2D(let o), .averagePool2D(let o):
            typealias F = Schema.Pool2DOptions
            builder.startTable()
            builder.add(F.strideW, Int32(o.strideWidth), default: nil)
            builder.add(F.strideH, Int32(o.strideHeight), default: nil)
            builder.add(F.filterWidth, Int32(o.filterWidth), default: nil)
            builder.add(F.filterHeight, Int32(o.filterHeight), default: nil)
            builder.add(F.padding, Self.code(o.padding), default: nil)
            builder.add(F.fusedActivation, Self.code(o.fusedActivation), default: nil)
            return (Schema.BuiltinOptionsType.pool2D, builder.endTable())

        case .mean(let o):
            builder.startTable()
            builder.add(Schema.ReducerOptions.keepDims, o.keepDims, default: nil)
            return (Schema.BuiltinOptionsType.reducer, builder.endTable())

        case .add(let o):
            builder.startTable()
            builder.add(Schema.AddOptions.fusedActivation, Self.code(o.fusedActivation), default: nil)
            builder.add(Schema.AddOptions.potScaleInt16, o.potScaleInt16, default: nil)
            return (Schema.BuiltinOptionsType.add, builder.endTable())

        case .reshape(let o):
            guard let newShape = o.newShape else { return (Schema.BuiltinOptionsType.none, nil) }
            let vector = builder.createVector(newShape.map { Int32($0) })
            builder.startTable()
            builder.add(Schema.ReshapeOptions.newShape, vector)
            return (Schema.BuiltinOptionsType.reshape, builder.endTable())

        case .softmax(let o):
            builder.startTable()
            builder.add(Schema.SoftmaxOptions.beta, o.beta, default: nil)
            return (Schema.BuiltinOptionsType.softmax, builder.endTable())

        case .quantize, .dequantize:
            return (Schema.BuiltinOptionsType.none, nil)
        }
    }

    static func code(_ padding: GraphOperator.Padding) -> Int8 {
        switch padding {
        case .same: Schema.Padding.same
        case .valid: Schema.Padding.valid
        }
    }

    static func code(_ activation: GraphOperator.FusedActivation) -> Int8 {
        switch activation {
        case .none: Schema.Activation.none
        case .relu: Schema.Activation.relu
        case .reluN1To1: Schema.Activation.reluN1To1
        case .relu6: Schema.Activation.relu6
        }
    }
}

extension GraphOperator.Options {
    /// The integer option values the file stores as int32 (strides, filter sizes, dilations, depth
    /// multiplier, RESHAPE's new shape), for the range check before writing.
    var integerFields: [Int] {
        switch self {
        case .conv2D(let o): [o.strideWidth, o.strideHeight, o.dilationWidth, o.dilationHeight]
        case .depthwiseConv2D(let o): [o.strideWidth, o.strideHeight, o.depthMultiplier, o.dilationWidth, o.dilationHeight]
        case .maxPool2D(let o), .averagePool2D(let o): [o.strideWidth, o.strideHeight, o.filterWidth, o.filterHeight]
        case .reshape(let o): o.newShape ?? []
        case .fullyConnected, .mean, .add, .softmax, .quantize, .dequantize: []
        }
    }
}
