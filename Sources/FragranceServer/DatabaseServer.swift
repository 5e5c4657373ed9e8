import Embedding
import FragranceStore
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import Perfumery
import RAG
import ServiceLifecycle
import Synchronization
import UnixSignals

/// One `fragrancedb serve` process: one storage engine shared by the line protocol and the
/// HTTP API, one configuration, one lifecycle. Start-up opens storage (and preloads the model
/// if asked); SIGTERM/SIGINT stop accepting, drain what is in flight, then flush and close
/// SQLite; SIGHUP re-reads the settings that may change live.
public final class DatabaseServer: Sendable {
    public let configuration: ServerConfiguration
    public let database: Database
    public let access: AccessControl
    public let metrics = ServerMetrics()
    let perKey: RateLimiter
    let perAddress: RateLimiter
    let logLevel: LogLevelControl
    let logger: Logger
    let pool: NIOThreadPool
    let lineServer: LineServer?
    let catalogue: CatalogueLoader?
    /// Every operation, for both listeners.
    public let service: FragranceService
    let reloadConfiguration: @Sendable () async throws -> ServerConfiguration
    private let ports = Mutex<(tcp: Int?, http: Int?)>((nil, nil))
    private let group = Mutex<ServiceGroup?>(nil)
    private let accepting = Mutex(true)
    private let httpRunning = AsyncStream<Int>.makeStream()

    /// - Parameter reload: re-reads the configuration sources (SIGHUP); defaults to "no change".
    public init(configuration: ServerConfiguration, logLevel: LogLevelControl = LogLevelControl(),
                reload: (@Sendable () async throws -> ServerConfiguration)? = nil) async throws {
        try configuration.checkExposure()
        // A broken extra lexicon stops the start with its name, before the data directory is opened.
        let search = PerfumeSearch(lexicon: try Lexicon.bundled(vocabulary: try Vocabulary.bundled(),
                                                                extra: configuration.lexiconFile.map { URL(fileURLWithPath: $0) }))
        self.configuration = configuration
        self.reloadConfiguration = reload ?? { configuration }
        var options = Database.Options.perfumery
        options.models = ModelRegistry(directory: URL(fileURLWithPath: configuration.modelDirectory),
                                       storagePrecision: configuration.modelPrecision)
        options.replicationBacklogBytes = configuration.replicationBacklogBytes
        options.searchWithCodes = configuration.indexSearchCodes
        database = try Database(directory: URL(fileURLWithPath: configuration.dataDirectory), options: options)
        access = try await AccessControl(keys: configuration.live.keys, jwtSecret: configuration.live.jwtSecret,
                                         jwtPublicKey: configuration.live.jwtPublicKey,
                                         allowTokensWithoutExpiry: configuration.live.jwtAllowNoExpiry)
        perKey = RateLimiter(configuration.live.perKey)
        perAddress = RateLimiter(configuration.live.perAddress)
        logLevel.level = configuration.live.logLevel
        self.logLevel = logLevel
        logger = Logger(label: "fragrancedb", factory: logLevel.handler)
        pool = NIOThreadPool(numberOfThreads: 8)
        // One BLAS thread per embedding call: concurrent calls (queries, import batches) use the
        // cores better than one call split across them.
        TextEmbedder.setMathThreads(1)
        let llm = configuration.llm.map { LLMRecipes(client: LLMClient(settings: $0), breaker: CircuitBreaker(settings: configuration.breaker)) }
        let db = database, perfumes = configuration.defaultCollection
        let recipes = Result { try RecipeGenerator(database: db, perfumes: perfumes, llm: llm, lexicon: search.lexicon) }
        if case .failure(let e) = recipes { Logger(label: "fragrancedb", factory: logLevel.handler).error("recipe generation is off: \(e)") }
        let reloadBox = ReloadBox()
        let replication = ReplicationController()
        replication.maxLagSeconds = configuration.replicationMaxLagSeconds
        replication.primaryKey = configuration.replicationPrimaryKey
        service = try FragranceService(database: database, limits: configuration.limits, access: access, metrics: metrics, search: search,
                                       recipes: recipes, defaultCollection: configuration.defaultCollection,
                                       activity: ServerActivity(slowThresholdMicroseconds: UInt64(configuration.slowlogThresholdMilliseconds * 1000),
                                                                slowLogLength: configuration.slowlogMaxLength),
                                       replication: replication,
                                       queryCache: .init(maxEntries: configuration.queryCacheEntries, maxBytes: configuration.queryCacheMegabytes << 20),
                                       reload: { try await reloadBox.run() })
        // A replica's records come from its primary, the catalogue with them.
        let remembered = try database.replicationPosition().primary
        let replica = configuration.replicaOf != nil || remembered != nil
        catalogue = configuration.loadCatalogue && !replica
            ? CatalogueLoader(database: database, logger: logger, limit: configuration.catalogueLimit) : nil
        if configuration.tcpEnabled {
            var tcp = LineServer.Configuration()
            tcp.host = configuration.tcpHost
            tcp.port = configuration.tcpPort
            tcp.maxConnections = configuration.tcpMaxConnections
            tcp.idleTimeout = .seconds(Int64(configuration.tcpIdleTimeoutSeconds))
            tcp.maxLineBytes = configuration.tcpMaxLineBytes
            tcp.lineTimeout = .seconds(Int64(configuration.tcpLineTimeoutSeconds))
            tcp.maxPendingLineBytes = configuration.tcpMaxPendingLineBytes
            tcp.commandThreads = configuration.tcpCommandThreads
            lineServer = LineServer(router: CommandRouter(service: service), configuration: tcp)
        } else {
            lineServer = nil
        }
        reloadBox.server.withLock { $0 = self }
    }

