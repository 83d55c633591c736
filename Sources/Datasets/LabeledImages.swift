import TensorCore

/// A set of images with integer class labels, held as float32 NHWC scaled to [0, 1].
public struct LabeledImages: Sendable {
    /// All images back to back, `count * sampleShape.reduce(1, *)` floats.
    public var images: [Float]
    /// One label per image, in `0..<classCount`.
    public var labels: [Int32]
    /// The shape of one image, e.g. `[28, 28, 1]` (height, width, channels).
    public var sampleShape: [Int]
    /// The number of classes.
    public var classCount: Int

    public init(images: [Float], labels: [Int32], sampleShape: [Int], classCount: Int) {
        precondition(images.count == labels.count * sampleShape.reduce(1, *),
                     "LabeledImages: \(images.count) floats do not hold \(labels.count) images of \(sampleShape)")
        self.images = images
        self.labels = labels
        self.sampleShape = sampleShape
        self.classCount = classCount
    }

    /// Number of images.
    public var count: Int { labels.count }

    /// Floats per image.
    public var sampleSize: Int { sampleShape.reduce(1, *) }

    /// The images at `indices`, in that order.
    public func subset(_ indices: some Collection<Int>) -> LabeledImages {
        let size = sampleSize
        var newImages = [Float]()
        newImages.reserveCapacity(indices.count * size)
        var newLabels = [Int32]()
        newLabels.reserveCapacity(indices.count)
        images.withUnsafeBufferPointer { src in
            for i in indices {
                newImages.append(contentsOf: src[(i * size)..<((i + 1) * size)])
                newLabels.append(labels[i])
            }
        }
        return LabeledImages(images: newImages, labels: newLabels, sampleShape: sampleShape, classCount: classCount)
    }

    /// The first `n` images (all of them when `n >= count`).
    public func prefix(_ n: Int) -> LabeledImages {
        subset(0..<min(max(n, 0), count))
    }

    /// A seeded split into a training part and the last `validationCount` images of a
    /// seeded permutation (the default 55,000 / 5,000 split of FashionMNIST's training set).
    public func split(validationCount: Int, seed: UInt64 = 0) -> (train: LabeledImages, validation: LabeledImages) {
        precondition(validationCount >= 0 && validationCount <= count, "split: validationCount \(validationCount) not in 0...\(count)")
        var random = SeededRandom(seed: seed &+ 0x5EED_5_1A7)
        let order = random.permutation(count)
        let cut = count - validationCount
        return (subset(order[..<cut]), subset(order[cut...]))
    }

    /// Images `range` as a tensor `[range.count] + sampleShape`.
    public func batch(_ range: Range<Int>) -> (images: Tensor, labels: ArraySlice<Int32>) {
        let size = sampleSize
        let tensor = Tensor(shape: [range.count] + sampleShape,
                            storage: Array(images[(range.lowerBound * size)..<(range.upperBound * size)]))
        return (tensor, labels[range])
    }

    /// Gathers the images at `indices` into `destination` (a tensor of `[indices.count] + sampleShape`)
    /// and their labels into `labels`, without allocating.
    public func gather(_ indices: ArraySlice<Int>, into destination: inout Tensor, labels destinationLabels: inout [Int32]) {
        let size = sampleSize
        precondition(destination.count == indices.count * size, "gather: destination has the wrong size")
        destinationLabels.removeAll(keepingCapacity: true)
        images.withUnsafeBufferPointer { src in
            destination.storage.withUnsafeMutableBufferPointer { dst in
                for (row, i) in indices.enumerated() {
                    (dst.baseAddress! + row * size).update(from: src.baseAddress! + i * size, count: size)
                }
            }
        }
        for i in indices { destinationLabels.append(labels[i]) }
    }
}
