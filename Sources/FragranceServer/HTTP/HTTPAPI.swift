import FragranceCore
import FragranceProtocol
import FragranceStore
import Foundation
import Hummingbird
import NIOCore
import NIOPosix

/// The HTTP/JSON side of the service (schemas/openapi.yaml is its contract). Each route names
/// the line-protocol command it exposes, whose `CommandTable` role it needs; handlers decode
/// the body (`HTTPAPI+Requests.swift`), call one `FragranceService` method on the thread pool
/// and encode the typed reply. Errors carry the same codes as the line protocol.
public struct HTTPAPI: Sendable {
    public struct Route: Sendable {
        public var method: HTTPRequest.Method
        public var path: String           // OpenAPI form: /api/v1/collections/{name}
        /// The command whose role the route needs (nil: open, like /health).
        public var command: String?
        var handler: @Sendable (HTTPAPI, Request, APIContext) async throws -> Response

        public var role: Role? { command.flatMap { CommandTable.byName[$0]?.role } }
    }

    let service: FragranceService
    let perKey: RateLimiter
    let perAddress: RateLimiter
    let metrics: ServerMetrics
    let pool: NIOThreadPool
    let configuration: ServerConfiguration
    let ready: @Sendable () -> Bool
    let catalogue: @Sendable () -> (loading: Bool, status: CatalogueLoader.Report?)

    init(service: FragranceService, perKey: RateLimiter, perAddress: RateLimiter, metrics: ServerMetrics, pool: NIOThreadPool,
                configuration: ServerConfiguration, ready: @escaping @Sendable () -> Bool = { true },
                catalogue: @escaping @Sendable () -> (loading: Bool, status: CatalogueLoader.Report?) = { (false, nil) }) {
        self.service = service
        self.perKey = perKey
        self.perAddress = perAddress
        self.metrics = metrics
        self.pool = pool
        self.configuration = configuration
        self.ready = ready
        self.catalogue = catalogue
    }

    var access: AccessControl? { service.access }
    var database: Database { service.database }

    /// Runs service work on the pool and encodes its reply there too.
    func reply<T: Encodable & Sendable>(status: HTTPResponse.Status = .ok, _ work: @escaping @Sendable () throws -> T) async throws -> Response {
        try await pool.runIfActive { JSONReply(try work(), status: status).response() }
    }

    // MARK: Routes

