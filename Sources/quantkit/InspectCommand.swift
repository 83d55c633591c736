import ArgumentParser
import Foundation
import QuantKit

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Operators, tensors, quantization and size breakdown of a .tflite model."
    )

    @Argument(help: ArgumentHelp("A TFLite flatbuffer.", valueName: "model.tflite")) var model: String
    @Flag(help: "Print one JSON object on standard output.") var json = false

    func run() throws {
        let graph = try readTFLite(model)
        let fileBytes = (try FileManager.default.attributesOfItem(atPath: model)[.size] as? NSNumber)?.intValue ?? 0
        var constantBytes: [String: Int] = [:]
        for t in graph.tensors { if let d = t.data { constantBytes["\(t.elementType)", default: 0] += d.byteCount } }
        let constantTotal = constantBytes.values.reduce(0, +)
        let metadataBytes = graph.metadata.reduce(0) { $0 + $1.bytes.count }
        let overhead = fileBytes - constantTotal - metadataBytes
        if json {
            let object: [String: Any] = [
                "model": model,
                "fileBytes": fileBytes,
                "name": graph.name ?? NSNull(),
                "description": graph.description ?? NSNull(),
                "inputs": graph.inputs,
                "outputs": graph.outputs,
                "operators": graph.operators.enumerated().map { j, op in
                    ["index": j, "kind": op.kind.tfliteName, "version": op.version, "inputs": op.inputs,
                     "outputs": op.outputs, "options": optionsObject(op.options)] as [String: Any]
                },
                "tensors": graph.tensors.enumerated().map { i, t in tensorObject(i, t) },
                "metadata": graph.metadata.map { ["name": $0.name, "bytes": $0.bytes.count] as [String: Any] },
                "size": ["constantBytes": constantBytes, "constantTotal": constantTotal, "metadataBytes": metadataBytes,
                         "flatbufferOverhead": overhead, "fileBytes": fileBytes] as [String: Any],
            ]
            try printJSON(object)
            return
        }
        print("\(model): \(fileBytes) bytes, \(graph.operators.count) operators, \(graph.tensors.count) tensors")
        print("inputs: " + graph.inputs.map { graph.describeTensor($0) }.joined(separator: ", "))
        print("outputs: " + graph.outputs.map { graph.describeTensor($0) }.joined(separator: ", "))
        print("\nOperators")
        for (j, op) in graph.operators.enumerated() {
            let options = optionsObject(op.options).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            print("\(pad(j, 4))  \(pad(op.kind.tfliteName, -18)) v\(pad(op.version, -2)) in \(op.inputs) -> out \(op.outputs)  \(options)")
        }
        print("\nTensors")
        for (i, t) in graph.tensors.enumerated() {
            var line = "\(pad(i, 4))  \(pad(t.elementType, -8)) \(pad(Shape.describe(t.shape), -14))"
            if let d = t.data { line += " const \(d.byteCount) B" }
            if let q = t.quantization { line += "  " + describe(q) }
            line += "  '\(t.name)'"
            print(line)
        }
        print("\nSize")
        for (type, bytes) in constantBytes.sorted(by: { $0.value > $1.value }) {
            print("  \(pad("constants " + type, -20)) \(pad(bytes, 10)) bytes")
        }
        print("  \(pad("constants total", -20)) \(pad(constantTotal, 10)) bytes")
        print("  \(pad("metadata", -20)) \(pad(metadataBytes, 10)) bytes (\(graph.metadata.map(\.name).joined(separator: ", ")))")
        print("  \(pad("flatbuffer overhead", -20)) \(pad(overhead, 10)) bytes")
        print("  \(pad("file", -20)) \(pad(fileBytes, 10)) bytes")
    }

    /// `value` padded to `width` characters: on the left for a positive width, on the right for a negative one.
    func pad(_ value: Any, _ width: Int) -> String {
        let text = "\(value)"
        let fill = String(repeating: " ", count: max(abs(width) - text.count, 0))
        return width >= 0 ? fill + text : text + fill
    }

    func describe(_ q: GraphTensor.Quantization) -> String {
        if q.scales.count == 1 { return "scale \(q.scales[0]) zp \(q.zeroPoints[0])" }
        let zps = Set(q.zeroPoints)
        return "per-axis qd=\(q.quantizedDimension): \(q.scales.count) scales in [\(q.scales.min()!), \(q.scales.max()!)], zp "
            + (zps.count == 1 ? "\(zps.first!)" : "\(zps.min()!)...\(zps.max()!)")
    }

    func tensorObject(_ i: Int, _ t: GraphTensor) -> [String: Any] {
        var o: [String: Any] = ["index": i, "name": t.name, "shape": t.shape, "type": "\(t.elementType)"]
        if let d = t.data { o["constantBytes"] = d.byteCount }
        if let s = t.shapeSignature { o["shapeSignature"] = s }
        if let q = t.quantization {
            if q.scales.count == 1 {
                o["quantization"] = ["scale": Double(q.scales[0]), "zeroPoint": q.zeroPoints[0]] as [String: Any]
            } else {
                o["quantization"] = ["quantizedDimension": q.quantizedDimension, "count": q.scales.count,
                                     "minScale": Double(q.scales.min()!), "maxScale": Double(q.scales.max()!),
                                     "zeroPoints": Array(Set(q.zeroPoints)).sorted()] as [String: Any]
            }
        }
        return o
    }

    func optionsObject(_ options: GraphOperator.Options) -> [String: Any] {
        switch options {
        case .conv2D(let p):
            return ["padding": p.padding.rawValue, "strideH": p.strideHeight, "strideW": p.strideWidth,
                    "dilationH": p.dilationHeight, "dilationW": p.dilationWidth, "activation": p.fusedActivation.rawValue]
        case .depthwiseConv2D(let p):
            return ["padding": p.padding.rawValue, "strideH": p.strideHeight, "strideW": p.strideWidth,
                    "depthMultiplier": p.depthMultiplier, "dilationH": p.dilationHeight, "dilationW": p.dilationWidth,
                    "activation": p.fusedActivation.rawValue]
        case .fullyConnected(let p):
            return ["activation": p.fusedActivation.rawValue, "keepNumDims": p.keepNumDims,
                    "asymmetricQuantizeInputs": p.asymmetricQuantizeInputs]
        case .maxPool2D(let p), .averagePool2D(let p):
            return ["padding": p.padding.rawValue, "strideH": p.strideHeight, "strideW": p.strideWidth,
                    "filterH": p.filterHeight, "filterW": p.filterWidth, "activation": p.fusedActivation.rawValue]
        case .mean(let p): return ["keepDims": p.keepDims]
        case .add(let p): return ["activation": p.fusedActivation.rawValue]
        case .reshape(let p): return p.newShape.map { ["newShape": $0] } ?? [:]
        case .softmax(let p): return ["beta": Double(p.beta)]
        case .quantize, .dequantize: return [:]
        }
    }
}
