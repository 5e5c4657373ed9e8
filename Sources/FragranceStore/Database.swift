import CKernels
import CSQLite
import Embedding
import FragranceCore
import Foundation
import HNSW

/// A data directory: `catalog.sqlite` (WAL mode, the source of truth for every collection) and
/// one `<collection>.hnsw` derivative per collection.
public final class Database: @unchecked Sendable {
    public struct Options: Sendable {
        /// FULL fsyncs the WAL at every commit (survives power loss); NORMAL survives a killed
        /// process but may lose the last commits on power loss.
        public var durability: Durability = .full
        /// Save the index file after this many logged vector operations (the log is then trimmed).
        public var checkpointEvery = 20_000
        /// Graph searches walk int8 codes and re-rank with floats (HNSWIndex.searchesWithCodes):
        /// faster, and the codes (~400 bytes per 384-d vector) stay in memory. Off, writes
        /// pausing `codeReleaseDelay` drop them and the next write makes them again.
        public var searchWithCodes = true
        public var codeReleaseDelay: TimeInterval = 2
        /// Compact the graph once tombstones exceed this share of its nodes…
        public var compactionRatio = 0.2
        /// …and at least this many.
        public var compactionMinDeleted = 256
        /// The embedding model, for collections whose `embedder` is `minilm`; loaded on first use.
        public var models: ModelRegistry?
        /// The named schemas the application ships (Perfumery's perfume and material). The
        /// store knows no domain schema: a collection stored with an older form of one of these
        /// (before keyword weights, with fewer allowed values) is upgraded to it by the first
        /// two migrations, which do nothing for an opener that passes none.
        public var presets: [CollectionSchema] = []
        /// Bytes of operations the replication log keeps for replicas to catch up from (a
        /// replica further behind copies everything again); 0 keeps none, for an offline
        /// import, while the sequence still moves.
        public var replicationBacklogBytes = 256 << 20
        public init() {}
    }

    public enum Durability: String, Sendable { case full = "FULL", normal = "NORMAL" }

    public let directory: URL
    public let options: Options
    let sql: SQLiteDatabase
    /// One connection serves every collection; statements and transactions go through this.
    let sqlLock = NSLock()
    let registryLock = NSLock()
    var collections: [String: Collection] = [:]
    /// A POSIX lock (lockf) on `LOCK`: two processes (a server and an offline import, say) must
    /// never write one directory, each with its own in-memory indexes. Per process, so tests
    /// that reopen a directory in-process still can; the kernel drops it when a process dies.
    private var lockFD: Int32 = -1
    /// Every change in commit order, for replicas (ReplicationLog.swift).
    let replication: ReplicationLog

    public init(directory: URL, options: Options = .init()) throws {
        self.directory = directory
        self.options = options
        replication = ReplicationLog(backlogBytes: max(0, options.replicationBacklogBytes))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        lockFD = try Database.lockDirectory(directory)
        do {
            sql = try SQLiteDatabase(path: directory.appendingPathComponent("catalog.sqlite").path)
            try sql.execute("PRAGMA journal_mode=WAL")
            try sql.execute("PRAGMA synchronous=\(options.durability.rawValue)")
            try sql.execute("PRAGMA foreign_keys=ON")
            // No memory map: mapped pages count in the server's RSS, and opening reads every
            // record (attributes, keywords), so a mapped 400 MB file was 400 MB of RSS after a
            // restart (issue #23). Reads go through the kernel's page cache and this cache.
            try sql.execute("PRAGMA mmap_size=0")
            try sql.execute("PRAGMA cache_size=-4096")
            try sql.execute("""
                CREATE TABLE IF NOT EXISTS collections(
                    name TEXT PRIMARY KEY,
                    config TEXT NOT NULL,
                    log_floor INTEGER NOT NULL DEFAULT 0,
                    created_at TEXT NOT NULL DEFAULT (datetime('now')))
                """)
            try replication.open(sql)
        } catch let e as SQLiteError {
            throw StoreError(.io, "cannot open \(directory.path): \(e)")
        }
        var configs: [(CollectionConfig, Int64)] = []
        try sql.statement("SELECT config, log_floor FROM collections ORDER BY name").forEachRow { row in
            let config = try JSONDecoder().decode(CollectionConfig.self, from: Data((row.text(0) ?? "").utf8))
            configs.append((config, row.int(1)))
        }
        let current = try Migrations.run(on: self, configs.map(\.0))
        for (config, (_, floor)) in zip(current, configs) {
            collections[config.name] = try Collection(open: config, in: self, logFloor: floor)
        }
        fdb_heap_trim()   // the index images read at open are freed; their pages go back to the kernel
    }

