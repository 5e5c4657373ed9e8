/// Which end of a heap comes out first. A type parameter rather than a stored flag, so the
/// comparison in the search loop's hottest code is a single instruction.
protocol HeapOrder { static func before(_ a: Float, _ b: Float) -> Bool }
enum NearestFirst: HeapOrder { @inline(__always) static func before(_ a: Float, _ b: Float) -> Bool { a < b } }
enum FarthestFirst: HeapOrder { @inline(__always) static func before(_ a: Float, _ b: Float) -> Bool { a > b } }

typealias MinHeap = DistanceHeap<NearestFirst>
typealias MaxHeap = DistanceHeap<FarthestFirst>

/// A binary heap of (distance, slot) pairs.
struct DistanceHeap<Order: HeapOrder> {
    private(set) var items: [(distance: Float, slot: UInt32)] = []

    init(capacity: Int = 0) { items.reserveCapacity(capacity) }

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    var top: (distance: Float, slot: UInt32) { items[0] }

    @inline(__always)
    mutating func push(_ distance: Float, _ slot: UInt32) {
        items.append((distance, slot))
        items.withUnsafeMutableBufferPointer { h in
            var i = h.count - 1
            let x = h[i]
            while i > 0 {
                let p = (i - 1) >> 1
                guard Order.before(x.distance, h[p].distance) else { break }
                h[i] = h[p]
                i = p
            }
            h[i] = x
        }
    }

    @discardableResult @inline(__always)
    mutating func pop() -> (distance: Float, slot: UInt32) {
        let first = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items.withUnsafeMutableBufferPointer { h in
                let n = h.count
                var i = 0
                while true {
                    let l = 2 * i + 1
                    if l >= n { break }
                    let r = l + 1
                    let m = r < n && Order.before(h[r].distance, h[l].distance) ? r : l
                    guard Order.before(h[m].distance, last.distance) else { break }
                    h[i] = h[m]
                    i = m
                }
                h[i] = last
            }
        }
        return first
    }

    /// Items nearest first (ties by slot).
    func sortedAscending() -> [(distance: Float, slot: UInt32)] { sortedByDistance(items) }
}

/// Nearest first, ties by slot: the same order as comparing (distance, slot), sorted as plain
/// integers (a closure comparator was most of the sort's cost during construction).
func sortedByDistance(_ items: [(distance: Float, slot: UInt32)]) -> [(distance: Float, slot: UInt32)] {
    guard !items.contains(where: { $0.distance.isNaN }) else { return items.sorted(by: isNearer) }
    var keys = items.map(orderKey)
    keys.sort()
    return keys.map(distanceAndSlot)
}

/// The order every candidate list uses: by distance, ties by slot.
@inline(__always) func isNearer(_ a: (distance: Float, slot: UInt32), _ b: (distance: Float, slot: UInt32)) -> Bool {
    a.distance < b.distance || (a.distance == b.distance && a.slot < b.slot)
}

/// (distance, slot) as one integer with the same order; distance must not be NaN.
@inline(__always) func orderKey(_ x: (distance: Float, slot: UInt32)) -> UInt64 {
    UInt64(orderedBits(x.distance)) << 32 | UInt64(x.slot)
}

@inline(__always) func distanceAndSlot(_ key: UInt64) -> (distance: Float, slot: UInt32) {
    (distanceOf(UInt32(truncatingIfNeeded: key >> 32)), UInt32(truncatingIfNeeded: key))
}

/// Order keys handed out nearest first on demand: neighbour selection usually stops after a
/// few dozen of several hundred candidates, so heapifying beats sorting them all.
struct NearestFirstKeys {
    private var heap: [UInt64]

    init(_ items: [(distance: Float, slot: UInt32)]) {
        heap = items.map(orderKey)
        var i = heap.count / 2
        while i > 0 { i -= 1; siftDown(i) }
    }

    var isEmpty: Bool { heap.isEmpty }

    mutating func popNearest() -> (distance: Float, slot: UInt32) {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty { heap[0] = last; siftDown(0) }
        return distanceAndSlot(top)
    }

    private mutating func siftDown(_ start: Int) {
        heap.withUnsafeMutableBufferPointer { h in
            var i = start
            let x = h[i]
            while true {
                let l = 2 &* i &+ 1
                if l >= h.count { break }
                let r = l &+ 1
                let m = r < h.count && h[r] < h[l] ? r : l
                guard h[m] < x else { break }
                h[i] = h[m]
                i = m
            }
            h[i] = x
        }
    }
}

/// Float bits whose unsigned order is the numbers' order (-0 taken as +0, as `<` sees them).
@inline(__always) private func orderedBits(_ d: Float) -> UInt32 {
    let b = (d + 0).bitPattern
    return b & 0x8000_0000 != 0 ? ~b : b | 0x8000_0000
}

@inline(__always) private func distanceOf(_ k: UInt32) -> Float {
    Float(bitPattern: k & 0x8000_0000 != 0 ? k & 0x7FFF_FFFF : ~k)
}

/// Generation-stamped visited marks: clearing is O(1) except once every 65,535 searches.
final class VisitedList: @unchecked Sendable {  // owned by one search at a time
    var marks: [UInt16]
    var generation: UInt16 = 0

    init(capacity: Int) { marks = [UInt16](repeating: 0, count: capacity) }

    func reset(capacity: Int) {
        if marks.count < capacity { marks += [UInt16](repeating: 0, count: capacity - marks.count) }
        generation &+= 1
        if generation == 0 {
            for i in marks.indices { marks[i] = 0 }
            generation = 1
        }
    }
}
