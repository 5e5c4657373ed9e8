import FragranceCore
import Foundation
import HNSW

// Browsing and facets: the records a filter allows, a page at a time in a chosen order, and
// how their values are spread — a category page, without a query. Both are served from the
// attribute mirror (bitsets and columns); only a page's records are read from SQLite.

/// The order of a browse: by a scalar field (string, int, float) or by id; ties by id.
public struct BrowseOrder: Sendable, Equatable, CustomStringConvertible {
    /// nil: by id.
    public var field: String?
    public var descending: Bool

    public static let byId = BrowseOrder(field: nil, descending: false)

    public init(field: String?, descending: Bool) {
        self.field = field == "id" ? nil : field
        self.descending = descending
    }

    /// `rating`, `rating:desc`, `-rating`, `year:asc`, `id`.
    public init(parsing text: String) throws {
        var name = text.trimmingCharacters(in: .whitespaces)
        var descending = false
        if name.hasPrefix("-") { descending = true; name.removeFirst() }
        if let colon = name.lastIndex(of: ":") {
            switch name[name.index(after: colon)...].lowercased() {
            case "asc": descending = false
            case "desc": descending = true
            case let other: throw StoreError(.badValue, "order direction must be asc or desc, got '\(other)' (e.g. rating:desc)")
            }
            name = String(name[..<colon])
        }
        guard !name.isEmpty else { throw StoreError(.badValue, "order needs a field name, e.g. rating:desc or id") }
        self.init(field: name, descending: descending)
    }

    public var description: String { (field ?? "id") + (descending ? ":desc" : ":asc") }
}

/// One page of a browse. `next` continues after the last record (nil on the last page).
public struct BrowsePage: Sendable {
    public var records: [Record]
    /// Records the filter allows, over all pages.
    public var total: Int
    public var next: String?
}

/// Where a page ended: the order it was taken in and the last record's sort key. A cursor is
/// a key, not a position, so records written between pages neither repeat nor get skipped
/// (only those that moved across the cursor do). Opaque to clients: base64url of JSON.
struct BrowseCursor: Codable, Equatable {
    var order: String
    /// nil: the last record had no value (those come last in either direction).
    var number: Double?
    var text: String?
    var missing: Bool
    var id: String

    enum CodingKeys: String, CodingKey { case order = "o", number = "n", text = "t", missing = "m", id = "i" }

    var token: String {
        let data = (try? JSONEncoder().encode(self)) ?? Data()
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    init(order: String, key: BrowseKey) {
        self.order = order
        switch key.value {
        case .number(let d)?: number = d; text = nil; missing = false
        case .text(let s)?: number = nil; text = s; missing = false
        case nil: number = nil; text = nil; missing = true
        }
        id = key.id
    }

    init(token: String, order: BrowseOrder) throws {
        let bad = StoreError(.badValue, "'after' is not a cursor from a browse of this collection in order \(order) (pass the 'next' of the previous page as it came)")
        var b64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        b64 += String(repeating: "=", count: (4 - b64.count % 4) % 4)
        guard token.utf8.count <= 4096, let data = Data(base64Encoded: b64),
              let c = try? JSONDecoder().decode(BrowseCursor.self, from: data) else { throw bad }
        guard c.order == order.description else {
            throw StoreError(.badValue, "'after' is a cursor for order \(c.order), not \(order): keep the order of the first page")
        }
        self = c
    }

    var key: BrowseKey {
        BrowseKey(value: missing ? nil : number.map { .number($0) } ?? text.map { .text($0) }, id: id)
    }
}

/// A record's place in a browse order.
struct BrowseKey {
    var value: AttributeIndex.SortValue?
    var id: String

    /// Whether `self` comes before `other`: records with a value first, by value in the asked
    /// direction, then records without one; ties by id in the asked direction.
    func precedes(_ other: BrowseKey, descending: Bool) -> Bool {
        switch (value, other.value) {
        case (.some, nil): return true
        case (nil, .some): return false
        case (.number(let a)?, .number(let b)?) where a != b: return descending ? a > b : a < b
        case (.text(let a)?, .text(let b)?) where a != b: return descending ? a > b : a < b
        default: return descending ? id > other.id : id < other.id
        }
    }
}

/// A facet to count: a string or set field's values, or an int or float field's ranges.
public struct FacetRequest: Sendable, Equatable {
    public var field: String
    /// For numbers: the width of each range (nil: a round width giving about ten ranges).
    public var interval: Double?
    /// For values: how many, most held first.
    public var size: Int

