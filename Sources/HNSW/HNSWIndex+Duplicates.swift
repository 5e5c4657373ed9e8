// Identical vectors share one node. Catalogues are full of them (editions, sizes, soliflores
// embedded from one text), and as separate nodes they trap the graph: every distance among
// them is 0, so the neighbour heuristic keeps them all and they link only to each other
// (recall@10 0.02-0.06 at 90% duplicates). Here a record whose prepared vector equals a live
// node's (the same float32 hash and the same half-precision row) becomes an alias of that
// node: the node's first label is `labels[slot]`, the rest sit in `aliases[slot]`. Searches expand a node into its labels, so k counts records.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CKernels

/// A prepared vector (unit length for cosine) and its `vectorHash`.
struct Prepared {
    var vector: [Float]
    var hash: UInt64
}

extension HNSWIndex {
    /// A caller's vector, checked for its dimension, prepared for the metric and hashed.
    func prepared(_ vector: [Float]) -> Prepared {
        precondition(vector.count == dimension, "vector has \(vector.count) dimensions, index has \(dimension)")
        let v = metric.prepare(vector)
        return Prepared(vector: v, hash: v.withUnsafeBufferPointer { vectorHash($0.baseAddress!) })
    }

    /// A 64-bit hash of a prepared vector's bytes (identical vectors, identical hash).
    func vectorHash(_ v: UnsafePointer<Float>) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(dimension)
        UnsafeRawPointer(v).withMemoryRebound(to: UInt32.self, capacity: dimension) { w in
            for i in 0..<dimension {
                h = (h ^ UInt64(w[i])) &* 0xBF58_476D_1CE4_E5B9
                h ^= h >> 29
            }
        }
        return h
    }

    /// The prepared vector (with its `vectorHash`) is the one `slot` was given: the node keeps
    /// only halves, so the float32 bits are checked through their hash, and the halves too
    /// (a forged hash collision can at most join a vector equal to this one at half precision).
    func isStored(_ prepared: Prepared, at slot: Int) -> Bool {
        guard hashes[slot] == prepared.hash else { return false }
        return withUnsafeTemporaryAllocation(of: UInt16.self, capacity: dimension) { buf in
            let scale = prepared.vector.withUnsafeBufferPointer { encode($0.baseAddress!, into: buf.baseAddress!) }
            return scale == scales[slot] && memcmp(buf.baseAddress!, row(slot), dimension * 2) == 0
        }
    }

    /// Records `label` as an alias of the live node holding exactly `prepared`, if there is one.
    func alias(_ label: UInt32, to prepared: Prepared) -> Bool {
        guard sharesIdenticalVectors else { return false }
        guard let found = slotOfHash[prepared.hash], !deleted[Int(found)], isStored(prepared, at: Int(found)) else { return false }
        aliases[found, default: []].append(label)
        setSlot(Int(found), of: label)
        labelsAreSlots = false
        return true
    }

    func setSlot(_ slot: Int, of label: UInt32) {
        if Int(label) >= slotOfLabel.count {
            slotOfLabel += [Int32](repeating: -1, count: Int(label) + 1 - slotOfLabel.count)
        }
        slotOfLabel[Int(label)] = Int32(slot)
        liveCount += 1
    }

    /// Takes `label` off its node; true when the node still carries other labels.
    func detach(_ label: UInt32, from slot: Int) -> Bool {
        let key = Int32(slot)
        guard var extra = aliases[key] else { return false }
        if labels[slot] == label {
            labels[slot] = extra.removeFirst()
        } else if let i = extra.firstIndex(of: label) {
            extra.remove(at: i)
        }
        aliases[key] = extra.isEmpty ? nil : extra
        return true
    }

    /// Forgets a node that no longer carries any label.
    func unhash(_ slot: Int) {
        let h = hashes[slot]
        if slotOfHash[h] == Int32(slot) { slotOfHash[h] = nil }
    }

    /// The labels a node carries, its first label first.
    @inline(__always) func forEachLabel(of slot: Int, _ body: (UInt32) -> Void) {
        body(labels[slot])
        if !aliases.isEmpty, let extra = aliases[Int32(slot)] { extra.forEach(body) }
    }

    /// Live nodes (distinct vectors); `liveCount` counts labels.
    public var liveNodes: Int { count - deletedCount }

    /// Labels that share a node with another label.
    public var aliasCount: Int { aliases.values.reduce(0) { $0 + $1.count } }
}
