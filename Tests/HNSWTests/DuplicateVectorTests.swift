import XCTest
@testable import HNSW

/// Issue #17 item 7: identical vectors share one node, so a catalogue full of duplicates does
/// not trap the graph, and vectors a metric cannot rank are named before they are stored.
final class DuplicateVectorTests: XCTestCase {
    let dim = 16

    /// Recall that counts a hit as right when it is no farther than the exact k-th neighbour:
    /// among thousands of equal distances, which ten come back is arbitrary.
    func tieAwareRecall(_ index: HNSWIndex, _ data: [[Float]], queries: [[Float]], k: Int = 10, filter: Bitset? = nil) -> Double {
        var right = 0, total = 0
        for q in queries {
            let exact = index.exactSearch(q, k: k, filter: filter).hits
            let got = index.search(q, k: k, filter: filter).hits
            guard let kth = exact.last?.distance else { continue }
            XCTAssertEqual(Set(got.map(\.label)).count, got.count, "a label comes back once")
            right += got.filter { $0.distance <= kth + 1e-5 }.count
            total += exact.count
            for h in got {
                let reference = referenceDistance(index.metric, data[Int(h.label)], q)
                XCTAssertEqual(h.distance, reference, accuracy: halfTolerance(reference))
            }
        }
        return Double(right) / Double(max(total, 1))
    }

    /// 6,000 × 16-d, 90% of them one vector (and, in the second set, 600 vectors ten times each).
    func datasets() -> [(name: String, data: [[Float]], distinct: Int)] {
        let unique = clusteredVectors(count: 600, dim: dim, seed: 11)
        let one = (0..<6000).map { $0 < 600 ? unique[$0] : unique[0] }
        let tens = (0..<6000).map { unique[$0 % 600] }
        return [("5,400 copies of one vector", one, 600), ("600 vectors ten times each", tens, 600)]
    }

    func testNinetyPercentDuplicatesKeepRecallForOneByOneAndBatchBuilds() {
        let queries = clusteredVectors(count: 60, dim: dim, seed: 12)
        for (name, data, distinct) in datasets() {
            for batch in [false, true] {
                let index = HNSWIndex(dimension: dim, metric: .l2, parameters: .init(m: 8, efConstruction: 100, efSearch: 64))
                if batch {
                    index.insert(batch: data.enumerated().map { ($0.element, UInt32($0.offset)) }, threads: 2)
                } else {
                    for (i, v) in data.enumerated() { index.insert(v, label: UInt32(i)) }
                }
                XCTAssertEqual(index.liveCount, 6000, name)
                XCTAssertEqual(index.liveNodes, distinct, "\(name): one node per distinct vector")
                let r = tieAwareRecall(index, data, queries: queries + Array(data.prefix(20)))
                XCTAssertGreaterThanOrEqual(r, 0.95, "\(name), batch \(batch): recall@10 \(r)")
                // Every copy is found by its own vector, and k counts records, not nodes.
                let hits = index.search(data[5999], k: 50).hits
                XCTAssertEqual(hits.count, 50)
                XCTAssertTrue(hits.prefix(10).allSatisfy { $0.distance == 0 }, name)
            }
        }
    }

    func testFilteredSearchSeesEachSharedLabelOnItsOwn() {
        let data = datasets()[0].data
        let index = HNSWIndex(dimension: dim, metric: .cosine)
        for (i, v) in data.enumerated() { index.insert(v, label: UInt32(i)) }
        var only = Bitset(capacity: 6000)
        for l in [4000, 4001, 5999, 17] { only.insert(l) }
        let graph = index.search(data[0], k: 10, filter: only).hits.map(\.label)
        let exact = index.exactSearch(data[0], k: 10, filter: only).hits.map(\.label)
        XCTAssertEqual(Set(graph), [4000, 4001, 5999, 17])
        XCTAssertEqual(Set(exact), [4000, 4001, 5999, 17])
        XCTAssertEqual(Array(graph.prefix(3)).sorted(), [4000, 4001, 5999], "the copies (distance 0) come first")
        XCTAssertGreaterThanOrEqual(tieAwareRecall(index, data, queries: clusteredVectors(count: 20, dim: dim, seed: 3), filter: only), 0.95)
    }

