/// A binary heap of (distance, slot) pairs; `isMax` picks the order. Small and branch-light
/// because the search loop lives in it.
struct DistanceHeap {
    private(set) var items: [(distance: Float, slot: UInt32)] = []
    let isMax: Bool

    init(isMax: Bool, capacity: Int = 0) {
        self.isMax = isMax
        items.reserveCapacity(capacity)
    }

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    var top: (distance: Float, slot: UInt32) { items[0] }

    @inline(__always)
    private func before(_ a: Float, _ b: Float) -> Bool { isMax ? a > b : a < b }

    mutating func push(_ distance: Float, _ slot: UInt32) {
        items.append((distance, slot))
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) >> 1
            guard before(items[i].distance, items[p].distance) else { break }
            items.swapAt(i, p)
            i = p
        }
    }

    @discardableResult
    mutating func pop() -> (distance: Float, slot: UInt32) {
        let first = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            let n = items.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < n && before(items[l].distance, items[m].distance) { m = l }
                if r < n && before(items[r].distance, items[m].distance) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
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
