import FragranceCore
import FragranceProtocol
import Configuration
import Embedding
import Foundation
import Logging
import RAG

/// Every setting of `fragrancedb serve`, typed and checked once at start.
///
/// Sources, later ones winning: built-in defaults < `config/<env>.json` (env from
/// `FRAGRANCEDB_ENV`, default `local`) < environment variables `FRAGRANCEDB_<KEY>` (dots and
/// case folded: `http.port` is `FRAGRANCEDB_HTTP_PORT`) < command-line flags. The keys are
/// listed in `ServerConfiguration.keys` and in the README.
public struct ServerConfiguration: Sendable {
    public var environment = "local"
    public var dataDirectory = "data"
    public var modelDirectory = "models/all-MiniLM-L6-v2"
    public var preloadModel = false
    /// Arithmetic of the embedder for stored records (the catalogue, inserts without vectors).
    public var modelPrecision: Precision = .int8
    /// Load the bundled catalogue into an empty data directory at start.
    public var loadCatalogue = true
    /// At most this many perfumes and materials from it (development and tests).
    public var catalogueLimit: Int?
    /// Extra query-lexicon words (a file shaped like the bundled lexicon.json), added at start.
    public var lexiconFile: String?
    /// `query.result_cache_entries`, `query.result_cache_mb` (QueryResultCache).
    public var queryCacheEntries = 1024
    public var queryCacheMegabytes = 32

    public var tcpEnabled = true
    public var tcpHost = "127.0.0.1"
    public var tcpPort = 7700
    public var tcpMaxConnections = 1024
    public var tcpIdleTimeoutSeconds = 300
    public var tcpMaxLineBytes = 16 << 20
    public var tcpLineTimeoutSeconds = 60
    public var tcpMaxPendingLineBytes = 64 << 20
    public var tcpCommandThreads = LineServer.Configuration().commandThreads

    public var httpEnabled = true
    public var httpHost = "127.0.0.1"
    public var httpPort = 8000
    public var httpMaxBodyBytes = 32 << 20
    public var httpMaxConnections = 2048
    public var httpHeaderTimeoutSeconds = 10
    public var httpBodyTimeoutSeconds = 60
    public var httpIdleTimeoutSeconds = 75
    public var corsOrigins: [String] = []
    /// Serve /metrics without a key even when keys are configured.
    public var publicMetrics = false
    /// The collection the seed's `/api/v1/search/*` endpoints search when the body names none.
    public var defaultCollection = "perfumes"

    public var limits = FragranceService.Limits()
    /// Commands slower than this go to SLOWLOG (0: every command).
    public var slowlogThresholdMilliseconds = 10.0
    public var slowlogMaxLength = 128
    /// The LLM for recipes; nil: the composer alone.
    public var llm: LLMClient.Settings?
    public var breaker = CircuitBreaker.Settings()
    public var live = LiveSettings()
    /// host:port of the primary to follow as a read-only replica (nil: a primary, unless the
    /// data directory remembers following one).
    public var replicaOf: (host: String, port: Int)?
    /// The key this replica authenticates with at its primary (a key of the replication role there).
    public var replicationPrimaryKey: String?
    /// A replica's /ready fails when it is further behind than this.
    public var replicationMaxLagSeconds = 10.0
    /// Bytes of operations kept for replicas to catch up from.
    public var replicationBacklogBytes = 256 << 20
    /// `index.search_codes` (Database.Options.searchWithCodes).
    public var indexSearchCodes = true

    /// The part that SIGHUP (or `POST /api/v1/admin/reload`) may change on a running server.
    public struct LiveSettings: Sendable, Equatable {
        public var keys: [APIKey] = []
        public var jwtSecret: String?
        /// PEM of an ES256 public key.
        public var jwtPublicKey: String?
        /// Accept signed tokens that carry no `exp` claim (they never expire).
        public var jwtAllowNoExpiry = false
        public var perKey = RateLimiter.Settings(rate: 0, burst: 1)
        public var perAddress = RateLimiter.Settings(rate: 0, burst: 1)
        public var logLevel = Logger.Level.info
        public init() {}
    }

