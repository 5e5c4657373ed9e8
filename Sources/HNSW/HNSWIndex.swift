#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CKernels
import Dispatch
import Synchronization

/// Build and query parameters. ef_search 128 is the smallest power of two that keeps
/// recall@10 ≥ 0.95 unfiltered on 100k × 384-d clustered vectors (index-bench: 0.934 at 64,
/// 0.983 at 128).
public struct HNSWParameters: Sendable, Codable, Equatable {
    public var m: Int
    public var efConstruction: Int
    public var efSearch: Int
    public var seed: UInt64

    public init(m: Int = 16, efConstruction: Int = 200, efSearch: Int = 128, seed: UInt64 = 42) {
        self.m = m
        self.efConstruction = efConstruction
        self.efSearch = efSearch
        self.seed = seed
    }
}

public struct HNSWHit: Sendable, Equatable {
    public var label: UInt32
    public var distance: Float
}

public struct HNSWSearchStats: Sendable, Equatable {
    /// Nodes whose distance to the query was computed.
    public var distanceComputations = 0
    /// Nodes taken off the candidate queue and expanded.
    public var expanded = 0
    /// Of the first `FilterGuard.probeWindow` computed nodes, how many the filter allowed.
    public var allowedInProbe = 0
    public var outcome: Outcome = .complete

    public enum Outcome: String, Sendable {
        case complete
        /// The search computed more distances than the guard allowed.
        case overBudget = "over_budget"
        /// The query's neighbourhood holds far fewer allowed nodes than the collection does.
        case sparseNeighbourhood = "sparse_neighbourhood"
    }
}

/// Limits that stop a filtered search early when it is going badly, so the caller can switch
/// to an exact scan: a filter anti-correlated with the query makes hnswlib-style filtering
/// wander through disallowed regions, costing more than a scan and still missing neighbours.
public struct FilterGuard: Sendable, Equatable {
    /// Stop once this many distances are computed (the cost of scanning the allowed set).
    public var maxDistanceComputations: Int
    /// Look at the share of allowed nodes among the first `probeWindow` computed…
    public var probeWindow: Int
    /// …and stop if it is below this.
    public var minProbeShare: Double

    public init(maxDistanceComputations: Int, probeWindow: Int, minProbeShare: Double) {
        self.maxDistanceComputations = maxDistanceComputations
        self.probeWindow = probeWindow
        self.minProbeShare = minProbeShare
    }
}

/// Hierarchical navigable small world graph (Malkov & Yashunin), laid out like hnswlib:
/// flat vectors, flat level-0 link lists `[count, n0, n1, …]`, a side pool for upper levels.
///
/// Nodes live in slots; each slot carries a caller-chosen `label` (a record id). Labels must be
/// small integers: the index keeps a flat label → slot table. Deleting marks a tombstone; the
/// caller decides when to `compacted()`.
///
/// Thread safety: any number of concurrent searches, or one mutation at a time (the caller
/// holds the write lock).
public final class HNSWIndex: @unchecked Sendable {
    public let dimension: Int
    public let metric: Metric
    public let parameters: HNSWParameters

