/// Convolution and pooling padding, with TensorFlow's semantics.
public enum Padding: String, Codable, Sendable {
    /// Output size `ceil(in / stride)`; the padding is split with the extra pixel at the
    /// bottom/right (TensorFlow's asymmetric SAME).
    case same
    /// No padding: output size `floor((in - kernel) / stride) + 1`.
    case valid
}

/// Output size and padding of a sliding window along one axis.
public struct WindowGeometry: Sendable, Equatable {
    public var inputSize: Int
    public var outputSize: Int
    /// Padding before the first element (top or left); the rest goes after.
    public var padBefore: Int

    /// The geometry TensorFlow uses (`tflite/kernels/padding.h`).
    ///
    ///     effective = (kernel - 1) * dilation + 1
    ///     SAME : out = ceil(in / stride)
    ///     VALID: out = floor((in - effective) / stride) + 1
    ///     total = max((out - 1) * stride + effective - in, 0); before = total / 2
    public init(inputSize: Int, kernelSize: Int, stride: Int, dilation: Int = 1, padding: Padding) {
        let effective = (kernelSize - 1) * dilation + 1
        self.inputSize = inputSize
        switch padding {
        case .same: outputSize = (inputSize + stride - 1) / stride
        case .valid: outputSize = inputSize >= effective ? (inputSize - effective) / stride + 1 : 0
        }
        let total = Swift.max((outputSize - 1) * stride + effective - inputSize, 0)
        padBefore = total / 2
    }
}
