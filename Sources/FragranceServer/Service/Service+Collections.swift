import FragranceCore
import Embedding
import FragranceProtocol
import FragranceStore
import Foundation
import HNSW

// INFO, COLLECTIONS, DESCRIBE, CREATE, DROP — and their HTTP routes.
extension FragranceService {

    public func collections() throws -> CollectionList {
        CollectionList(collections: try database.collectionNames.map { n in
            let c = try collection(n)
            return CollectionSummary(name: n, records: c.count, dimension: c.config.dimension, metric: c.config.metric.rawValue,
                                     embedder: c.config.embedder)
        })
    }

    public func describe(_ name: String) throws -> CollectionDescription {
        describe(try collection(name))
    }

    func describe(_ c: FragranceStore.Collection) -> CollectionDescription {
        let s = c.stats
        return CollectionDescription(name: c.config.name, records: s.records, dimension: c.config.dimension, metric: c.config.metric.rawValue,
                                     embedder: c.config.embedder, graphNodes: s.graphNodes, tombstones: s.tombstones, indexBytes: s.indexBytes,
                                     unsavedOperations: s.unsavedOperations, indexSaveError: s.indexSaveError, dynamic: c.config.dynamic,
                                     fields: c.config.schema.fields.map { FieldBody(name: $0.name, type: $0.type.rawValue) })
    }

    /// `definition` is the JSON object both protocols take (CREATE's argument, the HTTP body
    /// without its name): see `CollectionDefinition`.
    public func createCollection(name: String, definition: [String: Any]) throws -> CollectionDescription {
        try checkWritable()
        return describe(try database.createCollection(try CollectionDefinition.config(name: name, object: definition)))
    }

    /// ALTER's JSON object (the PATCH body): `{"fields": [field, …], "dynamic": bool}`. Fields
    /// are only added; see `CollectionDefinition.fields`.
    public func alterCollection(_ name: String, change o: [String: Any]) throws -> CollectionDescription {
        try checkWritable()
        let known: Set<String> = ["fields", "dynamic"]
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw ProtocolError(.unknownField, "unknown field '\(unknown)' (known: dynamic, fields)", field: unknown)
        }
        let fields = try o["fields"].map { try CollectionDefinition.fields($0, at: "fields") } ?? []
        var dynamic: Bool?
        if let d = o["dynamic"] {
            guard let n = d as? NSNumber, isJSONBool(n) else { throw ProtocolError(.badType, "'dynamic' must be true or false", field: "dynamic") }
            dynamic = n.boolValue
        }
        guard !fields.isEmpty || dynamic != nil else {
            throw ProtocolError(.badRequest, "nothing to change: give \"fields\" to add and/or \"dynamic\"", field: "fields")
        }
        let c = try collection(name)
        try c.alter(adding: fields, dynamic: dynamic)
        return describe(c)
    }

    public func dropCollection(_ name: String) throws -> DropReply {
        try checkWritable()
        try database.dropCollection(name)
        return DropReply(dropped: name)
    }
}

/// A collection's settings as JSON: `{"dimension": 384, "metric": "cosine", "embedder": "minilm",
/// "schema": "perfume" | {"fields": […]}, "dynamic": true, "m": 16, "ef_construction": 200,
/// "ef_search": 128, "seed": 1, "embed_fields": […]}`. Every key is checked and named when
/// wrong. Without a schema a collection is dynamic: fields are added as records bring them.
enum CollectionDefinition {
    static let known: Set<String> = ["dimension", "metric", "embedder", "schema", "dynamic", "m", "ef_construction", "ef_search", "seed", "embed_fields"]

    /// Type names as people from other databases write them, to the schema's types.
    static let typeNames: [String: FieldSchema.Kind] = [
        "string": .string, "str": .string, "keyword": .string, "enum": .string, "category": .string,
        "int": .int, "integer": .int, "long": .int, "int64": .int, "int32": .int,
        "float": .float, "double": .float, "number": .float, "real": .float, "decimal": .float,
        "bool": .bool, "boolean": .bool,
        "set": .set, "strings": .set, "string[]": .set, "tags": .set, "list": .set, "array": .set, "keywords": .set,
        "tiered_set": .tieredSet, "tiered": .tieredSet,
        "text": .text, "fulltext": .text,
    ]

