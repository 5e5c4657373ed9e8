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
    var vectors: UnsafeMutablePointer<Float>   // capacity * dimension
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
    private let visitedPool = Mutex<[VisitedList]>([])

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
        vectors = .allocate(capacity: 0)
        links0 = .allocate(capacity: 0)
        buildsWithCodes = buildWithCodes && fdb_q8_supported() != 0
        codeStride = buildsWithCodes ? (dimension + 63) / 64 * 64 : 0
        codes = .allocate(byteCount: 0, alignment: 64)
        codeInfos = .allocate(capacity: 0)
    }

    deinit {
        vectors.deallocate()
        links0.deallocate()
        codes.deallocate()
        codeInfos.deallocate()
    }

    public func contains(label: UInt32) -> Bool { slot(of: label) != nil }

    func slot(of label: UInt32) -> Int? {
        let l = Int(label)
        guard l < slotOfLabel.count, slotOfLabel[l] >= 0 else { return nil }
        return Int(slotOfLabel[l])
    }

    /// The stored (prepared) vector of a live label.
    public func vector(of label: UInt32) -> [Float]? {
        guard let s = slot(of: label) else { return nil }
        return Array(UnsafeBufferPointer(start: vectors + s * dimension, count: dimension))
    }

    /// Bytes held by vectors and links: what one more vector costs, for the stats page.
    public var memoryBytes: Int {
        capacity * (dimension * 4 + (maxM0 + 1) * 4 + 8 + (buildsWithCodes ? codeStride + MemoryLayout<CodeInfo>.stride : 0))
            + upperPool.capacity * 4 + slotOfLabel.capacity * 4 + slotOfHash.capacity * 12 + aliasCount * 4
    }

    // MARK: - Storage growth

    func reserve(_ needed: Int) {
        guard needed > capacity else { return }
        let newCap = max(needed, capacity * 2, 1024)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: newCap * dimension)
        v.update(from: vectors, count: count * dimension)
        vectors.deallocate()
        vectors = v
        let l = UnsafeMutablePointer<UInt32>.allocate(capacity: newCap * (maxM0 + 1))
        l.initialize(repeating: 0, count: newCap * (maxM0 + 1))   // unused link slots serialise as zeros
        l.update(from: links0, count: count * (maxM0 + 1))
        links0.deallocate()
        links0 = l
        if buildsWithCodes {
            let c = UnsafeMutableRawPointer.allocate(byteCount: newCap * codeStride, alignment: 64)
            c.copyMemory(from: codes, byteCount: count * codeStride)
            codes.deallocate()
            codes = c
            let i = UnsafeMutablePointer<CodeInfo>.allocate(capacity: newCap)
            i.initialize(from: codeInfos, count: count)
            codeInfos.deallocate()
            codeInfos = i
        }
        capacity = newCap
    }

    /// Writes the int8 code of the (prepared) vector in `slot`.
    func encode(_ slot: Int) {
        guard buildsWithCodes else { return }
        let v = vector(slot)
        var sum: Int32 = 0
        let code = (codes + slot &* codeStride).assumingMemoryBound(to: Int8.self)
        let scale = fdb_i8_encode(v, dimension, code, codeStride, &sum)
        (codeInfos + slot).initialize(to: CodeInfo(scale: scale, sum: sum, squaredNorm: fdb_dot(v, v, dimension)))
    }

    /// The distance construction works with: through the codes when there are any.
    @inline(__always) func buildDistance(_ a: Int, _ b: Int) -> Float {
        guard buildsWithCodes else { return metric.distance(vector(a), vector(b), dimension) }
        return CodeQuery(self, slot: a).distance(to: b)
    }

    @inline(__always) func vector(_ slot: Int) -> UnsafeMutablePointer<Float> { vectors + slot &* dimension }
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

    private func randomLevel() -> Int {
        // SplitMix64: deterministic for a given seed and insertion order.
        rngState &+= 0x9E37_79B9_7F4A_7C15
        var z = rngState
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let u = (Double(z >> 11) + 0.5) / Double(1 << 53)
        return min(Int(-log(u) * levelMultiplier), 15)
    }

    // MARK: - Insert and delete

    /// Adds a vector under `label`; an existing node with that label is replaced (tombstoned).
    /// A vector equal to a live node's joins that node instead of making another.
    public func insert(_ vector: [Float], label: UInt32) {
        guard let prepared = prepareForInsert(vector, label: label) else { return }
        connect(place(prepared, label: label, level: randomLevel()))
    }

    /// The prepared vector to place for `label`, or nil when no node is needed: the label
    /// already holds this vector, or it became an alias of the node that does.
    private func prepareForInsert(_ vector: [Float], label: UInt32) -> [Float]? {
        precondition(vector.count == dimension, "vector has \(vector.count) dimensions, index has \(dimension)")
        let prepared = metric.prepare(vector)
        if let s = slot(of: label), isStored(prepared, at: s) { return nil }
        markDeleted(label: label)
        return alias(label, to: prepared) ? nil : prepared
    }

    /// Stores the node with no links yet: nothing can reach it until `connect`.
    private func place(_ prepared: [Float], label: UInt32, level: Int) -> Int {
        reserve(count + 1)
        let slot = count
        prepared.withUnsafeBufferPointer { self.vector(slot).update(from: $0.baseAddress!, count: dimension) }
        encode(slot)
        level0(slot)[0] = 0
        levels.append(UInt8(level))
        labels.append(label)
        deleted.append(false)
        if level > 0 {
            upperOffset.append(Int32(upperPool.count))
            upperPool += [UInt32](repeating: 0, count: level * (maxM + 1))
        } else {
            upperOffset.append(-1)
        }
        setSlot(slot, of: label)
        if Int(label) != slot { labelsAreSlots = false }
        count += 1
        slotOfHash[vectorHash(self.vector(slot))] = Int32(slot)
        return slot
    }

    /// Links a placed node into the graph, one level at a time from its top.
    private func connect(_ slot: Int) {
        let level = Int(levels[slot])
        guard entryPoint >= 0 else {
            entryPoint = Int32(slot)
            maxLevel = level
            return
        }
        for (l, found) in candidates(for: slot).enumerated().reversed() {
            let chosen = selectNeighbors(found, max: maxM)
            setNeighbors(slot, level: l, chosen.map { $0.slot })
            for (_, n) in chosen { link(Int(n), to: slot, level: l) }
        }
        if level > maxLevel {
            maxLevel = level
            entryPoint = Int32(slot)
        }
    }

    /// Per level from 0 to min(node's level, maxLevel): the efConstruction nearest nodes the
    /// graph offers, ascending. Reads the graph only.
    /// `sorted: false` leaves each level's list in heap order (the batch path sorts once, later).
    private func candidates(for slot: Int, sorted: Bool = true) -> [[(distance: Float, slot: UInt32)]] {
        buildsWithCodes ? candidates(for: slot, CodeQuery(self, slot: slot), sorted: sorted)
            : candidates(for: slot, FloatQuery(self, vector(slot)), sorted: sorted)
    }

    private func candidates<Q: QueryDistance>(for slot: Int, _ q: Q, sorted: Bool) -> [[(distance: Float, slot: UInt32)]] {
        let level = Int(levels[slot])
        var cur = Int(entryPoint)
        var curDist = q.distance(to: cur)
        for l in stride(from: maxLevel, to: level, by: -1) {
            (cur, curDist) = greedyClosest(q, from: cur, distance: curDist, level: l)
        }
        var out = [[(distance: Float, slot: UInt32)]](repeating: [], count: min(level, maxLevel) + 1)
        for l in stride(from: min(level, maxLevel), through: 0, by: -1) {
            var stats = HNSWSearchStats()
            let found = searchLayer(q, entry: cur, ef: parameters.efConstruction, level: l, accept: nil, stats: &stats)
            out[l] = sorted ? found.sortedAscending() : found.items
            cur = Int(out[l].min(by: isNearer)!.slot)
        }
        return out
    }

    /// Adds many vectors, as `insert` one by one would, with the graph searches (most of the
    /// work) spread over `threads`. Each new node searches the graph as it stood before the
    /// batch, read-only and in parallel, and also considers the batch-mates before it by exact
    /// distance, so it misses nothing a one-by-one build would have offered; its own neighbours
    /// are chosen in parallel too. Then the back links go in, per target node in batch order.
    /// The result depends on the batch, never on thread timing. Nodes that would raise the
    /// top level go in one by one afterwards.
    public func insert(batch: [(vector: [Float], label: UInt32)], threads: Int) {
        guard threads > 1, batch.count >= 16, entryPoint >= 0 else {
            for item in batch { insert(item.vector, label: item.label) }
            return
        }
        // Every node is placed in batch order (slots follow labels); a node above the top level
        // is linked one by one afterwards, since it moves the entry point.
        var parallel: [Int] = [], later: [Int] = []
        for item in batch {
            guard let prepared = prepareForInsert(item.vector, label: item.label) else { continue }
            let level = randomLevel()
            let slot = place(prepared, label: item.label, level: level)
            if level > maxLevel { later.append(slot) } else { parallel.append(slot) }
        }
        let slots = parallel
        var chosen = [[[UInt32]]](repeating: [], count: slots.count)
        chosen.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out   // each index is written by exactly one worker
            DispatchQueue.concurrentPerform(iterations: threads) { worker in
                for i in stride(from: worker, to: slots.count, by: threads) {
                    let slot = slots[i]
                    var perLevel = candidates(for: slot, sorted: false)
                    for l in perLevel.indices {
                        for j in 0..<i where Int(levels[slots[j]]) >= l {
                            perLevel[l].append((buildDistance(slot, slots[j]), UInt32(slots[j])))
                        }
                    }
                    out[i] = perLevel.map { selectNeighbors(unsorted: $0, max: maxM) }
                }
            }
        }
        // Back links. A node's list only ever changes by its own links, taken in batch order,
        // so the level-0 lists (their own memory each) are updated in parallel, one worker per
        // target node; the few upper-level ones (in a shared array) serially.
        var incoming: [Int: [Int]] = [:]
        for (i, slot) in slots.enumerated() {
            for (l, list) in chosen[i].enumerated() { setNeighbors(slot, level: l, list) }
        }
        for (i, slot) in slots.enumerated() {
            for (l, list) in chosen[i].enumerated().reversed() {
                for n in list {
                    if l == 0 { incoming[Int(n), default: []].append(slot) } else { link(Int(n), to: slot, level: l) }
                }
            }
        }
        let targets = incoming.keys.sorted(), sources = incoming
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            for t in stride(from: worker, to: targets.count, by: threads) {
                for s in sources[targets[t]]! { link(targets[t], to: s, level: 0) }
            }
        }
        for slot in later { connect(slot) }
    }

    /// Adds `slot` to `node`'s list at `level`, shrinking by the heuristic when full.
    private func link(_ node: Int, to slot: Int, level: Int) {
        let limit = level == 0 ? maxM0 : maxM
        var list = neighbors(node, level: level)
        if list.count < limit {
            list.append(UInt32(slot))
            setNeighbors(node, level: level, list)
            return
        }
        var candidates = list.map { (distance: buildDistance(node, Int($0)), slot: $0) }
        candidates.append((buildDistance(node, slot), UInt32(slot)))
        candidates.sort { $0.distance < $1.distance }
        setNeighbors(node, level: level, selectNeighbors(candidates, max: limit).map { $0.slot })
    }

    /// hnswlib's heuristic: keep a candidate only if it is closer to the base than to every
    /// neighbour kept so far, which spreads links across directions. Input sorted ascending.
    private func selectNeighbors(_ sorted: [(distance: Float, slot: UInt32)], max m: Int) -> [(distance: Float, slot: UInt32)] {
        if sorted.count <= m { return sorted }
        var kept: [(distance: Float, slot: UInt32)] = []
        kept.reserveCapacity(m)
        for c in sorted {
            if kept.count >= m { break }
            var good = true
            for k in kept where buildDistance(Int(c.slot), Int(k.slot)) < c.distance {
                good = false
                break
            }
            if good { kept.append(c) }
        }
        return kept
    }

    /// `selectNeighbors` over the candidates in any order: taken nearest first (ties by slot)
    /// from a heap, so only those the heuristic looks at get ordered.
    private func selectNeighbors(unsorted items: [(distance: Float, slot: UInt32)], max m: Int) -> [UInt32] {
        if items.count <= m || items.contains(where: { $0.distance.isNaN }) {
            return selectNeighbors(sortedByDistance(items), max: m).map(\.slot)
        }
        var order = NearestFirstKeys(items)
        var kept: [(distance: Float, slot: UInt32)] = []
        kept.reserveCapacity(m)
        while kept.count < m, !order.isEmpty {
            let c = order.popNearest()
            if !kept.contains(where: { buildDistance(Int(c.slot), Int($0.slot)) < c.distance }) { kept.append(c) }
        }
        return kept.map(\.slot)
    }

    /// Takes `label` out; a node left without labels is tombstoned and keeps routing searches
    /// until compaction.
    @discardableResult
    public func markDeleted(label: UInt32) -> Bool {
        guard let s = slot(of: label) else { return false }
        slotOfLabel[Int(label)] = -1
        liveCount -= 1
        if detach(label, from: s) {
            labelsAreSlots = false
            return true
        }
        deleted[s] = true
        deletedCount += 1
        unhash(s)
        return true
    }

    /// A fresh index over the live nodes, in slot order, with the same parameters and seed.
    public func compacted() -> HNSWIndex {
        let fresh = HNSWIndex(dimension: dimension, metric: metric, parameters: parameters, buildWithCodes: buildsWithCodes)
        fresh.reserve(liveNodes)
        for s in 0..<count where !deleted[s] {
            let v = Array(UnsafeBufferPointer(start: vector(s), count: dimension))
            forEachLabel(of: s) { fresh.insert(v, label: $0) }
        }
        return fresh
    }

    // MARK: - Search

    private func greedyClosest<Q: QueryDistance>(_ q: Q, from start: Int, distance: Float, level: Int) -> (Int, Float) {
        var cur = start, curDist = distance
        var changed = true
        while changed {
            changed = false
            for n in neighbors(cur, level: level) {
                let d = q.distance(to: Int(n))
                if d < curDist {
                    curDist = d
                    cur = Int(n)
                    changed = true
                }
            }
        }
        return (cur, curDist)
    }

    private func borrowVisited() -> VisitedList {
        let v = visitedPool.withLock { $0.popLast() } ?? VisitedList(capacity: count)
        v.reset(capacity: count)
        return v
    }

    private func giveBack(_ v: VisitedList) { visitedPool.withLock { $0.append(v) } }

    /// Best-first search of one layer. With `accept`, only accepted nodes enter the results
    /// but all nodes route, and the search runs until it holds `ef` accepted results (hnswlib's
    /// filtered search); the planner keeps this for selectivities where that ends quickly.
    func searchLayer<Q: QueryDistance>(
        _ q: Q, entry: Int, ef: Int, level: Int,
        accept: ((Int) -> Bool)?, guard limits: FilterGuard? = nil, stats: inout HNSWSearchStats
    ) -> MaxHeap {
        let visited = borrowVisited()
        defer { giveBack(visited) }
        let gen = visited.generation
        var candidates = MinHeap(capacity: ef * 4)
        var results = MaxHeap(capacity: ef + 1)
        let d0 = q.distance(to: entry)
        stats.distanceComputations += 1
        candidates.push(d0, UInt32(entry))
        var bound = Float.infinity
        if accept?(entry) ?? true {
            results.push(d0, UInt32(entry))
            bound = d0
            stats.allowedInProbe += 1
        }
        let fresh = UnsafeMutablePointer<UInt32>.allocate(capacity: maxM0 + 1)
        let dists = UnsafeMutablePointer<Float>.allocate(capacity: maxM0 + 1)
        defer { fresh.deallocate(); dists.deallocate() }
        visited.marks.withUnsafeMutableBufferPointer { marks in
            marks[entry] = gen
            while !candidates.isEmpty {
                let (d, c) = candidates.top
                if d > bound && results.count >= ef { break }
                candidates.pop()
                stats.expanded += 1
                let list: [UInt32] = level == 0 ? [] : neighbors(Int(c), level: level)
                let p0 = level0(Int(c))
                let n = level == 0 ? Int(p0[0]) : list.count
                // Unvisited neighbours first (without a branch: whether a neighbour was visited
                // is a coin toss, and mispredicting it cost more than the store), then all their
                // distances in one call, which prefetches ahead.
                var freshCount = 0
                for j in 0..<n {
                    let nb = Int(level == 0 ? p0[1 + j] : list[j])
                    fresh[freshCount] = UInt32(nb)
                    freshCount &+= marks[nb] == gen ? 0 : 1
                    marks[nb] = gen
                }
                q.distances(fresh, freshCount, into: dists)
                for j in 0..<freshCount {
                    let nb = Int(fresh[j])
                    let dn = dists[j]
                    stats.distanceComputations += 1
                    let allowed = accept?(nb) ?? true
                    if let limits {
                        if allowed && stats.distanceComputations <= limits.probeWindow { stats.allowedInProbe += 1 }
                        if stats.distanceComputations == limits.probeWindow,
                           Double(stats.allowedInProbe) < limits.minProbeShare * Double(limits.probeWindow) {
                            stats.outcome = .sparseNeighbourhood
                            return
                        }
                        if stats.distanceComputations >= limits.maxDistanceComputations {
                            stats.outcome = .overBudget
                            return
                        }
                    }
                    if results.count < ef || dn < bound {
                        candidates.push(dn, UInt32(nb))
                        // Most of these get expanded later: fetch the link list now, since
                        // reading it was the search's largest stall (perf on a bulk import).
                        if level == 0 { fdb_prefetch_range(level0(nb), (maxM0 &+ 1) &* 4) }
                        if allowed {
                            results.push(dn, UInt32(nb))
                            if results.count > ef { results.pop() }
                            bound = results.top.distance
                        }
                    }
                }
            }
        }
        return results
    }

    /// Approximate k nearest live nodes; with `filter`, only labels in it.
    /// With `guard`, a filtered search may stop early (see `HNSWSearchStats.outcome`); its
    /// hits are then incomplete and the caller should scan.
    public func search(_ query: [Float], k: Int, ef: Int? = nil, filter: Bitset? = nil,
                       guard limits: FilterGuard? = nil) -> (hits: [HNSWHit], stats: HNSWSearchStats) {
        precondition(query.count == dimension, "query has \(query.count) dimensions, index has \(dimension)")
        var stats = HNSWSearchStats()
        guard entryPoint >= 0, k > 0 else { return ([], stats) }
        let q = metric.prepare(query)
        let hits: [HNSWHit] = q.withUnsafeBufferPointer { qb in
            let qp = FloatQuery(self, qb.baseAddress!)
            var cur = Int(entryPoint)
            var curDist = qp.distance(to: cur)
            for l in stride(from: maxLevel, to: 0, by: -1) {
                (cur, curDist) = greedyClosest(qp, from: cur, distance: curDist, level: l)
            }
            let accept: ((Int) -> Bool)?
            if let filter {
                // The filter speaks labels; the search visits slots. Looking up labels[s] per
                // visited node costs a cache miss, so translate the filter to slots once.
                let allowed = slotFilter(filter)
                accept = { s in allowed.contains(s) }
            } else if deletedCount > 0 {
                accept = { [deleted] s in !deleted[s] }
            } else {
                accept = nil
            }
            let found = searchLayer(qp, entry: cur, ef: max(ef ?? parameters.efSearch, k), level: 0, accept: accept, guard: filter == nil ? nil : limits, stats: &stats)
            guard !aliases.isEmpty else {
                return found.sortedAscending().prefix(k).map { HNSWHit(label: labels[Int($0.slot)], distance: $0.distance) }
            }
            // A node stands for all its labels (those the filter allows): k counts records.
            var out: [HNSWHit] = []
            out.reserveCapacity(k)
            for (d, s) in found.sortedAscending() where out.count < k {
                forEachLabel(of: Int(s)) { l in
                    if out.count < k, filter?.contains(Int(l)) ?? true { out.append(HNSWHit(label: l, distance: d)) }
                }
            }
            return out
        }
        return (hits, stats)
    }

    /// The live slots whose labels are in `filter`.
    func slotFilter(_ filter: Bitset) -> Bitset {
        if labelsAreSlots && deletedCount == 0 { return filter }
        var slots = Bitset(capacity: count)
        slotOfLabel.withUnsafeBufferPointer { map in
            filter.forEach { label in
                if label < map.count, map[label] >= 0 { slots.insert(Int(map[label])) }
            }
        }
        return slots
    }

    /// Exact k nearest live nodes by scanning (all of them, or the labels in `filter`).
    public func exactSearch(_ query: [Float], k: Int, filter: Bitset? = nil) -> (hits: [HNSWHit], stats: HNSWSearchStats) {
        precondition(query.count == dimension, "query has \(query.count) dimensions, index has \(dimension)")
        var stats = HNSWSearchStats()
        guard k > 0 else { return ([], stats) }
        let q = metric.prepare(query)
        // The heap holds labels, not slots: a node shared by several records counts for each.
        var top = MaxHeap(capacity: k + 1)
        var worst = Float.infinity
        var computed = 0
        q.withUnsafeBufferPointer { qb in
            let qp = qb.baseAddress!
            @inline(__always) func keep(_ d: Float, _ label: UInt32) {
                if top.count < k {
                    top.push(d, label)
                    if top.count == k { worst = top.top.distance }
                } else if d < worst {
                    top.pop()
                    top.push(d, label)
                    worst = top.top.distance
                }
            }
            @inline(__always) func consider(_ s: Int, label: UInt32?) {
                let d = metric.distance(qp, vector(s), dimension)
                computed &+= 1
                if let label { keep(d, label) } else { forEachLabel(of: s) { keep(d, $0) } }
            }
            let bytes = dimension * 4
            if let filter {
                // Allowed records sit at irregular strides: prefetch one ahead.
                slotOfLabel.withUnsafeBufferPointer { slots in
                    var pending = -1, pendingLabel: UInt32 = 0
                    filter.forEach { label in
                        guard label < slots.count, slots[label] >= 0 else { return }
                        let s = Int(slots[label])
                        fdb_prefetch_range(vector(s), bytes)
                        if pending >= 0 { consider(pending, label: pendingLabel) }
                        pending = s
                        pendingLabel = UInt32(label)
                    }
                    if pending >= 0 { consider(pending, label: pendingLabel) }
                }
            } else {
                deleted.withUnsafeBufferPointer { dead in
                    for s in 0..<count where !dead[s] { consider(s, label: nil) }
                }
            }
        }
        stats.distanceComputations = computed
        let hits = top.sortedAscending().map { HNSWHit(label: $0.slot, distance: $0.distance) }
        return (hits, stats)
    }
}

