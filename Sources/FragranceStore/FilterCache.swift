import Synchronization

/// Recently evaluated filters, keyed by their exact text and valid for one write generation
/// of the collection. Applications repeat a few filters ("family = 'floral'") across many
/// queries; a hit skips parsing and evaluation (tens of microseconds at 100k records). An
/// understood query evaluates several (each preference, their AND, the hard filter), so the
/// cache holds up to `maxEntries`, bounded by the bytes of their bitsets (a collection's size
/// in bits each): 64 entries missed 41% of the filters of 60 rotating understood queries.
final class FilterCache: Sendable {
    private struct Entry {
        var generation: UInt64
        var evaluation: AttributeIndex.Evaluation
        var lastUse: UInt64
        var bytes: Int
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var bytes = 0
        var clock: UInt64 = 0
        var hits = 0
        var misses = 0
    }

    let maxEntries: Int
    let maxBytes: Int
    private let state = Mutex(State())

    init(maxEntries: Int = 1024, maxBytes: Int = 8 << 20) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }

    func lookup(_ filter: String, generation: UInt64) -> AttributeIndex.Evaluation? {
        state.withLock { s in
            guard var e = s.entries[filter], e.generation == generation else { s.misses += 1; return nil }
            s.hits += 1
            s.clock &+= 1
            e.lastUse = s.clock
            s.entries[filter] = e
            return e.evaluation
        }
    }

    var counts: (hits: Int, misses: Int) { state.withLock { ($0.hits, $0.misses) } }
    var size: (entries: Int, bytes: Int) { state.withLock { ($0.entries.count, $0.bytes) } }

    func store(_ filter: String, generation: UInt64, _ evaluation: AttributeIndex.Evaluation) {
        let bytes = 96 + filter.utf8.count + evaluation.allowed.capacity / 8
        guard filter.utf8.count <= 4096, bytes <= maxBytes / 8 else { return }
        state.withLock { s in
            s.clock &+= 1
            if let old = s.entries[filter] { s.bytes -= old.bytes }
            s.entries[filter] = Entry(generation: generation, evaluation: evaluation, lastUse: s.clock, bytes: bytes)
            s.bytes += bytes
            guard s.entries.count > maxEntries || s.bytes > maxBytes else { return }
            // Down to 7/8 of the bounds at once: a full cache does not sort on every store.
            let entryGoal = maxEntries - maxEntries / 8, byteGoal = maxBytes - maxBytes / 8
            for (key, e) in s.entries.sorted(by: { $0.value.lastUse < $1.value.lastUse }) {
                guard s.entries.count > entryGoal || s.bytes > byteGoal else { break }
                s.entries[key] = nil
                s.bytes -= e.bytes
            }
        }
    }
}
