import Dispatch
import Foundation

/// Splits loops across the machine's cores.
///
/// Work is cut into contiguous chunks whose number does not depend on timing, so a
/// computation whose chunks each write their own outputs (or whose partial results are
/// combined in chunk order) gives the same bits on every run.
///
/// The work runs on the calling thread plus a small pool of persistent worker threads that
/// sleep on semaphores between jobs (no spinning), so two chunks really do run at once —
/// `DispatchQueue.concurrentPerform` may run both on the caller when a worker wakes late.
/// Only one caller uses the pool at a time; a concurrent caller, or code already running on
/// a pool thread, runs its loop on its own thread.
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
        let chunks = min(chunks ?? threadCount, count)
        if chunks <= 1 || count * costPerItem < minimumWork || isSerial {
            if count > 0 {
                if chunks <= 1 { body(0..<count) } else {
                    for c in 0..<chunks { body((count * c / chunks)..<(count * (c + 1) / chunks)) }
                }
            }
            return
        }
        run(chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body(i)` for `i in 0..<count`, spread over the calling thread and the pool's
    /// workers (task `i` goes to thread `i % threads`), and returns when all are done.
    public static func run(_ count: Int, _ body: (Int) -> Void) {
        guard count > 1, !isSerial, let pool = WorkerPool.shared, pool.lock.try() else {
            for i in 0..<count { body(i) }
            return
        }
        defer { pool.lock.unlock() }
        let threads = min(count, threadCount, pool.workers.count + 1)
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            for w in 1..<max(threads, 1) {
                pool.workers[w - 1].start {
                    serially { for i in stride(from: w, to: count, by: threads) { box.value(i) } }
                }
            }
            serially { for i in stride(from: 0, to: count, by: threads) { box.value(i) } }
            for w in 1..<max(threads, 1) { pool.workers[w - 1].wait() }
        }
    }

    /// `true` on a thread inside `serially` (or a pool worker): loops there run on that thread.
    public static var isSerial: Bool { pthread_getspecific(serialKey) != nil }

    /// Runs `body` with this thread's parallel loops turned off.
    public static func serially<T>(_ body: () throws -> T) rethrows -> T {
        let previous = pthread_getspecific(serialKey)
        pthread_setspecific(serialKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(serialKey, previous) }
        return try body()
    }
}

private let serialKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

/// Persistent threads that run one job at a time each.
final class WorkerPool: @unchecked Sendable {
    /// `nil` on a single-core machine.
    static let shared: WorkerPool? = {
        let n = min(max(ProcessInfoLite.coreCount, 1), 8) - 1
        return n > 0 ? WorkerPool(count: n) : nil
    }()

    let lock = NSLock()
    let workers: [Worker]

    init(count: Int) {
        workers = (0..<count).map { _ in Worker() }
    }

    final class Worker: @unchecked Sendable {
        private let go = DispatchSemaphore(value: 0)
        private let done = DispatchSemaphore(value: 0)
        private var job: (() -> Void)?

        init() {
            let thread = Thread { [unowned self] in
                while true {
                    self.go.wait()
                    self.job?()
                    self.job = nil
                    self.done.signal()
                }
            }
            thread.name = "quantkit-worker"
            thread.start()
        }

        func start(_ job: @escaping () -> Void) {
            self.job = job
            go.signal()
        }

        func wait() { done.wait() }
    }
}

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