    /// A collection stored with a preset schema (Options.presets) before fields carried keyword
    /// weights gets the schema's weights, so its new keyword index covers name, brand, notes…
    /// rather than the text fields alone. Only while it has no keyword index yet.
    func adoptKeywordWeights(_ config: CollectionConfig) throws -> CollectionConfig {
        guard config.schema.fields.allSatisfy({ $0.keyword == nil }) else { return config }
        func plain(_ s: CollectionSchema) -> [FieldSchema] { s.fields.map { var f = $0; f.keyword = nil; return f } }
        guard let preset = options.presets.first(where: { plain($0) == config.schema.fields }) else { return config }
        var exists = false
        try sql.statement("SELECT 1 FROM sqlite_master WHERE name = ?").forEachRow(.text(Tables(config).keywordTableName)) { _ in exists = true }
        guard !exists else { return config }
        var upgraded = config
        upgraded.schema = preset
        return try storeConfig(upgraded)
    }

    /// A collection stored with an older form of a preset whose only difference is a
    /// shorter list of allowed values (material strength gained "very high", which the bundled
    /// catalogue holds) takes the current list: widening accepts every record already stored.
    func adoptWidenedValues(_ config: CollectionConfig) throws -> CollectionConfig {
        func widens(_ new: FieldSchema, _ old: FieldSchema) -> Bool {
            var a = new, b = old
            a.values = nil; b.values = nil
            guard a == b else { return false }
            guard let oldValues = old.values else { return new.values == nil }
            return Set(oldValues).isSubset(of: Set(new.values ?? oldValues))
        }
        guard let preset = options.presets.first(where: {
            $0.fields.count == config.schema.fields.count && zip($0.fields, config.schema.fields).allSatisfy { widens($0.0, $0.1) }
        }), preset.fields != config.schema.fields else { return config }
        var upgraded = config
        upgraded.schema = preset
        return try storeConfig(upgraded)
    }

    /// A collection stored with a preset whose only difference is that its fields had no
    /// synonyms takes them: synonyms change which words are accepted, never a stored value.
    func adoptSynonyms(_ config: CollectionConfig) throws -> CollectionConfig {
        func plain(_ fields: [FieldSchema]) -> [FieldSchema] { fields.map { var f = $0; f.synonyms = nil; return f } }
        guard config.schema.fields.allSatisfy({ $0.synonyms == nil }),
              let preset = options.presets.first(where: { plain($0.fields) == config.schema.fields }),
              preset.fields != config.schema.fields else { return config }
        var upgraded = config
        upgraded.schema = preset
        return try storeConfig(upgraded)
    }

    /// Rebuilds a collection's tables in the record-keyed layout if it was written before it.
    func adoptRecordKeyedTables(_ config: CollectionConfig) throws {
        let t = Tables(config)
        var ddl: [String: String] = [:]
        try sql.statement("SELECT name, sql FROM sqlite_master").forEachRow { ddl[$0.text(0) ?? ""] = $0.text(1) ?? "" }
        let upgrade = t.upgradeStatements(ddl)
        guard !upgrade.isEmpty else { return }
        try sql.transaction { for stmt in upgrade { try sql.execute(stmt) } }
    }

    /// Writes a changed collection config back (an upgrade, so it happens once, or new fields).
    func storeConfig(_ config: CollectionConfig) throws -> CollectionConfig {
        try sql.statement("UPDATE collections SET config = ? WHERE name = ?")
            .run(.text(String(decoding: try JSONEncoder.sorted.encode(config), as: UTF8.self)), .text(config.name))
        return config
    }

    public var collectionNames: [String] { registryLock.withLock { collections.keys.sorted() } }

