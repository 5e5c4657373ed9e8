import FragranceCore
import Foundation

/// Where this database stands in replication, as INFO and the primary's REPLSTATE report it.
public struct ReplicationPosition: Sendable, Equatable {
    /// The line of sequences this database's log belongs to.
    public var history: String
    /// The line a promoted replica continued, and the last sequence it shares with it.
    public var previousHistory: String?
    public var previousUntil: Int64
    /// The last sequence written or applied.
    public var last: Int64
    /// Entries at or below it are no longer kept.
    public var floor: Int64
    /// host:port while a replica (kept across restarts).
    public var primary: String?
    /// A full sync began and has not finished: the records are not a consistent copy.
    public var syncing: Bool
}

// The store's side of replication: the position, reading the log (primary), applying its
// entries and copying collections page by page (replica), promotion. The service and the
// follower (FragranceServer) drive them; nothing here opens a socket.
extension Database {
    public func replicationPosition() throws -> ReplicationPosition {
        try sqlLock.withLock {
            let r = replication
            return ReplicationPosition(history: try r.state(sql, "history") ?? "", previousHistory: try r.state(sql, "previous_history"),
                                       previousUntil: Int64(try r.state(sql, "previous_until") ?? "0") ?? 0,
                                       last: try r.last(sql), floor: try r.floor(sql), primary: try r.state(sql, "primary"),
                                       syncing: try r.state(sql, "sync") != nil)
        }
    }

    /// Entries after `seq` of `history`, waiting up to `wait` for one when there are none yet.
    /// RESYNC when `history` is not this log's (unless it is the line this one continued, up
    /// to where they part) or when the entries after `seq` were trimmed.
    public func replicationEntries(history: String, after seq: Int64, maxCount: Int = 1000, maxBytes: Int = 8 << 20,
                                   wait: TimeInterval = 0) throws -> [ReplicationEntry] {
        let deadline = Date().addingTimeInterval(wait)
        while true {
            let since = replication.appendCount
            let entries: [ReplicationEntry] = try sqlLock.withLock {
                let p = (history: try replication.state(sql, "history") ?? "", previous: try replication.state(sql, "previous_history"),
                         until: Int64(try replication.state(sql, "previous_until") ?? "0") ?? 0)
                guard history == p.history || (history == p.previous && seq <= p.until) else {
                    throw StoreError(.resync, "history \(history) is not this server's (\(p.history)): copy everything again")
                }
                let last = try replication.last(sql)
                guard seq <= last else {
                    throw StoreError(.resync, "sequence \(seq) is ahead of this server's last (\(last)): the replica has writes this server never had")
                }
                let floor = try replication.floor(sql)
                guard seq >= floor else {
                    throw StoreError(.resync, "entries after \(seq) are no longer kept (the log starts after \(floor)): copy everything again")
                }
                return try replication.entries(sql, after: seq, maxCount: max(1, maxCount), maxBytes: maxBytes)
            }
            if !entries.isEmpty || Date() >= deadline { return entries }
            replication.wait(since: since, until: deadline)
        }
    }

    /// Applies one of the primary's entries with its sequence, in order: each lands in one
    /// transaction with its log row, so the last logged sequence is exactly what was applied.
    /// An entry at or below that is skipped (never applied twice).
    public func apply(_ e: ReplicationEntry) throws {
        let last = try sqlLock.withLock { try replication.last(sql) }
        guard e.seq > last else { return }
        let origin = WriteOrigin.replicated(e.seq)
        func config() throws -> CollectionConfig {
            do { return try JSONDecoder().decode(CollectionConfig.self, from: Data(e.body.utf8)) }
            catch { throw StoreError(.corrupt, "entry \(e.seq): config of '\(e.collection)' does not decode: \(error)") }
        }
        let existing = registryLock.withLock { collections[e.collection] }
        switch e.op {
        case .create:
            let c = try config()
            if let existing, existing.config != c { try dropCollection(e.collection, origin: .copy) }
            if let existing, existing.config == c {
                // A full sync's copy already holds it (the copy ran while the primary took writes).
                try logOnly(origin: origin, collection: e.collection, op: e.op, body: e.body)
            } else {
                try createCollection(c, origin: origin)
            }
        case .drop:
            if existing != nil { try dropCollection(e.collection, origin: origin) } else {
                try logOnly(origin: origin, collection: e.collection, op: e.op, body: e.body)
            }
        case .config:
            let c = try config()
            guard let existing else { throw StoreError(.corrupt, "entry \(e.seq): config of '\(e.collection)', which this replica lacks") }
            let fresh = c.schema.fields.filter { existing.config.schema.field($0.name) == nil }
            if fresh.isEmpty && c.dynamic == existing.config.dynamic {
                try logOnly(origin: origin, collection: e.collection, op: e.op, body: e.body)
            } else {
                _ = try existing.alter(adding: fresh, dynamic: c.dynamic, origin: origin)
            }
        case .upsert:
            guard let existing else { throw StoreError(.corrupt, "entry \(e.seq): records for '\(e.collection)', which this replica lacks") }
            let records = try Record.decodeList(json: e.body)
            if records.isEmpty { try logOnly(origin: origin, collection: e.collection, op: e.op, body: e.body) } else {
                _ = try existing.upsert(records, origin: origin)
            }
        case .delete:
            guard let existing else { throw StoreError(.corrupt, "entry \(e.seq): deletes in '\(e.collection)', which this replica lacks") }
            guard let ids = try? JSONSerialization.jsonObject(with: Data(e.body.utf8)) as? [String] else {
                throw StoreError(.corrupt, "entry \(e.seq): delete body is not a list of ids")
            }
            _ = try existing.delete(ids, origin: origin)
        }
    }

