import FragranceCore
import FragranceProtocol
import FragranceStore
import Foundation
import Hummingbird
import NIOCore
import Perfumery
import RAG

// Request bodies into the service's typed inputs, and the handlers with more to do than one call.
extension HTTPAPI {
    /// `POST /api/v1/search/semantic` and `/hybrid`: the seed's request shape.
    func queryInput(_ buffer: ByteBuffer, hybrid: Bool) throws -> QueryInput {
        let body = try JSONBody(buffer, allowed: Set(["query", "vector", "top_k", "search_type", "filters", "filter", "collection", "ef", "explain",
                                                      "exact", "understand", "fusion", "rrf_k", "weights", "candidates", "include_records",
                                                      "quality_prior", "collapse", "diversity"]).union(JSONBody.pagingKeys))
        var q = QueryInput()
        q.vector = try body.floats("vector")
        q.text = try body.string("query", required: q.vector == nil)
        q.k = try body.int("top_k") ?? 10
        q.ef = try body.int("ef")
        q.explain = try body.bool("explain") ?? hybrid
        q.exact = try body.bool("exact") ?? false
        q.understand = try body.bool("understand") ?? true
        q.candidates = try body.int("candidates")
        q.includeRecords = try body.bool("include_records") ?? true
        q.collapse = try body.bool("collapse")
        if body.has("quality_prior") {
            guard let n = body.object["quality_prior"] as? NSNumber, !isJSONBool(n), n.doubleValue.isFinite else {
                throw APIError(.badType, "'quality_prior' must be a number from 0 to 1", field: "quality_prior")
            }
            q.qualityPrior = n.doubleValue
        }
        if body.has("diversity") {
            guard let n = body.object["diversity"] as? NSNumber, !isJSONBool(n), n.doubleValue.isFinite else {
                throw APIError(.badType, "'diversity' must be a number from 0 to 1 (MMR's lambda)", field: "diversity")
            }
            q.diversity = n.doubleValue
        }
        q.paging = try body.paging()
        q.collection = try body.string("collection")
        q.filter = try body.filterInput()
        let searchType = try body.string("search_type") ?? (hybrid ? "hybrid" : "similarity")
        guard let mode = PerfumeSearch.Mode(rawValue: searchType) else {
            throw APIError(.badValue, "search_type must be similarity, keyword or hybrid, got '\(searchType)'", field: "search_type")
        }
        q.mode = mode
        switch try body.string("fusion") ?? "rrf" {
        case "rrf": q.fusion = .reciprocalRank(k: Double(try body.int("rrf_k", in: 1...100_000) ?? 60))
        case "linear": q.fusion = .linear
        case let other: throw APIError(.badValue, "fusion must be rrf or linear, got '\(other)'", field: "fusion")
        }
        if body.has("weights") {
            guard let w = body.object["weights"] as? [String: Any] else { throw APIError(.badType, "'weights' must be an object", field: "weights") }
            for (key, value) in w {
                guard let n = value as? NSNumber, !isJSONBool(n), n.doubleValue.isFinite, (0...100).contains(n.doubleValue) else {
                    throw APIError(.badValue, "weights.\(key) must be a number from 0 to 100", field: "weights.\(key)")
                }
                switch key {
                case "vector": q.vectorWeight = n.doubleValue
                case "keyword": q.keywordWeight = n.doubleValue
                case "preference": q.preferenceWeight = n.doubleValue
                default: throw APIError(.unknownField, "unknown weight '\(key)' (known: keyword, preference, vector)", field: "weights.\(key)")
                }
            }
        }
        return q
    }

