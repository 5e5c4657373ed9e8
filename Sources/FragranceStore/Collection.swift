import Foundation
import HNSW

/// One collection: its SQLite tables (truth), the HNSW graph and the attribute mirror (both
/// rebuilt or caught up from SQLite on open). A failed write changes nothing: the mirror and
/// the id maps change only after the commit, and the graph, which a large write builds while
/// SQLite commits, is read back from the index file and the log if the commit fails.
public final class Collection: @unchecked Sendable {
    public let config: CollectionConfig
    let db: Database   // strong: a collection handle keeps its database open; close() breaks the cycle
    let lock = ReadWriteLock()
    let tables: Tables
    var index: HNSWIndex
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
    private var _savedSeq: Int64 = 0
    private let saveLock = NSLock()
    /// The periodic save in flight, if any (see `saveIndexInBackground`).
    private let saves = DispatchGroup()
    private var lastSaveError: String?
    var isDropped = false
    /// Bumped by every write; cached filter results are valid for one generation.
    var generation: UInt64 = 0
    let filterCache = FilterCache()
    public private(set) var openReport = OpenReport()

    /// How the index came to be at open: loaded, caught up, or rebuilt (and why).
    public struct OpenReport: Sendable, Equatable {
        public enum Source: String, Sendable { case empty, loaded, rebuilt }
        public var source: Source = .empty
        public var replayedOperations = 0
        public var rebuildReason: String?
    }

    init(open config: CollectionConfig, in db: Database, logFloor: Int64) throws {
        self.config = config
        self.db = db
        tables = Tables(config)
        index = HNSWIndex(dimension: config.dimension, metric: config.metric, parameters: config.hnsw)
        attributes = AttributeIndex(schema: config.schema)
        try db.sqlLock.withLock {
            try migrateKeywordIndex()
            try loadAttributes()
            try openIndex(logFloor: logFloor)
        }
        if openReport.source == .rebuilt || openReport.replayedOperations > 0 {
            try? saveIndex()   // best effort: the next open can load instead of redoing this
        }
    }

    // MARK: - Open

    private func loadAttributes() throws {
        let sql = db.sql
        let scalars = tables.scalarFields.filter { $0.type != .text }
        let cols = scalars.map { ", " + Tables.column($0.name) }.joined()
        var records: [UInt32: Record] = [:]
        try sql.statement("SELECT rid, id\(cols) FROM \(tables.records)").forEachRow { row in
            let rid = UInt32(row.int(0))
            var r = Record(id: row.text(1) ?? "")
            row.readScalars(scalars, from: 2, into: &r)
            records[rid] = r
        }
        for f in tables.setFields {
            let tiered = f.type == .tieredSet
            try sql.statement("SELECT rid, value\(tiered ? ", tier" : "") FROM \(tables.set(f.name)) ORDER BY rid, ord").forEachRow { row in
                let rid = UInt32(row.int(0))
                let value = row.text(1) ?? ""
                if tiered {
                    let tier = row.text(2) ?? ""
                    if case .tiered(var t) = records[rid]?.attributes[f.name] {
                        t[tier, default: []].append(value)
                        records[rid]?.attributes[f.name] = .tiered(t)
                    } else {
                        records[rid]?.attributes[f.name] = .tiered([tier: [value]])
                    }
                } else if case .strings(var list) = records[rid]?.attributes[f.name] {
                    list.append(value)
                    records[rid]?.attributes[f.name] = .strings(list)
                } else {
                    records[rid]?.attributes[f.name] = .strings([value])
                }
            }
        }
        for (rid, r) in records.sorted(by: { $0.key < $1.key }) {
            attributes.set(rid, r)
            remember(rid, r.id)
        }
    }

    private func remember(_ rid: UInt32, _ id: String) {
        ridOfId[id] = rid
        if Int(rid) >= idOfRid.count { idOfRid += Array(repeating: nil, count: Int(rid) + 1 - idOfRid.count) }
        idOfRid[Int(rid)] = id
        nextRid = max(nextRid, rid + 1)
    }

    private func forget(_ rid: UInt32) {
        if let id = idOfRid[Int(rid)] { ridOfId[id] = nil }
        idOfRid[Int(rid)] = nil
    }

