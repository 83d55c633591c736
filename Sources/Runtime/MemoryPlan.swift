/// Where each non-constant tensor lives in the interpreter's arena.
///
/// Built once at prepare time. Every tensor the interpreter computes (graph inputs, operator
/// outputs) gets a byte range in one arena. Two tensors may share bytes when their lifetimes do not
/// overlap: a tensor is live from the step that writes it (or from the start, for a graph input) to
/// the last step that reads it (or to the end, for a graph output). The ranges are inclusive, so an
/// operator's output never shares memory with its own inputs.
///
/// Placement is TFLite's "greedy by size" (`simple_memory_arena` / `ArenaPlanner`): tensors are
/// taken largest first, and each goes at the lowest aligned offset that does not collide with a
/// tensor already placed whose lifetime overlaps.
public struct MemoryPlan: Sendable, Equatable {
    /// One planned tensor.
    public struct Entry: Sendable, Equatable {
        public var tensor: Int
        /// Offset in the arena (a multiple of ``MemoryPlan/alignment``).
        public var offset: Int
        /// Bytes reserved (the tensor's bytes for a full batch of ``Interpreter/batchCapacity`` samples).
        public var byteCount: Int
        /// First step that needs the tensor (`-1`: before the first step, a graph input).
        public var firstStep: Int
        /// Last step that needs the tensor (`Int.max`: a graph output, kept to the end).
        public var lastStep: Int
    }

    /// Offsets are multiples of this (a cache line; also enough for any SIMD load).
    public static let alignment = 64

    /// The planned tensors, in tensor-index order.
    public var entries: [Entry]
    /// The arena's size: the end of the highest placed tensor.
    public var arenaByteCount: Int

    /// What the tensors would take without any reuse.
    public var totalTensorByteCount: Int { entries.reduce(0) { $0 + $1.byteCount } }

    /// The entry of tensor `index`, if planned.
    public func entry(for index: Int) -> Entry? { entries.first { $0.tensor == index } }

    /// Plans `requests` (tensor, bytes, lifetime); with `reuse == false` every tensor gets its own bytes.
    public init(_ requests: [(tensor: Int, byteCount: Int, firstStep: Int, lastStep: Int)], reuse: Bool = true) {
        func aligned(_ n: Int) -> Int { (n + MemoryPlan.alignment - 1) / MemoryPlan.alignment * MemoryPlan.alignment }
        var placed: [Entry] = []
        var end = 0
        // Largest first; ties by first use, then by index, so the plan is deterministic.
        let order = requests.indices.sorted {
            let (a, b) = (requests[$0], requests[$1])
            if a.byteCount != b.byteCount { return a.byteCount > b.byteCount }
            if a.firstStep != b.firstStep { return a.firstStep < b.firstStep }
            return a.tensor < b.tensor
        }
        for k in order {
            let r = requests[k]
            let size = aligned(max(r.byteCount, 1))
            var offset = 0
            if reuse {
                let conflicts = placed
                    .filter { $0.firstStep <= r.lastStep && r.firstStep <= $0.lastStep }
                    .sorted { $0.offset < $1.offset }
                for c in conflicts {
                    if offset + size <= c.offset { break }
                    offset = max(offset, aligned(c.offset + c.byteCount))
                }
            } else {
                offset = end
            }
            placed.append(Entry(tensor: r.tensor, offset: offset, byteCount: r.byteCount,
                                firstStep: r.firstStep, lastStep: r.lastStep))
            end = max(end, offset + size)
        }
        entries = placed.sorted { $0.tensor < $1.tensor }
        arenaByteCount = end
    }
}
