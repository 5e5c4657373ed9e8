import Synchronization

/// Recently evaluated filters, keyed by their exact text and valid for one write generation
/// of the collection. Applications repeat a few filters ("family = 'floral'") across many
/// queries; a hit skips parsing and evaluation (tens of microseconds at 100k records).
final class FilterCache: Sendable {
    private struct Entry {
        var generation: UInt64
        var evaluation: AttributeIndex.Evaluation
        var lastUse: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var clock: UInt64 = 0
        var hits = 0
        var misses = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 64) { self.capacity = capacity }

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

    func store(_ filter: String, generation: UInt64, _ evaluation: AttributeIndex.Evaluation) {
        guard filter.utf8.count <= 4096 else { return }
        state.withLock { s in
            s.clock &+= 1
            if s.entries.count >= capacity, s.entries[filter] == nil,
               let oldest = s.entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                s.entries[oldest] = nil
            }
            s.entries[filter] = Entry(generation: generation, evaluation: evaluation, lastUse: s.clock)
        }
    }
}
