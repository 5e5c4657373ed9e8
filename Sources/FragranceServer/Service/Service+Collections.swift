import FragranceCore
import Embedding
import FragranceProtocol
import FragranceStore
import Foundation
import HNSW

// INFO, COLLECTIONS, DESCRIBE, CREATE, DROP — and their HTTP routes.
extension FragranceService {
    public func info() -> InfoReply {
        var model: ModelBody?
        if let m = models?.stats {
            model = ModelBody(directory: m.directory, loaded: m.loaded, mappedBytes: m.mappedBytes, calls: m.calls,
                              textsEmbedded: m.textsEmbedded, loadSeconds: m.loadSeconds, lastError: m.lastError)
        }
        let collections = database.collectionNames.compactMap { try? describe($0) }
        return InfoReply(memory: .init(rssBytes: residentBytes()), collections: collections, model: model)
    }

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
                                     unsavedOperations: s.unsavedOperations, indexSaveError: s.indexSaveError,
                                     fields: c.config.schema.fields.map { FieldBody(name: $0.name, type: $0.type.rawValue) })
    }

    /// `definition` is the JSON object both protocols take (CREATE's argument, the HTTP body
    /// without its name): see `CollectionDefinition`.
    public func createCollection(name: String, definition: [String: Any]) throws -> CollectionDescription {
        describe(try database.createCollection(try CollectionDefinition.config(name: name, object: definition)))
    }

    public func dropCollection(_ name: String) throws -> DropReply {
        try database.dropCollection(name)
        return DropReply(dropped: name)
    }
}

/// A collection's settings as JSON: `{"dimension": 384, "metric": "cosine", "embedder": "minilm",
/// "schema": "perfume" | {"fields": […]}, "m": 16, "ef_construction": 200, "ef_search": 128,
/// "seed": 1, "embed_fields": […]}`. Every key is checked and named when wrong.
enum CollectionDefinition {
    static let known: Set<String> = ["dimension", "metric", "embedder", "schema", "m", "ef_construction", "ef_search", "seed", "embed_fields"]

    static func config(name: String, object o: [String: Any]) throws -> CollectionConfig {
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw ProtocolError(.unknownField, "unknown field '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))", field: unknown)
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
        var schema = CollectionSchema.perfume
        if let s = o["schema"] {
            if let named = s as? String {
                guard let known = CollectionSchema.named[named] else {
                    throw ProtocolError(.badSchema, "unknown schema '\(named)' (known: \(CollectionSchema.named.keys.sorted().joined(separator: ", ")), or an object)", field: "schema")
                }
                schema = known
            } else {
                do { schema = try JSONDecoder().decode(CollectionSchema.self, from: JSONSerialization.data(withJSONObject: s)) }
                catch { throw ProtocolError(.badSchema, "schema must be {\"fields\": [{\"name\": …, \"type\": string|int|float|set|tiered_set|text}]}", field: "schema") }
            }
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
                                embedder: embedder, embedFields: embedFields)
    }
}
