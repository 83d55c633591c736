import Foundation
import Testing
import TensorCore
import Datasets
@testable import NeuralNet

/// An event read back from a file: what `TensorBoardLogger` writes, decoded independently of its encoder.
struct DecodedEvent: Equatable {
    var wallTime: Double?
    var step: Int64 = 0
    var fileVersion: String?
    var scalars: [(tag: String, value: Float)] = []

    static func == (a: DecodedEvent, b: DecodedEvent) -> Bool {
        a.wallTime == b.wallTime && a.step == b.step && a.fileVersion == b.fileVersion
            && a.scalars.map(\.tag) == b.scalars.map(\.tag) && a.scalars.map(\.value) == b.scalars.map(\.value)
    }
}

enum EventFileReadError: Error { case truncated(Int), badLengthCRC(Int), badDataCRC(Int), badProtobuf(String) }

/// Splits a TFRecord file into its records, checking both masked CRCs of each.
func readRecords(_ bytes: [UInt8]) throws -> [[UInt8]] {
    func u32(_ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[i + $1]) << (8 * $1) } }
    func u64(_ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[i + $1]) << (8 * $1) } }
    var records: [[UInt8]] = []
    var offset = 0
    while offset < bytes.count {
        guard offset + 12 <= bytes.count else { throw EventFileReadError.truncated(offset) }
        let length = Int(u64(offset))
        guard u32(offset + 8) == CRC32C.masked(CRC32C.checksum(bytes[offset..<offset + 8])) else {
            throw EventFileReadError.badLengthCRC(offset)
        }
        guard offset + 12 + length + 4 <= bytes.count else { throw EventFileReadError.truncated(offset) }
        let data = Array(bytes[offset + 12..<offset + 12 + length])
        guard u32(offset + 12 + length) == CRC32C.masked(CRC32C.checksum(data)) else { throw EventFileReadError.badDataCRC(offset) }
        records.append(data)
        offset += 12 + length + 4
    }
    return records
}

/// A protobuf reader for the wire types `Event` uses: (field, wire type, payload) triples.
func protobufFields(_ bytes: [UInt8]) throws -> [(field: Int, wire: Int, varint: UInt64, data: [UInt8])] {
    var i = 0
    func varint() throws -> UInt64 {
        var value: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard i < bytes.count, shift < 64 else { throw EventFileReadError.badProtobuf("varint at \(i)") }
            let b = bytes[i]; i += 1
            value |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return value }
            shift += 7
        }
    }
    func take(_ n: Int) throws -> [UInt8] {
        guard n >= 0, i + n <= bytes.count else { throw EventFileReadError.badProtobuf("\(n) bytes at \(i)") }
        defer { i += n }
        return Array(bytes[i..<i + n])
    }
    var fields: [(field: Int, wire: Int, varint: UInt64, data: [UInt8])] = []
    while i < bytes.count {
        let key = try varint()
        let field = Int(key >> 3), wire = Int(key & 7)
        switch wire {
        case 0: fields.append((field, wire, try varint(), []))
        case 1: fields.append((field, wire, 0, try take(8)))
        case 2: let n = Int(try varint()); fields.append((field, wire, 0, try take(n)))
        case 5: fields.append((field, wire, 0, try take(4)))
        default: throw EventFileReadError.badProtobuf("wire type \(wire)")
        }
    }
    return fields
}

func decodeEvent(_ bytes: [UInt8]) throws -> DecodedEvent {
    func little<T: FixedWidthInteger>(_ b: [UInt8], as: T.Type) -> T { b.reversed().reduce(0) { $0 << 8 | T($1) } }
    var event = DecodedEvent()
    for f in try protobufFields(bytes) {
        switch (f.field, f.wire) {
        case (1, 1): event.wallTime = Double(bitPattern: little(f.data, as: UInt64.self))
        case (2, 0): event.step = Int64(bitPattern: f.varint)
        case (3, 2): event.fileVersion = String(decoding: f.data, as: UTF8.self)
        case (5, 2):
            for value in try protobufFields(f.data) where value.field == 1 && value.wire == 2 {
                var tag = "", simple: Float?
                for g in try protobufFields(value.data) {
                    if g.field == 1 && g.wire == 2 { tag = String(decoding: g.data, as: UTF8.self) }
                    if g.field == 2 && g.wire == 5 { simple = Float(bitPattern: little(g.data, as: UInt32.self)) }
                }
                guard let simple else { throw EventFileReadError.badProtobuf("value \(tag) without simple_value") }
                event.scalars.append((tag, simple))
            }
        default: throw EventFileReadError.badProtobuf("unexpected field \(f.field) wire \(f.wire)")
        }
    }
    return event
}

