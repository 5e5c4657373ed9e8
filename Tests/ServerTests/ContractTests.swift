import FragranceCore
import FragranceProtocol
import Foundation
import XCTest
@testable import FragranceServer
import FragranceStore

/// The part of JSON Schema (2020-12, as OpenAPI 3.1 uses it) that schemas/openapi.yaml uses:
/// type (one or a list, "null" included), required, properties, additionalProperties (false
/// or a schema), items, enum, oneOf, minimum/maximum and local $refs (the only kind the
/// document has: the recipe schema is a component since issue #20).
struct SchemaChecker {
    let root: [String: Any]

    func problems(_ value: Any, _ schema: [String: Any], at path: String = "$") -> [String] {
        if let ref = schema["$ref"] as? String {
            guard ref.hasPrefix("#/") else { return ["\(path): \(ref) is not a local reference"] }
            var node: Any = root
            for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] ?? [:] }
            return problems(value, node as? [String: Any] ?? [:], at: path)
        }
        if let options = schema["oneOf"] as? [[String: Any]] {
            let matching = options.filter { problems(value, $0, at: path).isEmpty }.count
            if matching != 1 { return ["\(path): matches \(matching) of oneOf's \(options.count) schemas: \(String(describing: value).prefix(120))"] }
        }
        if let t = schema["type"] {
            let types = (t as? [String]) ?? [t as? String ?? ""]
            guard types.contains(where: { Self.has(value, type: $0) }) else {
                return ["\(path): expected \(types.joined(separator: "|")), got \(String(describing: value).prefix(120))"]
            }
        }
        var out: [String] = []
        if let allowed = schema["enum"] as? [Any], !allowed.contains(where: { ($0 as? NSObject)?.isEqual(value) ?? false }) {
            out.append("\(path): \(value) is not one of \(allowed)")
        }
        if let n = value as? NSNumber, !isJSONBool(n) {
            if let min = schema["minimum"] as? Double, n.doubleValue < min { out.append("\(path): \(n) < \(min)") }
            if let max = schema["maximum"] as? Double, n.doubleValue > max { out.append("\(path): \(n) > \(max)") }
        }
        if let o = value as? [String: Any] {
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for k in schema["required"] as? [String] ?? [] where o[k] == nil { out.append("\(path): '\(k)' is required") }
            for (k, v) in o {
                if let p = properties[k] as? [String: Any] {
                    out += problems(v, p, at: "\(path).\(k)")
                } else if let extra = schema["additionalProperties"] {
                    if let b = extra as? Bool, !b { out.append("\(path): '\(k)' is not in the schema") }
                    else if let s = extra as? [String: Any] { out += problems(v, s, at: "\(path).\(k)") }
                }
            }
        }
        if let a = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (i, v) in a.enumerated() { out += problems(v, items, at: "\(path)[\(i)]") }
        }
        return out
    }

    static func has(_ value: Any, type: String) -> Bool {
        switch type {
        case "null": return value is NSNull
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        case "string": return value is String
        case "boolean": return (value as? NSNumber).map { isJSONBool($0) } ?? false
        case "number": return (value as? NSNumber).map { !isJSONBool($0) } ?? false
        case "integer":
            guard let n = value as? NSNumber, !isJSONBool(n) else { return false }
            return n.doubleValue == n.doubleValue.rounded()
        default: return false
        }
    }
}

/// Issue #18: real replies from a real server, checked against the schemas openapi.yaml states
/// for their route and status. Every route is called at least once, its errors included, so a
/// field renamed, added or dropped on one side fails here.
final class ContractTests: HTTPTestCase {
    override func configure(_ c: inout ServerConfiguration) {
        c.loadCatalogue = true
        c.catalogueLimit = 60
    }

    var checker: SchemaChecker!
    var paths: [String: Any] = [:]
    var checked = Set<String>()

