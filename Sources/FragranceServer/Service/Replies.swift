import Embedding
import FragranceCore
import FragranceStore
import Foundation

// The typed results of the service's operations. Both protocols encode these with
// `ReplyJSON` (HTTP as the body, TCP as JSON lines), so a field has one name everywhere;
// schemas/openapi.yaml describes them and a test checks real replies against it.

/// Encodes nil as `null` (synthesised Codable would leave the key out): replies keep a stable
/// shape, so clients can tell "no filter" from "an old server".
@propertyWrapper public struct Nullable<T: Encodable & Sendable>: Encodable, Sendable {
    public var wrappedValue: T?
    public init(wrappedValue: T?) { self.wrappedValue = wrappedValue }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let v = wrappedValue { try c.encode(v) } else { try c.encodeNil() }
    }
}

public enum ReplyJSON {
    /// Compact, sorted keys (stable output for tests and diffs), `/` unescaped: what
    /// Foundation's JSONEncoder writes with those options, written by `SortedJSONEncoder`.
    public static func data<T: Encodable>(_ value: T) -> Data { Data(bytes(value)) }

    public static func bytes<T: Encodable>(_ value: T) -> [UInt8] {
        // Every reply type is plain data: encoding cannot fail.
        (try? SortedJSONEncoder.encode(value)) ?? Array("null".utf8)
    }

    public static func text<T: Encodable>(_ value: T) -> String { String(decoding: bytes(value), as: UTF8.self) }
}

/// A record as the wire shows it: `{"id": …, "vector": […], <field>: <value>, …}`.
public struct RecordBody: Encodable, Sendable {
    public var record: Record
    public var includeId = true
    public var includeVector = false

    typealias Key = StringCodingKey

    public func encode(to encoder: Encoder) throws {
        if let raw = SortedJSONEncoder.rawObject(encoder) {   // replies: the same JSON, written directly
            if includeId { raw.add("id", string: record.id) }
            if includeVector, let v = record.vector { raw.add("vector", floats: v) }
            for (name, value) in record.attributes {
                switch value {
                case .string(let s): raw.add(name, string: s)
                case .int(let i): raw.add(name, int: i)
                case .float(let d): raw.add(name, double: d)
                case .bool(let b): raw.add(name, bool: b)
                case .strings(let a): raw.add(name, strings: a)
                case .tiered(let t): raw.add(name, lists: t)
                }
            }
            return
        }
        var c = encoder.container(keyedBy: Key.self)
        if includeId { try c.encode(record.id, forKey: Key("id")) }
        if includeVector, let v = record.vector { try c.encode(v, forKey: Key("vector")) }
        for (name, value) in record.attributes { try c.encode(value, forKey: Key(name)) }
    }
}

public struct PlanBody: Encodable, Sendable {
    var path: String, exact: Bool, reason: String, records: Int, estimatedCandidates: Double, candidates: Int, ef: Int
    var nodesVisited: Int, distanceComputations: Int
    enum CodingKeys: String, CodingKey {
        case path, exact, reason, records, candidates, ef
        case estimatedCandidates = "estimated_candidates", nodesVisited = "nodes_visited", distanceComputations = "distance_computations"
    }
    init(_ p: QueryPlan) {
        path = p.path.rawValue; exact = p.exact; reason = p.reason; records = p.records
        estimatedCandidates = p.estimatedCandidates; candidates = p.candidates; ef = p.ef
        nodesVisited = p.nodesVisited; distanceComputations = p.distanceComputations
    }
}

// MARK: Server and collections

public struct CollectionSummary: Encodable, Sendable {
    var name: String, records: Int, dimension: Int, metric: String
    @Nullable var embedder: String?
}

public struct FieldBody: Encodable, Sendable { var name: String, type: String }

public struct CollectionDescription: Encodable, Sendable {
    var name: String, records: Int, dimension: Int, metric: String
    @Nullable var embedder: String?
    var graphNodes: Int, tombstones: Int, indexBytes: Int, unsavedOperations: Int64
    @Nullable var indexSaveError: String?
    /// Whether records may bring new fields (added with the type of their first values).
    var dynamic: Bool
    var fields: [FieldBody]
    enum CodingKeys: String, CodingKey {
        case name, records, dimension, metric, embedder, tombstones, fields, dynamic
        case graphNodes = "graph_nodes", indexBytes = "index_bytes", unsavedOperations = "unsaved_operations", indexSaveError = "index_save_error"
    }
}

