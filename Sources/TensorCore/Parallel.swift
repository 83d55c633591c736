import Dispatch

/// Splits loops across the machine's cores.
///
/// Work is cut into a fixed number of contiguous chunks that does not depend on timing, so a
/// computation whose chunks each write their own outputs (or whose partial results are
/// combined in chunk order) gives the same bits on every run.
public enum Parallel {
    /// How many threads loops use (default: all cores, at most 8).
    nonisolated(unsafe) public static var threadCount: Int = min(max(ProcessInfoLite.coreCount, 1), 8)

    /// Below this much work per call, loops run on the calling thread.
    public static let minimumWork = 1 << 15

    /// Calls `body(range)` for `chunks` contiguous, disjoint ranges covering `0..<count`,
    /// concurrently when there is enough work (`count * costPerItem >= minimumWork`).
    @inlinable
    public static func forEachChunk(_ count: Int, chunks: Int? = nil, costPerItem: Int = 1,
                                    _ body: (Range<Int>) -> Void) {
        let chunks = isSerial ? 1 : min(chunks ?? threadCount, count)
        if chunks <= 1 || count * costPerItem < minimumWork {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = count * c / chunks, hi = count * (c + 1) / chunks
                if lo < hi { box.value(lo..<hi) }
            }
        }
    }
}

extension Parallel {
    /// `true` on a thread inside `serially`: loops there run on the calling thread.
    public static var isSerial: Bool { pthread_getspecific(serialKey) != nil }

    /// Runs `body` with this thread's parallel loops turned off (for work that is itself one
    /// of several concurrent workers, such as one replica of data-parallel training).
    public static func serially<T>(_ body: () throws -> T) rethrows -> T {
        let previous = pthread_getspecific(serialKey)
        pthread_setspecific(serialKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(serialKey, previous) }
        return try body()
    }

    /// Runs `body(i)` for `i in 0..<count` concurrently, one thread each.
    public static func run(_ count: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
        }
    }
}

private let serialKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

/// Carries a value into concurrently running closures whose accesses the caller keeps disjoint.
public struct UncheckedSendable<Value>: @unchecked Sendable {
    public var value: Value
    @inlinable public init(_ value: Value) { self.value = value }
}

/// The number of online cores, without Foundation.
public enum ProcessInfoLite {
    public static var coreCount: Int {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return 1
        #endif
    }
}

#if canImport(Glibc)
import Glibc
#endif
