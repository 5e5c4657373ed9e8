import HNSW

/// The in-memory mirror of a collection's attributes, built from SQLite at open and updated
/// after each commit. It turns a filter into a bitset of record ids in microseconds (SQLite
/// would step through every matching row), which is what lets the planner decide per query.
/// SQLite stays the source of truth.
final class AttributeIndex {
    private(set) var schema: CollectionSchema
    private(set) var capacity = 0
    private(set) var live = Bitset(capacity: 0)
    private var scalars: [String: ScalarColumn] = [:]
    /// `field` for sets and any-tier; `field.tier` per tier.
    private var sets: [String: SetColumn] = [:]

    init(schema: CollectionSchema) {
        self.schema = CollectionSchema(fields: [])
        for f in schema.fields { add(f) }
    }

    /// A new field's empty columns (a grown schema: no record holds it yet).
    func add(_ f: FieldSchema) {
        schema.fields.append(f)
        func column(_ c: SetColumn) -> SetColumn { c.grow(to: capacity); return c }
        switch f.type {
        case .string, .int, .float, .bool:
            let c = ScalarColumn(kind: f.type)
            c.grow(to: capacity)
            scalars[f.name] = c
        case .set: sets[f.name] = column(SetColumn())
        case .tieredSet:
            sets[f.name] = column(SetColumn())
            for t in f.tiers ?? [] { sets["\(f.name).\(t)"] = column(SetColumn()) }
        case .text: break
        }
    }

    var liveCount: Int { live.count }

    private func grow(to rid: Int) {
        guard rid >= capacity else { return }
        let newCap = max(rid + 1, capacity * 2, 1024)
        live = live.resized(to: newCap)
        for c in scalars.values { c.grow(to: newCap) }
        for c in sets.values { c.grow(to: newCap) }
        capacity = newCap
    }

    func set(_ rid: UInt32, _ record: Record) {
        remove(rid)
        grow(to: Int(rid))
        live.insert(Int(rid))
        for (name, value) in record.attributes {
            switch value {
            case .string(let s): scalars[name]?.setString(rid, s)
            case .int(let i): scalars[name]?.setNumber(rid, Double(i))
            case .float(let d): scalars[name]?.setNumber(rid, d)
            case .bool(let b): scalars[name]?.setNumber(rid, b ? 1 : 0)
            case .strings(let list): sets[name]?.set(rid, list)
            case .tiered(let tiers):
                sets[name]?.set(rid, tiers.values.flatMap { $0 })
                for (t, list) in tiers { sets["\(name).\(t)"]?.set(rid, list) }
            }
        }
    }

    func remove(_ rid: UInt32) {
        guard live.contains(Int(rid)) else { return }
        live.remove(Int(rid))
        for c in scalars.values { c.clear(rid) }
        for c in sets.values { c.clear(rid) }
    }

    // MARK: - Filter evaluation

    struct Evaluation {
        var allowed: Bitset
        /// The count an optimiser assuming independent predicates would expect.
        var estimated: Double
    }

    /// Distinct (case-folded) values of a string or set field held by live records, with
    /// how many records hold each.
    func values(of field: String) -> [(String, Int)] {
        let dict: ValueDictionary? = scalars[field] ?? sets[field]
        guard let dict else { return [] }
        return zip(dict.keys, dict.postings).compactMap { k, p in p.ids.isEmpty ? nil : (k, p.ids.count) }
    }

    func evaluate(_ expr: FilterExpression) throws -> Evaluation {
        let n = Double(max(liveCount, 1))
        switch expr {
        case .predicate(let p):
            var b = try leaf(canonical(p))
            b.formIntersection(live)
            return Evaluation(allowed: b, estimated: Double(b.count))
        case .and(let parts):
            var out = Evaluation(allowed: live, estimated: n)
            for part in parts {
                let e = try evaluate(part)
                out.allowed.formIntersection(e.allowed)
                out.estimated *= e.estimated / n
            }
            return out
        case .or(let parts):
            var out = Evaluation(allowed: Bitset(capacity: capacity), estimated: 0)
            var none = 1.0
            for part in parts {
                let e = try evaluate(part)
                out.allowed.formUnion(e.allowed)
                none *= 1 - e.estimated / n
            }
            out.estimated = n * (1 - none)
            return out
        case .not(let inner):
            let e = try evaluate(inner)
            var b = live
            b.subtract(e.allowed)
            return Evaluation(allowed: b, estimated: max(0, n - e.estimated))
        }
    }

