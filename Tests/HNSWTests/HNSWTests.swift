import XCTest
import TestSupport
@testable import HNSW
import CKernels

/// Clustered vectors like text embeddings: points scattered around a few random centres.
func clusteredVectors(count: Int, dim: Int, clusters: Int = 20, seed: UInt64 = 7) -> [[Float]] {
    var rng = SeededRandom(seed: seed)
    let centres = (0..<clusters).map { _ in (0..<dim).map { _ in Float(rng.nextGaussian()) } }
    return (0..<count).map { _ in
        let c = centres[Int(rng.next() % UInt64(clusters))]
        return c.map { $0 + 0.6 * Float(rng.nextGaussian()) }
    }
}

typealias SeededRandom = SplitMix

extension SplitMix {
    mutating func nextGaussian() -> Double { Double(gaussian()) }
}

/// The test's own distance, written independently of the index's SIMD kernels.
func referenceDistance(_ metric: Metric, _ a: [Float], _ b: [Float]) -> Float {
    var dot: Double = 0, na: Double = 0, nb: Double = 0, l2: Double = 0
    for i in a.indices {
        dot += Double(a[i]) * Double(b[i]); na += Double(a[i] * a[i]); nb += Double(b[i] * b[i])
        l2 += Double((a[i] - b[i]) * (a[i] - b[i]))
    }
    switch metric {
    case .cosine: return Float(1 - dot / (na.squareRoot() * nb.squareRoot()))
    case .dot: return Float(-dot)
    case .l2: return Float(l2)
    }
}

/// How far a returned distance may be from `referenceDistance` on float32: the graph holds
/// vectors and compares queries at half precision (2^-11 relative per component on each side).
func halfTolerance(_ reference: Float) -> Float { 2e-3 * (1 + abs(reference)) }

func bruteForce(_ metric: Metric, _ data: [[Float]], _ q: [Float], k: Int, where allowed: (Int) -> Bool = { _ in true }) -> [Int] {
    let scored: [(index: Int, distance: Float)] = data.indices.filter(allowed).map { ($0, referenceDistance(metric, data[$0], q)) }
    let sorted = scored.sorted { a, b in a.distance < b.distance || (a.distance == b.distance && a.index < b.index) }
    return sorted.prefix(k).map { $0.index }
}

func recall(_ got: [UInt32], _ truth: [Int]) -> Double {
    guard !truth.isEmpty else { return 1 }
    return Double(Set(got.map(Int.init)).intersection(truth).count) / Double(truth.count)
}

final class HNSWTests: XCTestCase {
    let dim = 32
    lazy var data = clusteredVectors(count: 2000, dim: dim)
    lazy var queries = clusteredVectors(count: 50, dim: dim, seed: 99)

    func build(_ metric: Metric = .cosine, seed: UInt64 = 42, codes: Bool = true) -> HNSWIndex {
        let index = HNSWIndex(dimension: dim, metric: metric, parameters: .init(m: 12, efConstruction: 100, efSearch: 64, seed: seed), buildWithCodes: codes)
        for (i, v) in data.enumerated() { index.insert(v, label: UInt32(i)) }
        return index
    }

    /// Mean recall@10 of the index's searches (default ef) for the test queries.
    func meanRecall(_ index: HNSWIndex) -> Double {
        queries.reduce(0) { $0 + recall(index.search($1, k: 10).hits.map(\.label), bruteForce(.cosine, data, $1, k: 10)) } / Double(queries.count)
    }

    func testRecallAtTenIsHighForEveryMetric() {
        for metric in Metric.allCases {
            // Inner product is not a metric, so graph search needs a wider beam for the same recall.
            let ef = metric == .dot ? 160 : 64
            let index = build(metric)
            var total = 0.0
            for q in queries {
                total += recall(index.search(q, k: 10, ef: ef).hits.map(\.label), bruteForce(metric, data, q, k: 10))
            }
            let mean = total / Double(queries.count)
            XCTAssertGreaterThanOrEqual(mean, 0.95, "recall@10 for \(metric) at ef \(ef)")
        }
    }

