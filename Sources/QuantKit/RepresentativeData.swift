import Datasets

extension LabeledImages {
    /// Calibration data for full-integer quantization, as `quantkit quantize --mode int8` draws it:
    /// the first `count` images of the training part left after holding out `heldOut` images for
    /// validation with `seed` (so calibration never sees the validation images), in batches of
    /// `batchSize` flattened samples, for `Quantizer.quantize(_:representativeData:)`.
    public func representativeBatches(count: Int, seed: UInt64 = 0, heldOut: Int = 5000, batchSize: Int = 32) -> [[Float]] {
        let images = split(validationCount: Swift.max(0, Swift.min(heldOut, self.count)), seed: seed).train.prefix(count)
        let per = images.sampleSize
        return stride(from: 0, to: images.count, by: batchSize).map { lo in
            Array(images.images[(lo * per)..<(Swift.min(lo + batchSize, images.count) * per)])
        }
    }
}
