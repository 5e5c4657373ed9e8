import FragranceCore
import Foundation
import JWTKit
import XCTest
@testable import FragranceServer
@testable import FragranceStore

/// Issue #17 on the HTTP side and for authentication on both protocols.
final class HTTPHardeningTests: HTTPTestCase {
    static let jwtSecret = String(repeating: "hardening-", count: 4)

    override func configure(_ c: inout ServerConfiguration) {
        c.live.keys = [APIKey(name: "boss", role: .admin, secret: "admin-key")]
        c.live.jwtSecret = Self.jwtSecret
        c.httpHeaderTimeoutSeconds = 1
        c.httpBodyTimeoutSeconds = 1
        c.httpIdleTimeoutSeconds = 2
    }

    func sign(_ claims: RoleClaims) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: Self.jwtSecret), digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }

    /// True when the server closed the connection within `seconds`.
    func closed(_ c: TestClient, within seconds: Double) -> Bool {
        let t0 = Date()
        while Date().timeIntervalSince(t0) < seconds {
            var b = [UInt8](repeating: 0, count: 1024)
            let n = recv(c.fd, &b, b.count, 0)
            if n == 0 { return true }
            if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK { return true }
        }
        return false
    }

    func testSlowHeadersAndShortBodiesAreCutOff() throws {
        // Half a request head, trickled: closed after the header deadline.
        let slow = try TestClient(port: httpPort, timeoutSeconds: 1)
        slow.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        Thread.sleep(forTimeInterval: 0.5)
        slow.send("X-A: 1\r\n")
        XCTAssertTrue(closed(slow, within: 3), "a request head that never ends holds no connection")
        // A body shorter than its Content-Length: closed after the body deadline.
        let short = try TestClient(port: httpPort, timeoutSeconds: 1)
        short.send("POST /api/v1/collections HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer admin-key\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na")
        XCTAssertTrue(closed(short, within: 3), "a body that never ends holds no connection")
        // A keep-alive connection is answered, then closed once idle.
        let idle = try TestClient(port: httpPort, timeoutSeconds: 1)
        XCTAssertEqual(idle.http("GET", "/health").status, 200)
        XCTAssertTrue(closed(idle, within: 4))
        XCTAssertEqual(try client().http("GET", "/health").status, 200)
    }

    func testMetricsNeedAKeyWhenKeysAreSet() throws {
        let c = try client()
        XCTAssertEqual(c.http("GET", "/metrics").status, 401)
        XCTAssertEqual(c.http("GET", "/metrics", token: "admin-key").status, 200)
    }

    func testTokensWithoutExpiryOrNotYetValidAreRefused() async throws {
        let c = try client()
        let forever = try await sign(RoleClaims(sub: "old", exp: nil, role: "admin"))
        XCTAssertEqual(c.http("GET", "/api/v1/collections", token: forever).status, 401, "no exp: refused unless auth.jwt_allow_no_expiry")
        let early = try await sign(RoleClaims(sub: "early", exp: ExpirationClaim(value: Date().addingTimeInterval(600)), role: "admin",
                                              nbf: NotBeforeClaim(value: Date().addingTimeInterval(300))))
        XCTAssertEqual(c.http("GET", "/api/v1/collections", token: early).status, 401, "nbf in the future")
        let good = try await sign(RoleClaims(sub: "now", exp: ExpirationClaim(value: Date().addingTimeInterval(600)), role: "admin",
                                             nbf: NotBeforeClaim(value: Date().addingTimeInterval(-5))))
        XCTAssertEqual(c.http("GET", "/api/v1/collections", token: good).status, 200)
        try await server.access.replace(keys: [], jwtSecret: Self.jwtSecret, allowTokensWithoutExpiry: true)
        XCTAssertEqual(c.http("GET", "/api/v1/collections", token: forever).status, 200, "allowed when configured")
    }

    func testStrictJSONAndIntegersOverHTTP() throws {
        let c = try client()
        let seed = c.http("POST", "/api/v1/collections", json: #"{"name": "x", "dimension": 4, "seed": -1}"#, token: "admin-key")
        XCTAssertEqual(seed.status, 400)
        XCTAssertEqual(seed.errorCode, "OUT_OF_RANGE")
        XCTAssertEqual(c.http("POST", "/api/v1/collections", json: #"{"name": "x", "dimension": true}"#, token: "admin-key").errorCode, "BAD_TYPE")
        let comma = c.http("POST", "/api/v1/collections", json: #"{"name": "x", "dimension": 4,}"#, token: "admin-key")
        XCTAssertEqual(comma.status, 400)
        XCTAssertEqual(comma.errorCode, "BAD_JSON")
        XCTAssertEqual(c.http("POST", "/api/v1/collections", json: #"{"name": "x", "dimension": 4}"#, token: "admin-key").status, 201)
        let search = c.http("POST", "/api/v1/collections/x/search", json: #"{"vector": [1, 0, 0, 0], "k": 5,}"#, token: "admin-key")
        XCTAssertEqual(search.errorCode, "BAD_JSON")
        let k = c.http("POST", "/api/v1/collections/x/search", json: #"{"vector": [1, 0, 0, 0], "k": 1e19}"#, token: "admin-key")
        XCTAssertEqual(k.errorCode, "OUT_OF_RANGE")
        XCTAssertFalse(k.text.contains("-9223372036854775808"), k.text)
        let nul = c.http("POST", "/api/v1/collections/x/records", json: #"{"id": "a\u0000b", "vector": [1, 0, 0, 0]}"#, token: "admin-key")
        XCTAssertEqual(nul.errorCode, "BAD_RECORD")
        // As on TCP: query text over limits.max_query_length is TOO_LARGE (413).
        let long = c.http("POST", "/api/v1/collections/x/search", json: #"{"text": "\#(String(repeating: "x", count: 2001))"}"#, token: "admin-key")
        XCTAssertEqual(long.status, 413)
        XCTAssertEqual(long.errorCode, "TOO_LARGE")
        let semantic = c.http("POST", "/api/v1/search/semantic", json: #"{"query": "\#(String(repeating: "x", count: 2001))"}"#, token: "admin-key")
        XCTAssertEqual(semantic.errorCode, "TOO_LARGE")
        // As on TCP: vectors the metric cannot rank are named, records and queries alike.
        let zero = c.http("POST", "/api/v1/collections/x/records", json: #"{"id": "z", "vector": [0, 0, 0, 0]}"#, token: "admin-key")
        XCTAssertEqual(zero.status, 400)
        XCTAssertEqual(zero.errorCode, "BAD_RECORD")
        XCTAssertTrue(zero.text.contains("vector is all zeros"), zero.text)
        let query = c.http("POST", "/api/v1/collections/x/search", json: #"{"vector": [0, 0, 0, 0]}"#, token: "admin-key")
        XCTAssertEqual(query.errorCode, "BAD_REQUEST")
        XCTAssertTrue(query.text.contains("query vector is all zeros"), query.text)
    }

    func testFailedAuthenticationIsSlowedThenRefusedPerAddress() throws {
        // One connection: closed after three failures, each answered only after a delay.
        let t = try TestClient(port: tcpPort)
        let t0 = Date()
        XCTAssertEqual(t.call("AUTH guess-1").first, "-ERR WRONGPASS invalid token")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(t0), 0.2, "a failed AUTH is answered after a delay")
        XCTAssertEqual(t.call("AUTH guess-2").first, "-ERR WRONGPASS invalid token")
        XCTAssertEqual(t.call("AUTH guess-3").first, "-ERR WRONGPASS invalid token")
        XCTAssertEqual(t.line(), "-ERR WRONGPASS 3 failed authentications on this connection; closing")
        XCTAssertNil(t.line())
        // The address: 10 failures in all (TCP and HTTP together), then refused before checking.
        let h = try client()
        var statuses: [Int] = []
        for i in 0..<8 { statuses.append(h.http("GET", "/api/v1/collections", token: "guess-h\(i)").status) }
        XCTAssertEqual(statuses.filter { $0 == 401 }.count, 7)
        XCTAssertEqual(statuses.last, 429)
        XCTAssertTrue(try TestClient(port: tcpPort).call("AUTH admin-key").first?.hasPrefix("-ERR RATE_LIMITED too many failed authentications") ?? false,
                      "even a right key waits while the address is throttled")
    }

    func testOpenModeAcceptsOnlyRealLoopbackAddresses() {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"] { XCTAssertTrue(ServerConfiguration.isLoopback(host), host) }
        for host in ["127.example.com", "0.0.0.0", "10.0.0.1", "::", "127.0.0.1.nip.io", "::ffff:10.0.0.1"] {
            XCTAssertFalse(ServerConfiguration.isLoopback(host), host)
        }
        var c = ServerConfiguration()
        c.httpHost = "127.example.com"
        XCTAssertThrowsError(try c.checkExposure())
    }
}
