import Kernels
import TensorCore

/// The int8 grid an activation fake-quant rounds to: the parameters the integer model will give
/// the tensor, derived from a learned `(min, max)` range exactly as the QAT converter derives them.
///
///     (lo, hi)     = (min(min, 0), max(max, 0))                 // the range must contain 0
///     (scale, zp)  = AffineQuantization.quantizationAwareInt8(lo, hi)
///                    // MLIR fakeQuantAttrsToType on uint8 [0, 255] (double), zp − 128, scale stored as float32
///     fakeQuant(x) = scale · clamp(round(x / scale), −128 − zp, 127 − zp)
///     nudged range = [scale · (−128 − zp), scale · (127 − zp)]
///
/// This is TensorFlow's `FakeQuantWithMinMaxVars` forward (spec §1.3 c) with the converter's
/// nudging (§1.3 b) instead of the op's own float nudging, so that the simulated model and the
/// deployed int8 model use the same scale and zero point to the last bit.
///
/// A range that is not finite, or narrower than 1e-6 (a constant activation: a dead ReLU gives
/// `[0, 0]`), is *collapsed*: it gets scale 1 and zero point −128 (real 0 exact, as the
/// converter's `|rmax − rmin| < DBL_EPSILON` rule does), never a division by zero, and
/// `collapsed` is set so callers can report it.
public struct FakeQuantGrid: Sendable, Equatable, CustomStringConvertible {
    /// The int8 parameters (`real = scale · (q − zeroPoint)`).
    public let quantization: AffineQuantization
    /// `true` when the range was degenerate (see above).
    public let collapsed: Bool
    /// `1 / scale` in float32 (the forward multiplies by it).
    public let inverseScale: Float
    /// The clamp bounds in units of `scale` relative to the zero point: `−128 − zp`, `127 − zp`.
    public let lower: Float
    public let upper: Float

    /// Ranges narrower than this are collapsed.
    public static let minimumWidth = 1e-6

    public init(min: Float, max: Float) {
        let lo = Double(Swift.min(min, 0)), hi = Double(Swift.max(max, 0))
        let q: AffineQuantization
        var collapsed = false
        if !lo.isFinite || !hi.isFinite || hi - lo < FakeQuantGrid.minimumWidth {
            q = AffineQuantization(scale: 1, zeroPoint: -128)
            collapsed = true
        } else {
            q = AffineQuantization.quantizationAwareInt8(min: lo, max: hi)
        }
        self.init(quantization: q, collapsed: collapsed)
    }

    /// The grid of fixed parameters (a softmax output's `(1/256, −128)`).
    public init(quantization q: AffineQuantization, collapsed: Bool = false) {
        precondition(q.scale > 0 && q.scale.isFinite && q.zeroPoint >= -128 && q.zeroPoint <= 127,
                     "FakeQuantGrid: int8 parameters \(q) are not a valid grid")
        quantization = q
        self.collapsed = collapsed
        inverseScale = 1 / q.scale
        lower = Float(-128 - q.zeroPoint)
        upper = Float(127 - q.zeroPoint)
    }

    public var scale: Float { quantization.scale }
    public var zeroPoint: Int32 { quantization.zeroPoint }
    /// The smallest and largest representable real values.
    public var nudgedMin: Float { scale * lower }
    public var nudgedMax: Float { scale * upper }

    public var description: String {
        "scale \(scale), zero point \(zeroPoint) [\(nudgedMin), \(nudgedMax)]" + (collapsed ? " (collapsed range)" : "")
    }
}

/// The vectorized loops of quantization-aware training: activation and weight fake-quant, the
/// straight-through gradient, and range observation.
///
/// Rounding uses the float trick `(t + 1.5·2^23) − 1.5·2^23` (round to nearest, ties to even, for
/// `|t| < 2^22`), which vectorizes on baseline x86-64 where `roundps` does not exist; weights then
/// move exact ties away from zero, as the converter rounds them.
public enum FakeQuantArithmetic {
    @usableFromInline static let roundingMagic: Float = 12_582_912  // 1.5 * 2^23

