import Foundation

/// The database's log of operations, in commit order, for replicas to follow (Redis's
/// backlog, PostgreSQL's WAL shipping). Each entry is written in the transaction of the
/// change it describes, so the log and the records can never disagree, and a replica that
/// writes the primary's entry with the primary's sequence in its own transaction knows
/// exactly what it has applied: the last sequence it logged.
///
/// Layout (catalog.sqlite):
/// - `replication_log(seq, collection, op, body, at)`: bodies are JSON: a collection's config
///   (create, config), the records with "b64:" vectors (upsert), the ids (delete), null (drop).
/// - `replication_state(key, value)`: `history` (a random id for this line of sequences),
///   `previous_history`/`previous_until` (the line a promoted replica continued, and how far
///   it shares it), `floor` (sequences at or below it are no longer in the log), `primary`
///   (host:port while a replica), `sync` (set while a full sync is unfinished).
///
/// The log keeps about `backlogBytes` of entries; older ones are trimmed in the transaction
/// that goes over, and a replica behind the floor must copy everything again.
public struct ReplicationEntry: Sendable, Equatable {
    public enum Op: String, Sendable, CaseIterable { case create, drop, config, upsert, delete }
    public var seq: Int64
    public var collection: String
    public var op: Op
    /// JSON text (see above).
    public var body: String
    /// Unix seconds of the commit on the primary.
    public var at: Double

    public init(seq: Int64, collection: String, op: Op, body: String, at: Double) {
        (self.seq, self.collection, self.op, self.body, self.at) = (seq, collection, op, body, at)
    }
}

/// Where a write comes from: this server's clients (logged with the next sequence), the
/// primary (logged with the primary's sequence), or a full sync's copy (not logged: the
/// copy is the state at the sequence the sync ends with).
enum WriteOrigin: Sendable {
    case local
    case replicated(Int64)
    case copy
}

