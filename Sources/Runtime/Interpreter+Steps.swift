import Kernels

/// A tensor as a step reads or writes it: its base address and element count.
///
/// Activations (`scales == true`) hold `count` elements per sample, so a pass over `n` samples
/// touches `count × n`; constants hold `count` elements whatever the batch.
struct Operand {
    let base: UnsafeMutableRawPointer
    let count: Int
    let scales: Bool

    @inline(__always)
    func elements(_ n: Int) -> Int { scales ? count &* n : count }

    @inline(__always)
    func mutable<T>(_: T.Type, _ n: Int) -> UnsafeMutableBufferPointer<T> {
        let c = elements(n)
        return UnsafeMutableBufferPointer(start: base.bindMemory(to: T.self, capacity: c), count: c)
    }

    @inline(__always)
    func buffer<T>(_: T.Type, _ n: Int) -> UnsafeBufferPointer<T> { UnsafeBufferPointer(mutable(T.self, n)) }
}

/// CONV_2D / DEPTHWISE_CONV_2D with constant weights; `geometry.batches` is per sample.
struct ConvolutionStep<Weight, Bias, Parameters> {
    var input: Operand
    var filter: UnsafeBufferPointer<Weight>
    var bias: UnsafeBufferPointer<Bias>?
    var output: Operand
    var geometry: Conv2DGeometry
    var parameters: Parameters

    @inline(__always)
    func geometry(samples n: Int) -> Conv2DGeometry {
        var g = geometry
        g.batches = geometry.batches &* n
        return g
    }
}

/// FULLY_CONNECTED with constant weights; `geometry.batches` is the rows of one sample.
struct FullyConnectedStep<Weight, Bias, Parameters> {
    var input: Operand
    var weights: UnsafeBufferPointer<Weight>
    var bias: UnsafeBufferPointer<Bias>?
    var output: Operand
    var geometry: FullyConnectedGeometry
    var parameters: Parameters

    @inline(__always)
    func geometry(samples n: Int) -> FullyConnectedGeometry {
        var g = geometry
        g.batches = geometry.batches &* n
        return g
    }
}

/// Pooling: `geometry.batches` is per sample.
struct PoolStep<Range> {
    var input: Operand
    var output: Operand
    var geometry: Conv2DGeometry
    var activation: Range

    @inline(__always)
    func geometry(samples n: Int) -> Conv2DGeometry {
        var g = geometry
        g.batches = geometry.batches &* n
        return g
    }
}

/// MEAN over axes 1 and 2 of an NHWC tensor; `batches` is per sample.
struct MeanStep<Parameters> {
    var input: Operand
    var output: Operand
    var batches: Int
    var height: Int
    var width: Int
    var channels: Int
    var parameters: Parameters
}

/// An operator with one input, one output and precomputed parameters.
struct UnaryStep<Parameters> {
    var input: Operand
    var output: Operand
    var parameters: Parameters
}

/// An operator with two inputs of the same shape.
struct BinaryStep<Parameters> {
    var input1: Operand
    var input2: Operand
    var output: Operand
    var parameters: Parameters
}

/// Softmax parameters: the row length and the kernel constants.
struct SoftmaxSetup<Parameters> {
    var depth: Int
    var parameters: Parameters
}

/// An operator run by a prepared fast kernel object (packed weights, shared by all replicas).
struct FastStep<Kernel> {
    var input: Operand
    var output: Operand
    var kernel: Kernel
}

/// What one pass hands every step besides its operands.
struct ExecutionContext {
    /// Samples in this pass.
    var samples: Int
    /// The replica's scratch buffer.
    var scratch: UnsafeMutableRawBufferPointer
    /// Threads one operator may use (1 when samples are already split across replicas).
    var threads: Int
    /// Passes this replica has run before this one; weight-streaming kernels alternate their
    /// traversal order on it to reuse what the previous pass left in cache.
    var pass: Int
}

