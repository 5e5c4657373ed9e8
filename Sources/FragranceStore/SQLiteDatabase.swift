import CSQLite
import Foundation

// SQLite through its C API rather than GRDB: the store keeps a handful of prepared statements
// on its write path and reads every row once at open (into the in-memory attribute index),
// so a record/row-mapping layer would add a dependency and per-row decoding for nothing the
// store uses. This file is the whole of the glue.

private let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

struct SQLiteError: Error, CustomStringConvertible {
    let code: Int32
    let message: String
    var description: String { "SQLite error \(code): \(message)" }
}

extension StoreError {
    /// What a client is told about a storage failure: a full disk or an I/O error is `IO`
    /// naming the database file, a constraint a `BAD_RECORD`; anything else stays internal.
    public static func from(_ error: Error, database: Database) -> StoreError? {
        if let e = error as? StoreError { return e }
        guard let e = error as? SQLiteError else { return nil }
        let path = database.directory.appendingPathComponent("catalog.sqlite").path
        switch e.code & 0xFF {
        case SQLITE_FULL: return StoreError(.io, "disk full writing \(path); nothing of this request was stored")
        case SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY: return StoreError(.io, "I/O error on \(path): \(e.message)")
        case SQLITE_CORRUPT, SQLITE_NOTADB: return StoreError(.corrupt, "\(path) is damaged: \(e.message)")
        case SQLITE_BUSY, SQLITE_LOCKED: return StoreError(.io, "\(path) is busy: \(e.message)")
        case SQLITE_CONSTRAINT: return StoreError(.badRecord, "refused by the database: \(e.message)")
        default: return nil
        }
    }
}

final class SQLiteDatabase {
    private(set) var handle: OpaquePointer?
    private var statements: [String: Statement] = [:]

    init(path: String) throws {
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            throw SQLiteError(code: rc, message: "\(path): \(msg)")
        }
        handle = db
        sqlite3_busy_timeout(db, 5000)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { close() }

    func close() {
        statements.values.forEach { $0.finalize() }
        statements = [:]
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "unknown"
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: msg)
        }
    }

    /// A prepared statement, cached by its SQL text and reset for reuse.
    func statement(_ sql: String) throws -> Statement {
        if let s = statements[sql] {
            s.reset()
            return s
        }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw SQLiteError(code: rc, message: "\(lastError) in: \(sql)") }
        let s = Statement(stmt, db: self)
        statements[sql] = s
        return s
    }

    /// Drops cached statements (after DROP TABLE, whose statements can no longer run).
    func forgetStatements(containing fragment: String) {
        for (sql, s) in statements where sql.contains(fragment) {
            s.finalize()
            statements[sql] = nil
        }
    }

    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    var lastError: String { handle.map { String(cString: sqlite3_errmsg($0)) } ?? "closed" }
    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    var changes: Int { Int(sqlite3_changes(handle)) }
}

final class Statement {
    private var stmt: OpaquePointer?
    private unowned let db: SQLiteDatabase

    init(_ stmt: OpaquePointer, db: SQLiteDatabase) {
        self.stmt = stmt
        self.db = db
    }

    func finalize() {
        sqlite3_finalize(stmt)
        stmt = nil
    }

    func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    enum Value {
        case null, int(Int64), double(Double), text(String), blob([UInt8])
    }

    @discardableResult
    func bind(_ values: [Value]) -> Statement {
        for (i, v) in values.enumerated() {
            let idx = Int32(i + 1)
            switch v {
            case .null: sqlite3_bind_null(stmt, idx)
            case .int(let x): sqlite3_bind_int64(stmt, idx, x)
            case .double(let x): sqlite3_bind_double(stmt, idx, x)
            case .text(let s): Self.bindText(stmt, idx, s)
            case .blob(let b):
                b.withUnsafeBytes { _ = sqlite3_bind_blob(stmt, idx, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT) }
            }
        }
        return self
    }

    /// Binds a string with its byte length: with length -1 SQLite would stop at the first NUL,
    /// so "victim\0evil" would be stored (and matched) as "victim".
    static func bindText(_ stmt: OpaquePointer?, _ idx: Int32, _ s: String) {
        var s = s
        s.withUTF8 { b in
            if let base = b.baseAddress {
                sqlite3_bind_text(stmt, idx, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(b.count), SQLITE_TRANSIENT)
            } else {
                sqlite3_bind_text(stmt, idx, "", 0, SQLITE_TRANSIENT)
            }
        }
    }

    /// Runs a statement that returns no rows.
    func run(_ values: Value...) throws { try run(values: values) }

    func run(values: [Value]) throws {
        bind(values)
        let rc = sqlite3_step(stmt)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw SQLiteError(code: rc, message: db.lastError) }
        sqlite3_reset(stmt)
    }

    /// Steps through the result rows.
    func forEachRow(_ values: Value..., body: (Row) throws -> Void) throws {
        try forEachRow(values: values, body: body)
    }

    func forEachRow(values: [Value], body: (Row) throws -> Void) throws {
        bind(values)
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw SQLiteError(code: rc, message: db.lastError) }
            try body(Row(stmt: stmt!))
        }
        sqlite3_reset(stmt)
    }

    /// Steps rows while `body` returns true (stops early without reading the rest).
    func stepRows(values: [Value], while body: (Row) throws -> Bool) throws {
        bind(values)
        defer { sqlite3_reset(stmt) }
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw SQLiteError(code: rc, message: db.lastError) }
            if try !body(Row(stmt: stmt!)) { break }
        }
    }

    struct Row {
        let stmt: OpaquePointer
        func isNull(_ i: Int32) -> Bool { sqlite3_column_type(stmt, i) == SQLITE_NULL }
        func int(_ i: Int32) -> Int64 { sqlite3_column_int64(stmt, i) }
        func double(_ i: Int32) -> Double { sqlite3_column_double(stmt, i) }
        func text(_ i: Int32) -> String? {
            guard let p = sqlite3_column_text(stmt, i) else { return nil }
            return String(decoding: UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(stmt, i))), as: UTF8.self)
        }
        func bytes(_ i: Int32) -> [UInt8] {
            guard let p = sqlite3_column_blob(stmt, i) else { return [] }
            return Array(UnsafeRawBufferPointer(start: p, count: Int(sqlite3_column_bytes(stmt, i))))
        }
        func floats(_ i: Int32) -> [Float]? {
            guard let p = sqlite3_column_blob(stmt, i) else { return nil }
            let n = Int(sqlite3_column_bytes(stmt, i)) / 4
            return [Float](unsafeUninitializedCapacity: n) { buf, c in
                UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(start: p, count: n * 4))
                c = n
            }
        }
    }
}
