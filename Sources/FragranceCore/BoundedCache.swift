import Synchronization

/// Least recently used entries, bounded by their count and by the bytes each is said to hold.
/// A full cache evicts down to 7/8 of both bounds in one pass, so a store does not sort the
/// entries every time; one value over an eighth of the byte bound is not kept (it would empty
/// the cache). Validity is the caller's: `lookup` drops an entry its test refuses (a filter
/// from an older write generation, a reply of a dropped collection).
public final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var bytes: Int
        var lastUse: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var bytes = 0
        var clock: UInt64 = 0
        var hits = 0, misses = 0
    }

    public let maxEntries: Int
    public let maxBytes: Int
    private let state = Mutex(State())

    public init(maxEntries: Int, maxBytes: Int) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }

    public var isOn: Bool { maxEntries > 0 && maxBytes > 0 }

    public func lookup(_ key: Key, valid: (Value) -> Bool) -> Value? {
        state.withLock { s in
            guard var e = s.entries[key] else { s.misses += 1; return nil }
            guard valid(e.value) else {
                s.bytes -= e.bytes
                s.entries[key] = nil
                s.misses += 1
                return nil
            }
            s.hits += 1
            s.clock &+= 1
            e.lastUse = s.clock
            s.entries[key] = e
            return e.value
        }
    }

    public func store(_ key: Key, _ value: Value, bytes: Int) {
        guard isOn, bytes <= maxBytes / 8 else { return }
        state.withLock { s in
            s.clock &+= 1
            if let old = s.entries[key] { s.bytes -= old.bytes }
            s.entries[key] = Entry(value: value, bytes: bytes, lastUse: s.clock)
            s.bytes += bytes
            guard s.entries.count > maxEntries || s.bytes > maxBytes else { return }
            let entryGoal = maxEntries - maxEntries / 8, byteGoal = maxBytes - maxBytes / 8
            for (k, e) in s.entries.sorted(by: { $0.value.lastUse < $1.value.lastUse }) {
                guard s.entries.count > entryGoal || s.bytes > byteGoal else { break }
                s.entries[k] = nil
                s.bytes -= e.bytes
            }
        }
    }

    public func clear() { state.withLock { s in s.entries = [:]; s.bytes = 0 } }

    public var stats: (entries: Int, bytes: Int, hits: Int, misses: Int) {
        state.withLock { ($0.entries.count, $0.bytes, $0.hits, $0.misses) }
    }
}
