import TensorCore

/// A 64-byte aligned array that never moves, owned by a prepared kernel (freed with it).
final class AlignedArray<Element: BitwiseCopyable>: @unchecked Sendable {
    let count: Int
    let pointer: UnsafeMutablePointer<Element>

    /// `count` copies of `value`.
    init(repeating value: Element, count: Int) {
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Element>.stride
        pointer = UnsafeMutableRawPointer.allocate(byteCount: (bytes + 63) / 64 * 64, alignment: 64)
            .bindMemory(to: Element.self, capacity: max(count, 1))
        pointer.initialize(repeating: value, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    subscript(i: Int) -> Element {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
}

/// Scratch memory carved into 64-byte aligned pieces.
struct ScratchCarver {
    private var next: UnsafeMutableRawPointer
    private let end: UnsafeMutableRawPointer

    /// Bytes a layout needs beyond the sum of its (64-byte rounded) pieces: the alignment of the base.
    static let slack = 64

    /// The rounded size of one piece.
    static func bytes<T>(_ count: Int, of _: T.Type) -> Int { (count * MemoryLayout<T>.stride + 63) / 64 * 64 }

    init(_ scratch: UnsafeMutableRawBufferPointer, needs bytes: Int, kernel: String) {
        precondition(scratch.count >= bytes, "\(kernel).run: scratch has \(scratch.count) bytes, needs \(bytes)")
        let base = scratch.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 64)!
        let aligned = (Int(bitPattern: base) + 63) & ~63
        next = UnsafeMutableRawPointer(bitPattern: aligned) ?? base
        end = base + scratch.count
    }

    /// The next `count` elements of `T`.
    mutating func take<T>(_ count: Int, of _: T.Type) -> UnsafeMutablePointer<T> {
        let p = next.bindMemory(to: T.self, capacity: max(count, 1))
        next += Self.bytes(count, of: T.self)
        precondition(next <= end, "scratch carved past its end")
        return p
    }
}

enum FastInt8 {
    /// Calls `body(slot, range)` for `threads` contiguous slices of `0..<count` (empty ones skipped),
    /// on up to `threads` threads, the caller's included. `slot` numbers the slice so each thread owns
    /// its part of the scratch; slice `t` always runs on the same thread of ``Parallel``'s pool.
    static func forEachSlice(_ count: Int, threads: Int, _ body: (Int, Range<Int>) -> Void) {
        let threads = max(1, min(threads, count))
        if threads == 1 {
            if count > 0 { body(0, 0..<count) }
            return
        }
        Parallel.run(threads) { t in
            let lo = count * t / threads, hi = count * (t + 1) / threads
            if lo < hi { body(t, lo..<hi) }
        }
    }

    /// The offsets of a `height × width` pool window's rows from its first, in (fy, fx) order:
    /// `(fy * pitch + fx) * unit` (pitch: rows per band row; unit: elements or bytes per row).
    static func windowOffsets(height: Int, width: Int, pitch: Int, unit: Int) -> AlignedArray<Int> {
        let window = AlignedArray<Int>(repeating: 0, count: height * width)
        for fy in 0..<height {
            for fx in 0..<width { window[fy * width + fx] = (fy * pitch + fx) * unit }
        }
        return window
    }

    /// `rows` copies of ``copyFlipped(_:_:count:)`` (`bytes` each), sources and destinations
    /// `sourceStride` / `destinationStride` bytes apart; the short-row cases are loops of one word each.
    static func copyFlipped(rows: Int, of bytes: Int, from src: UnsafePointer<Int8>, stride sourceStride: Int,
                            to dst: UnsafeMutablePointer<UInt8>, stride destinationStride: Int) {
        let from = UnsafeRawPointer(src), to = UnsafeMutableRawPointer(dst)
        switch bytes {
        case 2:
            for r in 0..<rows {
                (to + r &* destinationStride).storeBytes(
                    of: (from + r &* sourceStride).loadUnaligned(as: UInt16.self) ^ 0x8080, as: UInt16.self)
            }
        case 4:
            for r in 0..<rows {
                (to + r &* destinationStride).storeBytes(
                    of: (from + r &* sourceStride).loadUnaligned(as: UInt32.self) ^ 0x8080_8080, as: UInt32.self)
            }
        default:
            for r in 0..<rows { copyFlipped(src + r &* sourceStride, dst + r &* destinationStride, count: bytes) }
        }
    }

    /// `dst[i] = UInt8(bitPattern: src[i]) ^ 0x80`: int8 values as the unsigned `x + 128` the GEMM reads.
    @inline(__always)
    static func copyFlipped(_ src: UnsafePointer<Int8>, _ dst: UnsafeMutablePointer<UInt8>, count: Int) {
        // Short rows (few input channels, e.g. a 2-wide filter on a 1-channel image) are one
        // unaligned word each instead of a byte loop.
        let from = UnsafeRawPointer(src), to = UnsafeMutableRawPointer(dst)
        switch count {
        case 2: to.storeBytes(of: from.loadUnaligned(as: UInt16.self) ^ 0x8080, as: UInt16.self)
        case 4: to.storeBytes(of: from.loadUnaligned(as: UInt32.self) ^ 0x8080_8080, as: UInt32.self)
        case 8: to.storeBytes(of: from.loadUnaligned(as: UInt64.self) ^ 0x8080_8080_8080_8080, as: UInt64.self)
        default:
            let s = from.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { dst[i] = s[i] ^ 0x80 }
        }
    }
}
