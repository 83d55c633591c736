import CZlib

/// Decompression of gzip (and zlib) streams through zlib.
public enum Gzip {
    /// The largest output `inflate` produces (a guard against decompression bombs).
    public static let maximumOutputBytes = 1 << 30

    /// Decompresses a whole gzip stream held in `bytes`.
    ///
    /// - Throws: `DatasetError` of kind `.gzip` naming `path` when the stream is corrupt,
    ///   truncated, or larger than `maximumOutputBytes`.
    public static func inflate(_ bytes: [UInt8], path: String) throws -> [UInt8] {
        guard bytes.count >= 18, bytes[0] == 0x1f, bytes[1] == 0x8b else {
            throw DatasetError(.gzip, path: path, "not a gzip file (the first bytes are not 1f 8b)")
        }
        // The gzip trailer's ISIZE (uncompressed size mod 2^32) is a good first capacity.
        let n = bytes.count
        let hint = Int(bytes[n - 4]) | Int(bytes[n - 3]) << 8 | Int(bytes[n - 2]) << 16 | Int(bytes[n - 1]) << 24
        var output = [UInt8]()
        output.reserveCapacity(min(max(hint, 1 << 16), maximumOutputBytes))

        var stream = z_stream()
        // 15 window bits + 32: detect the gzip or zlib header automatically.
        var status = inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            throw DatasetError(.gzip, path: path, "zlib could not start (inflateInit2 returned \(status))")
        }
        defer { inflateEnd(&stream) }

        let chunk = 1 << 20
        var scratch = [UInt8](repeating: 0, count: chunk)
        try bytes.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!)
            stream.avail_in = UInt32(input.count)
            repeat {
                let produced: Int = scratch.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress!
                    stream.avail_out = UInt32(chunk)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return chunk - Int(stream.avail_out)
                }
                switch status {
                case Z_OK, Z_STREAM_END, Z_BUF_ERROR:
                    break
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw DatasetError(.gzip, path: path, "corrupt gzip data: \(reason)")
                }
                if output.count + produced > maximumOutputBytes {
                    throw DatasetError(.gzip, path: path, "decompresses to more than \(maximumOutputBytes) bytes")
                }
                output.append(contentsOf: scratch[0..<produced])
                if status == Z_BUF_ERROR && produced == 0 {
                    throw DatasetError(.gzip, path: path, "truncated gzip stream (unexpected end of data)")
                }
            } while status != Z_STREAM_END
        }
        return output
    }
}
