import Foundation
import QuantKit

/// What a model path on the command line holds.
enum ModelSource {
    /// A QuantKit model file, lowered to its float Graph.
    case qkmodel(Sequential, Graph)
    /// A `.tflite` file.
    case tflite(Graph)

    var graph: Graph {
        switch self {
        case .qkmodel(_, let g), .tflite(let g): g
        }
    }

    /// Reads `path`, telling the formats apart by their first bytes, not their names.
    static func load(_ path: String) throws -> ModelSource {
        let url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: url.path) else { throw CLIError("\(path): no such file") }
        let handle = try FileHandle(forReadingFrom: url)
        let head = [UInt8](try handle.read(upToCount: 8) ?? Data())
        try? handle.close()
        if head.count >= 8, Array(head[4..<8]) == Array("TFL3".utf8) {
            return .tflite(try TFLiteFile.read(contentsOf: url))
        }
        let model = try Sequential.load(from: url)
        return .qkmodel(model, try model.graph())
    }
}
