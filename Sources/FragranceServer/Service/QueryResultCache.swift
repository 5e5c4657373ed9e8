import FragranceCore
import FragranceStore
import Foundation

/// Replies of understood queries (QUERY, `POST /api/v1/search/*`), kept until their collection
/// changes. Search traffic repeats itself (a catalogue's popular queries, a page asking again
/// for the same results); answering a repeat costs a lookup instead of parsing, two or three
/// graph searches, record reads and shaping (~5 ms of CPU on the whole catalogue).
///
/// An entry is valid for one collection object at one write generation (`Collection.version`,
/// bumped by every write, schema change and compaction): a write makes every entry of its
/// collection stale, a dropped and recreated collection is another object. The version is read
/// before the query runs, so a reply computed while a write landed is stored under the older
/// version and never served. An explained reply is cached like any other (its plan and scores
/// are what the same search on the same data gives again); `took_ms` is always the request's
/// own. Bounded by entries and by an estimate of the bytes held (BoundedCache: the least recently
/// used go first).
public final class QueryResultCache: Sendable {
    public struct Settings: Sendable {
        /// 0: no cache.
        public var maxEntries = 1024
        public var maxBytes = 32 << 20
        public init(maxEntries: Int = 1024, maxBytes: Int = 32 << 20) {
            (self.maxEntries, self.maxBytes) = (maxEntries, maxBytes)
        }
    }

    /// Everything in a QueryInput that changes the reply, with the filter as the store will
    /// run it (its object form and text already combined).
    struct Key: Hashable, Sendable {
        var collection: String
        var text: String?
        var vector: [Float]?
        var filter: String?
        var k: Int, ef: Int?
        var mode: String
        var understand: Bool, exact: Bool, includeRecords: Bool, explain: Bool
        var fusion: Double?   // RRF's k; nil: linear
        var weights: [Double]
        var candidates: Int?
        var offset: Int, scoreThreshold: Double?, maxDistance: Double?
        var fields: [String]?, facets: [String], facetSize: Int
        var qualityPrior: Double?, collapse: Bool?, diversity: Double?

        init(_ input: QueryInput, collection: String, filter: String?) {
            self.collection = collection
            text = input.text
            vector = input.vector
            self.filter = filter
            (k, ef, mode) = (input.k, input.ef, input.mode.rawValue)
            (understand, exact, includeRecords, explain) = (input.understand, input.exact, input.includeRecords, input.explain)
            if case .reciprocalRank(let rk) = input.fusion { fusion = rk } else { fusion = nil }
            weights = [input.vectorWeight, input.keywordWeight, input.preferenceWeight]
            candidates = input.candidates
            let p = input.paging
            (offset, scoreThreshold, maxDistance, fields, facets, facetSize) = (p.offset, p.scoreThreshold, p.maxDistance, p.fields, p.facets, p.facetSize)
            (qualityPrior, collapse, diversity) = (input.qualityPrior, input.collapse, input.diversity)
        }
    }

    private struct Entry {
        weak var collection: FragranceStore.Collection?
        var version: UInt64
        var reply: QueryReply
    }

    let settings: Settings
    private let cache: BoundedCache<Key, Entry>

    init(_ settings: Settings = .init()) {
        self.settings = settings
        cache = BoundedCache(maxEntries: settings.maxEntries, maxBytes: settings.maxBytes)
    }

    var isOn: Bool { cache.isOn }

    func lookup(_ key: Key, in c: FragranceStore.Collection, version: UInt64) -> QueryReply? {
        cache.lookup(key) { $0.collection === c && $0.version == version }?.reply
    }

    func store(_ key: Key, _ reply: QueryReply, in c: FragranceStore.Collection, version: UInt64) {
        cache.store(key, Entry(collection: c, version: version, reply: reply), bytes: Self.estimate(key, reply))
    }

    func clear() { cache.clear() }

    var stats: (entries: Int, bytes: Int, hits: Int, misses: Int) { cache.stats }

    /// Roughly what an entry holds: everything in the key (a request may list a field many
    /// times), the parsed query, facets, and each hit with its record.
    static func estimate(_ key: Key, _ reply: QueryReply) -> Int {
        func strings(_ a: [String]?) -> Int { a?.reduce(0) { $0 + 16 + $1.utf8.count } ?? 0 }
        var n = 512 + 2 * (key.text?.utf8.count ?? 0) + 4 * (key.vector?.count ?? 0) + 2 * (key.filter?.utf8.count ?? 0)
        n += strings(key.fields) + strings(key.facets) + (reply.filter?.utf8.count ?? 0)
        if let p = reply.parsed {
            n += 256 + strings(p.unknownWords) + strings(p.ignoredWords) + (p.embeddedText?.utf8.count ?? 0) + (p.keywords?.utf8.count ?? 0)
            for t in p.terms { n += 64 + strings(t.words) + t.meaning.utf8.count + (t.filter?.utf8.count ?? 0) }
            for pr in p.preferences { n += 48 + pr.name.utf8.count + pr.filter.utf8.count }
        }
        for f in reply.facets ?? [] {
            n += 128 + f.field.utf8.count + 48 * (f.ranges?.count ?? 0) + (f.values?.reduce(0) { $0 + 32 + $1.value.utf8.count } ?? 0)
        }
        for hit in reply.results {
            n += 256 + hit.id.utf8.count + (hit.collapsed?.reduce(0) { $0 + $1.utf8.count + 16 } ?? 0)
            n += hit.detail.matchedPreferences.reduce(0) { $0 + $1.utf8.count + 16 }
            if let r = hit.record?.record {
                for (name, value) in r.attributes { n += 32 + name.utf8.count + value.approximateBytes }
                n += 4 * (r.vector?.count ?? 0)
            }
        }
        return n
    }
}

extension AttributeValue {
    /// Bytes of text and numbers held, roughly (for cache bounds).
    var approximateBytes: Int {
        switch self {
        case .string(let s): return 16 + s.utf8.count
        case .int, .float, .bool: return 9
        case .strings(let a): return 16 + a.reduce(0) { $0 + 16 + $1.utf8.count }
        case .tiered(let t): return 16 + t.reduce(0) { $0 + 32 + $1.key.utf8.count + $1.value.reduce(0) { $0 + 16 + $1.utf8.count } }
        }
    }
}