    public init() {}

    /// Every key a config file may hold; anything else in the file is an error.
    public static let keys: [String: String] = [
        "data.directory": "data directory (created if missing)",
        "model.directory": "all-MiniLM-L6-v2 directory (tools/setup fetches it)",
        "model.preload": "load the embedding model at start instead of on first use",
        "model.precision": "int8 (default: 3× float32's rate per core on CPUs with AVX-512 VNNI, mean cosine 0.997 to float32) or float32, for embedding stored records; queries always embed in float32",
        "catalogue.load": "load the bundled perfume and material catalogue into an empty data directory",
        "catalogue.limit": "load at most this many rows of each part (development)",
        "query.lexicon": "a JSON file of extra query words (shaped like the bundled lexicon.json), added to the bundled lexicon at start",
        "query.result_cache_entries": "understood-query replies kept until their collection changes (0: no cache)",
        "query.result_cache_mb": "megabytes those replies may hold, estimated (0: no cache)",
        "tcp.enabled": "serve the line protocol",
        "tcp.host": "line protocol address (non-loopback needs auth keys)",
        "tcp.port": "line protocol port",
        "tcp.max_connections": "open line-protocol connections at most",
        "tcp.idle_timeout_seconds": "close a connection idle this long",
        "tcp.max_line_bytes": "longest request line",
        "tcp.line_timeout_seconds": "a request line must arrive whole within this long of its first byte",
        "tcp.max_pending_line_bytes": "bytes of unfinished request lines held for all connections together",
        "tcp.command_threads": "threads that run line-protocol commands",
        "http.enabled": "serve the HTTP API",
        "http.host": "HTTP address (non-loopback needs auth keys)",
        "http.port": "HTTP port",
        "http.max_body_bytes": "largest request body (413 above)",
        "http.max_connections": "open HTTP connections at most",
        "http.header_timeout_seconds": "a new connection must send its request head within this long",
        "http.body_timeout_seconds": "a request body must arrive whole within this long of its head",
        "http.idle_timeout_seconds": "close a keep-alive connection with no new request for this long",
        "http.public_metrics": "serve /metrics without a key when keys are configured (default false)",
        "http.cors_origins": "origins allowed by CORS (\"*\" for any; empty: CORS off)",
        "http.default_collection": "collection of /api/v1/search/* when the body names none",
        "limits.max_k": "largest k / top_k",
        "limits.max_ef": "largest ef",
        "limits.max_batch": "most records in one upsert",
        "limits.max_query_length": "longest query text in characters (TCP and HTTP; refused before parsing)",
        "rate_limit.per_key": "requests a second per API key (0: off)",
        "rate_limit.per_key_burst": "bucket size per API key",
        "rate_limit.per_address": "requests a second per client address (0: off)",
        "rate_limit.per_address_burst": "bucket size per client address",
        "auth.keys": "API keys as name:role:secret (role read, replication, write or admin); hashed on load",
        "auth.key_hashes": "API keys as name:role:sha256-of-secret, for files you do not want secrets in",
        "auth.jwt_secret": "HS256 secret; tokens carry a \"role\" claim",
        "auth.jwt_public_key": "ES256 public key (PEM text, or the path of a PEM file) for tokens signed elsewhere",
        "auth.jwt_allow_no_expiry": "accept signed tokens without an exp claim (default false: such tokens are refused)",
        "slowlog.threshold_ms": "commands and requests slower than this are kept in SLOWLOG (0: all)",
        "slowlog.max_len": "entries SLOWLOG keeps (the oldest go first)",
        "log.level": "trace, debug, info, notice, warning, error or critical",
        "llm.url": "base URL of an Ollama or OpenAI-compatible server for recipes (empty: the composer alone)",
        "llm.api": "ollama or openai",
        "llm.model": "model name, e.g. smollm2:135m",
        "llm.timeout_seconds": "give up on a reply after this long (then the composer answers)",
        "llm.max_tokens": "longest reply",
        "llm.temperature": "sampling temperature",
        "llm.roles": "named model settings, role:model,… (orchestrator writes recipes; description_interpreter, customer_service)",
        "llm.breaker.failures": "consecutive failures that open the circuit breaker",
        "llm.breaker.open_seconds": "seconds open before trying again (half-open)",
        "llm.breaker.half_open_successes": "successes in half-open that close it",
        "replication.replica_of": "host:port of a primary's line protocol: serve as its read-only replica (REPLICAOF at run time; the data directory remembers)",
        "replication.primary_key": "the key this replica authenticates with at its primary (a replication-role key there)",
        "replication.max_lag_seconds": "a replica's /ready fails while it is further behind its primary than this (default 10)",
        "replication.backlog_bytes": "bytes of operations the log keeps for replicas to catch up from; one further behind copies everything (default 256 MiB)",
        "index.search_codes": "graph searches walk int8 codes and re-rank with the half-precision vectors (default true: faster, keeps ~400 bytes per 384-d vector more in memory; false: the half-precision vectors only while nothing is written)",
    ]

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
        init(_ d: String) { description = d }
    }

    /// Reads all sources. `flags` are the values given on the command line, by key.
    public static func load(environmentVariables env: [String: String] = ProcessInfo.processInfo.environment,
                            flags: [String: ConfigContent] = [:],
                            configDirectory: String = "config") async throws -> ServerConfiguration {
        let envName = env["FRAGRANCEDB_ENV"] ?? "local"
        guard envName.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), !envName.isEmpty else {
            throw Invalid("FRAGRANCEDB_ENV must be a plain name such as local or production, got '\(envName)'")
        }
        let file = "\(configDirectory)/\(envName).json"
        // An environment asked for by name must exist: a typo would otherwise start with no
        // configuration at all (the default `local` may be missing: defaults apply).
        if env["FRAGRANCEDB_ENV"] != nil, envName != "local", !FileManager.default.fileExists(atPath: file) {
            let known = ((try? FileManager.default.contentsOfDirectory(atPath: configDirectory)) ?? [])
                .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
            let near = closestName(envName, among: known).map { " (did you mean '\($0)'?)" } ?? ""
            throw Invalid("FRAGRANCEDB_ENV is '\(envName)' but there is no \(file)\(near); environments in \(configDirectory)/: "
                          + (known.isEmpty ? "none" : known.joined(separator: ", ")))
        }
        try checkFileKeys(file)
        let fileProvider: FileProvider<JSONSnapshot>
        do { fileProvider = try await FileProvider<JSONSnapshot>(filePath: .init(file), allowMissing: true) }
        catch { throw Invalid("\(file): \(error)") }
        var flagValues: [AbsoluteConfigKey: ConfigValue] = [:]
        for (k, v) in flags { flagValues[AbsoluteConfigKey(ConfigKey(k))] = ConfigValue(v, isSecret: k.hasPrefix("auth.")) }
        let reader = ConfigReader(providers: [
            InMemoryProvider(name: "flags", values: flagValues),
            EnvironmentVariablesProvider(environmentVariables: env).prefixKeys(with: "fragrancedb"),
            fileProvider,
        ])
        var c = try ServerConfiguration(reader: reader)
        c.environment = envName
        return c
    }

    init(reader r: ConfigReader) throws {
        func int(_ key: String, _ d: Int, _ range: ClosedRange<Int>) throws -> Int {
            guard let v = r.int(forKey: ConfigKey(key)) else {
                if let s = r.string(forKey: ConfigKey(key)) { throw Invalid("\(key) must be an integer, got '\(s)'") }
                return d
            }
            guard range.contains(v) else { throw Invalid("\(key) must be in \(range.lowerBound)...\(range.upperBound), got \(v)") }
            return v
        }
        func double(_ key: String, _ d: Double) throws -> Double {
            if let v = r.double(forKey: ConfigKey(key)) ?? r.int(forKey: ConfigKey(key)).map(Double.init) {
                guard v >= 0, v.isFinite else { throw Invalid("\(key) must be a number ≥ 0, got \(v)") }
                return v
            }
            if let s = r.string(forKey: ConfigKey(key)) { throw Invalid("\(key) must be a number, got '\(s)'") }
            return d
        }
        func bool(_ key: String, _ d: Bool) throws -> Bool {
            if let v = r.bool(forKey: ConfigKey(key)) { return v }
            if let s = r.string(forKey: ConfigKey(key)) { throw Invalid("\(key) must be true or false, got '\(s)'") }
            return d
        }
        func string(_ key: String, _ d: String, secret: Bool = false) throws -> String {
            guard let s = r.string(forKey: ConfigKey(key), isSecret: secret) else { return d }
            guard !s.isEmpty else { throw Invalid("\(key) must not be empty") }
            return s
        }
        func list(_ key: String) -> [String] { Self.list(r, key, secret: false) }

        dataDirectory = try string("data.directory", dataDirectory)
        modelDirectory = try string("model.directory", modelDirectory)
        preloadModel = try bool("model.preload", preloadModel)
        let precision = try string("model.precision", modelPrecision.rawValue)
        guard let p = Precision(rawValue: precision) else { throw Invalid("model.precision must be int8 or float32, got '\(precision)'") }
        modelPrecision = p
        loadCatalogue = try bool("catalogue.load", loadCatalogue)
        if r.int(forKey: "catalogue.limit") != nil || r.string(forKey: "catalogue.limit") != nil {
            catalogueLimit = try int("catalogue.limit", 0, 1...10_000_000)
        }
        if let f = r.string(forKey: "query.lexicon"), !f.isEmpty { lexiconFile = f }
        queryCacheEntries = try int("query.result_cache_entries", queryCacheEntries, 0...1_000_000)
        queryCacheMegabytes = try int("query.result_cache_mb", queryCacheMegabytes, 0...65_536)
        tcpEnabled = try bool("tcp.enabled", tcpEnabled)
        tcpHost = try string("tcp.host", tcpHost)
        tcpPort = try int("tcp.port", tcpPort, 0...65535)
        tcpMaxConnections = try int("tcp.max_connections", tcpMaxConnections, 1...1_000_000)
        tcpIdleTimeoutSeconds = try int("tcp.idle_timeout_seconds", tcpIdleTimeoutSeconds, 1...86_400)
        tcpMaxLineBytes = try int("tcp.max_line_bytes", tcpMaxLineBytes, 1024...(1 << 30))
        tcpLineTimeoutSeconds = try int("tcp.line_timeout_seconds", tcpLineTimeoutSeconds, 1...86_400)
        tcpMaxPendingLineBytes = try int("tcp.max_pending_line_bytes", tcpMaxPendingLineBytes, 1024...(1 << 40))
        tcpCommandThreads = try int("tcp.command_threads", tcpCommandThreads, 1...256)
        httpEnabled = try bool("http.enabled", httpEnabled)
        httpHost = try string("http.host", httpHost)
        httpPort = try int("http.port", httpPort, 0...65535)
        httpMaxBodyBytes = try int("http.max_body_bytes", httpMaxBodyBytes, 1024...(1 << 30))
        httpMaxConnections = try int("http.max_connections", httpMaxConnections, 1...1_000_000)
        httpHeaderTimeoutSeconds = try int("http.header_timeout_seconds", httpHeaderTimeoutSeconds, 1...3600)
        httpBodyTimeoutSeconds = try int("http.body_timeout_seconds", httpBodyTimeoutSeconds, 1...86_400)
        httpIdleTimeoutSeconds = try int("http.idle_timeout_seconds", httpIdleTimeoutSeconds, 1...86_400)
        corsOrigins = list("http.cors_origins")
        publicMetrics = try bool("http.public_metrics", publicMetrics)
        defaultCollection = try string("http.default_collection", defaultCollection)
        slowlogThresholdMilliseconds = try double("slowlog.threshold_ms", slowlogThresholdMilliseconds)
        slowlogMaxLength = try int("slowlog.max_len", slowlogMaxLength, 1...100_000)
        limits.maxK = try int("limits.max_k", limits.maxK, 1...100_000)
        limits.maxEf = try int("limits.max_ef", limits.maxEf, 1...100_000)
        limits.maxBatch = try int("limits.max_batch", limits.maxBatch, 1...1_000_000)
        limits.maxQueryLength = try int("limits.max_query_length", limits.maxQueryLength, 1...100_000)
        live = try Self.liveSettings(reader: r, double: double)
        if let url = r.string(forKey: "llm.url"), !url.isEmpty {
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw Invalid("llm.url must start with http:// or https://, got '\(url)'") }
            var s = LLMClient.Settings(baseURL: url, model: try string("llm.model", "smollm2:135m"))
            let api = try string("llm.api", "ollama")
            guard let a = LLMClient.API(rawValue: api) else { throw Invalid("llm.api must be ollama or openai, got '\(api)'") }
            s.api = a
            s.timeoutSeconds = try double("llm.timeout_seconds", 30)
            s.maxTokens = try int("llm.max_tokens", 512, 16...32768)
            s.temperature = try double("llm.temperature", 0.2)
            for entry in list("llm.roles") {
                let parts = entry.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw Invalid("llm.roles: each entry must be role:model, got '\(entry)'") }
                s.roles[parts[0]] = parts[1]
            }
            llm = s
        }
        breaker.failureThreshold = try int("llm.breaker.failures", 5, 1...1000)
        breaker.openSeconds = try double("llm.breaker.open_seconds", 60)
        breaker.halfOpenSuccesses = try int("llm.breaker.half_open_successes", 3, 1...1000)
        if let target = r.string(forKey: "replication.replica_of"), !target.isEmpty, target.lowercased() != "no one" {
            guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]), (1...65535).contains(port),
                  colon > target.startIndex else {
                throw Invalid("replication.replica_of must be host:port, got '\(target)'")
            }
            replicaOf = (String(target[..<colon]), port)
        }
        if let k = r.string(forKey: "replication.primary_key", isSecret: true), !k.isEmpty { replicationPrimaryKey = k }
        replicationMaxLagSeconds = try double("replication.max_lag_seconds", replicationMaxLagSeconds)
        replicationBacklogBytes = try int("replication.backlog_bytes", replicationBacklogBytes, 0...(1 << 40))
        indexSearchCodes = try bool("index.search_codes", indexSearchCodes)
        if tcpEnabled && httpEnabled && tcpPort != 0 && tcpPort == httpPort && tcpHost == httpHost {
            throw Invalid("tcp.port and http.port are both \(tcpPort)")
        }
    }

    static func liveSettings(reader r: ConfigReader, double: (String, Double) throws -> Double) throws -> LiveSettings {
        var live = LiveSettings()
        var keys: [APIKey] = []
        func parts(_ entry: String, _ key: String) throws -> (String, Role, String) {
            let p = entry.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            // Never echo the entry: it holds a secret.
            guard p.count == 3, !p[0].isEmpty, !p[2].isEmpty else { throw Invalid("\(key): each entry must be name:role:secret (entry \(keys.count + 1))") }
            guard let role = Role(name: p[1]) else { throw Invalid("\(key): unknown role '\(p[1])' for key '\(p[0])' (read, replication, write or admin)") }
            return (p[0], role, p[2])
        }
        func list(_ key: String) -> [String] { Self.list(r, key, secret: true) }
        for entry in list("auth.keys") {
            let (name, role, secret) = try parts(entry, "auth.keys")
            keys.append(APIKey(name: name, role: role, secret: secret))
        }
        for entry in list("auth.key_hashes") {
            let (name, role, hash) = try parts(entry, "auth.key_hashes")
            guard hash.count == 64, hash.allSatisfy(\.isHexDigit) else { throw Invalid("auth.key_hashes: '\(name)' needs 64 hex digits of SHA-256") }
            keys.append(APIKey(name: name, role: role, sha256: hash))
        }
        if let dup = Dictionary(grouping: keys, by: \.name).first(where: { $0.value.count > 1 })?.key {
            throw Invalid("auth: two keys are named '\(dup)'")
        }
        live.keys = keys
        if let s = r.string(forKey: "auth.jwt_secret", isSecret: true) {
            guard s.utf8.count >= 32 else { throw Invalid("auth.jwt_secret must be at least 32 bytes") }
            live.jwtSecret = s
        }
        if let k = r.string(forKey: "auth.jwt_public_key") {
            if k.contains("-----BEGIN") { live.jwtPublicKey = k }
            else {
                guard let pem = try? String(contentsOfFile: k, encoding: .utf8) else { throw Invalid("auth.jwt_public_key: cannot read the PEM file \(k)") }
                live.jwtPublicKey = pem
            }
        }
        if let b = r.bool(forKey: "auth.jwt_allow_no_expiry") { live.jwtAllowNoExpiry = b }
        else if let s = r.string(forKey: "auth.jwt_allow_no_expiry") { throw Invalid("auth.jwt_allow_no_expiry must be true or false, got '\(s)'") }
        let perKey = try double("rate_limit.per_key", 0)
        live.perKey = .init(rate: perKey, burst: try double("rate_limit.per_key_burst", max(1, perKey * 2)))
        let perAddress = try double("rate_limit.per_address", 0)
        live.perAddress = .init(rate: perAddress, burst: try double("rate_limit.per_address_burst", max(1, perAddress * 2)))
        if let level = r.string(forKey: "log.level") {
            guard let l = Logger.Level(rawValue: level.lowercased()) else {
                throw Invalid("log.level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got '\(level)'")
            }
            live.logLevel = l
        }
        return live
    }

    /// A list setting: a JSON array in a file, comma-separated in the environment.
    static func list(_ r: ConfigReader, _ key: String, secret: Bool) -> [String] {
        (r.stringArray(forKey: ConfigKey(key), isSecret: secret) ?? r.string(forKey: ConfigKey(key), isSecret: secret).map { [$0] } ?? [])
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Rejects keys the server does not know (a typo would otherwise be silently ignored).
    static func checkFileKeys(_ path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Invalid("\(path) is not a JSON object")
        }
        func walk(_ o: [String: Any], _ prefix: String) throws {
            for (k, v) in o {
                let key = prefix.isEmpty ? k : "\(prefix).\(k)"
                if keys[key] != nil { continue }
                if let sub = v as? [String: Any], keys.keys.contains(where: { $0.hasPrefix(key + ".") }) { try walk(sub, key); continue }
                throw Invalid("\(path): unknown setting '\(key)' (known: \(keys.keys.sorted().joined(separator: ", ")))")
            }
        }
        try walk(root, "")
    }

    /// Refuses an open server (no keys, no JWT secret) on anything but loopback.
    public func checkExposure() throws {
        guard live.keys.isEmpty, live.jwtSecret == nil, live.jwtPublicKey == nil else { return }
        for (enabled, name, host) in [(tcpEnabled, "tcp.host", tcpHost), (httpEnabled, "http.host", httpHost)] where enabled && !Self.isLoopback(host) {
            throw Invalid("\(name) is \(host) but no API keys are configured: refusing to serve an open database beyond loopback (set auth.keys or FRAGRANCEDB_AUTH_KEYS)")
        }
    }

    /// Parsed, not matched by prefix: "127.example.com" is a name anyone can point anywhere.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" { return true }
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if inet_pton(AF_INET6, bare, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { b in b.prefix(15).allSatisfy { $0 == 0 } && b[15] == 1 }
        }
        return false
    }
}
