/// Helpers for tensor shapes, written as `[Int]` in row-major (C) order, NHWC for images.
public enum Shape {
    /// The number of elements of `shape`, or `nil` when a dimension is negative or the count overflows.
    ///
    /// Untrusted shapes (from a file) go through this instead of `reduce(1, *)`, which would trap.
    public static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// Row-major strides of `shape`.
    public static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= shape[i]
        }
        return strides
    }

    /// `[2, 28, 28, 1]` written as `2x28x28x1`.
    public static func describe(_ shape: [Int]) -> String {
        shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: "x")
    }
}