/// The events of every file in `directory`, files in name order.
func readEvents(in directory: URL) throws -> (files: [String], events: [DecodedEvent]) {
    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    var events: [DecodedEvent] = []
    for name in names {
        let bytes = [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
        events += try readRecords(bytes).map(decodeEvent)
    }
    return (names, events)
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("quantkit-tb-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite("TensorBoard event files")
struct TensorBoardLoggerTests {
    @Test(arguments: [
        ("", 0x0000_0000 as UInt32),
        ("a", 0xC1D0_4330),
        ("123456789", 0xE306_9283),
        ("The quick brown fox jumps over the lazy dog", 0x2262_0404),
    ])
    func crc32cKnownVectors(text: String, expected: UInt32) {
        #expect(CRC32C.checksum(Array(text.utf8)) == expected)
    }

    @Test func crc32cOfZerosAndOnes() {
        // RFC 3720 (iSCSI) appendix B.4 test vectors.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
    }

    @Test func maskedCRCAsTensorFlow() {
        #expect(CRC32C.masked(0) == 0xA282_EAD8)
        let crc: UInt32 = 0xE306_9283
        #expect(CRC32C.masked(crc) == ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
    }

    @Test func emptyFileVersionRecordIsTensorFlowsBytes() throws {
        // An Event{wall_time: 0, file_version: "brain.Event:2"} framed by hand: length 24.
        let event = EventProto.fileVersion(wallTime: 0)
        #expect(event == [0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x1A, 13] + Array("brain.Event:2".utf8))
        let record = TFRecord.frame(event)
        #expect(record.count == 8 + 4 + event.count + 4)
        #expect(Array(record[0..<8]) == [UInt8(event.count), 0, 0, 0, 0, 0, 0, 0])
        #expect(try readRecords(record) == [event])
    }

    @Test func writesKerasLayoutAfterARealFit() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let logdir = dir.appendingPathComponent("logs/run1")
        let before = Date().timeIntervalSince1970

        let model = smallCNN(seed: 1)
        model.compile(optimizer: Adam(learningRate: 2e-3), loss: .sparseCategoricalCrossentropy, metrics: [.accuracy])
        let logger = try TensorBoardLogger(directory: logdir)
        #expect(logger.validationEventFile == nil, "the validation file is made at the first validated epoch")
        let history = try model.fit(syntheticImages(count: 96), epochs: 2, batchSize: 16,
                                    validation: syntheticImages(count: 32, seed: 9), verbose: .silent, callbacks: [logger])
        #expect(logger.writeError == nil)

        let train = try readEvents(in: logdir.appendingPathComponent("train"))
        let validation = try readEvents(in: logdir.appendingPathComponent("validation"))
        #expect(train.files.count == 1 && validation.files.count == 1)
        #expect(train.files[0].hasPrefix("events.out.tfevents.") && train.files[0].hasSuffix(".v2"))
        #expect(logger.trainEventFile.lastPathComponent == train.files[0])
        #expect(logger.validationEventFile?.lastPathComponent == validation.files[0])

        for run in [train.events, validation.events] {
            #expect(run.count == 3, "file version + one event per epoch")
            #expect(run.first?.fileVersion == "brain.Event:2")
            #expect(run.first?.scalars.isEmpty == true)
            for event in run {
                let wallTime = try #require(event.wallTime)
                #expect(wallTime >= before - 1 && wallTime <= Date().timeIntervalSince1970 + 1)
            }
        }
        for (event, record) in zip(train.events.dropFirst(), history.epochs) {
            #expect(event.step == Int64(record.epoch))
            #expect(event.fileVersion == nil)
            #expect(event.scalars.map(\.tag) == ["epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_seconds"])
            #expect(event.scalars.map(\.value) == [Float(record.loss), Float(record.accuracy),
                                                   Float(record.learningRate), Float(record.seconds)])
        }
        #expect(train.events.dropFirst().map(\.step) == [1, 2])
        #expect(train.events[1].scalars[2].value == 2e-3)
        for (event, record) in zip(validation.events.dropFirst(), history.epochs) {
            let valLoss = try #require(record.valLoss), valAccuracy = try #require(record.valAccuracy)
            #expect(event.step == Int64(record.epoch))
            #expect(event.scalars.map(\.tag) == ["epoch_loss", "epoch_accuracy"], "Keras's tags, so the runs overlay")
            #expect(event.scalars.map(\.value) == [Float(valLoss), Float(valAccuracy)])
        }

        // A second logger on the same directory (a resumed run) adds new files and keeps the old ones.
        let resumed = try TensorBoardLogger(directory: logdir)
        try model.fit(syntheticImages(count: 32), epochs: 1, batchSize: 16, verbose: .silent, callbacks: [resumed])
        let after = try readEvents(in: logdir.appendingPathComponent("train"))
        #expect(after.files.count == 2 && after.files.contains(train.files[0]))
        #expect(after.events.filter { $0.fileVersion == nil }.map(\.step) == [1, 2, 3])
        #expect(try readEvents(in: logdir.appendingPathComponent("validation")).files.count == 1,
                "no validation data: no new validation file")
    }

    @Test func eachEpochIsOnDiskWhenItEnds() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let logger = try TensorBoardLogger(directory: dir)
        let record = EpochRecord(epoch: 7, loss: 0.5, accuracy: 0.75, valLoss: nil, valAccuracy: 0.5, seconds: 1.25,
                                 samplesPerSecond: 100, learningRate: 1e-3)
        logger.epochEnded(record, model: smallCNN())
        // Read while the logger is still open: nothing waits in a buffer.
        let train = try readEvents(in: dir.appendingPathComponent("train"))
        #expect(train.events.last?.step == 7)
        #expect(train.events.last?.scalars.map(\.value) == [0.5, 0.75, 1e-3, 1.25])
        let validation = try readEvents(in: dir.appendingPathComponent("validation"))
        #expect(validation.events.last?.scalars.map(\.tag) == ["epoch_accuracy"], "only the values present")

        logger.close()
        #expect(throws: TensorBoardError.self) { try logger.log(record) }
        logger.epochEnded(record, model: smallCNN())
        #expect(logger.writeError?.kind == .cannotWrite)
        #expect(try readEvents(in: dir.appendingPathComponent("train")).events.count == 2, "nothing after close")
    }

    @Test func unwritableDirectoryThrowsAtCreation() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A file where a directory should be: fails even for root, unlike permission bits.
        let file = dir.appendingPathComponent("not-a-directory")
        try Data("x".utf8).write(to: file)
        do throws(TensorBoardError) {
            _ = try TensorBoardLogger(directory: file.appendingPathComponent("logs"))
            Issue.record("expected an error")
        } catch {
            let train = file.appendingPathComponent("logs/train").path
            #expect(error.kind == .cannotCreateDirectory)
            #expect(error.path == train)
            #expect(error.description == "cannot create the TensorBoard log directory \(train): \(file.path) is a file, not a directory")
        }
        #expect(throws: TensorBoardError.self) { try TensorBoardLogger(directory: file) }

        // train/ taken by a file.
        let taken = dir.appendingPathComponent("taken")
        try FileManager.default.createDirectory(at: taken, withIntermediateDirectories: true)
        try Data().write(to: taken.appendingPathComponent("train"))
        let error = #expect(throws: TensorBoardError.self) { try TensorBoardLogger(directory: taken) }
        #expect(error?.kind == .cannotCreateDirectory)
        #expect(error?.path == taken.appendingPathComponent("train").path)

        if getuid() != 0 {
            // Permission bits stop everyone but root.
            let readOnly = dir.appendingPathComponent("read-only")
            try FileManager.default.createDirectory(at: readOnly, withIntermediateDirectories: true)
            chmod(readOnly.path, 0o555)
            defer { chmod(readOnly.path, 0o755) }
            #expect(throws: TensorBoardError.self) { try TensorBoardLogger(directory: readOnly.appendingPathComponent("logs")) }
        }
    }

    @Test func fileNamesDoNotCollide() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Same second, same process: the counter in the name differs.
        let loggers = try (0..<3).map { _ in try TensorBoardLogger(directory: dir) }
        #expect(Set(loggers.map(\.trainEventFile)).count == 3)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("train").path)
        #expect(names.count == 3)
    }
}
