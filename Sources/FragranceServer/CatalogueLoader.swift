import FragranceStore
import Foundation
import Logging
import Perfumery
import ServiceLifecycle
import Synchronization

/// Loads the bundled catalogue (perfumes, then materials) into a data directory that has not
/// got it yet, while the listeners already answer: `/ready` says "loading" with the progress
/// until it is done. Interrupted (SIGTERM), it stops after the batch in flight; the next start
/// resumes, skipping what is stored. A marker file records each finished part.
final class CatalogueLoader: Service, Sendable {
    struct Status: Sendable {
        var phase = "idle"         // idle, loading, done, failed
        var part: String?
        var progress = Importer.Progress()
        var error: String?
    }

    let database: Database
    let logger: Logger
    let limit: Int?
    let status = Mutex(Status())

    init(database: Database, logger: Logger, limit: Int? = nil) {
        self.database = database
        self.logger = logger
        self.limit = limit
    }

    var markerURL: URL { database.directory.appendingPathComponent("catalogue.json") }

    /// Parts already loaded, from the marker file.
    func loadedParts() -> Set<String> {
        guard let data = try? Data(contentsOf: markerURL), let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [] }
        return Set((o["loaded"] as? [String]) ?? [])
    }

    /// True when there is something to load: a fresh directory, or a load that was cut short.
    func needed() -> Bool {
        let parts = loadedParts()
        if database.collectionNames.isEmpty { return true }
        // Started before (a marker or a perfumes collection made by us) but not finished.
        return FileManager.default.fileExists(atPath: markerURL.path) && !(parts.contains("perfumes") && parts.contains("materials"))
    }

    var isLoading: Bool { status.withLock { $0.phase == "loading" } }

    func run() async throws {
        guard needed() else { return }
        if !FileManager.default.fileExists(atPath: markerURL.path) { try writeMarker([]) }
        status.withLock { $0.phase = "loading" }
        let vocabulary = try Vocabulary.bundled()
        do {
            try await cancelWhenGracefulShutdown {
                var done = self.loadedParts()
                for (part, kind) in [("perfumes", Importer.Kind.perfume), ("materials", .material)] where !done.contains(part) {
                    try await self.load(part, kind, vocabulary)
                    done.insert(part)
                    try self.writeMarker(done.sorted())
                }
            }
            if loadedParts().count == 2 {
                status.withLock { $0.phase = "done" }
                logger.notice("bundled catalogue loaded")
            }
        } catch is CancellationError {
            status.withLock { $0.phase = "interrupted" }
            logger.notice("catalogue load interrupted; the next start resumes it")
        } catch {
            status.withLock { $0.phase = "failed"; $0.error = "\(error)" }
            logger.error("catalogue load failed: \(error)")
        }
    }

    private func load(_ part: String, _ kind: Importer.Kind, _ vocabulary: Vocabulary) async throws {
        let c = database.collectionNames.contains(part) ? try database.collection(part)
            : try database.createCollection(Importer.collectionConfig(name: part, kind: kind))
        let rows = try BundledCatalogue.rows(kind)
        var importer = Importer(kind: kind, vocabulary: vocabulary)
        importer.options.limit = limit
        status.withLock { $0.part = part }
        logger.notice("loading the bundled \(part): \(min(rows.count, limit ?? .max)) rows (embedding on this machine; /ready reports progress)")
        let lastLog = Mutex(Date())
        let result = try await importer.run(rows, into: CollectionSink(c), reject: { [logger] r in
            logger.warning("bundled \(part) line \(r.line) rejected: \(r.reason)")
        }, progress: { [self] p in
            status.withLock { $0.progress = p }
            let due = lastLog.withLock { last -> Bool in
                guard Date().timeIntervalSince(last) >= 10 else { return false }
                last = Date()
                return true
            }
            if due {
                let eta = p.etaSeconds.map { " ETA \(Int($0)) s" } ?? ""
                logger.notice("\(part): \(p.rowsRead)/\(p.totalRows) rows, \(Int(p.rowsPerSecond)) rows/s\(eta)")
            }
            try? Task.checkCancellation()
        })
        try Task.checkCancellation()
        try c.checkpoint()
        logger.notice("\(part): \(result.stored) stored, \(result.skipped) already there, \(result.rejected) rejected in \(String(format: "%.0f", result.seconds)) s")
    }

    private func writeMarker(_ parts: [String]) throws {
        let data = try JSONSerialization.data(withJSONObject: ["loaded": parts, "about": "parts of the bundled catalogue loaded into this directory"],
                                              options: [.sortedKeys])
        try data.write(to: markerURL, options: .atomic)
    }

    /// The loader's state for `/ready`: phase, part, and progress while loading.
    struct Report: Encodable, Sendable {
        var phase: String
        var part: String?
        var rows: Int?, total: Int?, rowsPerSecond: Int?, etaSeconds: Int?
        var error: String?
        enum CodingKeys: String, CodingKey {
            case phase, part, rows, total, error, rowsPerSecond = "rows_per_second", etaSeconds = "eta_seconds"
        }
    }

    func report() -> Report {
        status.withLock { s in
            var r = Report(phase: s.phase, part: s.part, error: s.error)
            if s.phase == "loading" {
                r.rows = s.progress.rowsRead
                r.total = s.progress.totalRows
                r.rowsPerSecond = Int(s.progress.rowsPerSecond)
                r.etaSeconds = s.progress.etaSeconds.map { Int($0) }
            }
            return r
        }
    }
}
