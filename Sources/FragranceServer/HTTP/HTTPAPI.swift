import FragranceProtocol
import FragranceStore
import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import Perfumery
import RAG

/// The HTTP/JSON API (schemas/openapi.yaml is its contract). Each route names the least role
/// it needs; storage work runs on a thread pool, never on an event loop or Swift's
/// cooperative threads.
public struct HTTPAPI: Sendable {
    public struct Route: Sendable {
        public var method: HTTPRequest.Method
        public var path: String           // OpenAPI form: /api/v1/collections/{name}
        public var role: Role?
        var handler: @Sendable (HTTPAPI, Request, APIContext) async throws -> Response
    }

    let database: Database
    let router: CommandRouter          // the line protocol's table: shared helpers and limits
    let access: AccessControl
    let perKey: RateLimiter
    let perAddress: RateLimiter
    let metrics: ServerMetrics
    let pool: NIOThreadPool
    let configuration: ServerConfiguration
    let reload: @Sendable () async throws -> String
    let ready: @Sendable () -> Bool
    let catalogue: @Sendable () -> (loading: Bool, status: [String: Any]?)
    let recipes: RecipeGenerator?

    public init(database: Database, router: CommandRouter, access: AccessControl, perKey: RateLimiter, perAddress: RateLimiter,
                metrics: ServerMetrics, pool: NIOThreadPool, configuration: ServerConfiguration,
                reload: @escaping @Sendable () async throws -> String = { "nothing to reload" },
                ready: @escaping @Sendable () -> Bool = { true },
                catalogue: @escaping @Sendable () -> (loading: Bool, status: [String: Any]?) = { (false, nil) },
                recipes: RecipeGenerator? = nil) {
        self.database = database
        self.router = router
        self.access = access
        self.perKey = perKey
        self.perAddress = perAddress
        self.metrics = metrics
        self.pool = pool
        self.configuration = configuration
        self.reload = reload
        self.ready = ready
        self.catalogue = catalogue
        self.recipes = recipes
    }

    var limits: CommandRouter.Limits { router.limits }

    // MARK: Routes

