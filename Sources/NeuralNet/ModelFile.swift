import Foundation
import TensorCore

/// The QuantKit model file (`.qkmodel`): architecture, weights, and optimizer state for resuming.
///
/// Layout (all integers little-endian):
///
///     offset 0   8 bytes   magic "QKMODEL\0"
///     offset 8   u32       format version: 1, or 2 for a quantization-aware model (its layers include
///                          `fakeQuant`, `fakeQuantWrapper` or `fakeQuantSoftmax` configurations, and
///                          the payload their learned ranges `min`/`max`, batch-norm statistics and step
///                          counts, stored like any other parameter); version 1 files read unchanged
///     offset 12  u32       header length H
///     offset 16  H bytes   header, UTF-8 JSON (`ModelFile.Header`): input shape, seed, epochs
///                          trained, layers (name + configuration), the list of stored tensors
///                          (owner, name, shape) in payload order, compile settings, optimizer
///                          kind, hyperparameters and iteration count
///     then                 payload: every listed tensor as float32, back to back
///     last 4 bytes u32     CRC-32 of everything before it
///
/// Loading checks the magic, version, lengths, checksum and every shape against the rebuilt
/// model, so a truncated, corrupt or foreign file is an error, never a wrong model.
public enum ModelFile {
    public static let magic: [UInt8] = Array("QKMODEL".utf8) + [0]
    public static let formatVersion: UInt32 = 1
    /// The version written for quantization-aware models (version 1 readers cannot rebuild their layers).
    public static let quantizationAwareFormatVersion: UInt32 = 2
    /// The usual file extension.
    public static let fileExtension = "qkmodel"

    /// One tensor stored in the payload.
    public struct StoredTensor: Codable, Sendable {
        /// `layer:<index>` for a layer parameter, `optimizer:<slot>` for an optimizer slot.
        public var owner: String
        /// Parameter name (`kernel`) or, for optimizer slots, the parameter's index among the trainable ones.
        public var name: String
        public var shape: [Int]
    }

    public struct StoredLayer: Codable, Sendable {
        public var name: String
        public var configuration: LayerConfiguration
    }

    /// The JSON header.
    public struct Header: Codable, Sendable {
        public var format = "quantkit-model"
        public var inputShape: [Int]
        public var seed: UInt64
        public var epochsTrained: Int
        public var layers: [StoredLayer]
        public var tensors: [StoredTensor]
        public var loss: Loss?
        public var metrics: [Metric]
        public var optimizer: OptimizerState?
        /// Free-form annotations (e.g. the QAT settings), kept on load.
        public var extras: [String: String]
    }

    /// Encodes `model` (which must be built) as the bytes of a model file.
    public static func encode(_ model: Sequential, extras: [String: String] = [:]) throws -> [UInt8] {
        guard let inputShape = model.inputShape else {
            throw ModelError(.notReady, "cannot save a model that was never built: call build(inputShape:) or fit first")
        }
        var tensors = [StoredTensor]()
        var payload = [Float]()
        for (index, layer) in model.layers.enumerated() {
            for p in layer.parameters {
                tensors.append(StoredTensor(owner: "layer:\(index)", name: p.name, shape: p.value.shape))
                payload.append(contentsOf: p.value.storage)
            }
        }
        var optimizerState = model.optimizer?.state
        if var state = optimizerState {
            for slot in state.slots.keys.sorted() {
                for (i, values) in state.slots[slot]!.enumerated() {
                    tensors.append(StoredTensor(owner: "optimizer:\(slot)", name: String(i), shape: [values.count]))
                    payload.append(contentsOf: values)
                }
            }
            state.slots = [:]
            optimizerState = state
        }
        let header = Header(inputShape: inputShape, seed: model.seed, epochsTrained: model.epochsTrained,
                            layers: model.layers.map { StoredLayer(name: $0.name, configuration: $0.configuration) },
                            tensors: tensors, loss: model.loss, metrics: model.metrics, optimizer: optimizerState,
                            extras: extras)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = [UInt8](try encoder.encode(header))
        var bytes = magic
        bytes.reserveCapacity(16 + json.count + payload.count * 4 + 4)
        appendU32(&bytes, model.isQuantizationAware ? quantizationAwareFormatVersion : formatVersion)
        appendU32(&bytes, UInt32(json.count))
        bytes += json
        payload.withUnsafeBytes { bytes.append(contentsOf: $0) }  // little-endian hosts only (x86-64, arm64)
        appendU32(&bytes, CRC32.checksum(bytes))
        return bytes
    }

    /// Writes `model` to `url` atomically.
    public static func write(_ model: Sequential, to url: URL, extras: [String: String] = [:]) throws {
        try AtomicFile.write(try encode(model, extras: extras), to: url)
    }

