import Foundation

/// Writes one record's rows (the records table, its set tables, its keyword row) with
/// statements looked up once per write batch: building and hashing the SQL text per row and
/// per set member cost as much CPU as SQLite's own work did in a bulk import.
struct RowWriter {
    private let scalarFields: [FieldSchema]
    private let keywordFields: [String]
    private let record: Statement
    private let keyword: Statement?, keywordDelete: Statement?
    private let sets: [(field: FieldSchema, insert: Statement, delete: Statement)]

    init(_ sql: SQLiteDatabase, _ tables: Tables) throws {
        scalarFields = tables.scalarFields
        let cols = scalarFields.map { ", " + Tables.column($0.name) }.joined()
        let marks = String(repeating: ", ?", count: scalarFields.count)
        record = try sql.statement("INSERT OR REPLACE INTO \(tables.records)(rid, id, vector\(cols)) VALUES(?, ?, ?\(marks))")
        keywordFields = tables.keywordFields.map(\.name)
        if keywordFields.isEmpty {
            keyword = nil
            keywordDelete = nil
        } else {
            let kcols = keywordFields.map { "\"\($0)\"" }.joined(separator: ", ")
            keyword = try sql.statement("INSERT INTO \(tables.keywordTable)(rowid, \(kcols)) VALUES(?\(String(repeating: ", ?", count: keywordFields.count)))")
            keywordDelete = try sql.statement("DELETE FROM \(tables.keywordTable) WHERE rowid = ?")
        }
        sets = try tables.setFields.map { f in
            let insert = f.type == .tieredSet
                ? "INSERT INTO \(tables.set(f.name))(value, rid, tier, ord) VALUES(?, ?, ?, ?)"
                : "INSERT INTO \(tables.set(f.name))(value, rid, ord) VALUES(?, ?, ?)"
            return (f, try sql.statement(insert), try sql.statement("DELETE FROM \(tables.set(f.name)) WHERE rid = ?"))
        }
    }

    func write(_ rid: UInt32, _ r: Record, replacing: Bool) throws {
        let id = Int64(rid)
        var values: [Statement.Value] = [.int(id), .text(r.id), r.vector.map { v in .blob(v.withUnsafeBytes { Array($0) }) } ?? .null]
        values.reserveCapacity(3 + scalarFields.count)
        for f in scalarFields {
            switch r.attributes[f.name] {
            case .string(let s): values.append(.text(s))
            case .int(let i): values.append(.int(i))
            case .float(let d): values.append(.double(d))
            case .bool(let b): values.append(.int(b ? 1 : 0))
            default: values.append(.null)
            }
        }
        try record.run(values: values)
        if let keyword, let keywordDelete {
            if replacing { try keywordDelete.run(.int(id)) }
            try keyword.run(values: [.int(id)] + keywordFields.map { Tables.keywordText(r.attributes[$0]).map { .text($0) } ?? .null })
        }
        for (f, insert, delete) in sets {
            if replacing { try delete.run(.int(id)) }
            switch r.attributes[f.name] {
            case .strings(let list):
                for (i, v) in list.enumerated() { try insert.run(.text(v), .int(id), .int(Int64(i))) }
            case .tiered(let tiers):
                for (tier, list) in tiers.sorted(by: { $0.key < $1.key }) {
                    for (i, v) in list.enumerated() { try insert.run(.text(v), .int(id), .text(tier), .int(Int64(i))) }
                }
            default: break
            }
        }
    }
}
