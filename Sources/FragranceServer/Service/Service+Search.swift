import FragranceProtocol
import FragranceStore
import Foundation
import Synchronization

// SEARCH and `POST /api/v1/collections/{name}/search`: the store's own nearest-neighbour
// search, by text (embedded) or by vector.

public struct SearchInput: Sendable {
    public var collection: String
    public var text: String?
    public var vector: [Float]?
    public var filter = FilterInput.none
    public var k = 10
    public var ef: Int?
    public var exact = false
    public var explain = false
    public var includeRecords = false
    public var paging = SearchPaging()
    /// The operation /metrics counts it as: "query" when QUERY answers with the plain search.
    var measuredAs = "search"
    public init(collection: String) { self.collection = collection }
}

/// What SEARCH and QUERY share beyond k: skip the first `offset` hits (offset + k at most
/// `limits.max_k`; deeper pages are a browse), drop hits under `scoreThreshold` or over
/// `maxDistance`, records cut down to `fields` (which implies records), facets over the hits.
public struct SearchPaging: Sendable {
    public var offset = 0
    public var scoreThreshold: Double?
    public var maxDistance: Double?
    public var fields: [String]?
    public var facets: [String] = []
    public var facetSize = 10
    public init() {}
}

public struct SearchHitBody: Encodable, Sendable {
    public var id: String
    /// The metric's similarity (1 − distance for cosine).
    public var score: Float
    public var distance: Float
    public var record: RecordBody?
}

public struct SearchReply: Encodable, Sendable {
    public var hits: [SearchHitBody]
    /// With `explain`.
    public var plan: PlanBody?
    /// With `facets`: counted over the hits.
    public var facets: [FacetBody]?
}

extension FragranceService {
    public func search(_ input: SearchInput) throws -> SearchReply {
        guard (input.text == nil) != (input.vector == nil) else {
            throw ProtocolError(.badRequest, "give exactly one of text and vector", field: input.text == nil ? "text" : "vector")
        }
        if let text = input.text { try checkText(text, "the query text", field: "text") }
        try checkK(input.k, field: "k")
        try checkEf(input.ef)
        let fetch = try checkPaging(input.paging, k: input.k, kField: "k")
        let c = try collection(input.collection)
        let filter = try input.filter.expression(for: c.config.schema)
        let project = try projection(input.paging.fields, c)
        let request = input.vector.map { SearchRequest(vector: $0, k: fetch, ef: input.ef, filter: filter, exact: input.exact) }
            ?? SearchRequest(text: input.text!, k: fetch, ef: input.ef, filter: filter, exact: input.exact)
        let start = StageTimes.now
        let result = try c.search(request)
        metrics?.search(result.plan, collection: c.config.name)
        var stages = StageTimes()
        if input.vector != nil { stages.vector = StageTimes.since(start) }   // with text, embedding and search are one call
        metrics?.searched(collection: c.config.name, operation: input.measuredAs, seconds: StageTimes.since(start), stages: stages)
        let paging = input.paging
        let kept = result.hits.dropFirst(paging.offset).filter { hit in
            (paging.scoreThreshold.map { Double(hit.score) >= $0 } ?? true) && (paging.maxDistance.map { Double(hit.distance) <= $0 } ?? true)
        }
        let withRecords = input.includeRecords || paging.fields != nil
        let records = withRecords ? try c.records(kept.map(\.id)) : []
        let hits = kept.enumerated().map { i, h in
            SearchHitBody(id: h.id, score: h.score, distance: h.distance,
                          record: withRecords ? records[i].map { project(RecordBody(record: $0)) } : nil)
        }
        return SearchReply(hits: hits, plan: input.explain ? PlanBody(result.plan) : nil,
                           facets: try facetBodies(paging.facets, size: paging.facetSize, ids: hits.map(\.id), in: c))
    }

