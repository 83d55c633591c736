/// Builds a FlatBuffers binary back to front, like the reference `flatbuffers::FlatBufferBuilder`.
///
/// Objects are written from the end of the buffer towards its start, so everything an object refers
/// to (written earlier) lies at a higher address and every uoffset points forward, as the format
/// requires. Positions are tracked as distances from the end of the buffer (an ``Offset``), and
/// alignment is arranged relative to the end; ``finish(root:fileIdentifier:minimumAlignment:)``
/// pads the front so that the total length is a multiple of the largest alignment used, which makes
/// every alignment hold relative to the start as well.
///
/// The rules it follows (spec §6.2; FlatBuffers' `flatbuffer_builder.h`):
///
/// - scalars are aligned to their size; a table field equal to the given schema default is omitted
///   (pass `default: nil` to always write it, for the fields whose default is a trap);
/// - a table starts with an `soffset` to its vtable `[u16 vtable size][u16 inline size][u16 × n]`;
///   trailing absent fields are dropped and identical vtables are shared (deduplicated);
/// - a vector is a u32 count immediately followed by its elements, which are aligned to their size
///   or to a larger forced alignment (16 for TFLite's `Buffer.data`);
/// - a string is a u32 length, the UTF-8 bytes and a NUL that the length does not count;
/// - uoffsets are u32, relative to the position of the field or vector slot holding them.
///
/// The bytes live in one growable `[UInt8]` filled from the back; bulk data is copied with
/// `memcpy`, never byte by byte through an allocation. Tables and vectors cannot nest: create
/// children first, then the table that refers to them (as with the reference builder). Misuse of the
/// API (nesting, a duplicate field id, an identifier that is not 4 bytes) is a programming error
/// and traps with a message; sizes are not checked here: callers compare ``size`` with
/// ``maximumSize`` (or check ``exceedsMaximumSize``) before trusting the result.
public struct FlatBufferBuilder {
    /// An object already written, as its distance from the end of the buffer (what the reference
    /// builder calls an `Offset`).
    public struct Offset: Hashable, Sendable {
        public let distanceFromEnd: Int
    }

    /// The largest buffer FlatBuffers supports: 2³¹ − 1 bytes (`FLATBUFFERS_MAX_BUFFER_SIZE`).
    public static let maximumSize = Int(Int32.max)

    /// `storage[head...]` holds the bytes written so far.
    private var storage: [UInt8]
    private var head: Int
    /// The largest alignment any object asked for.
    public private(set) var minimumAlignment = 1
    /// Fields of the open table: id, position (distance from end) and size in bytes.
    private var fields: [(id: Int, position: Int, size: Int)] = []
    /// Size of the buffer when the open table was started, or `nil` when no table is open.
    private var tableStart: Int?
    private var vectorOpen = false
    /// Vtables written so far, by content, with their position (distance from end).
    private var vtables: [[UInt16]: Int] = [:]
    private var finished = false

    /// A builder whose first allocation holds `initialCapacity` bytes (it grows by doubling).
    public init(initialCapacity: Int = 1024) {
        let capacity = max(initialCapacity, 64)
        storage = [UInt8](repeating: 0, count: capacity)
        head = capacity
    }

    /// Bytes written so far.
    public var size: Int { storage.count - head }

    /// `true` once the buffer has outgrown what a uoffset can address (``maximumSize``).
    public var exceedsMaximumSize: Bool { size > Self.maximumSize }

    /// The finished buffer (call after ``finish(root:fileIdentifier:minimumAlignment:)``).
    public var bytes: [UInt8] {
        precondition(finished, "FlatBufferBuilder: bytes read before finish(root:)")
        return Array(storage[head...])
    }

    // MARK: - Raw space

    /// Makes room for `count` more bytes in front of the current head.
    private mutating func reserve(_ count: Int) {
        if head >= count { return }
        let used = size
        let capacity = max(storage.count * 2, used + count + 64)
        var grown = [UInt8](repeating: 0, count: capacity)
        let newHead = capacity - used
        grown.withUnsafeMutableBytes { destination in
            storage.withUnsafeBytes { source in
                guard used > 0 else { return }
                (destination.baseAddress! + newHead).copyMemory(from: source.baseAddress! + head, byteCount: used)
            }
        }
        storage = grown
        head = newHead
    }

    /// Writes `count` zero bytes.
    public mutating func pad(_ count: Int) {
        guard count > 0 else { return }
        reserve(count)
        head -= count
        // Fresh storage is zeroed and never written twice, but padding must be zero: make it explicit.
        let start = head
        storage.withUnsafeMutableBytes { raw in
            _ = (raw.baseAddress! + start).initializeMemory(as: UInt8.self, repeating: 0, count: count)
        }
    }

