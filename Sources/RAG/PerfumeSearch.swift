import Foundation
import FragranceStore
import Perfumery
import Synchronization

/// Search as a user types it: free text (English, Korean or both) is understood (`QueryParser`),
/// a "like <perfume>" is resolved to that perfume's vector, and the arms asked for run and
/// fuse (`Collection.hybridSearch`). Every hit can say why it is there.
public final class PerfumeSearch: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        case similarity, keyword, hybrid
    }

    public struct Query: Sendable {
        public var text: String?
        public var vector: [Float]?
        /// The caller's explicit (hard) filter.
        public var filter: String?
        public var k = 10
        public var ef: Int?
        public var mode = Mode.hybrid
        /// Off: the text is embedded and matched as typed.
        public var understand = true
        public var fusion = Fusion.reciprocalRank(k: 60)
        public var vectorWeight = 1.0
        public var keywordWeight = 1.0
        public var preferenceWeight = 1.0
        public var candidates = 100
        /// The quality prior's weight (0 off); off by itself when the query filters on rating or votes.
        public var qualityPrior = Query.defaultPrior
        /// Collapse near-duplicates into one hit.
        public var collapse = false
        /// MMR's λ over the shaped hits (nil: off; 1 keeps the order, 0.7 is a mild mix).
        public var diversity: Double?
        /// With the prior on, the most voted records matching the preferences join the fusion as
        /// an arm of their own (off only to measure what it adds).
        public var popularity = true
        /// 1.0 since the people set (Benchmarks/SearchEval/people.jsonl, dev half): 0.3 → 1.0 took
        /// its nDCG@10 from 0.568 to 0.635 (en) and 0.472 to 0.535 (ko); the facts set moved 0.879 → 0.877.
        public static let defaultPrior = 1.0

        public init(text: String? = nil, vector: [Float]? = nil, filter: String? = nil, k: Int = 10, mode: Mode = .hybrid) {
            self.text = text
            self.vector = vector
            self.filter = filter
            self.k = k
            self.mode = mode
        }
    }

    /// The perfume a "like …" query started from.
    public struct Reference: Sendable {
        public var text: String
        public var id: String?
        public var name: String?
    }

    public struct Result: Sendable {
        public var hits: [HybridHit]
        public var parsed: ParsedQuery?
        public var like: Reference?
        /// The filter every arm ran under (explicit AND understood hard conditions).
        public var filter: String?
        public var arms: [String]
        public var plan: QueryPlan?
        public var preferenceFilter: String?
        /// The vector arm already held k records matching every preference.
        public var preferenceArmSkipped = false
        public var embedded: String?
        public var keywords: String?
        /// Hit id -> the near-duplicate ids it stands for.
        public var collapsed: [String: [String]] = [:]
        public var priors: [String: ResultShaping.Prior] = [:]
        /// The prior's weight as applied, and why it was off.
        public var priorWeight = 0.0
        public var priorOff: String?
        /// How long each stage took (embedding, each arm, fusion, shaping).
        public var times = StageTimes()
        /// The kept hits' records as shaping read them (without vectors), by id: the caller
        /// need not read them again.
        public var records: [String: Record] = [:]
    }

    public let lexicon: Lexicon
    private let parsers = Mutex<[String: (version: UInt64, parser: QueryParser)]>([:])

    public init(lexicon: Lexicon) { self.lexicon = lexicon }

    /// A parser for a collection: its filterable fields, and its brands as phrases. Building one
    /// reads every brand, so it is kept until 1,024 writes later (new brands wait that long).
    public func parser(for c: FragranceStore.Collection) -> QueryParser {
        let version = c.version
        if let cached = parsers.withLock({ $0[c.config.name] }), version >= cached.version, version - cached.version < 1024 {
            return cached.parser
        }
        let fields = Set(c.config.schema.fields.filter { $0.type != .text }.map(\.name))
        let brands = fields.contains("brand") ? c.values(of: "brand").map(\.value) : []
        let p = QueryParser(lexicon: lexicon, fields: fields, brands: brands)
        parsers.withLock { $0[c.config.name] = (version, p) }
        return p
    }

    public func search(_ q: Query, in c: FragranceStore.Collection, planner: QueryPlanner = .init()) throws -> Result {
        var parsed = q.understand ? q.text.map { parser(for: c).parse($0) } : nil
        var request = HybridRequest(k: q.k)
        request.ef = q.ef
        request.fusion = q.fusion
        request.vectorWeight = q.vectorWeight
        request.keywordWeight = q.keywordWeight
        request.preferenceWeight = q.preferenceWeight
        request.candidates = q.candidates
        request.filter = PerfumeSearch.both(q.filter, parsed?.filter)
        request.preferences = parsed?.preferences ?? []

        var like: Reference?
        if let text = parsed?.like, q.vector == nil {
            like = Reference(text: text)
            if let (id, record) = try reference(text, in: c), let v = record.vector {
                like?.id = id
                if case .string(let n) = record.attributes["name"] { like?.name = n }
                request.vector = v
                request.excluded = [id]
            } else if let t = q.text {
                // No perfume by that name: "like" was just a word.
                parsed = parser(for: c).parse(t, resolvingLike: false)
                request.filter = PerfumeSearch.both(q.filter, parsed?.filter)
                request.preferences = parsed?.preferences ?? []
            }
        }
        let embedText = parsed.map { $0.embedText } ?? q.text
        var keywords = parsed.map { $0.keywordText } ?? q.text
        if q.mode == .keyword, let parsed {
            // BM25 is the only arm: it also gets the words understanding turned into preferences.
            let described = parsed.terms.filter { ($0.role == .prefer || $0.role == .require) && $0.filter != nil }.map(\.english)
            keywords = (described + [parsed.keywordText]).filter { !$0.isEmpty }.joined(separator: " ")
        }
        if q.mode != .keyword, request.vector == nil {
            if let v = q.vector { request.vector = v } else { request.text = embedText }
        }
        if q.mode != .similarity { request.keywords = keywords }
        if q.mode == .keyword, request.keywords?.isEmpty ?? true, request.preferences.isEmpty {
            throw StoreError(.badRequest, "a keyword search needs query text with at least one word")
        }
        // The prior is the user's to override: a filter on rating or votes says they chose that order.
        var weight = q.qualityPrior
        var priorOff: String?
        let fields = Set(c.config.schema.fields.map(\.name))
        if weight > 0, !fields.contains("rating") && !fields.contains("votes") { weight = 0; priorOff = "the collection has no rating or votes" }
        if weight > 0, let f = request.filter, f.lowercased().split(whereSeparator: { !$0.isLetter && $0 != "_" }).contains(where: { $0 == "rating" || $0 == "votes" }) {
            weight = 0
            priorOff = "the filter is on rating or votes"
        }
        if q.qualityPrior == 0 { priorOff = "turned off" }
        // Shaping reorders and drops: fetch more than k so the k kept are the best.
        let shaping = weight > 0 || q.collapse || q.diversity != nil
        if shaping {
            request.k = min(q.k + max(q.k, 20), max(q.candidates, q.k))
            request.candidates = max(request.candidates, request.k)
        }
        // With the prior on, the most voted records matching the preferences are candidates too:
        // a well-known perfume the vectors rank 200th can still be fused, boosted and weighed.
        if q.popularity, weight > 0, fields.contains("votes"), q.mode != .keyword {
            request.popularity = "votes"
            request.popularityWeight = weight
        }
        let r = try c.hybridSearch(request, planner: planner)
        var result = Result(hits: r.hits, parsed: parsed, like: like, filter: request.filter, arms: r.arms, plan: r.plan,
                            preferenceFilter: r.preferenceFilter, preferenceArmSkipped: r.preferenceArmSkipped,
                            embedded: request.vector == nil ? request.text : nil, keywords: request.keywords)
        result.priorWeight = weight
        result.priorOff = priorOff
        result.times = r.times
        if shaping {
            let t = StageTimes.now
            defer { result.times.shaping = StageTimes.since(t) }
            let records = try c.records(r.hits.map(\.id), includeVector: q.collapse || q.diversity != nil)
            let shaped = ResultShaping.shape(r.hits, records: records, weight: weight, collapse: q.collapse)
            if let lambda = q.diversity {
                var byId: [String: Record] = [:]
                for (h, rec) in zip(r.hits, records) { byId[h.id] = rec }
                result.hits = ResultShaping.diversify(shaped.hits, records: byId, lambda: lambda, k: q.k)
            } else {
                result.hits = Array(shaped.hits.prefix(q.k))
            }
            let kept = Set(result.hits.map(\.id))
            result.collapsed = shaped.collapsed.filter { kept.contains($0.key) }
            result.priors = shaped.priors.filter { kept.contains($0.key) }
            for case var r? in records where kept.contains(r.id) {
                r.vector = nil
                result.records[r.id] = r
            }
        }
        return result
    }

    /// The perfume a "like …" phrase names: every word in its name or brand. The exact name
    /// (or brand and name) first, then the name with the fewest other words ("Aventus" before
    /// "Absolu Aventus 2023"), then the most voted, then BM25.
    func reference(_ text: String, in c: FragranceStore.Collection) throws -> (String, Record)? {
        let fields = c.config.schema.keywordFields.map(\.name).filter { $0 == "name" || $0 == "brand" }
        guard !fields.isEmpty else { return nil }
        let matches = try c.keywordSearch(text, limit: 50, fields: fields, requireAll: true)
        let records = try c.records(matches.map(\.id), includeVector: true)
        func words(_ s: String) -> [Substring] { s.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }) }
        let wanted = words(text).joined(separator: " ")
        let ranked = zip(matches, records).enumerated().compactMap { i, pair -> (Int, Int, Int64, Int, String, Record)? in
            guard let r = pair.1, case .string(let name)? = r.attributes["name"] else { return nil }
            var brand = ""
            if case .string(let b)? = r.attributes["brand"] { brand = b }
            let n = words(name)
            let exact = n.joined(separator: " ") == wanted || (words(brand) + n).joined(separator: " ") == wanted
            var votes: Int64 = 0
            if case .int(let v)? = r.attributes["votes"] { votes = v }
            return (exact ? 0 : 1, n.count, -votes, i, pair.0.id, r)
        }.sorted { ($0.0, $0.1, $0.2, $0.3) < ($1.0, $1.1, $1.2, $1.3) }
        return ranked.first.map { ($0.4, $0.5) }
    }

    /// Which of a hit's notes and accords the query asked for (its own words, spelling variants included).
    public func matchedTerms(_ record: Record, _ parsed: ParsedQuery?) -> (notes: [String], accords: [String]) {
        guard let parsed else { return ([], []) }
        var wanted = Set<String>()
        for t in parsed.terms where t.role == .prefer || t.role == .require {
            for v in t.values {
                if v.field == "notes" { wanted.formUnion(lexicon.noteWords(v.value)) } else if v.field == "accords" { wanted.insert("accord:" + v.value) }
            }
        }
        var notes: [String] = [], accords: [String] = []
        if case .tiered(let tiers) = record.attributes["notes"] {
            for n in tiers.values.flatMap({ $0 }) where wanted.contains(n.lowercased()) && !notes.contains(n) { notes.append(n) }
        }
        if case .strings(let list) = record.attributes["accords"] {
            for a in list where wanted.contains("accord:" + a.lowercased()) { accords.append(a) }
        }
        return (notes, accords)
    }
}

extension PerfumeSearch {
    static func both(_ a: String?, _ b: String?) -> String? {
        switch (a, b) {
        case let (a?, b?): return "(\(a)) AND (\(b))"
        default: return a ?? b
        }
    }
}
