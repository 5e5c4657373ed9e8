import Embedding
import FragranceProtocol
import FragranceStore
import Foundation
import Perfumery
import RAG

/// Every operation the server offers, once: collections, records, search, understood queries,
/// counts, snapshots, recipes and reload. Limits, role checks, error mapping and the search
/// metrics live here; the line protocol (`TCP/`) and the HTTP API (`HTTP/`) only decode a
/// request, call one method and encode the typed result. One instance serves both.
///
/// Methods block (SQLite, the graph, the model): callers run them on a thread pool, never on
/// an event loop. Errors are `ProtocolError`s (or `StoreError`s, mapped by `failure(_:)`), so
/// both front ends send the same code for the same mistake.
public final class FragranceService: Sendable {
    public struct Limits: Sendable {
        public var maxK = 1000
        public var maxEf = 4096
        public var maxBatch = 10_000
        /// Longest query text in characters, on both protocols, checked before any parsing.
        public var maxQueryLength = 2000
        public init() {}
    }

    public let database: Database
    public let limits: Limits
    /// nil: no authentication at all (embedded use, benchmarks).
    public let access: AccessControl?
    let metrics: ServerMetrics?
    /// Query understanding and hybrid search.
    let search: PerfumeSearch
    let recipes: RecipeGenerator?
    /// Why `recipes` is nil, for the UNAVAILABLE reply.
    let recipesUnavailable: String
    /// The collection `query` searches when the request names none.
    let defaultCollection: String
    let reloadHook: @Sendable () async throws -> String
    /// Calls, slow commands and connections, for INFO, SLOWLOG and CLIENT LIST.
    public let activity: ServerActivity
    /// This server's place in replication (Service+Replication.swift).
    let replicationController: ReplicationController
    /// Understood-query replies until their collection changes (QueryResultCache.swift).
    let queryCache: QueryResultCache

    public init(database: Database, limits: Limits = .init(), access: AccessControl? = nil, metrics: ServerMetrics? = nil,
                search: PerfumeSearch? = nil, recipes: Result<RecipeGenerator, Error>? = nil, defaultCollection: String = "perfumes",
                activity: ServerActivity = ServerActivity(), replication: ReplicationController = ReplicationController(),
                queryCache: QueryResultCache.Settings = .init(),
                reload: @escaping @Sendable () async throws -> String = { "nothing to reload" }) throws {
        self.database = database
        self.limits = limits
        self.access = access
        self.metrics = metrics
        self.search = try search ?? PerfumeSearch(lexicon: Lexicon.bundled(vocabulary: Vocabulary.bundled()))
        switch recipes {
        case .success(let g): self.recipes = g; recipesUnavailable = ""
        case .failure(let e): self.recipes = nil; recipesUnavailable = "recipe generation did not start: \(e)"
        case nil: self.recipes = nil; recipesUnavailable = "recipe generation is not configured on this server"
        }
        self.defaultCollection = defaultCollection
        reloadHook = reload
        self.activity = activity
        replicationController = replication
        self.queryCache = QueryResultCache(queryCache)
    }

    public var models: ModelRegistry? { database.options.models }

    // MARK: Roles

    /// Throws NOAUTH or FORBIDDEN unless `principal` may run `command` (a `CommandTable` name;
    /// HTTP routes name the command they expose). `how` tells the caller how to authenticate.
    public func authorize(_ command: String, _ principal: Principal?, how: String) throws {
        guard let needed = CommandTable.byName[command]?.role, let access, !access.isOpen else { return }
        guard let principal else { throw ProtocolError(.notAuthenticated, "\(command) needs authentication: \(how)") }
        guard principal.role >= needed else {
            throw ProtocolError(.forbidden, "\(command) needs the \(needed) role; this connection has \(principal.role)")
        }
    }

    // MARK: Errors

    /// Any error an operation throws, as the code and message both protocols send.
    public func failure(_ error: Error) -> ProtocolError {
        switch error {
        case let e as ProtocolError: return e
        case let e as StoreError: return ProtocolError(e.code, e.message)
        case let e as RecipeGenerator.Failure: return ProtocolError(ErrorCode(rawValue: e.code) ?? .unavailable, e.description)
        case let e as ServerConfiguration.Invalid: return ProtocolError(.badConfig, "configuration refused, running settings kept: \(e.description)")
        default:
            if let e = StoreError.from(error, database: database) { return ProtocolError(e.code, e.message) }
            return ProtocolError(.internalError, "\(error)")
        }
    }

    // MARK: Checks shared by the operations

    func checkText(_ text: String, _ what: String, field: String? = nil) throws {
        // Bytes first: counting the characters of 8 MB would itself take a while.
        guard text.utf8.count <= limits.maxQueryLength * 4, text.count <= limits.maxQueryLength else {
            throw ProtocolError(.tooLarge, "\(what) is longer than \(limits.maxQueryLength) characters (limits.max_query_length)", field: field)
        }
    }

    /// k below 1 is OUT_OF_RANGE, above `limits.max_k` TOO_LARGE, on both protocols
    /// (`field`: the HTTP name, "k" or "top_k"; TCP's keyword is K).
    func checkK(_ k: Int, field: String) throws {
        guard k >= 1 else { throw ProtocolError(.outOfRange, "\(field) must be at least 1, got \(k)", field: field) }
        guard k <= limits.maxK else { throw ProtocolError(.tooLarge, "\(field) \(k) is over the limit of \(limits.maxK) (limits.max_k)", field: field) }
    }

    func checkEf(_ ef: Int?) throws {
        guard let ef else { return }
        guard ef >= 1 else { throw ProtocolError(.outOfRange, "ef must be at least 1, got \(ef)", field: "ef") }
        guard ef <= limits.maxEf else { throw ProtocolError(.tooLarge, "ef \(ef) is over the limit of \(limits.maxEf) (limits.max_ef)", field: "ef") }
    }

    func checkBatch(_ n: Int, _ what: String) throws {
        guard n <= limits.maxBatch else {
            throw ProtocolError(.tooLarge, "\(n) \(what) in one request; the limit is \(limits.maxBatch) (limits.max_batch)")
        }
    }

    func collection(_ name: String) throws -> FragranceStore.Collection { try database.collection(name) }
}

/// Resident memory of this process, from /proc (0 where there is no /proc).
func residentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kb * 1024
}