    /// Pads so that, once `additional` more bytes are written, the size is a multiple of `alignment`
    /// (a power of two), and records `alignment` for ``finish(root:fileIdentifier:minimumAlignment:)``.
    public mutating func align(_ alignment: Int, afterAdding additional: Int = 0) {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0,
                     "FlatBufferBuilder: alignment \(alignment) is not a power of two")
        minimumAlignment = max(minimumAlignment, alignment)
        let misalignment = (size + additional) & (alignment - 1)
        pad((alignment - misalignment) & (alignment - 1))
    }

    /// Writes `value` little-endian, aligned to its size.
    public mutating func push<T: FixedWidthInteger>(_ value: T) {
        let width = MemoryLayout<T>.size
        align(width)
        reserve(width)
        head -= width
        storage.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: value.littleEndian, toByteOffset: head, as: T.self)
        }
    }

    /// Writes raw bytes with no alignment.
    private mutating func pushBytes(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        reserve(bytes.count)
        head -= bytes.count
        storage.withUnsafeMutableBytes { raw in
            (raw.baseAddress! + head).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        }
    }

    /// The uoffset that, stored at the next 4-aligned slot, refers to `target`.
    private mutating func uoffset(to target: Offset) -> UInt32 {
        align(4)
        precondition(target.distanceFromEnd > 0 && target.distanceFromEnd <= size,
                     "FlatBufferBuilder: offset \(target.distanceFromEnd) does not refer to an object of this buffer (size \(size))")
        return UInt32(truncatingIfNeeded: size + 4 - target.distanceFromEnd)
    }

    private func requireNotNested(_ what: String) {
        precondition(tableStart == nil && !vectorOpen,
                     "FlatBufferBuilder: \(what) while a table or vector is open; create children before their parent")
        precondition(!finished, "FlatBufferBuilder: \(what) after finish(root:)")
    }

    // MARK: - Tables

    /// Opens a table; add its fields, then call ``endTable()``.
    public mutating func startTable() {
        requireNotNested("startTable()")
        tableStart = size
        fields.removeAll(keepingCapacity: true)
    }

    private mutating func recordField(_ id: Int, size width: Int) {
        precondition(tableStart != nil, "FlatBufferBuilder: a field added outside startTable()/endTable()")
        precondition(id >= 0 && id < 0x7FFE, "FlatBufferBuilder: field id \(id) out of range")
        precondition(!fields.contains { $0.id == id }, "FlatBufferBuilder: field \(id) added twice")
        fields.append((id, size, width))
    }

    /// Adds an integer field, unless it equals `defaultValue` (`nil` = always write it).
    public mutating func add<T: FixedWidthInteger>(_ id: Int, _ value: T, default defaultValue: T?) {
        if let defaultValue, value == defaultValue { return }
        push(value)
        recordField(id, size: MemoryLayout<T>.size)
    }

    /// Adds a float32 field, unless its bit pattern equals `defaultValue`'s (`nil` = always write it).
    public mutating func add(_ id: Int, _ value: Float, default defaultValue: Float?) {
        if let defaultValue, value.bitPattern == defaultValue.bitPattern { return }
        push(value.bitPattern)
        recordField(id, size: 4)
    }

    /// Adds a bool field (one byte, 0 or 1), unless it equals `defaultValue` (`nil` = always write it).
    public mutating func add(_ id: Int, _ value: Bool, default defaultValue: Bool?) {
        if let defaultValue, value == defaultValue { return }
        push(UInt8(value ? 1 : 0))
        recordField(id, size: 1)
    }

    /// Adds a reference to a table, vector or string; nothing when `offset` is `nil`.
    public mutating func add(_ id: Int, _ offset: Offset?) {
        guard let offset else { return }
        let value = uoffset(to: offset)
        push(value)
        recordField(id, size: 4)
    }

    /// Closes the open table: writes its `soffset` and its vtable (or reuses an identical one).
    public mutating func endTable() -> Offset {
        precondition(tableStart != nil, "FlatBufferBuilder: endTable() without startTable()")
        push(Int32(0))  // the soffset, patched below
        let table = size
        let slots = (fields.map(\.id).max() ?? -1) + 1
        // The inline size covers the soffset and the fields, not the alignment padding in front of
        // the first field pushed (which the reference builder counts): tables with the same fields
        // then share a vtable wherever they start.
        let end = fields.map { $0.position - $0.size }.min() ?? table - 4
        let inlineSize = table - end
        precondition(inlineSize <= Int(UInt16.max), "FlatBufferBuilder: a table of \(inlineSize) bytes")
        var vtable = [UInt16](repeating: 0, count: 2 + slots)
        vtable[0] = UInt16(4 + 2 * slots)
        vtable[1] = UInt16(inlineSize)
        for field in fields { vtable[2 + field.id] = UInt16(table - field.position) }

        let vtablePosition: Int
        if let existing = vtables[vtable] {
            vtablePosition = existing
        } else {
            // The table start is 4-aligned, so the u16 entries written in front of it are 2-aligned.
            for entry in vtable.reversed() { push(entry) }
            vtablePosition = size
            vtables[vtable] = vtablePosition
        }
        // soffset = table address − vtable address = vtablePosition − table (both from the end).
        let soffset = Int32(truncatingIfNeeded: vtablePosition - table)
        let at = storage.count - table
        storage.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: soffset.littleEndian, toByteOffset: at, as: Int32.self)
        }
        tableStart = nil
        fields.removeAll(keepingCapacity: true)
        return Offset(distanceFromEnd: table)
    }

    // MARK: - Vectors and strings

    /// Prepares for `count` elements of `elementSize` bytes whose first element must be aligned to
    /// `alignment` (at least the element size); push the elements last to first, then call
    /// ``endVector(count:)``.
    public mutating func startVector(count: Int, elementSize: Int, alignment: Int = 1) {
        requireNotNested("startVector(count:elementSize:)")
        let length = count * elementSize
        align(4, afterAdding: length)
        align(max(alignment, elementSize), afterAdding: length)
        vectorOpen = true
    }

    /// Writes the element count of the open vector and returns the vector.
    public mutating func endVector(count: Int) -> Offset {
        precondition(vectorOpen, "FlatBufferBuilder: endVector(count:) without startVector")
        vectorOpen = false
        push(UInt32(truncatingIfNeeded: count))
        return Offset(distanceFromEnd: size)
    }

    /// A vector of bytes whose first element is aligned to `alignment` (TFLite's `Buffer.data`: 16).
    public mutating func createVector(bytes: [UInt8], alignment: Int = 1) -> Offset {
        startVector(count: bytes.count, elementSize: 1, alignment: alignment)
        bytes.withUnsafeBytes { pushBytes($0) }
        return endVector(count: bytes.count)
    }

    /// A vector of integers, little-endian, aligned to their size (or more).
    public mutating func createVector<T: FixedWidthInteger>(_ values: [T], alignment: Int = 1) -> Offset {
        let width = MemoryLayout<T>.size
        startVector(count: values.count, elementSize: width, alignment: alignment)
        if !values.isEmpty {
            reserve(values.count * width)
            head -= values.count * width
            let start = head
            storage.withUnsafeMutableBytes { raw in
                for (i, v) in values.enumerated() {
                    raw.storeBytes(of: v.littleEndian, toByteOffset: start + i * width, as: T.self)
                }
            }
        }
        return endVector(count: values.count)
    }

    /// A vector of float32.
    public mutating func createVector(_ values: [Float]) -> Offset {
        createVector(values.map(\.bitPattern))
    }

    /// A vector of references (tables, strings or vectors), each a uoffset relative to its own slot.
    public mutating func createVector(offsets: [Offset]) -> Offset {
        startVector(count: offsets.count, elementSize: 4, alignment: 4)
        for offset in offsets.reversed() {
            let value = uoffset(to: offset)
            push(value)
        }
        return endVector(count: offsets.count)
    }

    /// A string: u32 byte count, the UTF-8 bytes and a terminating NUL (not counted).
    public mutating func createString(_ string: String) -> Offset {
        requireNotNested("createString(_:)")
        var utf8 = Array(string.utf8)
        let count = utf8.count
        align(4, afterAdding: count + 1)
        utf8.append(0)
        utf8.withUnsafeBytes { pushBytes($0) }
        push(UInt32(truncatingIfNeeded: count))
        return Offset(distanceFromEnd: size)
    }

    // MARK: - Finishing

    /// Writes the root uoffset and the optional 4-byte file identifier, padding the front so the
    /// total length is a multiple of `minimumAlignment` and of every alignment used so far.
    public mutating func finish(root: Offset, fileIdentifier: String? = nil, minimumAlignment requested: Int = 1) {
        requireNotNested("finish(root:)")
        let identifier = fileIdentifier.map { Array($0.utf8) }
        precondition(identifier == nil || identifier!.count == 4,
                     "FlatBufferBuilder: a file identifier has exactly 4 bytes, not \(identifier!.count)")
        align(max(minimumAlignment, requested, 4), afterAdding: 4 + (identifier == nil ? 0 : 4))
        if let identifier { identifier.withUnsafeBytes { pushBytes($0) } }
        let value = uoffset(to: root)
        push(value)
        finished = true
    }
}