    private func currentSeq() throws -> Int64 {
        var seq: Int64 = 0
        try db.sql.statement("SELECT seq FROM sqlite_sequence WHERE name = ?").forEachRow(.text(tables.logName)) { seq = $0.int(0) }
        return seq
    }

    private func openIndex(logFloor: Int64) throws {
        let url = db.indexURL(config.name)
        let head = try currentSeq()
        appliedSeq = head
        do {
            let loaded = try IndexFile.read(url)
            let l = loaded.index
            guard l.dimension == config.dimension, l.metric == config.metric, l.parameters == config.hnsw else {
                throw IndexFile.Failure.torn("index file was built with other parameters")
            }
            guard loaded.appliedSeq >= logFloor else {
                throw IndexFile.Failure.torn("index file is older (seq \(loaded.appliedSeq)) than the trimmed log (\(logFloor))")
            }
            guard loaded.appliedSeq <= head else {
                throw IndexFile.Failure.torn("index file is ahead of the database (seq \(loaded.appliedSeq) > \(head))")
            }
            index = l
            savedSeq = loaded.appliedSeq
            openReport.source = .loaded
            openReport.replayedOperations = try replayLog(after: loaded.appliedSeq)
            guard index.liveCount == attributes.liveCount else {
                throw IndexFile.Failure.torn("index holds \(index.liveCount) vectors, database \(attributes.liveCount) records")
            }
        } catch let failure as IndexFile.Failure {
            if case .missing = failure, attributes.liveCount == 0 {
                openReport = OpenReport(source: .empty)
            } else {
                openReport = OpenReport(source: .rebuilt, rebuildReason: failure.description)
                try rebuildIndex()
            }
            savedSeq = -1   // force a save at the next checkpoint
        }
    }

    /// Applies logged operations newer than `seq` to the loaded index, in order of record.
    private func replayLog(after seq: Int64) throws -> Int {
        var touched = Set<UInt32>()
        var n = 0
        try db.sql.statement("SELECT rid FROM \(tables.log) WHERE seq > ?").forEachRow(.int(seq)) {
            touched.insert(UInt32($0.int(0)))
            n += 1
        }
        for rid in touched.sorted() {
            if let v = try storedVector(rid) { index.insert(v, label: rid) } else { index.markDeleted(label: rid) }
        }
        return n
    }

    private func storedVector(_ rid: UInt32) throws -> [Float]? {
        var v: [Float]?
        try db.sql.statement("SELECT vector FROM \(tables.records) WHERE rid = ?").forEachRow(.int(Int64(rid))) { v = $0.floats(0) }
        return v
    }

    private func rebuildIndex() throws {
        let fresh = HNSWIndex(dimension: config.dimension, metric: config.metric, parameters: config.hnsw)
        try db.sql.statement("SELECT rid, vector FROM \(tables.records) ORDER BY rid").forEachRow { row in
            if let v = row.floats(1), v.count == config.dimension { fresh.insert(v, label: UInt32(row.int(0))) }
        }
        index = fresh
    }

    // MARK: - Writes

    public struct WriteResult: Sendable, Equatable {
        public var inserted = 0
        public var updated = 0
        public var deleted = 0
        public init(inserted: Int = 0, updated: Int = 0, deleted: Int = 0) {
            self.inserted = inserted
            self.updated = updated
            self.deleted = deleted
        }
    }

    /// Threads that search the graph for a batch of new records (the write lock is held anyway).
    static let graphThreads = min(ProcessInfo.processInfo.activeProcessorCount, 8)

    /// Inserts or replaces records by id, all in one transaction: every record is validated
    /// first, and nothing is stored unless all are.
    @discardableResult
    public func upsert(_ records: [Record]) throws -> WriteResult {
        try write(try records.map {
            try config.schema.normalise($0, dimension: config.dimension, requireVector: config.embedder == nil)
        })
    }

    /// `upsert` for records that already came out of `schema.normalised(_:dimension:)` (the
    /// importer checks each row that way so that a bad one rejects only its row): when that is
    /// this collection's schema, normalising them again would only repeat the work.
    @discardableResult
    package func upsert(_ records: [Record], normalisedWith schema: CollectionSchema) throws -> WriteResult {
        guard schema == config.schema else { return try upsert(records) }
        for r in records { try CollectionSchema.checkVector(r, dimension: config.dimension, requireVector: config.embedder == nil) }
        return try write(records)
    }

