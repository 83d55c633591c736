import Foundation

/// Reader for the IDX format of MNIST-style datasets (big-endian header, unsigned bytes).
///
///     magic: 0x00 0x00 type(0x08 = ubyte) ndims
///     ndims x u32 big-endian dimension sizes
///     data, row-major
public enum IDX {
    /// A decoded IDX array of unsigned bytes.
    public struct Array: Sendable {
        public var dimensions: [Int]
        public var bytes: [UInt8]
    }

    /// Reads `url` (gzip-compressed if its name ends in `.gz`) and checks that it holds
    /// `rank` dimensions of unsigned bytes.
    public static func read(_ url: URL, rank: Int) throws -> Array {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else {
            throw DatasetError(.missing, path: path, "file not found")
        }
        let raw: [UInt8]
        do {
            raw = [UInt8](try Data(contentsOf: url))
        } catch {
            throw DatasetError(.unreadable, path: path, "cannot read: \(error.localizedDescription)")
        }
        let bytes = path.hasSuffix(".gz") ? try Gzip.inflate(raw, path: path) : raw
        return try decode(bytes, rank: rank, path: path)
    }

    /// Decodes IDX bytes, checking magic, rank and length.
    public static func decode(_ bytes: [UInt8], rank: Int, path: String) throws -> Array {
        guard bytes.count >= 4 else {
            throw DatasetError(.truncated, path: path, "IDX file is \(bytes.count) bytes long, shorter than its 4-byte magic")
        }
        guard bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08 else {
            let magic = bytes[0..<4].map { String(format: "%02x", $0) }.joined()
            throw DatasetError(.badMagic, path: path, "bad IDX magic 0x\(magic): expected 0x000008\(String(format: "%02x", rank)) (unsigned bytes, \(rank) dimensions)")
        }
        guard Int(bytes[3]) == rank else {
            throw DatasetError(.wrongDimensions, path: path, "IDX file has \(bytes[3]) dimensions, expected \(rank)")
        }
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else {
            throw DatasetError(.truncated, path: path, "IDX header is cut short (\(bytes.count) of \(headerSize) bytes)")
        }
        var dimensions = [Int]()
        var count = 1
        for i in 0..<rank {
            let o = 4 + 4 * i
            let d = Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
            dimensions.append(d)
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= Int(Int32.max) else {
                throw DatasetError(.wrongDimensions, path: path, "IDX dimensions \(dimensions) are absurdly large")
            }
            count = product
        }
        guard bytes.count == headerSize + count else {
            throw DatasetError(.truncated, path: path,
                               "IDX data is \(bytes.count - headerSize) bytes but the header \(dimensions) says \(count)")
        }
        return Array(dimensions: dimensions, bytes: Swift.Array(bytes[headerSize...]))
    }
}