    /// Batches searched on several threads: the same recall as one-by-one inserts, the same
    /// bytes whatever the thread count, slots still equal to labels, replacements honoured.
    func testBatchInsertMatchesOneByOneRecallAndIsDeterministic() {
        func batched(threads: Int) -> HNSWIndex {
            let index = HNSWIndex(dimension: dim, metric: .cosine, parameters: .init(m: 12, efConstruction: 100, efSearch: 64, seed: 42))
            for start in stride(from: 0, to: data.count, by: 250) {
                index.insert(batch: (start..<min(start + 250, data.count)).map { (data[$0], UInt32($0)) }, threads: threads)
            }
            return index
        }
        let serial = build(), two = batched(threads: 2), three = batched(threads: 3)
        XCTAssertTrue(two.serialized() == three.serialized(), "the graph does not depend on the thread count")
        XCTAssertFalse(two.serialized() == serial.serialized(), "the batch path really ran")
        XCTAssertTrue(two.labelsAreSlots)
        XCTAssertEqual(two.count, data.count)
        let serialRecall = meanRecall(serial), batchRecall = meanRecall(two)
        print("recall@10 one by one \(serialRecall), batched \(batchRecall)")
        XCTAssertGreaterThanOrEqual(batchRecall, 0.95)
        XCTAssertGreaterThanOrEqual(batchRecall, serialRecall - 0.02)
        // Every node is reachable: its own vector finds it.
        for i in stride(from: 0, to: data.count, by: 97) { XCTAssertEqual(two.search(data[i], k: 1).hits.first?.label, UInt32(i)) }
        // A batch that replaces labels (one of them twice) tombstones the old nodes.
        two.insert(batch: (0..<40).map { (queries[$0 % queries.count], UInt32($0 % 30)) }, threads: 2)
        XCTAssertEqual(two.liveCount, data.count)
        XCTAssertEqual(two.deletedCount, 40)
        XCTAssertEqual(two.search(queries[35], k: 1).hits.first?.label, 5, "the last of two replacements wins")
    }

