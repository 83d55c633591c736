import Runtime

extension ModelImporter {
    /// Decodes one `Operator` table: its code, operands and builtin options.
    func readOperator(_ t: FlatBufferTable, index j: Int) throws(TFLiteError) -> GraphOperator {
        let opcodeIndex = Int(try within("operator \(j)") { () throws(TFLiteError) in
            try t.scalar(Schema.Operator.opcodeIndex, default: UInt32(0))
        })
        guard opcodeIndex < operatorCodes.count else {
            throw TFLiteError(.invalidValue,
                              "operator \(j) uses operator code \(opcodeIndex), but the model has \(operatorCodes.count)",
                              offset: t.position)
        }
        let (code, version, custom) = operatorCodes[opcodeIndex]
        let label = "operator \(j) (\(Schema.builtinLabel(code)))"
        return try within(label) { () throws(TFLiteError) -> GraphOperator in
            let inputs = try (t.scalars(Schema.Operator.inputs, as: Int32.self) ?? []).map(Int.init)
            let outputs = try (t.scalars(Schema.Operator.outputs, as: Int32.self) ?? []).map(Int.init)
            if let bad = (inputs + outputs).first(where: { $0 < -1 }) {
                throw TFLiteError(.invalidValue, "operand index \(bad) is negative (only -1, absent, is allowed)",
                                  offset: t.position)
            }
            let optionsType = try t.scalar(Schema.Operator.builtinOptionsType, default: UInt8(0))
            let options = try t.table(Schema.Operator.builtinOptions)
            func expect(_ type: UInt8, _ name: String) throws(TFLiteError) -> FlatBufferTable? {
                guard optionsType == type || optionsType == Schema.BuiltinOptionsType.none else {
                    throw TFLiteError(.invalidValue,
                                      "builtin options have union type \(optionsType); expected \(type) (\(name))",
                                      offset: t.position)
                }
                return optionsType == type ? options : nil
            }
            let decoded: GraphOperator.Options
            switch code {
            case Schema.BuiltinCode.conv2D:
                decoded = .conv2D(try readConv2D(expect(Schema.BuiltinOptionsType.conv2D, "Conv2DOptions")))
            case Schema.BuiltinCode.depthwiseConv2D:
                decoded = .depthwiseConv2D(try readDepthwise(expect(Schema.BuiltinOptionsType.depthwiseConv2D,
                                                                    "DepthwiseConv2DOptions")))
            case Schema.BuiltinCode.fullyConnected:
                decoded = .fullyConnected(try readFullyConnected(expect(Schema.BuiltinOptionsType.fullyConnected,
                                                                        "FullyConnectedOptions")))
            case Schema.BuiltinCode.maxPool2D:
                decoded = .maxPool2D(try readPool(expect(Schema.BuiltinOptionsType.pool2D, "Pool2DOptions")))
            case Schema.BuiltinCode.averagePool2D:
                decoded = .averagePool2D(try readPool(expect(Schema.BuiltinOptionsType.pool2D, "Pool2DOptions")))
            case Schema.BuiltinCode.mean:
                let o = try expect(Schema.BuiltinOptionsType.reducer, "ReducerOptions")
                decoded = .mean(.init(keepDims: try o?.bool(Schema.ReducerOptions.keepDims, default: false) ?? false))
            case Schema.BuiltinCode.add:
                let o = try expect(Schema.BuiltinOptionsType.add, "AddOptions")
                decoded = .add(.init(
                    fusedActivation: try activation(o?.scalar(Schema.AddOptions.fusedActivation, default: Int8(0)) ?? 0),
                    potScaleInt16: try o?.bool(Schema.AddOptions.potScaleInt16, default: true) ?? true))
            case Schema.BuiltinCode.reshape:
                let o = try expect(Schema.BuiltinOptionsType.reshape, "ReshapeOptions")
                let newShape = try o?.scalars(Schema.ReshapeOptions.newShape, as: Int32.self)?.map(Int.init)
                decoded = .reshape(.init(newShape: newShape))
            case Schema.BuiltinCode.softmax:
                let o = try expect(Schema.BuiltinOptionsType.softmax, "SoftmaxOptions")
                // The schema default of beta is 0.0 (not 1.0).
                decoded = .softmax(.init(beta: try o?.float(Schema.SoftmaxOptions.beta, default: 0) ?? 0))
            case Schema.BuiltinCode.quantize:
                _ = try expect(Schema.BuiltinOptionsType.quantize, "QuantizeOptions")
                decoded = .quantize
            case Schema.BuiltinCode.dequantize:
                _ = try expect(Schema.BuiltinOptionsType.dequantize, "DequantizeOptions")
                decoded = .dequantize
            case Schema.BuiltinCode.custom:
                throw TFLiteError(.unsupportedOperator, "custom operator '\(custom ?? "")' is not supported",
                                  offset: t.position)
            default:
                throw TFLiteError(.unsupportedOperator,
                                  "\(Schema.builtinName(code)) (version \(version)) is not supported by QuantKit",
                                  offset: t.position)
            }
            return GraphOperator(decoded, inputs: inputs, outputs: outputs, version: version)
        }
    }

