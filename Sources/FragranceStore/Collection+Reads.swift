import Foundation
import HNSW

// Reads: counts and filters over the attribute mirror, ids, values, records from SQLite, stats.
extension Collection {

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
        /// The graph's bytes by component (what `indexBytes` bounds from above).
        public var graphMemory: HNSWIndex.MemoryUse
        public var unsavedOperations: Int64
        /// Why the last periodic index save failed, until one succeeds (the records are safe in
        /// SQLite either way; the log keeps growing and the next open replays it).
        public var indexSaveError: String?
    }

    public var stats: Stats {
        lock.read {
            Stats(records: attributes.liveCount, graphNodes: index.count, tombstones: index.deletedCount,
                  // savedSeq -1 means no usable file (new or rebuilt): every logged operation is unsaved.
                  indexBytes: index.memoryBytes, graphMemory: index.memoryUse, unsavedOperations: appliedSeq - max(savedSeq, 0),
                  indexSaveError: saveLock.withLock { lastSaveError })
        }
    }
}
