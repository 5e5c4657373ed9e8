import FragranceCore

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
    }

    private let cache: BoundedCache<String, Entry>

    init(maxEntries: Int = 1024, maxBytes: Int = 8 << 20) { cache = BoundedCache(maxEntries: maxEntries, maxBytes: maxBytes) }

    func lookup(_ filter: String, generation: UInt64) -> AttributeIndex.Evaluation? {
        cache.lookup(filter) { $0.generation == generation }?.evaluation
    }

    var counts: (hits: Int, misses: Int) { let s = cache.stats; return (s.hits, s.misses) }
    var size: (entries: Int, bytes: Int) { let s = cache.stats; return (s.entries, s.bytes) }

    func store(_ filter: String, generation: UInt64, _ evaluation: AttributeIndex.Evaluation) {
        guard filter.utf8.count <= 4096 else { return }
        cache.store(filter, Entry(generation: generation, evaluation: evaluation), bytes: 96 + filter.utf8.count + evaluation.allowed.capacity / 8)
    }
}
