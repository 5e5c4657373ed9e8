import XCTest
import TestSupport
@testable import FragranceStore

/// recall@10 of filtered search against exact search at 50%, 10%, 1% and 0.1% selectivity and
/// with anti-correlated filters, on both planner paths.
final class FilteredRecallTests: XCTestCase {
    static let dim = 32, n = 6000, clusters = 20
    nonisolated(unsafe) static var directory: URL!
    nonisolated(unsafe) static var database: Database!
    nonisolated(unsafe) static var vectors: [[Float]] = []
    nonisolated(unsafe) static var clusterOf: [Int] = []

    override class func setUp() {
        directory = temporaryDirectory("recall")
        database = try! Database(directory: directory)
        let schema = CollectionSchema(fields: [FieldSchema("bucket", .int), FieldSchema("cluster", .int)])
        let c = try! database.createCollection(CollectionConfig(name: "v", dimension: dim, schema: schema,
                                                                hnsw: .init(m: 16, efConstruction: 100, efSearch: 64)))
        var rng = SplitMix(2024)
        let centres = (0..<clusters).map { _ in (0..<dim).map { _ in rng.gaussian() } }
        var records: [Record] = []
        for i in 0..<n {
            let cl = Int(rng.next() % UInt64(clusters))
            let v = centres[cl].map { $0 + 0.5 * rng.gaussian() }
            vectors.append(v)
            clusterOf.append(cl)
            // bucket = i % 1000 makes "bucket < t" select exactly t/1000 of the records.
            records.append(Record(id: "r\(i)", vector: v, attributes: ["bucket": .int(Int64(i % 1000)), "cluster": .int(Int64(cl))]))
        }
        for chunk in stride(from: 0, to: n, by: 1000) { try! c.upsert(Array(records[chunk..<min(chunk + 1000, n)])) }
    }

    override class func tearDown() {
        try? database.close()
        try? FileManager.default.removeItem(at: directory)
    }

    func queries(nearCluster: Int? = nil, count: Int = 40) -> [(query: [Float], cluster: Int)] {
        var rng = SplitMix(77)
        return (0..<count).map { _ in
            let i = Int(rng.next() % UInt64(Self.n))
            let cl = nearCluster ?? Self.clusterOf[i]
            let base = Self.vectors[Self.clusterOf.firstIndex(of: cl)!]
            return (base.map { $0 + 0.3 * rng.gaussian() }, cl)
        }
    }

    func measure(_ filter: (Int) -> String, planner: QueryPlanner, label: String) throws -> Double {
        let c = try Self.database.collection("v")
        var total = 0.0, qs = 0
        for (q, cl) in queries() {
            let f = filter(cl)
            let truth = try c.search(SearchRequest(vector: q, k: 10, filter: f, exact: true))
            let got = try c.search(SearchRequest(vector: q, k: 10, filter: f), planner: planner)
            XCTAssertEqual(got.hits.count, min(10, truth.plan.candidates), "\(label): never fewer than k when k match")
            let want = Set(truth.hits.map(\.id))
            if !want.isEmpty { total += Double(Set(got.hits.map(\.id)).intersection(want).count) / Double(want.count); qs += 1 }
        }
        let recall = total / Double(max(qs, 1))
        print("recall@10 \(label): \(String(format: "%.3f", recall))")
        return recall
    }

    func testRecallAtEverySelectivityOnBothPaths() throws {
        let cases: [(String, (Int) -> String)] = [
            ("50%", { _ in "bucket < 500" }), ("10%", { _ in "bucket < 100" }), ("1%", { _ in "bucket < 10" }),
            ("0.1%", { _ in "bucket < 1" }),
            // Anti-correlated: only records from the two clusters after the query's own (~10%).
            ("anti-correlated 10%", { cl in "cluster IN (\((cl + 1) % 20), \((cl + 2) % 20))" }),
            ("anti-correlated 2%", { cl in "cluster = \((cl + 7) % 20) AND bucket < 400" }),
            ("anti-correlated 50%", { cl in "cluster IN (\((1...10).map { String((cl + $0) % 20) }.joined(separator: ", ")))" }),
        ]
        for (name, f) in cases {
            for (plannerName, planner) in [("planner", QueryPlanner()), ("graph", QueryPlanner.forcingGraph)] {
                let r = try measure(f, planner: planner, label: "\(name) \(plannerName)")
                XCTAssertGreaterThanOrEqual(r, 0.95, "\(name) via \(plannerName)")
            }
        }
    }

    func testPlanReportsPathCountsAndWork() throws {
        let c = try Self.database.collection("v")
        let q = queries()[0].query
        let small = try c.search(SearchRequest(vector: q, k: 10, filter: "bucket < 10"))
        XCTAssertEqual(small.plan.path, .exactScan)
        XCTAssertTrue(small.plan.exact)
        XCTAssertEqual(small.plan.candidates, 60)
        XCTAssertEqual(small.plan.distanceComputations, 60)
        XCTAssertEqual(small.plan.records, Self.n)

        let wide = try c.search(SearchRequest(vector: q, k: 10, filter: "bucket < 900 AND cluster < 18"))
        XCTAssertEqual(wide.plan.path, .hnsw)
        XCTAssertFalse(wide.plan.exact)
        XCTAssertGreaterThan(wide.plan.nodesVisited, 0)
        XCTAssertLessThan(wide.plan.distanceComputations, Self.n)
        // The estimate multiplies the two predicates' shares as if independent.
        let share18 = Double(Self.clusterOf.filter { $0 < 18 }.count) / Double(Self.n)
        XCTAssertEqual(wide.plan.estimatedCandidates, 0.9 * share18 * Double(Self.n), accuracy: 1)
        XCTAssertEqual(wide.plan.candidates, (0..<Self.n).filter { $0 % 1000 < 900 && Self.clusterOf[$0] < 18 }.count)

        let none = try c.search(SearchRequest(vector: q, k: 10, filter: "bucket > 5000"))
        XCTAssertEqual(none.hits, [])
        XCTAssertEqual(none.plan.candidates, 0)

        XCTAssertThrowsError(try c.search(SearchRequest(vector: [1, 2, 3], k: 10))) {
            XCTAssertEqual(($0 as? StoreError)?.code, .dimensionMismatch)
        }
        XCTAssertThrowsError(try c.search(SearchRequest(vector: q, k: 0)))
        XCTAssertThrowsError(try c.search(SearchRequest(vector: q, k: 10, ef: 100_000)))
    }
}