/// One operator, compiled: the kernel to call and everything it needs.
enum StepKernel {
    case fastConv2D(FastStep<FastFloatConv2D>)
    case fastFullyConnected(FastStep<FastFloatFullyConnected>)
    case fastConv2DInt8(FastStep<FastConv2DInt8>)
    case fastFullyConnectedInt8(FastStep<FastFullyConnectedInt8>)
    case fastConv2DHybrid(FastStep<FastHybridConv2D>)
    case fastDepthwiseConv2DInt8(FastStep<FastDepthwiseConv2DInt8>)
    case fastFullyConnectedHybrid(FastStep<FastHybridFullyConnected>)
    case fastMaxPool2D(PoolStep<ActivationRange<Float>>)
    case fastMaxPool2DInt8(PoolStep<ActivationRange<Int32>>)
    case fastAveragePool2D(PoolStep<ActivationRange<Float>>)
    case fastAveragePool2DInt8(PoolStep<ActivationRange<Int32>>)
    case conv2D(ConvolutionStep<Float, Float, ActivationRange<Float>>)
    case conv2DInt8(ConvolutionStep<Int8, Int32, QuantizedConvParameters>)
    case conv2DHybrid(ConvolutionStep<Int8, Float, HybridConvParameters>)
    case depthwiseConv2D(ConvolutionStep<Float, Float, ActivationRange<Float>>)
    case depthwiseConv2DInt8(ConvolutionStep<Int8, Int32, QuantizedConvParameters>)
    case fullyConnected(FullyConnectedStep<Float, Float, ActivationRange<Float>>)
    case fullyConnectedInt8(FullyConnectedStep<Int8, Int32, QuantizedConvParameters>)
    case fullyConnectedHybrid(FullyConnectedStep<Int8, Float, HybridFullyConnectedParameters>)
    case maxPool2D(PoolStep<ActivationRange<Float>>)
    case maxPool2DInt8(PoolStep<ActivationRange<Int32>>)
    case averagePool2D(PoolStep<ActivationRange<Float>>)
    case averagePool2DInt8(PoolStep<ActivationRange<Int32>>)
    case mean(MeanStep<Void>)
    case meanInt8(MeanStep<QuantizedMeanParameters>)
    case add(BinaryStep<ActivationRange<Float>>)
    case addInt8(BinaryStep<QuantizedAddParameters>)
    /// RESHAPE: a byte copy (`parameters` = bytes per element).
    case copy(UnaryStep<Int>)
    case softmax(UnaryStep<SoftmaxSetup<Float>>)
    case softmaxInt8(UnaryStep<SoftmaxSetup<QuantizedSoftmaxParameters>>)
    case quantize(UnaryStep<AffineQuantization>)
    case requantize(UnaryStep<RequantizeParameters>)
    case dequantize(UnaryStep<AffineQuantization>)
}

struct Step {
    /// The graph operator this step runs.
    var operatorIndex: Int
    var kernel: StepKernel
    /// Multiply-accumulates per sample (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED; 0 for the rest).
    var multiplyAccumulates: Int = 0

    /// Below this many multiply-accumulates in one pass, an operator runs on the calling thread even
    /// when more threads are allowed: waking a pool thread and waiting for it cost more than it saves
    /// (the seed CNN at batch 1, 8.2 M in all, took 1.6-1.8x as long on two threads as on one).
    static let splitWork = 32 << 20

    /// The threads this step uses for a pass of `samples` samples when `threads` are allowed.
    func threads(samples: Int, allowed threads: Int) -> Int {
        threads > 1 && multiplyAccumulates &* samples >= Self.splitWork ? threads : 1
    }
}

extension Replica {
    /// One pass over `n ≤ batchCapacity` samples already copied into the input slots; each operator
    /// may use `threads` threads.
    func invoke(samples n: Int, threads: Int = 1) {
        let context = ExecutionContext(samples: n, scratch: UnsafeMutableRawBufferPointer(start: scratch.base, count: scratch.byteCount),
                                       threads: threads, pass: passes)
        passes &+= 1
        for step in steps {
            var stepContext = context
            stepContext.threads = step.threads(samples: n, allowed: threads)
            Self.execute(step.kernel, stepContext)
        }
    }