    private func write(_ records: [Record]) throws -> WriteResult {
        var normalised = records
        // Embed outside the lock: it is the slow part of a write.
        let missing = normalised.indices.filter { normalised[$0].vector == nil }
        if !missing.isEmpty {
            let fields = config.textFieldsToEmbed
            let texts = try missing.map { i -> String in
                let parts = fields.compactMap { f -> String? in
                    if case .string(let s) = normalised[i].attributes[f], !s.isEmpty { return s } else { return nil }
                }
                guard !parts.isEmpty else {
                    throw StoreError(.badRecord, "record '\(normalised[i].id)': no vector and no text in \(fields.joined(separator: ", ")) to embed")
                }
                return parts.joined(separator: ". ")
            }
            for (i, v) in zip(missing, try embed(texts, forStorage: true)) { normalised[i].vector = v }
        }
        for r in normalised {
            if let p = config.metric.problem(with: r.vector!, isQuery: false) {
                throw StoreError(.badRecord, "record '\(r.id)': vector \(p)")
            }
        }
        return try lock.write {
            try checkOpen()
            var result = WriteResult()
            var assigned: [(rid: UInt32, record: Record, replacing: Bool)] = []
            var batchRids: [String: UInt32] = [:]
            var next = nextRid
            for r in normalised {
                let existing = batchRids[r.id] ?? ridOfId[r.id]
                let rid = existing ?? next
                if existing == nil { next += 1; result.inserted += 1 } else { result.updated += 1 }
                batchRids[r.id] = rid
                assigned.append((rid, r, existing != nil))
            }
            // The graph takes the batch while this thread writes it to SQLite: the two are the
            // bulk of a write, and the graph alone cannot use both cores all the time. Nothing
            // else sees the graph meanwhile (the write lock is held); should the transaction
            // fail, the graph is read back from disk as it stood, and nothing else was touched.
            let overlap = assigned.count >= Self.overlapMinimum
            let graph = DispatchGroup()
            let target = index
            let vectors = assigned.map { ($0.record.vector!, $0.rid) }
            if overlap {
                DispatchQueue.global(qos: .userInitiated).async(group: graph) {
                    target.insert(batch: vectors, threads: Self.graphThreads)
                }
            }
            let lastSeq: Int64
            do {
                lastSeq = try db.sqlLock.withLock {
                    try db.sql.transaction {
                        let writer = try RowWriter(db.sql, tables)
                        let logInsert = try db.sql.statement("INSERT INTO \(tables.log)(rid, op) VALUES(?, 1)")
                        for a in assigned {
                            try writer.write(a.rid, a.record, replacing: a.replacing)
                            try logInsert.run(.int(Int64(a.rid)))
                        }
                        return db.sql.lastInsertRowID
                    }
                }
            } catch {
                guard overlap else { throw error }
                graph.wait()
                do { try reloadIndex() } catch let reload {
                    // Never search a graph holding records that are not stored: an empty one
                    // until the next open rebuilds it (its size no longer matches the records).
                    index = HNSWIndex(dimension: config.dimension, metric: config.metric, parameters: config.hnsw)
                    throw StoreError(.io, "write to '\(config.name)' failed (\(error)), and its graph could not be read back (\(reload)): "
                                     + "searches return nothing until the database is reopened")
                }
                throw error
            }
            for a in assigned {
                attributes.set(a.rid, a.record)
                remember(a.rid, a.record.id)
            }
            if overlap { graph.wait() } else { index.insert(batch: vectors, threads: Self.graphThreads) }
            if !assigned.isEmpty { appliedSeq = lastSeq }
            generation &+= 1
            try maintain()
            return result
        }
    }

    /// Writes of at least this many records build the graph while SQLite commits them.
    static let overlapMinimum = 16

    /// The graph as the index file and the log have it (after a write whose graph work ran
    /// ahead of a transaction that then failed).
    private func reloadIndex() throws {
        saves.wait()   // the file and the log floor must not move while they are read
        try db.sqlLock.withLock {
            var floor: Int64 = 0
            try db.sql.statement("SELECT log_floor FROM collections WHERE name = ?").forEachRow(.text(config.name)) { floor = $0.int(0) }
            let report = openReport
            index = HNSWIndex(dimension: config.dimension, metric: config.metric, parameters: config.hnsw)
            try openIndex(logFloor: floor)
            openReport = report
        }
    }

