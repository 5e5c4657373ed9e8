/// A collection's typed attribute schema. Scalars become typed, indexed SQLite columns; sets
/// become side tables keyed (value, record); `text` is stored but not filterable.
public struct FieldSchema: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case string, int, float, set
        case tieredSet = "tiered_set"
        case text
        /// true or false; stored as 0/1, filtered with `= true`, counted as "true"/"false".
        case bool
    }

    public var name: String
    public var type: Kind
    /// Allowed values (case-insensitive) for `string` and `set`; nil = open vocabulary.
    public var values: [String]?
    /// Tier names for `tiered_set`, e.g. top/heart/base.
    public var tiers: [String]?
    /// Indexed for keyword search (FTS5) with this BM25 column weight; nil = not indexed.
    /// When no field sets it, every `text` field is indexed with weight 1.
    public var keyword: Double?
    /// Other words for the allowed values ("men" → "male"), case-insensitive: records store,
    /// and filters match, the value a word stands for, so import, filters and requests share
    /// one vocabulary. Only with `values`.
    public var synonyms: [String: String]?

    public init(_ name: String, _ type: Kind, values: [String]? = nil, tiers: [String]? = nil, keyword: Double? = nil,
                synonyms: [String: String]? = nil) {
        self.name = name
        self.type = type
        self.values = values
        self.tiers = tiers
        self.keyword = keyword
        self.synonyms = synonyms.map { Dictionary($0.map { (foldKey($0.key), $0.value) }, uniquingKeysWith: { a, _ in a }) }
    }

    /// The allowed value a word stands for (itself when it is no synonym).
    func canonical(_ word: String) -> String {
        guard let synonyms, let v = synonyms[foldKey(word)] else { return word }
        return v
    }

    var isScalar: Bool { type == .string || type == .int || type == .float || type == .bool }
    var isSet: Bool { type == .set || type == .tieredSet }
}

public struct CollectionSchema: Codable, Sendable, Equatable {
    public var fields: [FieldSchema]

    public init(fields: [FieldSchema]) { self.fields = fields }

    public func field(_ name: String) -> FieldSchema? { fields.first { $0.name == name } }

    /// The fields of the keyword (FTS5) index and their BM25 weights, in schema order.
    public var keywordFields: [(name: String, weight: Double)] {
        let marked = fields.compactMap { f in f.keyword.map { (f.name, $0) } }
        return marked.isEmpty ? fields.filter { $0.type == .text }.map { ($0.name, 1) } : marked
    }

    static let reservedNames: Set<String> = ["id", "rid", "vector", "score", "distance"]

    /// Fields per schema: each scalar is a column and each set a table, and SQLite's own
    /// column limit (2,000) would otherwise surface as an internal error.
    public static let maxFields = 256

    func validate() throws {
        guard fields.count <= Self.maxFields else {
            throw StoreError(.badSchema, "a schema may have at most \(Self.maxFields) fields, this one has \(fields.count)")
        }
        var seen = Set<String>()
        for f in fields {
            guard isIdentifier(f.name), f.name.count <= 64 else {
                throw StoreError(.badSchema, "field name \(printable(f.name)) must be letters, digits and _, starting with a letter or _")
            }
            guard !CollectionSchema.reservedNames.contains(f.name.lowercased()) else {
                throw StoreError(.badSchema, "field name '\(f.name)' is reserved")
            }
            guard seen.insert(f.name.lowercased()).inserted else { throw StoreError(.badSchema, "field '\(f.name)' declared twice") }
            if f.values != nil && f.type != .string && f.type != .set {
                throw StoreError(.badSchema, "field '\(f.name)': only string and set fields take 'values'")
            }
            if let synonyms = f.synonyms {
                guard let values = f.values else { throw StoreError(.badSchema, "field '\(f.name)': 'synonyms' need 'values' to stand for") }
                if let bad = synonyms.first(where: { s in !values.contains { foldKey($0) == foldKey(s.value) } }) {
                    throw StoreError(.badSchema, "field '\(f.name)': synonym '\(bad.key)' stands for '\(bad.value)', which is not one of its values")
                }
            }
            if f.type == .tieredSet {
                guard let tiers = f.tiers, !tiers.isEmpty, tiers.allSatisfy(isIdentifier) else {
                    throw StoreError(.badSchema, "field '\(f.name)': a tiered_set needs 'tiers', e.g. [\"top\",\"heart\",\"base\"]")
                }
            } else if f.tiers != nil {
                throw StoreError(.badSchema, "field '\(f.name)': only tiered_set fields take 'tiers'")
            }
            if let w = f.keyword {
                guard w > 0, w <= 100, w.isFinite else { throw StoreError(.badSchema, "field '\(f.name)': keyword weight must be above 0 and at most 100") }
                guard f.type != .int, f.type != .float, f.type != .bool else { throw StoreError(.badSchema, "field '\(f.name)': numbers cannot be keyword-indexed") }
            }
        }
    }
}

func isIdentifier(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
    return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
}

/// Case-insensitive matching for strings and set members: trimmed and lower-cased.
func foldKey(_ s: String) -> String {
    s.trimmingCharactersInWhitespace().lowercased()
}

extension String {
    /// Both ends are printable ASCII, so there is nothing to trim: deciding that from the end
    /// bytes saves the Unicode lookups of a trim (2% of an import's CPU).
    package var hasNothingToTrim: Bool {
        guard let f = utf8.first, let l = utf8.last else { return false }
        return (0x21...0x7E).contains(f) && (0x21...0x7E).contains(l)
    }

    func trimmingCharactersInWhitespace() -> String {
        if hasNothingToTrim { return self }
        var sub = Substring(self)
        while let c = sub.first, c.isWhitespace { sub.removeFirst() }
        while let c = sub.last, c.isWhitespace { sub.removeLast() }
        return String(sub)
    }
}
