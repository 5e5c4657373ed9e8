import FragranceCore
import Foundation
import HNSW

// Upserts and deletes: checked and normalised first, committed to SQLite (the truth), then
// applied to the graph and the mirror; a failed commit changes nothing.
extension Collection {

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
    /// In a dynamic collection, fields the records bring are added first (only once every
    /// record checks out against the grown schema).
    public func upsert(_ records: [Record]) throws -> WriteResult { try upsert(records, origin: .local) }

    func upsert(_ records: [Record], origin: WriteOrigin) throws -> WriteResult {
        let config = self.config
        var schema = config.schema
        let added = config.dynamic ? try inferredFields(for: records) : []
        schema.fields += added
        let normalised = try records.map { try schema.normalise($0, dimension: config.dimension, requireVector: config.embedder == nil) }
        // A replica's fields come in the primary's config entries; any it still infers are its own.
        if !added.isEmpty { try addInferred(added, origin: { if case .replicated = origin { .copy } else { origin } }()) }
        return try write(normalised, origin: origin)
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

    func write(_ records: [Record], origin: WriteOrigin = .local) throws -> WriteResult {
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
                        let seq = db.sql.lastInsertRowID
                        try db.replication.append(db.sql, origin: origin, collection: config.name, op: .upsert) {
                            Record.jsonList(normalised, includeVectors: true, binaryVectors: true)
                        }
                        return seq
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
    func reloadIndex() throws {
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
    public func delete(_ ids: [String]) throws -> Int { try delete(ids, origin: .local) }

    func delete(_ ids: [String], origin: WriteOrigin) throws -> Int {
        try lock.write {
            try checkOpen()
            let rids = Array(Set(ids.compactMap { ridOfId[$0] })).sorted()
            guard !rids.isEmpty else {
                // A replica logs the primary's entry all the same: its sequence is what it has applied.
                if case .replicated = origin { try db.logOnly(origin: origin, collection: config.name, op: .delete, body: "[]") }
                return 0
            }
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
                    let seq = db.sql.lastInsertRowID
                    try db.replication.append(db.sql, origin: origin, collection: config.name, op: .delete) {
                        "[" + rids.map { JSONWriter.quoted(idOfRid[Int($0)] ?? "") }.joined(separator: ",") + "]"
                    }
                    return seq
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
}
