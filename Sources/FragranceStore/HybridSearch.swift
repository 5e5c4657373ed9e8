import Foundation
import HNSW

// Hybrid search: up to three ranked arms over the records the hard filter allows, fused into
// one list.
// - vector: nearest neighbours of the query vector (the planner's exact or graph path);
// - keyword: BM25 over the keyword index;
// - preference: nearest neighbours among records matching the soft preferences, so records
//   that fit what the user asked for are in the pool even when neither text arm ranks them.
// Fusion is reciprocal rank fusion (Σ w / (k + rank)) or a linear sum of min-max normalised
// scores. Preferences then boost (or, with a negative weight, demote) every fused hit that
// matches them: words in a free-text query rank known matches first instead of hiding the
// records that lack the attribute.

/// A soft condition: a filter that ranks matching records up (weight > 0) or down (< 0).
public struct Preference: Sendable, Equatable {
    /// Shown in explanations, e.g. "seasons: spring".
    public var name: String
    public var filter: String
    public var weight: Double

    public init(name: String, filter: String, weight: Double = 0.5) {
        self.name = name
        self.filter = filter
        self.weight = weight
    }
}

public enum Fusion: Sendable, Equatable {
    /// Reciprocal rank fusion with constant k (60 in the literature and by default).
    case reciprocalRank(k: Double)
    /// Weighted sum of each arm's scores normalised to 0…1 over its candidates.
    case linear
}

public struct HybridRequest: Sendable {
    /// The vector arm's query: a vector, or text for the collection's embedder.
    public var vector: [Float]?
    public var text: String?
    /// The keyword arm's text (BM25); nil or empty: no keyword arm.
    public var keywords: String?
    /// Hard filter: applies to every arm before fusion.
    public var filter: String?
    public var preferences: [Preference] = []
    /// Ids never returned (e.g. the perfume a "like …" query starts from).
    public var excluded: Set<String> = []
    public var k = 10
    public var ef: Int?
    /// Candidates taken from each arm before fusion.
    public var candidates = 100
    public var fusion = Fusion.reciprocalRank(k: 60)
    public var vectorWeight = 1.0
    public var keywordWeight = 1.0
    public var preferenceWeight = 1.0
    /// A popularity arm: the records the preference arm searches under, most of this numeric
    /// field first (what a shop lists for a category), `candidates` at most; nil: off. It needs
    /// positive preferences: without them it would rank the whole catalogue by fame.
    public var popularity: String?
    public var popularityWeight = 1.0

    public init(vector: [Float]? = nil, text: String? = nil, keywords: String? = nil, filter: String? = nil, k: Int = 10) {
        self.vector = vector
        self.text = text
        self.keywords = keywords
        self.filter = filter
        self.k = k
    }
}

/// One arm's view of a hit: its 1-based rank there and its raw score.
public struct ArmScore: Sendable, Equatable {
    public var rank: Int
    public var score: Double
}

public struct HybridHit: Sendable, Equatable {
    public var id: String
    /// The fused score after preference boosts (higher is better).
    public var score: Double
    public var vector: ArmScore?
    public var keyword: ArmScore?
    public var preference: ArmScore?
    /// The popularity arm's rank, and its score: how many of the arm's records it is ahead of, plus one.
    public var popularity: ArmScore?
    /// Names of the preferences this record matches.
    public var matchedPreferences: [String]
}

public struct HybridResult: Sendable {
    public var hits: [HybridHit]
    /// The vector arm's plan (nil without a vector arm).
    public var plan: QueryPlan?
    /// Arms that ran, in order: "vector", "keyword", "preference".
    public var arms: [String]
    /// The filter the preference arm searched under, if it ran.
    public var preferenceFilter: String?
    /// True when the vector arm already held k records matching every preference.
    public var preferenceArmSkipped = false
    /// How long each stage took (for the server's per-stage latency histograms).
    public var times = StageTimes()
}

/// Seconds each stage of one search took; nil for a stage that did not run. The keyword stage
/// includes evaluating the filter and the preferences' bitsets, which it shares a lock with.
public struct StageTimes: Sendable, Equatable {
    public var embed: Double?, vector: Double?, keyword: Double?, preference: Double?, popularity: Double?, fusion: Double?
    /// Result shaping after fusion (prior, collapse, diversity), set by the caller that shapes.
    public var shaping: Double?

    public init() {}

    /// The stages that ran, by name, in order.
    public var ran: [(stage: String, seconds: Double)] {
        [("embed", embed), ("vector", vector), ("keyword", keyword), ("preference", preference), ("popularity", popularity),
         ("fusion", fusion), ("shaping", shaping)].compactMap { name, t in t.map { (name, $0) } }
    }

