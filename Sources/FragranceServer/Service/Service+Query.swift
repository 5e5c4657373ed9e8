import FragranceProtocol
import FragranceStore
import Foundation
import Perfumery
import RAG

// QUERY and `POST /api/v1/search/semantic|hybrid`: search as a person types it. The text is
// understood (preferences, exclusions, years, "like <perfume>") unless `understand` is off,
// the arms of `mode` run and fuse. Similarity with nothing to understand (or `exact`) is the
// store's plain vector search, and then `score` is the similarity; `scoring` says which.

/// A field added here that changes the reply must join `QueryResultCache.Key`, or a cached
/// reply for another request would be served.
public struct QueryInput: Sendable {
    /// nil: the server's default collection (`http.default_collection`).
    public var collection: String?
    /// The operation /metrics counts it as: "search" for POST …/{name}/search (SEARCH's route).
    var measuredAs = "query"
    public var text: String?
    public var vector: [Float]?
    public var filter = FilterInput.none
    public var k = 10
    public var ef: Int?
    public var mode = PerfumeSearch.Mode.hybrid
    public var understand = true
    public var exact = false
    public var explain = false
    public var includeRecords = true
    public var fusion = Fusion.reciprocalRank(k: 60)
    public var vectorWeight = 1.0, keywordWeight = 1.0, preferenceWeight = 1.0
    /// Candidates each arm contributes before fusion; nil: max(100, k).
    public var candidates: Int?
    public var paging = SearchPaging()
    /// The quality prior's weight, 0…1 (nil: 1; 0: off).
    public var qualityPrior: Double?
    /// Collapse near-duplicates (nil: on for understood queries).
    public var collapse: Bool?
    /// MMR's λ, 0…1 (nil: off; 1 keeps the order; lower trades relevance for variety).
    public var diversity: Double?
    public init() {}
}

public struct PriorBody: Encodable, Sendable {
    var rating: Double, votes: Double, completeness: Double, prior: Double, factor: Double
}

public struct HitExplain: Encodable, Sendable {
    var fusedScore: Double?, fusedRank: Int?
    var vectorScore: Double?, vectorRank: Int?
    var keywordScore: Double?, keywordRank: Int?
    var preferenceScore: Double?, preferenceRank: Int?
    var popularityRank: Int?
    @Nullable var matchedFilter: String?
    var matchedPreferences: [String]
    var matchedNotes: [String]?, matchedAccords: [String]?
    var qualityPrior: PriorBody?
    enum CodingKeys: String, CodingKey {
        case qualityPrior = "quality_prior"
        case fusedScore = "fused_score", fusedRank = "fused_rank", vectorScore = "vector_score", vectorRank = "vector_rank"
        case keywordScore = "keyword_score", keywordRank = "keyword_rank", preferenceScore = "preference_score", preferenceRank = "preference_rank"
        case popularityRank = "popularity_rank"
        case matchedFilter = "matched_filter", matchedPreferences = "matched_preferences", matchedNotes = "matched_notes", matchedAccords = "matched_accords"
    }
}

public struct QueryHit: Encodable, Sendable {
    var rank: Int
    var id: String
    /// What ranks the hit: see `QueryReply.scoring`.
    var score: Double
    var distance: Double?
    var record: RecordBody?
    /// With `explain`.
    var explain: HitExplain?
    /// Always there (not encoded): the line protocol reads ranks and preferences from it.
    var detail: HitExplain
    /// Near-duplicates this hit stands for (same name and notes, or the same vector).
    var collapsed: [String]?

    enum CodingKeys: String, CodingKey { case rank, id, score, distance, record, explain, collapsed }
}

public struct ParsedBody: Encodable, Sendable {
    struct Term: Encodable, Sendable {
        var words: [String], meaning: String, role: String
        @Nullable var filter: String?
        var weight: Double
    }
    struct Like: Encodable, Sendable {
        var text: String
        @Nullable var id: String?
        @Nullable var name: String?
    }
    struct PreferenceBody: Encodable, Sendable { var name: String, filter: String, weight: Double }
    var language: String
    var terms: [Term]
    @Nullable var embeddedText: String?
    @Nullable var keywords: String?
    @Nullable var like: Like?
    var unknownWords: [String], ignoredWords: [String]
    @Nullable var filter: String?
    var preferences: [PreferenceBody]
    enum CodingKeys: String, CodingKey {
        case language, terms, keywords, like, filter, preferences
        case embeddedText = "embedded_text", unknownWords = "unknown_words", ignoredWords = "ignored_words"
    }

    init(_ p: ParsedQuery, _ r: PerfumeSearch.Result) {
        language = p.language
        terms = p.terms.map { Term(words: $0.words, meaning: $0.name, role: $0.role.rawValue, filter: $0.filter, weight: $0.weight) }
        embeddedText = r.embedded
        keywords = r.keywords
        like = r.like.map { Like(text: $0.text, id: $0.id, name: $0.name) }
        unknownWords = p.unknownWords
        ignoredWords = p.ignoredWords
        filter = p.filter
        preferences = p.preferences.map { PreferenceBody(name: $0.name, filter: $0.filter, weight: $0.weight) }
    }
}

