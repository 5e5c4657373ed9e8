import FragranceCore
import FragranceProtocol
import FragranceStore
import Foundation

// SCROLL / `GET /api/v1/collections/{name}/records` (browse a filter in an order, a page at a
// time) and FACETS / `POST …/facets` (value counts and numeric ranges under a filter). Search
// and query take facets too (`facetBodies(_:ids:)`: counted over their hits).

public struct BrowseInput: Sendable {
    public var collection: String
    public var filter = FilterInput.none
    /// `rating:desc`, `-year`, `name`, `id` (the default).
    public var order: String?
    /// The `next` of the previous page.
    public var after: String?
    public var limit = 20
    public var fields: [String]?
    public var facets: [String] = []
    public var facetSize = 10
    public init(collection: String) { self.collection = collection }
}

public struct FacetsInput: Sendable {
    public var collection: String
    public var filter = FilterInput.none
    public var fields: [String] = []
    public var size = 10
    public init(collection: String) { self.collection = collection }
}

public struct FacetBody: Encodable, Sendable {
    struct Value: Encodable, Sendable { var value: String, count: Int }
    struct Range: Encodable, Sendable { var from: Double, to: Double, count: Int }
    var field: String
    var values: [Value]?
    var others: Int?
    var ranges: [Range]?
    var min: Double?, max: Double?, mean: Double?
    var missing: Int

    init(_ f: FacetCounts) {
        field = f.field
        values = f.values?.map { Value(value: $0.value, count: $0.count) }
        others = f.others
        ranges = f.ranges?.map { Range(from: $0.from, to: $0.to, count: $0.count) }
        (min, max, mean) = (f.stats?.min, f.stats?.max, f.stats?.mean)
        missing = f.missing
    }
}

public struct BrowseReply: Encodable, Sendable {
    var records: [RecordBody]
    /// Records the filter allows, over all pages.
    var count: Int
    /// Pass as `after` for the next page; null on the last.
    @Nullable var next: String?
    var facets: [FacetBody]?
}

public struct FacetsReply: Encodable, Sendable {
    var count: Int
    var facets: [FacetBody]
}

extension FragranceService {
    public func browse(_ input: BrowseInput) throws -> BrowseReply {
        try checkK(input.limit, field: "limit")
        let c = try collection(input.collection)
        let filter = try input.filter.expression(for: c.config.schema)
        let order = try input.order.map { try BrowseOrder(parsing: $0) } ?? .byId
        let project = try projection(input.fields, c)
        let facets = try facetRequests(input.facets, size: input.facetSize)
        let page = try c.browse(filter: filter, order: order, after: input.after, limit: input.limit)
        let counted = facets.isEmpty ? nil : try c.facets(facets, filter: filter).facets.map(FacetBody.init)
        return BrowseReply(records: page.records.map { project(RecordBody(record: $0)) }, count: page.total, next: page.next, facets: counted)
    }

    public func facets(_ input: FacetsInput) throws -> FacetsReply {
        guard !input.fields.isEmpty else { throw ProtocolError(.missingField, "name the fields to count, e.g. [\"family\", \"year:10\"]", field: "fields") }
        let c = try collection(input.collection)
        let filter = try input.filter.expression(for: c.config.schema)
        let (total, counts) = try c.facets(try facetRequests(input.fields, size: input.size), filter: filter)
        return FacetsReply(count: total, facets: counts.map(FacetBody.init))
    }

    /// At most 20 facets of at most `facet_size` (1…100) values each.
    func facetRequests(_ specs: [String], size: Int) throws -> [FacetRequest] {
        guard (1...100).contains(size) else { throw ProtocolError(.outOfRange, "facet_size must be from 1 to 100, got \(size)", field: "facet_size") }
        guard specs.count <= 20 else { throw ProtocolError(.tooLarge, "at most 20 facets per request, got \(specs.count)", field: "facets") }
        return try specs.map { try FacetRequest(parsing: $0, size: size) }
    }

    /// Facets over a search's hits.
    func facetBodies(_ specs: [String], size: Int, ids: [String], in c: FragranceStore.Collection) throws -> [FacetBody]? {
        guard !specs.isEmpty else { return nil }
        return try c.facets(try facetRequests(specs, size: size), ids: ids).map(FacetBody.init)
    }

    /// A record cut down to `fields` (all of them when nil); unknown names are refused.
    func projection(_ fields: [String]?, _ c: FragranceStore.Collection) throws -> @Sendable (RecordBody) -> RecordBody {
        guard let fields else { return { $0 } }
        let schema = c.config.schema
        for f in fields where f != "id" && schema.field(f) == nil {
            throw ProtocolError(.unknownField, "unknown field '\(f)' in fields\(suggestion(f, among: schema.fields.map(\.name)))", field: "fields")
        }
        let keep = Set(fields)
        return { body in
            var b = body
            b.record.attributes = b.record.attributes.filter { keep.contains($0.key) }
            return b
        }
    }
}

/// ` (did you mean 'x'?)` or "".
func suggestion(_ name: String, among names: [String]) -> String {
    closestName(name, among: names).map { " (did you mean '\($0)'?)" } ?? ""
}
