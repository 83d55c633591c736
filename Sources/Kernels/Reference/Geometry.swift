/// TFLite's padding schemes for convolution and pooling (`Padding` in the schema).
public enum PaddingType: String, Sendable, Hashable, CaseIterable {
    /// Output `ceil(in / stride)`; the extra padded pixel goes at the bottom/right.
    case same
    /// No padding: output `floor((in - effectiveFilter) / stride) + 1`.
    case valid
}

/// Output size and padding of a sliding window along one spatial axis.
public struct PaddedWindow: Sendable, Hashable {
    public var outputSize: Int
    /// Padding before the first input element (top or left). Kernels use only this one.
    public var padBefore: Int
    /// Padding after the last input element (bottom or right), `total - padBefore`.
    public var padAfter: Int

    /// The window TFLite computes.
    ///
    ///     eff_k = (k - 1) * dilation + 1
    ///     SAME : out = (in + stride - 1) / stride
    ///     VALID: out = (in - eff_k + stride) / stride
    ///     total = max((out - 1) * stride + eff_k - in, 0);  before = total / 2
    ///
    /// Matches `ComputeOutSize` / `ComputePaddingWithOffset` (`tflite/kernels/padding.h`).
    public init(inputSize: Int, filterSize: Int, stride: Int, dilation: Int = 1, padding: PaddingType) {
        precondition(stride > 0 && dilation > 0 && filterSize > 0, "PaddedWindow: stride, dilation and filter must be positive")
        let effective = (filterSize - 1) * dilation + 1
        switch padding {
        case .same: outputSize = (inputSize + stride - 1) / stride
        case .valid: outputSize = Swift.max((inputSize - effective + stride) / stride, 0)
        }
        let total = Swift.max((outputSize - 1) * stride + effective - inputSize, 0)
        padBefore = total / 2
        padAfter = total - padBefore
    }
}

/// The shape of a 2-D convolution, depthwise convolution or pooling over NHWC tensors.
///
/// Layouts: input `[batches, inputHeight, inputWidth, inputChannels]`, output
/// `[batches, outputHeight, outputWidth, outputChannels]`. CONV_2D filters are OHWI
/// `[outputChannels, filterHeight, filterWidth, filterInputChannels]` (grouped when
/// `filterInputChannels < inputChannels`); DEPTHWISE_CONV_2D filters are
/// `[1, filterHeight, filterWidth, outputChannels]` with `outputChannels = inputChannels * depthMultiplier`;
/// pooling has no filter tensor and `outputChannels == inputChannels`.
public struct Conv2DGeometry: Sendable, Hashable {
    public var batches: Int
    public var inputHeight: Int
    public var inputWidth: Int
    public var inputChannels: Int
    public var filterHeight: Int
    public var filterWidth: Int
    /// Input channels per filter (CONV_2D); equals `inputChannels` unless grouped.
    public var filterInputChannels: Int
    public var outputChannels: Int
    public var strideHeight: Int
    public var strideWidth: Int
    public var dilationHeight: Int
    public var dilationWidth: Int
    public var padTop: Int
    public var padLeft: Int
    public var outputHeight: Int
    public var outputWidth: Int

    /// A geometry with explicit padding and output size (as read from a model or computed elsewhere).
    public init(
        batches: Int, inputHeight: Int, inputWidth: Int, inputChannels: Int,
        filterHeight: Int, filterWidth: Int, filterInputChannels: Int? = nil, outputChannels: Int,
        strideHeight: Int = 1, strideWidth: Int = 1, dilationHeight: Int = 1, dilationWidth: Int = 1,
        padTop: Int, padLeft: Int, outputHeight: Int, outputWidth: Int
    ) {
        self.batches = batches
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.inputChannels = inputChannels
        self.filterHeight = filterHeight
        self.filterWidth = filterWidth
        self.filterInputChannels = filterInputChannels ?? inputChannels
        self.outputChannels = outputChannels
        self.strideHeight = strideHeight
        self.strideWidth = strideWidth
        self.dilationHeight = dilationHeight
        self.dilationWidth = dilationWidth
        self.padTop = padTop
        self.padLeft = padLeft
        self.outputHeight = outputHeight
        self.outputWidth = outputWidth
        precondition([batches, inputHeight, inputWidth, inputChannels, filterHeight, filterWidth,
                      self.filterInputChannels, outputChannels, outputHeight, outputWidth].allSatisfy { $0 >= 0 },
                     "Conv2DGeometry: negative dimension")
        precondition(strideHeight > 0 && strideWidth > 0 && dilationHeight > 0 && dilationWidth > 0,
                     "Conv2DGeometry: strides and dilations must be positive")
    }

    /// A geometry whose padding and output size follow `padding` (spec §3.2).
    public init(
        batches: Int, inputHeight: Int, inputWidth: Int, inputChannels: Int,
        filterHeight: Int, filterWidth: Int, filterInputChannels: Int? = nil, outputChannels: Int,
        strideHeight: Int = 1, strideWidth: Int = 1, dilationHeight: Int = 1, dilationWidth: Int = 1,
        padding: PaddingType
    ) {
        let rows = PaddedWindow(inputSize: inputHeight, filterSize: filterHeight, stride: strideHeight,
                                dilation: dilationHeight, padding: padding)
        let columns = PaddedWindow(inputSize: inputWidth, filterSize: filterWidth, stride: strideWidth,
                                   dilation: dilationWidth, padding: padding)
        self.init(batches: batches, inputHeight: inputHeight, inputWidth: inputWidth, inputChannels: inputChannels,
                  filterHeight: filterHeight, filterWidth: filterWidth, filterInputChannels: filterInputChannels,
                  outputChannels: outputChannels, strideHeight: strideHeight, strideWidth: strideWidth,
                  dilationHeight: dilationHeight, dilationWidth: dilationWidth,
                  padTop: rows.padBefore, padLeft: columns.padBefore,
                  outputHeight: rows.outputSize, outputWidth: columns.outputSize)
    }

    /// Elements in the input tensor.
    public var inputCount: Int { batches * inputHeight * inputWidth * inputChannels }
    /// Elements in the output tensor.
    public var outputCount: Int { batches * outputHeight * outputWidth * outputChannels }
    /// Elements in a CONV_2D filter (OHWI).
    public var convFilterCount: Int { outputChannels * filterHeight * filterWidth * filterInputChannels }
    /// Elements in a DEPTHWISE_CONV_2D filter (`[1, KH, KW, O]`).
    public var depthwiseFilterCount: Int { filterHeight * filterWidth * outputChannels }
    /// `outputChannels / inputChannels` for DEPTHWISE_CONV_2D.
    public var depthMultiplier: Int { inputChannels == 0 ? 0 : outputChannels / inputChannels }
}
