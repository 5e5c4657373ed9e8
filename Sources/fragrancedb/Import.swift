import ArgumentParser
import Embedding
import Foundation
import FragranceClient
import FragranceStore
import Perfumery
import Synchronization

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bulk import perfumes or materials from JSONL or CSV (optionally .zst), offline into a data directory or into a running server.",
        discussion: """
        Rows are checked against schemas/perfume.schema.json (or material.schema.json), normalised (note names case-folded and \
        merged through the synonym table; missing seasons, families and intensity derived and marked), embedded when they carry \
        no vector, and written in all-or-nothing batches. Ids already stored are skipped, so re-running after an interruption \
        resumes and importing a file twice changes nothing (--update overwrites instead). Bad rows go to the rejects file with \
        their line and reason; the exit code is 2 when any row was rejected.
        """)

    @Argument(help: "JSONL or CSV file (.zst allowed). Omit with --bundled.") var file: String?
    @Option(help: "Import the bundled catalogue instead of a file: perfumes or materials.") var bundled: String?
    @Option(help: "Target collection (default: perfumes, or materials for --kind material).") var collection: String?
    @Option(help: "perfume or material.") var kind: String = "perfume"
    @Option(help: "Offline: the data directory to write (the server must not be running on it).") var data: String?
    @Option(help: "Online: host:port of a running server's line protocol.") var server: String?
    @Option(help: "API key or JWT for --server (default: $FRAGRANCEDB_TOKEN).") var token: String?
    @Option(name: .long, help: "Embedding model directory (offline). Default: $FRAGRANCEDB_MODEL_DIR or models/all-MiniLM-L6-v2.") var modelDir: String?
    @Option(help: "Embedding arithmetic for rows without vectors (offline): int8 (2.6× float32's import rate with AVX-512 VNNI) or float32.") var precision: String = "int8"
    @Option(help: "jsonl or csv (default: from the file name).") var format: String?
    @Option(help: "CSV mapping file: {\"columns\": {\"<column>\": \"<field>\"}} (notes.top etc. for tiers).") var mapping: String?
    @Option(help: "Extra note synonyms: {\"synonyms\": {\"variant\": \"canonical\"}}.") var synonyms: String?
    @Option(help: "Rejects file (default: <input name>.rejects.jsonl in the current directory).") var rejects: String?
    @Option(help: "Records per batch.") var batch = 256
    @Option(help: "Graph links per node (M) of a collection this import creates (default 16).") var m: Int?
    @Option(help: "efConstruction of a collection this import creates (default 200; Chroma's and Qdrant's default is 100: faster to build, slightly lower recall).") var efConstruction: Int?
    @Option(help: "Import at most this many rows.") var limit: Int?
    @Flag(help: "Check every row, write nothing.") var dryRun = false
    @Flag(help: "Overwrite records that exist instead of skipping them.") var update = false
    @Flag(help: "Drop fields the schema does not know instead of rejecting the row.") var ignoreUnknown = false

    func run() async throws {
        guard let kind = Importer.Kind(rawValue: kind) else { throw ValidationError("--kind must be perfume or material") }
        guard (file == nil) != (bundled == nil) else { throw ValidationError("give a file, or --bundled perfumes|materials") }
        guard dryRun || (data == nil) != (server == nil) else { throw ValidationError("give --data DIR (offline) or --server HOST:PORT (online)") }
        let effectiveKind: Importer.Kind = bundled == "materials" ? .material : bundled == "perfumes" ? .perfume : kind
        if let bundled, !["perfumes", "materials"].contains(bundled) { throw ValidationError("--bundled takes perfumes or materials") }
        let target = collection ?? (effectiveKind == .perfume ? "perfumes" : "materials")
        var newConfig = Importer.collectionConfig(name: target, kind: effectiveKind)
        if let m { newConfig.hnsw.m = m }
        if let efConstruction { newConfig.hnsw.efConstruction = efConstruction }
        let hnsw = newConfig.hnsw

        let rows: [SourceRow]
        let inputName: String
        do {
            if bundled != nil {
                rows = try BundledCatalogue.rows(effectiveKind)
                inputName = "bundled-\(bundled!)"
            } else {
                let url = URL(fileURLWithPath: file!)
                let fmt = try format.map { f -> RowReader.Format in
                    guard let v = RowReader.Format(rawValue: f) else { throw ValidationError("--format must be jsonl or csv") }
                    return v
                } ?? RowReader.format(of: url)
                let map = try mapping.map { try RowReader.CSVMapping(json: Data(contentsOf: URL(fileURLWithPath: $0))) }
                rows = try RowReader.rows(try RowReader.bytes(of: url), format: fmt, mapping: map)
                inputName = url.lastPathComponent
            }
        } catch let e as StoreError { throw ValidationError("\(e.message)") }

        TextEmbedder.setMathThreads(1)   // two batches embed at once, one core each
        var importer = Importer(kind: effectiveKind, vocabulary: try Vocabulary.bundled(extraSynonyms: synonyms.map { URL(fileURLWithPath: $0) }))
        importer.options.batchSize = max(1, batch)
        importer.options.update = update
        importer.options.dryRun = dryRun
        importer.options.limit = limit
        importer.ignoreUnknownFields = ignoreUnknown

        var db: Database?
        var client: FragranceClient?
        var sink: (any RecordSink)?
        if let data {
            var options = Database.Options.perfumery
            let model = modelDir ?? ProcessInfo.processInfo.environment["FRAGRANCEDB_MODEL_DIR"] ?? "models/all-MiniLM-L6-v2"
            guard let p = Precision(rawValue: precision) else {
                throw ValidationError("--precision must be int8 or float32, got '\(precision)'")
            }
            options.models = ModelRegistry(directory: URL(fileURLWithPath: model), storagePrecision: p)
            // An offline import keeps no replication log (replicas copy what it wrote); the
            // sequence still moves, so a replica knows it must.
            options.replicationBacklogBytes = 0
            do {
                let d = try Database(directory: URL(fileURLWithPath: data), options: options)
                db = d
                let c: FragranceStore.Collection
                if d.collectionNames.contains(target) {
                    c = try d.collection(target)
                    try checkGraphOptions(against: c.config)
                } else {
                    c = try d.createCollection(newConfig)
                }
                sink = CollectionSink(c)
            } catch let e as StoreError { throw ValidationError("\(e)") }
        } else if let server {
            let parts = server.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--server takes host:port, e.g. 127.0.0.1:7700") }
            let c = FragranceClient(host: String(parts[0]), port: port, connections: 2, timeout: .seconds(600),
                                    token: token ?? ProcessInfo.processInfo.environment["FRAGRANCEDB_TOKEN"])
            client = c
            let tcp = TCPSink(client: c, collection: target)
            if !dryRun, try await c.collectionDimension(target) == nil {
                try await c.createCollection(target, definition: #"{"embedder": "minilm", "schema": "\#(effectiveKind.rawValue)", "embed_fields": ["text"], "#
                                             + #""m": \#(hnsw.m), "ef_construction": \#(hnsw.efConstruction)}"#)
            } else if m != nil || efConstruction != nil {
                throw ValidationError("--m and --ef-construction set up a collection this import creates; '\(target)' exists on the server")
            }
            sink = tcp
        }

        let rejectsURL = URL(fileURLWithPath: rejects ?? "\(inputName).rejects.jsonl")
        let rejectsFile = RejectsFile(url: rejectsURL)
        let display = ProgressDisplay(label: "\(inputName) → \(target)\(dryRun ? " (dry run)" : "")")
        let result: Importer.Progress
        do {
            result = try await importer.run(rows, into: sink, reject: { rejectsFile.write($0) }, progress: { display.update($0) })
        } catch {
            display.finish()
            try? db?.close()
            await client?.close()
            throw error
        }
        display.finish()
        rejectsFile.close()
        try db?.close()
        await client?.close()
        let rate = result.seconds > 0 ? Double(result.rowsRead) / result.seconds : 0
        print("\(result.rowsRead) rows in \(String(format: "%.1f", result.seconds)) s (\(Int(rate)) rows/s): "
              + "\(result.stored) \(dryRun ? "valid" : "stored"), \(result.skipped) already there, \(result.rejected) rejected"
              + (result.rejected > 0 ? " (see \(rejectsURL.path))" : ""))
        if result.rejected > 0 { throw ExitCode(2) }
    }
}

