import FragranceProtocol
import Foundation
import NIOCore
import NIOExtras
import NIOPosix
import Synchronization

/// An async client for the line protocol (schemas/protocol.md): a small pool of connections,
/// pipelined requests, a timeout per request, reconnection on the next call after a failure,
/// typed (Decodable) records, hits, recipes and server info, and the server's `-ERR` codes as
/// `FragranceClientError.server(ErrorCode, message)`. Its public surface has no NIO types.
///
/// Given `replicas` (their line-protocol addresses, README "Scaling out"), commands of the
/// `read` role go to them in turn and everything else to `host:port`, the primary; a replica
/// that cannot be reached passes the read on to the next, and the primary answers when none can.
///
/// ```swift
/// let client = FragranceClient(host: "127.0.0.1", port: 7700)
/// let hits = try await client.search("perfumes", text: "fresh citrus summer fragrance for men",
///                                    filter: "gender = 'male'", k: 5, records: true)
/// ```
public final class FragranceClient: Sendable {
    public let host: String
    public let port: Int
    /// Per request: a reply that takes longer fails with `.timeout` and drops its connection.
    public let timeout: Duration
    /// Sent with AUTH on every new connection, so a reconnect keeps its role.
    let token: String?
    let group: MultiThreadedEventLoopGroup
    private let slots: Int
    private let connections: Mutex<[Connection?]>
    private let next = Atomic<Int>(0)
    /// Read replicas, tried in turn for reads.
    let replicas: [FragranceClient]
    private let turn = Atomic<Int>(0)

    public init(host: String = "127.0.0.1", port: Int = 7700, connections: Int = 2, timeout: Duration = .seconds(30), token: String? = nil,
                replicas: [(host: String, port: Int)] = []) {
        self.replicas = replicas.map { FragranceClient(host: $0.host, port: $0.port, connections: connections, timeout: timeout, token: token) }
        self.host = host
        self.token = token
        self.port = port
        self.timeout = timeout
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        slots = max(connections, 1)
        self.connections = Mutex(Array(repeating: nil, count: max(connections, 1)))
    }

    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = timeout.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Closes every connection and the client's event loop.
    public func close() async {
        let open = connections.withLock { list -> [Connection] in
            defer { list = Array(repeating: nil, count: list.count) }
            return list.compactMap { $0 }
        }
        for c in open { try? await c.channel.close() }
        try? await group.shutdownGracefully()
        for r in replicas { await r.close() }
    }

    // MARK: - Raw requests

    /// Sends one request line and returns its reply (`-ERR` becomes a thrown error).
    public func send(_ line: String) async throws -> Reply {
        try await send([line])[0]
    }

    /// Sends lines back to back on one connection and returns their replies in order; errors
    /// are returned, not thrown, so one bad line does not hide the others' results.
    public func pipeline(_ lines: [String]) async throws -> [Reply] {
        for l in lines where l.utf8.contains(0x0A) || l.utf8.contains(0x0D) {
            throw FragranceClientError.badRequest("a request must be one line: \(l.prefix(60))")
        }
        let c = try await connection()
        do {
            return try await c.send(lines, timeout: timeAmount)
        } catch {
            drop(c)
            throw error
        }
    }

    /// One typed request (its line from FragranceProtocol's `Request`): a read to the
    /// replicas in turn when there are any (one that cannot be reached passes it on), the
    /// primary last; anything else to the primary.
    func send(_ request: Request) async throws -> Reply {
        guard !replicas.isEmpty, CommandTable.byName[request.command]?.role == .read else { return try await send(request.line) }
        let first = turn.add(1, ordering: .relaxed).newValue
        for i in 0..<replicas.count {
            do {
                return try await replicas[(first + i) % replicas.count].send(request.line)
            } catch let e as FragranceClientError {
                if case .server = e { throw e }           // an answer, not an absent replica
                if case .unknownServerError = e { throw e }
            } catch {
                continue                                  // could not connect
            }
        }
        return try await send(request.line)
    }

    func send(_ lines: [String]) async throws -> [Reply] {
        let replies = try await pipeline(lines)
        for r in replies { if case .error(let code, let message) = r { throw FragranceClientError.reply(code, message) } }
        return replies
    }

    private func connection() async throws -> Connection {
        let i = next.add(1, ordering: .relaxed).newValue % slots
        if let c = connections.withLock({ $0[i] }), c.channel.isActive { return c }
        let c = try await Connection.open(host: host, port: port, group: group)
        if let token {
            guard let reply = try await c.send([Request.auth(token: token).line], timeout: timeAmount).first else { throw FragranceClientError.disconnected }
            if case .error(let code, let message) = reply {
                c.channel.close(promise: nil)
                throw FragranceClientError.reply(code, message)
            }
        }
        connections.withLock { $0[i] = c }
        return c
    }

