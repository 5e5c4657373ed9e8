import HNSW

/// The in-memory mirror of a collection's attributes, built from SQLite at open and updated
/// after each commit. It turns a filter into a bitset of record ids in microseconds (SQLite
/// would step through every matching row), which is what lets the planner decide per query.
/// SQLite stays the source of truth.
final class AttributeIndex {
    private(set) var schema: CollectionSchema
    private(set) var capacity = 0
    private(set) var live = Bitset(capacity: 0)
    private(set) var scalars: [String: ScalarColumn] = [:]
    /// `field` for sets and any-tier; `field.tier` per tier.
    private(set) var sets: [String: SetColumn] = [:]

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

    /// Kept as records come and go: every unfiltered search reads it, and counting the
    /// bitset's bits was 2% of a search at 100k records.
    private(set) var liveCount = 0

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
        liveCount += 1
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
        liveCount -= 1
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
