// The umbrella module: `import QuantKit` brings in the whole toolkit.
@_exported import TensorCore
@_exported import Kernels
@_exported import Datasets
@_exported import NeuralNet
@_exported import Runtime
@_exported import Quantization
@_exported import TFLite