    func check(_ c: TestClient, _ method: String, _ path: String, route: String, json body: String? = nil, expect status: Int,
               file: StaticString = #filePath, line: UInt = #line) -> [String: Any] {
        let reply = c.http(method, path, json: body)
        XCTAssertEqual(reply.status, status, "\(method) \(path): \(reply.text.prefix(300))", file: file, line: line)
        let op = (paths[route] as? [String: Any])?[method.lowercased()] as? [String: Any]
        let responses = op?["responses"] as? [String: Any] ?? [:]
        var response = responses[String(reply.status)] as? [String: Any]
        if let ref = response?["$ref"] as? String, ref.hasSuffix("/Error") {
            response = ["content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]]]
        }
        let schema = (((response?["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any])
        if reply.status >= 400 && schema == nil {
            // Every error has the Error shape, documented per route or not.
            let problems = checker.problems(reply.json, ["$ref": "#/components/schemas/Error"])
            XCTAssertEqual(problems, [], "\(method) \(path) \(reply.status)", file: file, line: line)
        } else {
            XCTAssertNotNil(schema, "openapi.yaml states no JSON schema for \(method) \(route) \(reply.status)", file: file, line: line)
            let value = (try? JSONSerialization.jsonObject(with: Data(reply.body))) ?? NSNull()
            XCTAssertEqual(checker.problems(value, schema ?? [:]), [], "\(method) \(path) \(reply.status)", file: file, line: line)
        }
        checked.insert("\(method) \(route)")
        return reply.json
    }

    func testEveryRouteRepliesAsTheDocumentSays() async throws {
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: try APIDocument.shared.get().json) as? [String: Any])
        checker = SchemaChecker(root: doc)
        paths = doc["paths"] as? [String: Any] ?? [:]
        let c = try client()
        _ = try await ready(c)
        _ = check(c, "GET", "/health", route: "/health", expect: 200)
        _ = check(c, "GET", "/ready", route: "/ready", expect: 200)
        _ = check(c, "GET", "/api/v1/info", route: "/api/v1/info", expect: 200)
        _ = check(c, "GET", "/api/v1/info?section=stats", route: "/api/v1/info", expect: 200)
        _ = check(c, "GET", "/api/v1/info?section=stat", route: "/api/v1/info", expect: 400)
        _ = check(c, "GET", "/", route: "/", expect: 200)
        _ = check(c, "GET", "/api/v1/clients", route: "/api/v1/clients", expect: 200)
        _ = check(c, "GET", "/api/v1/collections", route: "/api/v1/collections", expect: 200)
        _ = check(c, "GET", "/api/v1/collections/perfumes", route: "/api/v1/collections/{name}", expect: 200)
        _ = check(c, "GET", "/api/v1/collections/nope", route: "/api/v1/collections/{name}", expect: 404)

        // Searches: plain, understood, hybrid with explain, keyword, and their errors.
        for (route, body) in [("/api/v1/search/semantic", #"{"query": "fresh citrus for summer", "top_k": 3}"#),
                              ("/api/v1/search/semantic", #"{"query": "rose", "understand": false, "explain": true}"#),
                              ("/api/v1/search/semantic", #"{"query": "like a rose but without oud", "explain": true, "filters": {"fragrance_family": ["floral", "woody"]}}"#),
                              ("/api/v1/search/hybrid", #"{"query": "상큼하고 로맨틱한 봄 향수", "top_k": 5}"#),
                              ("/api/v1/search/hybrid", #"{"query": "vanilla", "search_type": "keyword", "fusion": "linear"}"#)] {
            let r = check(c, "POST", route, route: route, json: body, expect: 200)
            XCTAssertFalse((r["results"] as? [Any] ?? []).isEmpty, body)
        }
        let plain = check(c, "POST", "/api/v1/search/semantic", route: "/api/v1/search/semantic", json: #"{"query": "rose", "understand": false}"#, expect: 200)
        XCTAssertEqual(plain["scoring"] as? String, "similarity")
        let fused = check(c, "POST", "/api/v1/search/hybrid", route: "/api/v1/search/hybrid", json: #"{"query": "rose"}"#, expect: 200)
        XCTAssertEqual(fused["scoring"] as? String, "rrf")
        _ = check(c, "POST", "/api/v1/search/semantic", route: "/api/v1/search/semantic", json: #"{"query": "x", "top_k": 5000}"#, expect: 413)
        _ = check(c, "POST", "/api/v1/search/hybrid", route: "/api/v1/search/hybrid",
                  json: #"{"query": "fresh citrus", "top_k": 3, "offset": 2, "fields": ["name", "brand"], "facets": ["family", "year"]}"#, expect: 200)
        _ = check(c, "POST", "/api/v1/search/hybrid", route: "/api/v1/search/hybrid", json: #"{"query": "x", "colour": 1}"#, expect: 400)

        // A collection of our own: create, write, read, search, count, exists, delete, snapshot, restore, drop.
        _ = check(c, "POST", "/api/v1/collections", route: "/api/v1/collections",
                  json: #"{"name": "c1", "dimension": 2, "schema": {"fields": [{"name": "family", "type": "string"}, {"name": "notes", "type": "tiered_set", "tiers": ["top", "heart", "base"]}, {"name": "seasons", "type": "set"}, {"name": "year", "type": "int"}]}}"#,
                  expect: 201)
        _ = check(c, "POST", "/api/v1/collections", route: "/api/v1/collections", json: #"{"name": "c1", "dimension": 2}"#, expect: 409)
        _ = check(c, "POST", "/api/v1/collections/c1/records", route: "/api/v1/collections/{name}/records",
                  json: #"[{"id": "a", "vector": [1, 0], "family": "floral", "notes": {"top": ["bergamot"]}, "seasons": ["spring"], "year": 2001}, {"id": "b", "vector": [0, 1]}]"#,
                  expect: 200)
        _ = check(c, "POST", "/api/v1/collections/c1/records", route: "/api/v1/collections/{name}/records", json: #"{"id": "x", "vector": [1]}"#, expect: 400)
        _ = check(c, "PATCH", "/api/v1/collections/c1", route: "/api/v1/collections/{name}", json: #"{"fields": [{"name": "price", "type": "double"}]}"#, expect: 200)
        _ = check(c, "PATCH", "/api/v1/collections/c1", route: "/api/v1/collections/{name}", json: #"{"fields": [{"name": "price", "type": "int"}]}"#, expect: 409)
        _ = check(c, "POST", "/api/v1/collections", route: "/api/v1/collections", json: #"{"name": "dyn", "dimension": 2}"#, expect: 201)
        _ = check(c, "DELETE", "/api/v1/collections/dyn", route: "/api/v1/collections/{name}", expect: 200)
        _ = check(c, "GET", "/api/v1/collections/c1/records/a?vector=true", route: "/api/v1/collections/{name}/records/{id}", expect: 200)
        _ = check(c, "GET", "/api/v1/collections/c1/records/zz", route: "/api/v1/collections/{name}/records/{id}", expect: 404)
        let hits = check(c, "POST", "/api/v1/collections/c1/search", route: "/api/v1/collections/{name}/search",
                         json: #"{"vector": [1, 0.1], "k": 2, "explain": true, "include_records": true}"#, expect: 200)
        XCTAssertEqual((hits["results"] as? [[String: Any]])?.first?["id"] as? String, "a")
        _ = check(c, "POST", "/api/v1/collections/c1/search", route: "/api/v1/collections/{name}/search", json: #"{"text": "x", "vector": [1, 0]}"#, expect: 400)
        _ = check(c, "POST", "/api/v1/collections/c1/count", route: "/api/v1/collections/{name}/count", json: #"{"filters": {"year": {"gte": 2000}}}"#, expect: 200)
        let page = check(c, "GET", "/api/v1/collections/c1/records?order=year:desc&limit=1&facets=family,seasons,year", route: "/api/v1/collections/{name}/records", expect: 200)
        _ = check(c, "GET", "/api/v1/collections/c1/records?limit=1&after=\(page["next"] as? String ?? "")", route: "/api/v1/collections/{name}/records", expect: 400)
        _ = check(c, "GET", "/api/v1/collections/c1/records?order=year:desc&limit=1&after=\(page["next"] as? String ?? "")&fields=year", route: "/api/v1/collections/{name}/records", expect: 200)
        _ = check(c, "POST", "/api/v1/collections/c1/facets", route: "/api/v1/collections/{name}/facets", json: #"{"fields": ["family", "notes", "year:5"], "filters": {"year": {"gte": 2000}}}"#, expect: 200)
        _ = check(c, "POST", "/api/v1/collections/c1/facets", route: "/api/v1/collections/{name}/facets", json: #"{"fields": ["colour"]}"#, expect: 400)
        _ = check(c, "POST", "/api/v1/collections/c1/search", route: "/api/v1/collections/{name}/search",
                  json: #"{"vector": [1, 0.1], "k": 1, "offset": 1, "score_threshold": -1, "fields": ["year"], "facets": ["family", "year"]}"#, expect: 200)
        _ = check(c, "POST", "/api/v1/collections/c1/exists", route: "/api/v1/collections/{name}/exists", json: #"{"ids": ["a", "q"]}"#, expect: 200)
        let snap = check(c, "POST", "/api/v1/collections/c1/snapshot", route: "/api/v1/collections/{name}/snapshot", expect: 201)
        _ = check(c, "POST", "/api/v1/snapshots/restore", route: "/api/v1/snapshots/restore",
                  json: "{\"file\": \"\(snap["file"] as? String ?? "")\", \"as\": \"c2\"}", expect: 201)
        _ = check(c, "POST", "/api/v1/snapshots/restore", route: "/api/v1/snapshots/restore", json: #"{"file": "../x"}"#, expect: 400)
        _ = check(c, "DELETE", "/api/v1/collections/c1/records/b", route: "/api/v1/collections/{name}/records/{id}", expect: 200)
        _ = check(c, "POST", "/api/v1/collections/c1/delete", route: "/api/v1/collections/{name}/delete", json: #"{"ids": ["a", "q"]}"#, expect: 200)
        _ = check(c, "DELETE", "/api/v1/collections/c2", route: "/api/v1/collections/{name}", expect: 200)

        // Recipes: one, a batch with a bad item, a validation, the breaker.
        let recipe = check(c, "POST", "/api/v1/generate/recipe", route: "/api/v1/generate/recipe",
                           json: #"{"fragrance_family": "floral", "season": "spring", "seed": 1}"#, expect: 200)
        _ = check(c, "POST", "/api/v1/generate/batch", route: "/api/v1/generate/batch",
                  json: #"{"requests": [{"mood": "fresh"}, {"season": "spring"}]}"#, expect: 200)
        let written = try JSONSerialization.data(withJSONObject: recipe["recipe"] ?? [:])
        _ = check(c, "POST", "/api/v1/recipes/validate", route: "/api/v1/recipes/validate", json: String(decoding: written, as: UTF8.self), expect: 200)
        _ = check(c, "POST", "/api/v1/recipes/substitutes", route: "/api/v1/recipes/substitutes", json: #"{"material": "Coumarin", "product": "body_lotion"}"#, expect: 200)
        _ = check(c, "POST", "/api/v1/recipes/substitutes", route: "/api/v1/recipes/substitutes", json: #"{"material": "unobtainium"}"#, expect: 404)
        _ = check(c, "GET", "/api/v1/circuit-breaker/status", route: "/api/v1/circuit-breaker/status", expect: 200)
        _ = check(c, "POST", "/api/v1/collections/perfumes/search/batch", route: "/api/v1/collections/{name}/search/batch",
                  json: "{\"vectors\": \"\(BinaryVector.encode([Float](repeating: 0.05, count: 384 * 2)))\", \"k\": 3}", expect: 200)
        _ = check(c, "POST", "/api/v1/collections/perfumes/search/batch", route: "/api/v1/collections/{name}/search/batch",
                  json: #"{"vectors": [[1, 0]]}"#, expect: 400)
        _ = check(c, "POST", "/api/v1/admin/reload", route: "/api/v1/admin/reload", expect: 200)
        _ = check(c, "GET", "/api/v1/slowlog?count=3", route: "/api/v1/slowlog", expect: 200)
        _ = check(c, "GET", "/api/v1/slowlog?count=x", route: "/api/v1/slowlog", expect: 400)
        _ = check(c, "DELETE", "/api/v1/slowlog", route: "/api/v1/slowlog", expect: 200)

        // Replication (issue #24): what a replica asks, and the primary's own side.
        let state = check(c, "GET", "/api/v1/replication/state", route: "/api/v1/replication/state", expect: 200)
        let history = state["history"] as? String ?? ""
        let log = check(c, "GET", "/api/v1/replication/log?history=\(history)&after=0&count=3", route: "/api/v1/replication/log", expect: 200)
        XCTAssertEqual((log["entries"] as? [[String: Any]])?.first?["op"] as? String, "create")
        _ = check(c, "GET", "/api/v1/replication/log?history=other&after=0", route: "/api/v1/replication/log", expect: 409)
        _ = check(c, "GET", "/api/v1/replication/log?after=0", route: "/api/v1/replication/log", expect: 400)
        let copied = check(c, "GET", "/api/v1/replication/page/perfumes?after=-1&count=2", route: "/api/v1/replication/page/{name}", expect: 200)
        XCTAssertEqual((copied["records"] as? [Any])?.count, 2)
        _ = check(c, "GET", "/api/v1/replication/page/nope", route: "/api/v1/replication/page/{name}", expect: 404)
        _ = check(c, "GET", "/api/v1/collections/perfumes/digest", route: "/api/v1/collections/{name}/digest", expect: 200)
        _ = check(c, "GET", "/api/v1/collections/nope/digest", route: "/api/v1/collections/{name}/digest", expect: 404)
        _ = check(c, "POST", "/api/v1/replication/wait", route: "/api/v1/replication/wait", json: #"{"replicas": 0, "timeout_ms": 10}"#, expect: 200)
        _ = check(c, "POST", "/api/v1/replication/wait", route: "/api/v1/replication/wait", json: #"{"timeout_ms": 10}"#, expect: 400)
        _ = check(c, "POST", "/api/v1/admin/replicaof", route: "/api/v1/admin/replicaof", json: #"{"no_one": true}"#, expect: 200)
        _ = check(c, "POST", "/api/v1/admin/replicaof", route: "/api/v1/admin/replicaof", json: "{\"host\": \"127.0.0.1\", \"port\": \(tcpPort)}", expect: 502)

        // Every JSON route was called (the three non-JSON ones are checked elsewhere).
        let json = Set(HTTPAPI.routes.map { "\($0.method.rawValue) \($0.path)" }).subtracting(["GET /metrics", "GET /docs", "GET /openapi.json", "GET /schemas/{file}", "GET /assets/{file}", "GET /console"])
        XCTAssertEqual(json.subtracting(checked), [], "routes this test did not call")
    }

    /// Issue #20: what generators and renderers need — a unique operationId and a declared tag
    /// on every operation, every $ref local and resolvable (the recipe's pointed at a host that
    /// does not exist), and the JSON Schemas the document and README name, served.
    func testTheDocumentIsCompleteForGenerators() throws {
        let c = try client()
        let doc = c.http("GET", "/openapi.json").json
        var refs: [String] = []
        func walk(_ v: Any) {
            if let o = v as? [String: Any] {
                if let r = o["$ref"] as? String { refs.append(r) }
                o.values.forEach(walk)
            } else if let a = v as? [Any] { a.forEach(walk) }
        }
        walk(doc)
        XCTAssertGreaterThan(refs.count, 50)
        for ref in Set(refs) {
            XCTAssertTrue(ref.hasPrefix("#/"), "\(ref) is not local")
            var node: Any? = doc
            for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] }
            XCTAssertNotNil(node as? [String: Any], "\(ref) resolves to nothing")
        }
        let declared = Set(((doc["tags"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String })
        var ids: [String] = []
        for (path, item) in doc["paths"] as? [String: Any] ?? [:] {
            for (method, op) in item as? [String: Any] ?? [:] {
                guard let op = op as? [String: Any] else { continue }
                let id = op["operationId"] as? String ?? ""
                XCTAssertFalse(id.isEmpty, "\(method) \(path) has no operationId")
                ids.append(id)
                let tags = op["tags"] as? [String] ?? []
                XCTAssertFalse(tags.isEmpty, "\(method) \(path) has no tag")
                XCTAssertTrue(Set(tags).isSubset(of: declared), "\(method) \(path): \(tags) not in \(declared)")
            }
        }
        XCTAssertEqual(ids.count, HTTPAPI.routes.count)
        XCTAssertEqual(Set(ids).count, ids.count, "operationIds repeat")

        for file in APIDocument.schemaFiles {
            let r = c.http("GET", "/schemas/\(file)")
            XCTAssertEqual(r.status, 200, file)
            XCTAssertNotNil(r.json["properties"], file)
            XCTAssertFalse(r.text.contains("fragrancedb.local"), file)
        }
        XCTAssertEqual(c.http("GET", "/schemas/recipe.schema.json").json["title"] as? String, "Perfume recipe")
        for missing in ["/schemas/nope.json", "/schemas/..%2FPackage.swift", "/schemas/openapi.yaml",
                        "/assets/nope.js", "/assets/..%2F..%2Fopenapi.yaml", "/assets/%00"] {
            let r = c.http("GET", missing)
            XCTAssertEqual(r.status, 404, missing)
            XCTAssertEqual((r.json["error"] as? [String: Any])?["code"] as? String, "NOT_FOUND", r.text)
        }
    }
}
