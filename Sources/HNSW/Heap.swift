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

    /// Items nearest first.
    func sortedAscending() -> [(distance: Float, slot: UInt32)] {
        items.sorted { $0.distance < $1.distance || ($0.distance == $1.distance && $0.slot < $1.slot) }
    }
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