    /// Bytes SQLite holds in this process (page cache, statements, schema), for INFO memory.
    public var sqliteMemoryBytes: Int { Int(sqlite3_memory_used()) }

    public func collection(_ name: String) throws -> Collection {
        guard let c = registryLock.withLock({ collections[name] }) else {
            throw StoreError(.notFound, "no collection named '\(name)'" + didYouMean(name, among: collectionNames))
        }
        return c
    }

    @discardableResult
    public func createCollection(_ config: CollectionConfig) throws -> Collection { try createCollection(config, origin: .local) }

    func createCollection(_ config: CollectionConfig, origin: WriteOrigin) throws -> Collection {
        try config.validate()
        return try registryLock.withLock {
            guard collections[config.name] == nil else { throw StoreError(.alreadyExists, "collection '\(config.name)' already exists") }
            // SQLite compares table names without case, so 'T' and 't' would share tables.
            if let other = collections.keys.first(where: { $0.lowercased() == config.name.lowercased() }) {
                throw StoreError(.alreadyExists, "collection '\(config.name)' clashes with '\(other)' (names differ only in case)")
            }
            try sqlLock.withLock {
                try sql.transaction {
                    try sql.statement("INSERT INTO collections(name, config) VALUES(?, ?)")
                        .run(.text(config.name), .text(String(decoding: try JSONEncoder.sorted.encode(config), as: UTF8.self)))
                    for stmt in Tables(config).createStatements { try sql.execute(stmt) }
                    try replication.append(sql, origin: origin, collection: config.name, op: .create) {
                        String(decoding: try JSONEncoder.sorted.encode(config), as: UTF8.self)
                    }
                }
            }
            let c = try Collection(open: config, in: self, logFloor: 0)
            collections[config.name] = c
            return c
        }
    }

    public func dropCollection(_ name: String) throws { try dropCollection(name, origin: .local) }

    func dropCollection(_ name: String, origin: WriteOrigin) throws {
        try registryLock.withLock {
            guard let c = collections[name] else { throw StoreError(.notFound, "no collection named '\(name)'" + didYouMean(name, among: collections.keys.sorted())) }
            try c.lock.write {
                c.waitForSave()
                try sqlLock.withLock {
                    let t = Tables(c.config)
                    try sql.transaction {
                        for stmt in t.dropStatements { try sql.execute(stmt) }
                        try sql.statement("DELETE FROM collections WHERE name = ?").run(.text(name))
                        try replication.append(sql, origin: origin, collection: name, op: .drop) { "null" }
                    }
                    sql.forgetStatements(containing: t.prefix)
                }
                c.isDropped = true
            }
            try? FileManager.default.removeItem(at: indexURL(name))
            collections[name] = nil
        }
    }

    /// Saves every index file so the next open loads instead of replaying.
    /// SQLite is closed and the lock released even when a save fails (a full disk): the
    /// index files are derived, SQLite holds every acknowledged write, and the next open
    /// catches up from the log. The first failure is thrown afterwards.
    public func close() throws {
        var failure: Error?
        for c in registryLock.withLock({ Array(collections.values) }) {
            do { try c.checkpoint() } catch { failure = failure ?? error }
        }
        registryLock.withLock { collections = [:] }
        sqlLock.withLock { sql.close() }
        unlock()
        if let failure { throw StoreError.from(failure, database: self) ?? failure }
    }

    deinit { unlock() }

    private func unlock() {
        registryLock.withLock {
            if lockFD >= 0 { Foundation.close(lockFD) }
            lockFD = -1
        }
    }