    /// Deletes records by id; unknown ids are skipped. Returns how many were deleted.
    @discardableResult
    public func delete(_ ids: [String]) throws -> Int {
        try lock.write {
            try checkOpen()
            let rids = Array(Set(ids.compactMap { ridOfId[$0] })).sorted()
            guard !rids.isEmpty else { return 0 }
            let lastSeq: Int64 = try db.sqlLock.withLock {
                try db.sql.transaction {
                    for rid in rids {
                        try db.sql.statement("DELETE FROM \(tables.records) WHERE rid = ?").run(.int(Int64(rid)))
                        try deleteKeywordRow(rid)
                        for f in tables.setFields {
                            try db.sql.statement("DELETE FROM \(tables.set(f.name)) WHERE rid = ?").run(.int(Int64(rid)))
                        }
                        try db.sql.statement("INSERT INTO \(tables.log)(rid, op) VALUES(?, 2)").run(.int(Int64(rid)))
                    }
                    return db.sql.lastInsertRowID
                }
            }
            for rid in rids {
                attributes.remove(rid)
                index.markDeleted(label: rid)
                forget(rid)
            }
            appliedSeq = lastSeq
            generation &+= 1
            try maintain()
            return rids.count
        }
    }

    /// Compacts the graph when tombstones pass the threshold, saves the index file when the
    /// log has grown enough. Called with the write lock held.
    private func maintain() throws {
        let o = db.options
        if index.deletedCount >= o.compactionMinDeleted && Double(index.deletedCount) > o.compactionRatio * Double(index.count) {
            index = index.compacted()
            try saveIndex()
        } else if appliedSeq - savedSeq >= Int64(o.checkpointEvery) {
            saveIndexInBackground()
        }
    }

    /// Writes the index file and trims the log it covers.
    public func checkpoint() throws {
        try lock.write {
            saves.wait()
            guard !isDropped, appliedSeq != savedSeq else { return }
            try saveIndex()
        }
    }

    /// Waits for a periodic save in flight. Called with the write lock held (a save never
    /// takes it), e.g. before the collection's files are dropped.
    func waitForSave() { saves.wait() }

    /// Rebuilds the graph from live vectors now, dropping every tombstone.
    public func compact() throws {
        try lock.write {
            try checkOpen()
            index = index.compacted()
            try saveIndex()
        }
    }

    /// Saves now. Called with the write lock held.
    private func saveIndex() throws {
        saves.wait()   // one writer of the file at a time
        try persist(index.serialized(), through: appliedSeq)
    }

    /// The periodic save: the graph is copied here, under the write lock, and written, fsynced
    /// and the log trimmed on another thread, so searches and writes do not wait on the disk
    /// (each save held them up 0.15-0.3 s at 20-40k perfumes). Skipped while one is in flight;
    /// a failed one leaves the old file and the whole log, and the next write tries again.
    private func saveIndexInBackground() {
        // Saves start only under the write lock, so none can begin between this test and enter().
        guard saves.wait(timeout: .now()) == .success else { return }
        let image = index.serialized(), seq = appliedSeq
        saves.enter()
        DispatchQueue.global(qos: .utility).async { [self] in
            defer { saves.leave() }
            do { try persist(image, through: seq) } catch {
                saveLock.withLock { lastSaveError = "\(error)" }
            }
        }
    }

    /// The file first, then the log it makes redundant: a crash between the two replays a few
    /// operations the file already holds, which is harmless.
    private func persist(_ image: [UInt8], through seq: Int64) throws {
        try IndexFile.write(image: image, appliedSeq: seq, to: db.indexURL(config.name))
        try db.sqlLock.withLock {
            try db.sql.transaction {
                try db.sql.statement("DELETE FROM \(tables.log) WHERE seq <= ?").run(.int(seq))
                try db.sql.statement("UPDATE collections SET log_floor = ? WHERE name = ?").run(.int(seq), .text(config.name))
            }
        }
        saveLock.withLock {
            _savedSeq = seq
            lastSaveError = nil
        }
    }

