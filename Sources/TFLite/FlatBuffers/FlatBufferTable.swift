/// A verified table: its vtable has been bounds-checked; every field access checks the field.
///
/// Field ids are the schema's declaration order (a union takes two ids: type, then value). An
/// absent field (beyond the vtable, or with offset 0) reads as the schema default.
public struct FlatBufferTable {
    let reader: FlatBufferReader
    /// Byte offset of the table start (its soffset).
    public let position: Int
    let vtable: Int
    let vtableSize: Int
    let inlineSize: Int
    let depth: Int

    /// The absolute position of field `id` (checked to hold `size` bytes inside the table, aligned),
    /// or `nil` when the field is absent.
    func fieldPosition(_ id: Int, size: Int) throws(TFLiteError) -> Int? {
        let slot = 4 + 2 * id
        guard id >= 0, slot + 2 <= vtableSize else { return nil }
        let offset = Int(try reader.load(UInt16.self, at: vtable + slot, what: "vtable entry for field \(id)"))
        if offset == 0 { return nil }
        guard offset >= 4, offset + size <= inlineSize else {
            throw TFLiteError(.invalidOffset,
                              "field \(id) of the table at offset \(position) sits at \(offset)..<\(offset + size), outside the table's inline size \(inlineSize)",
                              offset: vtable + slot)
        }
        let field = position + offset
        guard field % size == 0 else {
            throw TFLiteError(.misaligned, "field \(id) of the table at offset \(position) is not \(size)-byte aligned",
                              offset: field)
        }
        return field
    }

    /// `true` when field `id` is present.
    public func has(_ id: Int) -> Bool {
        let slot = 4 + 2 * id
        guard id >= 0, slot + 2 <= vtableSize else { return false }
        return ((try? reader.load(UInt16.self, at: vtable + slot, what: "")) ?? 0) != 0
    }

    /// An integer scalar field.
    public func scalar<T: FixedWidthInteger>(_ id: Int, default value: T) throws(TFLiteError) -> T {
        guard let field = try fieldPosition(id, size: MemoryLayout<T>.size) else { return value }
        return try reader.load(T.self, at: field, what: "field \(id)")
    }

    /// A float32 field.
    public func float(_ id: Int, default value: Float) throws(TFLiteError) -> Float {
        guard let field = try fieldPosition(id, size: 4) else { return value }
        return Float(bitPattern: try reader.load(UInt32.self, at: field, what: "field \(id)"))
    }

    /// A bool field (any non-zero byte is `true`).
    public func bool(_ id: Int, default value: Bool) throws(TFLiteError) -> Bool {
        guard let field = try fieldPosition(id, size: 1) else { return value }
        return try reader.load(UInt8.self, at: field, what: "field \(id)") != 0
    }

    /// A sub-table field, or `nil` when absent.
    public func table(_ id: Int) throws(TFLiteError) -> FlatBufferTable? {
        guard let field = try fieldPosition(id, size: 4) else { return nil }
        let target = try reader.follow(uoffsetAt: field, what: "offset to the table in field \(id)")
        return try reader.table(at: target, depth: depth + 1)
    }

    /// A vector field with elements of `elementSize` bytes, or `nil` when absent.
    public func vector(_ id: Int, elementSize: Int) throws(TFLiteError) -> FlatBufferVector? {
        guard let field = try fieldPosition(id, size: 4) else { return nil }
        let target = try reader.follow(uoffsetAt: field, what: "offset to the vector in field \(id)")
        return try reader.vector(at: target, elementSize: elementSize, depth: depth + 1)
    }

    /// A string field, or `nil` when absent.
    public func string(_ id: Int) throws(TFLiteError) -> String? {
        guard let field = try fieldPosition(id, size: 4) else { return nil }
        let target = try reader.follow(uoffsetAt: field, what: "offset to the string in field \(id)")
        return try reader.string(at: target)
    }

    /// A vector of scalars, decoded (empty when absent).
    public func scalars<T: FixedWidthInteger>(_ id: Int, as _: T.Type) throws(TFLiteError) -> [T]? {
        try vector(id, elementSize: MemoryLayout<T>.size)?.scalars(T.self)
    }

    /// A vector of float32, decoded.
    public func floats(_ id: Int) throws(TFLiteError) -> [Float]? {
        try vector(id, elementSize: 4)?.scalars(UInt32.self).map(Float.init(bitPattern:))
    }
}

/// A verified vector: its count and extent have been bounds- and alignment-checked.
public struct FlatBufferVector {
    let reader: FlatBufferReader
    /// Byte offset of the u32 count.
    public let position: Int
    /// Byte offset of the first element.
    public let start: Int
    /// Number of elements.
    public let count: Int
    let elementSize: Int
    let depth: Int

    /// All elements decoded as little-endian `T` (whose size must be the element size).
    public func scalars<T: FixedWidthInteger>(_: T.Type) throws(TFLiteError) -> [T] {
        precondition(MemoryLayout<T>.size == elementSize, "FlatBufferVector: element size \(elementSize) read as \(T.self)")
        try reader.charge(bytes: count * elementSize + 16, at: position)
        let (start, count) = (self.start, self.count)
        return reader.bytes.withUnsafeBytes { raw in
            [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count {
                    buffer[i] = T(littleEndian: raw.loadUnaligned(fromByteOffset: start + i * MemoryLayout<T>.size, as: T.self))
                }
                initialized = count
            }
        }
    }

    /// A copy of the raw element bytes.
    public func rawBytes() throws(TFLiteError) -> [UInt8] {
        try reader.charge(bytes: count * elementSize, at: position)
        return Array(reader.bytes[start..<(start + count * elementSize)])
    }

    /// Element `index` of a vector of tables (each element a uoffset relative to its own slot).
    public func table(at index: Int) throws(TFLiteError) -> FlatBufferTable {
        precondition(elementSize == 4 && index >= 0 && index < count, "FlatBufferVector: table index \(index) of \(count)")
        let slot = start + 4 * index
        let target = try reader.follow(uoffsetAt: slot, what: "offset to table element \(index)")
        return try reader.table(at: target, depth: depth + 1)
    }
}
