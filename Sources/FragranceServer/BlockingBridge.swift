import Foundation
import Synchronization

/// Runs async work to completion from a line-protocol command, which runs on a thread-pool
/// thread (never an event loop or a cooperative thread), so waiting blocks only that thread.
func waitBlocking<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
    let result = Mutex<T?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let value = await work()
        result.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    return result.withLock { $0! }
}
