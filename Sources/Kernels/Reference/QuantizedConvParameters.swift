/// Everything an int8 CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED needs besides the tensors.
///
/// Built once at prepare time from the float32 scales stored in the model; kernels only read it.
public struct QuantizedConvParameters: Sendable, Hashable {
    /// The input zero point (the kernels add `-inputZeroPoint` to every existing input tap).
    public var inputZeroPoint: Int32
    /// The weight zero point; 0 for the int8 spec, applied only by per-tensor FULLY_CONNECTED.
    public var weightZeroPoint: Int32
    /// The output zero point.
    public var outputZeroPoint: Int32
    /// The fused activation clamp in the quantized domain.
    public var activation: ActivationRange<Int32>
    /// One requantizer per output channel, or a single one broadcast to all (per-tensor weights).
    public var requantizers: [ChannelRequantizer]

    /// Parameters from explicit parts.
    public init(inputZeroPoint: Int32, weightZeroPoint: Int32 = 0, outputZeroPoint: Int32,
                activation: ActivationRange<Int32>, requantizers: [ChannelRequantizer]) {
        precondition(!requantizers.isEmpty, "QuantizedConvParameters: at least one requantizer")
        self.inputZeroPoint = inputZeroPoint
        self.weightZeroPoint = weightZeroPoint
        self.outputZeroPoint = outputZeroPoint
        self.activation = activation
        self.requantizers = requantizers
    }

    /// CONV_2D / DEPTHWISE_CONV_2D parameters (per-channel or per-tensor weights).
    ///
    ///     effective scale[c] = double(inputScale) * double(weightScales[c]) / double(outputScale)
    ///
    /// Matches `PopulateConvolutionQuantizationParams`. `mode` defaults to what `BUILTIN_REF` runs.
    public static func convolution(
        input: AffineQuantization, weightScales: [Float], output: AffineQuantization,
        activation: FusedActivation, mode: RequantMode = .gemmlowpDouble
    ) -> QuantizedConvParameters {
        QuantizedConvParameters(
            inputZeroPoint: input.zeroPoint, outputZeroPoint: output.zeroPoint,
            activation: activation.int8Range(output: output),
            requantizers: weightScales.map {
                ChannelRequantizer(mode: mode, inputScale: input.scale, weightScale: $0, outputScale: output.scale)
            })
    }

    /// FULLY_CONNECTED parameters.
    ///
    /// Per-channel weights use the convolution formula. Per-tensor weights (one scale) differ by path:
    ///
    ///     .refFloatFC (BUILTIN_REF):  double(in) * double(w) / double(out)
    ///     integer modes (optimized):  double(float(in * w)) / double(out)     // float product
    ///     .xnnpackFP32:               in * w / out in float32
    ///
    /// `weightZeroPoint` is honoured only for per-tensor weights (legacy), as TFLite does.
    /// `mode` defaults to `.refFloatFC`, what `BUILTIN_REF` runs since April 2025.
    public static func fullyConnected(
        input: AffineQuantization, weightScales: [Float], weightZeroPoint: Int32 = 0,
        output: AffineQuantization, activation: FusedActivation, mode: RequantMode = .refFloatFC
    ) -> QuantizedConvParameters {
        if weightScales.count == 1 && mode != .refFloatFC && mode != .xnnpackFP32 {
            let product = input.scale * weightScales[0]
            let requantizer = ChannelRequantizer(mode: mode, doubleScale: Double(product) / Double(output.scale),
                                                 floatScale: product / output.scale)
            return QuantizedConvParameters(
                inputZeroPoint: input.zeroPoint, weightZeroPoint: weightZeroPoint, outputZeroPoint: output.zeroPoint,
                activation: activation.int8Range(output: output), requantizers: [requantizer])
        }
        var parameters = convolution(input: input, weightScales: weightScales, output: output,
                                     activation: activation, mode: mode)
        parameters.weightZeroPoint = weightScales.count == 1 ? weightZeroPoint : 0
        return parameters
    }

    /// The requantizer of output channel `channel` (broadcast for per-tensor weights).
    @inlinable
    public func requantizer(forChannel channel: Int) -> ChannelRequantizer {
        requantizers[requantizers.count == 1 ? 0 : channel]
    }

    /// `acc` requantized for `channel`, zero point added and clamped, as int8.
    @inlinable
    public func output(_ acc: Int32, channel: Int) -> Int8 {
        Int8(truncatingIfNeeded: requantizer(forChannel: channel).requantize(
            acc, outputZeroPoint: outputZeroPoint, activationMin: activation.min, activationMax: activation.max))
    }
}