    /// On VNNI CPUs the graph is built through int8 codes: the kernel equals a plain integer
    /// dot product (its unsigned-times-signed trick included), code distances track float ones,
    /// the graph is as good as a float-built one, and a loaded image gets its codes back.
    func testInt8CodesTrackFloatDistancesAndBuildAsGoodAGraph() throws {
        try XCTSkipUnless(fdb_q8_supported() != 0, "this CPU has no AVX-512 VNNI: the index builds with float distances")
        var rng = SeededRandom(seed: 11)
        for stride in [64, 128, 384] {
            var a = (0..<stride).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 255) - 127) }
            let b = (0..<stride).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 255) - 127) }
            a[0] = -127; a[1] = 127
            let sumB = b.reduce(Int32(0)) { $0 + Int32($1) }
            let expected = zip(a, b).reduce(Int32(0)) { $0 + Int32($1.0) * Int32($1.1) }
            XCTAssertEqual(fdb_i8_dot(a, b, stride, sumB), expected, "stride \(stride)")
        }

        for metric in Metric.allCases {
            let index = HNSWIndex(dimension: dim, metric: metric, parameters: .init(m: 12, efConstruction: 100, efSearch: 64, seed: 42))
            XCTAssertTrue(index.buildsWithCodes)
            for (i, v) in data.prefix(200).enumerated() { index.insert(v, label: UInt32(i)) }
            // The batched kernel the search loop uses gives each row's single-call distance, bit for bit.
            let slots: [UInt32] = [7, 0, 199, 7, 42, 150, 3]
            var batched = [Float](repeating: .nan, count: slots.count)
            CodeQuery(index, slot: 5).distances(slots, slots.count, into: &batched)
            XCTAssertEqual(batched.map(\.bitPattern), slots.map { index.buildDistance(5, Int($0)).bitPattern }, "\(metric)")
            for (x, y) in [(0, 1), (5, 150), (17, 18), (199, 3)] {
                let vx = index.vector(ofSlot: x), vy = index.vector(ofSlot: y)
                let exact = metric.distance(vx, vy, dim)
                // Rounding error grows with the norms (stored cosine vectors are unit length).
                let norms = (fdb_dot(vx, vx, dim) * fdb_dot(vy, vy, dim)).squareRoot()
                // An int8 step is max|x|/127 a component: on these 32-d vectors 0.5-0.6% of the
                // norms (0.57% for l2 199-3 since the codes are made from the half rows).
                XCTAssertEqual(index.buildDistance(x, y), exact, accuracy: 0.008 * norms, "\(metric) \(x)-\(y)")
            }
        }

        let float = build(codes: false), coded = build()
        XCTAssertFalse(float.buildsWithCodes)
        XCTAssertFalse(coded.serialized() == float.serialized(), "the codes really chose the links")
        let floatRecall = meanRecall(float), codedRecall = meanRecall(coded)
        print("recall@10 float-built \(floatRecall), code-built \(codedRecall)")
        XCTAssertGreaterThanOrEqual(codedRecall, 0.95)
        XCTAssertGreaterThanOrEqual(codedRecall, floatRecall - 0.02)
        // Returned distances come from the half-precision vectors, never the codes.
        let hit = try XCTUnwrap(coded.search(queries[0], k: 1).hits.first)
        let reference = referenceDistance(.cosine, data[Int(hit.label)], queries[0])
        XCTAssertEqual(hit.distance, reference, accuracy: halfTolerance(reference))

        let copy = try coded.serialized().withUnsafeBytes { try HNSWIndex(serialized: $0) }
        XCTAssertTrue(copy.hasCodes, "searches walk the codes, so a loaded index makes them at once")
        XCTAssertEqual(copy.buildDistance(3, 900), coded.buildDistance(3, 900))
        copy.insert(queries[0], label: 5000)
        coded.insert(queries[0], label: 5000)
        XCTAssertTrue(copy.serialized() == coded.serialized(), "a loaded index links new nodes as the original does")
    }

    /// With float searches, construction's codes are dropped while the index is only read (a
    /// fifth of a 384-d index's memory) and made again by the next write, which then links
    /// exactly as an index that kept them would.
    func testCodesDroppedWhileReadingComeBackForTheNextWriteWithTheSameLinks() throws {
        try XCTSkipUnless(fdb_q8_supported() != 0, "this CPU has no AVX-512 VNNI: the index builds with float distances")
        let kept = build(), dropped = build()
        XCTAssertTrue(dropped.hasCodes)
        dropped.releaseCodes()
        XCTAssertTrue(dropped.hasCodes, "kept while searches walk them")
        dropped.searchesWithCodes = false
        kept.searchesWithCodes = false
        XCTAssertGreaterThan(dropped.memoryUse.codes, 0)
        let before = queries.map { dropped.search($0, k: 10).hits }
        dropped.releaseCodes()
        XCTAssertFalse(dropped.hasCodes)
        XCTAssertEqual(dropped.memoryUse.codes, 0, "INFO memory no longer counts them")
        // Link rows count for the slots in use: reserved ones are unwritten region pages.
        XCTAssertEqual(dropped.memoryUse.links, dropped.count * (dropped.maxM0 + 1) * 4 + dropped.upperPool.capacity * 4)
        XCTAssertGreaterThan(dropped.capacity, dropped.count, "the test means something: rows are reserved ahead")
        XCTAssertLessThan(dropped.memoryBytes, kept.memoryBytes)
        XCTAssertEqual(queries.map { dropped.search($0, k: 10).hits }, before, "searches never read the codes")
        for (i, q) in queries.enumerated() {
            kept.insert(q, label: UInt32(3000 + i))
            dropped.insert(q, label: UInt32(3000 + i))
        }
        XCTAssertTrue(dropped.hasCodes)
        XCTAssertTrue(kept.serialized() == dropped.serialized(), "the remade codes chose the same links")
        dropped.releaseCodes()
        dropped.insert(batch: queries.enumerated().map { ($0.element, UInt32(4000 + $0.offset)) }, threads: 2)
        kept.insert(batch: queries.enumerated().map { ($0.element, UInt32(4000 + $0.offset)) }, threads: 2)
        XCTAssertTrue(kept.serialized() == dropped.serialized(), "batches remake them too")
    }

    /// Searches walk the graph through int8 codes and re-rank with the half-precision rows:
    /// recall as good as searches over the rows alone, and the distances returned are the rows'.
    func testSearchesThroughCodesKeepRecallAndReturnExactDistances() throws {
        try XCTSkipUnless(fdb_q8_supported() != 0, "this CPU has no AVX-512 VNNI: searches read floats")
        for metric in Metric.allCases {
            let index = build(metric)
            XCTAssertTrue(index.searchesWithCodes && index.hasCodes)
            func meanRecall() -> Double {
                queries.reduce(0) { $0 + recall(index.search($1, k: 10).hits.map(\.label), bruteForce(metric, data, $1, k: 10)) } / Double(queries.count)
            }
            let coded = meanRecall()
            for q in queries.prefix(10) {
                let stored = index.asStored(metric.prepare(q))
                for h in index.search(q, k: 10).hits {
                    let slot = try XCTUnwrap(index.slot(of: h.label))
                    let d = stored.withUnsafeBufferPointer { FloatQuery(index, $0.baseAddress!).distance(to: slot) }
                    XCTAssertEqual(h.distance.bitPattern, d.bitPattern, "\(metric)")
                    let reference = referenceDistance(metric, data[Int(h.label)], q)
                    XCTAssertEqual(h.distance, reference, accuracy: halfTolerance(reference), "\(metric)")
                }
            }
            index.searchesWithCodes = false
            let float = meanRecall()
            print("\(metric): recall@10 through codes \(coded), floats \(float)")
            XCTAssertGreaterThanOrEqual(coded, float - 0.02, "\(metric)")
        }
    }

    /// The float kernels (AVX-512, AVX2 or portable, whichever this CPU runs) at every length
    /// around their block sizes, the masked or scalar tails included.
    func testFloatKernelsMatchPlainSumsAtEveryLength() {
        var rng = SeededRandom(seed: 3)
        for n in Array(1...70) + [127, 128, 129, 384, 385, 1000] {
            let a = (0..<n).map { _ in Float(rng.nextGaussian()) }, b = (0..<n).map { _ in Float(rng.nextGaussian()) }
            let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let l2 = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            XCTAssertEqual(Double(fdb_dot(a, b, n)), dot, accuracy: 1e-4 * Double(n), "dot, n \(n)")
            XCTAssertEqual(Double(fdb_l2sq(a, b, n)), l2, accuracy: 1e-4 * max(l2, 1), "l2, n \(n)")
        }
    }

    func testExactSearchMatchesReferenceDistances() {
        for metric in Metric.allCases {
            let index = build(metric)
            let q = queries[3]
            let hits = index.exactSearch(q, k: 10).hits
            XCTAssertEqual(hits.map { Int($0.label) }, bruteForce(metric, data, q, k: 10), "\(metric)")
            for h in hits {
                let reference = referenceDistance(metric, data[Int(h.label)], q)
                XCTAssertEqual(h.distance, reference, accuracy: halfTolerance(reference))
            }
        }
    }

    func testSameSeedBuildsTheSameBytesAndAnotherSeedDoesNot() {
        let a = build(seed: 1).serialized(), b = build(seed: 1).serialized()
        if a != b, let at = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            XCTFail("images of \(a.count) and \(b.count) bytes first differ at byte \(at)")
        }
        XCTAssertTrue(a == b)
        XCTAssertFalse(build(seed: 1).serialized() == build(seed: 2).serialized())
    }

    func testFilteredSearchReturnsOnlyAllowedLabels() {
        let index = build()
        var allowed = Bitset(capacity: data.count)
        for i in stride(from: 0, to: data.count, by: 7) { allowed.insert(i) }
        for q in queries.prefix(10) {
            let hits = index.search(q, k: 10, ef: 100, filter: allowed).hits
            XCTAssertEqual(hits.count, 10)
            XCTAssertTrue(hits.allSatisfy { allowed.contains(Int($0.label)) })
            XCTAssertGreaterThanOrEqual(recall(hits.map(\.label), bruteForce(.cosine, data, q, k: 10) { $0 % 7 == 0 }), 0.8)
        }
    }

    func testDeletedAndReplacedLabelsNeverComeBackAndCompactionDropsThem() {
        let index = build()
        for i in 0..<500 { index.markDeleted(label: UInt32(i)) }
        for i in 500..<600 { index.insert(data[i].map { -$0 }, label: UInt32(i)) }  // updated vectors
        XCTAssertEqual(index.deletedCount, 600)
        XCTAssertEqual(index.liveCount, 1500)
        for q in queries.prefix(10) {
            XCTAssertTrue(index.search(q, k: 10).hits.allSatisfy { $0.label >= 500 })
        }
        XCTAssertEqual(index.vector(of: 550).map { referenceDistance(.cosine, $0, data[550].map { -$0 }) } ?? 1, 0, accuracy: 1e-5)
        let compact = index.compacted()
        XCTAssertEqual(compact.count, 1500)
        XCTAssertEqual(compact.deletedCount, 0)
        let alive = data.enumerated().map { $0.offset < 500 ? nil : ($0.offset < 600 ? $0.element.map { -$0 } : $0.element) }
        var total = 0.0
        for q in queries {
            let live = alive.indices.filter { alive[$0] != nil }
            let truth = bruteForce(.cosine, live.map { alive[$0]! }, q, k: 10).map { live[$0] }
            total += recall(compact.search(q, k: 10).hits.map(\.label), truth)
        }
        XCTAssertGreaterThanOrEqual(total / Double(queries.count), 0.95)
    }

    func testSerialisedImageRoundTripsAndCorruptImagesAreRejected() throws {
        let index = build()
        index.markDeleted(label: 5)
        let image = index.serialized()
        let copy = try image.withUnsafeBytes { try HNSWIndex(serialized: $0) }
        XCTAssertEqual(copy.serialized(), image)
        XCTAssertEqual(copy.search(queries[0], k: 10).hits, index.search(queries[0], k: 10).hits)

        for cut in [0, 7, 60, image.count / 3, image.count - 1] {
            XCTAssertThrowsError(try Array(image.prefix(cut)).withUnsafeBytes { try HNSWIndex(serialized: $0) }, "cut at \(cut)")
        }
        var rng = SeededRandom(seed: 3)
        var rejected = 0
        for _ in 0..<200 {   // random corruption anywhere must throw or load a structurally valid graph
            var bad = image
            let at = Int(rng.next() % UInt64(bad.count))
            bad[at] ^= UInt8(1 + rng.next() % 255)
            if (try? bad.withUnsafeBytes { try HNSWIndex(serialized: $0) }) == nil { rejected += 1 }
        }
        XCTAssertGreaterThan(rejected, 0)
    }

    func testBitsetOperations() {
        var a = Bitset(capacity: 130), b = Bitset(capacity: 130)
        [0, 63, 64, 129].forEach { a.insert($0) }
        [63, 100].forEach { b.insert($0) }
        var u = a; u.formUnion(b)
        XCTAssertEqual(u.members, [0, 63, 64, 100, 129])
        var i = a; i.formIntersection(b)
        XCTAssertEqual(i.members, [63])
        var n = a; n.invert()
        XCTAssertEqual(n.count, 126)
        XCTAssertFalse(n.contains(129))
        XCTAssertFalse(n.contains(130))
        XCTAssertEqual(Bitset.full(capacity: 130).count, 130)
        XCTAssertEqual(a.resized(to: 64).members, [0, 63])
    }
}