/// Per slot: what turns an int8 code product back into a distance.
struct CodeInfo {
    var scale: Float
    var sum: Int32
    var squaredNorm: Float
    var unused: Float = 0   // 16 bytes, so the codes after it start 16-byte aligned
}

/// The distance from one fixed vector to any slot; the search loop is generic over it so
/// that queries (float) and construction (codes) share it without a call per distance.
protocol QueryDistance {
    func distance(to slot: Int) -> Float
    func prefetch(_ slot: Int)
    /// out[j] = distance(to: slots[j]) for j < n.
    func distances(_ slots: UnsafePointer<UInt32>, _ n: Int, into out: UnsafeMutablePointer<Float>)
}

extension QueryDistance {
    /// Each vector prefetched two steps ahead, so that two are in flight while one is computed.
    @inline(__always) func distances(_ slots: UnsafePointer<UInt32>, _ n: Int, into out: UnsafeMutablePointer<Float>) {
        for j in 0..<min(n, 2) { prefetch(Int(slots[j])) }
        for j in 0..<n {
            if j + 2 < n { prefetch(Int(slots[j + 2])) }
            out[j] = distance(to: Int(slots[j]))
        }
    }
}

struct FloatQuery: QueryDistance {
    let q: UnsafePointer<Float>, vectors: UnsafeMutablePointer<Float>, dimension: Int, metric: Metric
    init(_ index: HNSWIndex, _ q: UnsafePointer<Float>) {
        self.q = q; vectors = index.vectors; dimension = index.dimension; metric = index.metric
    }
    @inline(__always) func distance(to slot: Int) -> Float { metric.distance(q, vectors + slot &* dimension, dimension) }
    @inline(__always) func prefetch(_ slot: Int) { fdb_prefetch_range(vectors + slot &* dimension, dimension &* 4) }
}

