import ArgumentParser
import Embedding
import Foundation
import FragranceServer
import FragranceStore

@main
struct FragranceDB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fragrancedb",
        abstract: "A hybrid vector + attribute search database for perfumery.",
        subcommands: [Serve.self, Info.self, Snapshot.self, Restore.self, Compact.self, Import.self, Shell.self]
    )
}

struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "Data directory (created if missing).")
    var data: String = "data"

    @Option(name: .long, help: "Embedding model directory (all-MiniLM-L6-v2; tools/setup fetches it). Default: $FRAGRANCEDB_MODEL_DIR or models/all-MiniLM-L6-v2.")
    var modelDir: String?

    func open() throws -> Database {
        var options = Database.Options()
        let model = modelDir ?? ProcessInfo.processInfo.environment["FRAGRANCEDB_MODEL_DIR"] ?? "models/all-MiniLM-L6-v2"
        options.models = ModelRegistry(directory: URL(fileURLWithPath: model))   // loaded on first use
        do { return try Database(directory: URL(fileURLWithPath: data), options: options) }
        catch let e as StoreError { throw ValidationError("\(e)") }
    }
}

func printErr(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve a data directory over the line protocol until SIGINT/SIGTERM.")
    @OptionGroup var options: DataOptions
    @Option(help: "TCP address to listen on (loopback unless you opt in).") var host = "127.0.0.1"
    @Option(help: "TCP port of the line protocol.") var port = 7700

    func run() throws {
        let db = try options.open()
        print("fragrancedb: data directory \(db.directory.path)")
        for name in db.collectionNames {
            let c = try db.collection(name)
            print("  \(name): \(c.count) records, dim \(c.config.dimension), \(c.config.metric.rawValue), index \(c.openReport.source.rawValue)"
                  + (c.openReport.rebuildReason.map { " (\($0))" } ?? ""))
        }
        var config = LineServer.Configuration()
        config.host = host
        config.port = port
        let server = LineServer(router: CommandRouter(database: db), configuration: config)
        let bound = try server.start()
        // The HTTP API (port 8000) is issue #5.
        print("fragrancedb: line protocol on \(host):\(bound) (try: printf 'PING\\r\\n' | nc \(host) \(bound)). Ctrl-C to stop.")
        fflush(nil)
        let stop = DispatchSemaphore(value: 0)
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { stop.signal() }
            s.resume()
            return s
        }
        stop.wait()
        sources.forEach { $0.cancel() }
        server.stop()
        try db.close()
        print("fragrancedb: index files saved, stopped.")
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List collections with their counts and index state.")
    @OptionGroup var options: DataOptions

    func run() throws {
        let db = try options.open()
        defer { try? db.close() }
        for name in db.collectionNames {
            let c = try db.collection(name)
            let s = c.stats
            print("\(name)\trecords=\(s.records)\tdim=\(c.config.dimension)\tmetric=\(c.config.metric.rawValue)\tgraph_nodes=\(s.graphNodes)\ttombstones=\(s.tombstones)\tindex_bytes=\(s.indexBytes)\topened=\(c.openReport.source.rawValue)")
        }
    }
}

struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a collection to one zstd-compressed file.")
    @OptionGroup var options: DataOptions
    @Argument(help: "Collection name.") var collection: String
    @Argument(help: "Output file (.fdbz).") var file: String

    func run() throws {
        let db = try options.open()
        defer { try? db.close() }
        try db.collection(collection).snapshot(to: URL(fileURLWithPath: file))
        print("wrote \(file)")
    }
}

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Restore a snapshot file as a new collection.")
    @OptionGroup var options: DataOptions
    @Argument(help: "Snapshot file.") var file: String
    @Option(help: "Name for the restored collection (default: the name in the snapshot).") var name: String?

    func run() throws {
        let db = try options.open()
        defer { try? db.close() }
        let c = try db.restore(from: URL(fileURLWithPath: file), as: name)
        print("restored \(c.config.name): \(c.count) records")
    }
}

struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rebuild a collection's graph without tombstones.")
    @OptionGroup var options: DataOptions
    @Argument(help: "Collection name.") var collection: String

    func run() throws {
        let db = try options.open()
        defer { try? db.close() }
        let c = try db.collection(collection)
        let before = c.stats
        try c.compact()
        print("\(collection): \(before.graphNodes) → \(c.stats.graphNodes) graph nodes")
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Bulk import JSONL/CSV (not built yet: issue #6).")
    func run() throws { throw notBuilt("import", issue: 6) }
}

func notBuilt(_ what: String, issue: Int) -> Error {
    printErr("fragrancedb \(what): not built yet (tracked in issue #\(issue)).")
    return ExitCode(64)
}
