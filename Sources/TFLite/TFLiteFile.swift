#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Runtime
import TensorCore

/// Reading and writing `.tflite` files as ``Runtime/Graph``s.
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

    /// Encodes `graph` as a `.tflite` flatbuffer (schema version 3, identifier `"TFL3"`).
    ///
    /// The graph is validated first (``Runtime/Graph/validate()``); an invalid graph, or one the
    /// format cannot hold (a dimension beyond int32, more than 2 GiB of data, a signature naming a
    /// missing tensor), throws a ``TFLiteError`` naming the operator or tensor. Reading the bytes back
    /// with ``read(bytes:)`` gives a graph equal to `graph` under the default options (see
    /// ``WriteOptions`` for what the other options add). The output is deterministic: the same graph
    /// and options give the same bytes.
    public static func encode(_ graph: Graph, options: WriteOptions = .asStored) throws(TFLiteError) -> [UInt8] {
        var exporter = ModelExporter(graph: graph, options: options)
        return try exporter.export()
    }

    /// Encodes `graph` (as ``encode(_:options:)``) and writes it to `url` atomically: a failed write
    /// leaves whatever was at `url` untouched.
    ///
    /// Throws a ``TFLiteError`` for a graph that cannot be written, or TensorCore's
    /// `AtomicFile.WriteError` (naming the path and the system's reason) when the file cannot be.
    public static func write(_ graph: Graph, to url: URL, options: WriteOptions = .asStored) throws {
        let bytes = try encode(graph, options: options)
        try AtomicFile.write(bytes, to: url)
    }
}
