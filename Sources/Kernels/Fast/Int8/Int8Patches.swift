/// im2col for the int8 GEMM: the receptive field of one output pixel as one row of unsigned bytes.
///
///     row[(ky * KW + kx) * C + i] = in[iy, ix, i] + 128     (padByte where (iy, ix) is outside the image)
///
/// in the filter's (ky, kx, i) order. With `padByte = inputZeroPoint + 128`, a padded tap contributes
/// `(zp + 128 - 128 - zp) * w = 0` once the GEMM's zero-point correction is applied.
struct Int8Patches {
    let geometry: Conv2DGeometry

    /// Bytes per row: `filterHeight × filterWidth × inputChannels`.
    var depth: Int { geometry.filterHeight * geometry.filterWidth * geometry.inputChannels }

    /// Writes the row of output pixel `(oy, ox)` of the image at `image` (`H × W × C` int8 values).
    @inline(__always)
    func gatherRow(image: UnsafePointer<Int8>, oy: Int, ox: Int, padByte: UInt8, into dst: UnsafeMutablePointer<UInt8>) {
        let g = geometry
        let cin = g.inputChannels
        let iy0 = oy * g.strideHeight - g.padTop, ix0 = ox * g.strideWidth - g.padLeft
        let rowBytes = g.filterWidth * cin
        if g.dilationWidth == 1 && ix0 >= 0 && ix0 + g.filterWidth <= g.inputWidth {
            // The taps of one filter row are contiguous in NHWC.
            for ky in 0..<g.filterHeight {
                let iy = iy0 + ky * g.dilationHeight
                let d = dst + ky * rowBytes
                if iy >= 0 && iy < g.inputHeight {
                    FastInt8.copyFlipped(image + (iy * g.inputWidth + ix0) * cin, d, count: rowBytes)
                } else {
                    d.update(repeating: padByte, count: rowBytes)
                }
            }
            return
        }
        var d = dst
        for ky in 0..<g.filterHeight {
            let iy = iy0 + ky * g.dilationHeight
            let rowInside = iy >= 0 && iy < g.inputHeight
            for kx in 0..<g.filterWidth {
                let ix = ix0 + kx * g.dilationWidth
                if rowInside && ix >= 0 && ix < g.inputWidth {
                    FastInt8.copyFlipped(image + (iy * g.inputWidth + ix) * cin, d, count: cin)
                } else {
                    d.update(repeating: padByte, count: cin)
                }
                d += cin
            }
        }
    }

    /// Writes the rows of `count` consecutive output pixels starting at pixel `first` of image `b`
    /// (pixels numbered row-major over all images), `depth` bytes apart.
    func gatherRows(input: UnsafePointer<Int8>, first: Int, count: Int, padByte: UInt8, into dst: UnsafeMutablePointer<UInt8>) {
        let g = geometry
        let pixelsPerImage = g.outputHeight * g.outputWidth
        let imageSize = g.inputHeight * g.inputWidth * g.inputChannels
        let depth = self.depth
        var b = first / pixelsPerImage, r = first % pixelsPerImage
        var oy = r / g.outputWidth, ox = r % g.outputWidth
        for p in 0..<count {
            gatherRow(image: input + b * imageSize, oy: oy, ox: ox, padByte: padByte, into: dst + p * depth)
            ox += 1
            if ox == g.outputWidth {
                ox = 0
                oy += 1
                if oy == g.outputHeight {
                    oy = 0
                    b += 1
                }
            }
        }
    }
}
