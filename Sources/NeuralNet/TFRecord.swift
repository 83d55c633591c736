import Foundation

/// CRC-32C (Castagnoli), the checksum of TFRecord files.
///
///     reflected polynomial 0x82F63B78, initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF
///
/// Matches TensorFlow's `tensorflow::crc32c::Value` (and iSCSI's CRC): `checksum("123456789") == 0xE3069283`.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// The CRC-32C of `bytes`.
    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int(UInt8(truncatingIfNeeded: crc) ^ byte)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// TFRecord's masked CRC, which keeps a CRC stored next to its data from checksumming to a constant.
    ///
    ///     masked = ((crc >> 15) | (crc << 17)) &+ 0xa282ead8
    ///
    /// As TensorFlow's `crc32c::Mask`.
    static func masked(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}

/// TFRecord framing: how TensorFlow event files (and `.tfrecord` files) store each record.
///
///     u64 LE   length n of the data
///     u32 LE   masked CRC-32C of those 8 length bytes
///     n bytes  data
///     u32 LE   masked CRC-32C of the data
///
/// As TensorFlow's `io::RecordWriter` without compression.
enum TFRecord {
    /// `data` framed as one record.
    static func frame(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian, Array.init)
        out += length
        out += withUnsafeBytes(of: CRC32C.masked(CRC32C.checksum(length)).littleEndian, Array.init)
        out += data
        out += withUnsafeBytes(of: CRC32C.masked(CRC32C.checksum(data)).littleEndian, Array.init)
        return out
    }
}

/// A minimal protocol-buffer encoder: just the wire types that `tensorflow.Event` needs.
///
/// Fields are written in the order they are appended; a reader accepts any order.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    /// Wire types of the protobuf encoding.
    enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func key(_ field: Int, _ wireType: WireType) {
        varint(UInt64(field) << 3 | wireType.rawValue)
    }

    /// An `int64` field (a negative value takes ten bytes, as protobuf encodes it).
    mutating func int64(_ field: Int, _ value: Int64) {
        key(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    /// A `double` field.
    mutating func double(_ field: Int, _ value: Double) {
        key(field, .fixed64)
        bytes += withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
    }

    /// A `float` field.
    mutating func float(_ field: Int, _ value: Float) {
        key(field, .fixed32)
        bytes += withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init)
    }

    /// A length-delimited field: an embedded message, `bytes` or `string`.
    mutating func message(_ field: Int, _ value: [UInt8]) {
        key(field, .lengthDelimited)
        varint(UInt64(value.count))
        bytes += value
    }

    /// A `string` field (UTF-8).
    mutating func string(_ field: Int, _ value: String) {
        message(field, Array(value.utf8))
    }
}

/// The few `tensorflow.Event` messages an event file needs, encoded by hand.
///
/// From `tensorflow/core/util/event.proto` and `tensorflow/core/framework/summary.proto`:
///
///     message Event   { double wall_time = 1; int64 step = 2; oneof what { string file_version = 3; Summary summary = 5; ... } }
///     message Summary { repeated Value value = 1; }
///     message Summary.Value { string tag = 1; oneof value { float simple_value = 2; ... } }
enum EventProto {
    /// The first event of every file: `Event{wall_time, file_version: "brain.Event:2"}`.
    static func fileVersion(wallTime: Double) -> [UInt8] {
        var event = ProtobufWriter()
        event.double(1, wallTime)
        event.string(3, "brain.Event:2")
        return event.bytes
    }

    /// `Event{wall_time, step, summary{value{tag, simple_value}...}}`, one `Value` per scalar in order.
    static func scalars(_ scalars: [(tag: String, value: Float)], step: Int64, wallTime: Double) -> [UInt8] {
        var summary = ProtobufWriter()
        for (tag, value) in scalars {
            var entry = ProtobufWriter()
            entry.string(1, tag)
            entry.float(2, value)
            summary.message(1, entry.bytes)
        }
        var event = ProtobufWriter()
        event.double(1, wallTime)
        event.int64(2, step)
        event.message(5, summary.bytes)
        return event.bytes
    }
}
