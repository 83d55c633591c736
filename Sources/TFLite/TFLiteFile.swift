#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Runtime

/// Reading (and, later, writing) `.tflite` files as ``Runtime/Graph``s.
///
/// Named `TFLiteFile` because a module must not hold a type of its own name (the module is `TFLite`).
public enum TFLiteFile {
    /// Reads the `.tflite` file at `url` and returns its first subgraph as a validated ``Runtime/Graph``.
    public static func read(contentsOf url: URL) throws(TFLiteError) -> Graph {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw TFLiteError(.fileUnreadable, "cannot read \(url.path): \(error)")
        }
        do {
            return try read(bytes: [UInt8](data))
        } catch {
            throw error.within(url.lastPathComponent)
        }
    }

    /// Decodes a `.tflite` flatbuffer and returns its first subgraph as a validated ``Runtime/Graph``.
    ///
    /// Every offset, length and alignment is checked before use, and the graph is validated
    /// (``Runtime/Graph/validate()``); a malformed, hostile or unsupported file throws a
    /// ``TFLiteError`` naming the byte offset, operator or tensor. Never traps on file data.
    public static func read(bytes: [UInt8]) throws(TFLiteError) -> Graph {
        var importer = ModelImporter(bytes: bytes)
        return try importer.importGraph()
    }
}