    // Data layout.
    let maxM: Int, maxM0: Int
    let levelMultiplier: Double
    var capacity = 0
    public internal(set) var count = 0          // slots in use (live + deleted)
    public internal(set) var deletedCount = 0
    /// The graph's copy of each prepared vector at half precision (CKernels/half.c): binary16 of
    /// the vector over a power of two; `scales[slot]` turns the halves back into the vector
    /// (that power of two, for cosine also over the decoded length: `encode`). Half the bytes
    /// of float32 (the float32 truth is the store's); distances are within binary16's rounding
    /// (2^-11 relative per component) of the float32 ones.
    var vectors: UnsafeMutablePointer<UInt16>  // capacity * dimension
    var scales: UnsafeMutablePointer<Float>    // capacity
    /// Per slot, `vectorHash` of the prepared float32 vector it was given: identical vectors are
    /// told apart from merely close ones (whose halves may agree) by it, after a load too.
    var hashes: [UInt64] = []
    /// Construction compares vectors through int8 codes when the CPU has VNNI: a quarter of the
    /// memory traffic of float32, which is what bounds graph building once the vectors outgrow
    /// the caches. Searches for queries always use the float vectors, so returned distances
    /// are exact; only the choice of links sees the rounding (index-bench measures recall).
    public let buildsWithCodes: Bool
    /// Per slot `codeStride` code bytes (zero padded to a multiple of 64, so a row is whole
    /// cache lines: 6 for 384-d), and apart from them its `CodeInfo` (16 bytes, an array small
    /// enough to stay in L2). With the info in front, a row was 400 bytes over 7 lines.
    let codeStride: Int
    var codes: UnsafeMutableRawPointer
    var codeInfos: UnsafeMutablePointer<CodeInfo>
    /// Slots `codes` and `codeInfos` have room for.
    var codeCapacity = 0
    /// Every slot below `count` has its code. Construction compares through them, and so do
    /// searches with `searchesWithCodes`; without it they are made when a write needs them
    /// (`ensureCodes`, ~1 ms per 2,000 vectors) and dropped while the index is only read
    /// (`releaseCodes`): a fifth of a 384-d index's memory.
    public internal(set) var hasCodes = false
    /// Query searches walk the graph through the codes (a quarter of the bytes per distance:
    /// 1.4-2.4× the queries a second at 100k × 384, same recall) and re-rank what they found
    /// with the float vectors, so returned distances stay exact. The codes are then kept for
    /// good (made on load). Off, searches read floats and the codes go while nothing is written.
    public var searchesWithCodes = true {
        didSet { if searchesWithCodes { ensureCodes() } }
    }
    var links0: UnsafeMutablePointer<UInt32>   // capacity * (maxM0 + 1)
    var levels: [UInt8] = []
    var labels: [UInt32] = []
    var deleted: [Bool] = []
    var upperOffset: [Int32] = []              // into upperPool, -1 for level-0-only nodes
    var upperPool: [UInt32] = []               // per upper level: [count, n0 … n(maxM-1)]
    var slotOfLabel: [Int32] = []
    /// Labels beyond `labels[slot]` on a node whose vector several records share
    /// (HNSWIndex+Duplicates.swift). Empty for almost every slot.
    var aliases: [Int32: [UInt32]] = [:]
    /// Live nodes by the hash of their prepared vector: how a duplicate finds its node.
    var slotOfHash: [UInt64: Int32] = [:]
    /// Live labels: every node's first label plus the aliases.
    public internal(set) var liveCount = 0
    /// Off only to measure what sharing nodes buys (index-bench --duplicates): each record
    /// then gets its own node, as in hnswlib.
    public var sharesIdenticalVectors = true
    /// Every node's label equals its slot (a build without updates): filters need no translation.
    var labelsAreSlots = true
    var entryPoint: Int32 = -1
    var maxLevel = 0
    var rngState: UInt64
    let visitedPool = Mutex<[VisitedList]>([])

    /// `buildWithCodes: false` builds with float distances even where int8 codes are available.
    public init(dimension: Int, metric: Metric, parameters: HNSWParameters = .init(), buildWithCodes: Bool = true) {
        precondition(dimension > 0 && parameters.m >= 2)
        self.dimension = dimension
        self.metric = metric
        self.parameters = parameters
        maxM = parameters.m
        maxM0 = parameters.m * 2
        levelMultiplier = 1 / log(Double(parameters.m))
        rngState = parameters.seed
        vectors = regionAllocate(UInt16.self, 0)
        scales = regionAllocate(Float.self, 0)
        links0 = regionAllocate(UInt32.self, 0)
        buildsWithCodes = buildWithCodes && fdb_q8_supported() != 0
        codeStride = buildsWithCodes ? (dimension + 63) / 64 * 64 : 0
        codes = UnsafeMutableRawPointer(regionAllocate(UInt8.self, 0))
        codeInfos = regionAllocate(CodeInfo.self, 0)
    }

    deinit {
        regionFree(vectors, capacity * dimension)
        regionFree(scales, capacity)
        regionFree(links0, capacity * (maxM0 + 1))
        regionFree(codes.assumingMemoryBound(to: UInt8.self), codeCapacity * codeStride)
        regionFree(codeInfos, codeCapacity)
    }

    public func contains(label: UInt32) -> Bool { slot(of: label) != nil }

    func slot(of label: UInt32) -> Int? {
        let l = Int(label)
        guard l < slotOfLabel.count, slotOfLabel[l] >= 0 else { return nil }
        return Int(slotOfLabel[l])
    }

    /// The stored (prepared) vector of a live label, as the graph holds it (half precision).
    public func vector(of label: UInt32) -> [Float]? {
        slot(of: label).map(vector(ofSlot:))
    }