    /// Logs an entry that changes nothing here (a replica keeps the primary's sequence).
    func logOnly(origin: WriteOrigin, collection: String, op: ReplicationEntry.Op, body: String) throws {
        try sqlLock.withLock {
            try sql.transaction { try replication.append(sql, origin: origin, collection: collection, op: op) { body } }
        }
    }

    // MARK: Full sync

    /// A replica's first step of a full sync: every collection goes, and the database is
    /// marked unfinished until `finishFullSync` (a replica restarted meanwhile starts again).
    public func beginFullSync() throws {
        try sqlLock.withLock { try replication.setState(sql, "sync", "copying") }
        for name in collectionNames { try dropCollection(name, origin: .copy) }
    }

    /// A collection of the primary's, created for the copy (not logged).
    public func createCopy(_ config: CollectionConfig) throws {
        if collectionNames.contains(config.name) { try dropCollection(config.name, origin: .copy) }
        try createCollection(config, origin: .copy)
    }

    /// Records from a page of the primary's collection, stored as they are (not logged).
    public func copyRecords(_ records: [Record], into name: String) throws {
        _ = try collection(name).upsert(records, origin: .copy)
    }

    /// The copy stands for `history` up to `seq`: the log starts after it, and following the
    /// primary from `seq` brings the copy (taken while the primary took writes) to a
    /// consistent state, as every entry after `seq` is applied again over it.
    public func finishFullSync(history: String, seq: Int64) throws {
        try sqlLock.withLock {
            try sql.transaction {
                try replication.reset(sql, to: seq)
                try replication.setState(sql, "history", history)
                try replication.setState(sql, "previous_history", nil)
                try replication.setState(sql, "previous_until", nil)
                try replication.setState(sql, "sync", nil)
            }
        }
    }

    /// Remembers (or forgets, nil) the primary this database follows.
    public func setPrimary(_ hostPort: String?) throws {
        try sqlLock.withLock { try replication.setState(sql, "primary", hostPort) }
    }

    /// A replica becomes a primary: a new history that continues the old one up to here, so
    /// other replicas of the old primary at or below this sequence can follow it without a
    /// full copy (Redis's replid2), while anything the old primary wrote after it cannot.
    public func promote() throws {
        try sqlLock.withLock {
            try sql.transaction {
                let old = try replication.state(sql, "history") ?? ""
                try replication.setState(sql, "previous_history", old)
                try replication.setState(sql, "previous_until", String(try replication.last(sql)))
                try replication.setState(sql, "history", ReplicationLog.newHistory())
                try replication.setState(sql, "primary", nil)
            }
        }
    }
}

extension Collection {
    /// Up to `limit` records with their vectors whose row id is above `afterRid`, in row-id
    /// order, and the row id to continue after (nil at the end): a full sync's page.
    public func page(afterRid: Int64, limit: Int) throws -> (records: [Record], next: Int64?) {
        let (ids, lastRid): ([String], Int64?) = try lock.read {
            try checkOpen()
            var ids: [String] = [], last: Int64?
            try db.sqlLock.withLock {
                try db.sql.statement("SELECT rid, id FROM \(tables.records) WHERE rid > ? ORDER BY rid LIMIT ?")
                    .forEachRow(.int(afterRid), .int(Int64(max(1, limit)))) { row in
                        last = row.int(0)
                        ids.append(row.text(1) ?? "")
                    }
            }
            return (ids, last)
        }
        let records = try self.records(ids, includeVector: true).compactMap { $0 }
        return (records, ids.count < max(1, limit) ? nil : lastRid)
    }

    /// Every record in id order with its vector, `batch` at a time (digests compare replicas).
    public func forEachRecordById(batch: Int = 512, _ body: ([Record]) throws -> Void) throws {
        var after: String?
        while true {
            let ids: [String] = try lock.read {
                try checkOpen()
                var ids: [String] = []
                try db.sqlLock.withLock {
                    let stmt = after == nil
                        ? try db.sql.statement("SELECT id FROM \(tables.records) ORDER BY id LIMIT ?")
                        : try db.sql.statement("SELECT id FROM \(tables.records) WHERE id > ? ORDER BY id LIMIT ?")
                    let values: [Statement.Value] = after.map { [.text($0), .int(Int64(batch))] } ?? [.int(Int64(batch))]
                    try stmt.forEachRow(values: values) { ids.append($0.text(0) ?? "") }
                }
                return ids
            }
            guard !ids.isEmpty else { return }
            try body(try records(ids, includeVector: true).compactMap { $0 })
            after = ids.last
            if ids.count < batch { return }
        }
    }
}
