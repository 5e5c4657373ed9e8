import Perfumery
import ArgumentParser
import Embedding
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import FragranceServer
import FragranceStore
import Configuration
import Logging
import NIOCore

@main
struct FragranceDB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fragrancedb",
        abstract: "A hybrid vector + attribute search database for perfumery.",
        version: "fragrancedb \(FragranceVersion.current)",
        subcommands: [Serve.self, Info.self, Snapshot.self, Restore.self, Compact.self, Import.self, Shell.self]
    )
}

struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "Data directory (created if missing).")
    var data: String = "data"

    @Option(name: .long, help: "Embedding model directory (all-MiniLM-L6-v2; tools/setup fetches it). Default: $FRAGRANCEDB_MODEL_DIR or models/all-MiniLM-L6-v2.")
    var modelDir: String?

    /// `create`: make the directory and database when missing (restore); the commands that
    /// only read or change one refuse a directory holding none, so a typo does not make one.
    func open(create: Bool = false) throws -> Database {
        var options = Database.Options.perfumery
        let model = modelDir ?? ProcessInfo.processInfo.environment["FRAGRANCEDB_MODEL_DIR"] ?? "models/all-MiniLM-L6-v2"
        options.models = ModelRegistry(directory: URL(fileURLWithPath: model))   // loaded on first use
        let directory = URL(fileURLWithPath: data)
        if !create, !FileManager.default.fileExists(atPath: directory.appendingPathComponent("catalog.sqlite").path) {
            let exists = FileManager.default.fileExists(atPath: directory.path)
            throw CLIFailure("no database in '\(data)' (\(exists ? "the directory holds no catalog.sqlite" : "no such directory")); "
                             + "give --data the directory `fragrancedb serve` uses, or create one with `fragrancedb serve --data \(data)`")
        }
        return try readable { try Database(directory: directory, options: options) }
    }
}

func printErr(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// A command-line failure as one readable line (ArgumentParser prints it after "Error: ").
struct CLIFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Runs `body`, turning the errors of the layers below into readable lines: the store's code
/// and message, a file error's path and reason, a socket error's reason (not NIO's dump).
func readable<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch { throw readableError(error) }
}

func readable<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch { throw readableError(error) }
}

func readableError(_ error: Error) -> Error {
    switch error {
    case is CLIFailure, is ValidationError, is CleanExit, is ExitCode: return error
    case let e as StoreError: return CLIFailure("\(e.code.rawValue): \(e.message)")
    case let e as ServerConfiguration.Invalid: return CLIFailure("configuration: \(e.description)")
    case let e as IOError:
        let reason = String(cString: strerror(e.errnoCode))
        return CLIFailure(e.errnoCode == EADDRINUSE
            ? "cannot listen: \(reason.lowercased()) (another server on that port? choose another with --port / --http-port)"
            : "\(reason.lowercased()) (\(e.description))")
    default:
        let ns = error as NSError
        if ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain {
            let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
            let reason = (ns.userInfo[NSUnderlyingErrorKey] as? NSError).map { String(cString: strerror(Int32($0.code))) } ?? ns.localizedDescription
            return CLIFailure((path.map { "\($0): " } ?? "") + reason)
        }
        return CLIFailure("\(error)")
    }
}

struct Serve: AsyncParsableCommand {
    /// glibc gives each thread that allocates its own malloc arena (up to 8 per core), and a
    /// long-running server with NIO, command and pool threads keeps them all fragmented: 10M
    /// fuzzed requests over 8 connections grew RSS from 45 to 190 MiB with tiny collections,
    /// while the same run with 2 arenas stayed flat at 88-91 MiB (Benchmarks/README.md, fuzz).
    /// One arena per core, unless MALLOC_ARENA_MAX says otherwise.
    static func capMallocArenas() {
        #if canImport(Glibc)
        guard ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil else { return }
        // mallopt is not in Swift's Glibc module (malloc.h); M_ARENA_MAX is -8 in it.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let f = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        _ = unsafeBitCast(f, to: Mallopt.self)(-8, Int32(max(2, ProcessInfo.processInfo.activeProcessorCount)))
        #endif
    }