    static func lockDirectory(_ directory: URL) throws -> Int32 {
        let path = directory.appendingPathComponent("LOCK").path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard lockf(fd, F_TLOCK, 0) == 0 else {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buf, buf.count, 0)
            let owner = n > 0 ? String(decoding: buf[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            Foundation.close(fd)
            throw StoreError(.io, "data directory \(directory.path) is in use by another process (pid \(owner)); stop it, or import over TCP with --server")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        return fd
    }

    func indexURL(_ name: String) -> URL { directory.appendingPathComponent("\(name).hnsw") }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}

/// Everything that defines a collection; stored as JSON in the `collections` table.
public struct CollectionConfig: Codable, Sendable, Equatable {
    public var name: String
    public var dimension: Int
    public var metric: Metric
    public var schema: CollectionSchema
    public var hnsw: HNSWParameters
    /// Which embedder fills vectors from text (`minilm`), or nil when clients send vectors.
    /// Fixed at creation, so one collection never mixes vector spaces.
    public var embedder: String?
    /// Text fields whose values (joined by ". ") are embedded when a record comes without a
    /// vector; all text fields when nil.
    public var embedFields: [String]?
    /// A dynamic collection adds a field the first time a record carries it, with the type its
    /// first values imply (Elasticsearch's dynamic mapping); a fixed one refuses unknown fields.
    public var dynamic: Bool

    public init(name: String, dimension: Int, metric: Metric = .cosine, schema: CollectionSchema,
                hnsw: HNSWParameters = .init(), embedder: String? = nil, embedFields: [String]? = nil, dynamic: Bool = false) {
        self.name = name
        self.dimension = dimension
        self.metric = metric
        self.schema = schema
        self.hnsw = hnsw
        self.embedder = embedder
        self.embedFields = embedFields
        self.dynamic = dynamic
    }

    enum CodingKeys: String, CodingKey { case name, dimension, metric, schema, hnsw, embedder, embedFields, dynamic }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        dimension = try c.decode(Int.self, forKey: .dimension)
        metric = try c.decode(Metric.self, forKey: .metric)
        schema = try c.decode(CollectionSchema.self, forKey: .schema)
        hnsw = try c.decode(HNSWParameters.self, forKey: .hnsw)
        embedder = try c.decodeIfPresent(String.self, forKey: .embedder)
        embedFields = try c.decodeIfPresent([String].self, forKey: .embedFields)
        dynamic = try c.decodeIfPresent(Bool.self, forKey: .dynamic) ?? false   // stored before dynamic schemas
    }

    /// The text fields a record's vector is computed from: `embedFields`, else every text
    /// field; a dynamic collection with no text field yet embeds its string fields.
    var textFieldsToEmbed: [String] {
        if let embedFields { return embedFields }
        let text = schema.fields.filter { $0.type == .text }.map(\.name)
        return text.isEmpty && dynamic ? schema.fields.filter { $0.type == .string }.map(\.name) : text
    }

    /// The keyword index's fields and BM25 weights: those the schema weights, else its text
    /// fields; a dynamic collection without weights indexes its string fields too.
    var keywordFields: [(name: String, weight: Double)] {
        guard dynamic, !schema.fields.contains(where: { $0.keyword != nil }) else { return schema.keywordFields }
        return schema.fields.filter { $0.type == .text || $0.type == .string }.map { ($0.name, 1) }
    }

    func validate() throws {
        guard !name.isEmpty, name.count <= 64,
              name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") })
        else { throw StoreError(.badRequest, "collection name \(printable(name)) must be 1-64 letters, digits, '_' or '-'") }
        // Tables are named c_<name>__<part>: without "__" in the name or a trailing '_', the
        // first "__" ends the name, so no two collections' tables can share a name.
        guard !name.contains("__"), !name.hasSuffix("_") else {
            throw StoreError(.badRequest, "collection name '\(name)' may not contain '__' or end with '_' (they separate table names)")
        }
        guard (1...4096).contains(dimension) else { throw StoreError(.badRequest, "dimension must be 1 to 4096, got \(dimension)") }
        guard (2...128).contains(hnsw.m) else { throw StoreError(.badRequest, "M must be 2 to 128, got \(hnsw.m)") }
        guard (1...4096).contains(hnsw.efConstruction), (1...4096).contains(hnsw.efSearch) else {
            throw StoreError(.badRequest, "ef_construction and ef_search must be 1 to 4096")
        }
        try schema.validate()
        if let e = embedder {
            guard e == TextEmbedder.name else {
                throw StoreError(.badRequest, "unknown embedder '\(e)' (known: \(TextEmbedder.name), or none to send vectors)")
            }
            guard dimension == TextEmbedder.dimension else {
                throw StoreError(.dimensionMismatch, "embedder \(e) makes \(TextEmbedder.dimension)-dimensional vectors, collection '\(name)' declares \(dimension)")
            }
            guard !textFieldsToEmbed.isEmpty || dynamic else { throw StoreError(.badSchema, "embedder \(e) needs at least one text field to embed") }
            for f in embedFields ?? [] where schema.field(f)?.type != .text {
                throw StoreError(.badSchema, "embed field '\(f)' is not a text field of the schema")
            }
        } else if embedFields != nil {
            throw StoreError(.badSchema, "embed_fields needs an embedder")
        }
    }
}

/// Table and column names of one collection (all quoted: collection names may hold '-').
struct Tables {
    let config: CollectionConfig
    init(_ config: CollectionConfig) { self.config = config }

