import Foundation
import XCTest
@testable import FragranceProtocol
@testable import FragranceServer

/// Issue #18: the same operation with the same bad input gives the same error code over TCP
/// and over HTTP (one server, both listeners, real sockets).
final class ParityTests: HTTPTestCase {
    struct Case {
        var name: String
        var tcp: String
        var method: String, path: String, body: String?
        var code: ErrorCode
    }

    let cases: [Case] = [
        Case(name: "unknown collection", tcp: "SEARCH nope VECTOR [1, 0]",
             method: "POST", path: "/api/v1/collections/nope/search", body: #"{"vector": [1, 0]}"#, code: .notFound),
        Case(name: "wrong dimension", tcp: "SEARCH p VECTOR [1, 0, 0]",
             method: "POST", path: "/api/v1/collections/p/search", body: #"{"vector": [1, 0, 0]}"#, code: .dimensionMismatch),
        Case(name: "zero query vector", tcp: "SEARCH p VECTOR [0, 0]",
             method: "POST", path: "/api/v1/collections/p/search", body: #"{"vector": [0, 0]}"#, code: .badRequest),
        Case(name: "bad filter", tcp: #"SEARCH p FILTER "family =" VECTOR [1, 0]"#,
             method: "POST", path: "/api/v1/collections/p/search", body: #"{"vector": [1, 0], "filter": "family ="}"#, code: .badFilter),
        Case(name: "over-long query text", tcp: "SEARCH p TEXT \"\(String(repeating: "x", count: 2001))\"",
             method: "POST", path: "/api/v1/collections/p/search", body: "{\"text\": \"\(String(repeating: "x", count: 2001))\"}", code: .tooLarge),
        Case(name: "NUL in an id", tcp: #"UPSERT p {"id": "a\u0000b", "vector": [1, 0]}"#,
             method: "POST", path: "/api/v1/collections/p/records", body: #"{"id": "a\u0000b", "vector": [1, 0]}"#, code: .badRecord),
        Case(name: "unknown record field", tcp: #"UPSERT p {"id": "a", "vector": [1, 0], "colour": "red"}"#,
             method: "POST", path: "/api/v1/collections/p/records", body: #"{"id": "a", "vector": [1, 0], "colour": "red"}"#, code: .badRecord),
        Case(name: "zero record vector", tcp: #"UPSERT p {"id": "a", "vector": [0, 0]}"#,
             method: "POST", path: "/api/v1/collections/p/records", body: #"{"id": "a", "vector": [0, 0]}"#, code: .badRecord),
        Case(name: "trailing comma", tcp: #"UPSERT p {"id": "a", "vector": [1, 0],}"#,
             method: "POST", path: "/api/v1/collections/p/records", body: #"{"id": "a", "vector": [1, 0],}"#, code: .badJSON),
        Case(name: "missing record", tcp: "GET p zz",
             method: "GET", path: "/api/v1/collections/p/records/zz", body: nil, code: .notFound),
        Case(name: "existing collection", tcp: #"CREATE p {"dimension": 2}"#,
             method: "POST", path: "/api/v1/collections", body: #"{"name": "p", "dimension": 2}"#, code: .alreadyExists),
        Case(name: "name differing in case", tcp: #"CREATE P {"dimension": 2}"#,
             method: "POST", path: "/api/v1/collections", body: #"{"name": "P", "dimension": 2}"#, code: .alreadyExists),
        Case(name: "negative seed", tcp: #"CREATE q {"dimension": 2, "seed": -1}"#,
             method: "POST", path: "/api/v1/collections", body: #"{"name": "q", "dimension": 2, "seed": -1}"#, code: .outOfRange),
        Case(name: "boolean dimension", tcp: #"CREATE q {"dimension": true}"#,
             method: "POST", path: "/api/v1/collections", body: #"{"name": "q", "dimension": true}"#, code: .badType),
        Case(name: "drop unknown collection", tcp: "DROP nope",
             method: "DELETE", path: "/api/v1/collections/nope", body: nil, code: .notFound),
    ]

    func testTheSameBadInputGetsTheSameCodeOnBothProtocols() throws {
        let tcp = try TestClient(port: tcpPort)
        let http = try client()
        XCTAssertEqual(tcp.call(#"CREATE p {"dimension": 2, "schema": {"fields": [{"name": "family", "type": "string"}]}}"#), ["+OK created p"])
        for c in cases {
            let line = tcp.call(c.tcp).first ?? ""
            XCTAssertTrue(line.hasPrefix("-ERR \(c.code.rawValue) "), "\(c.name) over TCP: \(line.prefix(200))")
            let reply = http.http(c.method, c.path, json: c.body)
            XCTAssertEqual(reply.errorCode, c.code.rawValue, "\(c.name) over HTTP: \(reply.text.prefix(200))")
            XCTAssertEqual(reply.status, c.code.httpStatus, "\(c.name): HTTP status follows the code")
        }
        XCTAssertEqual(tcp.call("COUNT p"), ["+OK 0"], "no bad input stored anything")
        XCTAssertEqual(tcp.call("PING"), ["+OK PONG"])
    }
}