    static let configuration = CommandConfiguration(
        abstract: "Serve a data directory over the line protocol and HTTP until SIGINT/SIGTERM (SIGHUP reloads keys, rate limits, log level).",
        discussion: """
        Settings come from defaults < config/<FRAGRANCEDB_ENV or local>.json < FRAGRANCEDB_* environment variables < these flags.
        Keys: \(ServerConfiguration.keys.keys.sorted().joined(separator: ", ")).
        """)
    @Option(help: "Data directory (created if missing). Key data.directory.") var data: String?
    @Option(name: .long, help: "Embedding model directory. Key model.directory (also $FRAGRANCEDB_MODEL_DIR).") var modelDir: String?
    @Option(help: "Line protocol address (loopback unless auth keys are set). Key tcp.host.") var host: String?
    @Option(help: "Line protocol port. Key tcp.port (default 7700).") var port: Int?
    @Option(help: "HTTP address. Key http.host.") var httpHost: String?
    @Option(help: "HTTP port. Key http.port (default 8000).") var httpPort: Int?
    @Option(help: "Directory of <env>.json config files.") var configDir = "config"
    @Flag(help: "Load the embedding model before serving. Key model.preload.") var preloadModel = false
    @Option(help: "Serve as a read-only replica of the primary whose line protocol is at HOST:PORT. Key replication.replica_of.") var replicaOf: String?

    func run() async throws {
        Self.capMallocArenas()
        var flags: [String: ConfigContent] = [:]
        if let data { flags["data.directory"] = .string(data) }
        if let modelDir { flags["model.directory"] = .string(modelDir) }
        if let host { flags["tcp.host"] = .string(host) }
        if let port { flags["tcp.port"] = .int(port) }
        if let httpHost { flags["http.host"] = .string(httpHost) }
        if let httpPort { flags["http.port"] = .int(httpPort) }
        if preloadModel { flags["model.preload"] = .bool(true) }
        if let replicaOf { flags["replication.replica_of"] = .string(replicaOf) }
        var env = ProcessInfo.processInfo.environment
        if env["FRAGRANCEDB_MODEL_DIRECTORY"] == nil, let legacy = env["FRAGRANCEDB_MODEL_DIR"] { env["FRAGRANCEDB_MODEL_DIRECTORY"] = legacy }
        let load: @Sendable () async throws -> ServerConfiguration = { [flags, env, configDir] in
            try await ServerConfiguration.load(environmentVariables: env, flags: flags, configDirectory: configDir)
        }
        let config: ServerConfiguration
        do { config = try await load() }
        catch let e as ServerConfiguration.Invalid { throw CLIFailure("configuration: \(e)") }
        let levels = LogLevelControl(config.live.logLevel)
        LoggingSystem.bootstrap(levels.handler)
        let server = try await readable { try await DatabaseServer(configuration: config, logLevel: levels, reload: load) }
        for name in server.database.collectionNames {
            let c = try server.database.collection(name)
            print("  \(name): \(c.count) records, dim \(c.config.dimension), \(c.config.metric.rawValue), index \(c.openReport.source.rawValue)"
                  + (c.openReport.rebuildReason.map { " (\($0))" } ?? ""))
        }
        fflush(nil)
        try await readable { try await server.run() }
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List collections with their counts and index state.")
    @OptionGroup var options: DataOptions

    func run() throws {
        let db = try options.open()
        defer { try? db.close() }
        if db.collectionNames.isEmpty { print("no collections in \(options.data)") }
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
        try readable { try db.collection(collection).snapshot(to: URL(fileURLWithPath: file)) }
        print("wrote \(file)")
    }
}

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Restore a snapshot file as a new collection.")
    @OptionGroup var options: DataOptions
    @Argument(help: "Snapshot file.") var file: String
    @Option(help: "Name for the restored collection (default: the name in the snapshot).") var name: String?

    func run() throws {
        let db = try options.open(create: true)
        defer { try? db.close() }
        let c = try readable { try db.restore(from: URL(fileURLWithPath: file), as: name) }
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
        let c = try readable { try db.collection(collection) }
        let before = c.stats
        try readable { try c.compact() }
        print("\(collection): \(before.graphNodes) → \(c.stats.graphNodes) graph nodes")
    }
}
