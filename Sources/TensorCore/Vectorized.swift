/// Explicitly vectorized float loops for the hot paths of training.
///
/// LLVM does not vectorize loops over several `UnsafePointer`s that might alias, so these
/// loops load and store `SIMD8<Float>` (two SSE registers on baseline x86-64, one AVX register
/// where enabled) and finish with a scalar tail. Each function states its contract; the
/// pointers may not overlap unless said otherwise.
public enum Vectorized {
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inlinable @inline(__always)
    public static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// `y[i] += a * x[i]` for `i < n`.
    @inlinable
    public static func addScaled(_ x: UnsafePointer<Float>, by a: Float, to y: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        let va = SIMD8<Float>(repeating: a)
        while i + 8 <= n {
            store(load(y + i) + va * load(x + i), y + i)
            i += 8
        }
        while i < n { y[i] += a * x[i]; i += 1 }
    }

    /// `y[i] += x[i]` for `i < n`.
    @inlinable
    public static func add(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        while i + 8 <= n {
            store(load(y + i) + load(x + i), y + i)
            i += 8
        }
        while i < n { y[i] += x[i]; i += 1 }
    }

    /// `y[i] = x[i] * m[i]` for `i < n` (`y` may be `x`).
    @inlinable
    public static func multiply(_ x: UnsafePointer<Float>, _ m: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        while i + 8 <= n {
            store(load(x + i) * load(m + i), y + i)
            i += 8
        }
        while i < n { y[i] = x[i] * m[i]; i += 1 }
    }

    /// Adds `bias[j]` to element `j` of every row of `width` values, then clamps to
    /// `[lower, upper]` (pass infinities for no clamp).
    @inlinable
    public static func addBiasAndClamp(_ y: UnsafeMutablePointer<Float>, rows: Int, width: Int, bias: UnsafePointer<Float>?,
                                       lower: Float, upper: Float) {
        let lo = SIMD8<Float>(repeating: lower), hi = SIMD8<Float>(repeating: upper)
        for r in 0..<rows {
            let row = y + r * width
            var j = 0
            while j + 8 <= width {
                var v = load(row + j)
                if let bias { v += load(bias + j) }
                v.replace(with: lo, where: v .< lo)
                v.replace(with: hi, where: v .> hi)
                store(v, row + j)
                j += 8
            }
            while j < width {
                var v = row[j]
                if let bias { v += bias[j] }
                row[j] = Swift.min(Swift.max(v, lower), upper)
                j += 1
            }
        }
    }

    /// Zeroes `g[i]` where `y[i]` is not strictly inside `(lower, upper)`: the backward pass of
    /// a clamp (ReLU: `(0, inf)`, ReLU6: `(0, 6)`).
    @inlinable
    public static func maskOutside(_ g: UnsafeMutablePointer<Float>, output y: UnsafePointer<Float>, count n: Int,
                                   lower: Float, upper: Float) {
        let lo = SIMD8<Float>(repeating: lower), hi = SIMD8<Float>(repeating: upper), zero = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            let v = load(y + i)
            let inside = (v .> lo) .& (v .< hi)
            store(zero.replacing(with: load(g + i), where: inside), g + i)
            i += 8
        }
        while i < n {
            if !(y[i] > lower && y[i] < upper) { g[i] = 0 }
            i += 1
        }
    }

    /// `sums[j] = sum over rows of d[row * width + j]`.
    @inlinable
    public static func columnSums(_ d: UnsafePointer<Float>, rows: Int, width: Int, into sums: UnsafeMutablePointer<Float>) {
        sums.update(repeating: 0, count: width)
        for r in 0..<rows { add(d + r * width, to: sums, count: width) }
    }

    /// `y[i] = max(y[i], x[i])` for `i < n`.
    @inlinable
    public static func maximum(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        while i + 8 <= n {
            // (pointwiseMax is a lane-by-lane library call; replacing(with:where:) vectorizes.)
            let a = load(y + i), b = load(x + i)
            store(a.replacing(with: b, where: b .> a), y + i)
            i += 8
        }
        while i < n { y[i] = Swift.max(y[i], x[i]); i += 1 }
    }
}
