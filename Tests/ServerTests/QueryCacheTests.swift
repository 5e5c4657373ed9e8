import Foundation
import XCTest
@testable import FragranceServer
@testable import FragranceStore
import TestSupport

/// The understood-query result cache, over real sockets on both protocols: a repeat is answered
/// from it, any write to the collection (or dropping it) makes its replies stale, and 0 entries
/// turns it off.
final class QueryCacheTests: HTTPTestCase {
    private func json(_ line: String?) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data((line ?? "").utf8))) as? [String: Any] ?? [:] }

    private func cacheStats(_ tcp: TestClient) -> (hits: Int, misses: Int, entries: Int) {
        let info = json(tcp.call("INFO stats").dropFirst().first)
        let q = (info["stats"] as? [String: Any])?["query_cache"] as? [String: Any] ?? [:]
        return (q["hits"] as? Int ?? -1, q["misses"] as? Int ?? -1, q["entries"] as? Int ?? -1)
    }

    private func ids(_ lines: [String]) -> [String] { lines.dropFirst().compactMap { json($0)["id"] as? String } }

    func testRepeatsComeFromTheCacheUntilTheCollectionChanges() throws {
        let tcp = try TestClient(port: tcpPort)
        let http = try client()
        XCTAssertEqual(tcp.call(#"CREATE shop {"dimension": 2}"#), ["+OK created shop"])
        XCTAssertEqual(tcp.call(#"UPSERT shop [{"id": "a", "vector": [1, 0], "brand": "Maison Noir"}, {"id": "b", "vector": [0, 1], "brand": "Atelier"}]"#),
                       ["+OK inserted=2 updated=0"])
        let query = #"QUERY shop "maison" MODE keyword RAW"#
        XCTAssertEqual(ids(tcp.call(query)), ["a"])
        XCTAssertEqual(cacheStats(tcp).hits, 0)
        XCTAssertEqual(ids(tcp.call(query)), ["a"])
        XCTAssertEqual(cacheStats(tcp).hits, 1, "the repeat came from the cache")

        // HTTP goes through the same service and the same cache.
        let body = #"{"collection": "shop", "query": "maison", "search_type": "keyword"}"#
        let h1 = http.http("POST", "/api/v1/search/semantic", json: body)
        XCTAssertEqual(h1.status, 200, h1.text)
        let h2 = http.http("POST", "/api/v1/search/semantic", json: body)
        XCTAssertEqual((h2.json["results"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["a"])
        XCTAssertEqual(cacheStats(tcp).hits, 2)
        XCTAssertNotNil(h2.json["took_ms"] as? Double)

        // A write makes the collection's replies stale: the new record is found at once.
        XCTAssertEqual(tcp.call(#"UPSERT shop {"id": "c", "vector": [0.6, 0.8], "brand": "Maison Rouge"}"#), ["+OK inserted=1 updated=0"])
        XCTAssertEqual(Set(ids(tcp.call(query))), ["a", "c"])
        XCTAssertEqual(tcp.call("DEL shop a"), ["+OK deleted=1"])
        XCTAssertEqual(ids(tcp.call(query)), ["c"])
        let h3 = http.http("POST", "/api/v1/search/semantic", json: body)
        XCTAssertEqual((h3.json["results"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["c"])

        // A dropped and recreated collection of the same name is another collection.
        XCTAssertEqual(tcp.call("DROP shop"), ["+OK dropped shop"])
        XCTAssertEqual(tcp.call(#"CREATE shop {"dimension": 2}"#), ["+OK created shop"])
        XCTAssertEqual(tcp.call(#"UPSERT shop {"id": "z", "vector": [1, 0], "brand": "Maison Z"}"#), ["+OK inserted=1 updated=0"])
        XCTAssertEqual(ids(tcp.call(query)), ["z"])

        // Explained replies are cached too (a separate entry): the same plan and scores again.
        let before = cacheStats(tcp)
        let e1 = tcp.call(#"QUERY shop "maison" MODE keyword EXPLAIN"#)
        let e2 = tcp.call(#"QUERY shop "maison" MODE keyword EXPLAIN"#)
        XCTAssertEqual(cacheStats(tcp).hits, before.hits + 1)
        XCTAssertEqual(e1.dropFirst().filter { !$0.contains("took_ms") }, e2.dropFirst().filter { !$0.contains("took_ms") })
        XCTAssertEqual(cacheStats(tcp).entries, before.entries + 1)
    }
}

final class QueryCacheOffTests: HTTPTestCase {
    override func configure(_ c: inout ServerConfiguration) { c.queryCacheEntries = 0 }

    func testNoEntriesMeansNoCache() throws {
        let tcp = try TestClient(port: tcpPort)
        XCTAssertEqual(tcp.call(#"CREATE shop {"dimension": 2}"#), ["+OK created shop"])
        XCTAssertEqual(tcp.call(#"UPSERT shop {"id": "a", "vector": [1, 0], "brand": "Maison Noir"}"#), ["+OK inserted=1 updated=0"])
        for _ in 0..<3 { XCTAssertEqual(tcp.call(#"QUERY shop "maison" MODE keyword RAW"#).count, 2) }
        let info = (try? JSONSerialization.jsonObject(with: Data((tcp.call("INFO stats").dropFirst().first ?? "").utf8))) as? [String: Any]
        let q = (info?["stats"] as? [String: Any])?["query_cache"] as? [String: Any]
        XCTAssertEqual(q?["hits"] as? Int, 0)
        XCTAssertEqual(q?["entries"] as? Int, 0)
    }
}

/// The bounds: entries and estimated bytes, least recently used first out.
final class QueryResultCacheBoundsTests: XCTestCase {
    func testEntriesAndBytesStayWithinTheirBoundsAndRecentUseSurvives() throws {
        let dir = temporaryDirectory("query-cache-bounds", create: false)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try FragranceStore.Database(directory: dir)
        defer { try? db.close() }
        let c = try db.createCollection(CollectionConfig(name: "p", dimension: 2, schema: .perfume))
        let cache = QueryResultCache(.init(maxEntries: 8, maxBytes: 1 << 20))
        func key(_ i: Int) -> QueryResultCache.Key {
            var q = QueryInput()
            q.text = "query \(i)"
            return QueryResultCache.Key(q, collection: "p", filter: nil)
        }
        let reply = QueryReply(query: "q", searchType: "hybrid", collection: "p", topK: 10, offset: 0, total: 0, results: [],
                               filter: nil, arms: ["vector"], scoring: "rrf", tookMs: 0)
        for i in 0..<8 { cache.store(key(i), reply, in: c, version: c.version) }
        XCTAssertNotNil(cache.lookup(key(0), in: c, version: c.version), "touch the oldest")
        for i in 8..<40 {
            cache.store(key(i), reply, in: c, version: c.version)
            XCTAssertLessThanOrEqual(cache.stats.entries, 8)
        }
        XCTAssertNil(cache.lookup(key(1), in: c, version: c.version), "evicted")
        XCTAssertNotNil(cache.lookup(key(39), in: c, version: c.version))

        // Bytes: replies of ~80 KB each (one over an eighth of the bound is not kept) in a 1 MiB cache.
        var big = reply
        let record = Record(id: "x", attributes: ["text": .string(String(repeating: "a", count: 1000))])
        big.results = (0..<60).map { i in
            QueryHit(rank: i + 1, id: "r\(i)", score: 1, distance: 0, record: RecordBody(record: record), explain: nil,
                     detail: HitExplain(matchedPreferences: []))
        }
        let small = QueryResultCache(.init(maxEntries: 1000, maxBytes: 1 << 20))
        for i in 0..<50 {
            small.store(key(i), big, in: c, version: c.version)
            XCTAssertLessThanOrEqual(small.stats.bytes, 1 << 20)
        }
        XCTAssertGreaterThan(small.stats.entries, 4)
        XCTAssertLessThan(small.stats.entries, 14)

        // The key counts too: a request may name one field a hundred thousand times.
        var q = QueryInput()
        q.text = "rose"
        q.paging.fields = Array(repeating: "name", count: 100_000)
        q.paging.facets = Array(repeating: "brand", count: 50_000)
        let heavy = QueryResultCache.Key(q, collection: "p", filter: nil)
        XCTAssertGreaterThan(QueryResultCache.estimate(heavy, reply), 150_000 * 16)
        small.store(heavy, reply, in: c, version: c.version)
        XCTAssertNil(small.lookup(heavy, in: c, version: c.version), "over an eighth of the bound: not kept")
    }
}
