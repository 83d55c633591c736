/// im2col for the int8 GEMM: the receptive field of one output pixel as one row of unsigned bytes.
///
///     row[(ky * KW + kx) * C + i] = in[iy, ix, i] + 128     (padByte where (iy, ix) is outside the image)
///
/// in the filter's (ky, kx, i) order. With `padByte = inputZeroPoint + 128`, a padded tap contributes
/// `(zp + 128 - 128 - zp) * w = 0` once the GEMM's zero-point correction is applied.
///
/// Index arithmetic wraps (`&+`, `&*`): every index is below the element count of a buffer whose size
/// the kernel checked against the geometry, so none can overflow.
struct Int8Patches {
    let geometry: Conv2DGeometry

    /// Bytes per row: `filterHeight × filterWidth × inputChannels`.
    var depth: Int { geometry.filterHeight * geometry.filterWidth * geometry.inputChannels }

    /// Writes the rows of output pixels `(oy, ox0 ..< ox0 + count)` of one image (`H × W × C` int8
    /// values at `image`), `depth` bytes apart. Filter row by filter row, so the row test is done once
    /// per span and an interior pixel's taps of one filter row are one contiguous copy.
    func gatherSpan(image: UnsafePointer<Int8>, oy: Int, ox0: Int, count: Int, padByte: UInt8,
                    into dst: UnsafeMutablePointer<UInt8>) {
        let g = geometry
        let cin = g.inputChannels, fw = g.filterWidth, width = g.inputWidth
        let sw = g.strideWidth, dw = g.dilationWidth, padLeft = g.padLeft
        let rowBytes = fw &* cin, depth = g.filterHeight &* rowBytes
        let iy0 = oy &* g.strideHeight &- g.padTop
        for ky in 0..<g.filterHeight {
            let iy = iy0 &+ ky &* g.dilationHeight
            var d = dst + ky &* rowBytes
            guard iy >= 0 && iy < g.inputHeight else {
                for _ in 0..<count {
                    d.update(repeating: padByte, count: rowBytes)
                    d += depth
                }
                continue
            }
            let line = image + iy &* width &* cin
            // Interior pixels (every tap of the filter row inside the image, no dilation) are one copy
            // of `rowBytes` each, `sw * cin` apart in the input: one tight loop.
            var interior = 0..<0
            if dw == 1 {
                let lo = max(0, min(count, (padLeft + sw - 1) / sw - ox0))
                let last = width + padLeft - fw
                let hi = last < 0 ? lo : max(lo, min(count, last / sw - ox0 + 1))
                interior = lo..<hi
            }
            func edge(_ pixels: Range<Int>) {
                for p in pixels {
                    let ix0 = (ox0 &+ p) &* sw &- padLeft
                    for kx in 0..<fw {
                        let ix = ix0 &+ kx &* dw
                        if ix >= 0 && ix < width {
                            FastInt8.copyFlipped(line + ix &* cin, d + kx &* cin, count: cin)
                        } else {
                            (d + kx &* cin).update(repeating: padByte, count: cin)
                        }
                    }
                    d += depth
                }
            }
            edge(0..<interior.lowerBound)
            if !interior.isEmpty {
                FastInt8.copyFlipped(rows: interior.count, of: rowBytes,
                                     from: line + ((ox0 &+ interior.lowerBound) &* sw &- padLeft) &* cin,
                                     stride: sw &* cin, to: d, stride: depth)
                d += interior.count &* depth
            }
            edge(interior.upperBound..<count)
        }
    }

    /// Writes the rows of `count` consecutive output pixels starting at pixel `first` (pixels numbered
    /// row-major over all images of `input`), `depth` bytes apart.
    func gatherRows(input: UnsafePointer<Int8>, first: Int, count: Int, padByte: UInt8, into dst: UnsafeMutablePointer<UInt8>) {
        let g = geometry
        let width = g.outputWidth
        let pixelsPerImage = g.outputHeight &* width
        let imageSize = g.inputHeight &* g.inputWidth &* g.inputChannels
        let depth = self.depth
        var pixel = first, written = 0
        while written < count {
            let b = pixel / pixelsPerImage, r = pixel % pixelsPerImage
            let oy = r / width, ox = r % width
            let span = min(width &- ox, count &- written)
            gatherSpan(image: input + b &* imageSize, oy: oy, ox0: ox, count: span, padByte: padByte,
                       into: dst + written &* depth)
            pixel &+= span
            written &+= span
        }
    }
}
