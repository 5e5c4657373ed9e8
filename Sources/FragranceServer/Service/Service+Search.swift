import FragranceProtocol
import FragranceStore
import Foundation

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