    /// A list of field objects `{"name", "type", "values"?, "tiers"?, "keyword"?}`, each
    /// checked and named by its place (`schema.fields[2].type`) when wrong.
    static func fields(_ value: Any, at path: String) throws -> [FieldSchema] {
        guard let list = value as? [Any] else { throw ProtocolError(.badType, "'\(path)' must be a list of fields", field: path) }
        let keys: Set<String> = ["name", "type", "values", "tiers", "keyword"]
        return try list.enumerated().map { i, item in
            let at = "\(path)[\(i)]"
            guard let o = item as? [String: Any] else { throw ProtocolError(.badType, "'\(at)' must be an object like {\"name\": \"price\", \"type\": \"float\"}", field: at) }
            if let unknown = o.keys.sorted().first(where: { !keys.contains($0) }) {
                throw ProtocolError(.unknownField, "unknown field '\(at).\(unknown)' (known: \(keys.sorted().joined(separator: ", ")))", field: "\(at).\(unknown)")
            }
            guard let name = o["name"] as? String else { throw ProtocolError(.missingField, "'\(at).name' must be a string", field: "\(at).name") }
            guard let typeName = o["type"] as? String else {
                throw ProtocolError(.missingField, "field '\(name)' needs a \"type\" (string, int, float, bool, set, tiered_set, text)", field: "\(at).type")
            }
            guard let kind = typeNames[typeName.lowercased()] else {
                throw ProtocolError(.badSchema, "field '\(name)': unknown type '\(typeName)' (types: string, int, float, bool, set, tiered_set, text; "
                                    + "also accepted: keyword, integer, long, double, number, boolean, strings, tags, list)", field: "\(at).type")
            }
            func strings(_ k: String) throws -> [String]? {
                guard let v = o[k] else { return nil }
                guard let list = v as? [String] else { throw ProtocolError(.badType, "'\(at).\(k)' must be a list of strings", field: "\(at).\(k)") }
                return list
            }
            var keyword: Double?
            if let k = o["keyword"] {
                guard let n = k as? NSNumber, !isJSONBool(n) else { throw ProtocolError(.badType, "'\(at).keyword' must be a number (a BM25 weight)", field: "\(at).keyword") }
                keyword = n.doubleValue
            }
            return FieldSchema(name, kind, values: try strings("values"), tiers: try strings("tiers"), keyword: keyword)
        }
    }

    static func config(name: String, object o: [String: Any]) throws -> CollectionConfig {
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw ProtocolError(.unknownField, "unknown field '\(unknown)'\(suggestion(unknown, among: Array(known))) (known: \(known.sorted().joined(separator: ", ")))", field: unknown)
        }
        // `as? Int` would take true as 1 and UInt64(-1) traps: integers are checked by hand.
        func int(_ k: String, _ range: ClosedRange<Int> = 0...Int.max) throws -> Int? {
            guard let v = o[k] else { return nil }
            guard let n = v as? NSNumber, !isJSONBool(n) else {
                throw ProtocolError(.badType, "'\(k)' must be an integer, got \(printable(jsonText(v)))", field: k)
            }
            let i: Int
            if "df".contains(String(cString: n.objCType)) {
                let d = n.doubleValue
                guard d.isFinite, d == d.rounded() else { throw ProtocolError(.badType, "'\(k)' must be an integer, got \(n)", field: k) }
                guard d >= Double(range.lowerBound), d <= Double(range.upperBound), let exact = Int(exactly: d) else {
                    throw ProtocolError(.outOfRange, "'\(k)' must be \(range.lowerBound) to \(range.upperBound), got \(n)", field: k)
                }
                i = exact
            } else {
                i = n.intValue
            }
            guard range.contains(i) else {
                throw ProtocolError(.outOfRange, "'\(k)' must be \(range.lowerBound) to \(range.upperBound), got \(n)", field: k)
            }
            return i
        }
        var embedder: String?
        if let e = o["embedder"], !(e is NSNull) {
            guard let s = e as? String else { throw ProtocolError(.badType, "'embedder' must be a string", field: "embedder") }
            embedder = s
        }
        guard let dimension = try int("dimension") ?? (embedder == TextEmbedder.name ? TextEmbedder.dimension : nil) else {
            throw ProtocolError(.missingField, "'dimension' is required (or \"embedder\": \"minilm\", which implies 384)", field: "dimension")
        }
        var metric = Metric.cosine
        if let m = o["metric"] {
            guard let s = m as? String, let parsed = Metric(rawValue: s.lowercased()) else {
                throw ProtocolError(.badValue, "'metric' must be one of cosine, dot, l2", field: "metric")
            }
            metric = parsed
        }
        var schema = CollectionSchema(fields: [])
        if let s = o["schema"] {
            if let named = s as? String {
                guard let known = CollectionSchema.named[named] else {
                    throw ProtocolError(.badSchema, "unknown schema '\(named)' (known: \(CollectionSchema.named.keys.sorted().joined(separator: ", ")), or an object)", field: "schema")
                }
                schema = known
            } else if let object = s as? [String: Any], object.keys.allSatisfy({ $0 == "fields" }), let list = object["fields"] {
                schema = CollectionSchema(fields: try fields(list, at: "schema.fields"))
            } else {
                throw ProtocolError(.badSchema, "schema must be a name (\(CollectionSchema.named.keys.sorted().joined(separator: ", "))) or {\"fields\": [{\"name\": …, \"type\": string|int|float|set|tiered_set|text}]}", field: "schema")
            }
        }
        // No schema: dynamic, fields come with the records. A given schema is fixed unless asked.
        var dynamic = o["schema"] == nil
        if let d = o["dynamic"] {
            guard let n = d as? NSNumber, isJSONBool(n) else { throw ProtocolError(.badType, "'dynamic' must be true or false", field: "dynamic") }
            dynamic = n.boolValue
        }
        var embedFields: [String]?
        if let f = o["embed_fields"] {
            guard let list = f as? [String] else { throw ProtocolError(.badType, "'embed_fields' must be a list of field names", field: "embed_fields") }
            embedFields = list
        }
        var hnsw = HNSWParameters()
        if let m = try int("m") { hnsw.m = m }
        if let e = try int("ef_construction") { hnsw.efConstruction = e }
        if let e = try int("ef_search") { hnsw.efSearch = e }
        if let s = try int("seed") { hnsw.seed = UInt64(s) }   // int() refuses negatives
        return CollectionConfig(name: name, dimension: dimension, metric: metric, schema: schema, hnsw: hnsw,
                                embedder: embedder, embedFields: embedFields, dynamic: dynamic)
    }
}