    public init(field: String, interval: Double? = nil, size: Int = 10) {
        self.field = field
        self.interval = interval
        self.size = size
    }

    /// `family`, `accords`, `year:10` (ranges ten wide), `rating:0.5`.
    public init(parsing text: String, size: Int = 10) throws {
        let parts = text.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let name = parts.first, !name.isEmpty else { throw StoreError(.badValue, "a facet needs a field name, e.g. family or year:10") }
        var interval: Double?
        if parts.count == 2 {
            guard let d = Double(parts[1]), d.isFinite, d > 0 else {
                throw StoreError(.badValue, "facet '\(name)': the range width after ':' must be a positive number, got '\(parts[1])'")
            }
            interval = d
        }
        self.init(field: name, interval: interval, size: size)
    }
}

public struct FacetCounts: Sendable, Equatable {
    public struct Value: Sendable, Equatable { public var value: String; public var count: Int }
    /// `[from, to)`.
    public struct Range: Sendable, Equatable { public var from: Double; public var to: Double; public var count: Int }
    public struct Stats: Sendable, Equatable { public var min: Double; public var max: Double; public var mean: Double }

    public var field: String
    /// Strings and sets: the most held values, most first (ties alphabetical).
    public var values: [Value]?
    /// Records holding a value beyond `values` (one record may count for several set values).
    public var others: Int?
    /// Numbers: consecutive ranges from the lowest value to the highest.
    public var ranges: [Range]?
    public var stats: Stats?
    /// Records without a value.
    public var missing: Int
}

extension Collection {
    /// A page of the records `filter` allows (all without one), `limit` at most, in `order`,
    /// starting after the cursor `after` (a page's `next`).
    public func browse(filter: String?, order: BrowseOrder = .byId, after: String? = nil, limit: Int) throws -> BrowsePage {
        let (ids, total, next) = try browseIds(filter: filter, order: order, after: after, limit: limit)
        // Read outside the lock (records() takes it again); one deleted since is left out.
        return BrowsePage(records: try records(ids).compactMap { $0 }, total: total, next: next)
    }

    /// A browse page's ids, the filter's total and the next cursor, without reading records.
    func browseIds(filter: String?, order: BrowseOrder, after: String? = nil, limit: Int) throws -> (ids: [String], total: Int, next: String?) {
        let cursor = try after.map { try BrowseCursor(token: $0, order: order).key }
        return try lock.read {
            try checkOpen()
            let allowed = try filter.map { try evaluate($0).allowed } ?? attributes.live
            var sortValue: ((UInt32) -> AttributeIndex.SortValue?)?
            if let field = order.field {
                guard let f = config.schema.field(field) else {
                    throw StoreError(.unknownField, "cannot order by '\(field)': no such field\(didYouMean(field, among: ["id"] + config.schema.fields.map(\.name)))")
                }
                guard let values = attributes.sortValues(of: field) else {
                    throw StoreError(.badValue, "cannot order by '\(field)': it is a \(f.type.rawValue) field; order by id or a string, int or float field")
                }
                sortValue = values
            }
            // The first limit+1 keys in order (the extra one says whether there is a next page),
            // kept sorted; most records fall past the last and cost one comparison.
            var best: [BrowseKey] = []
            best.reserveCapacity(limit + 1)
            let desc = order.descending
            allowed.forEach { rid in
                guard let id = idOfRid[rid] else { return }
                let key = BrowseKey(value: sortValue?(UInt32(rid)), id: id)
                if let cursor, !cursor.precedes(key, descending: desc) { return }
                if best.count > limit, let last = best.last, !key.precedes(last, descending: desc) { return }
                var lo = 0, hi = best.count
                while lo < hi {
                    let mid = (lo + hi) >> 1
                    if best[mid].precedes(key, descending: desc) { lo = mid + 1 } else { hi = mid }
                }
                best.insert(key, at: lo)
                if best.count > limit + 1 { best.removeLast() }
            }
            let more = best.count > limit
            if more { best.removeLast() }
            let next = more ? best.last.map { BrowseCursor(order: order.description, key: $0).token } : nil
            return (best.map(\.id), allowed.count, next)
        }
    }

    /// Value counts and numeric ranges of `facets` over the records `filter` allows.
    public func facets(_ facets: [FacetRequest], filter: String?) throws -> (total: Int, facets: [FacetCounts]) {
        try lock.read {
            try checkOpen()
            let allowed = try filter.map { try evaluate($0).allowed } ?? attributes.live
            return (allowed.count, try facets.map { try facetCounts($0, allowed) })
        }
    }