    /// `POST /api/v1/collections/{name}/search`: the store's own search, text or vector, in the
    /// one search shape every route answers with (`SearchResults`). `query`/`top_k` (the seed
    /// routes' names) are taken for `text`/`k`.
    func searchInput(_ name: String, _ buffer: ByteBuffer) throws -> QueryInput {
        let body = try JSONBody(buffer, allowed: Set(["text", "query", "vector", "filter", "filters", "k", "top_k", "ef", "exact", "explain",
                                                      "include_records"]).union(JSONBody.pagingKeys))
        for (a, b) in [("text", "query"), ("k", "top_k")] where body.has(a) && body.has(b) {
            throw APIError(.badRequest, "give '\(a)' or '\(b)', not both (they are the same)", field: b)
        }
        var q = QueryInput()
        q.collection = name
        q.measuredAs = "search"
        q.vector = try body.floats("vector")
        q.text = try body.string("text") ?? body.string("query")
        guard (q.text == nil) != (q.vector == nil) else {
            throw APIError(.badRequest, "give exactly one of text and vector", field: q.text == nil ? "text" : "vector")
        }
        q.k = try body.int("k") ?? body.int("top_k") ?? 10
        q.ef = try body.int("ef")
        q.exact = try body.bool("exact") ?? false
        q.explain = try body.bool("explain") ?? false
        q.includeRecords = try body.bool("include_records") ?? false
        q.filter = try body.filterInput()
        q.paging = try body.paging()
        q.mode = .similarity
        q.understand = false   // the plain vector search; /api/v1/search/* read the text
        return q
    }

    /// `POST /api/v1/collections/{name}/search/batch`: MSEARCH's operation.
    func multiSearchInput(_ name: String, _ buffer: ByteBuffer) throws -> MultiSearchInput {
        let body = try JSONBody(buffer, allowed: ["vectors", "k", "ef", "exact", "filter", "filters"])
        var input = MultiSearchInput(collection: name, vectors: try body.vectors("vectors"))
        input.k = try body.int("k") ?? 10
        input.ef = try body.int("ef")
        input.exact = try body.bool("exact") ?? false
        input.filter = try body.filterInput()
        return input
    }

    /// `GET /api/v1/collections/{name}/records?filter=&order=&after=&limit=&fields=&facets=&facet_size=`
    /// (lists comma-separated; Hummingbird has percent-decoded the values).
    func browseInput(_ name: String, _ request: Request) throws -> BrowseInput {
        let query = QueryForm(request.uri.query)
        let known: Set<String> = ["filter", "order", "after", "limit", "fields", "facets", "facet_size"]
        if let unknown = query.keys.sorted().first(where: { !known.contains($0) }) {
            throw APIError(.unknownField, "unknown query parameter '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))", field: unknown)
        }
        func integer(_ k: String) throws -> Int? {
            guard let v = query[k] else { return nil }
            guard let n = Int(v) else { throw APIError(.badType, "'\(k)' must be an integer, got '\(v)'", field: k) }
            return n
        }
        func list(_ k: String) -> [String]? {
            query[k].map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        }
        var b = BrowseInput(collection: name)
        b.filter = FilterInput(text: query["filter"])
        b.order = query["order"]
        b.after = query["after"]
        b.limit = try integer("limit") ?? 20
        b.fields = list("fields")
        b.facets = list("facets") ?? []
        b.facetSize = try integer("facet_size") ?? 10
        return b
    }

