/// Bounds-, alignment- and budget-checked access to a FlatBuffers binary.
///
/// Every read checks its offset and length against the buffer before touching memory, so a
/// corrupt or hostile file produces a ``TFLiteError`` and never a trap. The rules enforced follow the
/// FlatBuffers binary format (and its C++ `Verifier`):
///
/// - the root uoffset at byte 0 and every field uoffset are unsigned, relative to their own
///   position, non-zero and so forward-pointing, and land inside the buffer;
/// - a table starts 4-aligned with an `soffset` to a 2-aligned vtable whose size is even, at least 4
///   and inside the buffer; fields lie inside the table's inline size and are aligned to their size;
/// - a vector's u32 count is 4-aligned, its elements are aligned to their size (up to 8), and
///   `count × elementSize` (overflow-checked) fits in the buffer;
/// - a string is a byte vector followed by a NUL inside the buffer.
///
/// Because uoffsets only point forward, no chain of references can loop; on top of that a budget
/// bounds the number of tables visited, the nesting depth and the bytes decoded (so overlapping
/// structures that share one big vector cannot blow up memory).
public struct FlatBufferReader {
    /// The whole file.
    public let bytes: [UInt8]
    /// Maximum nesting depth of tables below the root.
    public let maxDepth: Int
    let budget: Budget

    /// Limits on the work a (possibly hostile) buffer can cause.
    final class Budget {
        var tables: Int
        var bytes: Int
        init(tables: Int, bytes: Int) {
            self.tables = tables
            self.bytes = bytes
        }
    }

