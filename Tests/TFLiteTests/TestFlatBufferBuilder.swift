// A tiny FlatBuffers encoder for tests: lays objects out front to back (parent before child, vtable
// before its table) so every uoffset points forward. Good enough to hand-make valid, odd and hostile
// models; the production writer lives in Sources/TFLite (Export).

/// A value to encode.
indirect enum FB {
    case u8(UInt8), i8(Int8), bool(Bool), u16(UInt16), i32(Int32), u32(UInt32), i64(Int64), u64(UInt64), f32(Float)
    /// A table: field id → value (absent ids are omitted).
    case table([Int: FB])
    /// A vector of scalars: element size, alignment of the elements, raw little-endian bytes.
    case vector(elementSize: Int, alignment: Int, bytes: [UInt8])
    /// A vector of tables.
    case tables([FB])
    case string(String)

    static func ints(_ v: [Int32]) -> FB { .vector(elementSize: 4, alignment: 4, bytes: v.flatMap { le($0) }) }
    static func ints(_ v: [Int]) -> FB { ints(v.map { Int32(truncatingIfNeeded: $0) }) }
    static func floats(_ v: [Float]) -> FB { .vector(elementSize: 4, alignment: 4, bytes: v.flatMap { le($0.bitPattern) }) }
    static func longs(_ v: [Int64]) -> FB { .vector(elementSize: 8, alignment: 8, bytes: v.flatMap { le($0) }) }
    static func data(_ bytes: [UInt8]) -> FB { .vector(elementSize: 1, alignment: 16, bytes: bytes) }

    var inlineSize: Int {
        switch self {
        case .u8, .i8, .bool: 1
        case .u16: 2
        case .i32, .u32, .f32: 4
        case .i64, .u64: 8
        case .table, .vector, .tables, .string: 4  // uoffset
        }
    }

    var inlineBytes: [UInt8]? {
        switch self {
        case .u8(let v): [v]
        case .i8(let v): [UInt8(bitPattern: v)]
        case .bool(let v): [v ? 1 : 0]
        case .u16(let v): le(v)
        case .i32(let v): le(v)
        case .u32(let v): le(v)
        case .i64(let v): le(v)
        case .u64(let v): le(v)
        case .f32(let v): le(v.bitPattern)
        default: nil
        }
    }
}

func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    withUnsafeBytes(of: v.littleEndian) { Array($0) }
}

struct FBEncoder {
    var out: [UInt8] = []

    /// Encodes `root` with the 4-byte `identifier`.
    static func encode(_ root: FB, identifier: String = "TFL3") -> [UInt8] {
        var e = FBEncoder()
        e.out = [0, 0, 0, 0] + Array(identifier.utf8.prefix(4))
        let position = e.write(root)
        e.patch(at: 0, UInt32(position))
        e.align(16)
        return e.out
    }

    mutating func align(_ n: Int) { while out.count % n != 0 { out.append(0) } }

    mutating func patch(at position: Int, _ value: UInt32) {
        for (k, b) in le(value).enumerated() { out[position + k] = b }
    }

    /// Writes a referenced object and returns its position (what a uoffset must point at).
    mutating func write(_ value: FB) -> Int {
        switch value {
        case .table(let fields): return writeTable(fields)
        case .vector(let size, let alignment, let bytes):
            align(4)
            while (out.count + 4) % max(alignment, 4) != 0 { out.append(0) }
            let position = out.count
            out += le(UInt32(bytes.count / size))
            out += bytes
            return position
        case .tables(let items):
            align(4)
            let position = out.count
            out += le(UInt32(items.count))
            let slots = out.count
            out += [UInt8](repeating: 0, count: 4 * items.count)
            for (k, item) in items.enumerated() {
                let target = write(item)
                patch(at: slots + 4 * k, UInt32(target - (slots + 4 * k)))
            }
            return position
        case .string(let s):
            align(4)
            let position = out.count
            let utf8 = Array(s.utf8)
            out += le(UInt32(utf8.count)) + utf8 + [0]
            return position
        default:
            fatalError("FBEncoder: scalars are written inline")
        }
    }

    mutating func writeTable(_ fields: [Int: FB]) -> Int {
        let ids = fields.keys.sorted()
        // Inline layout: soffset, then fields in id order, each aligned to its size.
        var offsets: [Int: Int] = [:]
        var cursor = 4
        for id in ids {
            let size = fields[id]!.inlineSize
            while cursor % size != 0 { cursor += 1 }
            offsets[id] = cursor
            cursor += size
        }
        let inlineSize = cursor
        let slotCount = (ids.last ?? -1) + 1
        align(2)
        let vtable = out.count
        out += le(UInt16(4 + 2 * slotCount)) + le(UInt16(inlineSize))
        for id in 0..<slotCount { out += le(UInt16(offsets[id] ?? 0)) }
        align(8)
        let table = out.count
        out += le(Int32(table - vtable))
        out += [UInt8](repeating: 0, count: inlineSize - 4)
        for id in ids {
            if let bytes = fields[id]!.inlineBytes {
                for (k, b) in bytes.enumerated() { out[table + offsets[id]! + k] = b }
            }
        }
        for id in ids where fields[id]!.inlineBytes == nil {
            let slot = table + offsets[id]!
            let target = write(fields[id]!)
            patch(at: slot, UInt32(target - slot))
        }
        return table
    }
}