    /// JSON (one record or an array; all or none), or NDJSON (`Content-Type:
    /// application/x-ndjson`, one record per line) for bulk loads: item by item, each line
    /// answered with its result or its error (`?atomic=true`: every line checked first, then
    /// all or none, errors naming the line).
    func upsert(_ request: Request, _ context: APIContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let buffer = try await body(request)
        let ndjson = request.headers[.contentType]?.lowercased().contains("ndjson") ?? false
        guard ndjson else {
            guard let text = String(bytes: buffer.readableBytesView, encoding: .utf8) else { throw APIError(.badJSON, "the body is not UTF-8") }
            let records = try Record.decodeList(json: text)
            return try await reply { try self.service.upsert(name, records) }
        }
        let atomic: Bool
        switch QueryForm(request.uri.query)["atomic"] {
        case nil, "false", "0": atomic = false
        case "true", "1": atomic = true
        case let other?: throw APIError(.badValue, "atomic must be true or false, got '\(other)'", field: "atomic")
        }
        var items: [BulkItem] = []
        var lineNumber = 0
        for line in buffer.readableBytesView.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            guard line.contains(where: { $0 != 0x20 && $0 != 0x0D && $0 != 0x09 }) else { continue }
            var id: String?
            let parsed: Result<Record, ProtocolError>
            do {
                let object = try StrictJSON.parse(Data(line))
                id = (object as? [String: Any])?["id"] as? String
                parsed = .success(try Record(jsonObject: object))
            } catch let e as StoreError {
                parsed = .failure(ProtocolError(e.code, "line \(lineNumber): \(e.message)"))
            } catch let e as ProtocolError {
                parsed = .failure(ProtocolError(e.code, "line \(lineNumber): \(e.message)", field: e.field))
            } catch {
                parsed = .failure(ProtocolError(.badJSON, "line \(lineNumber): not valid JSON (\(JSONBody.reason(error)))"))
            }
            if atomic, case .failure(let e) = parsed { throw APIError(e) }
            items.append(BulkItem(line: lineNumber, id: id, record: parsed))
        }
        let list = items
        if atomic {
            let records = list.compactMap { try? $0.record.get() }
            return try await reply { try self.service.upsert(name, records, bulk: true) }
        }
        return try await reply { try self.service.upsertItems(name, list) }
    }

    /// Up to 32 recipe requests; one result or one error per item, in order. The pool bounds
    /// how many compose at once.
    func generateBatch(_ request: Request) async throws -> Response {
        let body = try JSONBody(try await self.body(request), allowed: ["requests"])
        guard let list = body.object["requests"] as? [Any], !list.isEmpty else {
            throw APIError(.badType, "'requests' must be a non-empty array of recipe requests", field: "requests")
        }
        guard list.count <= 32 else { throw APIError(.tooLarge, "at most 32 requests per batch, got \(list.count)", field: "requests") }
        // Decoded up front (cheap); a bad item becomes that item's error, not the batch's.
        let decoded: [Result<RecipeRequest, ProtocolError>] = list.enumerated().map { i, item in
            guard let o = item as? [String: Any] else { return .failure(ProtocolError(.badType, "each request must be an object", field: "requests[\(i)]")) }
            do { return .success(try RecipeJSON.request(o, field: "requests[\(i)]")) } catch { return .failure(service.failure(error)) }
        }
        struct Item: Encodable, Sendable {
            var reply: RecipeReply?
            var error: APIError.Body.Detail?
            enum Key: String, CodingKey { case error }
            func encode(to encoder: Encoder) throws {
                if let reply { try reply.encode(to: encoder) } else {
                    var c = encoder.container(keyedBy: Key.self)
                    try c.encode(error, forKey: .error)
                }
            }
        }
        struct Batch: Encodable, Sendable { var results: [Item], count: Int }
        let results = await withTaskGroup(of: (Int, Item).self) { group -> [Item] in
            for (i, d) in decoded.enumerated() {
                group.addTask {
                    do {
                        let request = try d.get()
                        return (i, Item(reply: try await self.service.generate(request, blocking: { work in try await self.pool.runIfActive(work) })))
                    } catch {
                        let e = self.service.failure(error)
                        return (i, Item(error: .init(code: e.code.rawValue, message: e.message, field: e.field)))
                    }
                }
            }
            var out = [Item](repeating: Item(), count: decoded.count)
            for await (i, item) in group { out[i] = item }
            return out
        }
        return JSONReply(Batch(results: results, count: results.count)).response()
    }

    func readiness() -> Response {
        struct ModelState: Encodable, Sendable {
            var loaded: Bool
            @Nullable var lastError: String?
            enum CodingKeys: String, CodingKey { case loaded, lastError = "last_error" }
        }
        struct Readiness: Encodable, Sendable {
            var status: String, storage: String, collections: Int
            var model: ModelState?
            var modelNote: String?
            var catalogue: CatalogueLoader.Report?
            enum CodingKeys: String, CodingKey { case status, storage, collections, model, catalogue }
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(status, forKey: .status)
                try c.encode(storage, forKey: .storage)
                try c.encode(collections, forKey: .collections)
                if let model { try c.encode(model, forKey: .model) } else { try c.encode(modelNote ?? "not configured", forKey: .model) }
                try c.encodeIfPresent(catalogue, forKey: .catalogue)
            }
        }
        let model = database.options.models?.stats
        let (loading, status) = catalogue()
        let lagging = service.replicaNotReady()
        let ok = ready() && model?.lastError == nil && !loading && lagging == nil
        let r = Readiness(status: ok ? "ready" : loading ? "loading the bundled catalogue" : lagging ?? "not ready", storage: ready() ? "open" : "closing",
                          collections: database.collectionNames.count, model: model.map { ModelState(loaded: $0.loaded, lastError: $0.lastError) },
                          catalogue: status)
        return JSONReply(r, status: ok ? .ok : .serviceUnavailable).response()
    }
}