    /// Type-checks a filter against the schema without evaluating it.
    func check(_ expr: FilterExpression) throws {
        switch expr {
        case .predicate(let p): _ = try bind(canonical(p))
        case .and(let parts), .or(let parts): try parts.forEach(check)
        case .not(let inner): try check(inner)
        }
    }

    /// The predicate with each string that is a synonym of the field's replaced by its value.
    private func canonical(_ p: FilterPredicate) -> FilterPredicate {
        guard let f = schema.field(p.field), f.synonyms != nil else { return p }
        var q = p
        q.values = p.values.map { if case .string(let s) = $0 { .string(f.canonical(s)) } else { $0 } }
        return q
    }

    private enum Bound { case scalar(ScalarColumn, FieldSchema), set(SetColumn, FieldSchema) }

    private func bind(_ p: FilterPredicate) throws -> Bound {
        func bad(_ msg: String) -> StoreError { StoreError(.badFilter, msg + " (at position \(p.position))", position: p.position) }
        guard let f = schema.field(p.field) else {
            let filterable = schema.fields.filter { $0.type != .text }.map(\.name)
            throw bad("unknown field '\(p.field)'\(didYouMean(p.field, among: filterable)); filterable fields: \(filterable.joined(separator: ", "))")
        }
        if let tier = p.tier {
            guard f.type == .tieredSet else { throw bad("'\(f.name)' has no tiers, so '\(f.name).\(tier)' means nothing") }
            guard let c = sets["\(f.name).\(tier)"] else {
                throw bad("'\(f.name)' has no tier '\(tier)' (tiers: \((f.tiers ?? []).joined(separator: ", ")))")
            }
            try checkValues(p, f, bad)
            guard [.contains, .containsAny, .containsAll].contains(p.op) else {
                throw bad("'\(f.name).\(tier)' is a set: use CONTAINS, CONTAINS ANY or CONTAINS ALL, not \(p.op.rawValue)")
            }
            return .set(c, f)
        }
        switch f.type {
        case .text:
            throw bad("'\(f.name)' is a text field and cannot be filtered on")
        case .set, .tieredSet:
            guard [.contains, .containsAny, .containsAll].contains(p.op) else {
                throw bad("'\(f.name)' is a set: use CONTAINS, CONTAINS ANY or CONTAINS ALL, not \(p.op.rawValue)")
            }
            try checkValues(p, f, bad)
            return .set(sets[f.name]!, f)
        case .string, .int, .float, .bool:
            guard ![.contains, .containsAny, .containsAll].contains(p.op) else {
                throw bad("'\(f.name)' is a single \(f.type.rawValue), not a set: use = or IN instead of \(p.op.rawValue)")
            }
            try checkValues(p, f, bad)
            return .scalar(scalars[f.name]!, f)
        }
    }

    private func checkValues(_ p: FilterPredicate, _ f: FieldSchema, _ bad: (String) -> StoreError) throws {
        let numeric = f.type == .int || f.type == .float || f.type == .bool
        for v in p.values {
            if f.type == .bool {
                guard case .number(let d) = v, d == 0 || d == 1 else { throw bad("'\(f.name)' is true or false: compare it with true or false, not \(v.text)") }
                guard [.eq, .ne, .in].contains(p.op) else { throw bad("'\(f.name)' is true or false: use = or !=, not \(p.op.rawValue)") }
                continue
            }
            switch (v, numeric) {
            case (.string(let s), true): throw bad("'\(f.name)' is a number, but '\(s)' is a string")
            case (.number, false): throw bad("'\(f.name)' holds strings: quote the value \(v.text)")
            case (.string(let s), false):
                if let allowed = f.values, [.eq, .ne, .in, .contains, .containsAny, .containsAll].contains(p.op),
                   !allowed.contains(where: { foldKey($0) == foldKey(s) }) {
                    throw bad("'\(s)' is not a valid \(f.name) (expected one of: \(allowed.joined(separator: ", ")))")
                }
            default: break
            }
        }
    }