    /// Fills a new, empty collection from a snapshot, keeping row ids so `graph` fits as is.
    func load(rows: [(UInt32, Record)], graph: HNSWIndex) throws {
        try lock.write {
            try db.sqlLock.withLock {
                try db.sql.transaction {
                    let writer = try RowWriter(db.sql, tables)
                    for (rid, r) in rows { try writer.write(rid, r, replacing: false) }
                }
            }
            for (rid, r) in rows {
                attributes.set(rid, r)
                remember(rid, r.id)
            }
            index = graph
            generation &+= 1
            try saveIndex()
        }
    }

    /// Vectors for texts from the collection's embedder (the shared, lazily loaded model):
    /// records at the registry's storage precision, queries in float32.
    func embed(_ texts: [String], forStorage: Bool = false) throws -> [[Float]] {
        guard let name = config.embedder else {
            throw StoreError(.badRequest, "collection '\(config.name)' has no embedder: send vectors, not text")
        }
        guard let models = db.options.models else {
            throw StoreError(.modelUnavailable, "collection '\(config.name)' embeds with \(name), but no model directory is configured")
        }
        do {
            return try models.embed(texts, precision: forStorage ? models.storagePrecision : .float32)
        } catch {
            throw StoreError(.modelUnavailable, "\(error)")
        }
    }

    private func checkOpen() throws {
        if isDropped { throw StoreError(.notFound, "collection '\(config.name)' was dropped") }
    }

    // MARK: - Reads

    public var count: Int { lock.read { attributes.liveCount } }

    /// Records matching a filter (all records without one).
    public func count(filter: String?) throws -> Int {
        guard let filter else { return count }
        return try lock.read { try evaluate(filter).allowed.count }
    }

    /// The records a filter allows, from the cache when this generation already evaluated it.
    /// Called with the read lock held.
    func evaluate(_ filter: String, cached: Bool = true) throws -> AttributeIndex.Evaluation {
        guard cached else { return try attributes.evaluate(try FilterParser.parse(filter)) }
        if let hit = filterCache.lookup(filter, generation: generation) { return hit }
        let e = try attributes.evaluate(try FilterParser.parse(filter))
        filterCache.store(filter, generation: generation, e)
        return e
    }

    /// Ids of records matching a filter, in insertion order, at most `limit`.
    public func ids(matching filter: String, limit: Int = .max) throws -> [String] {
        try lock.read {
            var out: [String] = []
            let allowed = try evaluate(filter).allowed
            for rid in allowed.members {
                if out.count >= limit { break }
                if let id = idOfRid[rid] { out.append(id) }
            }
            return out
        }
    }

    /// Distinct values of a string or set field (case-folded) and how many records hold each,
    /// most held first.
    public func values(of field: String) -> [(value: String, count: Int)] {
        lock.read { attributes.values(of: field) }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.map { (value: $0.0, count: $0.1) }
    }

    /// Bumped by every write: caches derived from the records compare it.
    public var version: UInt64 { lock.read { generation } }

    /// Which of these ids are stored (resumable imports skip them).
    public func existing(_ ids: [String]) -> Set<String> {
        lock.read { Set(ids.filter { ridOfId[$0] != nil }) }
    }

    public func get(_ id: String) throws -> Record? {
        try lock.read {
            try checkOpen()
            guard let rid = ridOfId[id] else { return nil }
            return try db.sqlLock.withLock { try readRecordUnlocked(rid) }
        }
    }