final class ReplicationLog: @unchecked Sendable {
    static let createStatements = [
        // body is JSON text stored as a BLOB and its byte count kept in size: trimming and the
        // backlog's total read sizes only, never the bodies (length() of TEXT reads it all).
        "CREATE TABLE IF NOT EXISTS replication_log(seq INTEGER PRIMARY KEY, collection TEXT NOT NULL, op TEXT NOT NULL, body BLOB NOT NULL, size INTEGER NOT NULL, at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS replication_state(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ]

    let backlogBytes: Int
    /// Bytes of bodies in the log, approximately (a rolled-back append still counts): only
    /// for deciding when to trim.
    private var bytes = 0
    /// Signalled after every append, for followers waiting on new entries.
    let appended = NSCondition()
    private var appends: UInt64 = 0

    init(backlogBytes: Int) { self.backlogBytes = backlogBytes }

    /// Creates the tables and a history id on first open. The caller holds the SQL lock.
    func open(_ sql: SQLiteDatabase) throws {
        for s in Self.createStatements { try sql.execute(s) }
        if try state(sql, "history") == nil { try setState(sql, "history", Self.newHistory()) }
        try sql.statement("SELECT coalesce(sum(size), 0) FROM replication_log").forEachRow { bytes = Int($0.int(0)) }
    }

    static func newHistory() -> String {
        (0..<4).map { _ in String(format: "%08x", UInt32.random(in: 0...UInt32.max)) }.joined()
    }

    // MARK: State

    func state(_ sql: SQLiteDatabase, _ key: String) throws -> String? {
        var v: String?
        try sql.statement("SELECT value FROM replication_state WHERE key = ?").forEachRow(.text(key)) { v = $0.text(0) }
        return v
    }

    func setState(_ sql: SQLiteDatabase, _ key: String, _ value: String?) throws {
        if let value {
            try sql.statement("INSERT OR REPLACE INTO replication_state(key, value) VALUES(?, ?)").run(.text(key), .text(value))
        } else {
            try sql.statement("DELETE FROM replication_state WHERE key = ?").run(.text(key))
        }
    }

    func floor(_ sql: SQLiteDatabase) throws -> Int64 { Int64(try state(sql, "floor") ?? "0") ?? 0 }

    /// The last sequence written (or copied up to), 0 for a new database.
    func last(_ sql: SQLiteDatabase) throws -> Int64 {
        var top: Int64 = 0
        try sql.statement("SELECT coalesce(max(seq), 0) FROM replication_log").forEachRow { top = $0.int(0) }
        return max(top, try floor(sql))
    }

    // MARK: Appending

    /// Logs one operation inside the caller's transaction (the caller holds the SQL lock).
    /// `body` is only built when the entry is kept.
    func append(_ sql: SQLiteDatabase, origin: WriteOrigin, collection: String, op: ReplicationEntry.Op, body: () throws -> String) throws {
        let seq: Int64
        switch origin {
        case .copy: return
        case .local:
            // A replica's data directory takes writes from its primary only (offline tools
            // included): a write of its own would take a sequence the primary gives another.
            if let primary = try state(sql, "primary") {
                throw StoreError(.readOnly, "this data directory is a read-only replica of \(primary); write to the primary, or promote it with REPLICAOF NO ONE")
            }
            seq = try last(sql) + 1
        case .replicated(let s): seq = s
        }
        if backlogBytes == 0 {
            // No backlog: the sequence still moves, so a replica knows it missed something.
            try setState(sql, "floor", String(seq))
        } else {
            let text = Array(try body().utf8)
            try sql.statement("INSERT INTO replication_log(seq, collection, op, body, size, at) VALUES(?, ?, ?, ?, ?, ?)")
                .run(.int(seq), .text(collection), .text(op.rawValue), .blob(text), .int(Int64(text.count)), .double(Date().timeIntervalSince1970))
            bytes += text.count
            if bytes > backlogBytes { try trim(sql, keeping: seq) }
        }
        appended.lock()
        appends &+= 1
        appended.broadcast()
        appended.unlock()
    }

    /// Drops the oldest entries until the log is within the backlog again; never `keeping`.
    private func trim(_ sql: SQLiteDatabase, keeping newest: Int64) throws {
        var excess = bytes - backlogBytes / 2   // trim to half, so trimming is not every write
        var upTo: Int64?
        var freed = 0
        try sql.statement("SELECT seq, size FROM replication_log WHERE seq < ? ORDER BY seq").stepRows(values: [.int(newest)]) { row in
            upTo = row.int(0)
            freed += Int(row.int(1))
            excess -= Int(row.int(1))
            return excess > 0
        }
        guard let upTo else { return }
        try sql.statement("DELETE FROM replication_log WHERE seq <= ?").run(.int(upTo))
        try setState(sql, "floor", String(max(upTo, try floor(sql))))
        bytes -= freed
    }

    /// Forgets every entry and starts at `seq` (a full sync's copy stands for everything up to it).
    func reset(_ sql: SQLiteDatabase, to seq: Int64) throws {
        try sql.execute("DELETE FROM replication_log")
        try setState(sql, "floor", String(seq))
        bytes = 0
    }

    // MARK: Reading

    /// Entries after `seq`, oldest first, up to `maxBytes` of bodies (at least one entry).
    func entries(_ sql: SQLiteDatabase, after seq: Int64, maxCount: Int, maxBytes: Int) throws -> [ReplicationEntry] {
        var out: [ReplicationEntry] = []
        var size = 0
        try sql.statement("SELECT seq, collection, op, body, at, size FROM replication_log WHERE seq > ? ORDER BY seq LIMIT ?")
            .stepRows(values: [.int(seq), .int(Int64(maxCount))]) { row in
                // The size first: an entry past the budget is left unread.
                guard out.isEmpty || size + Int(row.int(5)) <= maxBytes else { return false }
                size += Int(row.int(5))
                let body = row.text(3) ?? "null"
                out.append(ReplicationEntry(seq: row.int(0), collection: row.text(1) ?? "", op: ReplicationEntry.Op(rawValue: row.text(2) ?? "") ?? .drop,
                                            body: body, at: row.double(4)))
                return true
            }
        return out
    }

    /// Waits until an append after `since` (a value of `appendCount`) or the deadline.
    func wait(since: UInt64, until deadline: Date) {
        appended.lock()
        defer { appended.unlock() }
        while appends == since {
            if !appended.wait(until: deadline) { return }
        }
    }

    var appendCount: UInt64 {
        appended.lock()
        defer { appended.unlock() }
        return appends
    }
}