    func vector(ofSlot s: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: dimension) { buf, n in
            decode(s, into: buf.baseAddress!)
            n = dimension
        }
    }

    /// Bytes held by vectors and links: what one more vector costs, for the stats page.
    public var memoryBytes: Int {
        capacity * (dimension * 2 + 4 + (maxM0 + 1) * 4 + 8) + hashes.capacity * 8 + codeCapacity * (codeStride + MemoryLayout<CodeInfo>.stride)
            + upperPool.capacity * 4 + slotOfLabel.capacity * 4 + slotOfHash.capacity * 12 + aliasCount * 4
    }

    /// Bytes by component, counting what is written (a slot past `count` is reserved address
    /// space the kernel has not backed): how much each vector costs, for INFO memory.
    public struct MemoryUse: Sendable, Equatable {
        /// Half-precision vectors and their scales, what searches and re-ranking read.
        public var vectors = 0
        /// int8 codes and their scale rows, what construction compares on VNNI CPUs.
        public var codes = 0
        /// Level-0 link rows of the slots in use and upper levels. Reserved rows are zero pages
        /// the kernel has not backed (regions are never written ahead), so they are not counted.
        public var links = 0
        /// Per node: level, label, deleted flag, upper offset; label and duplicate maps.
        public var bookkeeping = 0
        public var total: Int { vectors + codes + links + bookkeeping }
        public init(vectors: Int = 0, codes: Int = 0, links: Int = 0, bookkeeping: Int = 0) {
            (self.vectors, self.codes, self.links, self.bookkeeping) = (vectors, codes, links, bookkeeping)
        }
    }

    public var memoryUse: MemoryUse {
        MemoryUse(vectors: count * (dimension * 2 + 4),
                  codes: hasCodes ? count * (codeStride + MemoryLayout<CodeInfo>.stride) : 0,
                  links: count * (maxM0 + 1) * 4 + upperPool.capacity * 4,
                  bookkeeping: levels.capacity + labels.capacity * 4 + deleted.capacity + upperOffset.capacity * 4
                      + slotOfLabel.capacity * 4 + hashes.capacity * 8 + slotOfHash.capacity * 12 + aliases.count * 40)
    }

    // MARK: - Storage growth

    func reserve(_ needed: Int) {
        guard needed > capacity else { return }
        let newCap = max(needed, capacity * 2, 1024)
        let v = regionAllocate(UInt16.self, newCap * dimension)
        v.update(from: vectors, count: count * dimension)
        regionFree(vectors, capacity * dimension)
        vectors = v
        let sc = regionAllocate(Float.self, newCap)
        sc.update(from: scales, count: count)
        regionFree(scales, capacity)
        scales = sc
        let l = regionAllocate(UInt32.self, newCap * (maxM0 + 1))   // zeroed: unused link slots serialise as zeros
        l.update(from: links0, count: count * (maxM0 + 1))
        regionFree(links0, capacity * (maxM0 + 1))
        links0 = l
        if hasCodes {
            let c = regionAllocate(UInt8.self, newCap * codeStride)
            c.update(from: codes.assumingMemoryBound(to: UInt8.self), count: count * codeStride)
            regionFree(codes.assumingMemoryBound(to: UInt8.self), codeCapacity * codeStride)
            codes = UnsafeMutableRawPointer(c)
            let i = regionAllocate(CodeInfo.self, newCap)
            i.update(from: codeInfos, count: count)
            regionFree(codeInfos, codeCapacity)
            codeInfos = i
            codeCapacity = newCap
        }
        capacity = newCap
    }

    /// Makes every slot's code if this index builds with codes and they were dropped (or never
    /// made: a loaded index has none). Every mutation that compares vectors calls it first.
    func ensureCodes() {
        guard buildsWithCodes, !hasCodes else { return }
        codes = UnsafeMutableRawPointer(regionAllocate(UInt8.self, capacity * codeStride))
        codeInfos = regionAllocate(CodeInfo.self, capacity)
        codeCapacity = capacity
        hasCodes = true
        for slot in 0..<count { encode(slot) }
    }

    /// Drops the codes (the caller holds the write lock) unless searches use them; the next
    /// write makes them again.
    public func releaseCodes() {
        guard hasCodes, !searchesWithCodes else { return }
        regionFree(codes.assumingMemoryBound(to: UInt8.self), codeCapacity * codeStride)
        regionFree(codeInfos, codeCapacity)
        codes = UnsafeMutableRawPointer(regionAllocate(UInt8.self, 0))
        codeInfos = regionAllocate(CodeInfo.self, 0)
        codeCapacity = 0
        hasCodes = false
    }

    /// Writes the int8 code of the (prepared) vector in `slot`.
    func encode(_ slot: Int) {
        guard hasCodes else { return }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: dimension) { buf in
            let v = buf.baseAddress!
            decode(slot, into: v)
            var sum: Int32 = 0
            let code = (codes + slot &* codeStride).assumingMemoryBound(to: Int8.self)
            let scale = fdb_i8_encode(v, dimension, code, codeStride, &sum)
            (codeInfos + slot).initialize(to: CodeInfo(scale: scale, sum: sum, squaredNorm: fdb_dot(v, v, dimension)))
        }
    }

    /// The distance construction works with: through the codes when there are any.
    func buildDistance(_ a: Int, _ b: Int) -> Float { withBuildQuery(from: a) { $0(b) } }

    /// Construction's distances from one node to several: through the codes, or from the node's
    /// row decoded once (not once per pair, as `buildDistance` must).
    @inline(__always) func withBuildQuery<R>(from slot: Int, _ body: (_ distance: (Int) -> Float) -> R) -> R {
        if hasCodes {
            let q = CodeQuery(self, slot: slot)
            return body { q.distance(to: $0) }
        }
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: dimension) { buf in
            decode(slot, into: buf.baseAddress!)
            let q = FloatQuery(self, buf.baseAddress!)
            return body { q.distance(to: $0) }
        }
    }

    /// The half-precision row of `slot`.
    @inline(__always) func row(_ slot: Int) -> UnsafeMutablePointer<UInt16> { vectors + slot &* dimension }
    /// Writes a prepared vector into `slot`'s row and scale.
    func store(_ prepared: UnsafePointer<Float>, at slot: Int) {
        scales[slot] = encode(prepared, into: row(slot))
    }

    /// Halves of `v` into `row`; returns the row's scale. For cosine the scale also divides by
    /// the decoded row's length, so a row decodes to unit length as a cosine vector should.
    func encode(_ v: UnsafePointer<Float>, into row: UnsafeMutablePointer<UInt16>) -> Float {
        let s = fdb_h_encode(v, dimension, row)
        guard metric == .cosine else { return s }
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: dimension) { d in
            fdb_h_decode(row, dimension, s, d.baseAddress!)
            let squared = d.reduce(0.0) { $0 + Double($1) * Double($1) }
            return squared > 0 ? Float(Double(s) / squared.squareRoot()) : s
        }
    }

    /// `slot`'s vector back as floats (scale × each half).
    func decode(_ slot: Int, into out: UnsafeMutablePointer<Float>) {
        fdb_h_decode(row(slot), dimension, scales[slot], out)
    }

    /// A prepared query as a row holding it would decode: searches compare like with like, so
    /// a query equal to a stored vector is at distance 0 from it (l2 exactly, cosine within
    /// float rounding), and each side carries binary16's rounding once.
    func asStored(_ prepared: [Float]) -> [Float] {
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: dimension) { h in
            let scale = prepared.withUnsafeBufferPointer { encode($0.baseAddress!, into: h.baseAddress!) }
            return [Float](unsafeUninitializedCapacity: dimension) { out, n in
                fdb_h_decode(h.baseAddress!, dimension, scale, out.baseAddress!)
                n = dimension
            }
        }
    }
    @inline(__always) func level0(_ slot: Int) -> UnsafeMutablePointer<UInt32> { links0 + slot &* (maxM0 &+ 1) }

    func neighbors(_ slot: Int, level: Int) -> [UInt32] {
        if level == 0 {
            let p = level0(slot)
            return Array(UnsafeBufferPointer(start: p + 1, count: Int(p[0])))
        }
        let base = Int(upperOffset[slot]) + (level - 1) * (maxM + 1)
        return Array(upperPool[(base + 1)..<(base + 1 + Int(upperPool[base]))])
    }

    func setNeighbors(_ slot: Int, level: Int, _ list: [UInt32]) {
        if level == 0 {
            let p = level0(slot)
            p[0] = UInt32(list.count)
            for (i, n) in list.enumerated() { p[1 + i] = n }
        } else {
            let base = Int(upperOffset[slot]) + (level - 1) * (maxM + 1)
            upperPool[base] = UInt32(list.count)
            for (i, n) in list.enumerated() { upperPool[base + 1 + i] = n }
        }
    }

    func randomLevel() -> Int {
        // SplitMix64: deterministic for a given seed and insertion order.
        rngState &+= 0x9E37_79B9_7F4A_7C15
        var z = rngState
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let u = (Double(z >> 11) + 0.5) / Double(1 << 53)
        return min(Int(-log(u) * levelMultiplier), 15)
    }
}

/// The index's big arrays (vectors, links, codes) are regions (CKernels/heap.c): zeroed,
/// on huge pages when large, and given back to the kernel when freed.
func regionAllocate<T>(_ type: T.Type, _ count: Int) -> UnsafeMutablePointer<T> {
    let bytes = count * MemoryLayout<T>.stride
    guard let p = fdb_region_alloc(bytes) else { fatalError("out of memory: \(bytes) bytes for an index array") }
    return p.bindMemory(to: T.self, capacity: count)
}

func regionFree<T>(_ p: UnsafeMutablePointer<T>, _ count: Int) {
    fdb_region_free(p, count * MemoryLayout<T>.stride)
}