    func testDeletingAndReplacingSharedLabels() throws {
        let v = (0..<dim).map { Float($0 + 1) }, w = (0..<dim).map { Float(dim - $0) }
        let index = HNSWIndex(dimension: dim, metric: .l2)
        for l in 0..<5 { index.insert(v, label: UInt32(l)) }
        index.insert(w, label: 9)
        XCTAssertEqual(index.liveNodes, 2)
        XCTAssertEqual(index.liveCount, 6)
        index.insert(v, label: 0)   // unchanged: nothing to do
        XCTAssertEqual(index.count, 2)
        XCTAssertEqual(index.deletedCount, 0)

        index.markDeleted(label: 0)   // the node's first label: another takes its place
        index.markDeleted(label: 3)
        XCTAssertEqual(Set(index.search(v, k: 10).hits.map(\.label)), [1, 2, 4, 9])
        XCTAssertEqual(Set(index.exactSearch(v, k: 10).hits.map(\.label)), [1, 2, 4, 9])
        XCTAssertEqual(index.deletedCount, 0, "the node still carries labels")

        index.insert(w, label: 1)   // moves to the other node
        XCTAssertEqual(index.vector(of: 1), w)
        XCTAssertEqual(index.liveNodes, 2)

        // The image keeps the sharing; a version-1 image (no aliases) still loads.
        let image = index.serialized()
        let copy = try image.withUnsafeBytes { try HNSWIndex(serialized: $0) }
        XCTAssertEqual(copy.liveCount, 4)
        XCTAssertEqual(copy.liveNodes, 2)
        XCTAssertEqual(Set(copy.exactSearch(v, k: 10).hits.filter { $0.distance == 0 }.map(\.label)), [2, 4])
        XCTAssertEqual(copy.serialized(), image)
        copy.insert(v, label: 20)
        XCTAssertEqual(copy.liveNodes, 2, "the loaded index still finds the node a copy belongs to")

        let lone = HNSWIndex(dimension: dim, metric: .l2)
        lone.insert(v, label: 0); lone.insert(w, label: 1)
        for version in [1, 2] {
            let old = try floatImage(lone, version: version).withUnsafeBytes { try HNSWIndex(serialized: $0) }
            XCTAssertEqual(old.search(w, k: 1).hits.first?.label, 1)
            XCTAssertEqual(old.serialized(), lone.serialized(), "version \(version) loads as the index that wrote it")
            old.insert(w, label: 7)
            XCTAssertEqual(old.liveNodes, 2, "version \(version): hashes come from the float32 rows")
        }

        // A corrupt alias (a label mapped elsewhere) is refused, not trusted.
        var bad = image
        bad[bad.count - 1] ^= 0x40
        XCTAssertThrowsError(try bad.withUnsafeBytes { try HNSWIndex(serialized: $0) })

        for l in [2, 4, 20] { index.markDeleted(label: UInt32(l)) }
        index.markDeleted(label: 1); index.markDeleted(label: 9)
        XCTAssertEqual(index.liveCount, 0)
        XCTAssertEqual(index.deletedCount, 2)
        XCTAssertTrue(index.search(v, k: 5).hits.isEmpty)
        let compact = index.compacted()
        XCTAssertEqual(compact.count, 0)
    }

    func testCompactionKeepsEveryLabelOfASharedNode() {
        let data = datasets()[1].data
        let index = HNSWIndex(dimension: dim, metric: .dot)
        for (i, v) in data.enumerated() { index.insert(v, label: UInt32(i)) }
        for l in stride(from: 0, to: 6000, by: 7) { index.markDeleted(label: UInt32(l)) }
        let compact = index.compacted()
        XCTAssertEqual(compact.liveCount, index.liveCount)
        XCTAssertEqual(compact.liveNodes, index.liveNodes)
        XCTAssertEqual(compact.exactSearch(data[1], k: 10).hits.map(\.label), index.exactSearch(data[1], k: 10).hits.map(\.label))
    }