public struct ModelBody: Encodable, Sendable {
    var directory: String, loaded: Bool, mappedBytes: Int, calls: Int, textsEmbedded: Int, loadSeconds: Double
    @Nullable var lastError: String?
    enum CodingKeys: String, CodingKey {
        case directory, loaded, calls
        case mappedBytes = "mapped_bytes", textsEmbedded = "texts_embedded", loadSeconds = "load_seconds", lastError = "last_error"
    }
}

/// INFO: every section, or the one asked for (`INFO stats`); `server`, `version` and
/// `uptime_seconds` always.
public struct InfoReply: Encodable, Sendable {
    public struct Memory: Encodable, Sendable {
        var rssBytes: Int
        /// The graphs of every collection (reserved slots included).
        var indexBytes: Int
        /// Where resident memory goes: the graphs by component (written slots), malloc's heap
        /// in use and held free (fragmentation), SQLite's own allocations, the mapped model.
        var graph: GraphMemory
        /// `graph` divided by the live records of every collection: what one more vector costs.
        var perVector: GraphMemory
        var heapInUseBytes: Int, heapFreeBytes: Int, sqliteBytes: Int, modelMappedBytes: Int
        enum CodingKeys: String, CodingKey {
            case graph
            case rssBytes = "rss_bytes", indexBytes = "index_bytes", perVector = "per_vector", heapInUseBytes = "heap_in_use_bytes"
            case heapFreeBytes = "heap_free_bytes", sqliteBytes = "sqlite_bytes", modelMappedBytes = "model_mapped_bytes"
        }
    }
    public struct GraphMemory: Encodable, Sendable {
        var vectors: Double, codes: Double, links: Double, bookkeeping: Double, total: Double
    }
    public struct ServerSection: Encodable, Sendable {
        var version: String, pid: Int32, startedAt: String, uptimeSeconds: Double, dataDirectory: String
        enum CodingKeys: String, CodingKey {
            case version, pid, startedAt = "started_at", uptimeSeconds = "uptime_seconds", dataDirectory = "data_directory"
        }
    }
    public struct Clients: Encodable, Sendable {
        var connected: Int, connectionsTotal: Int
        enum CodingKeys: String, CodingKey { case connected, connectionsTotal = "connections_total" }
    }
    public struct CommandLine: Encodable, Sendable {
        var command: String, calls: Int, errors: Int, usecPerCall: Double
        enum CodingKeys: String, CodingKey { case command, calls, errors, usecPerCall = "usec_per_call" }
    }
    public struct Stats: Encodable, Sendable {
        var calls: Int, errors: Int, slowlogLength: Int
        var commands: [CommandLine]
        var queryCache: QueryCacheStats
        enum CodingKeys: String, CodingKey { case calls, errors, commands, slowlogLength = "slowlog_length", queryCache = "query_cache" }
    }
    public struct QueryCacheStats: Encodable, Sendable { var entries: Int, bytes: Int, hits: Int, misses: Int }
    public struct Persistence: Encodable, Sendable {
        var dataDirectory: String, unsavedOperations: Int64, indexSaveErrors: [String]
        enum CodingKeys: String, CodingKey {
            case dataDirectory = "data_directory", unsavedOperations = "unsaved_operations", indexSaveErrors = "index_save_errors"
        }
    }
    public static let sections = ["server", "clients", "stats", "memory", "persistence", "collections", "model", "replication"]

    var server = "fragrancedb"
    var version = FragranceVersion.current
    var uptimeSeconds: Double
    var serverSection: ServerSection?
    var clients: Clients?
    var stats: Stats?
    var memory: Memory?
    var persistence: Persistence?
    var collections: [CollectionDescription]?
    /// null when no model is configured.
    var model: Nullable<ModelBody>?
    var replication: Replication?
    enum CodingKeys: String, CodingKey {
        case server, version, clients, stats, memory, persistence, collections, model, replication
        case uptimeSeconds = "uptime_seconds", serverSection = "server_info"
    }
}

public struct CollectionList: Encodable, Sendable { var collections: [CollectionSummary] }

// MARK: Records

public struct UpsertReply: Encodable, Sendable { var inserted: Int, updated: Int, records: Int }
/// The ids asked about that are stored, in the order asked.
public struct ExistsReply: Encodable, Sendable { var existing: [String] }
public struct DeleteReply: Encodable, Sendable { var deleted: Int }
public struct CountReply: Encodable, Sendable { var count: Int }

// MARK: Snapshots, reload

public struct SnapshotReply: Encodable, Sendable { var file: String }
public struct RestoreReply: Encodable, Sendable { var restored: String, records: Int }
public struct ReloadReply: Encodable, Sendable { var reloaded: String }
public struct DropReply: Encodable, Sendable { var dropped: String }
