import Foundation

/// The changes to catalog.sqlite's layout since its first release, in order, each applied once
/// (GRDB's migrator is the model). `PRAGMA user_version` is how many have run; the
/// `migrations` table records which and when. A new database runs them all at once, over no
/// collections; an old one runs those it lacks, over every stored collection, before any is
/// opened; a database from a newer fragrancedb (a version past this list) is refused rather
/// than half understood. Append only: a shipped migration is never edited or reordered.
enum Migrations {
    struct Step: Sendable {
        let name: String
        /// Brings one stored collection up to date; returns its (possibly upgraded) config.
        let run: @Sendable (Database, CollectionConfig) throws -> CollectionConfig
    }

    static let all: [Step] = [
        // Preset schemas gained BM25 weights per field (before their keyword index existed). The
        // store knows no preset: the application names its own in Options.presets (Perfumery's
        // `.perfumery` options), and an opener with none leaves stored schemas as they are.
        Step(name: "keyword weights for preset schemas") { db, c in try db.adoptKeywordWeights(c) },
        // Material strength gained "very high": widening the allowed values accepts every stored record.
        Step(name: "widened preset values") { db, c in try db.adoptWidenedValues(c) },
        // Set tables keyed by record instead of by value (2026-11-27), per-column indexes dropped.
        Step(name: "record-keyed tables") { db, c in try db.adoptRecordKeyedTables(c); return c },
        // The FTS5 keyword index, filled from the stored records.
        Step(name: "keyword index") { db, c in try db.backfillKeywordIndex(c); return c },
        // Preset fields gained synonyms (gender "men" is "male" in filters and records, #19).
        Step(name: "preset synonyms") { db, c in try db.adoptSynonyms(c) },
    ]

    /// Runs the steps `db` lacks over `configs`; returns the configs as they now stand.
    static func run(on db: Database, _ configs: [CollectionConfig]) throws -> [CollectionConfig] {
        let sql = db.sql
        var version = 0
        try sql.statement("PRAGMA user_version").forEachRow { version = Int($0.int(0)) }
        guard version <= all.count else {
            throw StoreError(.corrupt, "\(db.directory.appendingPathComponent("catalog.sqlite").path) is at layout version \(version); "
                             + "this fragrancedb knows \(all.count): open it with the newer fragrancedb that wrote it")
        }
        try sql.execute("""
            CREATE TABLE IF NOT EXISTS migrations(
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TEXT NOT NULL DEFAULT (datetime('now')))
            """)
        var current = configs
        for (i, step) in all.enumerated() where i >= version {
            current = try current.map { try step.run(db, $0) }
            try sql.transaction {
                try sql.statement("INSERT OR REPLACE INTO migrations(version, name) VALUES(?, ?)").run(.int(Int64(i + 1)), .text(step.name))
                try sql.execute("PRAGMA user_version = \(i + 1)")
            }
        }
        return current
    }

    static var latest: Int { all.count }
}

extension Database {
    /// Creates and fills the keyword index of a collection stored before it existed.
    func backfillKeywordIndex(_ config: CollectionConfig) throws {
        let tables = Tables(config)
        guard let create = tables.keywordCreateStatement else { return }
        var exists = false
        try sql.statement("SELECT 1 FROM sqlite_master WHERE name = ?").forEachRow(.text(tables.keywordTableName)) { _ in exists = true }
        guard !exists else { return }
        let cols = tables.keywordFields.map { "\"\($0.name)\"" }.joined(separator: ", ")
        let sources = tables.keywordFields.map { tables.keywordSource($0.name) }.joined(separator: ", ")
        try sql.transaction {
            try sql.execute(create)
            try sql.execute("INSERT INTO \(tables.keywordTable)(rowid, \(cols)) SELECT r.rid, \(sources) FROM \(tables.records) r")
        }
    }
}