    func padding(_ code: Int8) throws(TFLiteError) -> GraphOperator.Padding {
        switch code {
        case Schema.Padding.same: .same
        case Schema.Padding.valid: .valid
        default: throw TFLiteError(.invalidValue, "padding \(code) is neither SAME (0) nor VALID (1)")
        }
    }

    func activation(_ code: Int8) throws(TFLiteError) -> GraphOperator.FusedActivation {
        switch code {
        case Schema.Activation.none: return .none
        case Schema.Activation.relu: return .relu
        case Schema.Activation.relu6: return .relu6
        case Schema.Activation.reluN1To1: return .reluN1To1
        case Schema.Activation.tanh, Schema.Activation.signBit:
            throw TFLiteError(.unsupportedFeature,
                              "fused activation \(code == Schema.Activation.tanh ? "TANH" : "SIGN_BIT") is not supported")
        default:
            throw TFLiteError(.invalidValue, "fused activation \(code) is not an ActivationFunctionType")
        }
    }

    /// Accepts an absent `quantized_bias_type`, or INT32 (the type int8 ops use anyway).
    func checkBiasType(_ o: FlatBufferTable?, _ id: Int) throws(TFLiteError) {
        let type = try o?.scalar(id, default: Int8(0)) ?? 0
        if type != 0 && type != Schema.TensorType.int32 {
            throw TFLiteError(.unsupportedFeature,
                              "quantized_bias_type \(Schema.TensorType.name(type)) is not supported", offset: o?.position)
        }
    }

    func int(_ o: FlatBufferTable?, _ id: Int, default value: Int32) throws(TFLiteError) -> Int {
        Int(try o?.scalar(id, default: value) ?? value)
    }

    func readConv2D(_ o: FlatBufferTable?) throws(TFLiteError) -> GraphOperator.Conv2DOptions {
        typealias F = Schema.Conv2DOptions
        try checkBiasType(o, F.quantizedBiasType)
        return .init(padding: try padding(o?.scalar(F.padding, default: Int8(0)) ?? 0),
                     strideWidth: try int(o, F.strideW, default: 0),
                     strideHeight: try int(o, F.strideH, default: 0),
                     dilationWidth: try int(o, F.dilationW, default: 1),
                     dilationHeight: try int(o, F.dilationH, default: 1),
                     fusedActivation: try activation(o?.scalar(F.fusedActivation, default: Int8(0)) ?? 0))
    }

    func readDepthwise(_ o: FlatBufferTable?) throws(TFLiteError) -> GraphOperator.DepthwiseConv2DOptions {
        typealias F = Schema.DepthwiseConv2DOptions
        return .init(padding: try padding(o?.scalar(F.padding, default: Int8(0)) ?? 0),
                     strideWidth: try int(o, F.strideW, default: 0),
                     strideHeight: try int(o, F.strideH, default: 0),
                     depthMultiplier: try int(o, F.depthMultiplier, default: 0),
                     dilationWidth: try int(o, F.dilationW, default: 1),
                     dilationHeight: try int(o, F.dilationH, default: 1),
                     fusedActivation: try activation(o?.scalar(F.fusedActivation, default: Int8(0)) ?? 0))
    }

    func readFullyConnected(_ o: FlatBufferTable?) throws(TFLiteError) -> GraphOperator.FullyConnectedOptions {
        typealias F = Schema.FullyConnectedOptions
        let format = try o?.scalar(F.weightsFormat, default: Int8(0)) ?? 0
        if format != 0 {
            throw TFLiteError(.unsupportedFeature, "weights format \(format) (shuffled) is not supported; only DEFAULT (0)",
                              offset: o?.position)
        }
        try checkBiasType(o, F.quantizedBiasType)
        return .init(fusedActivation: try activation(o?.scalar(F.fusedActivation, default: Int8(0)) ?? 0),
                     keepNumDims: try o?.bool(F.keepNumDims, default: false) ?? false,
                     asymmetricQuantizeInputs: try o?.bool(F.asymmetricQuantizeInputs, default: false) ?? false)
    }

    func readPool(_ o: FlatBufferTable?) throws(TFLiteError) -> GraphOperator.Pool2DOptions {
        typealias F = Schema.Pool2DOptions
        return .init(padding: try padding(o?.scalar(F.padding, default: Int8(0)) ?? 0),
                     strideWidth: try int(o, F.strideW, default: 0),
                     strideHeight: try int(o, F.strideH, default: 0),
                     filterWidth: try int(o, F.filterWidth, default: 0),
                     filterHeight: try int(o, F.filterHeight, default: 0),
                     fusedActivation: try activation(o?.scalar(F.fusedActivation, default: Int8(0)) ?? 0))
    }
}