    /// Facets over chosen records (a query's hits); unknown ids are left out.
    public func facets(_ facets: [FacetRequest], ids: [String]) throws -> [FacetCounts] {
        try lock.read {
            try checkOpen()
            var allowed = Bitset(capacity: attributes.live.capacity)
            for id in ids { if let rid = ridOfId[id], attributes.live.contains(Int(rid)) { allowed.insert(Int(rid)) } }
            return try facets.map { try facetCounts($0, allowed) }
        }
    }

    /// Called with the read lock held.
    private func facetCounts(_ request: FacetRequest, _ allowed: Bitset) throws -> FacetCounts {
        let field = request.field
        guard let f = config.schema.field(field) else {
            throw StoreError(.unknownField, "cannot count values of '\(field)': no such field\(didYouMean(field, among: config.schema.fields.map(\.name)))")
        }
        if let (counts, missing) = attributes.valueCounts(of: field, within: allowed) {
            guard request.interval == nil else {
                throw StoreError(.badValue, "facet '\(field)' is a \(f.type.rawValue) field: ranges (':width') are for int and float fields")
            }
            let sorted = counts.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
            let shown = sorted.prefix(request.size)
            return FacetCounts(field: field, values: shown.map { .init(value: $0.0, count: $0.1) },
                               others: sorted.dropFirst(request.size).reduce(0) { $0 + $1.1 }, ranges: nil, stats: nil, missing: missing)
        }
        if f.type == .bool, let numbers = attributes.numbers(of: field, within: allowed) {
            guard request.interval == nil else { throw StoreError(.badValue, "facet '\(field)' is a bool field: ranges (':width') are for int and float fields") }
            let yes = numbers.filter { $0 != 0 }.count
            var values = [FacetCounts.Value(value: "true", count: yes), FacetCounts.Value(value: "false", count: numbers.count - yes)]
            values = values.filter { $0.count > 0 }.sorted { $0.count != $1.count ? $0.count > $1.count : $0.value < $1.value }
            return FacetCounts(field: field, values: values, others: 0, ranges: nil, stats: nil, missing: allowed.count - numbers.count)
        }
        guard let numbers = attributes.numbers(of: field, within: allowed) else {
            throw StoreError(.badValue, "cannot count values of '\(field)': it is a text field (facets take string, set, tiered_set, int and float fields)")
        }
        let missing = allowed.count - numbers.count
        guard let lo = numbers.min(), let hi = numbers.max() else {
            return FacetCounts(field: field, values: nil, others: nil, ranges: [], stats: nil, missing: missing)
        }
        let width = request.interval ?? niceWidth(lo, hi, f.type == .int)
        // Ranges start at a multiple of the width: 1990–2000, not 1987–1997.
        let first = (lo / width).rounded(.down) * width
        let n = min(Int(((hi - first) / width).rounded(.down)) + 1, 1000)
        guard n < 1000 || request.interval == nil else {
            throw StoreError(.badValue, "facet '\(field)': a width of \(width) makes over 1000 ranges from \(lo) to \(hi); choose a wider one")
        }
        var counts = [Int](repeating: 0, count: n)
        for x in numbers { counts[min(n - 1, max(0, Int(((x - first) / width).rounded(.down))))] += 1 }
        let ranges = counts.enumerated().map { i, c in FacetCounts.Range(from: first + Double(i) * width, to: first + Double(i + 1) * width, count: c) }
        return FacetCounts(field: field, values: nil, others: nil, ranges: ranges,
                           stats: .init(min: lo, max: hi, mean: numbers.reduce(0, +) / Double(numbers.count)), missing: missing)
    }

    /// A width of 1, 2 or 5 × 10ⁿ giving about ten ranges (whole numbers for int fields).
    private func niceWidth(_ lo: Double, _ hi: Double, _ integral: Bool) -> Double {
        let span = max(hi - lo, integral ? 1 : 1e-9)
        let raw = span / 10
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let width = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        return integral ? max(1, width.rounded()) : width
    }
}

/// ` (did you mean 'perfumes'?)` when a name is close to one of `names`, else "".
func didYouMean(_ name: String, among names: [String]) -> String {
    guard let best = closestName(name, among: names) else { return "" }
    return " (did you mean '\(best)'?)"
}
