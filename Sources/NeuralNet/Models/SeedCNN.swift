/// The FashionMNIST CNN of the seed article (1,641,674 parameters):
///
///     Conv2D(64, 2, same, relu) -> MaxPool 2 -> Dropout .2 -> Conv2D(128, 2, same, relu) -> MaxPool 2
///     -> Dropout .2 -> Flatten -> Dense 256 -> ReLU -> Dropout .2 -> Dense 10 -> Softmax
///
/// written, as the seed's Keras recipe does, with separate `Activation` layers after the dense layers.
public func seedCNN(seed: UInt64 = 0) -> Sequential {
    Sequential(inputShape: [28, 28, 1], seed: seed) {
        Conv2D(filters: 64, kernelSize: 2, padding: .same, activation: .relu)
        MaxPooling2D()
        Dropout(0.2)
        Conv2D(filters: 128, kernelSize: 2, padding: .same, activation: .relu)
        MaxPooling2D()
        Dropout(0.2)
        Flatten()
        Dense(256)
        Activation(.relu)
        Dropout(0.2)
        Dense(10)
        Activation(.softmax)
    }
}
