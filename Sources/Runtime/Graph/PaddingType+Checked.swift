import Kernels

extension PaddingType {
    /// The window along one axis, or `nil` when an argument is not positive, the arithmetic would
    /// overflow, or the output would be empty — for sizes and options read from untrusted files.
    ///
    ///     effective = (filter - 1) * dilation + 1
    ///     SAME : out = (in + stride - 1) / stride
    ///     VALID: out = (in - effective + stride) / stride
    ///     total = max((out - 1) * stride + effective - in, 0);  padBefore = total / 2
    ///
    /// Same arithmetic as ``Kernels/PaddedWindow`` (TFLite's `tflite/kernels/padding.h`), which it
    /// returns once the arguments are known to be safe.
    public func checkedWindow(inputSize: Int, filterSize: Int, stride: Int, dilation: Int = 1) -> PaddedWindow? {
        guard inputSize > 0, filterSize > 0, stride > 0, dilation > 0 else { return nil }
        let limit = Int.max / 4
        let (span, overflow) = (filterSize - 1).multipliedReportingOverflow(by: dilation)
        guard !overflow, span < limit, inputSize < limit, stride < limit else { return nil }
        let effective = span + 1
        let output = switch self {
        case .same: (inputSize + stride - 1) / stride
        case .valid: inputSize >= effective ? (inputSize - effective + stride) / stride : 0
        }
        guard output > 0 else { return nil }
        let (reach, overflow2) = (output - 1).multipliedReportingOverflow(by: stride)
        guard !overflow2, reach < limit else { return nil }
        return PaddedWindow(inputSize: inputSize, filterSize: filterSize, stride: stride, dilation: dilation, padding: self)
    }
}