struct CodeQuery: QueryDistance {
    let codes: UnsafeMutableRawPointer, infos: UnsafeMutablePointer<CodeInfo>, stride: Int, metric: Metric
    let q: UnsafePointer<Int8>, mine: CodeInfo
    init(_ index: HNSWIndex, slot: Int) {
        codes = index.codes; infos = index.codeInfos; stride = index.codeStride; metric = index.metric
        q = UnsafePointer((codes + slot &* stride).assumingMemoryBound(to: Int8.self))
        mine = infos[slot]
    }
    @inline(__always) private func distance(dot raw: Int32, _ other: CodeInfo) -> Float {
        let dot = Float(raw) * mine.scale * other.scale
        switch metric {
        case .cosine: return 1 - dot
        case .dot: return -dot
        case .l2: return max(0, mine.squaredNorm + other.squaredNorm - 2 * dot)
        }
    }
    @inline(__always) func distance(to slot: Int) -> Float {
        let other = infos[slot]
        let code = (codes + slot &* stride).assumingMemoryBound(to: Int8.self)
        return distance(dot: fdb_i8_dot(q, code, stride, other.sum), other)
    }
    @inline(__always) func prefetch(_ slot: Int) {
        fdb_prefetch_range(codes + slot &* stride, stride)
        fdb_prefetch(infos + slot)
    }
    /// One kernel call for the lot: the query's codes stay in registers across the rows.
    @inline(__always) func distances(_ slots: UnsafePointer<UInt32>, _ n: Int, into out: UnsafeMutablePointer<Float>) {
        let raw = UnsafeMutableRawPointer(out)
        fdb_i8_dots(q, codes, stride, infos, MemoryLayout<CodeInfo>.stride, slots, n, raw.assumingMemoryBound(to: Int32.self))
        for j in 0..<n {
            let d = distance(dot: raw.load(fromByteOffset: j &* 4, as: Int32.self), infos[Int(slots[j])])
            raw.storeBytes(of: d, toByteOffset: j &* 4, as: Float.self)
        }
    }
}