    /// `y[i] = scale · clamp(rne(x[i] · (1/scale)), lower, upper)` for `i < n` (`y` may be `x`).
    ///
    /// With `rounding == false` the rounding is left out (`scale · clamp(x · (1/scale))`): the
    /// function whose derivative the straight-through estimator is, for gradient checks.
    @inlinable
    public static func fakeQuantize(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int,
                                    grid: FakeQuantGrid, rounding: Bool = true) {
        let inv = SIMD8<Float>(repeating: grid.inverseScale), s = SIMD8<Float>(repeating: grid.scale)
        let lo = SIMD8<Float>(repeating: grid.lower), hi = SIMD8<Float>(repeating: grid.upper)
        let magic = SIMD8<Float>(repeating: roundingMagic)
        var i = 0
        while i + 8 <= n {
            var t = Vectorized.load(x + i) * inv
            t.replace(with: lo, where: t .< lo)
            t.replace(with: hi, where: t .> hi)
            if rounding { t = (t + magic) - magic }
            Vectorized.store(t * s, y + i)
            i += 8
        }
        while i < n {
            var t = Swift.min(Swift.max(x[i] * grid.inverseScale, grid.lower), grid.upper)
            if x[i].isNaN { t = x[i] }
            if rounding { t = (t + roundingMagic) - roundingMagic }
            y[i] = t * grid.scale
            i += 1
        }
    }

    /// The straight-through gradient: zeroes `g[i]` where `x[i]` was outside the nudged range
    /// (`x · (1/scale)` not in `[lower, upper]`, bounds included, as TensorFlow's
    /// `FakeQuantWithMinMaxVarsGradient`), and keeps it inside.
    ///
    /// `clamp`, when given, also applies the backward pass of the activation that produced `x`
    /// (a ReLU's `(0, inf)`, ReLU6's `(0, 6)`: zero where `x` is not strictly inside, as
    /// `Vectorized.maskOutside` does), in the same pass.
    @inlinable
    public static func maskOutside(_ g: UnsafeMutablePointer<Float>, input x: UnsafePointer<Float>, count n: Int, grid: FakeQuantGrid,
                                   clamp: (lower: Float, upper: Float)? = nil) {
        let inv = SIMD8<Float>(repeating: grid.inverseScale)
        let lo = SIMD8<Float>(repeating: grid.lower), hi = SIMD8<Float>(repeating: grid.upper), zero = SIMD8<Float>()
        let (aLower, aUpper) = clamp ?? (-.infinity, .infinity)
        let clamps = clamp != nil
        let alo = SIMD8<Float>(repeating: aLower), ahi = SIMD8<Float>(repeating: aUpper)
        var i = 0
        while i + 8 <= n {
            let v = Vectorized.load(x + i)
            let t = v * inv
            var inside = (t .>= lo) .& (t .<= hi)
            if clamps { inside .&= (v .> alo) .& (v .< ahi) }
            Vectorized.store(zero.replacing(with: Vectorized.load(g + i), where: inside), g + i)
            i += 8
        }
        while i < n {
            let t = x[i] * grid.inverseScale
            if !(t >= grid.lower && t <= grid.upper) || (clamps && !(x[i] > aLower && x[i] < aUpper)) { g[i] = 0 }
            i += 1
        }
    }

    /// The minimum and maximum of `x[0..<n]`, and whether any value is NaN or infinite.
    @inlinable
    public static func range(_ x: UnsafePointer<Float>, count n: Int) -> (min: Float, max: Float, finite: Bool) {
        var lo = SIMD8<Float>(repeating: .infinity), hi = SIMD8<Float>(repeating: -.infinity)
        var nan = SIMDMask<SIMD8<Int32>>(repeating: false)
        var i = 0
        while i + 8 <= n {
            let v = Vectorized.load(x + i)
            lo.replace(with: v, where: v .< lo)
            hi.replace(with: v, where: v .> hi)
            nan .|= v .!= v
            i += 8
        }
        var mn = lo.min(), mx = hi.max()
        var finite = !any(nan)
        while i < n {
            let v = x[i]
            if v.isNaN { finite = false }
            mn = Swift.min(mn, v)
            mx = Swift.max(mx, v)
            i += 1
        }
        if n > 0 && (!mn.isFinite || !mx.isFinite) { finite = false }
        return (mn, mx, finite)
    }

