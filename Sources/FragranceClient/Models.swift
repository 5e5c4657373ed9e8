import Foundation

/// Any JSON value: what a record's fields hold, typed by the collection's schema on the server.
public enum JSONValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var number: Double? { if case .number(let n) = self { n } else { nil } }
    public var int: Int? { number.flatMap { $0 == $0.rounded() ? Int(exactly: $0) : nil } }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var strings: [String]? { if case .array(let a) = self { a.compactMap(\.string) } else { nil } }
    public subscript(key: String) -> JSONValue? { if case .object(let o) = self { o[key] } else { nil } }

    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): String(b)
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
        case .string(let s): s
        case .array(let a): "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .object(let o): "{" + o.keys.sorted().map { "\($0): \(o[$0]!)" }.joined(separator: ", ") + "}"
        }
    }
}

/// A stored record: its id, its fields as the collection's schema declares them, and its
/// vector when asked for. `decode(as:)` reads it into your own Decodable type.
public struct StoredRecord: Decodable, Sendable, Equatable {
    public var id: String
    public var fields: [String: JSONValue]
    public var vector: [Float]?

    public subscript(field: String) -> JSONValue? { fields[field] }

    public init(from decoder: Decoder) throws {
        var all = try decoder.singleValueContainer().decode([String: JSONValue].self)
        id = all.removeValue(forKey: "id")?.string ?? ""
        if case .array(let v)? = all.removeValue(forKey: "vector") { vector = v.compactMap { $0.number.map(Float.init) } }
        fields = all
    }

    init(id: String, fields: [String: JSONValue]) {
        self.id = id
        self.fields = fields
    }

    /// The record (id and fields) as your own type.
    public func decode<T: Decodable>(as type: T.Type) throws -> T {
        var all = fields
        all["id"] = .string(id)
        return try JSONDecoder().decode(T.self, from: JSONEncoder().encode(all))
    }
}

/// A collection as COLLECTIONS lists it.
public struct CollectionSummary: Decodable, Sendable, Equatable {
    public var name: String
    public var records: Int
    public var dimension: Int
    public var metric: String
    public var embedder: String?
}

/// A collection's settings and figures (DESCRIBE).
public struct CollectionInfo: Decodable, Sendable, Equatable {
    public struct Field: Decodable, Sendable, Equatable { public var name: String; public var type: String }
    public var name: String
    public var records: Int
    public var dimension: Int
    public var metric: String
    public var embedder: String?
    public var dynamic: Bool
    public var fields: [Field]
    public var graphNodes: Int
    public var tombstones: Int
    enum CodingKeys: String, CodingKey { case name, records, dimension, metric, embedder, dynamic, fields, graphNodes = "graph_nodes", tombstones }
}

/// INFO: version and uptime, and every section as the server sent it (`sections["memory"]` …).
public struct ServerInfo: Decodable, Sendable {
    public var version: String
    public var uptimeSeconds: Double
    public var sections: [String: JSONValue]

    public init(from decoder: Decoder) throws {
        var all = try decoder.singleValueContainer().decode([String: JSONValue].self)
        version = all.removeValue(forKey: "version")?.string ?? ""
        uptimeSeconds = all.removeValue(forKey: "uptime_seconds")?.number ?? 0
        all["server"] = nil
        sections = all
    }
}

/// What to compose a recipe for (GENERATE); at least one of family, mood or brief.
public struct RecipeRequest: Encodable, Sendable {
    public var fragranceFamily: String?
    public var mood: String?
    public var intensity: String?
    public var gender: String?
    public var season: String?
    public var brief: String?
    public var concentration: String?
    public var product: String?
    public var seed: Int?
    public var avoid: [String]?

    public init(fragranceFamily: String? = nil, mood: String? = nil, intensity: String? = nil, gender: String? = nil, season: String? = nil,
                brief: String? = nil, concentration: String? = nil, product: String? = nil, seed: Int? = nil, avoid: [String]? = nil) {
        (self.fragranceFamily, self.mood, self.intensity, self.gender, self.season) = (fragranceFamily, mood, intensity, gender, season)
        (self.brief, self.concentration, self.product, self.seed, self.avoid) = (brief, concentration, product, seed, avoid)
    }

    enum CodingKeys: String, CodingKey {
        case fragranceFamily = "fragrance_family", mood, intensity, gender, season, brief, concentration, product, seed, avoid
    }
}

/// A generated recipe (schemas/recipe.schema.json), its validation and which generator wrote it.
public struct RecipeResult: Decodable, Sendable {
    public struct Ingredient: Decodable, Sendable, Equatable {
        public var name: String
        public var percent: Double
        public var cas: String?
        public var materialId: String?
        enum CodingKeys: String, CodingKey { case name, percent, cas, materialId = "material_id" }
    }
    public struct Recipe: Decodable, Sendable {
        public var concentration: String
        public var top: [Ingredient]
        public var heart: [Ingredient]
        public var base: [Ingredient]
        public var fragrancePercent: Double?
        enum CodingKeys: String, CodingKey { case concentration, top, heart, base, fragrancePercent = "fragrance_percent" }
        public var ingredients: [Ingredient] { top + heart + base }
    }
    public struct Allergen: Decodable, Sendable, Equatable { public var name: String; public var percent: Double }
    public struct Problem: Decodable, Sendable, Equatable { public var severity: String; public var code: String; public var message: String }
    public struct Validation: Decodable, Sendable {
        public var valid: Bool
        public var score: Int
        public var problems: [Problem]
        public var allergens: [Allergen]
        /// IFRA and EU compliance as the server reports it (breaches, category, label threshold).
        public var compliance: JSONValue
        public var compliant: Bool { compliance["compliant"]?.bool ?? false }
    }
    public var recipe: Recipe
    public var validation: Validation
    public var generator: String
    public var contextPerfumes: [String]
    public var fallbackReason: String?
    enum CodingKeys: String, CodingKey {
        case recipe, validation, generator, contextPerfumes = "context_perfumes", fallbackReason = "fallback_reason"
    }
}
