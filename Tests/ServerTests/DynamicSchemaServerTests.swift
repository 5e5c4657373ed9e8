import Foundation
import XCTest
@testable import FragranceProtocol
@testable import FragranceServer

/// Issue #19's first wall, over real sockets on both protocols: a collection created without a
/// schema takes its fields from the records (typed by their first values), fields can be added
/// (TCP ALTER, HTTP PATCH) with familiar type names, and named schemas are an explicit choice.
final class DynamicSchemaServerTests: HTTPTestCase {
    func json(_ line: String?) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data((line ?? "").utf8))) as? [String: Any] ?? [:] }
    func fieldTypes(_ description: [String: Any]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: (description["fields"] as? [[String: Any]] ?? []).map { ($0["name"] as? String ?? "", $0["type"] as? String ?? "") })
    }

    func testACollectionWithoutASchemaTakesItsFieldsFromTheRecords() throws {
        let http = try client()
        let tcp = try TestClient(port: tcpPort)
        let created = http.http("POST", "/api/v1/collections", json: #"{"name": "shop", "dimension": 2}"#)
        XCTAssertEqual(created.status, 201, created.text)
        XCTAssertEqual(created.json["dynamic"] as? Bool, true)
        XCTAssertEqual((created.json["fields"] as? [Any])?.count, 0, "no perfume schema by default")

        let write = http.http("POST", "/api/v1/collections/shop/records", json: #"""
            [{"id": "a", "vector": [1, 0], "brand": "Maison Noir", "price": 12, "tags": ["sale", "new"]},
             {"id": "b", "vector": [0, 1], "brand": "Atelier", "price": 24.5, "stock": 0}]
            """#)
        XCTAssertEqual(write.status, 200, write.text)
        XCTAssertEqual(tcp.call(#"UPSERT shop {"id": "c", "vector": [0.7, 0.7], "brand": "Nuit", "price": 8, "stock": 5, "tags": ["sale"]}"#),
                       ["+OK inserted=1 updated=0"])
        let tcpDescription = json(tcp.call("DESCRIBE shop").dropFirst().first)
        XCTAssertEqual(fieldTypes(tcpDescription), ["brand": "string", "price": "float", "tags": "set", "stock": "int"])
        XCTAssertEqual(fieldTypes(http.http("GET", "/api/v1/collections/shop").json), fieldTypes(tcpDescription))

        XCTAssertEqual(tcp.call(#"COUNT shop FILTER "price < 20 AND tags CONTAINS 'sale'""#), ["+OK 2"])
        XCTAssertEqual(http.http("POST", "/api/v1/collections/shop/count", json: #"{"filters": {"stock": {"gte": 1}}}"#).json["count"] as? Int, 1)
        let keyword = tcp.call(#"QUERY shop "maison" MODE keyword RAW"#)
        XCTAssertEqual(keyword.dropFirst().map { json($0)["id"] as? String }, ["a"], "string fields are keyword fields: \(keyword)")

        // A later value of another type: BAD_TYPE naming the field and the record, on both sides.
        let tcpBad = tcp.call(#"UPSERT shop {"id": "d", "vector": [1, 0], "price": "cheap"}"#).first ?? ""
        XCTAssertTrue(tcpBad.hasPrefix("-ERR BAD_TYPE record 'd': field 'price' is float"), tcpBad)
        let httpBad = http.http("POST", "/api/v1/collections/shop/records", json: #"{"id": "d", "vector": [1, 0], "price": "cheap"}"#)
        XCTAssertEqual(httpBad.status, 400)
        XCTAssertEqual(httpBad.errorCode, "BAD_TYPE")
        XCTAssertEqual(tcp.call("COUNT shop"), ["+OK 3"])
    }

    func testAlterAndPatchAddFieldsWithFamiliarTypeNames() throws {
        let http = try client()
        let tcp = try TestClient(port: tcpPort)
        XCTAssertEqual(tcp.call(#"CREATE p {"dimension": 2, "schema": {"fields": [{"name": "name", "type": "text"}, {"name": "sizes", "type": "strings"}, {"name": "price", "type": "double"}]}}"#),
                       ["+OK created p"])
        XCTAssertEqual(fieldTypes(json(tcp.call("DESCRIBE p").dropFirst().first)), ["name": "text", "sizes": "set", "price": "float"])
        XCTAssertEqual(json(tcp.call("DESCRIBE p").dropFirst().first)["dynamic"] as? Bool, false, "a given schema is fixed")
        XCTAssertTrue(tcp.call(#"UPSERT p {"id": "a", "vector": [1, 0], "colour": "red"}"#).first?.hasPrefix("-ERR BAD_RECORD") ?? false)

        let altered = tcp.call(#"ALTER p {"fields": [{"name": "colour", "type": "keyword"}]}"#)
        XCTAssertEqual(fieldTypes(json(altered.dropFirst().first))["colour"], "string", "\(altered)")
        let patched = http.http("PATCH", "/api/v1/collections/p", json: #"{"fields": [{"name": "stock", "type": "integer"}]}"#)
        XCTAssertEqual(patched.status, 200, patched.text)
        XCTAssertEqual(fieldTypes(patched.json)["stock"], "int")
        XCTAssertEqual(tcp.call(#"UPSERT p {"id": "a", "vector": [1, 0], "colour": "red", "stock": 4, "sizes": ["s", "m"]}"#), ["+OK inserted=1 updated=0"])
        XCTAssertEqual(tcp.call(#"COUNT p FILTER "colour = 'red' AND stock > 3 AND sizes CONTAINS 'm'""#), ["+OK 1"])

        // Turning inference on: a new field now comes with the record.
        XCTAssertEqual(http.http("PATCH", "/api/v1/collections/p", json: #"{"dynamic": true}"#).json["dynamic"] as? Bool, true)
        XCTAssertEqual(tcp.call(#"UPSERT p {"id": "b", "vector": [0, 1], "year": 2001}"#), ["+OK inserted=1 updated=0"])
        XCTAssertEqual(tcp.call(#"COUNT p FILTER "year = 2001""#), ["+OK 1"])

        // Explicit named schemas are fixed.
        XCTAssertEqual(tcp.call(#"CREATE perf {"dimension": 2, "schema": "perfume"}"#), ["+OK created perf"])
        let perf = json(tcp.call("DESCRIBE perf").dropFirst().first)
        XCTAssertEqual(perf["dynamic"] as? Bool, false)
        XCTAssertEqual(fieldTypes(perf)["notes"], "tiered_set")
    }

    /// The same bad ALTER gives the same code over TCP and HTTP.
    func testBadAltersGetTheSameCodeOnBothProtocols() throws {
        let http = try client()
        let tcp = try TestClient(port: tcpPort)
        XCTAssertEqual(tcp.call(#"CREATE p {"dimension": 2, "schema": {"fields": [{"name": "price", "type": "float"}]}}"#), ["+OK created p"])
        let cases: [(String, String, ErrorCode)] = [
            ("existing field", #"{"fields": [{"name": "Price", "type": "int"}]}"#, .alreadyExists),
            ("unknown type", #"{"fields": [{"name": "x", "type": "money"}]}"#, .badSchema),
            ("no type", #"{"fields": [{"name": "x"}]}"#, .missingField),
            ("unknown field key", #"{"fields": [{"name": "x", "type": "int", "colour": 1}]}"#, .unknownField),
            ("unknown key", #"{"columns": []}"#, .unknownField),
            ("nothing to change", #"{}"#, .badRequest),
            ("dynamic not a boolean", #"{"dynamic": 1}"#, .badType),
            ("fields not a list", #"{"fields": {"name": "x"}}"#, .badType),
            ("reserved name", #"{"fields": [{"name": "vector", "type": "int"}]}"#, .badSchema),
            ("bad name", #"{"fields": [{"name": "a b", "type": "int"}]}"#, .badSchema),
        ]
        for (name, body, code) in cases {
            let line = tcp.call("ALTER p \(body)").first ?? ""
            XCTAssertTrue(line.hasPrefix("-ERR \(code.rawValue) "), "\(name) over TCP: \(line)")
            let reply = http.http("PATCH", "/api/v1/collections/p", json: body)
            XCTAssertEqual(reply.errorCode, code.rawValue, "\(name) over HTTP: \(reply.text)")
            XCTAssertEqual(reply.status, code.httpStatus, name)
        }
        XCTAssertTrue(tcp.call(#"ALTER nope {"dynamic": true}"#).first?.hasPrefix("-ERR NOT_FOUND") ?? false)
        XCTAssertEqual(http.http("PATCH", "/api/v1/collections/nope", json: #"{"dynamic": true}"#).status, 404)
        XCTAssertEqual(fieldTypes(json(tcp.call("DESCRIBE p").dropFirst().first)), ["price": "float"], "no bad ALTER changed the schema")
    }

    /// A dynamic collection with the embedder: records without vectors are embedded from their
    /// string fields while the collection has no text field (the real MiniLM model).
    func testADynamicCollectionWithTheEmbedderEmbedsItsStringFields() throws {
        let http = try client()
        XCTAssertEqual(http.http("POST", "/api/v1/collections", json: #"{"name": "notes", "embedder": "minilm"}"#).status, 201)
        let write = http.http("POST", "/api/v1/collections/notes/records", json: #"""
            [{"id": "citrus", "name": "Bergamot Sun", "family": "citrus"}, {"id": "oud", "name": "Black Oud", "family": "woody"}]
            """#)
        XCTAssertEqual(write.status, 200, write.text)
        let hits = http.http("POST", "/api/v1/collections/notes/search", json: #"{"text": "fresh lemon and bergamot", "k": 1}"#)
        XCTAssertEqual((hits.json["results"] as? [[String: Any]])?.first?["id"] as? String, "citrus", hits.text)
    }

    /// Booleans: inferred from true/false, stored as a bool field, filtered with true/false on
    /// both protocols (and the structured form), counted by FACETS, kept as JSON booleans.
    func testBooleansAreAType() throws {
        let http = try client()
        let tcp = try TestClient(port: tcpPort)
        XCTAssertEqual(tcp.call(#"CREATE shop {"dimension": 2}"#), ["+OK created shop"])
        XCTAssertEqual(tcp.call(#"UPSERT shop [{"id": "a", "vector": [1, 0], "in_stock": true}, {"id": "b", "vector": [0, 1], "in_stock": false}, {"id": "c", "vector": [1, 1]}]"#),
                       ["+OK inserted=3 updated=0"])
        XCTAssertEqual(fieldTypes(json(tcp.call("DESCRIBE shop").dropFirst().first))["in_stock"], "bool")
        XCTAssertEqual(tcp.call(#"COUNT shop FILTER "in_stock = true""#), ["+OK 1"])
        XCTAssertEqual(tcp.call(#"COUNT shop FILTER "in_stock != TRUE""#), ["+OK 1"], "a record without the field matches neither")
        XCTAssertEqual(http.http("POST", "/api/v1/collections/shop/count", json: #"{"filters": {"in_stock": false}}"#).json["count"] as? Int, 1)
        XCTAssertEqual(http.http("GET", "/api/v1/collections/shop/records/a").json["in_stock"] as? Bool, true)
        XCTAssertTrue(http.http("GET", "/api/v1/collections/shop/records/b").text.contains(#""in_stock":false"#))
        let facets = json(tcp.call(#"FACETS shop "in_stock""#).last)["facets"] as? [[String: Any]]
        XCTAssertEqual((facets?.first?["values"] as? [[String: Any]])?.map { "\($0["value"]!)=\($0["count"]!)" }, ["false=1", "true=1"], "ties alphabetical")
        XCTAssertEqual(facets?.first?["missing"] as? Int, 1)
        let bad = tcp.call(#"UPSERT shop {"id": "d", "vector": [1, 0], "in_stock": "yes"}"#).first ?? ""
        XCTAssertTrue(bad.hasPrefix("-ERR BAD_TYPE") && bad.contains("'in_stock'"), bad)
        let badFilter = tcp.call(#"COUNT shop FILTER "in_stock = 'yes'""#).first ?? ""
        XCTAssertTrue(badFilter.hasPrefix("-ERR BAD_FILTER") && badFilter.contains("true or false"), badFilter)
        XCTAssertTrue(tcp.call(#"COUNT shop FILTER "in_stock > 0""#).first?.hasPrefix("-ERR BAD_FILTER") ?? false)
        let altered = http.http("PATCH", "/api/v1/collections/shop", json: #"{"fields": [{"name": "gift", "type": "boolean"}]}"#)
        XCTAssertEqual(fieldTypes(altered.json)["gift"], "bool", altered.text)
    }
}
