import Foundation
import XCTest
@testable import FragranceServer

/// Issue #22's quality prior and collapsing, over real sockets with the real model: ten
/// soliflores with the same name and notes must not crowd out a well-described, well-known
/// perfume, and 5.0 from 2 votes is not a classic.
final class ShapingTests: HTTPTestCase {
    func load(_ c: TestClient) {
        XCTAssertEqual(c.http("POST", "/api/v1/collections", json: #"{"name":"perfumes","embedder":"minilm","schema":"perfume"}"#).status, 201)
        var lines: [String] = []
        for (i, brand) in ["Atelier A", "Bottega B", "Casa C", "Dom D"].enumerated() {
            lines.append(#"{"id":"s\#(i)","name":"Rose","brand":"\#(brand)","notes":{"unspecified":["Rose"]}}"#)
        }
        lines.append(#"{"id":"classic","name":"Rose Absolue","brand":"Maison","gender":"female","rating":4.3,"votes":2500,"accords":["rose","floral","musky"],"notes":{"top":["Bergamot"],"heart":["Rose","Peony"],"base":["Musk"]}}"#)
        lines.append(#"{"id":"lucky","name":"Rosy","brand":"New","rating":5.0,"votes":2,"notes":{"unspecified":["Rose"]}}"#)
        lines.append(#"{"id":"other","name":"Citrus Day","brand":"Maison","notes":{"top":["Lemon"],"base":["Musk"]}}"#)
        let bulk = c.http("POST", "/api/v1/collections/perfumes/records", json: lines.joined(separator: "\n") + "\n", headers: ["Content-Type": "application/x-ndjson"])
        XCTAssertEqual(bulk.json["inserted"] as? Int, 7, bulk.text)
    }

    func ids(_ r: HTTPReply) -> [String] { (r.json["results"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } }

    func testSparseDuplicatesCollapseAndTheWellKnownLead() throws {
        let c = try client()
        load(c)
        let r = c.http("POST", "/api/v1/search/hybrid", json: #"{"query": "rose", "top_k": 5}"#)
        XCTAssertEqual(r.status, 200, r.text)
        let hits = ids(r)
        XCTAssertEqual(hits.first, "classic", r.text)
        let soliflores = hits.filter { $0.hasPrefix("s") }
        XCTAssertEqual(soliflores.count, 1, "the four 'Rose' soliflores are one hit: \(hits)")
        let holder = (r.json["results"] as? [[String: Any]] ?? []).first { ($0["id"] as? String) == soliflores.first }
        XCTAssertEqual((holder?["collapsed"] as? [String])?.count, 3, r.text)
        XCTAssertLessThan(hits.firstIndex(of: "classic")!, hits.firstIndex(of: "lucky") ?? 99, "5.0 from 2 votes is not a classic")
        let explain = ((r.json["results"] as? [[String: Any]])?.first?["explain"] as? [String: Any])?["quality_prior"] as? [String: Any]
        XCTAssertGreaterThan(explain?["factor"] as? Double ?? 0, 1, r.text)
        XCTAssertEqual((r.json["shaping"] as? [String: Any])?["collapse"] as? Bool, true)

        // Both off: the duplicates come back one by one, and no prior is applied.
        let plain = c.http("POST", "/api/v1/search/hybrid", json: #"{"query": "rose", "top_k": 7, "collapse": false, "quality_prior": 0}"#)
        XCTAssertEqual(ids(plain).filter { $0.hasPrefix("s") }.count, 4, plain.text)
        XCTAssertEqual((plain.json["shaping"] as? [String: Any])?["quality_prior"] as? Double, 0)
        XCTAssertNil(((plain.json["results"] as? [[String: Any]])?.first?["explain"] as? [String: Any])?["quality_prior"])
        // A filter on rating is the user's own order: the prior steps aside and says why.
        let rated = c.http("POST", "/api/v1/search/hybrid", json: #"{"query": "rose", "filter": "rating >= 4"}"#)
        XCTAssertEqual((rated.json["shaping"] as? [String: Any])?["prior_off"] as? String, "the filter is on rating or votes", rated.text)
        // Out of range is refused by name.
        let bad = c.http("POST", "/api/v1/search/hybrid", json: #"{"query": "rose", "quality_prior": 2}"#)
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual((bad.json["error"] as? [String: Any])?["field"] as? String, "quality_prior")
        for body in [#"{"query": "rose", "quality_prior": "high"}"#, #"{"query": "rose", "collapse": "yes"}"#] {
            let wrong = c.http("POST", "/api/v1/search/hybrid", json: body)
            XCTAssertEqual(wrong.status, 400, body)
            XCTAssertEqual((wrong.json["error"] as? [String: Any])?["code"] as? String, "BAD_TYPE", wrong.text)
        }

        // The same operation over TCP.
        let t = try TestClient(port: tcpPort)
        let lines = t.call(#"QUERY perfumes "rose" K 5"#)
        XCTAssertTrue(lines.dropFirst().first?.contains(#""id":"classic""#) ?? false, "\(lines)")
        XCTAssertEqual(lines.filter { $0.contains(#""collapsed":["#) }.count, 1, "\(lines)")
        XCTAssertEqual(t.call(#"QUERY perfumes "rose" K 7 COLLAPSE off PRIOR 0"#).filter { $0.contains(#""id":"s"#) }.count, 4)
        XCTAssertTrue(t.call(#"QUERY perfumes "rose" PRIOR 2"#).first?.hasPrefix("-ERR BAD_VALUE") ?? false)
        XCTAssertTrue(t.call(#"QUERY perfumes "rose" COLLAPSE maybe"#).first?.hasPrefix("-ERR BAD_VALUE") ?? false)

        // The popularity arm: with the prior on, the most voted records matching the
        // preferences are an arm of their own, named in the reply and ranked in each hit,
        // the same on both protocols; off with the prior.
        let popular = c.http("POST", "/api/v1/search/hybrid", json: #"{"query": "rose perfume for women", "top_k": 5}"#)
        XCTAssertTrue((popular.json["arms"] as? [String])?.contains("popularity") ?? false, popular.text)
        let classic = (popular.json["results"] as? [[String: Any]])?.first { ($0["id"] as? String) == "classic" }
        XCTAssertEqual((classic?["explain"] as? [String: Any])?["popularity_rank"] as? Int, 1, popular.text)
        let tcpPopular = t.call(#"QUERY perfumes "rose perfume for women" K 5 EXPLAIN"#)
        XCTAssertTrue(tcpPopular.contains { $0.contains(#""id":"classic""#) && $0.contains(#""popularity_rank":1"#) }, "\(tcpPopular)")
        XCTAssertTrue(tcpPopular.last?.contains(#""popularity""#) ?? false, "\(tcpPopular)")
        let unpopular = c.http("POST", "/api/v1/search/hybrid", json: #"{"query": "rose perfume for women", "top_k": 5, "quality_prior": 0}"#)
        XCTAssertFalse((unpopular.json["arms"] as? [String])?.contains("popularity") ?? true, unpopular.text)
    }

    /// MMR (issue #22): five near-identical roses from one house lead a plain query; with
    /// DIVERSITY the other houses come up, λ = 1 keeps the plain order, and both protocols agree.
    func testDiversityBringsOtherHousesUp() throws {
        let c = try client()
        XCTAssertEqual(c.http("POST", "/api/v1/collections", json: #"{"name":"perfumes","embedder":"minilm","schema":"perfume"}"#).status, 201)
        var lines: [String] = []
        for i in 0..<5 {
            lines.append(#"{"id":"m\#(i)","name":"Rose Rose \#(i)","brand":"Maison Rose","accords":["rose","floral"],"notes":{"top":["Rose"],"heart":["Rose"],"base":["Musk"]}}"#)
        }
        for (i, (brand, accords)) in [("Casa Verde", #"["green","rose"]"#), ("Dom Ambre", #"["amber","rose"]"#), ("Ostro", #"["citrus","rose"]"#)].enumerated() {
            lines.append(#"{"id":"o\#(i)","name":"Rose of \#(brand)","brand":"\#(brand)","accords":\#(accords),"notes":{"top":["Bergamot"],"heart":["Rose"],"base":["Vetiver"]}}"#)
        }
        let bulk = c.http("POST", "/api/v1/collections/perfumes/records", json: lines.joined(separator: "\n") + "\n", headers: ["Content-Type": "application/x-ndjson"])
        XCTAssertEqual(bulk.json["inserted"] as? Int, 8, bulk.text)

        func houses(_ ids: [String]) -> Int { Set(ids.map { $0.hasPrefix("m") ? "m" : $0 }).count }
        let base = #""query": "rose rose", "top_k": 4, "quality_prior": 0, "collapse": false"#
        let plain = ids(c.http("POST", "/api/v1/search/hybrid", json: "{\(base)}"))
        let mixed = c.http("POST", "/api/v1/search/hybrid", json: "{\(base), \"diversity\": 0.3}")
        XCTAssertEqual(mixed.status, 200, mixed.text)
        XCTAssertGreaterThanOrEqual(plain.filter { $0.hasPrefix("m") }.count, 3, "the one house leads without diversity: \(plain)")
        XCTAssertGreaterThan(houses(ids(mixed)), houses(plain), "plain \(plain), diversified \(ids(mixed))")
        XCTAssertGreaterThanOrEqual(houses(ids(mixed)), 3, "\(ids(mixed))")
        XCTAssertEqual((mixed.json["shaping"] as? [String: Any])?["diversity"] as? Double, 0.3, mixed.text)
        XCTAssertEqual(ids(c.http("POST", "/api/v1/search/hybrid", json: "{\(base), \"diversity\": 1}")), plain, "λ = 1 keeps the order")
        let bad = c.http("POST", "/api/v1/search/hybrid", json: #"{"query": "rose", "diversity": 1.5}"#)
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual((bad.json["error"] as? [String: Any])?["field"] as? String, "diversity", bad.text)
        XCTAssertEqual((c.http("POST", "/api/v1/search/hybrid", json: #"{"query": "rose", "diversity": "some"}"#).json["error"] as? [String: Any])?["code"] as? String, "BAD_TYPE")

        // The same operation over TCP: the same hits, the same error.
        let t = try TestClient(port: tcpPort)
        let tcp = t.call(#"QUERY perfumes "rose rose" K 4 PRIOR 0 COLLAPSE off DIVERSITY 0.3"#).dropFirst().compactMap { line -> String? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return o["id"] as? String
        }
        XCTAssertEqual(tcp, ids(mixed))
        let err = t.call(#"QUERY perfumes "rose" DIVERSITY 1.5"#).first ?? ""
        XCTAssertTrue(err.hasPrefix("-ERR BAD_VALUE") && err.contains("diversity"), err)
    }
}