    private func drop(_ c: Connection) {
        connections.withLock { list in
            for i in list.indices where list[i] === c { list[i] = nil }
        }
        c.channel.close(promise: nil)
    }

    // MARK: - Typed commands

    public func ping() async throws {
        guard case .ok("PONG") = try await send(.ping) else { throw FragranceClientError.protocolViolation("PING did not answer PONG") }
    }

    public struct Hit: Decodable, Sendable, Equatable {
        public var id: String
        public var score: Double
        public var distance: Double
        /// With `records: true` (or `fields`): the record, cut to `fields` when given.
        public var record: StoredRecord?
    }

    public struct Plan: Decodable, Sendable {
        public var path: String
        public var exact: Bool
        public var reason: String
        public var records: Int
        public var candidates: Int
        public var estimated_candidates: Double
        public var ef: Int
        public var nodes_visited: Int
        public var distance_computations: Int
    }

    public struct SearchResult: Sendable {
        public var hits: [Hit]
        public var plan: Plan?
    }

    /// Nearest records to a text (embedded by the server) or a vector; `records` (or `fields`)
    /// brings each hit's record along.
    public func search(_ collection: String, text: String? = nil, vector: [Float]? = nil, filter: String? = nil,
                       k: Int = 10, ef: Int? = nil, exact: Bool = false, explain: Bool = false,
                       records: Bool = false, fields: [String]? = nil) async throws -> SearchResult {
        guard text != nil || vector != nil else { throw FragranceClientError.badRequest("search needs a text or a vector") }
        var o = SearchOptions()
        (o.text, o.vector, o.filter, o.k, o.ef, o.exact, o.explain) = (text, text == nil ? vector : nil, filter, k, ef, exact, explain)
        (o.records, o.fields) = (records, fields)
        let rows = try jsonLines(try await send(.search(collection: collection, options: o)))
        var result = SearchResult(hits: [], plan: nil)
        for row in rows {
            if row.hasPrefix("{\"plan\"") {
                struct Wrapper: Decodable { var plan: Plan }
                result.plan = try decode(Wrapper.self, row).plan
            } else {
                result.hits.append(try decode(Hit.self, row))
            }
        }
        return result
    }

    /// Many vector searches in one request (MSEARCH), spread over the server's cores; the hits
    /// of each query in the order given. The queries travel packed in the binary vector form.
    public func multiSearch(_ collection: String, vectors: [[Float]], filter: String? = nil, k: Int = 10, ef: Int? = nil,
                            exact: Bool = false) async throws -> [[Hit]] {
        guard !vectors.isEmpty else { return [] }
        var o = SearchOptions()
        (o.vectors, o.filter, o.k, o.ef, o.exact) = (vectors, filter, k, ef, exact)
        return try jsonLines(try await send(.multiSearch(collection: collection, options: o))).map { try decode([Hit].self, $0) }
    }

    public struct QueryHit: Decodable, Sendable, Equatable {
        public var id: String
        /// What ranks the hit (higher is better): the fused score, or the similarity for a plain vector search.
        public var score: Double
        /// The preferences from the query text this record matches, e.g. "seasons: spring".
        public var matchedPreferences: [String]
        public var vectorRank: Int?
        public var keywordRank: Int?
        /// The hit's place among the most voted records matching the preferences (with the quality prior).
        public var popularityRank: Int?
        /// With `records: true`: the record.
        public var record: StoredRecord?
        /// The near-duplicates this hit stands for.
        public var collapsed: [String]?
        enum CodingKeys: String, CodingKey {
            case id, score, record, collapsed, matchedPreferences = "matched_preferences", vectorRank = "vector_rank", keywordRank = "keyword_rank"
            case popularityRank = "popularity_rank"
        }
    }

    public struct QueryResult: Sendable {
        public var hits: [QueryHit]
        /// With `explain`: how the text was read, the arms and the hard filter, as the server's JSON.
        public var explanation: String?
    }

    /// Search as a user types it (`QUERY`): the server understands the text (English or
    /// Korean) and fuses its arms. `mode`: similarity, keyword or hybrid; `raw` skips understanding.
    public func query(_ collection: String, _ text: String, mode: String = "hybrid", filter: String? = nil, k: Int = 10,
                      raw: Bool = false, explain: Bool = false, records: Bool = false) async throws -> QueryResult {
        var o = SearchOptions()
        (o.mode, o.filter, o.k, o.raw, o.explain, o.records) = (mode, filter, k, raw, explain, records)
        var result = QueryResult(hits: [], explanation: nil)
        for row in try jsonLines(try await send(.query(collection: collection, text: text, options: o))) {
            if row.hasPrefix("{\"arms\"") { result.explanation = row } else { result.hits.append(try decode(QueryHit.self, row)) }
        }
        return result
    }

