import HNSW

/// One attribute value, shaped by its field's type.
public enum AttributeValue: Sendable, Equatable, Hashable {
    case string(String)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case strings([String])
    /// tier → members, for `tiered_set` fields
    case tiered([String: [String]])
}

public struct Record: Sendable, Equatable {
    public var id: String
    public var vector: [Float]?
    public var attributes: [String: AttributeValue]

    public init(id: String, vector: [Float]? = nil, attributes: [String: AttributeValue] = [:]) {
        self.id = id
        self.vector = vector
        self.attributes = attributes
    }
}

extension AttributeValue: Codable {
    // JSON shape: string, number, [string], {tier: [string]}. Ints stay ints.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { self = .string(s) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .float(d) }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let a = try? c.decode([String].self) { self = .strings(a) }
        else if let t = try? c.decode([String: [String]].self) { self = .tiered(t) }
        else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a string, number, string list or tier map") }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .int(let i): try c.encode(i)
        case .float(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        case .strings(let a): try c.encode(a)
        case .tiered(let t): try c.encode(t)
        }
    }
}

extension Record: Codable {
    enum CodingKeys: String, CodingKey { case id, vector, attributes }
}

extension CollectionSchema {
    /// Checks a record against the schema and returns it normalised: set members trimmed and
    /// de-duplicated (case-insensitively), ints accepted where floats are declared.
    func normalise(_ r: Record, dimension: Int, requireVector: Bool) throws -> Record {
        func bad(_ msg: String) -> StoreError { StoreError(.badRecord, "record '\(r.id)': \(msg)") }
        guard !r.id.isEmpty, r.id.utf8.count <= 512 else { throw StoreError(.badRecord, "record id must be 1 to 512 bytes") }
        if let c = controlByte(in: r.id, allowingLineBreaks: false) {
            throw StoreError(.badRecord, "record id \(printable(r.id)) holds control character \(hexByte(c)); ids are printable text")
        }
        try Self.checkVector(r, dimension: dimension, requireVector: requireVector)
        var out = Record(id: r.id, vector: r.vector)
        for (name, value) in r.attributes {
            guard let f = field(name) else {
                throw bad("unknown field '\(name)'\(didYouMean(name, among: fields.map(\.name))) (fields: \(fields.map(\.name).joined(separator: ", ")))")
            }
            out.attributes[name] = try normalise(value, for: f, bad)
        }
        return out
    }

    /// The record's vector fits the collection: its dimension, finite components, and present
    /// unless the collection embeds text.
    static func checkVector(_ r: Record, dimension: Int, requireVector: Bool) throws {
        if let v = r.vector {
            guard v.count == dimension else {
                throw StoreError(.dimensionMismatch, "record '\(r.id)': vector has \(v.count) dimensions, collection has \(dimension)")
            }
            guard v.allSatisfy(\.isFinite) else { throw StoreError(.badRecord, "record '\(r.id)': vector has a NaN or infinite component") }
            if let p = Metric.lengthProblem(v) { throw StoreError(.badRecord, "record '\(r.id)': vector \(p)") }
        } else if requireVector {
            throw StoreError(.badRecord, "record '\(r.id)': no vector (this collection has no embedder, so records must carry one)")
        }
    }

    /// Throws the error a collection with this schema would give the record (importers check
    /// each row before it joins a batch, so one bad row cannot fail the others).
    public func validate(_ r: Record, dimension: Int) throws {
        _ = try normalise(r, dimension: dimension, requireVector: false)
    }

    /// The record as a collection with this schema stores it (see `Collection.upsert(_:normalisedWith:)`).
    package func normalised(_ r: Record, dimension: Int) throws -> Record {
        try normalise(r, dimension: dimension, requireVector: false)
    }

