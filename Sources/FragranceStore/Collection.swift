import Foundation
import HNSW

/// One collection: its SQLite tables (truth), the HNSW graph and the attribute mirror (both
/// rebuilt or caught up from SQLite on open). A failed write changes nothing: the mirror and
/// the id maps change only after the commit, and the graph, which a large write builds while
/// SQLite commits, is read back from the index file and the log if the commit fails.
public final class Collection: @unchecked Sendable {
    /// Fixed at creation but for the schema, which grows (`addFields`, dynamic collections)
    /// under the write lock; read through its own lock so a reader outside the collection's
    /// lock never sees a torn value.
    public var config: CollectionConfig { configLock.withLock { _config } }
    private var _config: CollectionConfig
    private let configLock = NSLock()
    let db: Database   // strong: a collection handle keeps its database open; close() breaks the cycle
    let lock = ReadWriteLock()
    var tables: Tables { Tables(config) }
    var index: HNSWIndex {
        didSet { index.searchesWithCodes = db.options.searchWithCodes }
    }
    var attributes: AttributeIndex
    var ridOfId: [String: UInt32] = [:]
    var idOfRid: [String?] = []
    var nextRid: UInt32 = 0
    /// Last log sequence reflected in `index`, and the one in the index file on disk (set by
    /// a background save too, hence its own lock).
    var appliedSeq: Int64 = 0
    var savedSeq: Int64 {
        get { saveLock.withLock { _savedSeq } }
        set { saveLock.withLock { _savedSeq = newValue } }
    }
    var _savedSeq: Int64 = 0
    let saveLock = NSLock()
    /// The periodic save in flight, if any (see `saveIndexInBackground`).
    let saves = DispatchGroup()
    var lastSaveError: String?
    var isDropped = false
    /// Bumped by every write; cached filter results are valid for one generation.
    var generation: UInt64 = 0
    /// A check to drop the construction codes is scheduled (under the write lock).
    var codeReleasePending = false
    let filterCache = FilterCache()
    public internal(set) var openReport = OpenReport()

    /// How the index came to be at open: loaded, caught up, or rebuilt (and why).
    public struct OpenReport: Sendable, Equatable {
        public enum Source: String, Sendable { case empty, loaded, rebuilt }
        public var source: Source = .empty
        public var replayedOperations = 0
        public var rebuildReason: String?
    }

    init(open config: CollectionConfig, in db: Database, logFloor: Int64) throws {
        _config = config
        self.db = db
        let graph = HNSWIndex(dimension: config.dimension, metric: config.metric, parameters: config.hnsw)
        graph.searchesWithCodes = db.options.searchWithCodes
        index = graph
        attributes = AttributeIndex(schema: config.schema)
        try db.sqlLock.withLock {
            try loadAttributes()
            try openIndex(logFloor: logFloor)
        }
        if openReport.source == .rebuilt || openReport.replayedOperations > 0 {
            try? saveIndex()   // best effort: the next open can load instead of redoing this
        }
        lock.write { scheduleCodeRelease() }
    }

    /// Replaces the config (a grown schema); the caller holds the write lock.
    func setConfig(_ new: CollectionConfig) { configLock.withLock { _config = new } }
}

extension Statement.Row {
    /// Scalar and text attribute columns, in `fields` order from column `first`.
    func readScalars(_ fields: [FieldSchema], from first: Int32, into r: inout Record) {
        for (i, f) in fields.enumerated() {
            let c = first + Int32(i)
            if isNull(c) { continue }
            switch f.type {
            case .int: r.attributes[f.name] = .int(int(c))
            case .bool: r.attributes[f.name] = .bool(int(c) != 0)
            case .float: r.attributes[f.name] = .float(double(c))
            default: r.attributes[f.name] = .string(text(c) ?? "")
            }
        }
    }
}