    /// Checks paging against the limits; returns how many hits to fetch (offset + k).
    func checkPaging(_ p: SearchPaging, k: Int, kField: String) throws -> Int {
        guard p.offset >= 0 else { throw ProtocolError(.outOfRange, "offset must be 0 or more, got \(p.offset)", field: "offset") }
        guard p.offset + k <= limits.maxK else {
            throw ProtocolError(.tooLarge, "offset \(p.offset) + \(kField) \(k) is over the limit of \(limits.maxK) (limits.max_k); page deeper with a browse (SCROLL, GET …/records) and a cursor", field: "offset")
        }
        for (name, v) in [("score_threshold", p.scoreThreshold), ("max_distance", p.maxDistance)] {
            if let v, !v.isFinite { throw ProtocolError(.badValue, "\(name) must be a finite number", field: name) }
        }
        _ = try facetRequests(p.facets, size: p.facetSize)
        return p.offset + k
    }
}

/// MSEARCH and POST …/search/batch: many vector searches under one filter and k, answered
/// together, in the order given (issue #23).
public struct MultiSearchInput: Sendable {
    public enum Vectors: Sendable {
        case lists([[Float]])
        /// Every query's components one after another; the collection's dimension splits them.
        case packed([Float])
    }
    public var collection: String
    public var vectors: Vectors
    public var filter = FilterInput.none
    public var k = 10
    public var ef: Int?
    public var exact = false
    public init(collection: String, vectors: Vectors) {
        self.collection = collection
        self.vectors = vectors
    }
}

public struct MultiSearchReply: Encodable, Sendable {
    /// One list of hits per query, nearest first.
    public var results: [[SearchHitBody]]
    public var tookMs: Double
    enum CodingKeys: String, CodingKey { case results, tookMs = "took_ms" }
}

extension FragranceService {
    public func multiSearch(_ input: MultiSearchInput) throws -> MultiSearchReply {
        let start = StageTimes.now
        try checkK(input.k, field: "k")
        try checkEf(input.ef)
        let c = try collection(input.collection)
        let dimension = c.config.dimension
        let queries: [[Float]]
        switch input.vectors {
        case .lists(let lists): queries = lists
        case .packed(let flat):
            guard flat.count % dimension == 0 else {
                throw ProtocolError(.dimensionMismatch, "\(flat.count) components are not whole queries of \(dimension) dimensions", field: "vectors")
            }
            queries = stride(from: 0, to: flat.count, by: dimension).map { Array(flat[$0..<$0 + dimension]) }
        }
        guard !queries.isEmpty else { throw ProtocolError(.missingField, "give at least one query vector", field: "vectors") }
        try checkBatch(queries.count, "query vectors")
        if let bad = queries.firstIndex(where: { $0.count != dimension }) {
            throw ProtocolError(.dimensionMismatch, "query \(bad + 1) has \(queries[bad].count) dimensions, the collection \(dimension)", field: "vectors")
        }
        let filter = try input.filter.expression(for: c.config.schema)
        // Spread over the cores: each worker takes every n-th query (searches only read).
        let workers = min(queries.count, max(1, ProcessInfo.processInfo.activeProcessorCount))
        let slots = Mutex([SearchResult?](repeating: nil, count: queries.count))
        let failure = Mutex<Error?>(nil)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in stride(from: w, to: queries.count, by: workers) {
                guard failure.withLock({ $0 == nil }) else { return }
                do {
                    let r = try c.search(SearchRequest(vector: queries[i], k: input.k, ef: input.ef, filter: filter, exact: input.exact))
                    slots.withLock { $0[i] = r }
                } catch {
                    failure.withLock { if $0 == nil { $0 = error } }
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        let results = slots.withLock { $0 }.map { r -> [SearchHitBody] in
            guard let r else { return [] }
            metrics?.search(r.plan, collection: c.config.name)
            return r.hits.map { SearchHitBody(id: $0.id, score: $0.score, distance: $0.distance) }
        }
        let seconds = StageTimes.since(start)
        metrics?.searched(collection: c.config.name, operation: "msearch", seconds: seconds)
        return MultiSearchReply(results: results, tookMs: seconds * 1000)
    }
}
