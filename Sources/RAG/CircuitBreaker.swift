import Foundation
import Synchronization

/// The seed's breaker for the LLM backend: open after `failureThreshold` failures in a row,
/// half-open after `openSeconds`, closed again after `halfOpenSuccesses` successes in a row
/// while half-open (a failure there opens it again). While open, callers skip the backend.
public final class CircuitBreaker: Sendable {
    public enum State: String, Sendable { case closed, open, halfOpen = "half_open" }

    public struct Settings: Sendable, Equatable {
        public var failureThreshold = 5
        public var openSeconds = 60.0
        public var halfOpenSuccesses = 3
        public init() {}
    }

    public struct Status: Sendable, Equatable {
        public var state: State
        public var consecutiveFailures: Int
        public var halfOpenSuccesses: Int
        public var totalSuccesses: Int
        public var totalFailures: Int
        /// Calls not made because the breaker was open.
        public var rejected: Int
        public var openedAt: Date?
        public var lastError: String?
    }

    public let settings: Settings
    private let clock: @Sendable () -> Date
    private let state: Mutex<Status>

    public init(settings: Settings = .init(), clock: @escaping @Sendable () -> Date = Date.init) {
        self.settings = settings
        self.clock = clock
        state = Mutex(Status(state: .closed, consecutiveFailures: 0, halfOpenSuccesses: 0, totalSuccesses: 0, totalFailures: 0, rejected: 0))
    }

    /// May a call go to the backend now? (Moves open → half-open once the wait is over.)
    public func allow() -> Bool {
        state.withLock { s in
            refresh(&s)
            if s.state == .open { s.rejected += 1; return false }
            return true
        }
    }

    private func refresh(_ s: inout Status) {
        if s.state == .open, let at = s.openedAt, clock().timeIntervalSince(at) >= settings.openSeconds {
            s.state = .halfOpen
            s.halfOpenSuccesses = 0
        }
    }

    public func recordSuccess() {
        state.withLock { s in
            s.totalSuccesses += 1
            s.consecutiveFailures = 0
            if s.state == .halfOpen {
                s.halfOpenSuccesses += 1
                if s.halfOpenSuccesses >= settings.halfOpenSuccesses { s.state = .closed; s.openedAt = nil }
            }
        }
    }

    public func recordFailure(_ error: String) {
        state.withLock { s in
            s.totalFailures += 1
            s.consecutiveFailures += 1
            s.lastError = error
            if s.state == .halfOpen || s.consecutiveFailures >= settings.failureThreshold {
                s.state = .open
                s.openedAt = clock()
                s.halfOpenSuccesses = 0
            }
        }
    }

    public var status: Status {
        state.withLock { s in
            refresh(&s)
            return s
        }
    }
}
