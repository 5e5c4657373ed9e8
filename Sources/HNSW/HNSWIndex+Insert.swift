#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CKernels
import Dispatch
import Synchronization

/// Building the graph: one insert, batches over threads (HNSW paper, algorithms 1 and 4), tombstones and compaction.
extension HNSWIndex {
    // MARK: - Insert and delete

    /// Adds a vector under `label`; an existing node with that label is replaced (tombstoned).
    /// A vector equal to a live node's joins that node instead of making another.
    public func insert(_ vector: [Float], label: UInt32) {
        insert(prepared(vector), label: label)
    }

    /// `insert` of a vector already prepared (compaction moves nodes with their hashes).
    func insert(_ prepared: Prepared, label: UInt32) {
        ensureCodes()
        guard let p = placeable(prepared, label: label) else { return }
        connect(place(p, label: label, level: randomLevel()))
    }

    /// The prepared vector to place for `label`, or nil when no node is needed.
    func prepareForInsert(_ vector: [Float], label: UInt32) -> Prepared? {
        placeable(prepared(vector), label: label)
    }

    /// nil when the label already holds this vector, or it became an alias of the node that does.
    func placeable(_ prepared: Prepared, label: UInt32) -> Prepared? {
        if let s = slot(of: label), isStored(prepared, at: s) { return nil }
        markDeleted(label: label)
        return alias(label, to: prepared) ? nil : prepared
    }

    /// Stores the node with no links yet: nothing can reach it until `connect`.
    func place(_ prepared: Prepared, label: UInt32, level: Int) -> Int {
        reserve(count + 1)
        let slot = count
        prepared.vector.withUnsafeBufferPointer { store($0.baseAddress!, at: slot) }
        hashes.append(prepared.hash)
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
        slotOfHash[prepared.hash] = Int32(slot)
        return slot
    }

    /// Links a placed node into the graph, one level at a time from its top.
    func connect(_ slot: Int) {
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
    func candidates(for slot: Int, sorted: Bool = true) -> [[(distance: Float, slot: UInt32)]] {
        guard !hasCodes else { return candidates(for: slot, CodeQuery(self, slot: slot), sorted: sorted) }
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: dimension) { buf in
            decode(slot, into: buf.baseAddress!)
            return candidates(for: slot, FloatQuery(self, buf.baseAddress!), sorted: sorted)
        }
    }

    func candidates<Q: QueryDistance>(for slot: Int, _ q: Q, sorted: Bool) -> [[(distance: Float, slot: UInt32)]] {
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
        ensureCodes()
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
                    withBuildQuery(from: slot) { distance in
                        for l in perLevel.indices {
                            for j in 0..<i where Int(levels[slots[j]]) >= l {
                                perLevel[l].append((distance(slots[j]), UInt32(slots[j])))
                            }
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
    func link(_ node: Int, to slot: Int, level: Int) {
        let limit = level == 0 ? maxM0 : maxM
        var list = neighbors(node, level: level)
        if list.count < limit {
            list.append(UInt32(slot))
            setNeighbors(node, level: level, list)
            return
        }
        var candidates = withBuildQuery(from: node) { distance in
            (list + [UInt32(slot)]).map { (distance: distance(Int($0)), slot: $0) }
        }
        candidates.sort { $0.distance < $1.distance }
        setNeighbors(node, level: level, selectNeighbors(candidates, max: limit).map { $0.slot })
    }

    /// hnswlib's heuristic: keep a candidate only if it is closer to the base than to every
    /// neighbour kept so far, which spreads links across directions. Input sorted ascending.
    func selectNeighbors(_ sorted: [(distance: Float, slot: UInt32)], max m: Int) -> [(distance: Float, slot: UInt32)] {
        if sorted.count <= m { return sorted }
        var kept: [(distance: Float, slot: UInt32)] = []
        kept.reserveCapacity(m)
        for c in sorted {
            if kept.count >= m { break }
            if !isDominated(c, by: kept) { kept.append(c) }
        }
        return kept
    }

    /// The heuristic's test: some kept neighbour is nearer to `c` than the base is.
    func isDominated(_ c: (distance: Float, slot: UInt32), by kept: [(distance: Float, slot: UInt32)]) -> Bool {
        guard !kept.isEmpty else { return false }
        return withBuildQuery(from: Int(c.slot)) { distance in kept.contains { distance(Int($0.slot)) < c.distance } }
    }

    /// `selectNeighbors` over the candidates in any order: taken nearest first (ties by slot)
    /// from a heap, so only those the heuristic looks at get ordered.
    func selectNeighbors(unsorted items: [(distance: Float, slot: UInt32)], max m: Int) -> [UInt32] {
        if items.count <= m || items.contains(where: { $0.distance.isNaN }) {
            return selectNeighbors(sortedByDistance(items), max: m).map(\.slot)
        }
        var order = NearestFirstKeys(items)
        var kept: [(distance: Float, slot: UInt32)] = []
        kept.reserveCapacity(m)
        while kept.count < m, !order.isEmpty {
            let c = order.popNearest()
            if !isDominated(c, by: kept) { kept.append(c) }
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
            let v = Prepared(vector: vector(ofSlot: s), hash: hashes[s])
            forEachLabel(of: s) { fresh.insert(v, label: $0) }
        }
        return fresh
    }
}
