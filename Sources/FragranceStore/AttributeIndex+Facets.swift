import HNSW

// Ordering and value counts for browse and facets (Collection+Browse.swift), read from the
// mirror's columns without touching SQLite.

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