    /// - Parameters:
    ///   - maxTables: tables that may be visited in total (as FlatBuffers' `max_tables`, 1 000 000).
    ///   - maxDecodedBytes: bytes that may be decoded into Swift values in total; by default twice
    ///     the buffer plus 1 MiB.
    ///   - maxDepth: nesting depth of tables (as FlatBuffers' `max_depth`, 64).
    public init(bytes: [UInt8], maxTables: Int = 1_000_000, maxDecodedBytes: Int? = nil, maxDepth: Int = 64) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        let (twice, overflow) = bytes.count.multipliedReportingOverflow(by: 2)
        let defaultBytes = overflow ? Int.max : twice &+ (1 << 20)
        self.budget = Budget(tables: maxTables, bytes: maxDecodedBytes ?? defaultBytes)
    }

    /// The four identifier bytes at offset 4, or `nil` when the buffer is shorter than 8 bytes.
    public var fileIdentifier: String? {
        guard bytes.count >= 8 else { return nil }
        return String(decoding: bytes[4..<8], as: UTF8.self)
    }

    /// The root table (the uoffset at byte 0).
    public func root() throws(TFLiteError) -> FlatBufferTable {
        let position = try follow(uoffsetAt: 0, what: "root table offset")
        return try table(at: position, depth: 0)
    }

    // MARK: - Primitives

    /// Loads a little-endian `T` at `offset`, checking bounds and (natural) alignment.
    func load<T: FixedWidthInteger>(_: T.Type, at offset: Int, what: @autoclosure () -> String) throws(TFLiteError) -> T {
        let size = MemoryLayout<T>.size
        guard offset >= 0, size <= bytes.count, offset <= bytes.count - size else {
            throw TFLiteError(.outOfBounds,
                              "\(what()) (\(size) bytes) at offset \(offset) lies outside the \(bytes.count)-byte buffer",
                              offset: offset)
        }
        guard offset % size == 0 else {
            throw TFLiteError(.misaligned, "\(what()) at offset \(offset) is not \(size)-byte aligned", offset: offset)
        }
        return bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    /// Follows the uoffset stored at `position`: returns `position + offset`, which must be forward
    /// (offset > 0) and leave room for at least 4 bytes.
    func follow(uoffsetAt position: Int, what: @autoclosure () -> String) throws(TFLiteError) -> Int {
        let offset = try load(UInt32.self, at: position, what: what())
        guard offset > 0 else {
            throw TFLiteError(.invalidOffset, "\(what()) at offset \(position) is 0; uoffsets must point forward",
                              offset: position)
        }
        let target = position + Int(offset)  // position < 2^62 and offset < 2^32: no overflow
        guard bytes.count >= 4, target <= bytes.count - 4 else {
            throw TFLiteError(.outOfBounds,
                              "\(what()) at offset \(position) points to \(target), outside the \(bytes.count)-byte buffer",
                              offset: position)
        }
        return target
    }

    func chargeTable(at position: Int) throws(TFLiteError) {
        budget.tables -= 1
        guard budget.tables >= 0 else {
            throw TFLiteError(.tooComplex, "too many tables visited (shared or overlapping structures?)", offset: position)
        }
    }

    func charge(bytes count: Int, at position: Int) throws(TFLiteError) {
        budget.bytes -= count
        guard budget.bytes >= 0 else {
            throw TFLiteError(.tooComplex,
                              "decoding more data than the file could hold (shared or overlapping vectors?)",
                              offset: position)
        }
    }

    /// The table whose start (its soffset) is at `position`.
    func table(at position: Int, depth: Int) throws(TFLiteError) -> FlatBufferTable {
        guard depth <= maxDepth else {
            throw TFLiteError(.tooComplex, "tables nested deeper than \(maxDepth)", offset: position)
        }
        try chargeTable(at: position)
        let soffset = try load(Int32.self, at: position, what: "table start (soffset to vtable)")
        let vtable = position - Int(soffset)
        guard vtable >= 0, bytes.count >= 4, vtable <= bytes.count - 4 else {
            throw TFLiteError(.outOfBounds,
                              "the table at offset \(position) puts its vtable at \(vtable), outside the \(bytes.count)-byte buffer",
                              offset: position)
        }
        let vtableSize = Int(try load(UInt16.self, at: vtable, what: "vtable size"))
        let inlineSize = Int(try load(UInt16.self, at: vtable + 2, what: "table inline size"))
        guard vtableSize >= 4, vtableSize % 2 == 0, vtable + vtableSize <= bytes.count else {
            throw TFLiteError(.invalidOffset,
                              "the vtable at offset \(vtable) (for the table at \(position)) declares size \(vtableSize); expected an even size ≥ 4 within the buffer",
                              offset: vtable)
        }
        guard inlineSize >= 4, position + inlineSize <= bytes.count else {
            throw TFLiteError(.invalidOffset,
                              "the table at offset \(position) declares inline size \(inlineSize); expected ≥ 4 and within the buffer",
                              offset: position)
        }
        return FlatBufferTable(reader: self, position: position, vtable: vtable, vtableSize: vtableSize,
                               inlineSize: inlineSize, depth: depth)
    }

    /// The vector whose u32 count is at `position`, with elements of `elementSize` bytes.
    func vector(at position: Int, elementSize: Int, depth: Int) throws(TFLiteError) -> FlatBufferVector {
        let count = Int(try load(UInt32.self, at: position, what: "vector length"))
        let start = position + 4
        let (length, overflow) = count.multipliedReportingOverflow(by: elementSize)
        guard !overflow, length <= bytes.count - start else {
            throw TFLiteError(.outOfBounds,
                              "the vector at offset \(position) claims \(count) elements of \(elementSize) bytes, which run past the end of the \(bytes.count)-byte buffer",
                              offset: position)
        }
        let alignment = min(elementSize, 8)
        guard start % alignment == 0 else {
            throw TFLiteError(.misaligned,
                              "the elements of the vector at offset \(position) start at \(start), not \(alignment)-byte aligned",
                              offset: position)
        }
        return FlatBufferVector(reader: self, position: position, start: start, count: count,
                                elementSize: elementSize, depth: depth)
    }

    /// The string whose u32 length is at `position`.
    func string(at position: Int) throws(TFLiteError) -> String {
        let v = try vector(at: position, elementSize: 1, depth: 0)
        let end = v.start + v.count
        guard end < bytes.count else {
            throw TFLiteError(.invalidString,
                              "the string at offset \(position) (\(v.count) bytes) has no NUL terminator inside the buffer",
                              offset: position)
        }
        guard bytes[end] == 0 else {
            throw TFLiteError(.invalidString,
                              "the string at offset \(position) (\(v.count) bytes) is not followed by a NUL byte",
                              offset: end)
        }
        try charge(bytes: v.count, at: position)
        return String(decoding: bytes[v.start..<end], as: UTF8.self)
    }
}