    /// One page of a browse: the records, how many records the filter allows in all, and the
    /// cursor of the next page (nil on the last).
    public struct Page: Sendable {
        public var records: [StoredRecord]
        public var count: Int
        public var next: String?
        /// With `facets`: the counts over every record the filter allows.
        public var facets: [Facet]?
    }

    /// Counts of one field: values (strings, sets) or ranges [from, to) (numbers).
    public struct Facet: Decodable, Sendable, Equatable {
        public struct Value: Decodable, Sendable, Equatable { public var value: String; public var count: Int }
        public struct Range: Decodable, Sendable, Equatable { public var from: Double; public var to: Double; public var count: Int }
        public var field: String
        public var values: [Value]?
        public var others: Int?
        public var ranges: [Range]?
        public var missing: Int
    }

    public struct FacetCounts: Decodable, Sendable, Equatable {
        public var count: Int
        public var facets: [Facet]
    }

    /// Records under a filter in an order (`rating:desc`, `year`, `id`), a page at a time
    /// (`SCROLL`): pass a page's `next` as `after` for the one that follows.
    public func scroll(_ collection: String, filter: String? = nil, order: String? = nil, after: String? = nil, limit: Int = 20,
                       fields: [String]? = nil, facets: [String] = []) async throws -> Page {
        var o = SearchOptions()
        (o.filter, o.order, o.after, o.limit, o.fields, o.facets) = (filter, order, after, limit, fields, facets)
        var rows = try jsonLines(try await send(.scroll(collection: collection, options: o)))
        guard let last = rows.popLast() else { throw FragranceClientError.protocolViolation("SCROLL replied no tail line") }
        struct Tail: Decodable { var count: Int; var next: String?; var facets: [Facet]? }
        let tail = try decode(Tail.self, last)
        return Page(records: try rows.map { try decode(StoredRecord.self, $0) }, count: tail.count, next: tail.next, facets: tail.facets)
    }

    /// Value counts (and ranges for numbers: `year:10`) of `fields` under a filter (`FACETS`).
    public func facets(_ collection: String, fields: [String], filter: String? = nil, size: Int = 10) async throws -> FacetCounts {
        var o = SearchOptions()
        (o.filter, o.facetSize) = (filter, size)
        guard let row = try jsonLines(try await send(.facets(collection: collection, fields: fields, options: o))).first else {
            throw FragranceClientError.protocolViolation("FACETS replied no line")
        }
        return try decode(FacetCounts.self, row)
    }

    public struct WriteCount: Sendable, Equatable {
        public var inserted: Int
        public var updated: Int
    }

    /// Inserts or replaces records (any Encodable with `id`, optional `vector` and attribute
    /// fields), in pipelined batches of `batchSize`; each batch is all-or-nothing.
    @discardableResult
    public func upsert<R: Encodable>(_ collection: String, _ records: [R], batchSize: Int = 500) async throws -> WriteCount {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var lines: [String] = []
        for start in stride(from: 0, to: records.count, by: max(batchSize, 1)) {
            let batch = Array(records[start..<min(start + max(batchSize, 1), records.count)])
            lines.append(Request.upsert(collection: collection, json: String(decoding: try encoder.encode(batch), as: UTF8.self)).line)
        }
        var total = WriteCount(inserted: 0, updated: 0)
        for reply in try await send(lines) {
            guard case .ok(let text?) = reply else { throw FragranceClientError.protocolViolation("UPSERT replied \(reply)") }
            for part in text.split(separator: " ") {
                let kv = part.split(separator: "=")
                if kv.count == 2, let n = Int(kv[1]) {
                    if kv[0] == "inserted" { total.inserted += n } else if kv[0] == "updated" { total.updated += n }
                }
            }
        }
        return total
    }

    /// A record, or nil when it does not exist (`record.decode(as:)` reads it into your type).
    public func get(_ collection: String, id: String) async throws -> StoredRecord? {
        do { return try jsonLines(try await send(.get(collection: collection, id: id))).first.map { try decode(StoredRecord.self, $0) } }
        catch FragranceClientError.server(.notFound, _) { return nil }
    }

    /// Which of these ids the collection holds.
    public func existing(_ collection: String, ids: [String]) async throws -> Set<String> {
        guard !ids.isEmpty else { return [] }
        let reply = try await send(.exists(collection: collection, ids: ids))
        return Set(try jsonLines(reply).map { try decode(String.self, $0) })
    }

