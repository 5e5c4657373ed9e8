import Foundation
import XCTest
@testable import FragranceClient
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
        // The drifts #18 named, now one behaviour each.
        Case(name: "text and a vector", tcp: #"SEARCH p TEXT "rose" VECTOR [1, 0]"#,
             method: "POST", path: "/api/v1/collections/p/search", body: #"{"text": "rose", "vector": [1, 0]}"#, code: .badRequest),
        Case(name: "unknown collection setting", tcp: #"CREATE q {"dimension": 2, "colour": 1}"#,
             method: "POST", path: "/api/v1/collections", body: #"{"name": "q", "dimension": 2, "colour": 1}"#, code: .unknownField),
        Case(name: "missing dimension", tcp: #"CREATE q {"metric": "l2"}"#,
             method: "POST", path: "/api/v1/collections", body: #"{"name": "q", "metric": "l2"}"#, code: .missingField),
        Case(name: "unknown metric", tcp: #"CREATE q {"dimension": 2, "metric": "manhattan"}"#,
             method: "POST", path: "/api/v1/collections", body: #"{"name": "q", "dimension": 2, "metric": "manhattan"}"#, code: .badValue),
        Case(name: "k over the limit", tcp: "SEARCH p K 1001 VECTOR [1, 0]",
             method: "POST", path: "/api/v1/collections/p/search", body: #"{"vector": [1, 0], "k": 1001}"#, code: .tooLarge),
        Case(name: "k of zero", tcp: "SEARCH p K 0 VECTOR [1, 0]",
             method: "POST", path: "/api/v1/collections/p/search", body: #"{"vector": [1, 0], "k": 0}"#, code: .outOfRange),
        Case(name: "ef over the limit", tcp: "SEARCH p EF 5000 VECTOR [1, 0]",
             method: "POST", path: "/api/v1/collections/p/search", body: #"{"vector": [1, 0], "ef": 5000}"#, code: .tooLarge),
        Case(name: "query k over the limit", tcp: #"QUERY p "rose" K 1001"#,
             method: "POST", path: "/api/v1/search/semantic", body: #"{"query": "rose", "collection": "p", "top_k": 1001}"#, code: .tooLarge),
        Case(name: "unknown search mode", tcp: #"QUERY p "rose" MODE magic"#,
             method: "POST", path: "/api/v1/search/semantic", body: #"{"query": "rose", "collection": "p", "search_type": "magic"}"#, code: .badValue),
        Case(name: "unknown filter field in a count", tcp: #"COUNT p FILTER "colour = 'red'""#,
             method: "POST", path: "/api/v1/collections/p/count", body: #"{"filter": "colour = 'red'"}"#, code: .badFilter),
        Case(name: "unknown recipe field", tcp: #"GENERATE {"fragrance_family": "floral", "colour": "red"}"#,
             method: "POST", path: "/api/v1/generate/recipe", body: #"{"fragrance_family": "floral", "colour": "red"}"#, code: .unknownField),
        Case(name: "bad recipe intensity", tcp: #"GENERATE {"fragrance_family": "floral", "intensity": "loud"}"#,
             method: "POST", path: "/api/v1/generate/recipe", body: #"{"fragrance_family": "floral", "intensity": "loud"}"#, code: .badValue),
        Case(name: "recipe without a brief", tcp: #"GENERATE {"season": "spring"}"#,
             method: "POST", path: "/api/v1/generate/recipe", body: #"{"season": "spring"}"#, code: .missingField),
        Case(name: "recipe to validate with a bad tier", tcp: #"VALIDATE {"top": "bergamot"}"#,
             method: "POST", path: "/api/v1/recipes/validate", body: #"{"top": "bergamot"}"#, code: .badType),
        Case(name: "recipe for an unknown product", tcp: #"GENERATE {"fragrance_family": "floral", "product": "toothpick"}"#,
             method: "POST", path: "/api/v1/generate/recipe", body: #"{"fragrance_family": "floral", "product": "toothpick"}"#, code: .badValue),
        Case(name: "substitutes for an unknown material", tcp: #"SUBSTITUTES {"material": "unobtainium"}"#,
             method: "POST", path: "/api/v1/recipes/substitutes", body: #"{"material": "unobtainium"}"#, code: .notFound),
        Case(name: "substitutes without a material", tcp: #"SUBSTITUTES {"limit": 3}"#,
             method: "POST", path: "/api/v1/recipes/substitutes", body: #"{"limit": 3}"#, code: .missingField),
        Case(name: "substitutes for a material name too long", tcp: #"SUBSTITUTES {"material": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#,
             method: "POST", path: "/api/v1/recipes/substitutes", body: #"{"material": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#, code: .missingField),
        Case(name: "substitutes for a number", tcp: #"SUBSTITUTES {"material": 5}"#,
             method: "POST", path: "/api/v1/recipes/substitutes", body: #"{"material": 5}"#, code: .missingField),
        Case(name: "substitutes limit out of range", tcp: #"SUBSTITUTES {"material": "Coumarin", "limit": 51}"#,
             method: "POST", path: "/api/v1/recipes/substitutes", body: #"{"material": "Coumarin", "limit": 51}"#, code: .badValue),
        Case(name: "substitutes fragrance share out of range", tcp: #"SUBSTITUTES {"material": "Coumarin", "fragrance_percent": 0}"#,
             method: "POST", path: "/api/v1/recipes/substitutes", body: #"{"material": "Coumarin", "fragrance_percent": 0}"#, code: .badValue),
        Case(name: "substitutes for a product with a control byte", tcp: #"SUBSTITUTES {"material": "Coumarin", "product": "candle\u0001"}"#,
             method: "POST", path: "/api/v1/recipes/substitutes", body: #"{"material": "Coumarin", "product": "candle\u0001"}"#, code: .badValue),
        Case(name: "recipe avoid that is not a list", tcp: #"GENERATE {"fragrance_family": "floral", "avoid": "hedione"}"#,
             method: "POST", path: "/api/v1/generate/recipe", body: #"{"fragrance_family": "floral", "avoid": "hedione"}"#, code: .badType),
        Case(name: "recipe product of the wrong type", tcp: #"GENERATE {"fragrance_family": "floral", "product": 4}"#,
             method: "POST", path: "/api/v1/generate/recipe", body: #"{"fragrance_family": "floral", "product": 4}"#, code: .badType),
        Case(name: "recipe to validate at a share over 100%", tcp: #"VALIDATE {"fragrance_percent": 101, "top": []}"#,
             method: "POST", path: "/api/v1/recipes/validate", body: #"{"fragrance_percent": 101, "top": []}"#, code: .badValue),
        Case(name: "query prior out of range", tcp: #"QUERY p "rose" PRIOR 2"#,
             method: "POST", path: "/api/v1/search/hybrid", body: #"{"query": "rose", "collection": "p", "quality_prior": 2}"#, code: .badValue),
        Case(name: "restore outside snapshots/", tcp: "RESTORE ../etc/passwd",
             method: "POST", path: "/api/v1/snapshots/restore", body: #"{"file": "../etc/passwd"}"#, code: .badRequest),
        Case(name: "too many ids", tcp: "DEL p " + (0...10_000).map { "i\($0)" }.joined(separator: " "),
             method: "POST", path: "/api/v1/collections/p/delete",
             body: "{\"ids\": [" + (0...10_000).map { "\"i\($0)\"" }.joined(separator: ", ") + "]}", code: .tooLarge),
        Case(name: "too many ids to look up", tcp: "EXISTS p " + (0...10_000).map { "i\($0)" }.joined(separator: " "),
             method: "POST", path: "/api/v1/collections/p/exists",
             body: "{\"ids\": [" + (0...10_000).map { "\"i\($0)\"" }.joined(separator: ", ") + "]}", code: .tooLarge),
        Case(name: "describe unknown collection", tcp: "DESCRIBE nope",
             method: "GET", path: "/api/v1/collections/nope", body: nil, code: .notFound),
        // The binary vector form (issue #23): b64 of little-endian float32.
        Case(name: "binary vector that is not base64", tcp: "SEARCH p VECTOR b64:@@@",
             method: "POST", path: "/api/v1/collections/p/search", body: #"{"vector": "b64:@@@"}"#, code: .badValue),
        Case(name: "binary vector of a partial float", tcp: "SEARCH p VECTOR b64:AACA",
             method: "POST", path: "/api/v1/collections/p/search", body: #"{"vector": "b64:AACA"}"#, code: .badValue),
        Case(name: "binary vector holding NaN", tcp: "SEARCH p VECTOR b64:AADAfwAAgD8=",
             method: "POST", path: "/api/v1/collections/p/search", body: #"{"vector": "b64:AADAfwAAgD8="}"#, code: .badValue),
        Case(name: "binary vector of the wrong dimension", tcp: "SEARCH p VECTOR b64:AACAPw==",
             method: "POST", path: "/api/v1/collections/p/search", body: #"{"vector": "b64:AACAPw=="}"#, code: .dimensionMismatch),
        Case(name: "binary record vector that is not base64", tcp: #"UPSERT p {"id": "a", "vector": "b64:!!"}"#,
             method: "POST", path: "/api/v1/collections/p/records", body: #"{"id": "a", "vector": "b64:!!"}"#, code: .badRecord),
        Case(name: "record vector as a plain string", tcp: #"UPSERT p {"id": "a", "vector": "1,0"}"#,
             method: "POST", path: "/api/v1/collections/p/records", body: #"{"id": "a", "vector": "1,0"}"#, code: .badRecord),
        // Replication (issue #24).
        Case(name: "log of another history", tcp: "REPLLOG 0123abcd 0",
             method: "GET", path: "/api/v1/replication/log?history=0123abcd&after=0", body: nil, code: .resync),
        Case(name: "log before sequence zero", tcp: "REPLLOG x -1",
             method: "GET", path: "/api/v1/replication/log?history=x&after=-1", body: nil, code: .outOfRange),
        Case(name: "log wait over a minute", tcp: "REPLLOG x 0 WAIT 60001",
             method: "GET", path: "/api/v1/replication/log?history=x&after=0&wait_ms=60001", body: nil, code: .outOfRange),
        Case(name: "page of an unknown collection", tcp: "REPLPAGE nope -1",
             method: "GET", path: "/api/v1/replication/page/nope?after=-1", body: nil, code: .notFound),
        Case(name: "page of zero records", tcp: "REPLPAGE p -1 COUNT 0",
             method: "GET", path: "/api/v1/replication/page/p?after=-1&count=0", body: nil, code: .outOfRange),
        Case(name: "digest of an unknown collection", tcp: "DIGEST nope",
             method: "GET", path: "/api/v1/collections/nope/digest", body: nil, code: .notFound),
        Case(name: "wait for a negative number of replicas", tcp: "WAIT -1 10",
             method: "POST", path: "/api/v1/replication/wait", body: #"{"replicas": -1, "timeout_ms": 10}"#, code: .outOfRange),
        Case(name: "wait longer than a minute", tcp: "WAIT 1 60001",
             method: "POST", path: "/api/v1/replication/wait", body: #"{"replicas": 1, "timeout_ms": 60001}"#, code: .outOfRange),
        Case(name: "replica of a host with a control byte", tcp: "REPLICAOF \"pri\u{01}mary\" 7700",
             method: "POST", path: "/api/v1/admin/replicaof", body: #"{"host": "pri\u0001mary", "port": 7700}"#, code: .badValue),
        Case(name: "replica of a host with a space", tcp: "REPLICAOF \"a b\" 7700",
             method: "POST", path: "/api/v1/admin/replicaof", body: #"{"host": "a b", "port": 7700}"#, code: .badValue),
        Case(name: "replica of port zero", tcp: "REPLICAOF 127.0.0.1 0",
             method: "POST", path: "/api/v1/admin/replicaof", body: #"{"host": "127.0.0.1", "port": 0}"#, code: .badValue),
    ]

    /// Issue #23: MSEARCH (TCP) and POST …/search/batch (HTTP) answer each query as SEARCH
    /// would, in the order given, the same on both protocols and through the Swift client.
    func testMultiSearchAnswersEachQueryAsSearchWould() async throws {
        let tcp = try TestClient(port: tcpPort)
        let http = try client()
        XCTAssertEqual(tcp.call(#"CREATE m {"dimension": 2, "schema": {"fields": [{"name": "kind", "type": "string"}]}}"#), ["+OK created m"])
        let records = (0..<300).map { i -> String in
            let a = Double(i) / 300 * 6.2
            return #"{"id": "r\#(i)", "vector": [\#(cos(a)), \#(sin(a))], "kind": "\#(i % 3 == 0 ? "even" : "odd")"}"#
        }
        XCTAssertEqual(tcp.call("UPSERT m [" + records.joined(separator: ",") + "]"), ["+OK inserted=300 updated=0"])
        let queries: [[Float]] = (0..<40).map { q in [Float(cos(Double(q) * 0.7)), Float(sin(Double(q) * 0.7))] }
        func ids(_ line: String) -> [String] {
            ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        }
        let one = queries.map { q in tcp.call("SEARCH m K 5 FILTER \"kind = 'odd'\" VECTOR [\(q[0]), \(q[1])]").dropFirst().compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["id"] as? String
        } }
        let packed = tcp.call("MSEARCH m FILTER \"kind = 'odd'\" K 5 VECTORS \(BinaryVector.encode(queries.flatMap { $0 }))")
        XCTAssertEqual(packed.first, "*40")
        XCTAssertEqual(packed.dropFirst().map(ids), one)
        let json = tcp.call("MSEARCH m FILTER \"kind = 'odd'\" K 5 VECTORS [" + queries.map { "[\($0[0]), \($0[1])]" }.joined(separator: ", ") + "]")
        XCTAssertEqual(json, packed)
        let viaHTTP = http.http("POST", "/api/v1/collections/m/search/batch", json: #"{"vectors": "\#(BinaryVector.encode(queries.flatMap { $0 }))", "k": 5, "filters": {"kind": "odd"}}"#)
        XCTAssertEqual(viaHTTP.status, 200, viaHTTP.text)
        let results = (viaHTTP.json["results"] as? [[[String: Any]]])?.map { $0.compactMap { $0["id"] as? String } }
        XCTAssertEqual(results, one)
        let swift = FragranceClient(host: "127.0.0.1", port: tcpPort, connections: 1)
        let typed = try await swift.multiSearch("m", vectors: queries, filter: "kind = 'odd'", k: 5)
        XCTAssertEqual(typed.map { $0.map(\.id) }, one)
        await swift.close()

        // The same bad input, the same code on both sides.
        let bad: [(String, String, ErrorCode)] = [
            ("MSEARCH m VECTORS b64:AACAPw==", #"{"vectors": "b64:AACAPw=="}"#, .dimensionMismatch),
            ("MSEARCH m VECTORS [[1, 0], [1, 0, 0]]", #"{"vectors": [[1, 0], [1, 0, 0]]}"#, .dimensionMismatch),
            ("MSEARCH m VECTORS []", #"{"vectors": []}"#, .missingField),
            ("MSEARCH m K 0 VECTORS [[1, 0]]", #"{"vectors": [[1, 0]], "k": 0}"#, .outOfRange),
            ("MSEARCH m VECTORS b64:%%", #"{"vectors": "b64:%%"}"#, .badValue),
            ("MSEARCH m FILTER \"kind =\" VECTORS [[1, 0]]", #"{"vectors": [[1, 0]], "filter": "kind ="}"#, .badFilter),
            ("MSEARCH nope VECTORS [[1, 0]]", #"{"vectors": [[1, 0]]}"#, .notFound),
            ("MSEARCH m VECTORS " + BinaryVector.encode([Float](repeating: 1, count: 2 * 10_001)),
             #"{"vectors": "\#(BinaryVector.encode([Float](repeating: 1, count: 2 * 10_001)))"}"#, .tooLarge),
        ]
        for (line, body, code) in bad {
            let t = tcp.call(line).first ?? ""
            XCTAssertTrue(t.hasPrefix("-ERR \(code.rawValue) "), "\(line.prefix(60)): \(t.prefix(160))")
            let path = line.contains("nope") ? "/api/v1/collections/nope/search/batch" : "/api/v1/collections/m/search/batch"
            let h = http.http("POST", path, json: body)
            XCTAssertEqual(h.errorCode, code.rawValue, "\(body.prefix(60)): \(h.text.prefix(160))")
        }
        // HTTP's JSON forms of the wrong type are named by field.
        for (body, field) in [(#"{"vectors": 5}"#, "vectors"), (#"{"vectors": [1, 0]}"#, "vectors[0]"), (#"{"vectors": [[1, "a"]]}"#, "vectors[0]"),
                              (#"{"vectors": [[1, 0]], "k": "ten"}"#, "k"), (#"{"vectors": [[1, 0]], "colour": 1}"#, "colour"),
                              (#"{"vectors": "b64:AACA\u0000"}"#, "vectors")] {
            let h = http.http("POST", "/api/v1/collections/m/search/batch", json: body)
            XCTAssertEqual(h.status, 400, body)
            XCTAssertEqual((h.json["error"] as? [String: Any])?["field"] as? String, field, "\(body): \(h.text)")
        }
    }

    /// Issue #23: vectors in the binary form are the same vectors as JSON numbers, written and
    /// searched on either protocol.
    func testBinaryVectorsEqualTheirJSONForm() throws {
        let tcp = try TestClient(port: tcpPort)
        let http = try client()
        XCTAssertEqual(tcp.call(#"CREATE b {"dimension": 3, "metric": "l2"}"#), ["+OK created b"])
        let v: [Float] = [0.1, -2.5, 3.25e-3]
        let b64 = BinaryVector.encode(v)
        XCTAssertEqual(b64, "b64:zczMPQAAIMD0/VQ7")
        XCTAssertEqual(try BinaryVector.decode(b64)?.get(), v)
        XCTAssertEqual(tcp.call(#"UPSERT b [{"id": "t", "vector": "\#(b64)"}, {"id": "j", "vector": [1, 1, 1]}]"#), ["+OK inserted=2 updated=0"])
        XCTAssertEqual(http.http("POST", "/api/v1/collections/b/records", json: #"{"id": "h", "vector": "\#(BinaryVector.encode([5, 5, 5]))"}"#).status, 200)
        // Stored exactly: the record read back as numbers is the vector sent in binary.
        let stored = http.http("GET", "/api/v1/collections/b/records/t?vector=true").json["vector"] as? [Double]
        XCTAssertEqual(stored?.map(Float.init), v)
        // A binary query finds the same hits, at the same distances, as its JSON twin.
        let json = tcp.call("SEARCH b K 3 VECTOR [0.1, -2.5, 0.00325]")
        XCTAssertEqual(tcp.call("SEARCH b K 3 VECTOR \(b64)"), json)
        XCTAssertTrue(json.dropFirst().first?.contains(#""distance":0.0,"id":"t""#) ?? false, "\(json)")
        let viaHTTP = http.http("POST", "/api/v1/collections/b/search", json: #"{"vector": "\#(b64)", "k": 3}"#)
        XCTAssertEqual((viaHTTP.json["results"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["t", "j", "h"], viaHTTP.text)
    }

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

    /// The same operations succeed with the same results on both sides.
    func testTheSameOperationGivesTheSameResultOnBothProtocols() throws {
        let tcp = try TestClient(port: tcpPort)
        let http = try client()
        XCTAssertEqual(tcp.call(#"CREATE p {"dimension": 2, "metric": "l2", "schema": {"fields": [{"name": "family", "type": "string"}, {"name": "year", "type": "int"}]}}"#),
                       ["+OK created p"])
        XCTAssertEqual(tcp.call(#"UPSERT p [{"id": "a", "vector": [1, 0], "family": "floral", "year": 2001}, {"id": "b", "vector": [0, 1], "family": "woody", "year": 1990}, {"id": "c", "vector": [0.9, 0.1], "family": "floral", "year": 2010}]"#),
                       ["+OK inserted=3 updated=0"])
        func json(_ line: String?) -> NSDictionary { (try? JSONSerialization.jsonObject(with: Data((line ?? "").utf8))) as? NSDictionary ?? [:] }

        // DESCRIBE is GET /collections/{name}; GET is GET /records/{id}.
        XCTAssertEqual(json(tcp.call("DESCRIBE p").dropFirst().first), http.http("GET", "/api/v1/collections/p").json as NSDictionary)
        XCTAssertEqual(json(tcp.call("GET p c").dropFirst().first), http.http("GET", "/api/v1/collections/p/records/c").json as NSDictionary)
        XCTAssertEqual(json(tcp.call("GET p c").dropFirst().first)["year"] as? Int, 2010)

        // SEARCH is POST /search: the same ids, scores and distances in the same order.
        let lines = tcp.call(#"SEARCH p FILTER "family = 'floral'" K 5 VECTOR [1, 0]"#)
        let tcpHits = lines.dropFirst().map(json)
        let httpHits = (http.http("POST", "/api/v1/collections/p/search", json: #"{"vector": [1, 0], "k": 5, "filters": {"family": "floral"}}"#).json["results"] as? [[String: Any]] ?? [])
        XCTAssertEqual(tcpHits.map { $0["id"] as? String }, ["a", "c"])
        XCTAssertEqual(httpHits.map { $0["rank"] as? Int }, [1, 2])
        XCTAssertEqual(tcpHits, httpHits.map { h in h.filter { $0.key != "rank" } as NSDictionary })

        // COUNT is POST /count, with the filter string or the structured form.
        XCTAssertEqual(tcp.call(#"COUNT p FILTER "year >= 2000""#), ["+OK 2"])
        XCTAssertEqual(http.http("POST", "/api/v1/collections/p/count", json: #"{"filters": {"year": {"gte": 2000}}}"#).json["count"] as? Int, 2)

        // QUERY with RAW similarity is the plain vector search on both sides, scored as a similarity.
        let query = tcp.call(#"QUERY p "anything" MODE similarity RAW EXPLAIN"#)
        XCTAssertTrue(query.first?.hasPrefix("-ERR BAD_REQUEST") ?? false, "no embedder here: \(query)")

        // DEL is DELETE /records/{id}; a missing record is NOT_FOUND over HTTP, deleted=0 over TCP.
        XCTAssertEqual(tcp.call("DEL p b"), ["+OK deleted=1"])
        XCTAssertEqual(tcp.call("DEL p b"), ["+OK deleted=0"])
        XCTAssertEqual(http.http("DELETE", "/api/v1/collections/p/records/a").json["deleted"] as? Int, 1)
        XCTAssertEqual(http.http("DELETE", "/api/v1/collections/p/records/a").errorCode, "NOT_FOUND")
        XCTAssertEqual(tcp.call("EXISTS p a b c"), ["*1", #""c""#])
        XCTAssertEqual(http.http("POST", "/api/v1/collections/p/exists", json: #"{"ids": ["a", "b", "c"]}"#).json["existing"] as? [String], ["c"])
        XCTAssertEqual(http.http("POST", "/api/v1/collections/p/delete", json: #"{"ids": ["c", "zz"]}"#).json["deleted"] as? Int, 1)
        XCTAssertEqual(tcp.call("COUNT p"), ["+OK 0"])

        // BREAKER is GET /circuit-breaker/status.
        XCTAssertEqual(json(tcp.call("BREAKER").dropFirst().first), http.http("GET", "/api/v1/circuit-breaker/status").json as NSDictionary)
    }

    /// Every HTTP route exposes a command of the table (whose role it takes), and every command
    /// that is not about the connection has a route: one operation, two protocols.
    func testEveryCommandHasARouteAndEveryRouteACommand() {
        let routed = Set(HTTPAPI.routes.compactMap(\.command))
        XCTAssertTrue(routed.isSubset(of: Set(CommandTable.all.map(\.name))), "\(routed.subtracting(CommandTable.all.map(\.name)))")
        let connection: Set<String> = ["PING", "HELLO", "AUTH", "HELP", "QUIT"]
        XCTAssertEqual(Set(CommandTable.all.map(\.name)).subtracting(connection).subtracting(routed), [], "commands without a route")
        for route in HTTPAPI.routes where route.command != nil {
            XCTAssertEqual(route.role, CommandTable.byName[route.command!]?.role, route.path)
        }
    }

    /// The id lists of POST …/exists and …/delete: a list of strings, named when it is not.
    func testIdListsAreCheckedByName() throws {
        let tcp = try TestClient(port: tcpPort)
        let http = try client()
        XCTAssertEqual(tcp.call(#"CREATE p {"dimension": 2}"#), ["+OK created p"])
        XCTAssertEqual(tcp.call(#"UPSERT p {"id": "a", "vector": [1, 0]}"#), ["+OK inserted=1 updated=0"])
        for route in ["exists", "delete"] {
            for (body, code) in [("{}", "MISSING_FIELD"), (#"{"ids": "a"}"#, "BAD_TYPE"), (#"{"ids": []}"#, "BAD_TYPE"),
                                 (#"{"ids": ["a", 1]}"#, "BAD_TYPE"), (#"{"ids": ["a"], "colour": 1}"#, "UNKNOWN_FIELD"),
                                 (#"{"ids": ["a",]}"#, "BAD_JSON")] {
                let r = http.http("POST", "/api/v1/collections/p/\(route)", json: body)
                XCTAssertEqual(r.errorCode, code, "\(route) \(body): \(r.text)")
                XCTAssertEqual(r.status, 400, "\(route) \(body)")
            }
            // An id with a NUL or other control byte is just not stored.
            XCTAssertEqual(http.http("POST", "/api/v1/collections/p/\(route)", json: #"{"ids": ["a\u0000b"]}"#).status, 200)
        }
        XCTAssertEqual(tcp.call("COUNT p"), ["+OK 1"], "no bad list deleted anything")
    }
}