    var prefix: String { "\"c_\(config.name)__" }
    var records: String { "\"c_\(config.name)__records\"" }
    var log: String { "\"c_\(config.name)__log\"" }
    var logName: String { "c_\(config.name)__log" }
    func set(_ field: String) -> String { "\"c_\(config.name)__set_\(field)\"" }
    static func column(_ field: String) -> String { "\"f_\(field)\"" }

    var scalarFields: [FieldSchema] { config.schema.fields.filter { $0.isScalar || $0.type == .text } }
    var setFields: [FieldSchema] { config.schema.fields.filter(\.isSet) }

    var createStatements: [String] {
        let cols = scalarFields.map { f -> String in
            let type = f.type == .int || f.type == .bool ? "INTEGER" : f.type == .float ? "REAL" : "TEXT"
            return ", \(Tables.column(f.name)) \(type)"
        }.joined()
        // Filters run on the in-memory mirror, which is read back by record: every table is
        // keyed by rid, so a batch of new records appends pages instead of touching index pages
        // all over the file (value-keyed indexes made each commit rewrite ~6,000 pages).
        var out = ["CREATE TABLE \(records)(rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, vector BLOB\(cols))"]
        for f in setFields { out.append(setTableStatement(f, name: set(f.name))) }
        out.append("CREATE TABLE \(log)(seq INTEGER PRIMARY KEY AUTOINCREMENT, rid INTEGER NOT NULL, op INTEGER NOT NULL)")
        if let fts = keywordCreateStatement { out.append(fts) }
        return out
    }

    /// ord keeps the members' order (accords are listed strongest first).
    func setTableStatement(_ f: FieldSchema, name: String) -> String {
        let tier = f.type == .tieredSet ? ", tier TEXT NOT NULL" : ""
        let key = f.type == .tieredSet ? "rid, tier, ord" : "rid, ord"
        return "CREATE TABLE \(name)(value TEXT NOT NULL, rid INTEGER NOT NULL\(tier), ord INTEGER NOT NULL, PRIMARY KEY(\(key))) WITHOUT ROWID"
    }

    /// Statements that bring a collection written with value-keyed set tables and per-column
    /// indexes (before 2026-11-27) to the record-keyed layout, keeping every row. `byName`
    /// maps the names in sqlite_master to their SQL.
    func upgradeStatements(_ byName: [String: String]) -> [String] {
        var out: [String] = []
        for f in setFields {
            let plain = "c_\(config.name)__set_\(f.name)"
            guard let sql = byName[plain], sql.contains("PRIMARY KEY(value") else { continue }
            let fresh = "\"\(plain)__new\""
            let cols = f.type == .tieredSet ? "value, rid, tier, ord" : "value, rid, ord"
            out.append("DROP TABLE IF EXISTS \(fresh)")
            out.append(setTableStatement(f, name: fresh))
            out.append("INSERT INTO \(fresh)(\(cols)) SELECT \(cols) FROM \(set(f.name))")
            out.append("DROP TABLE \(set(f.name))")
            out.append("ALTER TABLE \(fresh) RENAME TO \(set(f.name))")
        }
        for f in scalarFields where byName["c_\(config.name)__by_\(f.name)"] != nil {
            out.append("DROP INDEX \"c_\(config.name)__by_\(f.name)\"")
        }
        return out
    }

    var dropStatements: [String] {
        ["DROP TABLE IF EXISTS \(records)", "DROP TABLE IF EXISTS \(log)", "DROP TABLE IF EXISTS \(keywordTable)"] + setFields.map { "DROP TABLE IF EXISTS \(set($0.name))" }
    }
}
