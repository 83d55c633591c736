import Foundation
import Testing
import TensorCore

@Suite("TensorCore")
struct TensorCoreTests {
    @Test func crc32KnownValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
    }

    @Test func elementCountRejectsNegativeAndOverflow() {
        #expect(Shape.elementCount([2, 3, 4]) == 24)
        #expect(Shape.elementCount([]) == 1)
        #expect(Shape.elementCount([2, -1]) == nil)
        #expect(Shape.elementCount([Int.max / 2, 3]) == nil)
        #expect(Shape.strides([2, 3, 4]) == [12, 4, 1])
    }

    @Test func seededRandomIsReproducible() {
        var a = SeededRandom(seed: 42), b = SeededRandom(seed: 42), c = SeededRandom(seed: 43)
        let xs = (0..<10).map { _ in a.next() }
        #expect(xs == (0..<10).map { _ in b.next() })
        #expect(xs != (0..<10).map { _ in c.next() })
        var r = SeededRandom(seed: 1)
        let p = r.permutation(100)
        #expect(p.sorted() == Array(0..<100))
        let u = (0..<10_000).map { _ in r.nextUnitFloat() }
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(abs(u.reduce(0, +) / 10_000 - 0.5) < 0.02)
    }

    @Test func gemmMatchesNaiveProduct() {
        var r = SeededRandom(seed: 2)
        let m = 5, n = 7, k = 3
        let a = (0..<(m * k)).map { _ in r.nextFloat(in: -1, 1) }
        let b = (0..<(k * n)).map { _ in r.nextFloat(in: -1, 1) }
        var c = [Float](repeating: 0, count: m * n)
        BLAS.sgemm(m: m, n: n, k: k, a: a, b: b, c: &c)
        for i in 0..<m { for j in 0..<n {
            var s: Float = 0
            for t in 0..<k { s += a[i * k + t] * b[t * n + j] }
            #expect(abs(c[i * n + j] - s) < 1e-5)
        } }
        // Transposed A: (A^T)^T B with A stored k x m.
        let at = (0..<(k * m)).map { i in a[(i % m) * k + i / m] }
        var c2 = [Float](repeating: 0, count: m * n)
        BLAS.sgemm(transposeA: true, m: m, n: n, k: k, a: at, b: b, c: &c2)
        #expect(zip(c, c2).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test(arguments: [0, 1, 7, 8, 9, 63, 64, 65])
    func vectorizedLoopsMatchScalar(n: Int) {
        var r = SeededRandom(seed: UInt64(n))
        let x = (0..<n).map { _ in r.nextFloat(in: -3, 8) }
        var y = (0..<n).map { _ in r.nextFloat(in: -3, 8) }
        let y0 = y
        Vectorized.addScaled(x, by: 0.5, to: &y, count: n)
        #expect(y == zip(x, y0).map { $1 + 0.5 * $0 })
        var m = y0
        Vectorized.maximum(x, into: &m, count: n)
        #expect(m == zip(x, y0).map { max($0, $1) })
        var c = y0
        Vectorized.addBiasAndClamp(&c, rows: 1, width: n, bias: x, lower: 0, upper: 6)
        #expect(c == zip(x, y0).map { min(max($1 + $0, 0), 6) })
        var g = x
        Vectorized.maskOutside(&g, output: y0, count: n, lower: 0, upper: 6)
        #expect(g == zip(x, y0).map { $1 > 0 && $1 < 6 ? $0 : 0 })
    }

    @Test func atomicWriteReplacesAndCreatesDirectories() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qk-atomic-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a/b/file.bin")
        try AtomicFile.write([1, 2, 3], to: url)
        try AtomicFile.write("new", to: url)
        #expect(try String(contentsOf: url, encoding: .utf8) == "new")
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path) == ["file.bin"])
        // A destination that cannot be written is a clear error.
        #expect(throws: AtomicFile.WriteError.self) { try AtomicFile.write([1], to: URL(fileURLWithPath: "/proc/qk-nope/x")) }
    }

    @Test func parallelChunksCoverTheRangeOnce() {
        var hits = [Int](repeating: 0, count: 100_000)
        hits.withUnsafeMutableBufferPointer { h in
            let p = h.baseAddress!
            Parallel.forEachChunk(100_000) { r in for i in r { p[i] += 1 } }
        }
        #expect(hits.allSatisfy { $0 == 1 })
    }
}