    public static let routes: [Route] = [
        Route(method: .get, path: "/health", command: nil) { _, _, _ in JSONReply(["status": "ok"]).response() },
        Route(method: .get, path: "/ready", command: nil) { api, _, _ in api.readiness() },
        Route(method: .get, path: "/metrics", command: nil) { api, _, ctx in
            // It names collections and their sizes: a key is needed unless configured public.
            if !api.configuration.publicMetrics { try api.require("INFO", ctx) }
            let text = try await api.pool.runIfActive { api.metrics.render(database: api.database, breaker: api.service.recipes?.llm?.breaker,
                                                                                   replication: api.service.replicationInfo()) }
            var h = HTTPFields()
            h[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(string: text)))
        },
        Route(method: .get, path: "/openapi.json", command: nil) { _, _, _ in
            fileResponse(try APIDocument.shared.json, type: "application/json; charset=utf-8")
        },
        Route(method: .get, path: "/console", command: nil) { _, _, _ in
            // The page is public; everything it shows comes from the API with the token typed into it.
            guard let page = WebAssets.shared["console.html"] else { throw APIError(.notFound, "the console is not in this build") }
            return fileResponse(page.data, type: page.contentType)
        },
        Route(method: .get, path: "/assets/{file}", command: nil) { _, _, ctx in
            let file = try ctx.parameters.require("file")
            guard let asset = WebAssets.shared[file] else { throw APIError(.notFound, "no asset '\(file)'", field: "file") }
            return fileResponse(asset.data, type: asset.contentType)
        },
        Route(method: .get, path: "/schemas/{file}", command: nil) { _, _, ctx in
            let file = try ctx.parameters.require("file")
            guard let data = APIDocument.schema(file) else {
                throw APIError(.notFound, "no schema '\(file)' (known: \(APIDocument.schemaFiles.joined(separator: ", ")))", field: "file")
            }
            return fileResponse(data, type: "application/schema+json")
        },
        Route(method: .get, path: "/docs", command: nil) { _, _, _ in
            fileResponse(Data(try APIDocument.shared.html.utf8), type: "text/html; charset=utf-8")
        },
        Route(method: .post, path: "/api/v1/search/semantic", command: "QUERY") { api, req, _ in
            let input = try api.queryInput(try await api.body(req), hybrid: false)
            return try await api.reply { try api.service.query(input) }
        },
        Route(method: .post, path: "/api/v1/search/hybrid", command: "QUERY") { api, req, _ in
            let input = try api.queryInput(try await api.body(req), hybrid: true)
            return try await api.reply { try api.service.query(input) }
        },
        Route(method: .post, path: "/api/v1/generate/recipe", command: "GENERATE") { api, req, _ in
            let request = try RecipeJSON.request(try JSONBody(try await api.body(req), allowed: RecipeJSON.requestFields).object, field: nil)
            return JSONReply(try await api.service.generate(request, blocking: { work in try await api.pool.runIfActive(work) })).response()
        },
        Route(method: .post, path: "/api/v1/generate/batch", command: "GENERATE") { api, req, _ in try await api.generateBatch(req) },
        Route(method: .post, path: "/api/v1/recipes/validate", command: "VALIDATE") { api, req, _ in
            let buffer = try await api.body(req)
            guard let o = try StrictJSON.parse(Data(buffer.readableBytesView)) as? [String: Any] else {
                throw APIError(.badJSON, "the body must be a recipe object: {\"concentration\": \"EdP\", \"top\": [{\"name\": …, \"percent\": …}], \"heart\": […], \"base\": […]}")
            }
            let recipe = try RecipeJSON.recipe(o)
            return try await api.reply { try api.service.validate(recipe) }
        },
        Route(method: .post, path: "/api/v1/recipes/substitutes", command: "SUBSTITUTES") { api, req, _ in
            let request = try RecipeJSON.substitutes(try JSONBody(try await api.body(req), allowed: RecipeJSON.substitutesFields).object)
            return try await api.reply { try api.service.substitutes(request) }
        },
        Route(method: .get, path: "/api/v1/circuit-breaker/status", command: "BREAKER") { api, _, _ in
            JSONReply(api.service.breakerStatus()).response()
        },
        Route(method: .get, path: "/", command: nil) { api, _, _ in
            struct Root: Encodable, Sendable {
                var server = "fragrancedb", version = FragranceVersion.current, uptimeSeconds: Double
                var docs = "/docs", openapi = "/openapi.json", api = "/api/v1"
                enum CodingKeys: String, CodingKey { case server, version, docs, openapi, api, uptimeSeconds = "uptime_seconds" }
            }
            return JSONReply(Root(uptimeSeconds: (api.service.activity.uptimeSeconds * 1000).rounded() / 1000)).response()
        },
        Route(method: .get, path: "/api/v1/info", command: "INFO") { api, req, _ in
            let section = QueryForm(req.uri.query)["section"]
            return try await api.reply { try api.service.info(section: section) }
        },
        Route(method: .get, path: "/api/v1/slowlog", command: "SLOWLOG") { api, req, _ in
            var count = 10
            if let v = QueryForm(req.uri.query)["count"] {
                guard let n = Int(v) else { throw APIError(.badType, "'count' must be an integer, got '\(v)'", field: "count") }
                count = n
            }
            let n = count
            return try await api.reply { try api.service.slowlog(count: n) }
        },
        Route(method: .delete, path: "/api/v1/slowlog", command: "SLOWLOG") { api, _, _ in JSONReply(api.service.slowlogReset()).response() },
        Route(method: .get, path: "/api/v1/clients", command: "CLIENT") { api, _, _ in JSONReply(api.service.clientList()).response() },
        Route(method: .get, path: "/api/v1/collections", command: "COLLECTIONS") { api, _, _ in try await api.reply { try api.service.collections() } },
        Route(method: .post, path: "/api/v1/collections", command: "CREATE") { api, req, _ in
            let buffer = try await api.body(req)
            guard let o = try StrictJSON.parse(Data(buffer.readableBytesView)) as? [String: Any] else {
                throw APIError(.badJSON, "the body must be a JSON object with a 'name' and the collection's settings")
            }
            guard let name = o["name"] as? String, !name.isEmpty else { throw APIError(.missingField, "'name' is required", field: "name") }
            var definition = o
            definition["name"] = nil
            let settings = SendableObject(definition)
            return try await api.reply(status: .created) { try api.service.createCollection(name: name, definition: settings.value) }
        },
        Route(method: .get, path: "/api/v1/collections/{name}", command: "DESCRIBE") { api, _, ctx in
            let name = try ctx.parameters.require("name")
            return try await api.reply { try api.service.describe(name) }
        },
        Route(method: .patch, path: "/api/v1/collections/{name}", command: "ALTER") { api, req, ctx in
            let name = try ctx.parameters.require("name")
            let buffer = try await api.body(req)
            guard let o = try StrictJSON.parse(Data(buffer.readableBytesView)) as? [String: Any] else {
                throw APIError(.badJSON, "the body must be a JSON object: {\"fields\": [{\"name\": \"price\", \"type\": \"float\"}], \"dynamic\": true}")
            }
            let change = SendableObject(o)
            return try await api.reply { try api.service.alterCollection(name, change: change.value) }
        },
        Route(method: .delete, path: "/api/v1/collections/{name}", command: "DROP") { api, _, ctx in
            let name = try ctx.parameters.require("name")
            return try await api.reply { try api.service.dropCollection(name) }
        },
        Route(method: .post, path: "/api/v1/collections/{name}/records", command: "UPSERT") { api, req, ctx in try await api.upsert(req, ctx) },
        Route(method: .get, path: "/api/v1/collections/{name}/records", command: "SCROLL") { api, req, ctx in
            let input = try api.browseInput(try ctx.parameters.require("name"), req)
            return try await api.reply { try api.service.browse(input) }
        },
        Route(method: .post, path: "/api/v1/collections/{name}/facets", command: "FACETS") { api, req, ctx in
            let body = try JSONBody(try await api.body(req), allowed: ["fields", "filter", "filters", "facet_size"])
            var input = FacetsInput(collection: try ctx.parameters.require("name"))
            input.fields = try body.stringList("fields") ?? []
            input.filter = try body.filterInput()
            input.size = try body.int("facet_size") ?? 10
            let request = input
            return try await api.reply { try api.service.facets(request) }
        },
        Route(method: .get, path: "/api/v1/collections/{name}/records/{id}", command: "GET") { api, req, ctx in
            let name = try ctx.parameters.require("name"), id = try ctx.parameters.require("id")
            let withVector = QueryForm(req.uri.query)["vector"].map { $0 == "true" || $0 == "1" } ?? false
            return try await api.reply { RecordBody(record: try api.service.get(name, id: id), includeVector: withVector) }
        },
        Route(method: .delete, path: "/api/v1/collections/{name}/records/{id}", command: "DEL") { api, _, ctx in
            let name = try ctx.parameters.require("name"), id = try ctx.parameters.require("id")
            return try await api.reply { try api.service.delete(name, [id], requireAll: true) }
        },
        Route(method: .post, path: "/api/v1/collections/{name}/exists", command: "EXISTS") { api, req, ctx in
            let name = try ctx.parameters.require("name")
            let ids = try JSONBody(try await api.body(req), allowed: ["ids"]).strings("ids")
            return try await api.reply { ExistsReply(existing: try api.service.exists(name, ids)) }
        },
        Route(method: .post, path: "/api/v1/collections/{name}/delete", command: "DEL") { api, req, ctx in
            let name = try ctx.parameters.require("name")
            let ids = try JSONBody(try await api.body(req), allowed: ["ids"]).strings("ids")
            return try await api.reply { try api.service.delete(name, ids) }
        },
        Route(method: .post, path: "/api/v1/collections/{name}/count", command: "COUNT") { api, req, ctx in
            let name = try ctx.parameters.require("name")
            let buffer = try await api.body(req)
            let filter = buffer.readableBytes == 0 ? .none : try JSONBody(buffer, allowed: ["filter", "filters"]).filterInput()
            return try await api.reply { try api.service.count(name, filter: filter) }
        },
        Route(method: .post, path: "/api/v1/collections/{name}/search", command: "SEARCH") { api, req, ctx in
            let input = try api.searchInput(try ctx.parameters.require("name"), try await api.body(req))
            return try await api.reply { try api.service.query(input) }
        },
        Route(method: .post, path: "/api/v1/collections/{name}/search/batch", command: "MSEARCH") { api, req, ctx in
            let input = try api.multiSearchInput(try ctx.parameters.require("name"), try await api.body(req))
            return try await api.reply { try api.service.multiSearch(input) }
        },
        Route(method: .post, path: "/api/v1/collections/{name}/snapshot", command: "SNAPSHOT") { api, _, ctx in
            let name = try ctx.parameters.require("name")
            return try await api.reply(status: .created) { try api.service.snapshot(name) }
        },
        Route(method: .post, path: "/api/v1/snapshots/restore", command: "RESTORE") { api, req, _ in
            let body = try JSONBody(try await api.body(req), allowed: ["file", "as"])
            let file = try body.string("file", required: true)!
            let target = try body.string("as")
            return try await api.reply(status: .created) { try api.service.restore(file: file, as: target) }
        },
        Route(method: .post, path: "/api/v1/admin/reload", command: "RELOAD") { api, _, _ in
            JSONReply(try await api.service.reload()).response()
        },
        Route(method: .post, path: "/api/v1/admin/replicaof", command: "REPLICAOF") { api, req, _ in
            let body = try JSONBody(try await api.body(req), allowed: ["host", "port", "no_one"])
            if try body.bool("no_one") == true {
                guard !body.has("host"), !body.has("port") else { throw APIError(.badRequest, "give host and port, or no_one, not both", field: "no_one") }
                return try await api.reply { try api.service.replicaOf(nil) }
            }
            let host = try body.string("host", required: true, maxLength: 255)!
            guard let port = try body.int("port") else { throw APIError(.missingField, "'port' is required", field: "port") }
            return try await api.reply { try api.service.replicaOf((host, port)) }
        },
        Route(method: .post, path: "/api/v1/replication/wait", command: "WAIT") { api, req, _ in
            let body = try JSONBody(try await api.body(req), allowed: ["replicas", "timeout_ms"])
            guard let n = try body.int("replicas") else { throw APIError(.missingField, "'replicas' is required", field: "replicas") }
            let ms = try body.int("timeout_ms") ?? 0
            return try await api.reply { try api.service.waitForReplicas(n, timeoutMs: ms) }
        },
        Route(method: .get, path: "/api/v1/collections/{name}/digest", command: "DIGEST") { api, _, ctx in
            let name = try ctx.parameters.require("name")
            return try await api.reply { try api.service.digest(name) }
        },
        Route(method: .get, path: "/api/v1/replication/state", command: "REPLSTATE") { api, _, _ in
            try await api.reply { try api.service.replicationState() }
        },
        Route(method: .get, path: "/api/v1/replication/log", command: "REPLLOG") { api, req, _ in
            let q = QueryForm(req.uri.query)
            guard let history = q["history"] else { throw APIError(.missingField, "'history' is required", field: "history") }
            let after = try q.int64("after") ?? 0, count = try q.int("count") ?? 1000, wait = try q.int("wait_ms") ?? 0
            let node = q["node"]
            let text = try await api.pool.runIfActive { try api.service.replicationLog(history: history, after: after, count: count, waitMs: wait, node: node).json }
            return fileResponse(Data(text.utf8), type: "application/json; charset=utf-8")
        },
        Route(method: .get, path: "/api/v1/replication/page/{name}", command: "REPLPAGE") { api, req, ctx in
            let name = try ctx.parameters.require("name")
            let q = QueryForm(req.uri.query)
            let after = try q.int64("after") ?? -1, count = try q.int("count") ?? 500
            let text = try await api.pool.runIfActive { try api.service.replicationPage(name, afterRow: after, count: count).json }
            return fileResponse(Data(text.utf8), type: "application/json; charset=utf-8")
        },
    ]

    /// The Hummingbird router with every route, each wrapped in its role check, error
    /// rendering and per-route metrics; HEAD wherever GET is, and 405 with `Allow` for a
    /// method a path does not take.
    public func makeRouter() -> Router<APIContext> {
        let r = Router(context: APIContext.self)
        var methods: [String: [HTTPRequest.Method]] = [:]
        for route in Self.routes {
            let pattern = Self.pattern(route.path)
            methods[pattern, default: []].append(route.method)
            r.on(RouterPath(pattern), method: route.method) { request, context in try await self.run(route, request, context) }
            if route.method == .get {
                r.on(RouterPath(pattern), method: .head) { request, context in
                    // The GET's status and headers (Content-Length included), without the body.
                    let full = try await self.run(route, request, context)
                    return Response(status: full.status, headers: full.headers, body: .init())
                }
            }
        }
        for (pattern, taken) in methods {
            let allowed = (taken + (taken.contains(.get) ? [.head] : [])).map(\.rawValue)
            let allow = allowed.joined(separator: ", ")
            for method in [HTTPRequest.Method.get, .head, .post, .put, .patch, .delete] where !allowed.contains(method.rawValue) {
                r.on(RouterPath(pattern), method: method) { request, _ in
                    var error = APIError(.methodNotAllowed, "\(request.method.rawValue) is not allowed on \(request.uri.path); allowed: \(allow)")
                    error.headers[.allow] = allow
                    return error.response()
                }
            }
        }
        return r
    }

    static func pattern(_ path: String) -> String {
        path.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: "")
    }

    /// One request on its route: role check, handler, error rendering, metrics and activity.
    private func run(_ route: Route, _ request: Request, _ context: APIContext) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        var response: Response
        do {
            if let command = route.command { try self.require(command, context) }
            response = try await route.handler(self, request, context)
        } catch {
            response = APIError.from(error, service: self.service).response()
        }
        let nanoseconds = DispatchTime.now().uptimeNanoseconds - start
        metrics.httpRequest(route: route.path, method: route.method.rawValue, status: Int(response.status.code), nanoseconds: nanoseconds)
        let uri = request.uri.description
        service.activity.record(route.command ?? route.path, ok: response.status.code < 400, microseconds: nanoseconds / 1000,
                                words: [route.method.rawValue, uri], client: context.remoteAddress, surface: "http")
        return response
    }

    /// The service's role check; a missing token is a 401 with a `WWW-Authenticate` challenge.
    func require(_ command: String, _ context: APIContext) throws {
        do { try service.authorize(command, context.principal, how: "send 'Authorization: Bearer <token>'") }
        catch let e as ProtocolError {
            var error = APIError(e)
            if e.code == .notAuthenticated { error.headers[.wwwAuthenticate] = "Bearer" }
            throw error
        }
    }

    func body(_ request: Request) async throws -> ByteBuffer {
        var request = request
        let limit = configuration.httpMaxBodyBytes
        let tooLarge = APIError(.tooLarge, "the body is over the limit of \(limit) bytes")
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit { throw tooLarge }
        do { return try await request.collectBody(upTo: limit) }
        catch is NIOTooManyBytesError { throw tooLarge }
        catch let e as HTTPError where e.status == .contentTooLarge { throw tooLarge }
    }
}

/// A static body (a page, a script, a schema) with its content type; revalidated on each load.
func fileResponse(_ data: Data, type: String) -> Response {
    var h = HTTPFields()
    h[.contentType] = type
    h[.cacheControl] = "no-cache"
    return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// A JSON object handed to the pool (never mutated once built).
struct SendableObject: @unchecked Sendable {
    let value: [String: Any]
    init(_ v: [String: Any]) { value = v }
}
