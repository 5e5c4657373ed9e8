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
    public init(collection: String) { self.collection = collection }
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
}

extension FragranceService {
    public func search(_ input: SearchInput) throws -> SearchReply {
        guard (input.text == nil) != (input.vector == nil) else {
            throw ProtocolError(.badRequest, "give exactly one of text and vector", field: input.text == nil ? "text" : "vector")
        }
        if let text = input.text { try checkText(text, "the query text", field: "text") }
        try checkK(input.k, field: "k")
        try checkEf(input.ef)
        let c = try collection(input.collection)
        let filter = try input.filter.expression(for: c.config.schema)
        let request = input.vector.map { SearchRequest(vector: $0, k: input.k, ef: input.ef, filter: filter, exact: input.exact) }
            ?? SearchRequest(text: input.text!, k: input.k, ef: input.ef, filter: filter, exact: input.exact)
        let result = try c.search(request)
        metrics?.search(result.plan)
        let records = input.includeRecords ? try c.records(result.hits.map(\.id)) : []
        let hits = result.hits.enumerated().map { i, h in
            SearchHitBody(id: h.id, score: h.score, distance: h.distance,
                      record: input.includeRecords ? records[i].map { RecordBody(record: $0) } : nil)
        }
        return SearchReply(hits: hits, plan: input.explain ? PlanBody(result.plan) : nil)
    }
}
