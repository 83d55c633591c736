import TensorCore

/// MAX_POOL_2D and AVERAGE_POOL_2D with the channel loop innermost, so each window tap is one
/// contiguous vector operation over the channels (the reference loops over taps innermost).
///
/// Max pooling is exact in any order. Averages sum the taps in the reference's order per channel,
/// so float results are bit-identical and int8 results equal the reference's `(sum ± n/2) / n`.
public enum FastPooling {
    /// Float max pool, then the fused activation clamp.
    ///
    /// 16 channels at a time in SIMD registers (the window maximum never goes through memory), the
    /// reference's comparisons lane by lane: `m < x ? x : m` from `-greatestFiniteMagnitude`, then the clamp.
    public static func maxPool2D(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                                 geometry g: Conv2DGeometry, activation: ActivationRange<Float>) {
        check(g, input.count, output.count)
        guard let x = input.baseAddress, let y = output.baseAddress else { return }
        let c = g.inputChannels
        let lo = activation.min, hi = activation.max
        let lo16 = SIMD16<Float>(repeating: lo), hi16 = SIMD16<Float>(repeating: hi)
        forEachWindow(g) { out, taps in
            let o = y + out
            var i = 0
            @inline(__always) func load(_ t: Int) -> SIMD16<Float> {
                UnsafeRawPointer(x + (t &+ i)).loadUnaligned(as: SIMD16<Float>.self)
            }
            // A whole 2x2 window (the usual pool) unrolled: 1.7x faster than the loop over taps.
            let four = taps.count == 4
            let t0 = taps[0], t1 = four ? taps[1] : 0, t2 = four ? taps[2] : 0, t3 = four ? taps[3] : 0
            while i &+ 16 <= c {
                var m = SIMD16<Float>(repeating: -Float.greatestFiniteMagnitude)
                if four {
                    var v = load(t0)
                    m.replace(with: v, where: m .< v)
                    v = load(t1)
                    m.replace(with: v, where: m .< v)
                    v = load(t2)
                    m.replace(with: v, where: m .< v)
                    v = load(t3)
                    m.replace(with: v, where: m .< v)
                } else {
                    for t in taps {
                        let v = load(t)
                        m.replace(with: v, where: m .< v)
                    }
                }
                m.replace(with: lo16, where: m .< lo16)
                m.replace(with: hi16, where: hi16 .< m)
                UnsafeMutableRawPointer(o + i).storeBytes(of: m, as: SIMD16<Float>.self)
                i &+= 16
            }
            while i < c {
                var m = -Float.greatestFiniteMagnitude
                for t in taps { let v = x[t &+ i]; if m < v { m = v } }
                let lowered = m < lo ? lo : m
                o[i] = hi < lowered ? hi : lowered
                i &+= 1
            }
        }
    }

    /// Int8 max pool, then the activation clamp (quantized).
    public static func maxPool2D(input: UnsafeBufferPointer<Int8>, output: UnsafeMutableBufferPointer<Int8>,
                                 geometry g: Conv2DGeometry, activation: ActivationRange<Int32>) {
        check(g, input.count, output.count)
        let c = g.inputChannels
        let lo = Int8(clamping: activation.min), hi = Int8(clamping: activation.max)
        forEachWindow(g) { out, taps in
            let o = output.baseAddress! + out
            o.update(repeating: .min, count: c)
            for t in taps {
                let x = input.baseAddress! + t
                for i in 0..<c { o[i] = Swift.max(o[i], x[i]) }
            }
            for i in 0..<c { o[i] = Swift.min(Swift.max(o[i], lo), hi) }
        }
    }

    /// Float average pool: taps summed in the reference's order, divided by the tap count.
    public static func averagePool2D(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
                                     geometry g: Conv2DGeometry, activation: ActivationRange<Float>) {
        check(g, input.count, output.count)
        let c = g.inputChannels
        let lo = activation.min, hi = activation.max
        forEachWindow(g) { out, taps in
            let o = output.baseAddress! + out
            o.update(repeating: 0, count: c)
            for t in taps {
                let x = input.baseAddress! + t
                for i in 0..<c { o[i] += x[i] }
            }
            let n = Float(taps.count)
            for i in 0..<c { let v = o[i] / n; let lowered = v < lo ? lo : v; o[i] = hi < lowered ? hi : lowered }
        }
    }

    /// Int8 average pool, rounding half away from zero as the reference does.
    public static func averagePool2D(input: UnsafeBufferPointer<Int8>, output: UnsafeMutableBufferPointer<Int8>,
                                     geometry g: Conv2DGeometry, activation: ActivationRange<Int32>,
                                     scratch: UnsafeMutableBufferPointer<Int32>) {
        check(g, input.count, output.count)
        let c = g.inputChannels
        precondition(scratch.count >= c, "FastPooling.averagePool2D: scratch needs \(c) Int32")
        let sums = scratch.baseAddress!
        forEachWindow(g) { out, taps in
            sums.update(repeating: 0, count: c)
            for t in taps {
                let x = input.baseAddress! + t
                for i in 0..<c { sums[i] &+= Int32(x[i]) }   // |sum| <= 128 × taps: no overflow below 16M taps
            }
            let n = Int32(taps.count), half = Int32(taps.count / 2)
            let o = output.baseAddress! + out
            for i in 0..<c {
                let s = sums[i]
                let average = s > 0 ? (s &+ half) / n : (s &- half) / n
                o[i] = Int8(Swift.min(Swift.max(average, activation.min), activation.max))
            }
        }
    }

    /// Calls `body(outputOffset, tapOffsets)` for every output pixel: the offset of its first channel
    /// and the input offsets of the window taps inside the image, row by row.
    @inline(__always)
    static func forEachWindow(_ g: Conv2DGeometry, _ body: (Int, UnsafeBufferPointer<Int>) -> Void) {
        let c = g.inputChannels
        withUnsafeTemporaryAllocation(of: Int.self, capacity: max(1, g.filterHeight * g.filterWidth)) { taps in
            for b in 0..<g.batches {
                for oy in 0..<g.outputHeight {
                    let iy0 = oy * g.strideHeight - g.padTop
                    let y0 = Swift.max(0, -iy0), y1 = Swift.max(y0, Swift.min(g.filterHeight, g.inputHeight - iy0))
                    for ox in 0..<g.outputWidth {
                        let ix0 = ox * g.strideWidth - g.padLeft
                        let x0 = Swift.max(0, -ix0), x1 = Swift.max(x0, Swift.min(g.filterWidth, g.inputWidth - ix0))
                        precondition(y0 < y1 && x0 < x1, "pool2D: a window lies entirely outside the input")
                        var n = 0
                        for fy in y0..<y1 {
                            for fx in x0..<x1 {
                                taps[n] = ((b * g.inputHeight + iy0 + fy) * g.inputWidth + ix0 + fx) * c
                                n += 1
                            }
                        }
                        body(((b * g.outputHeight + oy) * g.outputWidth + ox) * c, UnsafeBufferPointer(rebasing: taps[0..<n]))
                    }
                }
            }
        }
    }

    static func check(_ g: Conv2DGeometry, _ input: Int, _ output: Int) {
        precondition(g.outputChannels == g.inputChannels && g.dilationHeight == 1 && g.dilationWidth == 1,
                     "FastPooling: channels must match and pooling has no dilation")
        precondition(input == g.inputCount && output == g.outputCount, "FastPooling: buffer sizes do not match the geometry")
    }
}
