import XCTest
@testable import HNSW
import CKernels

/// Issue #23: the graph keeps its vectors at half precision (CKernels/half.c): the conversions
/// round as IEEE binary16 does, the kernels compute what their definitions say, and the index
/// still finds a stored vector at distance 0 while holding 2 bytes a component.
final class HalfPrecisionTests: XCTestCase {
    /// Every binary16 value decodes as Swift's Float16 does, and the encoder rounds as Swift's
    /// (to nearest, ties to even): halfway points and their neighbours, subnormals, overflow.
    func testConversionsMatchSwiftsFloat16() {
        for bits in 0...UInt16.max {
            let ours = fdb_h_to_float(bits), swift = Float(Float16(bitPattern: bits))
            if swift.isNaN { XCTAssertTrue(ours.isNaN, "\(bits)") } else { XCTAssertEqual(ours.bitPattern, swift.bitPattern, "\(bits)") }
        }
        var probes: [Float] = [0, 65504, 65519.99, 65520, 1e10, .infinity, 6.1e-5, 5.96e-8, 2.9802322e-8, 2.98e-8, 1e-9, Float(bitPattern: 0x0001_1000)]
        for bits in stride(from: UInt16(0), to: 0x7BFF, by: 3) {
            let a = Float(Float16(bitPattern: bits)), b = Float(Float16(bitPattern: bits + 1))
            let mid = (a + b) / 2   // exact: one bit more than a half has
            probes += [a, mid, mid.nextUp, mid.nextDown]
        }
        var rng = SeededRandom(seed: 5)
        for _ in 0..<20_000 { probes.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) }
        var checked = 0
        for x in probes + probes.map({ -$0 }) where !x.isNaN {
            if fdb_h_from_float(x) != Float16(x).bitPattern { XCTFail("\(x): \(fdb_h_from_float(x)) vs \(Float16(x).bitPattern)"); return }
            checked += 1
        }
        XCTAssertGreaterThan(checked, 60_000)
    }

    /// The vector encoder (F16C here) gives the scalar encoder's halves, its scale is the power
    /// of two just above max|x|, and decoding comes back within binary16's rounding, from
    /// vectors around 1e-18 to around 1e18 and every tail length.
    func testVectorEncoderMatchesTheScalarOneAtAnyMagnitude() {
        var rng = SeededRandom(seed: 9)
        for n in [1, 7, 8, 15, 16, 17, 31, 33, 384, 385] {
            for magnitude: Float in [1e-18, 1e-3, 1, 3, 1e5, 1e18] {
                let x = (0..<n).map { _ in Float(rng.nextGaussian()) * magnitude }
                var h = [UInt16](repeating: 0, count: n)
                let s = fdb_h_encode(x, n, &h)
                let top = x.map(abs).max()!
                XCTAssertEqual(s, fdb_h_scale(x, n))
                XCTAssertEqual(s.significandBitPattern, 0, "a power of two")
                XCTAssertTrue(top / s >= 0.5 && top / s < 1, "\(top) / \(s)")
                XCTAssertEqual(h, x.map { fdb_h_from_float($0 / s) }, "n \(n), magnitude \(magnitude)")
                var back = [Float](repeating: 0, count: n)
                fdb_h_decode(h, n, s, &back)
                for i in 0..<n { XCTAssertEqual(back[i], x[i], accuracy: abs(x[i]) / 2048 + s * 0x1p-25) }
            }
        }
        var zeros = [UInt16](repeating: 1, count: 4)
        XCTAssertEqual(fdb_h_encode([0, 0, 0, 0], 4, &zeros), 1)
        XCTAssertEqual(zeros, [0, 0, 0, 0])
    }

    /// Dot and squared L2 of a float query against scale × halves, as a double-precision sum
    /// over the decoded row says, for lengths that exercise every tail of the vector loops.
    func testKernelsAgreeWithADoublePrecisionReference() {
        var rng = SeededRandom(seed: 4)
        for n in [1, 3, 8, 15, 16, 17, 31, 32, 33, 47, 100, 384, 385] {
            let q = (0..<n).map { _ in Float(rng.nextGaussian()) }
            let x = (0..<n).map { _ in Float(rng.nextGaussian()) * 3 }
            var h = [UInt16](repeating: 0, count: n)
            let s = fdb_h_encode(x, n, &h)
            let d = h.map { Double(s) * Double(fdb_h_to_float($0)) }
            let dot = zip(q, d).reduce(0.0) { $0 + Double($1.0) * $1.1 }
            let l2 = zip(q, d).reduce(0.0) { $0 + (Double($1.0) - $1.1) * (Double($1.0) - $1.1) }
            let size = zip(q, d).reduce(0.0) { $0 + abs(Double($1.0) * $1.1) }
            XCTAssertEqual(Double(fdb_h_dot(q, h, n)) * Double(s), dot, accuracy: 1e-5 * (size + 1), "dot, n \(n)")
            XCTAssertEqual(Double(fdb_h_l2sq(q, h, n, s)), l2, accuracy: 1e-5 * (l2 + 1), "l2, n \(n)")
        }
    }

    /// Every implementation this CPU can run (portable, AVX2 + F16C, AVX-512) gives the same
    /// halves and, within float rounding, the same distances: the ones a machine without
    /// AVX-512 picks are checked here too.
    func testEveryKernelPathAgrees() throws {
        var rng = SeededRandom(seed: 8)
        let levels = [0, 1, 2].filter { !fdb_h_dot_at(Int32($0), [1], [0x3C00], 1).isNaN }
        XCTAssertTrue(levels.contains(0))
        print("half-precision kernel paths on this CPU: \(levels)")
        for n in [1, 5, 8, 9, 16, 23, 32, 40, 64, 100, 384, 385] {
            let q = (0..<n).map { _ in Float(rng.nextGaussian()) }
            let x = (0..<n).map { _ in Float(rng.nextGaussian()) * 0.3 }
            let s = fdb_h_scale(x, n)
            var rows: [[UInt16]] = [], decoded: [[Float]] = []
            for level in [0, 1] {
                var h = [UInt16](repeating: 0, count: n), d = [Float](repeating: 0, count: n)
                fdb_h_encode_at(Int32(level), x, n, 1 / s, &h, s, &d)
                rows.append(h); decoded.append(d)
            }
            XCTAssertEqual(rows[0], rows[1], "n \(n)")
            XCTAssertEqual(decoded[0].map(\.bitPattern), decoded[1].map(\.bitPattern), "n \(n)")
            let h = rows[0]
            let dots = levels.map { fdb_h_dot_at(Int32($0), q, h, n) }
            let l2s = levels.map { fdb_h_l2sq_at(Int32($0), q, h, n, s) }
            let size = zip(q, decoded[0]).reduce(Float(0)) { $0 + abs($1.0 * $1.1) } / s
            for i in levels.indices {
                XCTAssertEqual(dots[i], dots[0], accuracy: 1e-5 * (size + 1), "dot, level \(levels[i]), n \(n)")
                XCTAssertEqual(l2s[i], l2s[0], accuracy: 1e-5 * (l2s[0] + 1), "l2, level \(levels[i]), n \(n)")
            }
        }
    }

    /// Two bytes a component and a scale per vector; a query equal to a stored vector comes back
    /// at distance 0 (l2 exactly, cosine within float rounding) from the graph and the scan.
    func testTheIndexHoldsHalvesAndFindsAStoredVectorAtZero() throws {
        let dim = 64
        let data = clusteredVectors(count: 300, dim: dim)
        for metric in Metric.allCases {
            let index = HNSWIndex(dimension: dim, metric: metric)
            for (i, v) in data.enumerated() { index.insert(v, label: UInt32(i)) }
            XCTAssertEqual(index.memoryUse.vectors, 300 * (dim * 2 + 4), "\(metric)")
            for i in [0, 17, 299] where metric != .dot {   // a dot query's best match is the longest vector
                let graph = try XCTUnwrap(index.search(data[i], k: 1).hits.first)
                let scan = try XCTUnwrap(index.exactSearch(data[i], k: 1).hits.first)
                XCTAssertEqual([graph.label, scan.label], [UInt32(i), UInt32(i)], "\(metric)")
                if metric == .l2 {
                    XCTAssertEqual([graph.distance, scan.distance], [0, 0])
                } else {
                    XCTAssertEqual(graph.distance, 0, accuracy: 1e-6)
                    XCTAssertEqual(scan.distance, 0, accuracy: 1e-6)
                }
            }
            let stored = try XCTUnwrap(index.vector(of: 5)), prepared = metric.prepare(data[5])
            for j in 0..<dim { XCTAssertEqual(stored[j], prepared[j], accuracy: abs(prepared[j]) / 1000 + 1e-6, "\(metric)") }
        }
    }

    /// Identity is the float32 vector's, not its halves': a vector one ulp away from a stored one
    /// (the same halves) gets its own node, and the same vector again joins it.
    func testOnlyBitIdenticalVectorsShareANode() {
        let dim = 16
        let v = clusteredVectors(count: 1, dim: dim)[0]
        var near = v
        near[3] = near[3].nextUp
        let index = HNSWIndex(dimension: dim, metric: .l2)
        index.insert(v, label: 0)
        index.insert(near, label: 1)
        index.insert(v, label: 2)
        XCTAssertEqual(index.liveNodes, 2)
        XCTAssertEqual(index.liveCount, 3)
        index.insert(near, label: 1)   // unchanged: nothing to do
        XCTAssertEqual(index.count, 2)
        XCTAssertEqual(index.deletedCount, 0)
    }
}
