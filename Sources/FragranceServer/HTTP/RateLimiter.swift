import Foundation
import Synchronization

/// Token buckets by caller (an API key's name or a client address): `rate` tokens a second,
/// up to `burst`. A rate of 0 turns limiting off. Settings may change while running.
public final class RateLimiter: Sendable {
    public struct Settings: Sendable, Equatable {
        public var rate: Double
        public var burst: Double
        public init(rate: Double, burst: Double) {
            self.rate = rate
            self.burst = max(burst, 1)
        }
    }

    struct Bucket {
        var tokens: Double
        var updated: UInt64   // uptime nanoseconds
    }

    struct State {
        var settings: Settings
        var buckets: [String: Bucket] = [:]
    }

    private let state: Mutex<State>
    /// Buckets idle long enough to be full again are dropped past this many callers.
    let pruneAbove = 10_000

    public init(_ settings: Settings) { state = Mutex(State(settings: settings)) }

    public var settings: Settings {
        get { state.withLock { $0.settings } }
        set { state.withLock { $0.settings = newValue } }
    }

    /// nil when the call may go ahead; otherwise the seconds until a token is free.
    public func acquire(_ caller: String, now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> Double? {
        state.withLock { s in
            let rate = s.settings.rate, burst = s.settings.burst
            guard rate > 0 else { return nil }
            var b = s.buckets[caller] ?? Bucket(tokens: burst, updated: now)
            b.tokens = min(burst, b.tokens + Double(now &- b.updated) / 1e9 * rate)
            b.updated = now
            defer {
                s.buckets[caller] = b
                if s.buckets.count > pruneAbove {
                    s.buckets = s.buckets.filter { Double(now &- $0.value.updated) / 1e9 * rate + $0.value.tokens < burst }
                }
            }
            if b.tokens >= 1 {
                b.tokens -= 1
                return nil
            }
            return (1 - b.tokens) / rate
        }
    }
}
