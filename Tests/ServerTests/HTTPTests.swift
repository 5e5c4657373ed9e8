import Foundation
import FragranceClient
import JWTKit
import XCTest
@testable import FragranceServer
@testable import FragranceStore

/// The HTTP API over real loopback connections, against a real store and the real model.
final class HTTPTests: HTTPTestCase {
    let perfumes = [
        #"{"id":"p1","name":"Citrus Sun","description":"fresh lemon bergamot summer cologne for men","family":"citrus","seasons":["summer"],"gender":"male","year":2015}"#,
        #"{"id":"p2","name":"Velvet Night","description":"dark oud vanilla amber for winter evenings","family":"amber","seasons":["winter"],"gender":"unisex","year":2009}"#,
        #"{"id":"p3","name":"Rose Garden","description":"romantic rose peony spring floral","family":"floral","seasons":["spring"],"gender":"female","year":2020}"#,
    ]

    func load(_ c: TestClient) {
        let r = c.http("POST", "/api/v1/collections", json: #"{"name":"perfumes","embedder":"minilm","schema":"perfume"}"#)
        XCTAssertEqual(r.status, 201, r.text)
        let bulk = c.http("POST", "/api/v1/collections/perfumes/records", json: perfumes.joined(separator: "\n") + "\n",
                          headers: ["Content-Type": "application/x-ndjson"])
        XCTAssertEqual(bulk.status, 200, bulk.text)
        XCTAssertEqual(bulk.json["inserted"] as? Int, 3)
    }

    func testEveryRouteAnswersOverRealHTTP() throws {
        let c = try client()
        XCTAssertEqual(c.http("GET", "/health").json["status"] as? String, "ok")
        let ready = c.http("GET", "/ready")
        XCTAssertEqual(ready.status, 200)
        XCTAssertEqual(ready.json["storage"] as? String, "open")
        load(c)

        // The seed's semantic search: the citrus men's perfume first, attributes included.
        let s = c.http("POST", "/api/v1/search/semantic", json: #"{"query": "fresh citrus summer fragrance for men", "top_k": 2, "search_type": "similarity"}"#)
        XCTAssertEqual(s.status, 200, s.text)
        let results = s.json["results"] as? [[String: Any]] ?? []
        XCTAssertEqual(results.count, 2)
        XCTAssertEqual(results.first?["id"] as? String, "p1")
        XCTAssertEqual((results.first?["record"] as? [String: Any])?["family"] as? String, "citrus")
        XCTAssertGreaterThan(results[0]["score"] as? Double ?? 0, results[1]["score"] as? Double ?? 1)

        // Structured filters (with the seed's field names) and filter strings give the same answer.
        let f1 = c.http("POST", "/api/v1/search/semantic", json: #"{"query": "perfume", "filters": {"season": ["spring", "winter"], "year": {"gte": 2010}}}"#)
        XCTAssertEqual((f1.json["results"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["p3"], f1.text)
        let f2 = c.http("POST", "/api/v1/search/semantic", json: #"{"query": "perfume", "filters": "seasons CONTAINS ANY ('spring', 'winter') AND year >= 2010"}"#)
        XCTAssertEqual((f2.json["results"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["p3"])

        // Hybrid explains itself.
        let h = c.http("POST", "/api/v1/search/hybrid", json: #"{"query": "warm evening", "filters": {"family": "amber"}}"#)
        XCTAssertEqual(h.status, 200, h.text)
        XCTAssertNotNil(h.json["plan"])
        XCTAssertEqual(((h.json["results"] as? [[String: Any]])?.first?["explain"] as? [String: Any])?["matched_filter"] as? String, "family = 'amber'")

        // Keyword (BM25) and hybrid arms, with the query understood and explained.
        let k = c.http("POST", "/api/v1/search/semantic", json: #"{"query": "velvet oud", "search_type": "keyword", "explain": true}"#)
        XCTAssertEqual(k.status, 200, k.text)
        XCTAssertEqual(k.json["arms"] as? [String], ["keyword"])
        XCTAssertEqual((k.json["results"] as? [[String: Any]])?.first?["id"] as? String, "p2", k.text)
        let kwUnderstood = c.http("POST", "/api/v1/search/semantic", json: #"{"query": "roses for spring", "search_type": "keyword"}"#)
        XCTAssertEqual((kwUnderstood.json["results"] as? [[String: Any]])?.first?["id"] as? String, "p3", "understood words still reach BM25 when it is the only arm: \(kwUnderstood.text)")
        let understood = c.http("POST", "/api/v1/search/hybrid", json: #"{"query": "romantic spring perfume for women without oud"}"#)
        XCTAssertEqual(understood.status, 200, understood.text)
        let parsed = understood.json["parsed"] as? [String: Any] ?? [:]
        let roles = Dictionary((parsed["terms"] as? [[String: Any]] ?? []).map { ($0["meaning"] as? String ?? "", $0["role"] as? String ?? "") }) { a, _ in a }
        XCTAssertEqual(roles["seasons: spring"], "prefer", "\(parsed)")
        XCTAssertEqual(roles["gender: female"], "prefer")
        XCTAssertTrue(roles.contains { $0.key.contains("notes: agarwood (oud)") && $0.value == "exclude" }, "\(roles)")
        let first = (understood.json["results"] as? [[String: Any]])?.first
        XCTAssertEqual(first?["id"] as? String, "p3", understood.text)
        XCTAssertEqual(Set((first?["explain"] as? [String: Any])?["matched_preferences"] as? [String] ?? []), ["seasons: spring", "gender: female"])
        XCTAssertTrue((understood.json["filter"] as? String ?? "").hasPrefix("NOT ("), understood.text)

        // "Like <perfume>": found by name, searched from its vector, left out of the results.
        let like = c.http("POST", "/api/v1/search/hybrid", json: #"{"query": "like velvet night but for spring"}"#)
        XCTAssertEqual(((like.json["parsed"] as? [String: Any])?["like"] as? [String: Any])?["id"] as? String, "p2", like.text)
        XCTAssertFalse((like.json["results"] as? [[String: Any]] ?? []).contains { $0["id"] as? String == "p2" })
        XCTAssertEqual((like.json["results"] as? [[String: Any]])?.first?["id"] as? String, "p3", "the spring perfume ranks first")

        // Collections and records.
        XCTAssertEqual((c.http("GET", "/api/v1/collections").json["collections"] as? [[String: Any]])?.first?["records"] as? Int, 3)
        XCTAssertEqual(c.http("GET", "/api/v1/collections/perfumes").json["records"] as? Int, 3)
        let rec = c.http("GET", "/api/v1/collections/perfumes/records/p2")
        XCTAssertEqual(rec.json["name"] as? String, "Velvet Night")
        XCTAssertNil(rec.json["vector"])
        XCTAssertEqual((c.http("GET", "/api/v1/collections/perfumes/records/p2?vector=true").json["vector"] as? [Any])?.count, 384)
        XCTAssertEqual(c.http("POST", "/api/v1/collections/perfumes/count", json: #"{"filter": "gender = 'male'"}"#).json["count"] as? Int, 1)
        XCTAssertEqual(c.http("POST", "/api/v1/collections/perfumes/count").json["count"] as? Int, 3)
        let one = c.http("POST", "/api/v1/collections/perfumes/records", json: #"{"id":"p4","name":"Green Tea","description":"green tea mint"}"#)
        XCTAssertEqual(one.json["inserted"] as? Int, 1, one.text)
        let search = c.http("POST", "/api/v1/collections/perfumes/search", json: #"{"text": "matcha green tea", "k": 1, "explain": true}"#)
        XCTAssertEqual((search.json["results"] as? [[String: Any]])?.first?["id"] as? String, "p4", search.text)
        XCTAssertEqual(c.http("DELETE", "/api/v1/collections/perfumes/records/p4").json["deleted"] as? Int, 1)
        XCTAssertEqual(c.http("DELETE", "/api/v1/collections/perfumes/records/p4").status, 404)

        // Snapshot, restore, info, reload, metrics, docs.
        let snap = c.http("POST", "/api/v1/collections/perfumes/snapshot")
        XCTAssertEqual(snap.status, 201, snap.text)
        let file = try XCTUnwrap(snap.json["file"] as? String)
        let restored = c.http("POST", "/api/v1/snapshots/restore", json: "{\"file\": \"\(file)\", \"as\": \"copy\"}")
        XCTAssertEqual(restored.json["records"] as? Int, 3, restored.text)
        XCTAssertEqual(c.http("DELETE", "/api/v1/collections/copy").json["dropped"] as? String, "copy")
        XCTAssertEqual((c.http("GET", "/api/v1/info").json["collections"] as? [Any])?.count, 1)
        XCTAssertEqual(c.http("POST", "/api/v1/admin/reload").status, 200)
        let metrics = c.http("GET", "/metrics").text
        XCTAssertTrue(metrics.contains(#"fragrancedb_http_requests_total{route="/api/v1/search/semantic",method="POST",status="200"} 5"#), metrics)
        XCTAssertTrue(metrics.contains(#"fragrancedb_collection_records{collection="perfumes"} 3"#))
        XCTAssertTrue(metrics.contains("fragrancedb_search_path_total"))
        XCTAssertTrue(c.http("GET", "/docs").text.contains("/api/v1/search/semantic"))
        XCTAssertEqual(c.http("GET", "/openapi.json").json["openapi"] as? String, "3.1.0")
        let breaker = c.http("GET", "/api/v1/circuit-breaker/status")
        XCTAssertEqual(breaker.json["configured"] as? Bool, false, "no llm.url: the composer alone")
    }

    func testBadInputGetsA400NamingTheField() throws {
        let c = try client()
        load(c)
        let cases: [(String, String, Int, String, String?)] = [
            ("/api/v1/search/semantic", #"{"query": "x", "top_k": 0}"#, 400, "OUT_OF_RANGE", "top_k"),
            ("/api/v1/search/semantic", #"{"query": "x", "top_k": "ten"}"#, 400, "BAD_TYPE", "top_k"),
            ("/api/v1/search/semantic", #"{"query": "x", "top_k": 1.5}"#, 400, "BAD_TYPE", "top_k"),
            ("/api/v1/search/semantic", #"{"query": "x", "color": "red"}"#, 400, "UNKNOWN_FIELD", "color"),
            ("/api/v1/search/semantic", #"{"top_k": 3}"#, 400, "MISSING_FIELD", "query"),
            ("/api/v1/search/semantic", #"{"query": "x", "search_type": "magic"}"#, 400, "BAD_VALUE", "search_type"),
            ("/api/v1/search/semantic", #"{"query": "x", "filters": "family = "}"#, 400, "BAD_FILTER", nil),
            ("/api/v1/search/semantic", #"{"query": "x", "filters": {"colour": "red"}}"#, 400, "BAD_FILTER", "filters.colour"),
            ("/api/v1/search/semantic", #"{"query": "x", "fusion": "magic"}"#, 400, "BAD_VALUE", "fusion"),
            ("/api/v1/search/hybrid", #"{"query": "x", "weights": {"vector": -1}}"#, 400, "BAD_VALUE", "weights.vector"),
            ("/api/v1/search/hybrid", #"{"query": "x", "weights": {"colour": 1}}"#, 400, "UNKNOWN_FIELD", "weights.colour"),
            ("/api/v1/search/semantic", #"{"query": "x", "collection": "nope"}"#, 404, "NOT_FOUND", nil),
            ("/api/v1/search/semantic", #"{"query": "#, 400, "BAD_JSON", nil),
            ("/api/v1/search/semantic", #"[1, 2]"#, 400, "BAD_JSON", nil),
            ("/api/v1/collections/perfumes/records", #"{"id": "x", "year": "old"}"#, 400, "BAD_RECORD", nil),
            ("/api/v1/collections", #"{"name": "v", "dimension": 4, "colour": 1}"#, 400, "UNKNOWN_FIELD", "colour"),
            ("/api/v1/collections", #"{"name": "perfumes", "embedder": "minilm"}"#, 409, "EXISTS", nil),
        ]
        for (path, body, status, code, field) in cases {
            let r = c.http("POST", path, json: body)
            XCTAssertEqual(r.status, status, "\(body): \(r.text)")
            XCTAssertEqual(r.errorCode, code, "\(body): \(r.text)")
            XCTAssertFalse(((r.json["error"] as? [String: Any])?["message"] as? String ?? "").isEmpty)
            if let field { XCTAssertEqual((r.json["error"] as? [String: Any])?["field"] as? String, field, body) }
        }
        let ndjson = c.http("POST", "/api/v1/collections/perfumes/records?atomic=true", json: "{\"id\":\"n1\"}\n{\"id\": \n", headers: ["Content-Type": "application/x-ndjson"])
        XCTAssertEqual(ndjson.status, 400)
        XCTAssertTrue(ndjson.text.contains("line 2"), ndjson.text)
        let missing = c.http("GET", "/no/such/route")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.errorCode, "NOT_FOUND")
        // Nothing bad was stored along the way.
        XCTAssertEqual(c.http("POST", "/api/v1/collections/perfumes/count").json["count"] as? Int, 3)
    }

    func testNoCORSHeadersUnlessConfigured() throws {
        let c = try client()
        XCTAssertNil(c.http("GET", "/health", headers: ["Origin": "https://example.org"]).headers["access-control-allow-origin"])
    }

    func testOpenAPIDocumentListsExactlyTheRoutes() throws {
        let doc = try APIDocument.shared.get()
        let routes = Set(HTTPAPI.routes.map { "\($0.method.rawValue) \($0.path)" })
        XCTAssertEqual(Set(doc.operations), routes)
        // The roles the document states are the ones enforced.
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: doc.json) as? [String: Any])
        let paths = try XCTUnwrap(root["paths"] as? [String: Any])
        for route in HTTPAPI.routes {
            let op = (paths[route.path] as? [String: Any])?[route.method.rawValue.lowercased()] as? [String: Any]
            XCTAssertEqual(op?["x-role"] as? String, route.role.map(String.init(describing:)), "\(route.method) \(route.path)")
        }
        // The repository's schemas/openapi.yaml is the same file.
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let yaml = try String(contentsOf: repo.appendingPathComponent("schemas/openapi.yaml"), encoding: .utf8)
        XCTAssertEqual(try APIDocument(yaml: yaml).operations, doc.operations)
    }
}

final class HTTPLimitTests: HTTPTestCase {
    override func configure(_ c: inout ServerConfiguration) { c.httpMaxBodyBytes = 64 << 10 }

    func testOversizedBodyGets413AndTheServerGoesOn() throws {
        let c = try client()
        let big = String(repeating: "x", count: 1 << 20)
        let r = c.http("POST", "/api/v1/search/semantic", json: "{\"query\": \"\(big)\"}")
        XCTAssertEqual(r.status, 413, r.text)
        XCTAssertEqual(r.errorCode, "TOO_LARGE")
        XCTAssertEqual(try client().http("GET", "/health").status, 200)
    }
}

final class HTTPCORSTests: HTTPTestCase {
    override func configure(_ c: inout ServerConfiguration) { c.corsOrigins = ["https://perfumer.example"] }

    func testAllowedOriginGetsHeadersAndPreflight() throws {
        let c = try client()
        let r = c.http("GET", "/health", headers: ["Origin": "https://perfumer.example"])
        XCTAssertEqual(r.headers["access-control-allow-origin"], "https://perfumer.example")
        XCTAssertNil(c.http("GET", "/health", headers: ["Origin": "https://evil.example"]).headers["access-control-allow-origin"])
        let pre = c.http("OPTIONS", "/api/v1/search/semantic", headers: ["Origin": "https://perfumer.example", "Access-Control-Request-Method": "POST"])
        XCTAssertEqual(pre.status, 204)
        XCTAssertTrue(pre.headers["access-control-allow-headers"]?.contains("Authorization") ?? false)
    }
}

/// Keys, roles and tokens on both protocols.
final class AuthTests: HTTPTestCase {
    static let jwtSecret = String(repeating: "s3cret-", count: 6)
    static let es256 = ES256PrivateKey()

    override func configure(_ c: inout ServerConfiguration) {
        c.live.keys = [APIKey(name: "reader", role: .read, secret: "read-key"), APIKey(name: "writer", role: .write, secret: "write-key"),
                       APIKey(name: "boss", role: .admin, secret: "admin-key")]
        c.live.jwtSecret = Self.jwtSecret
        c.live.jwtPublicKey = Self.es256.publicKey.pemRepresentation
    }

    func es256Token(role: String) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: Self.es256)
        return try await keys.sign(RoleClaims(sub: "partner", exp: ExpirationClaim(value: Date().addingTimeInterval(60)), role: role))
    }

    func token(role: String, expiresIn: TimeInterval) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: Self.jwtSecret), digestAlgorithm: .sha256)
        return try await keys.sign(RoleClaims(sub: "ci", exp: ExpirationClaim(value: Date().addingTimeInterval(expiresIn)), role: role))
    }

    func testHTTPRolesAndTokens() async throws {
        let c = try client()
        XCTAssertEqual(c.http("GET", "/health").status, 200, "liveness needs no key")
        let none = c.http("GET", "/api/v1/collections")
        XCTAssertEqual(none.status, 401)
        XCTAssertEqual(none.errorCode, "NOAUTH")
        XCTAssertEqual(c.http("GET", "/api/v1/collections", token: "wrong").errorCode, "WRONGPASS")
        XCTAssertEqual(c.http("GET", "/api/v1/collections", token: "read-key").status, 200)
        let create = #"{"name": "v", "dimension": 2}"#
        let forbidden = c.http("POST", "/api/v1/collections", json: create, token: "read-key")
        XCTAssertEqual(forbidden.status, 403)
        XCTAssertEqual(forbidden.errorCode, "FORBIDDEN")
        XCTAssertEqual(c.http("POST", "/api/v1/collections", json: create, token: "write-key").status, 201)
        XCTAssertEqual(c.http("DELETE", "/api/v1/collections/v", token: "write-key").status, 403, "drop is an admin operation")
        // A signed token carries its role; an expired or forged one does not get in.
        let adminJWT = try await token(role: "admin", expiresIn: 60)
        XCTAssertEqual(c.http("DELETE", "/api/v1/collections/v", token: adminJWT).status, 200)
        let expired = try await token(role: "admin", expiresIn: -60)
        XCTAssertEqual(c.http("GET", "/api/v1/collections", token: expired).status, 401)
        XCTAssertEqual(c.http("GET", "/api/v1/collections", token: adminJWT.dropLast(2) + "xx").status, 401)
        // ES256 tokens signed elsewhere with the matching private key; another key's are refused.
        let partner = try await es256Token(role: "read")
        XCTAssertEqual(c.http("GET", "/api/v1/collections", token: partner).status, 200)
        let stranger = JWTKeyCollection()
        await stranger.add(ecdsa: ES256PrivateKey())
        let forged = try await stranger.sign(RoleClaims(sub: "x", exp: ExpirationClaim(value: Date().addingTimeInterval(60)), role: "admin"))
        XCTAssertEqual(c.http("GET", "/api/v1/collections", token: forged).status, 401)
        // The secret never reaches the metrics or the configuration's messages.
        XCTAssertFalse(c.http("GET", "/metrics").text.contains("read-key"))
    }

    func testLineProtocolAuth() async throws {
        let c = try TestClient(port: tcpPort)
        XCTAssertEqual(c.call("PING"), ["+OK PONG"], "PING needs no key")
        XCTAssertTrue(c.call("COLLECTIONS").first?.hasPrefix("-ERR NOAUTH") ?? false)
        let hello = c.call("HELLO")
        XCTAssertTrue(hello.last?.contains(#""auth":"required""#) ?? false, "\(hello)")
        XCTAssertTrue(c.call("AUTH nope").first?.hasPrefix("-ERR WRONGPASS") ?? false)
        XCTAssertTrue(c.call("AUTH read-key").first?.hasPrefix("+OK authenticated as reader role=read") ?? false)
        XCTAssertEqual(c.call("COLLECTIONS"), ["*0"])
        XCTAssertTrue(c.call(#"CREATE v {"dimension": 2}"#).first?.hasPrefix("-ERR FORBIDDEN") ?? false)
        let jwt = try await token(role: "admin", expiresIn: 60)
        XCTAssertTrue(c.call("HELLO \(jwt)").last?.contains(#""role":"admin""#) ?? false)
        XCTAssertEqual(c.call(#"CREATE v {"dimension": 2}"#), ["+OK created v"])
        XCTAssertEqual(c.call("DROP v"), ["+OK dropped v"])
    }
}

final class RateLimitTests: HTTPTestCase {
    override func configure(_ c: inout ServerConfiguration) {
        c.live.keys = [APIKey(name: "k", role: .read, secret: "key")]
        c.live.perKey = .init(rate: 1, burst: 3)
        c.publicMetrics = true   // read below without spending the key's tokens
    }

    func testTokenBucketAnswers429WithRetryAfter() throws {
        let c = try client()
        let statuses = (0..<5).map { _ in c.http("GET", "/api/v1/collections", token: "key") }
        XCTAssertEqual(statuses.prefix(3).map(\.status), [200, 200, 200])
        let limited = statuses[3]
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.errorCode, "RATE_LIMITED")
        XCTAssertEqual(limited.headers["retry-after"], "1")
        XCTAssertTrue(c.http("GET", "/metrics").text.contains(#"fragrancedb_rate_limited_total{scope="key"} 2"#))
    }

    func testBucketsRefill() {
        let limiter = RateLimiter(.init(rate: 10, burst: 2))
        XCTAssertNil(limiter.acquire("a", now: 0))
        XCTAssertNil(limiter.acquire("a", now: 0))
        XCTAssertEqual(limiter.acquire("a", now: 0) ?? 0, 0.1, accuracy: 1e-9)
        XCTAssertNil(limiter.acquire("b", now: 0), "buckets are per caller")
        XCTAssertNil(limiter.acquire("a", now: 100_000_000), "0.1 s later one token is back")
        limiter.settings = .init(rate: 0, burst: 1)
        XCTAssertNil(limiter.acquire("a", now: 100_000_000), "rate 0 turns limiting off")
    }
}

/// SIGTERM semantics: stop accepting, finish what is in flight, flush and close storage.
final class ShutdownTests: HTTPTestCase {
    func testRequestInFlightFinishesAndItsDataIsKept() async throws {
        let c = try client()
        XCTAssertEqual(c.http("POST", "/api/v1/collections", json: #"{"name": "v", "dimension": 2}"#).status, 201)
        let body = Array((0..<2000).map { "{\"id\": \"r\($0)\", \"vector\": [\($0), 1]}" }.joined(separator: "\n").utf8)
        // Headers and half the body, then shutdown begins, then the rest arrives.
        c.sendRequest("POST", "/api/v1/collections/v/records", body: nil,
                      headers: ["Content-Type": "application/x-ndjson", "Content-Length": String(body.count)])
        c.send(Array(body.prefix(body.count / 2)))
        try await Task.sleep(for: .milliseconds(200))
        let server = self.server!
        let stopping = Task { await server.shutdown() }
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertThrowsError(try TestClient(port: httpPort), "no new connections once shutdown starts")
        c.send(Array(body.dropFirst(body.count / 2)))
        let r = c.readResponse()
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.json["inserted"] as? Int, 2000)
        await stopping.value
        try await running.value
        // Closed cleanly: reopening finds every record and a saved index (no rebuild).
        let db = try Database(directory: dir)
        defer { try? db.close() }
        let v = try db.collection("v")
        XCTAssertEqual(v.count, 2000)
        XCTAssertEqual(v.openReport.source, .loaded)
    }
}

/// Keys and rate limits change on a running server (the route does what SIGHUP does).
final class ReloadTests: HTTPTestCase {
    var configDir: URL!

    override func setUp() async throws {
        configDir = FileManager.default.temporaryDirectory.appendingPathComponent("fdb-reload-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: configDir, withIntermediateDirectories: true)
        dir = configDir.appendingPathComponent("data")
        try #"{"auth": {"keys": ["boss:admin:first-key"]}, "http": {"port": 0}, "tcp": {"port": 0}, "catalogue": {"load": false}}"#
            .write(to: configDir.appendingPathComponent("local.json"), atomically: true, encoding: .utf8)
        let path = configDir.path, data = dir.path, model = Self.modelDirectory
        let load: @Sendable () async throws -> ServerConfiguration = {
            try await ServerConfiguration.load(environmentVariables: [:], flags: ["data.directory": .string(data), "model.directory": .string(model)],
                                               configDirectory: path)
        }
        try await start(try await load(), reload: load)
    }

    override func tearDown() async throws {
        try await super.tearDown()
        try? FileManager.default.removeItem(at: configDir)
    }

    func testReloadSwapsKeysAndKeepsServing() throws {
        let c = try client()
        XCTAssertEqual(c.http("GET", "/api/v1/collections", token: "first-key").status, 200)
        try #"{"auth": {"keys": ["boss:admin:second-key"]}, "rate_limit": {"per_key": 50}, "http": {"port": 0}, "tcp": {"port": 0}, "catalogue": {"load": false}}"#
            .write(to: configDir.appendingPathComponent("local.json"), atomically: true, encoding: .utf8)
        let r = c.http("POST", "/api/v1/admin/reload", token: "first-key")
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertTrue((r.json["reloaded"] as? String ?? "").contains("rate_limit.per_key=50.0"), r.text)
        XCTAssertEqual(c.http("GET", "/api/v1/collections", token: "first-key").status, 401)
        XCTAssertEqual(c.http("GET", "/api/v1/collections", token: "second-key").status, 200)
        // A broken file is refused and the running settings stay.
        try #"{"auth": {"keys": ["boss:root:x"]}}"#.write(to: configDir.appendingPathComponent("local.json"), atomically: true, encoding: .utf8)
        let bad = c.http("POST", "/api/v1/admin/reload", token: "second-key")
        XCTAssertEqual(bad.status, 500, bad.text)
        XCTAssertEqual(bad.errorCode, "BAD_CONFIG")
        XCTAssertEqual(c.http("GET", "/api/v1/collections", token: "second-key").status, 200)
    }
}

extension AuthTests {
    func testClientLibrarySendsItsToken() async throws {
        let anonymous = FragranceClient(port: tcpPort, connections: 1)
        do {
            _ = try await anonymous.count("x")
            XCTFail("no token, yet served")
        } catch FragranceClientError.server(let code, _) {
            XCTAssertEqual(code, .notAuthenticated)
        }
        await anonymous.close()
        let wrong = FragranceClient(port: tcpPort, connections: 1, token: "nope")
        do { try await wrong.ping(); XCTFail("a wrong token is refused on connect") }
        catch FragranceClientError.server(let code, _) { XCTAssertEqual(code, .wrongPassword) }
        await wrong.close()
        let writer = FragranceClient(port: tcpPort, connections: 2, token: "write-key")
        try await writer.createCollection("w", definition: #"{"dimension": 2}"#)
        do { try await writer.dropCollection("w"); XCTFail("a writer dropped a collection") }
        catch FragranceClientError.server(let code, _) { XCTAssertEqual(code, .forbidden) }
        await writer.close()
    }
}

final class AddressRateLimitTests: HTTPTestCase {
    override func configure(_ c: inout ServerConfiguration) { c.live.perAddress = .init(rate: 0.5, burst: 2) }

    func testEachAddressHasItsOwnBucketEvenWithoutAKey() throws {
        let c = try client()
        XCTAssertEqual([c.http("GET", "/health").status, c.http("GET", "/health").status], [200, 200])
        let limited = c.http("GET", "/health")
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.errorCode, "RATE_LIMITED")
        XCTAssertEqual(limited.headers["retry-after"], "2", "0.5 tokens a second: the next one in 2 s")
        XCTAssertTrue(limited.text.contains("this address"))
    }
}

/// `query.lexicon`: words added at start, without recompiling; a broken file stops the start.
final class LexiconFileTests: HTTPTestCase {
    override func configure(_ c: inout ServerConfiguration) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fdb-lexicon-\(UUID().uuidString.prefix(8)).json")
        try? #"{"fields": {"seasons": {"spring": ["벚꽃시즌"]}}, "stopwords": ["추천템"]}"#.write(to: file, atomically: true, encoding: .utf8)
        c.lexiconFile = file.path
    }

    func testExtraWordsAreUnderstoodAndABrokenFileIsRefused() async throws {
        let c = try client()
        XCTAssertEqual(c.http("POST", "/api/v1/collections", json: #"{"name":"perfumes","embedder":"minilm","schema":"perfume"}"#).status, 201)
        XCTAssertEqual(c.http("POST", "/api/v1/collections/perfumes/records", json: #"{"id":"p1","name":"Rose","seasons":["spring"]}"#).status, 200)
        let r = c.http("POST", "/api/v1/search/semantic", json: #"{"query": "벚꽃시즌 추천템"}"#)
        let parsed = r.json["parsed"] as? [String: Any] ?? [:]
        XCTAssertEqual((parsed["terms"] as? [[String: Any]])?.first?["meaning"] as? String, "seasons: spring", r.text)
        XCTAssertEqual(parsed["ignored_words"] as? [String], ["추천템"])

        let broken = dir.appendingPathComponent("broken.json")
        try #"{"fields": {"seasons": {"spring": "봄"}}}"#.write(to: broken, atomically: true, encoding: .utf8)
        var config = ServerConfiguration()
        config.dataDirectory = dir.appendingPathComponent("other").path
        config.lexiconFile = broken.path
        do {
            _ = try await DatabaseServer(configuration: config)
            XCTFail("a broken lexicon must stop the start")
        } catch {
            XCTAssertTrue("\(error)".contains("broken.json: fields.seasons.spring must be a list of strings"), "\(error)")
        }
    }
}
