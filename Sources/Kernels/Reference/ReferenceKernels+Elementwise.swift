/// Precomputed constants of an int8 ADD.
public struct QuantizedAddParameters: Sendable, Hashable {
    public var input1ZeroPoint: Int32
    public var input2ZeroPoint: Int32
    public var outputZeroPoint: Int32
    /// Both inputs are shifted left by this before rescaling (20 for int8).
    public var leftShift: Int
    public var input1Multiplier: QuantizedMultiplier
    public var input2Multiplier: QuantizedMultiplier
    public var outputMultiplier: QuantizedMultiplier
    public var activation: ActivationRange<Int32>

    /// The constants TFLite's ADD prepare computes for int8.
    ///
    ///     twice = 2 * max(s1, s2)
    ///     m1 = s1 / twice;  m2 = s2 / twice;  mOut = twice / (2^20 * sOut)      (double)
    ///
    /// Matches `add.cc` (`Prepare` for kTfLiteInt8, `QuantizeMultiplierSmallerThanOneExp`).
    public init(input1: AffineQuantization, input2: AffineQuantization, output: AffineQuantization,
                activation: FusedActivation) {
        let leftShift = 20
        let twiceMaxInputScale = Double(2 * Swift.max(input1.scale, input2.scale))
        input1ZeroPoint = input1.zeroPoint
        input2ZeroPoint = input2.zeroPoint
        outputZeroPoint = output.zeroPoint
        self.leftShift = leftShift
        input1Multiplier = QuantizedMultiplier(Double(input1.scale) / twiceMaxInputScale)
        input2Multiplier = QuantizedMultiplier(Double(input2.scale) / twiceMaxInputScale)
        outputMultiplier = QuantizedMultiplier(twiceMaxInputScale / Double(Float(1 << leftShift) * output.scale))
        self.activation = activation.int8Range(output: output)
    }
}

extension ReferenceKernels {
    /// Int8 ADD of two same-shape tensors.
    ///
    ///     a = (x1 - zp1) << 20;  b = (x2 - zp2) << 20
    ///     sum = MBQM(a, m1) + MBQM(b, m2)                 (each: SRDHM then rounding right shift)
    ///     out = clamp(MBQM(sum, mOut) + zpOut, activationMin, activationMax)
    ///
    /// Matches `reference_integer_ops::Add` / `AddFunc` (non-broadcast).
    public static func add(
        _ input1: UnsafeBufferPointer<Int8>, _ input2: UnsafeBufferPointer<Int8>,
        output: UnsafeMutableBufferPointer<Int8>, parameters p: QuantizedAddParameters
    ) {
        precondition(input1.count == input2.count && input1.count == output.count,
                     "add: element counts \(input1.count), \(input2.count), \(output.count) differ")
        for i in input1.indices {
            let shifted1 = (Int32(input1[i]) &- p.input1ZeroPoint) &* (Int32(1) << Int32(p.leftShift))
            let shifted2 = (Int32(input2[i]) &- p.input2ZeroPoint) &* (Int32(1) << Int32(p.leftShift))
            let scaled1 = p.input1Multiplier.apply(to: shifted1)
            let scaled2 = p.input2Multiplier.apply(to: shifted2)
            let raw = p.outputMultiplier.apply(to: scaled1 &+ scaled2) &+ p.outputZeroPoint
            output[i] = Int8(p.activation.clamp(raw))
        }
    }

    /// Float32 ADD of two same-shape tensors: `out = clamp(x1 + x2)`.
    ///
    /// Matches `reference_ops::Add` (float, non-broadcast).
    public static func add(
        _ input1: UnsafeBufferPointer<Float>, _ input2: UnsafeBufferPointer<Float>,
        output: UnsafeMutableBufferPointer<Float>, activation: ActivationRange<Float>
    ) {
        precondition(input1.count == input2.count && input1.count == output.count,
                     "add: element counts \(input1.count), \(input2.count), \(output.count) differ")
        for i in input1.indices { output[i] = activation.clamp(input1[i] + input2[i]) }
    }

    /// RESHAPE: a plain copy of the elements (the shape lives with the caller).
    ///
    /// Matches `reshape.cc` (memcpy); works for any trivial element type.
    public static func reshape<Element: BitwiseCopyable>(
        _ input: UnsafeBufferPointer<Element>, output: UnsafeMutableBufferPointer<Element>
    ) {
        precondition(input.count == output.count, "reshape: \(input.count) elements into \(output.count)")
        if input.isEmpty { return }
        output.baseAddress!.update(from: input.baseAddress!, count: input.count)
    }
}