    private func leaf(_ p: FilterPredicate) throws -> Bitset {
        switch try bind(p) {
        case .set(let c, _):
            let keys = p.values.map(\.stringValue)
            switch p.op {
            case .contains, .containsAny: return c.union(keys, capacity: capacity)
            default:
                var b = live
                for k in keys { b.formIntersection(c.union([k], capacity: capacity)) }
                return b
            }
        case .scalar(let c, _):
            return c.matching(p.op, p.values, capacity: capacity)
        }
    }
}

extension Literal {
    var stringValue: String {
        switch self {
        case .string(let s): return s
        case .number(let d): return String(d)
        }
    }

    var numberValue: Double {
        switch self {
        case .number(let d): return d
        case .string(let s): return Double(s) ?? .nan
        }
    }
}

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

// MARK: - Ordering and value counts (browse, facets)

extension AttributeIndex {
    enum SortValue { case number(Double), text(String) }

    /// How a record sorts by a scalar field: nil for a record without a value. nil itself when
    /// the field is not a scalar (sets and texts have no single value to order by).
    func sortValues(of field: String) -> ((UInt32) -> SortValue?)? {
        guard let c = scalars[field] else { return nil }
        if c.kind == .string {
            return { rid in
                let r = Int(rid)
                guard r < c.codes.count, c.codes[r] >= 0 else { return nil }
                return .text(c.keys[Int(c.codes[r])])
            }
        }
        return { rid in
            let r = Int(rid)
            guard r < c.numbers.count, !c.numbers[r].isNaN else { return nil }
            return .number(c.numbers[r])
        }
    }

    /// Distinct (case-folded) values of a string or set field among `allowed`, with how many of
    /// those records hold each, and how many hold none. nil for other kinds of field.
    func valueCounts(of field: String, within allowed: Bitset) -> (counts: [(String, Int)], missing: Int)? {
        let dict: ValueDictionary? = scalars[field].flatMap { $0.kind == .string ? $0 : nil } ?? sets[field]
        guard let dict else { return nil }
        var counts = [Int](repeating: 0, count: dict.keys.count)
        var missing = 0
        let members = allowed.count
        // A narrow selection (a page of hits) reads each record's codes; a wide one walks the
        // postings, which touch only records that hold a value.
        if members * 8 < liveCount {
            for rid in allowed.members {
                if let s = dict as? SetColumn {
                    let codes = rid < s.members.count ? s.members[rid] : []
                    if codes.isEmpty { missing += 1 }
                    for c in codes { counts[Int(c)] += 1 }
                } else if let s = dict as? ScalarColumn {
                    let c = rid < s.codes.count ? s.codes[rid] : -1
                    if c < 0 { missing += 1 } else { counts[Int(c)] += 1 }
                }
            }
        } else {
            var holding = Bitset(capacity: allowed.capacity)
            for (c, p) in dict.postings.enumerated() {
                var n = 0
                for rid in p.ids where allowed.contains(Int(rid)) {
                    n += 1
                    holding.insert(Int(rid))
                }
                counts[c] = n
            }
            holding.formIntersection(allowed)
            missing = members - holding.count
        }
        return (zip(dict.keys, counts).filter { $0.1 > 0 }, missing)
    }

    /// The numbers an int or float field holds among `allowed` (missing values left out); nil
    /// for other kinds of field.
    func numbers(of field: String, within allowed: Bitset) -> [Double]? {
        guard let c = scalars[field], c.kind != .string else { return nil }
        var out: [Double] = []
        for rid in allowed.members where rid < c.numbers.count && !c.numbers[rid].isNaN { out.append(c.numbers[rid]) }
        return out
    }
}
