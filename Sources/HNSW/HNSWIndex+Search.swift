#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CKernels
import Dispatch
import Synchronization

/// Searching the graph (HNSW paper, algorithms 2 and 5) and the exact scan the planner falls back to.
extension HNSWIndex {
    // MARK: - Search

    func greedyClosest<Q: QueryDistance>(_ q: Q, from start: Int, distance: Float, level: Int) -> (Int, Float) {
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

    func borrowVisited() -> VisitedList {
        let v = visitedPool.withLock { $0.popLast() } ?? VisitedList(capacity: count)
        v.reset(capacity: count)
        return v
    }

    func giveBack(_ v: VisitedList) { visitedPool.withLock { $0.append(v) } }

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
        let q = asStored(metric.prepare(query))
        let hits: [HNSWHit] = q.withUnsafeBufferPointer { qb in
            let fq = FloatQuery(self, qb.baseAddress!)
            let ef = max(ef ?? parameters.efSearch, k)
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
            var found: MaxHeap
            if hasCodes && searchesWithCodes {
                // Through the codes (half the bytes of the halves per distance), then the ef
                // found re-ranked by their distances to the half-precision rows.
                let code = UnsafeMutablePointer<Int8>.allocate(capacity: codeStride)
                defer { code.deallocate() }
                var sum: Int32 = 0
                let scale = fdb_i8_encode(qb.baseAddress!, dimension, code, codeStride, &sum)
                let cq = CodeQuery(self, code: code, info: CodeInfo(scale: scale, sum: sum, squaredNorm: fdb_dot(qb.baseAddress!, qb.baseAddress!, dimension)))
                var cur = Int(entryPoint)
                var curDist = cq.distance(to: cur)
                for l in stride(from: maxLevel, to: 0, by: -1) {
                    (cur, curDist) = greedyClosest(cq, from: cur, distance: curDist, level: l)
                }
                // A few more than ef: code distances blur the order at the beam's edge, and
                // re-ranking them keeps recall (with a 10% filter at ef 10 it fell from 0.972
                // to 0.955 without them).
                let coarse = searchLayer(cq, entry: cur, ef: ef + (k + 1) / 2, level: 0, accept: accept, guard: filter == nil ? nil : limits, stats: &stats)
                found = MaxHeap(capacity: coarse.count + 1)
                let slots = coarse.items.map(\.slot)   // in any order: the caller sorts
                slots.withUnsafeBufferPointer { sb in
                    var d = [Float](repeating: 0, count: sb.count)
                    d.withUnsafeMutableBufferPointer { fq.distances(sb.baseAddress!, sb.count, into: $0.baseAddress!) }
                    for (i, s) in sb.enumerated() { found.push(d[i], s) }
                }
            } else {
                var cur = Int(entryPoint)
                var curDist = fq.distance(to: cur)
                for l in stride(from: maxLevel, to: 0, by: -1) {
                    (cur, curDist) = greedyClosest(fq, from: cur, distance: curDist, level: l)
                }
                found = searchLayer(fq, entry: cur, ef: ef, level: 0, accept: accept, guard: filter == nil ? nil : limits, stats: &stats)
            }
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
        let q = asStored(metric.prepare(query))
        // The heap holds labels, not slots: a node shared by several records counts for each.
        var top = MaxHeap(capacity: k + 1)
        var worst = Float.infinity
        var computed = 0
        q.withUnsafeBufferPointer { qb in
            let fq = FloatQuery(self, qb.baseAddress!)
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
                let d = fq.distance(to: s)
                computed &+= 1
                if let label { keep(d, label) } else { forEachLabel(of: s) { keep(d, $0) } }
            }
            let bytes = dimension * 2
            if let filter {
                // Allowed records sit at irregular strides: prefetch one ahead.
                slotOfLabel.withUnsafeBufferPointer { slots in
                    var pending = -1, pendingLabel: UInt32 = 0
                    filter.forEach { label in
                        guard label < slots.count, slots[label] >= 0 else { return }
                        let s = Int(slots[label])
                        fdb_prefetch_range(row(s), bytes)
                        fdb_prefetch(scales + s)
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
