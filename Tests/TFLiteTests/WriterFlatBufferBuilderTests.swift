import Testing
@testable import TFLite

/// The hand-written `FlatBufferBuilder`, checked with the project's verifying reader.
@Suite("FlatBufferBuilder")
struct WriterFlatBufferBuilderTests {
    @Test func scalarsDefaultsAndForcedFields() throws {
        var b = FlatBufferBuilder()
        b.startTable()
        b.add(0, Int32(7), default: 0)
        b.add(1, Int32(0), default: 0)          // equal to its default: omitted
        b.add(2, Float(0), default: nil)         // forced (SoftmaxOptions.beta-like)
        b.add(3, true, default: false)
        b.add(4, Int8(-3), default: nil)
        b.add(5, Int64(-1) << 40, default: 0)
        b.add(6, UInt16(0xBEEF), default: 0)
        let root = b.endTable()
        b.finish(root: root, fileIdentifier: "TEST", minimumAlignment: 16)
        let bytes = b.bytes
        #expect(bytes.count % 16 == 0)
        #expect(Array(bytes[4..<8]) == Array("TEST".utf8))
        let t = try FlatBufferReader(bytes: bytes).root()
        #expect(try t.scalar(0, default: Int32(0)) == 7)
        #expect(!t.has(1))
        #expect(t.has(2))
        #expect(try t.float(2, default: 1) == 0)
        #expect(try t.bool(3, default: false))
        #expect(try t.scalar(4, default: Int8(0)) == -3)
        #expect(try t.scalar(5, default: Int64(0)) == -1 << 40)  // the reader checks 8-byte alignment
        #expect(try t.scalar(6, default: UInt16(0)) == 0xBEEF)
    }

    @Test func vectorsStringsAndForcedAlignment() throws {
        // Vary what precedes the vectors so every start alignment gets exercised.
        for prefix in 0..<33 {
            var b = FlatBufferBuilder(initialCapacity: 8)  // small: forces regrowth
            let junk = b.createVector(bytes: [UInt8](repeating: 0xAA, count: prefix))
            let data = b.createVector(bytes: Array(0..<UInt8(prefix % 7 + 1)), alignment: 16)
            let longs = b.createVector([Int64(-128), 127, 0], alignment: 8)
            let ints = b.createVector([Int32(-1), 6272])
            let floats = b.createVector([Float(0.5), -2])
            let name = b.createString("héllo")
            let empty = b.createString("")
            b.startTable()
            b.add(0, junk); b.add(1, data); b.add(2, longs); b.add(3, ints); b.add(4, floats)
            b.add(5, name); b.add(6, empty)
            let root = b.endTable()
            b.finish(root: root, fileIdentifier: "TFL3", minimumAlignment: 16)
            let bytes = b.bytes
            #expect(bytes.count % 16 == 0)
            let t = try FlatBufferReader(bytes: bytes).root()
            #expect(try t.vector(0, elementSize: 1)?.rawBytes() == [UInt8](repeating: 0xAA, count: prefix))
            let d = try #require(try t.vector(1, elementSize: 1))
            #expect(d.start % 16 == 0)
            #expect(try d.rawBytes() == Array(0..<UInt8(prefix % 7 + 1)))
            let l = try #require(try t.vector(2, elementSize: 8))
            #expect(l.start % 8 == 0)
            #expect(try l.scalars(Int64.self) == [-128, 127, 0])
            #expect(try t.scalars(3, as: Int32.self) == [-1, 6272])
            #expect(try t.floats(4) == [0.5, -2])
            #expect(try t.string(5) == "héllo")
            #expect(try t.string(6) == "")
        }
    }

    @Test func identicalVtablesAreShared() throws {
        var b = FlatBufferBuilder()
        var tables: [FlatBufferBuilder.Offset] = []
        for k in 0..<5 {
            b.startTable()
            b.add(0, Int32(k), default: nil)
            b.add(2, UInt8(k), default: nil)
            tables.append(b.endTable())
        }
        b.startTable()                      // a different layout gets its own vtable
        b.add(1, Int32(9), default: nil)
        tables.append(b.endTable())
        let list = b.createVector(offsets: tables)
        b.startTable()
        b.add(0, list)
        let root = b.endTable()
        b.finish(root: root)
        let bytes = b.bytes
        let v = try #require(try FlatBufferReader(bytes: bytes).root().vector(0, elementSize: 4))
        var vtables: [Int] = []
        for k in 0..<v.count {
            let t = try v.table(at: k)
            vtables.append(t.vtable)
            if k < 5 {
                #expect(try t.scalar(0, default: Int32(-1)) == Int32(k))
                #expect(try t.scalar(2, default: UInt8(99)) == UInt8(k))
                #expect(!t.has(1))
            } else {
                #expect(try t.scalar(1, default: Int32(0)) == 9)
            }
        }
        #expect(Set(vtables.prefix(5)).count == 1)
        #expect(vtables[5] != vtables[0])
        // Five tables of 12 bytes, two vtables (10 and 8 bytes), a 6-entry vector, the root table.
        #expect(bytes.count <= 5 * 12 + 10 + 8 + 28 + 8 + 16 + 16)
    }

    @Test func emptyTableAndEmptyVectors() throws {
        var b = FlatBufferBuilder()
        let nothing = b.createVector(bytes: [], alignment: 16)
        let noOffsets = b.createVector(offsets: [])
        b.startTable()
        let inner = b.endTable()
        b.startTable()
        b.add(0, nothing); b.add(1, noOffsets); b.add(2, inner)
        let root = b.endTable()
        b.finish(root: root, fileIdentifier: "TFL3", minimumAlignment: 16)
        let t = try FlatBufferReader(bytes: b.bytes).root()
        #expect(try t.vector(0, elementSize: 1)?.count == 0)
        #expect(try t.vector(1, elementSize: 4)?.count == 0)
        let e = try #require(try t.table(2))
        #expect(!e.has(0))
    }

    @Test func growthDoesNotChangeTheBytes() throws {
        func build(capacity: Int) -> [UInt8] {
            var b = FlatBufferBuilder(initialCapacity: capacity)
            var offsets: [FlatBufferBuilder.Offset] = []
            for k in 0..<50 {
                let data = b.createVector(bytes: [UInt8](repeating: UInt8(k), count: k * 37 % 101), alignment: 16)
                let name = b.createString("tensor \(k)")
                b.startTable()
                b.add(0, data); b.add(1, name); b.add(2, Int32(k), default: 0)
                offsets.append(b.endTable())
            }
            let v = b.createVector(offsets: offsets)
            b.startTable()
            b.add(0, v)
            let root = b.endTable()
            b.finish(root: root, fileIdentifier: "TFL3", minimumAlignment: 16)
            return b.bytes
        }
        #expect(build(capacity: 1) == build(capacity: 1 << 20))
    }
}