    /// The service's reload hook, pointed at the server once it exists.
    final class ReloadBox: Sendable {
        let server = Mutex<DatabaseServer?>(nil)
        func run() async throws -> String {
            guard let s = server.withLock({ $0 }) else { return "nothing to reload" }
            return try await s.reload()
        }
    }

    /// The bound ports once listening (useful with port 0); waits for the HTTP listener.
    public func boundPorts() async -> (tcp: Int?, http: Int?) {
        if configuration.httpEnabled, ports.withLock({ $0.http }) == nil {
            for await _ in httpRunning.stream { break }
        }
        return ports.withLock { $0 }
    }

    /// Serves until SIGTERM/SIGINT (when `signals` is true) or `shutdown()`.
    public func run(signals: Bool = true) async throws {
        defer { httpRunning.continuation.finish() }   // never leave boundPorts() waiting
        pool.start()
        logger.info("data directory \(database.directory.path): \(database.collectionNames.count) collections")
        if access.isOpen {
            logger.notice("no API keys configured: authentication is off, so the server listens on loopback only")
        } else {
            logger.info("authentication on: \(access.keyCount) API keys\(configuration.live.jwtSecret != nil ? ", HS256 tokens" : "")\(configuration.live.jwtPublicKey != nil ? ", ES256 tokens" : "")")
        }
        if configuration.preloadModel, let models = database.options.models {
            let t0 = Date()
            do {
                _ = try models.embedder()
                logger.info("embedding model loaded in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s")
            } catch {
                logger.error("embedding model did not load: \(error)")
            }
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: StorageService(server: self))]
        if let catalogue { services.append(.init(service: catalogue, successTerminationBehavior: .ignore)) }
        if let lineServer {
            let port = try lineServer.start()
            ports.withLock { $0.tcp = port }
            logger.info("line protocol on \(configuration.tcpHost):\(port)")
            services.append(.init(service: LineService(server: lineServer)))
        }
        if configuration.httpEnabled {
            services.append(.init(service: makeHTTPApplication()))
        }
        services.append(.init(service: ReloadService(server: self)))
        // Following a primary starts once this server answers (its own port could be the target).
        let service = self.service, target = configuration.replicaOf
        let note = try await pool.runIfActive { () -> String? in
            if let target { return try service.replicaOf(target).message }
            try service.resumeReplication()
            return service.replication.primary.map { "following \($0) (remembered by the data directory)" }
        }
        if let note { logger.notice("replica: \(note)") }
        var config = ServiceGroupConfiguration(services: services, logger: logger)
        if signals { config.gracefulShutdownSignals = [.sigterm, .sigint] }
        let g = ServiceGroup(configuration: config)
        group.withLock { $0 = g }
        try await g.run()
        logger.info("stopped")
    }

    /// Starts a graceful shutdown, as SIGTERM does.
    public func shutdown() async {
        guard let g = group.withLock({ $0 }) else { return }
        await g.triggerGracefulShutdown()
    }

    func makeHTTPApplication() -> some Service {
        let api = HTTPAPI(service: service, perKey: perKey, perAddress: perAddress, metrics: metrics, pool: pool, configuration: configuration,
                          ready: { [self] in self.accepting.withLock { $0 } },
                          catalogue: { [self] in self.catalogue.map { ($0.isLoading, $0.report()) } ?? (false, nil) })
        let responder = Gateway.wrap(api.makeRouter().buildResponder(), api: api, cors: CORSPolicy(origins: configuration.corsOrigins))
        var appConfig = ApplicationConfiguration(address: .hostname(configuration.httpHost, port: configuration.httpPort), serverName: "fragrancedb")
        appConfig.availableConnectionsDelegate = ConnectionGauge(limit: configuration.httpMaxConnections, metrics: metrics)
        let continuation = httpRunning.continuation
        let deadlines = HTTPDeadlines.Limits(header: .seconds(Int64(configuration.httpHeaderTimeoutSeconds)),
                                             body: .seconds(Int64(configuration.httpBodyTimeoutSeconds)),
                                             idle: .seconds(Int64(configuration.httpIdleTimeoutSeconds)))
        return Application(responder: responder, server: .http1(configuration: .init(additionalChannelHandlers: [HTTPDeadlines(deadlines)])),
                           configuration: appConfig, onServerRunning: { [self] channel in
            let port = channel.localAddress?.port ?? self.configuration.httpPort
            self.ports.withLock { $0.http = port }
            self.logger.info("HTTP API on \(self.configuration.httpHost):\(port) (docs at /docs)")
            continuation.yield(port)
            continuation.finish()
        }, logger: logger)
    }

    /// Applies the settings that may change while running; reports what changed.
    public func reload() async throws -> String {
        let fresh = try await reloadConfiguration()
        try fresh.checkExposure()
        let live = fresh.live
        try await access.replace(keys: live.keys, jwtSecret: live.jwtSecret, jwtPublicKey: live.jwtPublicKey,
                                 allowTokensWithoutExpiry: live.jwtAllowNoExpiry)
        perKey.settings = live.perKey
        perAddress.settings = live.perAddress
        logLevel.level = live.logLevel
        var restartOnly: [String] = []
        if fresh.tcpPort != configuration.tcpPort || fresh.tcpHost != configuration.tcpHost { restartOnly.append("tcp address") }
        if fresh.httpPort != configuration.httpPort || fresh.httpHost != configuration.httpHost { restartOnly.append("http address") }
        if fresh.dataDirectory != configuration.dataDirectory { restartOnly.append("data directory") }
        let summary = "keys=\(live.keys.count) jwt=\(live.jwtSecret != nil) rate_limit.per_key=\(live.perKey.rate) "
            + "rate_limit.per_address=\(live.perAddress.rate) log.level=\(live.logLevel.rawValue)"
            + (restartOnly.isEmpty ? "" : "; needs a restart to change: \(restartOnly.joined(separator: ", "))")
        logger.notice("configuration reloaded: \(summary)")
        return summary
    }

    /// Closes storage last, after the listeners have drained.
    struct StorageService: Service {
        let server: DatabaseServer
        func run() async throws {
            try? await gracefulShutdown()
            server.accepting.withLock { $0 = false }
            server.service.stopReplication()
            try await server.pool.shutdownGracefully()
            try server.database.close()
            server.logger.info("storage flushed and closed")
        }
    }

    struct LineService: Service {
        let server: LineServer
        func run() async throws {
            try? await gracefulShutdown()
            server.stop()
        }
    }

    struct ReloadService: Service {
        let server: DatabaseServer
        func run() async throws {
            let signals = await UnixSignalsSequence(trapping: .sighup)
            try await cancelWhenGracefulShutdown {
                for await _ in signals {
                    do { _ = try await server.reload() }
                    catch { server.logger.error("reload refused, keeping the running settings: \(error)") }
                }
            }
        }
    }
}

/// Caps open HTTP connections and reports how many are open.
struct ConnectionGauge: AvailableConnectionsDelegate {
    let limit: Int
    let metrics: ServerMetrics
    var open = 0

    init(limit: Int, metrics: ServerMetrics) {
        self.limit = limit
        self.metrics = metrics
    }

    mutating func connectionOpened() {
        open += 1
        metrics.openHTTPConnections.increment()
    }

    mutating func connectionClosed() {
        open -= 1
        metrics.openHTTPConnections.decrement()
    }

    func isAcceptingNewConnections() -> Bool { open < limit }
}
