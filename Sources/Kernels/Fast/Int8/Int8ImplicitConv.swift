import CKernels

/// A stride-1 int8 convolution with `64k` input channels as an implicit GEMM on AMX tiles: no im2col.
///
/// A band of input rows is copied once into a padded buffer of unsigned bytes (`x + 128`, the border
/// filled with `inputZeroPoint + 128`), `paddedWidth = usedWidth + filterWidth - 1` pixels a row. Output
/// pixel `(r, ox)` of the band is accumulator row `q = r * paddedWidth + ox`, and its tap `(ky, kx)` is
/// padded pixel `q + ky * paddedWidth + kx`: for every 64-k step the A rows of 16 consecutive `q` are
/// 16 input pixels `inputChannels` bytes apart, which one tile load reads in place
/// (`qk_gemm_u8s8_amx_offsets`). The sums equal the im2col GEMM's: the same products over the same
/// k, padded taps included. Rows with `ox >= usedWidth` (and up to the next multiple of 16) are
/// computed and never read.
struct Int8ImplicitConv {
    let geometry: Conv2DGeometry
    /// Conv columns the consumer reads per row, and the padded row width in pixels.
    let usedWidth: Int
    let paddedWidth: Int
    /// Byte offset of each 64-k step's A bytes from its output pixel's padded pixel.
    let stepOffsets: AlignedArray<Int>

    /// nil unless the geometry fits: stride 1, no dilation, input channels a multiple of 64.
    init?(geometry g: Conv2DGeometry, usedWidth: Int) {
        guard g.strideHeight == 1, g.strideWidth == 1, g.dilationHeight == 1, g.dilationWidth == 1,
              g.inputChannels > 0, g.inputChannels % 64 == 0, usedWidth > 0 else { return nil }
        geometry = g
        self.usedWidth = usedWidth
        let wp = usedWidth + g.filterWidth - 1
        paddedWidth = wp
        let cin = g.inputChannels
        let steps = g.filterHeight * g.filterWidth * cin / 64
        let offsets = AlignedArray<Int>(repeating: 0, count: steps)
        for s in 0..<steps {
            let k0 = 64 * s, tap = k0 / cin
            offsets[s] = ((tap / g.filterWidth) * wp + tap % g.filterWidth) * cin + k0 % cin
        }
        stepOffsets = offsets
    }

    /// Accumulator rows of a band of `convRows` output rows (a multiple of 16).
    func accumulatorRows(convRows: Int) -> Int { (convRows * paddedWidth + 15) / 16 * 16 }

    /// Bytes of the padded band: every byte the tiles read for `accumulatorRows(convRows:)` rows.
    func paddedBytes(convRows: Int) -> Int {
        let g = geometry
        return (accumulatorRows(convRows: convRows) + (g.filterHeight - 1) * paddedWidth + g.filterWidth - 1) * g.inputChannels
    }

    /// Copies the input rows of output rows `cy0 ..< cy0 + convRows` of `image` (`H × W × C` int8) into
    /// `dst` (``paddedBytes(convRows:)`` bytes), flipped to unsigned, border and slack `padByte`.
    func pad(image: UnsafePointer<Int8>, cy0: Int, convRows: Int, padByte: UInt8, into dst: UnsafeMutablePointer<UInt8>) {
        let g = geometry
        let cin = g.inputChannels, wp = paddedWidth
        let rowBytes = wp &* cin
        let rows = convRows &+ g.filterHeight &- 1
        // Padded column pc holds input column pc - padLeft; the valid ones are one span.
        let firstColumn = max(0, g.padLeft), lastColumn = min(wp, g.inputWidth &+ g.padLeft)
        for r in 0..<rows {
            let iy = cy0 &+ r &- g.padTop
            let line = dst + r &* rowBytes
            guard iy >= 0 && iy < g.inputHeight && firstColumn < lastColumn else {
                line.update(repeating: padByte, count: rowBytes)
                continue
            }
            if firstColumn > 0 { line.update(repeating: padByte, count: firstColumn &* cin) }
            FastInt8.copyFlipped(image + (iy &* g.inputWidth &+ firstColumn &- g.padLeft) &* cin, line + firstColumn &* cin,
                                 count: (lastColumn &- firstColumn) &* cin)
            if lastColumn < wp { (line + lastColumn &* cin).update(repeating: padByte, count: (wp &- lastColumn) &* cin) }
        }
        let slack = paddedBytes(convRows: convRows) &- rows &* rowBytes
        if slack > 0 { (dst + rows &* rowBytes).update(repeating: padByte, count: slack) }
    }

    /// The band's accumulators: `accumulatorRows(convRows:)` rows of `cRowStride` int32 at `c`.
    func multiply(padded: UnsafePointer<UInt8>, convRows: Int, weights: PackedInt8Weights,
                  c: UnsafeMutablePointer<Int32>, cRowStride: Int) {
        qk_gemm_u8s8_amx_offsets(padded, geometry.inputChannels, accumulatorRows(convRows: convRows), stepOffsets.count,
                                 UnsafePointer(stepOffsets.pointer), weights.baseAddress, weights.blockStride,
                                 0, weights.blockCount, c, cRowStride)
    }
}