public struct QueryReply: Encodable, Sendable {
    public struct FusionBody: Encodable, Sendable { var method: String; var k: Double? }
    public struct Weights: Encodable, Sendable { var vector: Double, keyword: Double, preference: Double }
    @Nullable var query: String?
    var searchType: String
    var collection: String
    var topK: Int
    var offset: Int
    var total: Int
    var results: [QueryHit]
    /// The hard filter every arm ran under.
    @Nullable var filter: String?
    var arms: [String]
    /// What `score` is: "similarity" (the plain vector search: the metric's similarity),
    /// "rrf" or "linear" (fused over the arms, after preference boosts).
    var scoring: String
    var tookMs: Double
    var parsed: ParsedBody?
    /// With `facets`: counted over the results.
    var facets: [FacetBody]?
    // With explain:
    var plan: PlanBody?
    var fusion: FusionBody?
    var weights: Weights?
    /// Present with explain, null when the preference arm had no filter.
    var preferenceFilter: Nullable<String>?
    var preferenceArmSkipped: Bool?
    /// With explain: the quality prior's weight as applied (0 when off) and why it was off, and whether hits collapsed.
    var shaping: ShapingBody?

    public struct ShapingBody: Encodable, Sendable {
        var qualityPrior: Double
        var priorOff: String?
        var collapse: Bool
        var diversity: Double?
        enum CodingKeys: String, CodingKey { case collapse, diversity, qualityPrior = "quality_prior", priorOff = "prior_off" }
    }

    enum CodingKeys: String, CodingKey {
        case query, collection, total, results, filter, arms, scoring, parsed, plan, fusion, weights, offset, facets, shaping
        case searchType = "search_type", topK = "top_k", tookMs = "took_ms", preferenceFilter = "preference_filter",
             preferenceArmSkipped = "preference_arm_skipped"
    }
}

extension FragranceService {
    public func query(_ input: QueryInput) throws -> QueryReply {
        let start = DispatchTime.now().uptimeNanoseconds
        if let text = input.text { try checkText(text, "the query text", field: "query") }
        try checkK(input.k, field: "top_k")
        try checkEf(input.ef)
        if let n = input.candidates { try checkK(n, field: "candidates") }
        if let w = input.qualityPrior, !(0...1).contains(w) {
            throw ProtocolError(.badValue, "the quality prior's weight must be from 0 to 1, got \(w)", field: "quality_prior")
        }
        if let l = input.diversity, !(0...1).contains(l) {
            throw ProtocolError(.badValue, "diversity (MMR's lambda) must be from 0 to 1, got \(l)", field: "diversity")
        }
        let fetch = try checkPaging(input.paging, k: input.k, kField: "top_k")
        guard input.text != nil || input.vector != nil else {
            throw ProtocolError(.missingField, "give the query text (or a vector)", field: "query")
        }
        if input.mode == .keyword, input.text == nil { throw ProtocolError(.missingField, "a keyword search needs query text", field: "query") }
        let name = input.collection ?? defaultCollection
        let c = try collection(name)
        let filter = try input.filter.expression(for: c.config.schema)
        _ = try projection(input.paging.fields, c)   // refuse an unknown field before searching
        // The version before the search: a reply that raced a write is stored as stale.
        let version = c.version
        let cacheKey = queryCache.isOn ? QueryResultCache.Key(input, collection: name, filter: filter) : nil
        if let cacheKey, var reply = queryCache.lookup(cacheKey, in: c, version: version) {
            metrics?.queryCache(hit: true)
            reply.tookMs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            metrics?.searched(collection: name, operation: input.measuredAs, seconds: reply.tookMs / 1000)
            return reply
        }
        var reply = QueryReply(query: input.text, searchType: input.mode.rawValue, collection: name, topK: input.k, offset: input.paging.offset,
                               total: 0, results: [], filter: filter, arms: ["vector"], scoring: "similarity", tookMs: 0)
        // Each path fetches offset + k and ranks from 1; paging then drops, filters and renumbers.
        var whole = input
        whole.k = fetch
        if whole.paging.fields != nil { whole.includeRecords = true }
        if input.exact || (input.mode == .similarity && (!input.understand || input.text == nil)) {
            try plainQuery(whole, c, filter: filter, into: &reply)
        } else {
            try understoodQuery(whole, c, filter: filter, into: &reply)
        }
        let p = input.paging
        let project = try projection(p.fields, c)
        reply.results = reply.results.dropFirst(p.offset).filter { hit in
            (p.scoreThreshold.map { hit.score >= $0 } ?? true) && (p.maxDistance.map { m in hit.distance.map { $0 <= m } ?? false } ?? true)
        }.map { hit in
            var h = hit
            h.record = h.record.map(project)
            return h
        }
        reply.facets = try facetBodies(p.facets, size: p.facetSize, ids: reply.results.map(\.id), in: c)
        reply.total = reply.results.count
        reply.tookMs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        if let cacheKey {
            metrics?.queryCache(hit: false)
            queryCache.store(cacheKey, reply, in: c, version: version)
        }
        return reply
    }

