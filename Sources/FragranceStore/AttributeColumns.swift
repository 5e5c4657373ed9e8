import HNSW

// The attribute mirror's columns: a posting list per distinct value (strings and sets) and a
// dense array per number, which filters, ordering and facets read.

/// A sorted list of record ids.
struct Posting {
    var ids: [UInt32] = []

    private func lowerBound(_ x: UInt32) -> Int {
        var lo = 0, hi = ids.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if ids[mid] < x { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    mutating func insert(_ x: UInt32) {
        if let last = ids.last, last < x { ids.append(x); return }
        let i = lowerBound(x)
        if i == ids.count || ids[i] != x { ids.insert(x, at: i) }
    }

    mutating func remove(_ x: UInt32) {
        let i = lowerBound(x)
        if i < ids.count && ids[i] == x { ids.remove(at: i) }
    }

    func add(to b: inout Bitset) { for x in ids { b.insert(Int(x)) } }
}

/// Dictionary-encoded values with a posting list per distinct (case-folded) value.
class ValueDictionary {
    var codeOf: [String: Int32] = [:]
    var keys: [String] = []
    var postings: [Posting] = []

    func code(_ s: String) -> Int32 {
        let k = foldKey(s)
        if let c = codeOf[k] { return c }
        let c = Int32(keys.count)
        codeOf[k] = c
        keys.append(k)
        postings.append(Posting())
        return c
    }

    func union(_ values: [String], capacity: Int) -> Bitset {
        var b = Bitset(capacity: capacity)
        for v in values { if let c = codeOf[foldKey(v)] { postings[Int(c)].add(to: &b) } }
        return b
    }
}

final class SetColumn: ValueDictionary {
    var members: [[Int32]] = []

    func grow(to n: Int) { if members.count < n { members += Array(repeating: [], count: n - members.count) } }

    func set(_ rid: UInt32, _ list: [String]) {
        clear(rid)
        var codes: [Int32] = []
        for s in list {
            let c = code(s)
            if !codes.contains(c) {
                codes.append(c)
                postings[Int(c)].insert(rid)
            }
        }
        members[Int(rid)] = codes
    }

    func clear(_ rid: UInt32) {
        guard Int(rid) < members.count else { return }
        for c in members[Int(rid)] { postings[Int(c)].remove(rid) }
        members[Int(rid)] = []
    }
}

final class ScalarColumn: ValueDictionary {
    let kind: FieldSchema.Kind
    var numbers: [Double] = []      // int/float; NaN = missing
    var codes: [Int32] = []         // string; -1 = missing

    init(kind: FieldSchema.Kind) { self.kind = kind }

    func grow(to n: Int) {
        if kind == .string {
            if codes.count < n { codes += Array(repeating: -1, count: n - codes.count) }
        } else if numbers.count < n {
            numbers += Array(repeating: .nan, count: n - numbers.count)
        }
    }

    func setString(_ rid: UInt32, _ s: String) {
        clear(rid)
        let c = code(s)
        codes[Int(rid)] = c
        postings[Int(c)].insert(rid)
    }

    func setNumber(_ rid: UInt32, _ d: Double) { numbers[Int(rid)] = d }

    func clear(_ rid: UInt32) {
        let r = Int(rid)
        if kind == .string {
            guard r < codes.count, codes[r] >= 0 else { return }
            postings[Int(codes[r])].remove(rid)
            codes[r] = -1
        } else if r < numbers.count {
            numbers[r] = .nan
        }
    }

    /// Records whose value satisfies `op`; a missing value satisfies nothing.
    func matching(_ op: FilterPredicate.Op, _ values: [Literal], capacity: Int) -> Bitset {
        var b = Bitset(capacity: capacity)
        if kind == .string {
            let targets = values.map { foldKey($0.stringValue) }
            switch op {
            case .eq, .in:
                for t in targets { if let c = codeOf[t] { postings[Int(c)].add(to: &b) } }
            default:
                // != and ranges: decide per distinct value, then take its postings.
                for (c, k) in keys.enumerated() where compare(k, op, targets) { postings[c].add(to: &b) }
            }
            return b
        }
        let t = values.map(\.numberValue)
        // Build the bitset a word at a time: this scan runs on every query that filters on a number.
        var words = [UInt64](repeating: 0, count: (capacity + 63) >> 6)
        let lo: Double, hi: Double
        switch op {
        case .eq: (lo, hi) = (t[0], t[0])
        case .lt: (lo, hi) = (-.infinity, t[0].nextDown)
        case .le: (lo, hi) = (-.infinity, t[0])
        case .gt: (lo, hi) = (t[0].nextUp, .infinity)
        case .ge: (lo, hi) = (t[0], .infinity)
        case .between: (lo, hi) = (t[0], t[1])
        default: (lo, hi) = (.nan, .nan)
        }
        @inline(__always) func bit(_ b: Bool) -> UInt64 { b ? 1 : 0 }
        numbers.withUnsafeBufferPointer { col in
            let n = min(col.count, capacity)
            // Branch-free inner loops: random data makes a per-record branch mispredict half the time.
            for w in 0..<((n + 63) >> 6) {
                var bits: UInt64 = 0
                let base = w << 6
                let end = min(64, n - base)
                if !lo.isNaN {
                    for j in 0..<end {
                        let x = col[base + j]   // NaN (missing) fails both comparisons
                        bits |= (bit(x >= lo) & bit(x <= hi)) << UInt64(j)
                    }
                } else if op == .ne {
                    for j in 0..<end {
                        let x = col[base + j]
                        bits |= (bit(x == x) & bit(x != t[0])) << UInt64(j)
                    }
                } else {
                    for j in 0..<end where t.contains(col[base + j]) { bits |= 1 << UInt64(j) }   // IN
                }
                words[w] = bits
            }
        }
        return Bitset(capacity: capacity, words: words)
    }

    @inline(__always)
    private func compare<T: Comparable>(_ x: T, _ op: FilterPredicate.Op, _ t: [T]) -> Bool {
        switch op {
        case .eq: return x == t[0]
        case .ne: return x != t[0]
        case .lt: return x < t[0]
        case .le: return x <= t[0]
        case .gt: return x > t[0]
        case .ge: return x >= t[0]
        case .in: return t.contains(x)
        case .between: return x >= t[0] && x <= t[1]
        case .contains, .containsAny, .containsAll: return false
        }
    }
}