    public static let routes: [Route] = [
        Route(method: .get, path: "/health", role: nil) { _, _, _ in JSONReply(["status": "ok"]).response() },
        Route(method: .get, path: "/ready", role: nil) { api, _, _ in try await api.readiness() },
        Route(method: .get, path: "/metrics", role: nil) { api, _, ctx in
            // It names collections and their sizes: a key is needed unless configured public.
            if !api.configuration.publicMetrics { try api.require(.read, ctx) }
            let text = try await api.pool.runIfActive { api.metrics.render(database: api.database, breaker: api.recipes?.llm?.breaker) }
            var h = HTTPFields()
            h[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(string: text)))
        },
        Route(method: .get, path: "/openapi.json", role: nil) { _, _, _ in
            var h = HTTPFields()
            h[.contentType] = "application/json; charset=utf-8"
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: try APIDocument.shared.json)))
        },
        Route(method: .get, path: "/docs", role: nil) { _, _, _ in
            var h = HTTPFields()
            h[.contentType] = "text/html; charset=utf-8"
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(string: try APIDocument.shared.html)))
        },
        Route(method: .post, path: "/api/v1/search/semantic", role: .read) { api, req, ctx in try await api.seedSearch(req, ctx, hybrid: false) },
        Route(method: .post, path: "/api/v1/search/hybrid", role: .read) { api, req, ctx in try await api.seedSearch(req, ctx, hybrid: true) },
        Route(method: .post, path: "/api/v1/generate/recipe", role: .read) { api, req, _ in
            let body = try JSONBody(try await api.body(req), allowed: RecipeAPI.requestFields)
            let request = try RecipeAPI.request(body.object, field: nil)
            let generator = try api.recipeGenerator()
            return JSONReply(try await RecipeAPI.generate(generator, request, pool: api.pool)).response()
        },
        Route(method: .post, path: "/api/v1/generate/batch", role: .read) { api, req, _ in
            let body = try JSONBody(try await api.body(req), allowed: ["requests"])
            guard let list = body.object["requests"] as? [Any], !list.isEmpty else {
                throw APIError(.badRequest, .badType, "'requests' must be a non-empty array of recipe requests", field: "requests")
            }
            guard list.count <= 32 else { throw APIError(.contentTooLarge, .tooLarge, "at most 32 requests per batch, got \(list.count)", field: "requests") }
            let generator = try api.recipeGenerator()
            // One result or one error per item; the pool bounds how many run at once.
            let items = list.map(SendableAny.init)
            let results = try await withThrowingTaskGroup(of: (Int, SendableJSON).self) { group -> [[String: Any]] in
                for (i, wrapped) in items.enumerated() {
                    group.addTask {
                        let item = wrapped.value
                        do {
                            guard let o = item as? [String: Any] else { throw APIError(.badRequest, .badType, "each request must be an object", field: "requests[\(i)]") }
                            if let unknown = o.keys.sorted().first(where: { !RecipeAPI.requestFields.contains($0) }) {
                                throw APIError(.badRequest, .unknownField, "unknown field '\(unknown)'", field: "requests[\(i)].\(unknown)")
                            }
                            let request = try RecipeAPI.request(o, field: "requests[\(i)]")
                            return (i, SendableJSON(try await RecipeAPI.generate(generator, request, pool: api.pool)))
                        } catch {
                            let e = APIError.from(error)
                            var err: [String: Any] = ["code": e.code.rawValue, "message": e.message]
                            if let f = e.field { err["field"] = f }
                            return (i, SendableJSON(["error": err]))
                        }
                    }
                }
                var out = [[String: Any]](repeating: [:], count: items.count)
                for try await (i, r) in group { out[i] = r.value }
                return out
            }
            return JSONReply(["results": results, "count": results.count]).response()
        },
        Route(method: .post, path: "/api/v1/recipes/validate", role: .read) { api, req, _ in
            let buffer = try await api.body(req)
            guard let o = try StrictJSON.parse(Data(buffer.readableBytesView)) as? [String: Any] else {
                throw APIError(.badRequest, .badJSON, "the body must be a recipe object: {\"concentration\": \"EdP\", \"top\": [{\"name\": …, \"percent\": …}], \"heart\": […], \"base\": […]}")
            }
            let recipe = try RecipeAPI.recipe(o)
            let generator = try api.recipeGenerator()
            return try await api.json { ["validation": RecipeAPI.json(try generator.validate(recipe))] }
        },
        Route(method: .get, path: "/api/v1/circuit-breaker/status", role: .read) { api, _, _ in
            guard let llm = api.recipes?.llm else {
                return JSONReply(["configured": false, "state": "closed", "message": "no LLM is configured (llm.url); recipes come from the composer"]).response()
            }
            let s = llm.breaker.status, cfg = llm.breaker.settings, client = llm.client.settings
            return JSONReply(["configured": true, "state": s.state.rawValue, "consecutive_failures": s.consecutiveFailures,
                              "half_open_successes": s.halfOpenSuccesses, "total_successes": s.totalSuccesses, "total_failures": s.totalFailures,
                              "rejected": s.rejected, "opened_at": s.openedAt.map { ISO8601DateFormatter().string(from: $0) } ?? NSNull(),
                              "last_error": s.lastError ?? NSNull(),
                              "settings": ["failure_threshold": cfg.failureThreshold, "open_seconds": cfg.openSeconds, "half_open_successes": cfg.halfOpenSuccesses],
                              "backend": ["url": client.baseURL, "api": client.api.rawValue, "model": client.model, "roles": client.roles]] as [String: Any]).response()
        },
        Route(method: .get, path: "/api/v1/info", role: .read) { api, _, _ in
            try await api.json { api.router.info() }
        },
        Route(method: .get, path: "/api/v1/collections", role: .read) { api, _, _ in
            try await api.json { ["collections": try api.router.collectionList()] }
        },
        Route(method: .post, path: "/api/v1/collections", role: .write) { api, req, ctx in try await api.createCollection(req, ctx) },
        Route(method: .get, path: "/api/v1/collections/{name}", role: .read) { api, _, ctx in
            let name = try ctx.parameters.require("name")
            return try await api.json { api.router.collectionInfo(try api.database.collection(name)) }
        },
        Route(method: .delete, path: "/api/v1/collections/{name}", role: .admin) { api, _, ctx in
            let name = try ctx.parameters.require("name")
            try await api.pool.runIfActive { try api.database.dropCollection(name) }
            return JSONReply(["dropped": name]).response()
        },
        Route(method: .post, path: "/api/v1/collections/{name}/records", role: .write) { api, req, ctx in try await api.upsert(req, ctx) },
        Route(method: .get, path: "/api/v1/collections/{name}/records/{id}", role: .read) { api, req, ctx in
            let name = try ctx.parameters.require("name"), id = try ctx.parameters.require("id")
            let withVector = req.uri.queryParameters["vector"].map { $0 == "true" || $0 == "1" } ?? false
            return try await api.json {
                let c = try api.database.collection(name)
                guard let r = try c.get(id) else { throw StoreError(.notFound, "no record '\(id)' in '\(name)'") }
                return r.jsonObject(includeVector: withVector)
            }
        },
        Route(method: .delete, path: "/api/v1/collections/{name}/records/{id}", role: .write) { api, _, ctx in
            let name = try ctx.parameters.require("name"), id = try ctx.parameters.require("id")
            let n = try await api.pool.runIfActive { try api.database.collection(name).delete([id]) }
            guard n == 1 else { throw StoreError(.notFound, "no record '\(id)' in '\(name)'") }
            return JSONReply(["deleted": n]).response()
        },
        Route(method: .post, path: "/api/v1/collections/{name}/count", role: .read) { api, req, ctx in try await api.count(req, ctx) },
        Route(method: .post, path: "/api/v1/collections/{name}/search", role: .read) { api, req, ctx in try await api.collectionSearch(req, ctx) },
        Route(method: .post, path: "/api/v1/collections/{name}/snapshot", role: .admin) { api, _, ctx in
            let name = try ctx.parameters.require("name")
            let file = try await api.pool.runIfActive { try api.router.writeSnapshot(try api.database.collection(name)) }
            return JSONReply(["file": file], status: .created).response()
        },
        Route(method: .post, path: "/api/v1/snapshots/restore", role: .admin) { api, req, ctx in
            let body = try JSONBody(try await api.body(req), allowed: ["file", "as"])
            let file = try body.string("file", required: true)!
            let target = try body.string("as")
            let c = try await api.pool.runIfActive { try api.router.restoreSnapshot(named: file, as: target) }
            return JSONReply(["restored": c.config.name, "records": c.count], status: .created).response()
        },
        Route(method: .post, path: "/api/v1/admin/reload", role: .admin) { api, _, _ in
            JSONReply(["reloaded": try await api.reload()]).response()
        },
    ]

    func recipeGenerator() throws -> RecipeGenerator {
        guard let recipes else { throw APIError(.serviceUnavailable, .unavailable, "recipe generation is not configured on this server") }
        return recipes
    }

    /// The Hummingbird router with every route, each wrapped in role checks, error rendering
    /// and per-route metrics.
    public func makeRouter() -> Router<APIContext> {
        let r = Router(context: APIContext.self)
        for route in Self.routes {
            let pattern = route.path.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: "")
            r.on(RouterPath(pattern), method: route.method) { request, context -> Response in
                let start = DispatchTime.now().uptimeNanoseconds
                var response: Response
                do {
                    try self.require(route.role, context)
                    response = try await route.handler(self, request, context)
                } catch {
                    response = APIError.from(error, database: self.database).response()
                }
                self.metrics.httpRequest(route: route.path, method: route.method.rawValue, status: Int(response.status.code),
                                         nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
                return response
            }
        }
        return r
    }

    func require(_ role: Role?, _ context: APIContext) throws {
        guard let role else { return }
        if access.isOpen { return }
        guard let p = context.principal else {
            var e = APIError(.unauthorized, .notAuthenticated, "this route needs an API key or token: send 'Authorization: Bearer <token>'")
            e.headers[.wwwAuthenticate] = "Bearer"
            throw e
        }
        guard p.role >= role else { throw APIError(.forbidden, .forbidden, "this route needs the \(role) role; the token has \(p.role)") }
    }

    func body(_ request: Request) async throws -> ByteBuffer {
        var request = request
        let limit = configuration.httpMaxBodyBytes
        let tooLarge = APIError(.contentTooLarge, .tooLarge, "the body is over the limit of \(limit) bytes")
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit { throw tooLarge }
        do { return try await request.collectBody(upTo: limit) }
        catch is NIOTooManyBytesError { throw tooLarge }
        catch let e as HTTPError where e.status == .contentTooLarge { throw tooLarge }
    }

    // MARK: Handlers

    /// Runs storage work on the pool and encodes its JSON there too.
    func json(status: HTTPResponse.Status = .ok, _ work: @escaping @Sendable () throws -> Any) async throws -> Response {
        try await pool.runIfActive { JSONReply(try work(), status: status).response() }
    }

    func readiness() async throws -> Response {
        let model = database.options.models?.stats
        var o: [String: Any] = ["storage": ready() ? "open" : "closing", "collections": database.collectionNames.count]
        if let m = model {
            o["model"] = ["loaded": m.loaded, "last_error": m.lastError ?? NSNull()] as [String: Any]
        } else {
            o["model"] = "not configured"
        }
        let (loading, status) = catalogue()
        if let status { o["catalogue"] = status }
        let ok = ready() && model?.lastError == nil && !loading
        o["status"] = ok ? "ready" : loading ? "loading the bundled catalogue" : "not ready"
        return JSONReply(o, status: ok ? .ok : .serviceUnavailable).response()
    }

    func filter(_ body: JSONBody, schema: CollectionSchema) throws -> String? {
        var parts: [String] = []
        if body.has("filters") {
            if let s = body.object["filters"] as? String { parts.append(s) }
            else if let o = body.object["filters"] as? [String: Any] {
                if let e = try FilterObject.expression(o, schema: schema) { parts.append(e) }
            } else {
                throw APIError(.badRequest, .badType, "'filters' must be an object ({\"family\": \"floral\"}) or a filter string", field: "filters")
            }
        }
        if let s = try body.string("filter"), !s.trimmingCharacters(in: .whitespaces).isEmpty { parts.append(s) }
        switch parts.count {
        case 0: return nil
        case 1: return parts[0]
        default: return parts.map { "(\($0))" }.joined(separator: " AND ")
        }
    }

    /// `POST /api/v1/search/semantic` and `/hybrid`: the seed's request shape, answered with
    /// ranked records (attributes included) and scores. Free text is understood (English or
    /// Korean: soft preferences, exclusions, years, "like <perfume>") unless `understand` is
    /// false; `search_type` picks the arms (similarity: vector; keyword: BM25; hybrid: both).
    func seedSearch(_ request: Request, _ context: APIContext, hybrid: Bool) async throws -> Response {
        let allowed: Set<String> = ["query", "vector", "top_k", "search_type", "filters", "filter", "collection", "ef", "explain", "exact",
                                    "understand", "fusion", "rrf_k", "weights", "candidates"]
        let body = try JSONBody(try await self.body(request), allowed: allowed)
        let vector = try body.floats("vector")
        let query = try body.string("query", required: vector == nil, maxLength: limits.maxQueryLength)
        let topK = try body.int("top_k", in: 1...limits.maxK) ?? 10
        let ef = try body.int("ef", in: 1...limits.maxEf)
        let explain = try body.bool("explain") ?? hybrid
        let exact = try body.bool("exact") ?? false
        let understand = try body.bool("understand") ?? true
        let searchType = try body.string("search_type") ?? (hybrid ? "hybrid" : "similarity")
        guard let mode = PerfumeSearch.Mode(rawValue: searchType) else {
            throw APIError(.badRequest, .badValue, "search_type must be similarity, keyword or hybrid, got '\(searchType)'", field: "search_type")
        }
        if mode == .keyword, query == nil { throw APIError(.badRequest, .missingField, "a keyword search needs 'query'", field: "query") }
        var q = PerfumeSearch.Query(text: query, vector: vector, k: topK, mode: mode)
        q.ef = ef
        q.understand = understand
        q.candidates = try body.int("candidates", in: 1...limits.maxK) ?? max(100, topK)
        switch try body.string("fusion") ?? "rrf" {
        case "rrf": q.fusion = .reciprocalRank(k: Double(try body.int("rrf_k", in: 1...100_000) ?? 60))
        case "linear": q.fusion = .linear
        case let other: throw APIError(.badRequest, .badValue, "fusion must be rrf or linear, got '\(other)'", field: "fusion")
        }
        if body.has("weights") {
            guard let w = body.object["weights"] as? [String: Any] else { throw APIError(.badRequest, .badType, "'weights' must be an object", field: "weights") }
            for (key, value) in w {
                guard let n = value as? NSNumber, !JSONBody.isBool(n), n.doubleValue.isFinite, (0...100).contains(n.doubleValue) else {
                    throw APIError(.badRequest, .badValue, "weights.\(key) must be a number from 0 to 100", field: "weights.\(key)")
                }
                switch key {
                case "vector": q.vectorWeight = n.doubleValue
                case "keyword": q.keywordWeight = n.doubleValue
                case "preference": q.preferenceWeight = n.doubleValue
                default: throw APIError(.badRequest, .unknownField, "unknown weight '\(key)' (known: keyword, preference, vector)", field: "weights.\(key)")
                }
            }
        }
        let name = try body.string("collection") ?? configuration.defaultCollection
        let start = DispatchTime.now().uptimeNanoseconds
        let options = q
        return try await json {
            var q = options
            let c = try self.database.collection(name)
            let filter = try self.filter(body, schema: c.config.schema)
            // Plain vector search (the store's own scores and its exact option) when nothing asks for more.
            if exact || (mode == .similarity && (!understand || query == nil)) {
                return try self.plainSearch(c, query: query, vector: vector, filter: filter, topK: topK, ef: ef, exact: exact,
                                            explain: explain, searchType: searchType, start: start)
            }
            q.filter = filter
            guard let search = self.router.search else { throw APIError(.serviceUnavailable, .unavailable, "query understanding is not configured") }
            let result = try search.search(q, in: c)
            if let plan = result.plan { self.metrics.search(plan) }
            let records = try c.records(result.hits.map(\.id))
            var results: [[String: Any]] = []
            for (rank, hit) in result.hits.enumerated() {
                var item: [String: Any] = ["rank": rank + 1, "id": hit.id, "score": hit.score]
                if let v = hit.vector { item["distance"] = 1 - v.score }
                if let r = records[rank] { item["record"] = HTTPAPI.attributes(r) }
                if explain {
                    var e: [String: Any] = ["fused_score": hit.score, "fused_rank": rank + 1, "matched_filter": result.filter ?? NSNull(),
                                            "matched_preferences": hit.matchedPreferences]
                    if let v = hit.vector { e["vector_score"] = v.score; e["vector_rank"] = v.rank }
                    if let k = hit.keyword { e["keyword_score"] = k.score; e["keyword_rank"] = k.rank }
                    if let p = hit.preference { e["preference_score"] = p.score; e["preference_rank"] = p.rank }
                    if let r = records[rank] {
                        let m = search.matchedTerms(r, result.parsed)
                        e["matched_notes"] = m.notes
                        e["matched_accords"] = m.accords
                    }
                    item["explain"] = e
                }
                results.append(item)
            }
            var o: [String: Any] = ["query": query ?? NSNull(), "search_type": searchType, "collection": name, "top_k": topK,
                                    "total": results.count, "results": results, "filter": result.filter ?? NSNull(), "arms": result.arms,
                                    "took_ms": Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6]
            if let parsed = result.parsed { o["parsed"] = HTTPAPI.parsedJSON(parsed, result) }
            if explain {
                if let plan = result.plan { o["plan"] = CommandRouter.planJSON(plan) }
                o["fusion"] = { if case .reciprocalRank(let k) = q.fusion { return ["method": "rrf", "k": k] as [String: Any] } else { return ["method": "linear"] } }()
                o["weights"] = ["vector": q.vectorWeight, "keyword": q.keywordWeight, "preference": q.preferenceWeight]
                o["preference_filter"] = result.preferenceFilter ?? NSNull()
                o["preference_arm_skipped"] = result.preferenceArmSkipped
            }
            return o
        }
    }

    /// A hit's record as JSON, without the id the hit already carries.
    static func attributes(_ r: Record) -> [String: Any] {
        var o = r.jsonObject()
        o["id"] = nil
        return o
    }

    static func parsedJSON(_ p: ParsedQuery, _ r: PerfumeSearch.Result) -> [String: Any] {
        let terms: [[String: Any]] = p.terms.map { t in
            ["words": t.words, "meaning": t.name, "role": t.role.rawValue, "filter": t.filter ?? NSNull(), "weight": t.weight]
        }
        var like: Any = NSNull()
        if let l = r.like { like = ["text": l.text, "id": l.id ?? NSNull(), "name": l.name ?? NSNull()] as [String: Any] }
        return ["language": p.language, "terms": terms, "embedded_text": r.embedded ?? NSNull(), "keywords": r.keywords ?? NSNull(),
                "like": like, "unknown_words": p.unknownWords, "ignored_words": p.ignoredWords, "filter": p.filter ?? NSNull(),
                "preferences": p.preferences.map { ["name": $0.name, "filter": $0.filter, "weight": $0.weight] as [String: Any] }]
    }

    private func plainSearch(_ c: FragranceStore.Collection, query: String?, vector: [Float]?, filter: String?, topK: Int, ef: Int?, exact: Bool,
                             explain: Bool, searchType: String, start: UInt64) throws -> [String: Any] {
        var req = vector.map { SearchRequest(vector: $0, k: topK, ef: ef, filter: filter, exact: exact) }
            ?? SearchRequest(text: query!, k: topK, ef: ef, filter: filter, exact: exact)
        if vector != nil, let query { req.text = query }
        let result = try c.search(req)
        metrics.search(result.plan)
        var results: [[String: Any]] = []
        let records = try c.records(result.hits.map(\.id))
        for (rank, hit) in result.hits.enumerated() {
            var item: [String: Any] = ["rank": rank + 1, "id": hit.id, "score": Double(hit.score), "distance": Double(hit.distance)]
            if let r = records[rank] { item["record"] = HTTPAPI.attributes(r) }
            if explain { item["explain"] = ["vector_score": Double(hit.score), "vector_rank": rank + 1, "matched_filter": filter ?? NSNull()] as [String: Any] }
            results.append(item)
        }
        var o: [String: Any] = ["query": query ?? NSNull(), "search_type": searchType, "collection": c.config.name, "top_k": topK,
                                "total": results.count, "results": results, "filter": filter ?? NSNull(), "arms": ["vector"],
                                "took_ms": Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6]
        if explain { o["plan"] = CommandRouter.planJSON(result.plan) }
        return o
    }

    /// `POST /api/v1/collections/{name}/search`: the store's own search, text or vector.
    func collectionSearch(_ request: Request, _ context: APIContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let body = try JSONBody(try await self.body(request), allowed: ["text", "vector", "filter", "filters", "k", "ef", "exact", "explain", "include_records"])
        let vector = try body.floats("vector")
        let text = try body.string("text", maxLength: limits.maxQueryLength)
        guard (vector == nil) != (text == nil) else {
            throw APIError(.badRequest, .badRequest, "give exactly one of 'text' and 'vector'", field: vector == nil ? "text" : "vector")
        }
        let k = try body.int("k", in: 1...limits.maxK) ?? 10
        let ef = try body.int("ef", in: 1...limits.maxEf)
        let exact = try body.bool("exact") ?? false
        let explain = try body.bool("explain") ?? false
        let include = try body.bool("include_records") ?? false
        return try await json {
            let c = try self.database.collection(name)
            let filter = try self.filter(body, schema: c.config.schema)
            let req = vector.map { SearchRequest(vector: $0, k: k, ef: ef, filter: filter, exact: exact) }
                ?? SearchRequest(text: text!, k: k, ef: ef, filter: filter, exact: exact)
            let result = try c.search(req)
            self.metrics.search(result.plan)
            let records = include ? try c.records(result.hits.map(\.id)) : []
            let hits: [[String: Any]] = result.hits.enumerated().map { i, h in
                var o: [String: Any] = ["id": h.id, "score": Double(h.score), "distance": Double(h.distance)]
                if include, let r = records[i] { o["record"] = r.jsonObject() }
                return o
            }
            var o: [String: Any] = ["hits": hits]
            if explain { o["plan"] = CommandRouter.planJSON(result.plan) }
            return o
        }
    }

    func count(_ request: Request, _ context: APIContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let buffer = try await self.body(request)
        let body = buffer.readableBytes == 0 ? nil : try JSONBody(buffer, allowed: ["filter", "filters"])
        let n = try await pool.runIfActive { () -> Int in
            let c = try self.database.collection(name)
            return try c.count(filter: try body.flatMap { try self.filter($0, schema: c.config.schema) })
        }
        return JSONReply(["count": n]).response()
    }

    func createCollection(_ request: Request, _ context: APIContext) async throws -> Response {
        let buffer = try await body(request)
        guard let o = try StrictJSON.parse(Data(buffer.readableBytesView)) as? [String: Any] else {
            throw APIError(.badRequest, .badJSON, "the body must be a JSON object with a 'name' and the collection's settings")
        }
        guard let name = o["name"] as? String, !name.isEmpty else { throw APIError(.badRequest, .missingField, "'name' is required", field: "name") }
        var rest = o
        rest["name"] = nil
        let config = try CommandRouter.collectionConfig(name: name, json: jsonText(rest))
        return try await json(status: .created) { self.router.collectionInfo(try self.database.createCollection(config)) }
    }

    /// JSON (one record or an array), or NDJSON (`Content-Type: application/x-ndjson`, one
    /// record per line) for bulk loads. Every record is checked before anything is written;
    /// NDJSON errors name the line.
    func upsert(_ request: Request, _ context: APIContext) async throws -> Response {
        let name = try context.parameters.require("name")
        let buffer = try await body(request)
        let ndjson = request.headers[.contentType]?.lowercased().contains("ndjson") ?? false
        let records: [Record]
        if ndjson {
            var list: [Record] = []
            var lineNumber = 0
            for line in buffer.readableBytesView.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                lineNumber += 1
                guard line.contains(where: { $0 != 0x20 && $0 != 0x0D && $0 != 0x09 }) else { continue }
                do {
                    let value = try StrictJSON.parse(Data(line))
                    list.append(try Record(jsonObject: value))
                } catch let e as StoreError {
                    throw APIError(.badRequest, e.code, "line \(lineNumber): \(e.message)")
                } catch {
                    throw APIError(.badRequest, .badJSON, "line \(lineNumber): not valid JSON (\(JSONBody.reason(error)))")
                }
            }
            records = list
        } else {
            guard let text = String(bytes: buffer.readableBytesView, encoding: .utf8) else {
                throw APIError(.badRequest, .badJSON, "the body is not UTF-8")
            }
            records = try Record.decodeList(json: text)
        }
        guard !records.isEmpty else { throw APIError(.badRequest, .badRequest, "no records in the body") }
        let batch = limits.maxBatch
        guard ndjson || records.count <= batch else {
            throw APIError(.contentTooLarge, .tooLarge, "\(records.count) records in one JSON upsert; the limit is \(batch) (send NDJSON for bulk loads)")
        }
        let result = try await pool.runIfActive { () -> Collection.WriteResult in
            let c = try self.database.collection(name)
            var total = Collection.WriteResult()
            // NDJSON bulk loads commit in batches: each batch is all or nothing.
            for start in stride(from: 0, to: records.count, by: batch) {
                let w = try c.upsert(Array(records[start..<min(start + batch, records.count)]))
                total.inserted += w.inserted
                total.updated += w.updated
            }
            return total
        }
        return JSONReply(["inserted": result.inserted, "updated": result.updated, "records": records.count]).response()
    }
}