    /// Seconds since `start` (a `DispatchTime` uptime in nanoseconds).
    public static func since(_ start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
    public static var now: UInt64 { DispatchTime.now().uptimeNanoseconds }
}

extension Collection {
    public func hybridSearch(_ request: HybridRequest, planner: QueryPlanner = .init()) throws -> HybridResult {
        guard (1...10_000).contains(request.k) else { throw StoreError(.badRequest, "k must be 1 to 10000, got \(request.k)") }
        let pool = max(request.candidates, request.k + request.excluded.count)
        var vector = request.vector
        var times = StageTimes()
        var t = StageTimes.now
        if vector == nil, let text = request.text, !text.trimmingCharactersInWhitespace().isEmpty {
            guard text.utf8.count <= 65536 else { throw StoreError(.badRequest, "query text is over 64 KiB") }
            vector = try embed([text])[0]
            times.embed = StageTimes.since(t)
        }
        let keywords = request.keywords.flatMap { Collection.keywordQuery($0) == nil ? nil : $0 }
        guard vector != nil || keywords != nil || !request.preferences.isEmpty else {
            throw StoreError(.badRequest, "a hybrid search needs a vector, query text or keywords")
        }

        var arms: [String] = []
        var plan: QueryPlan?
        var vectorHits: [SearchHit] = []
        var preferenceHits: [SearchHit] = []
        var preferenceFilter: String?
        var preferenceSkipped = false
        var armFilter: String?   // the preference arm's filter, even when the arm is skipped
        if let vector {
            t = StageTimes.now
            let r = try search(SearchRequest(vector: vector, k: pool, ef: request.ef, filter: request.filter), planner: planner)
            vectorHits = r.hits
            plan = r.plan
            arms.append("vector")
            times.vector = StageTimes.since(t)
        }
        let positive = request.preferences.filter { $0.weight > 0 }
        t = StageTimes.now
        let (keywordHits, matches): ([KeywordMatch], [Bitset]) = try lock.read {
            let allowed = try request.filter.map { try evaluate($0).allowed }
            let kw = try keywords.map { try keywordMatchesUnlocked($0, limit: pool, allowed: allowed) } ?? []
            let sets = try request.preferences.map { try evaluate($0.filter).allowed }
            // The preference arm's filter: all positive preferences, or any of them when
            // together they leave fewer than k records.
            if vector != nil, !positive.isEmpty {
                func joined(_ op: String) -> String {
                    let body = positive.count == 1 ? positive[0].filter : positive.map { "(\($0.filter))" }.joined(separator: " \(op) ")
                    return request.filter.map { "(\($0)) AND (\(body))" } ?? body
                }
                let strict = joined("AND")
                let strictCount = try evaluate(strict).allowed.count
                preferenceFilter = positive.count > 1 && strictCount < request.k ? joined("OR") : strict
                armFilter = preferenceFilter
                // Skipped when the vector arm already holds k records that match every
                // preference: the boosts rank them first, and a second search would add little.
                let all = zip(request.preferences, sets).filter { $0.0.weight > 0 }.map(\.1)
                let matching = vectorHits.lazy.filter { hit in
                    guard let rid = self.ridOfId[hit.id].map(Int.init) else { return false }
                    return all.allSatisfy { rid < $0.capacity && $0.contains(rid) }
                }.prefix(request.k).count
                if matching >= request.k { preferenceFilter = nil; preferenceSkipped = true }
            }
            return (kw, sets)
        }
        if keywords != nil { arms.append("keyword") }
        if keywords != nil || !request.preferences.isEmpty { times.keyword = StageTimes.since(t) }
        if let vector, let preferenceFilter {
            t = StageTimes.now
            preferenceHits = try search(SearchRequest(vector: vector, k: pool, ef: request.ef, filter: preferenceFilter), planner: planner).hits
            arms.append("preference")
            times.preference = StageTimes.since(t)
        }

        var popularHits: [(String, Double)] = []
        if let field = request.popularity, let armFilter, config.schema.field(field) != nil {
            t = StageTimes.now
            defer { times.popularity = StageTimes.since(t) }
            let ids = try browseIds(filter: armFilter, order: BrowseOrder(field: field, descending: true), limit: min(pool, 1_000)).ids
            popularHits = ids.enumerated().map { ($0.element, Double(ids.count - $0.offset)) }
            arms.append("popularity")
        }

        t = StageTimes.now
        var fused: [String: HybridHit] = [:]
        func entry(_ id: String) -> HybridHit { fused[id] ?? HybridHit(id: id, score: 0, matchedPreferences: []) }
        let lists: [(arm: WritableKeyPath<HybridHit, ArmScore?>, weight: Double, scores: [(String, Double)])] = [
            (\.vector, request.vectorWeight, vectorHits.map { ($0.id, Double($0.score)) }),
            (\.keyword, request.keywordWeight, keywordHits.map { ($0.id, $0.score) }),
            (\.preference, request.preferenceWeight, preferenceHits.map { ($0.id, Double($0.score)) }),
            (\.popularity, request.popularityWeight, popularHits),
        ]
        for list in lists {
            let lo = list.scores.map(\.1).min() ?? 0, hi = list.scores.map(\.1).max() ?? 0
            for (i, (id, score)) in list.scores.enumerated() where !request.excluded.contains(id) {
                var h = entry(id)
                h[keyPath: list.arm] = ArmScore(rank: i + 1, score: score)
                switch request.fusion {
                case .reciprocalRank(let k): h.score += list.weight / (k + Double(i + 1))
                case .linear: h.score += list.weight * (hi > lo ? (score - lo) / (hi - lo) : 1)
                }
                fused[id] = h
            }
        }
        // Boosts: a record matching preferences with weights w₁…wₙ scores × (1 + Σw), at least × 0.1.
        let rids: [String: UInt32] = lock.read { Dictionary(uniqueKeysWithValues: fused.keys.compactMap { id in ridOfId[id].map { (id, $0) } }) }
        for (id, var h) in fused {
            guard let rid = rids[id] else { continue }
            var boost = 1.0
            for (p, set) in zip(request.preferences, matches) where Int(rid) < set.capacity && set.contains(Int(rid)) {
                boost *= max(1 + p.weight, 0.1)
                h.matchedPreferences.append(p.name)
            }
            h.score *= max(boost, 0.1)
            fused[id] = h
        }
        let hits = fused.values.sorted { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }
        times.fusion = StageTimes.since(t)
        return HybridResult(hits: Array(hits.prefix(request.k)), plan: plan, arms: arms, preferenceFilter: preferenceFilter,
                            preferenceArmSkipped: preferenceSkipped, times: times)
    }
}
