/// A dense float32 tensor in row-major order: the currency of training.
///
/// Value semantics (copy-on-write storage). Hot loops borrow the storage once with
/// `withUnsafeBufferPointer` / `withUnsafeMutableBufferPointer` instead of subscripting.
public struct Tensor: Sendable, Equatable {
    /// Dimensions, outermost first (NHWC for images, `[batch, features]` for dense data).
    public var shape: [Int]
    /// The elements, `shape.reduce(1, *)` of them.
    public var storage: [Float]

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        self.shape = shape
        self.storage = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// A tensor of `shape` whose elements `initializer` writes, all of them (no zero-fill first).
    @inlinable
    public init(shape: [Int], uninitialized initializer: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let count = shape.reduce(1, *)
        self.shape = shape
        self.storage = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            initializer(buffer)
            initialized = count
        }
    }

    /// A tensor of `shape` holding `storage`; the counts must agree.
    public init(shape: [Int], storage: [Float]) {
        precondition(shape.reduce(1, *) == storage.count,
                     "Tensor: shape \(shape) needs \(shape.reduce(1, *)) elements, got \(storage.count)")
        self.shape = shape
        self.storage = storage
    }

    /// Number of elements.
    @inlinable public var count: Int { storage.count }

    /// Size of the first dimension (the batch), 1 for a scalar.
    @inlinable public var batchSize: Int { shape.first ?? 1 }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, storage: storage)
    }

    /// Rows `range` of the first dimension, as a new tensor.
    public func slice(batch range: Range<Int>) -> Tensor {
        let per = shape.dropFirst().reduce(1, *)
        var s = shape
        s[0] = range.count
        return Tensor(shape: s, storage: Array(storage[(range.lowerBound * per)..<(range.upperBound * per)]))
    }
}
