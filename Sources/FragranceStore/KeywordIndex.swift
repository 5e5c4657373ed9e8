import Foundation
import HNSW

// The keyword arm: one FTS5 table per collection over the schema's keyword fields, ranked by
// BM25 with per-field weights. Its rows are written in the same transaction as the record
// (`RowWriter`), so after a crash the keyword and vector arms hold the same records.
// Collections created before the index existed got it filled by the "keyword index" migration.

extension Tables {
    var keywordTable: String { "\"c_\(config.name)__fts\"" }
    var keywordTableName: String { "c_\(config.name)__fts" }
    var keywordFields: [(name: String, weight: Double)] { config.keywordFields }

    /// Porter stemming over unicode61: "roses" finds "rose"; accents are folded ("Hermès").
    var keywordCreateStatement: String? {
        guard !keywordFields.isEmpty else { return nil }
        let cols = keywordFields.map { "\"\($0.name)\"" }.joined(separator: ", ")
        return "CREATE VIRTUAL TABLE \(keywordTable) USING fts5(\(cols), tokenize = 'porter unicode61 remove_diacritics 2')"
    }

    /// The text of one keyword column: a string as is, set members joined.
    static func keywordText(_ value: AttributeValue?) -> String? {
        switch value {
        case .string(let s): return s
        case .strings(let list): return list.joined(separator: "; ")
        case .tiered(let tiers): return tiers.sorted { $0.key < $1.key }.flatMap(\.value).joined(separator: "; ")
        default: return nil
        }
    }

    /// The SQL expression that reads one keyword column back from the stored row `r`.
    func keywordSource(_ name: String) -> String {
        guard let f = config.schema.field(name) else { return "NULL" }
        if f.isSet { return "(SELECT group_concat(value, '; ') FROM \(set(name)) WHERE rid = r.rid)" }
        return "r.\(Tables.column(name))"
    }
}

/// A BM25 match: higher `score` is better (SQLite's bm25() negated).
public struct KeywordMatch: Sendable, Equatable {
    public var id: String
    public var score: Double
}

extension Collection {
    func deleteKeywordRow(_ rid: UInt32) throws {
        guard !tables.keywordFields.isEmpty else { return }
        try db.sql.statement("DELETE FROM \(tables.keywordTable) WHERE rowid = ?").run(.int(Int64(rid)))
    }

    /// The FTS5 query for free text: every word a quoted term, any of them may match (BM25
    /// rewards the records that match more and rarer ones). Nil when the text has no word.
    public static func keywordQuery(_ text: String, maxTerms: Int = 32, requireAll: Bool = false) -> String? {
        var seen = Set<String>()
        var terms: [String] = []
        var word = ""
        func flush() {
            if !word.isEmpty, seen.insert(word).inserted, terms.count < maxTerms { terms.append("\"\(word)\"") }
            word = ""
        }
        for ch in text.lowercased() {
            if ch.isLetter || ch.isNumber { word.append(ch) } else { flush() }
        }
        flush()
        return terms.isEmpty ? nil : terms.joined(separator: requireAll ? " AND " : " OR ")
    }

    /// BM25 matches for free text among the records `filter` allows, best first, at most `limit`.
    /// `fields` limits the match to those keyword fields; `requireAll` needs every word
    /// (finding a record by its name: "like Aventus").
    public func keywordSearch(_ text: String, limit: Int = 10, filter: String? = nil, fields: [String]? = nil, requireAll: Bool = false) throws -> [KeywordMatch] {
        guard (1...10_000).contains(limit) else { throw StoreError(.badRequest, "k must be 1 to 10000, got \(limit)") }
        if let fields, let bad = fields.first(where: { f in !tables.keywordFields.contains { $0.name == f } }) {
            throw StoreError(.badRequest, "'\(bad)' is not a keyword field of '\(config.name)' (keyword fields: \(tables.keywordFields.map(\.name).joined(separator: ", ")))")
        }
        return try lock.read {
            let allowed = try filter.map { try evaluate($0).allowed }
            return try keywordMatchesUnlocked(text, limit: limit, allowed: allowed, fields: fields, requireAll: requireAll)
        }
    }

    /// Called with the read lock held. A filter is applied before the limit, so a selective
    /// filter still gets `limit` matches when that many exist.
    func keywordMatchesUnlocked(_ text: String, limit: Int, allowed: Bitset?, fields: [String]? = nil, requireAll: Bool = false) throws -> [KeywordMatch] {
        guard !tables.keywordFields.isEmpty, var query = Collection.keywordQuery(text, requireAll: requireAll) else { return [] }
        if let fields, !fields.isEmpty { query = "{\(fields.map { "\"\($0)\"" }.joined(separator: " "))} : (\(query))" }
        let weights = tables.keywordFields.map { String($0.weight) }.joined(separator: ", ")
        // Unfiltered, SQLite stops at the limit; filtered, rows stream in rank order until
        // enough allowed ones are seen (BM25 has scored every match either way).
        let limitClause = allowed == nil ? " LIMIT \(limit)" : ""
        let sql = "SELECT rowid, bm25(\(tables.keywordTable), \(weights)) AS s FROM \(tables.keywordTable) WHERE \(tables.keywordTable) MATCH ? ORDER BY s\(limitClause)"
        var out: [KeywordMatch] = []
        try db.sqlLock.withLock {
            let stmt = try db.sql.statement(sql)
            try stmt.stepRows(values: [.text(query)]) { row in
                let rid = Int(row.int(0))
                if let allowed, !(rid < allowed.capacity && allowed.contains(rid)) { return true }
                if rid < idOfRid.count, let id = idOfRid[rid] { out.append(KeywordMatch(id: id, score: -row.double(1))) }
                return out.count < limit
            }
        }
        return out
    }
}