    /// Reads a model file. The model comes back built, with its weights, compile settings and
    /// (if it was saved with one) its optimizer and that optimizer's state, ready to resume.
    public static func read(from url: URL) throws -> (model: Sequential, extras: [String: String]) {
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try Data(contentsOf: url))
        } catch {
            throw ModelError(.badModelFile, "cannot read model file \(url.path): \(error.localizedDescription)")
        }
        return try decode(bytes, path: url.path)
    }

    /// Decodes the bytes of a model file; `path` names it in errors.
    public static func decode(_ bytes: [UInt8], path: String = "model") throws -> (model: Sequential, extras: [String: String]) {
        func fail(_ message: String) -> ModelError { ModelError(.badModelFile, "\(path): \(message)") }
        guard bytes.count >= 20, Array(bytes[0..<8]) == magic else {
            if bytes.count >= 8, Array(bytes[4..<8]) == Array("TFL3".utf8) {
                throw fail("this is a .tflite file, not a QuantKit model; use it with `quantkit evaluate`, `run` or `quantize`")
            }
            throw fail("not a QuantKit model file (it does not start with the magic \"QKMODEL\")")
        }
        let version = readU32(bytes, 8)
        guard version == formatVersion || version == quantizationAwareFormatVersion else {
            throw fail("model file format version \(version) is not supported (this QuantKit reads versions \(formatVersion) and \(quantizationAwareFormatVersion))")
        }
        let storedCRC = readU32(bytes, bytes.count - 4)
        let actualCRC = bytes.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 4)])) }
        guard storedCRC == actualCRC else {
            throw fail("the file is corrupt or truncated (checksum mismatch)")
        }
        let headerLength = Int(readU32(bytes, 12))
        guard headerLength <= bytes.count - 20 else { throw fail("header length \(headerLength) runs past the end of the file") }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[16..<(16 + headerLength)]))
        } catch {
            throw fail("the header is not valid: \(error)")
        }
        guard header.format == "quantkit-model" else { throw fail("unknown format '\(header.format)'") }
        guard !header.layers.isEmpty, header.layers.count <= 10_000 else { throw fail("the model has \(header.layers.count) layers") }
        guard header.inputShape.count >= 1, header.inputShape.count <= 4,
              let inputCount = Shape.elementCount(header.inputShape), inputCount > 0, inputCount <= 1 << 26 else {
            throw fail("input shape \(header.inputShape) is not a sensible image shape")
        }
        for layer in header.layers { try layer.configuration.validate() }

        let model = Sequential(layers: header.layers.map { $0.configuration.makeLayer(name: $0.name) }, seed: header.seed)
        do {
            try model.build(inputShape: header.inputShape)
        } catch {
            throw fail("the stored architecture does not build: \(error)")
        }
        model.epochsTrained = max(0, header.epochsTrained)

        // Payload.
        var offset = 16 + headerLength
        let payloadEnd = bytes.count - 4
        var slots: [String: [[Float]]] = [:]
        var expected = model.layers.enumerated().flatMap { index, layer in layer.parameters.map { ("layer:\(index)", $0) } }
        var parameterCursor = 0
        for stored in header.tensors {
            guard let count = Shape.elementCount(stored.shape), count <= (payloadEnd - offset) / 4 else {
                throw fail("tensor \(stored.owner)/\(stored.name) of shape \(stored.shape) runs past the end of the payload")
            }
            let values: [Float] = bytes.withUnsafeBytes { raw in
                [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count * 4)]))
                    initialized = count
                }
            }
            offset += count * 4
            if stored.owner.hasPrefix("layer:") {
                guard parameterCursor < expected.count else { throw fail("more layer tensors than the model has parameters") }
                let (owner, parameter) = expected[parameterCursor]
                guard owner == stored.owner, parameter.name == stored.name, parameter.value.shape == stored.shape else {
                    throw fail("tensor \(stored.owner)/\(stored.name) \(stored.shape) does not match the model's \(owner)/\(parameter.name) \(parameter.value.shape)")
                }
                guard values.allSatisfy({ $0.isFinite }) else {
                    throw fail("tensor \(stored.owner)/\(stored.name) holds NaN or infinite values")
                }
                parameter.value = Tensor(shape: stored.shape, storage: values)
                parameterCursor += 1
            } else if stored.owner.hasPrefix("optimizer:") {
                slots[String(stored.owner.dropFirst("optimizer:".count)), default: []].append(values)
            } else {
                throw fail("tensor with unknown owner '\(stored.owner)'")
            }
        }
        guard parameterCursor == expected.count else {
            throw fail("the file stores \(parameterCursor) of the model's \(expected.count) parameter tensors")
        }
        expected.removeAll()
        guard offset == payloadEnd else { throw fail("\(payloadEnd - offset) unexpected bytes after the payload") }
        for layer in model.layers {
            let ranges: [(min: Float, max: Float)] = switch layer {
            case let fq as FakeQuant: [fq.range]
            case let wrapper as FakeQuantWrapper: [wrapper.outputRange]
            default: []
            }
            for r in ranges where !(r.min <= 0 && r.max >= 0) {
                throw fail("layer \(layer.name): learned range [\(r.min), \(r.max)] does not contain 0")
            }
        }

        if let loss = header.loss, var state = header.optimizer {
            state.slots = slots
            let optimizer = try state.makeOptimizer(parameters: model.trainableParameters)
            model.compile(optimizer: optimizer, loss: loss, metrics: header.metrics)
        } else if let loss = header.loss {
            model.compile(optimizer: Adam(), loss: loss, metrics: header.metrics)
        }
        return (model, header.extras)
    }

    private static func appendU32(_ bytes: inout [UInt8], _ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func readU32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }
}

extension Sequential {
    /// Saves the model (architecture, weights, optimizer state) to `url` atomically.
    public func save(to url: URL) throws {
        try ModelFile.write(self, to: url)
    }

    /// Loads a model saved with `save(to:)`.
    public static func load(from url: URL) throws -> Sequential {
        try ModelFile.read(from: url).model
    }
}