    func testVectorsAMetricCannotRankAreNamed() {
        let zero = [Float](repeating: 0, count: 4)
        XCTAssertNotNil(Metric.cosine.problem(with: zero, isQuery: false))
        XCTAssertNotNil(Metric.dot.problem(with: zero, isQuery: true))
        XCTAssertNil(Metric.dot.problem(with: zero, isQuery: false))
        XCTAssertNil(Metric.l2.problem(with: zero, isQuery: true), "l2 ranks the origin")
        let tiny: [Float] = [1e-40, 0, 0, 0], huge: [Float] = [1e19, 1e19, 0, 0]
        for m in Metric.allCases {
            XCTAssertTrue(m.problem(with: tiny, isQuery: false)?.contains("too short") == true, "\(m)")
            XCTAssertTrue(m.problem(with: huge, isQuery: true)?.contains("too long") == true, "\(m)")
            XCTAssertNil(m.problem(with: [2e-19, 0, 0, 0], isQuery: true), "small but normal: \(m)")
            XCTAssertNil(m.problem(with: [4e18, 0, 0, 0], isQuery: true), "large but finite distances: \(m)")
        }
        // What is accepted is found: cosine normalises in double precision.
        let index = HNSWIndex(dimension: 4, metric: .cosine)
        index.insert([1e-19, 2e-19, 0, 0], label: 0)   // length 2.2e-19: accepted
        index.insert([0, 0, 3e18, 1e18], label: 1)
        XCTAssertEqual(index.search([1, 2, 0, 0], k: 1).hits.first?.label, 0)
        XCTAssertEqual(index.search([0, 0, 3, 1], k: 1).hits.first?.label, 1)
        XCTAssertEqual(index.search([0, 0, 3, 1], k: 1).hits.first!.distance, 0, accuracy: 1e-6)
    }

    /// A saved vector that cannot be right is refused, not loaded: a version-3 scale that is 0,
    /// negative, infinite or NaN, and a version-2 float32 row holding NaN or infinity.
    func testImagesWithImpossibleVectorsAreRefused() throws {
        let index = HNSWIndex(dimension: dim, metric: .l2)
        for (i, v) in clusteredVectors(count: 20, dim: dim).enumerated() { index.insert(v, label: UInt32(i)) }
        XCTAssertNoThrow(try index.serialized().withUnsafeBytes { try HNSWIndex(serialized: $0) })
        let scalesAt = 84 + index.count * (10 + 8) + index.upperPool.count * 4 + index.slotOfLabel.count * 4
        for bad: Float in [0, -1, .infinity, .nan] {
            var image = index.serialized()
            withUnsafeBytes(of: bad) { image.replaceSubrange((scalesAt + 4 * 7)..<(scalesAt + 4 * 8), with: $0) }
            XCTAssertThrowsError(try image.withUnsafeBytes { try HNSWIndex(serialized: $0) }, "scale \(bad)") {
                XCTAssertTrue("\($0)".contains("bad vector scale at slot 7"), "\($0)")
            }
        }
        let rowsAt = 84 + index.count * 10 + index.upperPool.count * 4 + index.slotOfLabel.count * 4
        for bad: Float in [.nan, -.infinity] {
            var image = floatImage(index, version: 2)
            withUnsafeBytes(of: bad) { image.replaceSubrange((rowsAt + (3 * dim + 5) * 4)..<(rowsAt + (3 * dim + 6) * 4), with: $0) }
            XCTAssertThrowsError(try image.withUnsafeBytes { try HNSWIndex(serialized: $0) }, "component \(bad)") {
                XCTAssertTrue("\($0)".contains("slot 3 has a non-finite component at 5"), "\($0)")
            }
        }
    }

    /// The image versions 1 and 2 wrote (float32 rows; version 1 without the alias tail), made
    /// from a version-3 image: the header and per-node arrays, then float32 rows where version 3
    /// keeps hashes, scales and halves.
    func floatImage(_ index: HNSWIndex, version: Int) -> [UInt8] {
        var image = index.serialized()
        let n = index.count, dim = index.dimension
        let start = 84 + n * 10 + index.upperPool.count * 4 + index.slotOfLabel.count * 4
        var floats: [UInt8] = []
        for s in 0..<n { index.vector(ofSlot: s).withUnsafeBytes { floats += $0 } }
        image.replaceSubrange(start..<(start + n * (8 + 4 + dim * 2)), with: floats)
        image.replaceSubrange(0..<8, with: Array("FDBHNSW\(version)".utf8))
        if version == 1 { image.removeLast(8) }
        return image
    }
}
