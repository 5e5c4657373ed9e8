import Foundation
import XCTest
@testable import FragranceProtocol
@testable import FragranceServer

/// Issue #19 over real sockets: browsing (TCP SCROLL, HTTP GET …/records) with a cursor,
/// facets (FACETS, POST …/facets), and search paging (offset, thresholds, records and field
/// projection in one reply), the same on both protocols.
final class BrowseServerTests: HTTPTestCase {
    func json(_ line: String?) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data((line ?? "").utf8))) as? [String: Any] ?? [:] }
    func q(_ s: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return s.addingPercentEncoding(withAllowedCharacters: allowed)!
    }

    /// 45 records: brand, year (every fifth without), rating, tags.
    func fill(_ tcp: TestClient) {
        XCTAssertEqual(tcp.call(#"CREATE shop {"dimension": 2}"#), ["+OK created shop"])
        let brands = ["Atelier", "Nuit", "Zeta"]
        let records = (0..<45).map { i -> String in
            let angle = Double(i) / 45 * 1.5
            var r = #"{"id": "r\#(String(format: "%02d", i))", "vector": [\#(cos(angle)), \#(sin(angle))], "brand": "\#(brands[i % 3])", "rating": \#(Double(i % 9) / 2), "tags": [\#(i % 2 == 0 ? #""sale""# : #""new", "niche""#)]"#
            if i % 5 != 0 { r += #", "year": \#(1980 + i)"# }
            return r + "}"
        }
        XCTAssertEqual(tcp.call("UPSERT shop [" + records.joined(separator: ",") + "]"), ["+OK inserted=45 updated=0"])
    }

    /// Query strings as forms and URLSearchParams write them: '+' for a space, encoded keys.
    /// Before, the filter reached the grammar as "rating+>=+1" (BAD_FILTER at '+').
    func testQueryStringsDecodeLikeForms() throws {
        let http = try client()
        let tcp = try TestClient(port: tcpPort)
        fill(tcp)
        let plus = http.http("GET", "/api/v1/collections/shop/records?filter=brand+%3D+%27Nuit%27+AND+rating+%3E%3D+1&%6Frder=rating%3Adesc&limit=50")
        XCTAssertEqual(plus.status, 200, plus.text)
        let percent = http.http("GET", "/api/v1/collections/shop/records?filter=\(q("brand = 'Nuit' AND rating >= 1"))&order=rating:desc&limit=50")
        XCTAssertEqual(percent.status, 200, percent.text)
        XCTAssertEqual(plus.json["count"] as? Int, percent.json["count"] as? Int)
        XCTAssertEqual((plus.json["records"] as? [[String: Any]])?.map { $0["id"] as? String }, (percent.json["records"] as? [[String: Any]])?.map { $0["id"] as? String })
        XCTAssertGreaterThan(plus.json["count"] as? Int ?? 0, 5)
        // An encoded '+' is a plus sign.
        XCTAssertEqual(tcp.call(#"UPSERT shop {"id": "plus", "vector": [1, 1], "brand": "Nuit+Jour"}"#), ["+OK inserted=1 updated=0"])
        let literal = http.http("GET", "/api/v1/collections/shop/records?filter=brand+%3D+%27Nuit%2BJour%27")
        XCTAssertEqual(literal.status, 200, literal.text)
        XCTAssertEqual((literal.json["records"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["plus"])
        let info = http.http("GET", "/api/v1/info?section=memory")
        XCTAssertNotNil(info.json["memory"], info.text)
    }

    func testScrollAndGetRecordsPageTheSameWayWithOneCursor() throws {
        let http = try client()
        let tcp = try TestClient(port: tcpPort)
        fill(tcp)
        // TCP: records, then the tail line.
        var tcpIds: [String] = [], after: String?, pages = 0
        repeat {
            let reply = tcp.call(#"SCROLL shop FILTER "rating >= 1" ORDER rating:desc LIMIT 8"# + (after.map { " AFTER \($0)" } ?? ""))
            XCTAssertTrue(reply.first?.hasPrefix("*") ?? false, "\(reply)")
            let tail = json(reply.last)
            XCTAssertEqual(tail["count"] as? Int, 35, "45 minus the ten with rating 0 and 0.5")
            tcpIds += reply.dropFirst().dropLast().map { json($0)["id"] as? String ?? "?" }
            after = tail["next"] as? String
            pages += 1
        } while after != nil && pages < 20
        XCTAssertEqual(pages, 5)
        XCTAssertEqual(tcpIds.count, 35)
        XCTAssertEqual(Set(tcpIds).count, 35)

        // HTTP: the same pages; a cursor from HTTP continues on TCP.
        var httpIds: [String] = []
        after = nil
        repeat {
            let reply = http.http("GET", "/api/v1/collections/shop/records?filter=\(q("rating >= 1"))&order=rating:desc&limit=8" + (after.map { "&after=\($0)" } ?? ""))
            XCTAssertEqual(reply.status, 200, reply.text)
            XCTAssertEqual(reply.json["count"] as? Int, 35)
            httpIds += (reply.json["records"] as? [[String: Any]] ?? []).map { $0["id"] as? String ?? "?" }
            after = reply.json["next"] as? String
            XCTAssertTrue(reply.json.keys.contains("next"), "next is null on the last page, not absent")
        } while after != nil && httpIds.count < 100
        XCTAssertEqual(httpIds, tcpIds)
        let firstPage = http.http("GET", "/api/v1/collections/shop/records?filter=\(q("rating >= 1"))&order=rating:desc&limit=8")
        let crossed = tcp.call(#"SCROLL shop FILTER "rating >= 1" ORDER rating:desc LIMIT 8 AFTER "# + (firstPage.json["next"] as? String ?? ""))
        XCTAssertEqual(crossed.dropFirst().dropLast().map { json($0)["id"] as? String ?? "?" }, Array(tcpIds[8..<16]))

        // Ratings descend; ties by id descending.
        let ratings = tcpIds.map { id in Double(Int(id.dropFirst())! % 9) / 2 }
        XCTAssertEqual(ratings, ratings.sorted(by: >))

        // Default: by id, 20 a page, every field; `fields` cuts records down on both.
        let plain = http.http("GET", "/api/v1/collections/shop/records")
        XCTAssertEqual((plain.json["records"] as? [[String: Any]])?.count, 20)
        XCTAssertEqual((plain.json["records"] as? [[String: Any]])?.first?["id"] as? String, "r00")
        let cut = tcp.call(#"SCROLL shop LIMIT 2 FIELDS "brand""#)
        XCTAssertEqual(Set(json(cut.dropFirst().first).keys), ["id", "brand"], "\(cut)")
        let cutHTTP = http.http("GET", "/api/v1/collections/shop/records?limit=2&fields=brand")
        XCTAssertEqual(Set((cutHTTP.json["records"] as? [[String: Any]])?.first?.keys ?? [:].keys), ["id", "brand"], cutHTTP.text)
    }

    func testFacetsAreTheSameOnBothProtocolsAndMatchTheRecords() throws {
        let http = try client()
        let tcp = try TestClient(port: tcpPort)
        fill(tcp)
        let line = tcp.call(#"FACETS shop "tags,brand,year:10" FILTER "rating >= 2""#)
        let viaTCP = json(line.dropFirst().first)
        let viaHTTP = http.http("POST", "/api/v1/collections/shop/facets", json: #"{"fields": ["tags", "brand", "year:10"], "filter": "rating >= 2"}"#)
        XCTAssertEqual(viaHTTP.status, 200, viaHTTP.text)
        XCTAssertEqual(viaTCP as NSDictionary, viaHTTP.json as NSDictionary)
        // rating = (i % 9) / 2 >= 2 ⇔ i % 9 >= 4: 5 of every 9.
        let chosen = (0..<45).filter { $0 % 9 >= 4 }
        XCTAssertEqual(viaTCP["count"] as? Int, chosen.count)
        let facets = viaTCP["facets"] as? [[String: Any]] ?? []
        let tags = Dictionary(uniqueKeysWithValues: (facets[0]["values"] as? [[String: Any]] ?? []).map { ($0["value"] as! String, $0["count"] as! Int) })
        XCTAssertEqual(tags, ["sale": chosen.filter { $0 % 2 == 0 }.count, "new": chosen.filter { $0 % 2 == 1 }.count, "niche": chosen.filter { $0 % 2 == 1 }.count])
        XCTAssertEqual(facets[2]["missing"] as? Int, chosen.filter { $0 % 5 == 0 }.count)
        let decades = (facets[2]["ranges"] as? [[String: Any]] ?? []).map { ($0["from"] as! Double, $0["count"] as! Int) }
        XCTAssertEqual(decades.map(\.0), [1980, 1990, 2000, 2010, 2020])
        XCTAssertEqual(decades.map(\.1).reduce(0, +), chosen.filter { $0 % 5 != 0 }.count)

        // On a browse page and on search hits.
        let scroll = tcp.call(#"SCROLL shop LIMIT 1 FACETS "brand""#)
        XCTAssertEqual(((json(scroll.last)["facets"] as? [[String: Any]])?.first?["values"] as? [[String: Any]])?.count, 3, "\(scroll)")
        let search = tcp.call(#"SEARCH shop K 6 FACETS "brand" VECTOR [1, 0]"#)
        let hitFacets = json(search.last)["facets"] as? [[String: Any]]
        XCTAssertEqual((hitFacets?.first?["values"] as? [[String: Any]])?.reduce(0) { $0 + ($1["count"] as! Int) }, 6, "\(search)")
        let httpSearch = http.http("POST", "/api/v1/collections/shop/search", json: #"{"vector": [1, 0], "k": 6, "facets": ["brand"]}"#)
        XCTAssertEqual((httpSearch.json["facets"] as? NSArray), hitFacets.map { $0 as NSArray })
    }

    func testSearchPagingThresholdsAndRecordsInOneReply() throws {
        let http = try client()
        let tcp = try TestClient(port: tcpPort)
        fill(tcp)
        func ids(_ lines: [String]) -> [String] { lines.dropFirst().compactMap { json($0)["id"] as? String } }
        let whole = ids(tcp.call("SEARCH shop K 20 EXACT VECTOR [1, 0]"))
        XCTAssertEqual(whole.count, 20)
        XCTAssertEqual(ids(tcp.call("SEARCH shop K 5 OFFSET 5 EXACT VECTOR [1, 0]")), Array(whole[5..<10]))
        let page = http.http("POST", "/api/v1/collections/shop/search", json: #"{"vector": [1, 0], "k": 5, "offset": 5, "exact": true}"#)
        XCTAssertEqual((page.json["results"] as? [[String: Any]])?.map { $0["id"] as! String }, Array(whole[5..<10]))
        let semantic = http.http("POST", "/api/v1/search/semantic", json: #"{"collection": "shop", "vector": [1, 0], "top_k": 5, "offset": 5, "exact": true}"#)
        XCTAssertEqual((semantic.json["results"] as? [[String: Any]])?.map { $0["id"] as! String }, Array(whole[5..<10]), semantic.text)
        XCTAssertEqual((semantic.json["results"] as? [[String: Any]])?.first?["rank"] as? Int, 6, "ranks stay absolute")

        // Thresholds: cosine similarity to [1, 0] is cos(angle).
        let close = tcp.call("SEARCH shop K 45 SCORE_THRESHOLD 0.9 EXACT VECTOR [1, 0]")
        let scores = close.dropFirst().compactMap { json($0)["score"] as? Double }
        XCTAssertFalse(scores.isEmpty)
        XCTAssertTrue(scores.allSatisfy { $0 >= 0.9 }, "\(scores)")
        let expected = (0..<45).filter { cos(Double($0) / 45 * 1.5) >= 0.9 }.count
        XCTAssertLessThanOrEqual(abs(scores.count - expected), 1, "\(scores.count) vs \(expected)")
        let near = http.http("POST", "/api/v1/collections/shop/search", json: #"{"vector": [1, 0], "k": 45, "max_distance": 0.1, "exact": true}"#)
        XCTAssertLessThanOrEqual(abs(((near.json["results"] as? [Any])?.count ?? 0) - expected), 1, near.text)

        // Records in the hit lines, cut to the fields asked for.
        let withRecords = tcp.call(#"SEARCH shop K 2 FIELDS "brand,year" VECTOR [1, 0]"#)
        let record = json(withRecords.dropFirst().first)["record"] as? [String: Any]
        XCTAssertEqual(Set(record?.keys.map { $0 } ?? []).subtracting(["id"]), ["brand"], "r00 has no year: \(withRecords)")
        XCTAssertNotNil((json(tcp.call("SEARCH shop K 1 RECORDS VECTOR [1, 0]").dropFirst().first)["record"] as? [String: Any])?["tags"])
    }

    func testTheSameMistakesGetTheSameCodesOnBothProtocols() throws {
        let http = try client()
        let tcp = try TestClient(port: tcpPort)
        fill(tcp)
        let cases: [(String, String, String, ErrorCode, String?)] = [
            ("limit 0", "SCROLL shop LIMIT 0", "/api/v1/collections/shop/records?limit=0", .outOfRange, nil),
            ("limit over max_k", "SCROLL shop LIMIT 5000", "/api/v1/collections/shop/records?limit=5000", .tooLarge, nil),
            ("mistyped order", "SCROLL shop ORDER raiting", "/api/v1/collections/shop/records?order=raiting", .unknownField, "did you mean 'rating'"),
            ("order by a set", "SCROLL shop ORDER tags", "/api/v1/collections/shop/records?order=tags", .badValue, nil),
            ("bad cursor", "SCROLL shop AFTER xyz", "/api/v1/collections/shop/records?after=xyz", .badValue, "'after'"),
            ("unknown projection", #"SCROLL shop FIELDS "brnd""#, "/api/v1/collections/shop/records?fields=brnd", .unknownField, "did you mean 'brand'"),
            ("facet size 0", #"SCROLL shop FACETS "brand" FACET_SIZE 0"#, "/api/v1/collections/shop/records?facets=brand&facet_size=0", .outOfRange, nil),
            ("facet on an unknown field", #"SCROLL shop FACETS "nope""#, "/api/v1/collections/shop/records?facets=nope", .unknownField, nil),
            ("bad filter", #"SCROLL shop FILTER "ratin > 1""#, "/api/v1/collections/shop/records?filter=\(q("ratin > 1"))", .badFilter, "did you mean 'rating'"),
            ("mistyped collection", "SCROLL shops", "/api/v1/collections/shops/records", .notFound, "did you mean 'shop'"),
        ]
        for (name, line, path, code, text) in cases {
            let t = tcp.call(line).first ?? ""
            XCTAssertTrue(t.hasPrefix("-ERR \(code.rawValue) "), "\(name) over TCP: \(t)")
            let h = http.http("GET", path)
            XCTAssertEqual(h.errorCode, code.rawValue, "\(name) over HTTP: \(h.text)")
            XCTAssertEqual(h.status, code.httpStatus, name)
            if let text {
                XCTAssertTrue(t.contains(text), "\(name) over TCP: \(t)")
                XCTAssertTrue(h.text.contains(text), "\(name) over HTTP: \(h.text)")
            }
        }
        let deep = tcp.call("SEARCH shop K 10 OFFSET 995 VECTOR [1, 0]").first ?? ""
        XCTAssertTrue(deep.hasPrefix("-ERR TOO_LARGE") && deep.contains("cursor"), deep)
        let deepHTTP = http.http("POST", "/api/v1/collections/shop/search", json: #"{"vector": [1, 0], "k": 10, "offset": 995}"#)
        XCTAssertEqual(deepHTTP.errorCode, "TOO_LARGE")
        XCTAssertEqual(http.http("GET", "/api/v1/collections/shop/records?colour=red").errorCode, "UNKNOWN_FIELD")
        XCTAssertEqual(http.http("POST", "/api/v1/collections/shop/facets", json: #"{"filter": "rating > 1"}"#).errorCode, "MISSING_FIELD")
        XCTAssertTrue(tcp.call("FACETS shop").first?.hasPrefix("-ERR SYNTAX") ?? false)

        // "Did you mean" for a record's field in a fixed schema and for a request body's key.
        XCTAssertEqual(tcp.call(#"ALTER shop {"dynamic": false}"#).first, "*1")
        let record = tcp.call(#"UPSERT shop {"id": "x", "vector": [1, 0], "ratin": 3}"#).first ?? ""
        XCTAssertTrue(record.hasPrefix("-ERR BAD_RECORD") && record.contains("did you mean 'rating'"), record)
        let body = http.http("POST", "/api/v1/collections/shop/search", json: #"{"vectr": [1, 0]}"#)
        XCTAssertEqual(body.errorCode, "UNKNOWN_FIELD")
        XCTAssertTrue(body.text.contains("did you mean 'vector'"), body.text)
    }
}