    /// Per-channel (or per-tensor) symmetric narrow-range int8 fake-quant of weights whose output
    /// channel is the index modulo `channels` (Keras kernels: Conv2D HWIO, Dense `[in, out]`,
    /// DepthwiseConv2D `[KH, KW, In, M]` flattened over `In·M`), bit for bit the values the
    /// converter stores (``Kernels/WeightQuantization/symmetric(_:shape:axis:perChannel:arithmetic:)``
    /// with `.legacyFloat`), dequantized:
    ///
    ///     absmax_c = max |w| over channel c (over everything when perChannel is false)
    ///     m        = absmax_c, or 5e-7 when 2·absmax_c <= 1e-6
    ///     scale_c  = (float(m) + float(m)) / 254f;   inv_c = float(1 / double(scale_c))
    ///     out      = scale_c · clamp(round_half_away(w · inv_c), −127, 127)
    ///
    /// The nudged range is `±127·scale_c ≈ ±absmax_c`, so every weight is inside it and the
    /// straight-through gradient with respect to the weights is the identity. Returns the scales.
    /// With `rounding == false` the rounding is left out (gradient checks).
    @discardableResult
    public static func fakeQuantizeWeights(_ w: UnsafePointer<Float>, count n: Int, channels: Int, perChannel: Bool,
                                           into out: UnsafeMutablePointer<Float>, rounding: Bool = true) -> [Float] {
        precondition(channels >= 1 && n % channels == 0, "fakeQuantizeWeights: \(n) weights are not rows of \(channels) channels")
        let c = perChannel ? channels : 1
        var absmax = [Float](repeating: 0, count: channels)
        absmax.withUnsafeMutableBufferPointer { a in
            let ap = a.baseAddress!
            let rows = n / channels
            for r in 0..<rows {
                let row = w + r * channels
                var j = 0
                while j + 8 <= channels {
                    let v = Vectorized.load(row + j)
                    let m = v.replacing(with: -v, where: v .< 0)
                    let cur = Vectorized.load(ap + j)
                    Vectorized.store(cur.replacing(with: m, where: m .> cur), ap + j)
                    j += 8
                }
                while j < channels { ap[j] = Swift.max(ap[j], abs(row[j])); j += 1 }
            }
        }
        if !perChannel { absmax = [absmax.max() ?? 0] }
        var scales = [Float](repeating: 0, count: c)
        var inverses = [Float](repeating: 0, count: channels)
        for k in 0..<c {
            var m = Double(absmax[k])
            if 2 * m <= 1e-6 { m = 5e-7 }
            scales[k] = (Float(m) + Float(m)) / 254.0
        }
        var channelScales = perChannel ? scales : [Float](repeating: scales[0], count: channels)
        for k in 0..<channels { inverses[k] = Float(1.0 / Double(channelScales[k])) }
        channelScales.withUnsafeMutableBufferPointer { sp in
            inverses.withUnsafeBufferPointer { ip in
                let (s, inv) = (sp.baseAddress!, ip.baseAddress!)
                let magic = SIMD8<Float>(repeating: roundingMagic)
                let lo = SIMD8<Float>(repeating: -127), hi = SIMD8<Float>(repeating: 127)
                let half = SIMD8<Float>(repeating: 0.5), one = SIMD8<Float>(repeating: 1), zero = SIMD8<Float>()
                let rows = n / channels
                Parallel.forEachChunk(rows, costPerItem: channels) { range in
                    for r in range {
                        let row = w + r * channels, dst = out + r * channels
                        var j = 0
                        while j + 8 <= channels {
                            let t = Vectorized.load(row + j) * Vectorized.load(inv + j)
                            var q = t
                            if rounding {
                                q = (t + magic) - magic
                                // Ties away from zero: rne(2.5) = 2 -> 3, rne(-2.5) = -2 -> -3.
                                let d = t - q
                                q += one.replacing(with: zero, where: .!((d .== half) .& (t .> zero)))
                                q -= one.replacing(with: zero, where: .!((d .== -half) .& (t .< zero)))
                            }
                            q.replace(with: lo, where: q .< lo)
                            q.replace(with: hi, where: q .> hi)
                            Vectorized.store(q * Vectorized.load(s + j), dst + j)
                            j += 8
                        }
                        while j < channels {
                            let t = row[j] * inv[j]
                            let q = rounding ? t.rounded(.toNearestOrAwayFromZero) : t
                            dst[j] = Swift.min(Swift.max(q, -127), 127) * s[j]
                            j += 1
                        }
                    }
                }
            }
        }
        return scales
    }
}