extension Import {
    /// Graph options name how a new collection is built: on an existing one they must match.
    func checkGraphOptions(against config: CollectionConfig) throws {
        if let m, m != config.hnsw.m { throw ValidationError("--m \(m): '\(config.name)' exists with m \(config.hnsw.m)") }
        if let efConstruction, efConstruction != config.hnsw.efConstruction {
            throw ValidationError("--ef-construction \(efConstruction): '\(config.name)' exists with ef_construction \(config.hnsw.efConstruction)")
        }
    }
}

/// A running server, over the line protocol: EXISTS to skip what is stored, then one pipelined
/// UPSERT per batch (all or nothing on the server). Embedding happens on the server.
struct TCPSink: RecordSink {
    let client: FragranceClient
    let collection: String

    var dimension: Int {
        get async throws {
            guard let d = try await client.collectionDimension(collection) else { return 384 }
            return d
        }
    }

    func existing(_ ids: [String]) async throws -> Set<String> { try await client.existing(collection, ids: ids) }

    func write(_ records: [Record], normalisedWith _: CollectionSchema) async throws {   // the server normalises what it receives
        _ = try await client.send("UPSERT \(collection) " + Record.jsonList(records, includeVectors: true, binaryVectors: true))
    }
}

/// The rejects file: one JSON object per bad row (`line`, `id`, `reason`, `raw`), created on the
/// first rejection.
final class RejectsFile: Sendable {
    let url: URL
    private let handle = Mutex<FileHandle?>(nil)

