import Foundation
import XCTest
@testable import FragranceServer

/// Issue #19: NDJSON bulk writes answer item by item (Elasticsearch `_bulk` style) — every
/// good line written, each bad one with its own error and line — with all-or-nothing as an
/// option (`?atomic=true`).
final class BulkTests: HTTPTestCase {
    func testEachLineGetsItsOwnResult() throws {
        let http = try client()
        XCTAssertEqual(http.http("POST", "/api/v1/collections", json: #"{"name": "shop", "dimension": 2}"#).status, 201)
        XCTAssertEqual(http.http("POST", "/api/v1/collections/shop/records", json: #"{"id": "old", "vector": [1, 0], "price": 3}"#).status, 200)
        let body = [
            #"{"id": "a", "vector": [1, 0], "price": 12}"#,
            #"{"id": "b", "vector": [1], "price": 5}"#,            // wrong dimension
            "",
            #"{"id": "c", "vector": [0, 1], "price": "cheap"}"#,   // price is int by now
            #"{"id": "old", "vector": [0.5, 0.5], "price": 4}"#,
            #"{"id": "d", "vector": [0, 1]"#,                      // not JSON
            #"{"id": "a", "vector": [0, 1], "price": 13}"#,        // a again: an update
        ].joined(separator: "\n")
        let r = http.http("POST", "/api/v1/collections/shop/records", json: body, headers: ["Content-Type": "application/x-ndjson"])
        XCTAssertEqual(r.status, 200, r.text)
        let items = r.json["items"] as? [[String: Any]] ?? []
        XCTAssertEqual(items.map { $0["line"] as? Int }, [1, 2, 4, 5, 6, 7])
        XCTAssertEqual(items.map { $0["result"] as? String }, ["inserted", "error", "error", "updated", "error", "updated"], r.text)
        XCTAssertEqual((items[1]["error"] as? [String: Any])?["code"] as? String, "DIM_MISMATCH")
        XCTAssertEqual((items[2]["error"] as? [String: Any])?["code"] as? String, "BAD_TYPE")
        XCTAssertEqual(items[2]["id"] as? String, "c")
        XCTAssertEqual((items[4]["error"] as? [String: Any])?["code"] as? String, "BAD_JSON")
        XCTAssertTrue(((items[4]["error"] as? [String: Any])?["message"] as? String ?? "").contains("line 6"))
        XCTAssertEqual(r.json["inserted"] as? Int, 1)
        XCTAssertEqual(r.json["updated"] as? Int, 2)
        XCTAssertEqual(r.json["errors"] as? Int, 3)
        XCTAssertEqual(http.http("POST", "/api/v1/collections/shop/count").json["count"] as? Int, 2, "old and a")
        XCTAssertEqual(http.http("GET", "/api/v1/collections/shop/records/a").json["price"] as? Int, 13, "the later line wins")

        // All or nothing when asked: the first bad line refuses the lot.
        let atomic = http.http("POST", "/api/v1/collections/shop/records?atomic=true", json: body, headers: ["Content-Type": "application/x-ndjson"])
        XCTAssertEqual(atomic.status, 400)
        XCTAssertTrue(atomic.text.contains("line 6"), atomic.text)
        let typed = http.http("POST", "/api/v1/collections/shop/records?atomic=true",
                              json: #"{"id": "e", "vector": [1, 0]}"# + "\n" + #"{"id": "f", "vector": [0, 1], "price": "x"}"#,
                              headers: ["Content-Type": "application/x-ndjson"])
        XCTAssertEqual(typed.errorCode, "BAD_TYPE", typed.text)
        XCTAssertEqual(http.http("POST", "/api/v1/collections/shop/count").json["count"] as? Int, 2, "nothing of a refused atomic write")
        XCTAssertEqual(http.http("POST", "/api/v1/collections/shop/records?atomic=maybe", json: "{}", headers: ["Content-Type": "application/x-ndjson"]).errorCode,
                       "BAD_VALUE")
    }

    /// The same operation over TCP: UPSERT … EACH answers the same items.
    func testUpsertEachOverTCPMatchesTheHTTPItems() throws {
        let http = try client()
        let tcp = try TestClient(port: tcpPort)
        XCTAssertEqual(tcp.call(#"CREATE t {"dimension": 2}"#), ["+OK created t"])
        XCTAssertEqual(tcp.call(#"CREATE h {"dimension": 2}"#), ["+OK created h"])
        let records = [#"{"id": "a", "vector": [1, 0], "n": 1}"#, #"{"id": "b", "vector": [1, 0, 0]}"#, #"{"id": "c", "vector": [0, 1], "n": "x"}"#, #"{"id": "a", "vector": [0, 1]}"#]
        let line = tcp.call("UPSERT t EACH [" + records.joined(separator: ",") + "]")
        XCTAssertEqual(line.first, "*1", "\(line)")
        let viaTCP = (try? JSONSerialization.jsonObject(with: Data((line.last ?? "").utf8))) as? [String: Any] ?? [:]
        let viaHTTP = http.http("POST", "/api/v1/collections/h/records", json: records.joined(separator: "\n"), headers: ["Content-Type": "application/x-ndjson"]).json
        func shape(_ o: [String: Any]) -> [String] { (o["items"] as? [[String: Any]] ?? []).map { "\($0["line"] ?? "") \($0["id"] ?? "") \($0["result"] ?? "") \(($0["error"] as? [String: Any])?["code"] ?? "")" } }
        XCTAssertEqual(shape(viaTCP), ["1 a inserted ", "2 b error DIM_MISMATCH", "3 c error BAD_TYPE", "4 a updated "])
        XCTAssertEqual(shape(viaTCP), shape(viaHTTP))
        XCTAssertEqual(tcp.call("COUNT t"), ["+OK 1"])
        XCTAssertTrue(tcp.call(#"UPSERT t ALL {"id": "z", "vector": [1, 0]}"#).first?.hasPrefix("-ERR SYNTAX") ?? false)
    }
}