    static func execute(_ kernel: StepKernel, _ context: ExecutionContext) {
        let n = context.samples
        let scratch = context.scratch.bindMemory(to: Int8.self)
        switch kernel {
        case .fastConv2D(let s):
            s.kernel.run(input: s.input.buffer(Float.self, n), output: s.output.mutable(Float.self, n), batches: n,
                         scratch: context.scratch, threads: context.threads)
        case .fastConv2DInt8(let s):
            s.kernel.run(input: s.input.buffer(Int8.self, n), output: s.output.mutable(Int8.self, n), batches: n,
                         scratch: context.scratch, threads: context.threads)
        case .fastFullyConnectedInt8(let s):
            s.kernel.run(input: s.input.buffer(Int8.self, n), output: s.output.mutable(Int8.self, n),
                         batches: s.kernel.geometry.batches &* n, scratch: context.scratch, threads: context.threads,
                         reversed: context.pass & 1 == 1)
        case .fastConv2DHybrid(let s):
            s.kernel.run(input: s.input.buffer(Float.self, n), output: s.output.mutable(Float.self, n), batches: n,
                         scratch: context.scratch, threads: context.threads)
        case .fastDepthwiseConv2DInt8(let s):
            s.kernel.run(input: s.input.buffer(Int8.self, n), output: s.output.mutable(Int8.self, n), batches: n,
                         scratch: context.scratch, threads: context.threads)
        case .fastFullyConnectedHybrid(let s):
            s.kernel.run(input: s.input.buffer(Float.self, n), output: s.output.mutable(Float.self, n),
                         batches: s.kernel.geometry.batches &* n, scratch: context.scratch, threads: context.threads,
                         reversed: context.pass & 1 == 1)
        case .fastFullyConnected(let s):
            let g = s.kernel.geometry
            s.kernel.run(input: s.input.buffer(Float.self, n), output: s.output.mutable(Float.self, n), rows: g.batches &* n,
                         threads: context.threads, reversed: context.pass & 1 == 1)
        case .fastMaxPool2D(let s):
            FastPooling.maxPool2D(input: s.input.buffer(Float.self, n), output: s.output.mutable(Float.self, n),
                                  geometry: s.geometry(samples: n), activation: s.activation)
        case .fastMaxPool2DInt8(let s):
            FastPooling.maxPool2D(input: s.input.buffer(Int8.self, n), output: s.output.mutable(Int8.self, n),
                                  geometry: s.geometry(samples: n), activation: s.activation)
        case .fastAveragePool2D(let s):
            FastPooling.averagePool2D(input: s.input.buffer(Float.self, n), output: s.output.mutable(Float.self, n),
                                      geometry: s.geometry(samples: n), activation: s.activation)
        case .fastAveragePool2DInt8(let s):
            FastPooling.averagePool2D(input: s.input.buffer(Int8.self, n), output: s.output.mutable(Int8.self, n),
                                      geometry: s.geometry(samples: n), activation: s.activation,
                                      scratch: context.scratch.bindMemory(to: Int32.self))
        case .conv2D(let s):
            ReferenceKernels.conv2D(input: s.input.buffer(Float.self, n), filter: s.filter, bias: s.bias,
                                    output: s.output.mutable(Float.self, n), geometry: s.geometry(samples: n),
                                    activation: s.parameters)
        case .conv2DInt8(let s):
            ReferenceKernels.conv2D(input: s.input.buffer(Int8.self, n), filter: s.filter, bias: s.bias,
                                    output: s.output.mutable(Int8.self, n), geometry: s.geometry(samples: n),
                                    parameters: s.parameters)
        case .conv2DHybrid(let s):
            ReferenceKernels.hybridConv2D(input: s.input.buffer(Float.self, n), filter: s.filter, bias: s.bias,
                                          output: s.output.mutable(Float.self, n), geometry: s.geometry(samples: n),
                                          parameters: s.parameters, scratch: scratch)
        case .depthwiseConv2D(let s):
            ReferenceKernels.depthwiseConv2D(input: s.input.buffer(Float.self, n), filter: s.filter, bias: s.bias,
                                             output: s.output.mutable(Float.self, n), geometry: s.geometry(samples: n),
                                             activation: s.parameters)
        case .depthwiseConv2DInt8(let s):
            ReferenceKernels.depthwiseConv2D(input: s.input.buffer(Int8.self, n), filter: s.filter, bias: s.bias,
                                             output: s.output.mutable(Int8.self, n), geometry: s.geometry(samples: n),
                                             parameters: s.parameters)
        case .fullyConnected(let s):
            ReferenceKernels.fullyConnected(input: s.input.buffer(Float.self, n), weights: s.weights, bias: s.bias,
                                            output: s.output.mutable(Float.self, n), geometry: s.geometry(samples: n),
                                            activation: s.parameters)
        case .fullyConnectedInt8(let s):
            ReferenceKernels.fullyConnected(input: s.input.buffer(Int8.self, n), weights: s.weights, bias: s.bias,
                                            output: s.output.mutable(Int8.self, n), geometry: s.geometry(samples: n),
                                            parameters: s.parameters)
        case .fullyConnectedHybrid(let s):
            ReferenceKernels.hybridFullyConnected(input: s.input.buffer(Float.self, n), weights: s.weights, bias: s.bias,
                                                  output: s.output.mutable(Float.self, n), geometry: s.geometry(samples: n),
                                                  parameters: s.parameters, scratch: scratch)
        case .maxPool2D(let s):
            ReferenceKernels.maxPool2D(input: s.input.buffer(Float.self, n), output: s.output.mutable(Float.self, n),
                                       geometry: s.geometry(samples: n), activation: s.activation)
        case .maxPool2DInt8(let s):
            ReferenceKernels.maxPool2D(input: s.input.buffer(Int8.self, n), output: s.output.mutable(Int8.self, n),
                                       geometry: s.geometry(samples: n), activation: s.activation)
        case .averagePool2D(let s):
            ReferenceKernels.averagePool2D(input: s.input.buffer(Float.self, n), output: s.output.mutable(Float.self, n),
                                           geometry: s.geometry(samples: n), activation: s.activation)
        case .averagePool2DInt8(let s):
            ReferenceKernels.averagePool2D(input: s.input.buffer(Int8.self, n), output: s.output.mutable(Int8.self, n),
                                           geometry: s.geometry(samples: n), activation: s.activation)
        case .mean(let s):
            ReferenceKernels.meanOverHeightWidth(input: s.input.buffer(Float.self, n), output: s.output.mutable(Float.self, n),
                                                 batches: s.batches * n, height: s.height, width: s.width, channels: s.channels)
        case .meanInt8(let s):
            ReferenceKernels.meanOverHeightWidth(input: s.input.buffer(Int8.self, n), output: s.output.mutable(Int8.self, n),
                                                 batches: s.batches * n, height: s.height, width: s.width, channels: s.channels,
                                                 parameters: s.parameters)
        case .add(let s):
            ReferenceKernels.add(s.input1.buffer(Float.self, n), s.input2.buffer(Float.self, n),
                                 output: s.output.mutable(Float.self, n), activation: s.parameters)
        case .addInt8(let s):
            ReferenceKernels.add(s.input1.buffer(Int8.self, n), s.input2.buffer(Int8.self, n),
                                 output: s.output.mutable(Int8.self, n), parameters: s.parameters)
        case .copy(let s):
            let bytes = s.input.elements(n) * s.parameters
            if bytes > 0 { s.output.base.copyMemory(from: s.input.base, byteCount: bytes) }
        case .softmax(let s):
            ReferenceKernels.softmax(input: s.input.buffer(Float.self, n), output: s.output.mutable(Float.self, n),
                                     depth: s.parameters.depth, beta: s.parameters.parameters)
        case .softmaxInt8(let s):
            ReferenceKernels.softmax(input: s.input.buffer(Int8.self, n), output: s.output.mutable(Int8.self, n),
                                     depth: s.parameters.depth, parameters: s.parameters.parameters)
        case .quantize(let s):
            ReferenceKernels.quantize(s.input.buffer(Float.self, n), output: s.output.mutable(Int8.self, n), parameters: s.parameters)
        case .requantize(let s):
            ReferenceKernels.quantize(s.input.buffer(Int8.self, n), output: s.output.mutable(Int8.self, n), parameters: s.parameters)
        case .dequantize(let s):
            ReferenceKernels.dequantize(s.input.buffer(Int8.self, n), output: s.output.mutable(Float.self, n), parameters: s.parameters)
        }
    }
}