    /// Several records at once (search results): one query per table instead of one per record
    /// and table. Missing ids give nil; vectors only when asked for.
    public func records(_ ids: [String], includeVector: Bool = false) throws -> [Record?] {
        try lock.read {
            try checkOpen()
            let rids = ids.map { ridOfId[$0] }
            let wanted = rids.compactMap { $0 }
            guard !wanted.isEmpty else { return ids.map { _ in nil } }
            let list = Statement.Value.text("[" + wanted.map(String.init).joined(separator: ",") + "]")
            let inList = "rid IN (SELECT value FROM json_each(?))"
            var byRid: [UInt32: Record] = [:]
            try db.sqlLock.withLock {
                let sql = db.sql
                let fields = tables.scalarFields
                let cols = fields.map { ", " + Tables.column($0.name) }.joined()
                try sql.statement("SELECT rid, id, \(includeVector ? "vector" : "NULL")\(cols) FROM \(tables.records) WHERE \(inList)")
                    .forEachRow(values: [list]) { row in
                        var r = Record(id: row.text(1) ?? "", vector: includeVector ? row.floats(2) : nil)
                        row.readScalars(fields, from: 3, into: &r)
                        byRid[UInt32(row.int(0))] = r
                    }
                for f in tables.setFields {
                    if f.type == .tieredSet {
                        var tiers: [UInt32: [String: [String]]] = [:]
                        try sql.statement("SELECT rid, value, tier FROM \(tables.set(f.name)) WHERE \(inList) ORDER BY rid, tier, ord")
                            .forEachRow(values: [list]) { tiers[UInt32($0.int(0)), default: [:]][$0.text(2) ?? "", default: []].append($0.text(1) ?? "") }
                        for (rid, t) in tiers { byRid[rid]?.attributes[f.name] = .tiered(t) }
                    } else {
                        var lists: [UInt32: [String]] = [:]
                        try sql.statement("SELECT rid, value FROM \(tables.set(f.name)) WHERE \(inList) ORDER BY rid, ord")
                            .forEachRow(values: [list]) { lists[UInt32($0.int(0)), default: []].append($0.text(1) ?? "") }
                        for (rid, l) in lists { byRid[rid]?.attributes[f.name] = .strings(l) }
                    }
                }
            }
            return rids.map { $0.flatMap { byRid[$0] } }
        }
    }

    /// Reads a record from SQLite; the caller holds `db.sqlLock`.
    func readRecordUnlocked(_ rid: UInt32) throws -> Record? {
        let sql = db.sql
        let fields = tables.scalarFields
        let cols = fields.map { ", " + Tables.column($0.name) }.joined()
        var record: Record?
        try sql.statement("SELECT id, vector\(cols) FROM \(tables.records) WHERE rid = ?").forEachRow(.int(Int64(rid))) { row in
            var r = Record(id: row.text(0) ?? "", vector: row.floats(1))
            row.readScalars(fields, from: 2, into: &r)
            record = r
        }
        guard var r = record else { return nil }
        for f in tables.setFields {
            if f.type == .tieredSet {
                var tiers: [String: [String]] = [:]
                try sql.statement("SELECT value, tier FROM \(tables.set(f.name)) WHERE rid = ? ORDER BY tier, ord").forEachRow(.int(Int64(rid))) {
                    tiers[$0.text(1) ?? "", default: []].append($0.text(0) ?? "")
                }
                if !tiers.isEmpty { r.attributes[f.name] = .tiered(tiers) }
            } else {
                var list: [String] = []
                try sql.statement("SELECT value FROM \(tables.set(f.name)) WHERE rid = ? ORDER BY ord").forEachRow(.int(Int64(rid))) {
                    list.append($0.text(0) ?? "")
                }
                if !list.isEmpty { r.attributes[f.name] = .strings(list) }
            }
        }
        return r
    }

    /// Lookups of filter evaluations since open (a repeated filter is a hit until the next write).
    public var filterCacheStats: (hits: Int, misses: Int) { filterCache.counts }

    public struct Stats: Sendable {
        public var records: Int
        public var graphNodes: Int
        public var tombstones: Int
        public var indexBytes: Int
        public var unsavedOperations: Int64
        /// Why the last periodic index save failed, until one succeeds (the records are safe in
        /// SQLite either way; the log keeps growing and the next open replays it).
        public var indexSaveError: String?
    }

    public var stats: Stats {
        lock.read {
            Stats(records: attributes.liveCount, graphNodes: index.count, tombstones: index.deletedCount,
                  // savedSeq -1 means no usable file (new or rebuilt): every logged operation is unsaved.
                  indexBytes: index.memoryBytes, unsavedOperations: appliedSeq - max(savedSeq, 0),
                  indexSaveError: saveLock.withLock { lastSaveError })
        }
    }
}

extension Statement.Row {
    /// Scalar and text attribute columns, in `fields` order from column `first`.
    func readScalars(_ fields: [FieldSchema], from first: Int32, into r: inout Record) {
        for (i, f) in fields.enumerated() {
            let c = first + Int32(i)
            if isNull(c) { continue }
            switch f.type {
            case .int: r.attributes[f.name] = .int(int(c))
            case .float: r.attributes[f.name] = .float(double(c))
            default: r.attributes[f.name] = .string(text(c) ?? "")
            }
        }
    }
}