    /// A collection's dimension, nil when there is no such collection.
    public func collectionDimension(_ collection: String) async throws -> Int? {
        try await collections().first { $0.name == collection }?.dimension
    }

    /// Every collection (COLLECTIONS).
    public func collections() async throws -> [CollectionSummary] {
        try jsonLines(try await send(.collections)).map { try decode(CollectionSummary.self, $0) }
    }

    /// One collection's settings, fields and figures (DESCRIBE).
    public func describe(_ collection: String) async throws -> CollectionInfo {
        guard let row = try jsonLines(try await send(.describe(collection: collection))).first else {
            throw FragranceClientError.protocolViolation("DESCRIBE replied no line")
        }
        return try decode(CollectionInfo.self, row)
    }

    /// INFO: version, uptime and every section, or one (server, clients, stats, memory, persistence, collections, model).
    public func info(section: String? = nil) async throws -> ServerInfo {
        guard let row = try jsonLines(try await send(.info(section: section))).first else {
            throw FragranceClientError.protocolViolation("INFO replied no line")
        }
        return try decode(ServerInfo.self, row)
    }

    /// A perfume recipe held to its product's IFRA limits, with its validation (GENERATE).
    public func generate(_ request: RecipeRequest) async throws -> RecipeResult {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = String(decoding: try encoder.encode(request), as: UTF8.self)
        guard let row = try jsonLines(try await send(.generate(json: json))).first else {
            throw FragranceClientError.protocolViolation("GENERATE replied no line")
        }
        return try decode(RecipeResult.self, row)
    }

    @discardableResult
    public func delete(_ collection: String, ids: [String]) async throws -> Int {
        guard case .ok(let text?) = try await send(.delete(collection: collection, ids: ids)),
              let n = Int(text.replacingOccurrences(of: "deleted=", with: "")) else {
            throw FragranceClientError.protocolViolation("DEL did not answer deleted=N")
        }
        return n
    }

    public func count(_ collection: String, filter: String? = nil) async throws -> Int {
        guard case .ok(let text?) = try await send(.count(collection: collection, filter: filter)),
              let n = Int(text) else { throw FragranceClientError.protocolViolation("COUNT did not answer a number") }
        return n
    }

    /// Creates a collection from its JSON definition (see CREATE in schemas/protocol.md).
    public func createCollection(_ name: String, definition: String) async throws {
        _ = try await send(.create(collection: name, definition: definition))
    }

    /// Adds fields or turns inference on or off (see ALTER in schemas/protocol.md); the
    /// collection as it now stands.
    @discardableResult
    public func alterCollection(_ name: String, change: String) async throws -> CollectionInfo {
        guard let row = try jsonLines(try await send(.alter(collection: name, change: change))).first else {
            throw FragranceClientError.protocolViolation("ALTER replied no description")
        }
        return try decode(CollectionInfo.self, row)
    }

    public func dropCollection(_ name: String) async throws {
        _ = try await send(.drop(collection: name))
    }

    private func jsonLines(_ reply: Reply) throws -> [String] {
        guard case .lines(let rows) = reply else { throw FragranceClientError.protocolViolation("expected a counted block, got \(reply)") }
        return rows
    }

    private func decode<T: Decodable>(_: T.Type, _ row: String) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(row.utf8)) }
        catch { throw FragranceClientError.protocolViolation("unexpected reply line \(row.prefix(120)) (\(error))") }
    }
}

/// The server's error codes are FragranceProtocol's `ErrorCode` (the same list both protocols use).
public typealias ServerErrorCode = ErrorCode

public enum FragranceClientError: Error, Sendable, CustomStringConvertible {
    /// The server answered `-ERR CODE message`.
    case server(ErrorCode, String)
    /// The server answered with a code this client does not know (a newer server's).
    case unknownServerError(code: String, message: String)
    case timeout
    case disconnected
    case badRequest(String)
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .server(let code, let message): return "\(code.rawValue) \(message)"
        case .unknownServerError(let code, let message): return "\(code) \(message)"
        case .timeout: return "the server did not answer in time"
        case .disconnected: return "the connection closed before the reply"
        case .badRequest(let s): return s
        case .protocolViolation(let s): return "protocol violation: \(s)"
        }
    }

    /// The server's code, whether this client knows it or not (nil for the client's own errors).
    public var code: String? {
        switch self {
        case .server(let code, _): code.rawValue
        case .unknownServerError(let code, _): code
        default: nil
        }
    }

    /// The error an `-ERR` reply stands for; a code this client does not know (a newer
    /// server's) keeps its code rather than being guessed.
    static func reply(_ code: String, _ message: String) -> FragranceClientError {
        guard let known = ErrorCode(rawValue: code) else { return .unknownServerError(code: code, message: message) }
        return .server(known, message)
    }
}
