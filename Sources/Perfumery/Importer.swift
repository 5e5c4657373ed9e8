import Foundation
import FragranceStore
import Synchronization

/// Where imported records go: a collection opened in this process (the fast path for a first
/// load), or a running server over TCP (the executable provides that one).
public protocol RecordSink: Sendable {
    /// The dimension of the target collection's vectors.
    var dimension: Int { get async throws }
    /// Which of these ids are stored already.
    func existing(_ ids: [String]) async throws -> Set<String>
    /// Stores the records in one all-or-nothing write; they came out of `schema.normalised`.
    func write(_ records: [Record], normalisedWith schema: CollectionSchema) async throws
}

/// A collection in this process. Embedding (when records carry no vector) happens inside
/// `upsert`, outside the collection's lock, so two batches in flight overlap their embedding.
public struct CollectionSink: RecordSink {
    public let collection: FragranceStore.Collection
    public init(_ collection: FragranceStore.Collection) { self.collection = collection }
    public var dimension: Int { collection.config.dimension }
    public func existing(_ ids: [String]) async throws -> Set<String> { collection.existing(ids) }
    public func write(_ records: [Record], normalisedWith schema: CollectionSchema) async throws {
        let c = collection
        try await Task.detached { _ = try c.upsert(records, normalisedWith: schema) }.value
    }
}

/// Reads rows, checks and normalises each, and writes the good ones in batches; a bad row is
/// reported (line, reason) and skipped, never stops the import. Batches are all or nothing,
/// and ids already stored are skipped, so a re-run after an interruption picks up where it
/// stopped and a second import of the same file changes nothing.
public struct Importer: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case perfume, material
        var schema: CollectionSchema { self == .perfume ? .perfume : .material }
    }

    public struct Options: Sendable {
        public var batchSize = 256
        /// Batches written at once (embedding overlaps across them).
        public var concurrency = 2
        /// Overwrite records that already exist instead of skipping them.
        public var update = false
        public var dryRun = false
        public var limit: Int?
        public init() {}
    }

    public struct Rejection: Sendable {
        public var line: Int
        public var id: String?
        public var reason: String
        public var raw: String
    }

    public struct Progress: Sendable {
        public var rowsRead = 0
        public var totalRows = 0
        public var stored = 0
        public var skipped = 0
        public var rejected = 0
        public var seconds = 0.0
        public var rowsPerSecond: Double { seconds > 0 ? Double(rowsRead) / seconds : 0 }
        public init() {}
        public var etaSeconds: Double? {
            guard rowsRead > 0, totalRows > rowsRead, seconds > 0 else { return nil }
            return Double(totalRows - rowsRead) / rowsPerSecond
        }
    }

    public let kind: Kind
    public let vocabulary: Vocabulary
    public var options: Options
    public var ignoreUnknownFields = false

    public init(kind: Kind, vocabulary: Vocabulary, options: Options = .init()) {
        self.kind = kind
        self.vocabulary = vocabulary
        self.options = options
    }

    /// The collection settings an import target gets when it does not exist yet.
    public static func collectionConfig(name: String, kind: Kind) -> CollectionConfig {
        CollectionConfig(name: name, dimension: 384, metric: .cosine, schema: kind.schema,
                         embedder: "minilm", embedFields: ["text"])
    }

    /// The row as a record, checked against the kind's schema too (a value outside a field's
    /// list is this row's rejection, not its batch's failure).
    public func normalise(_ row: [String: Any], dimension: Int?) throws -> Record {
        let record: Record
        switch kind {
        case .perfume: record = try PerfumeNormaliser(vocabulary: vocabulary, ignoreUnknownFields: ignoreUnknownFields).record(from: row, dimension: dimension)
        case .material: record = try MaterialNormaliser(ignoreUnknownFields: ignoreUnknownFields).record(from: row, dimension: dimension)
        }
        do {
            // The stored form: the collection then need not normalise it again.
            guard let dimension else {   // no target collection (a dry run): no dimension to hold it to
                var check = record
                check.vector = nil
                try kind.schema.validate(check, dimension: 0)
                return record
            }
            return try kind.schema.normalised(record, dimension: dimension)
        } catch let e as StoreError {
            throw RowError(e.message)
        }
    }

    /// Runs the import. `sink` nil (or `dryRun`) only checks. `reject` sees every bad row as it
    /// is found; `progress` is called after each batch.
    public func run(_ rows: [SourceRow], into sink: (any RecordSink)?,
                    reject: @Sendable (Rejection) -> Void = { _ in },
                    progress: @Sendable (Progress) -> Void = { _ in }) async throws -> Progress {
        let start = Date()
        var p = Progress()
        let rows = options.limit.map { Array(rows.prefix($0)) } ?? rows
        p.totalRows = rows.count
        let dimension = try await sink?.dimension
        let write = options.dryRun ? nil : sink
        var firstLine: [String: Int] = [:]
        var batch: [Record] = []
        var inFlight: [Task<(Int, Int), Error>] = []

        func flush() async throws {
            guard !batch.isEmpty else { return }
            let records = batch
            batch = []
            guard let write else { p.stored += records.count; return }
            let update = options.update, schema = kind.schema
            inFlight.append(Task {
                let existing = try await write.existing(records.map(\.id))
                let fresh = update ? records : records.filter { !existing.contains($0.id) }
                if !fresh.isEmpty { try await write.write(fresh, normalisedWith: schema) }
                return (fresh.count, records.count - fresh.count)
            })
            while inFlight.count >= max(1, options.concurrency) {
                let first = inFlight.removeFirst()
                let stored: Int, skipped: Int
                do { (stored, skipped) = try await first.value }
                catch {
                    for t in inFlight { _ = try? await t.value }
                    inFlight = []
                    throw error
                }
                p.stored += stored
                p.skipped += skipped
                p.seconds = Date().timeIntervalSince(start)
                progress(p)
            }
        }

        for row in rows {
            if Task.isCancelled { break }   // stop between batches; the ones in flight finish below
            p.rowsRead += 1
            do {
                let object = try row.object.get()
                let record = try normalise(object, dimension: dimension)
                if let first = firstLine[record.id] {
                    throw RowError("duplicate id '\(record.id)' (first on line \(first))")
                }
                firstLine[record.id] = row.line
                batch.append(record)
                if batch.count >= options.batchSize { try await flush() }
            } catch let e as RowError {
                p.rejected += 1
                let id = (try? row.object.get())?["id"].flatMap { $0 as? String }
                reject(Rejection(line: row.line, id: id, reason: e.reason, raw: row.raw))
            }
        }
        if !Task.isCancelled { try await flush() }
        // Every batch in flight ends (written or failed) before this returns or throws.
        var failure: Error?
        for t in inFlight {
            do {
                let (stored, skipped) = try await t.value
                p.stored += stored
                p.skipped += skipped
            } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
        try Task.checkCancellation()
        p.seconds = Date().timeIntervalSince(start)
        progress(p)
        return p
    }
}

/// The bundled catalogue (Resources/*.jsonl.zst, built by tools/build-catalogue from public
/// data: facts only).
public enum BundledCatalogue {
    public static func rows(_ kind: Importer.Kind) throws -> [SourceRow] {
        let name = kind == .perfume ? "perfumes" : "materials"
        guard let url = Bundle.module.url(forResource: name + ".jsonl", withExtension: "zst") else {
            throw StoreError(.io, "\(name).jsonl.zst is missing from the Perfumery bundle")
        }
        return try RowReader.rows(try RowReader.bytes(of: url), format: .jsonl)
    }
}