    /// The store's search (`search(_:)`, the same operation as SEARCH) in the query's reply shape.
    private func plainQuery(_ input: QueryInput, _ c: FragranceStore.Collection, filter: String?, into reply: inout QueryReply) throws {
        var s = SearchInput(collection: c.config.name)
        s.measuredAs = input.measuredAs
        // A vector wins over the text (the text is then only echoed as `query`).
        if let v = input.vector { s.vector = v } else { s.text = input.text }
        s.filter = FilterInput(text: filter)
        (s.k, s.ef, s.exact, s.explain, s.includeRecords) = (input.k, input.ef, input.exact, input.explain, input.includeRecords)
        let result = try search(s)
        reply.results = result.hits.enumerated().map { i, h in
            var record = h.record
            record?.includeId = false
            let detail = HitExplain(vectorScore: widened(h.score), vectorRank: i + 1, matchedFilter: filter, matchedPreferences: [])
            return QueryHit(rank: i + 1, id: h.id, score: widened(h.score), distance: widened(h.distance), record: record,
                            explain: input.explain ? detail : nil, detail: detail)
        }
        reply.plan = result.plan
    }

    /// A Float as the Double with the same shortest decimal form (0.99999994, not
    /// 0.9999999403953552): the figure the line protocol writes for the same hit.
    private func widened(_ f: Float) -> Double { Double(f.description) ?? Double(f) }

    private func understoodQuery(_ input: QueryInput, _ c: FragranceStore.Collection, filter: String?, into reply: inout QueryReply) throws {
        var q = PerfumeSearch.Query(text: input.text, vector: input.vector, filter: filter, k: input.k, mode: input.mode)
        q.ef = input.ef
        q.understand = input.understand
        q.candidates = input.candidates ?? max(100, input.k)
        q.fusion = input.fusion
        q.vectorWeight = input.vectorWeight
        q.keywordWeight = input.keywordWeight
        q.preferenceWeight = input.preferenceWeight
        q.qualityPrior = input.qualityPrior ?? PerfumeSearch.Query.defaultPrior
        q.collapse = input.collapse ?? (input.understand && input.text != nil)
        q.diversity = input.diversity
        let start = StageTimes.now
        let result = try search.search(q, in: c)
        if let plan = result.plan { metrics?.search(plan, collection: c.config.name) }
        metrics?.searched(collection: c.config.name, operation: input.measuredAs, seconds: StageTimes.since(start), stages: result.times)
        let needRecords = input.includeRecords || input.explain
        var records: [Record?] = []
        if needRecords {
            // Shaping read most of them already; only the rest come from SQLite.
            let missing = result.hits.map(\.id).filter { result.records[$0] == nil }
            let read = missing.isEmpty ? [:] : Dictionary(try zip(missing, c.records(missing)).compactMap { id, r in r.map { (id, $0) } },
                                                          uniquingKeysWith: { a, _ in a })
            records = result.hits.map { result.records[$0.id] ?? read[$0.id] }
        }
        reply.results = result.hits.enumerated().map { i, h in
            var e = HitExplain(fusedScore: h.score, fusedRank: i + 1, vectorScore: h.vector?.score, vectorRank: h.vector?.rank,
                               keywordScore: h.keyword?.score, keywordRank: h.keyword?.rank,
                               preferenceScore: h.preference?.score, preferenceRank: h.preference?.rank, popularityRank: h.popularity?.rank,
                               matchedFilter: result.filter, matchedPreferences: h.matchedPreferences)
            if input.explain, let r = records[i] {
                let m = search.matchedTerms(r, result.parsed)
                e.matchedNotes = m.notes
                e.matchedAccords = m.accords
            }
            if let p = result.priors[h.id] {
                e.qualityPrior = PriorBody(rating: p.rating, votes: p.votes, completeness: p.completeness, prior: p.prior, factor: p.factor)
            }
            return QueryHit(rank: i + 1, id: h.id, score: h.score, distance: h.vector.map { 1 - $0.score },
                            record: input.includeRecords ? records[i].map { RecordBody(record: $0, includeId: false) } : nil,
                            explain: input.explain ? e : nil, detail: e, collapsed: result.collapsed[h.id])
        }
        reply.filter = result.filter
        reply.arms = result.arms
        if case .reciprocalRank = input.fusion { reply.scoring = "rrf" } else { reply.scoring = "linear" }
        if let p = result.parsed { reply.parsed = ParsedBody(p, result) }
        if input.explain {
            if let plan = result.plan { reply.plan = PlanBody(plan) }
            if case .reciprocalRank(let k) = input.fusion { reply.fusion = .init(method: "rrf", k: k) } else { reply.fusion = .init(method: "linear") }
            reply.weights = .init(vector: input.vectorWeight, keyword: input.keywordWeight, preference: input.preferenceWeight)
            reply.preferenceFilter = Nullable(wrappedValue: result.preferenceFilter)
            reply.preferenceArmSkipped = result.preferenceArmSkipped
            reply.shaping = .init(qualityPrior: result.priorWeight, priorOff: result.priorOff, collapse: q.collapse, diversity: q.diversity)
        }
    }
}