    init(url: URL) { self.url = url }

    func write(_ r: Importer.Rejection) {
        var o: [String: Any] = ["line": r.line, "reason": r.reason, "raw": r.raw]
        if let id = r.id { o["id"] = id }
        let line = Data((jsonText(o) + "\n").utf8)
        handle.withLock { h in
            if h == nil {
                FileManager.default.createFile(atPath: url.path, contents: nil)
                h = FileHandle(forWritingAtPath: url.path)
            }
            h?.write(line)
        }
    }

    func close() { handle.withLock { try? $0?.close(); $0 = nil } }
}

/// A progress bar on a terminal (rows, rows/s, ETA); plain lines every few seconds otherwise.
final class ProgressDisplay: Sendable {
    let label: String
    let tty = isatty(STDERR_FILENO) == 1
    private let last = Mutex<Double>(0)

    init(label: String) { self.label = label }

    func update(_ p: Importer.Progress) {
        let now = p.seconds
        let due = last.withLock { l -> Bool in
            guard now - l >= (tty ? 0.2 : 5) || p.rowsRead == p.totalRows else { return false }
            l = now
            return true
        }
        guard due else { return }
        let eta = p.etaSeconds.map { String(format: "%d:%02d", Int($0) / 60, Int($0) % 60) } ?? "-"
        let counts = "\(p.rowsRead)/\(p.totalRows) rows  \(Int(p.rowsPerSecond)) rows/s  ETA \(eta)  stored \(p.stored)  skipped \(p.skipped)  rejected \(p.rejected)"
        if tty {
            let width = 30
            let done = p.totalRows > 0 ? min(width, width * p.rowsRead / p.totalRows) : 0
            let bar = String(repeating: "=", count: done) + (done < width ? ">" : "") + String(repeating: " ", count: max(0, width - done - 1))
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(label) [\(bar)] \(counts)".utf8))
        } else {
            FileHandle.standardError.write(Data("\(label): \(counts)\n".utf8))
        }
    }

    func finish() { if tty { FileHandle.standardError.write(Data("\n".utf8)) } }
}