    private func normalise(_ value: AttributeValue, for f: FieldSchema, _ bad: (String) -> StoreError) throws -> AttributeValue {
        func member(_ s: String) throws -> String {
            let t = s.trimmingCharactersInWhitespace()
            guard !t.isEmpty else { throw bad("'\(f.name)' has an empty value") }
            guard t.utf8.count <= 1024 else { throw bad("'\(f.name)' has a value over 1024 bytes") }
            if let c = controlByte(in: t, allowingLineBreaks: false) {
                throw bad("'\(f.name)' value \(printable(t)) holds control character \(hexByte(c))")
            }
            let value = f.canonical(t)
            if let allowed = f.values, !allowed.contains(where: { foldKey($0) == foldKey(value) }) {
                throw bad("'\(t)' is not a valid \(f.name) (expected one of: \(allowed.joined(separator: ", ")))")
            }
            return value
        }
        func members(_ list: [String]) throws -> [String] {
            var seen = Set<String>(), out: [String] = []
            for s in list {
                let m = try member(s)
                if seen.insert(foldKey(m)).inserted { out.append(m) }
            }
            return out
        }
        switch (f.type, value) {
        case (.string, .string(let s)): return .string(try member(s))
        case (.text, .string(let s)):
            guard s.utf8.count <= 65536 else { throw bad("'\(f.name)' is over 64 KiB") }
            if let c = controlByte(in: s, allowingLineBreaks: true) {
                throw bad("'\(f.name)' holds control character \(hexByte(c)) (text may hold tabs and line breaks, no other C0 controls)")
            }
            return .string(s)
        case (.int, .int): return value
        case (.int, .float(let d)) where d.rounded() == d && abs(d) < 9e15: return .int(Int64(d))
        case (.float, .float(let d)):
            guard d.isFinite else { throw bad("'\(f.name)' is not finite") }
            return value
        case (.float, .int(let i)): return .float(Double(i))
        case (.bool, .bool): return value
        case (.set, .strings(let a)): return .strings(try members(a))
        case (.set, .string(let s)): return .strings(try members([s]))
        case (.tieredSet, .tiered(let t)):
            var out: [String: [String]] = [:]
            for (tier, list) in t {
                guard let tiers = f.tiers, tiers.contains(tier) else {
                    throw bad("'\(f.name)' has unknown tier '\(tier)' (tiers: \((f.tiers ?? []).joined(separator: ", ")))")
                }
                let m = try members(list)
                if !m.isEmpty { out[tier] = m }
            }
            return .tiered(out)
        default:
            throw bad("'\(f.name)' must be \(f.type.expectedJSON), got \(value.shapeName)")
        }
    }
}

/// The first C0 control byte (or DEL) in `s`; tab, LF and CR pass when `allowingLineBreaks`.
/// SQLite, the line protocol and terminals all treat these bytes specially, and NUL in
/// particular once truncated a stored id, so stored strings never hold them.
func controlByte(in s: String, allowingLineBreaks: Bool) -> UInt8? {
    for b in s.utf8 where b < 0x20 || b == 0x7F {
        if allowingLineBreaks && (b == 0x09 || b == 0x0A || b == 0x0D) { continue }
        return b
    }
    return nil
}

func hexByte(_ b: UInt8) -> String { "U+" + String(format: "%04X", Int(b)) }

/// A client's string for an error message: quoted, control characters escaped, cut at 64.
package func printable(_ s: String) -> String {
    var out = "'"
    for u in s.unicodeScalars.prefix(64) {
        if u.value < 0x20 || u.value == 0x7F { out += "\\u" + String(format: "%04X", Int(u.value)) } else { out.unicodeScalars.append(u) }
    }
    if s.unicodeScalars.count > 64 { out += "…" }
    return out + "'"
}

extension FieldSchema.Kind {
    var expectedJSON: String {
        switch self {
        case .string, .text: return "a string"
        case .int: return "an integer"
        case .float: return "a number"
        case .bool: return "true or false"
        case .set: return "a list of strings"
        case .tieredSet: return "an object of tier → list of strings"
        }
    }
}

extension AttributeValue {
    var shapeName: String {
        switch self {
        case .string: return "a string"
        case .int: return "an integer"
        case .float: return "a number"
        case .bool: return "a boolean"
        case .strings: return "a list"
        case .tiered: return "an object"
        }
    }
}
