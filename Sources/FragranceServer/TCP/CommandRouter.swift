import Embedding
import FragranceProtocol
import FragranceStore
import Foundation
import HNSW
import Perfumery
import RAG

/// The command table of the line protocol (schemas/protocol.md): each command parses its
/// arguments and calls the store. Runs off the event loops (storage work may block).
public struct CommandRouter: Sendable {
    public struct Limits: Sendable {
        public var maxK = 1000
        public var maxEf = 4096
        public var maxBatch = 10_000
        /// Longest query text in characters, on both protocols, checked before any parsing.
        public var maxQueryLength = 2000
        public init() {}

        func checkQuery(_ text: String, _ what: String) throws {
            // Bytes first: counting the characters of 8 MB would itself take a while.
            guard text.utf8.count <= maxQueryLength * 4, text.count <= maxQueryLength else {
                throw ProtocolError(.tooLarge, "\(what) is longer than \(maxQueryLength) characters (limits.max_query_length)")
            }
        }
    }

    /// One connection's state. Only the connection's own pool task touches it (one at a time).
    public final class Session: @unchecked Sendable {
        public var principal: Principal?
        /// The client's address, for the failed-authentication throttle.
        public var address: String
        /// Failed AUTH/HELLO attempts on this connection (the server closes it after a few).
        public var authFailures = 0
        public init(principal: Principal? = nil, address: String = "local") {
            self.principal = principal
            self.address = address
        }
    }

    public let database: Database
    public let limits: Limits
    /// nil: no authentication at all (embedded use, benchmarks).
    public let access: AccessControl?
    let metrics: ServerMetrics?
    let recipes: RecipeGenerator?
    /// Query understanding and hybrid search (the bundled lexicon unless one is given).
    let search: PerfumeSearch?
    public var models: ModelRegistry? { database.options.models }

    public init(database: Database, limits: Limits = .init(), access: AccessControl? = nil, metrics: ServerMetrics? = nil,
                recipes: RecipeGenerator? = nil, search: PerfumeSearch? = nil) {
        self.recipes = recipes
        self.search = search ?? (try? PerfumeSearch(lexicon: Lexicon.bundled(vocabulary: Vocabulary.bundled())))
        self.database = database
        self.limits = limits
        self.access = access
        self.metrics = metrics
    }

    /// Handles one request line as an administrator (no session). `close` is true after QUIT.
    public func handle(line: String) -> (reply: Reply, close: Bool) {
        handle(line: line, session: Session(principal: Principal(name: "local", role: .admin)))
    }

    /// Handles one request line for a connection. `close` is true after QUIT.
    public func handle(line: String, session: Session) -> (reply: Reply, close: Bool) {
        let start = DispatchTime.now().uptimeNanoseconds
        var commandName = "?"
        let (reply, close) = dispatch(line: line, session: session, name: &commandName)
        if let metrics {
            if case .error = reply { metrics.tcpCommand(commandName, ok: false, nanoseconds: DispatchTime.now().uptimeNanoseconds - start) }
            else { metrics.tcpCommand(commandName, ok: true, nanoseconds: DispatchTime.now().uptimeNanoseconds - start) }
        }
        return (reply, close)
    }

    private func dispatch(line: String, session: Session, name commandName: inout String) -> (reply: Reply, close: Bool) {
        do {
            let tokens = try LineTokenizer.tokenize(line)
            guard let first = tokens.first, case .word(let name) = first else {
                return (.error(.syntax, "expected a command name; try HELP"), false)
            }
            let upper = name.uppercased()
            if upper == "QUIT" { commandName = upper; return (.ok("bye"), true) }
            if upper == "AUTH" || upper == "HELLO" {
                commandName = upper
                return (try authenticate(upper, tokens.dropFirst(), session), false)
            }
            guard let spec = CommandTable.byName[upper], let run = Self.commands[upper] else {
                return (.error(.unknownCommand, "unknown command '\(name)'; try HELP"), false)
            }
            commandName = upper
            if let needed = spec.role, let access {
                let role = session.principal?.role ?? (access.isOpen ? .admin : nil)
                guard let role else {
                    return (.error(.notAuthenticated, "\(upper) needs authentication: send AUTH <token> first"), false)
                }
                guard role >= needed else {
                    return (.error(.forbidden, "\(upper) needs the \(needed) role; this connection has \(role)"), false)
                }
            }
            return (try run(self, tokens.dropFirst()), false)
        } catch let e as StoreError {
            return (.error(e.code, e.message), false)
        } catch let e as ProtocolError {
            return (.error(e.code, e.message), false)
        } catch {
            if let e = StoreError.from(error, database: database) { return (.error(e.code, e.message), false) }
            return (.error(.internalError, "\(error)"), false)
        }
    }

    /// AUTH <token> | HELLO [token]: sets the connection's role; HELLO also says what the server is.
    private func authenticate(_ verb: String, _ args: ArraySlice<Token>, _ session: Session) throws -> Reply {
        if let token = args.first?.text {
            guard args.count == 1 else { throw ProtocolError(.syntax, "\(verb) takes one token") }
            guard let access else { throw ProtocolError(.badRequest, "this server has no authentication") }
            if let wait = access.failures.wait(session.address) {
                throw ProtocolError(.rateLimited, "too many failed authentications from this address; retry in \(max(1, Int(wait.rounded(.up)))) s")
            }
            guard let p = access.authenticateBlocking(token) else {
                metrics?.authFailure("tcp")
                access.failures.failed(session.address)
                session.principal = nil
                session.authFailures += 1
                throw ProtocolError(.wrongPassword, "invalid token")   // says nothing about which part was wrong
            }
            session.principal = p
        } else if verb == "AUTH" {
            throw ProtocolError(.syntax, "AUTH needs a token: AUTH <api key or JWT>")
        }
        let open = access?.isOpen ?? true
        let role = session.principal?.role ?? (open ? .admin : nil)
        if verb == "AUTH" { return .ok("authenticated as \(session.principal?.name ?? "?") role=\(role.map(String.init(describing:)) ?? "none")") }
        return .lines([jsonText(["server": "fragrancedb", "protocol": 1, "auth": open ? "open" : "required",
                                 "role": role.map(String.init(describing:)) ?? NSNull(),
                                 "commands": CommandTable.all.map(\.name)] as [String: Any])])
    }

    
    /// What each command of `CommandTable` runs (AUTH, HELLO and QUIT are handled before, as
    /// they touch the connection, not the store).
    typealias Handler = @Sendable (CommandRouter, ArraySlice<Token>) throws -> Reply
    static let commands: [String: Handler] = [
        "PING": { _, _ in .ok("PONG") },
        "HELP": { _, args in
            if let name = args.first?.text.uppercased() {
                guard let spec = CommandTable.byName[name] else { throw ProtocolError(.unknownCommand, "no command '\(name)'") }
                return .lines([jsonText(spec.help)])
            }
            return .lines(CommandTable.all.map { jsonText($0.help) })
        },
        "INFO": { r, _ in
            .lines([jsonText(r.info())])
        },
        "COLLECTIONS": { r, _ in
            .lines(try r.collectionList().map(jsonText))
        },
        "CREATE": { r, args in
            let name = try r.name(args, 0)
            guard let json = args.dropFirst().first, case .json(let text) = json else {
                throw ProtocolError(.syntax, "CREATE needs a JSON object after the name, e.g. {\"dimension\": 384}")
            }
            try r.database.createCollection(try collectionConfig(name: name, json: text))
            return .ok("created \(name)")
        },
        "DROP": { r, args in
            let name = try r.name(args, 0)
            try r.database.dropCollection(name)
            return .ok("dropped \(name)")
        },
        "UPSERT": { r, args in
            let c = try r.collection(args)
            guard let json = args.dropFirst().first, case .json(let text) = json else {
                throw ProtocolError(.syntax, "UPSERT needs a JSON record or array after the collection name")
            }
            let records = try Record.decodeList(json: text)
            guard records.count <= r.limits.maxBatch else {
                throw ProtocolError(.tooLarge, "\(records.count) records in one UPSERT; the limit is \(r.limits.maxBatch)")
            }
            let w = try c.upsert(records)
            return .ok("inserted=\(w.inserted) updated=\(w.updated)")
        },
        "GET": { r, args in
            let c = try r.collection(args)
            guard let id = args.dropFirst().first?.text else { throw ProtocolError(.syntax, "GET needs a record id") }
            guard let record = try c.get(id) else { throw StoreError(.notFound, "no record '\(id)' in '\(c.config.name)'") }
            return .lines([jsonText(record.jsonObject())])
        },
        "EXISTS": { r, args in
            let c = try r.collection(args)
            let ids = args.dropFirst().map(\.text)
            guard !ids.isEmpty else { throw ProtocolError(.syntax, "EXISTS needs at least one id") }
            guard ids.count <= r.limits.maxBatch else { throw ProtocolError(.tooLarge, "\(ids.count) ids; the limit is \(r.limits.maxBatch)") }
            let stored = c.existing(ids)
            return .lines(ids.filter { stored.contains($0) }.map { jsonString($0) })
        },
        "DEL": { r, args in
            let c = try r.collection(args)
            let ids = args.dropFirst().map(\.text)
            guard !ids.isEmpty else { throw ProtocolError(.syntax, "DEL needs at least one id") }
            return .ok("deleted=\(try c.delete(ids))")
        },
        "COUNT": { r, args in
            let c = try r.collection(args)
            let options = try SearchOptions(args.dropFirst(), allowed: ["FILTER"])
            return .ok(String(try c.count(filter: options.filter)))
        },
        "SEARCH": { r, args in
            let c = try r.collection(args)
            let o = try SearchOptions(args.dropFirst(), allowed: ["TEXT", "VECTOR", "FILTER", "K", "EF", "EXACT", "EXPLAIN"])
            if let text = o.text { try r.limits.checkQuery(text, "TEXT") }
            guard o.k <= r.limits.maxK else { throw ProtocolError(.tooLarge, "K \(o.k) is over the limit of \(r.limits.maxK)") }
            if let ef = o.ef, ef > r.limits.maxEf { throw ProtocolError(.tooLarge, "EF \(ef) is over the limit of \(r.limits.maxEf)") }
            var request: SearchRequest
            if let text = o.text { request = SearchRequest(text: text, k: o.k, ef: o.ef, filter: o.filter, exact: o.exact) }
            else if let v = o.vector { request = SearchRequest(vector: v, k: o.k, ef: o.ef, filter: o.filter, exact: o.exact) }
            else { throw ProtocolError(.syntax, "SEARCH needs TEXT \"…\" or VECTOR [..]") }
            let result = try c.search(request)
            r.metrics?.search(result.plan)
            // Written by hand: this is the hot path of every search reply.
            var lines = result.hits.map { "{\"distance\":\($0.distance),\"id\":\(jsonString($0.id)),\"score\":\($0.score)}" }
            if o.explain { lines.append(jsonText(["plan": planJSON(result.plan)])) }
            return .lines(lines)
        },
        "QUERY": { r, args in
            let c = try r.collection(args)
            let t = args.dropFirst().first
            guard let t, !{ if case .json = t { true } else { false } }() else {
                throw ProtocolError(.syntax, "QUERY needs the query text after the collection, e.g. QUERY perfumes \"fresh spring florals\"")
            }
            try r.limits.checkQuery(t.text, "the query text")
            let o = try SearchOptions(args.dropFirst(2), allowed: ["MODE", "FILTER", "K", "RAW", "EXPLAIN"])
            guard o.k <= r.limits.maxK else { throw ProtocolError(.tooLarge, "K \(o.k) is over the limit of \(r.limits.maxK)") }
            guard let mode = PerfumeSearch.Mode(rawValue: o.mode ?? "hybrid") else {
                throw ProtocolError(.syntax, "MODE must be similarity, keyword or hybrid, got '\(o.mode ?? "")'")
            }
            guard let search = r.search else { throw ProtocolError(.unavailable, "query understanding is not configured") }
            var q = PerfumeSearch.Query(text: t.text, filter: o.filter, k: o.k, mode: mode)
            q.understand = !o.raw
            let result = try search.search(q, in: c)
            if let plan = result.plan { r.metrics?.search(plan) }
            var lines = result.hits.map { h -> String in
                var o: [String: Any] = ["id": h.id, "score": h.score, "matched": h.matchedPreferences]
                if let v = h.vector { o["vector_rank"] = v.rank }
                if let k = h.keyword { o["keyword_rank"] = k.rank }
                return jsonText(o)
            }
            if o.explain {
                var e: [String: Any] = ["arms": result.arms, "filter": result.filter ?? NSNull()]
                if let p = result.parsed { e["parsed"] = HTTPAPI.parsedJSON(p, result) }
                if let plan = result.plan { e["plan"] = planJSON(plan) }
                lines.append(jsonText(e))
            }
            return .lines(lines)
        },
        "GENERATE": { r, args in
            guard let t = args.first, case .json(let text) = t, let o = try StrictJSON.parse(Data(text.utf8)) as? [String: Any] else {
                throw ProtocolError(.syntax, "GENERATE needs a JSON object, e.g. GENERATE {\"fragrance_family\": \"floral\"}")
            }
            if let unknown = o.keys.sorted().first(where: { !RecipeAPI.requestFields.contains($0) }) {
                throw ProtocolError(.badRequest, "unknown field '\(unknown)' (known: \(RecipeAPI.requestFields.sorted().joined(separator: ", ")))")
            }
            guard let g = r.recipes else { throw ProtocolError(.unavailable, "recipe generation is not configured on this server") }
            do { return .lines([jsonText(try RecipeAPI.generateBlocking(g, try RecipeAPI.request(o, field: nil)))]) }
            catch let e as APIError { throw ProtocolError(e.code, e.message) }
        },
        "SNAPSHOT": { r, args in
            .ok(try r.writeSnapshot(try r.collection(args)))
        },
        "RESTORE": { r, args in
            guard let file = args.first?.text, !file.isEmpty else { throw ProtocolError(.syntax, "RESTORE needs a snapshot file name") }
            var target: String?
            if args.count >= 3 {
                guard args.dropFirst().first?.text.uppercased() == "AS" else { throw ProtocolError(.syntax, "expected AS <name>") }
                target = args.dropFirst(2).first?.text
            }
            let c = try r.restoreSnapshot(named: file, as: target)
            return .ok("restored \(c.config.name) records=\(c.count)")
        },
    ]

    // MARK: Operations shared with the HTTP API

    static func planJSON(_ p: QueryPlan) -> [String: Any] {
        ["path": p.path.rawValue, "exact": p.exact, "reason": p.reason, "records": p.records,
         "estimated_candidates": p.estimatedCandidates, "candidates": p.candidates, "ef": p.ef,
         "nodes_visited": p.nodesVisited, "distance_computations": p.distanceComputations]
    }

    func info() -> [String: Any] {
        var collections: [[String: Any]] = []
        for name in database.collectionNames {
            guard let c = try? database.collection(name) else { continue }
            collections.append(collectionInfo(c))
        }
        var model: Any = NSNull()
        if let m = models?.stats {
            model = ["directory": m.directory, "loaded": m.loaded, "mapped_bytes": m.mappedBytes, "calls": m.calls,
                     "texts_embedded": m.textsEmbedded, "load_seconds": m.loadSeconds, "last_error": m.lastError ?? NSNull()] as [String: Any]
        }
        return ["server": "fragrancedb", "memory": ["rss_bytes": residentBytes()], "collections": collections, "model": model]
    }

    func collectionList() throws -> [[String: Any]] {
        try database.collectionNames.map { n in
            let c = try database.collection(n)
            return ["name": n, "records": c.count, "dimension": c.config.dimension, "metric": c.config.metric.rawValue,
                    "embedder": c.config.embedder ?? NSNull()]
        }
    }

    func collectionInfo(_ c: Collection) -> [String: Any] {
        let s = c.stats
        return ["name": c.config.name, "records": s.records, "dimension": c.config.dimension, "metric": c.config.metric.rawValue,
                "embedder": c.config.embedder ?? NSNull(), "graph_nodes": s.graphNodes, "tombstones": s.tombstones,
                "index_bytes": s.indexBytes, "unsaved_operations": s.unsavedOperations, "index_save_error": s.indexSaveError ?? NSNull(),
                "fields": c.config.schema.fields.map { ["name": $0.name, "type": $0.type.rawValue] }]
    }

    /// Writes `snapshots/<collection>-<time>.fdbz` in the data directory; returns that relative path.
    func writeSnapshot(_ c: Collection) throws -> String {
        let dir = database.directory.appendingPathComponent("snapshots")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let stamp = f.string(from: Date()).replacingOccurrences(of: ":", with: "")
        // The name is claimed with O_EXCL, so two snapshots in the same millisecond (or an
        // older file of that name) are never overwritten: the second gets "-2", and so on.
        var n = 1
        var file: URL
        while true {
            file = dir.appendingPathComponent("\(c.config.name)-\(stamp)\(n == 1 ? "" : "-\(n)").fdbz")
            let fd = open(file.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            if fd >= 0 { close(fd); break }
            guard errno == EEXIST, n < 1000 else { throw StoreError(.io, "cannot create \(file.path): \(String(cString: strerror(errno)))") }
            n += 1
        }
        do { try c.snapshot(to: file) } catch {
            unlink(file.path)
            throw error
        }
        return "snapshots/\(file.lastPathComponent)"
    }

    /// Restores a file of the data directory's snapshots/ (a bare name: never a path elsewhere).
    func restoreSnapshot(named file: String, as target: String?) throws -> Collection {
        let name = file.hasPrefix("snapshots/") ? String(file.dropFirst("snapshots/".count)) : file
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
            throw ProtocolError(.badRequest, "give a file name inside the data directory's snapshots/, not a path")
        }
        let url = database.directory.appendingPathComponent("snapshots").appendingPathComponent(name)
        return try database.restore(from: url, as: target)
    }

    func name(_ args: ArraySlice<Token>, _ i: Int) throws -> String {
        guard let t = args.dropFirst(i).first, case .word(let n) = t else { throw ProtocolError(.syntax, "expected a collection name") }
        return n
    }

    func collection(_ args: ArraySlice<Token>) throws -> Collection {
        try database.collection(try name(args, 0))
    }

    static func collectionConfig(name: String, json: String) throws -> CollectionConfig {
        guard let o = try StrictJSON.parse(Data(json.utf8)) as? [String: Any] else {
            throw ProtocolError(.badJSON, "the collection definition is not a JSON object")
        }
        let known: Set<String> = ["dimension", "metric", "embedder", "schema", "m", "ef_construction", "ef_search", "seed", "embed_fields"]
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw ProtocolError(.badRequest, "unknown field '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        // `as? Int` would take true as 1 and UInt64(-1) traps: integers are checked by hand.
        func int(_ k: String, _ range: ClosedRange<Int> = 0...Int.max) throws -> Int? {
            guard let v = o[k] else { return nil }
            guard let n = v as? NSNumber, !isJSONBool(n) else {
                throw ProtocolError(.badType, "'\(k)' must be an integer, got \(printable(jsonText(v)))")
            }
            let i: Int
            if "df".contains(String(cString: n.objCType)) {
                let d = n.doubleValue
                guard d.isFinite, d == d.rounded() else { throw ProtocolError(.badType, "'\(k)' must be an integer, got \(n)") }
                guard d >= Double(range.lowerBound), d <= Double(range.upperBound), let exact = Int(exactly: d) else {
                    throw ProtocolError(.outOfRange, "'\(k)' must be \(range.lowerBound) to \(range.upperBound), got \(n)")
                }
                i = exact
            } else {
                i = n.intValue
            }
            guard range.contains(i) else {
                throw ProtocolError(.outOfRange, "'\(k)' must be \(range.lowerBound) to \(range.upperBound), got \(n)")
            }
            return i
        }
        let embedder = o["embedder"] as? String
        guard let dimension = try int("dimension") ?? (embedder == TextEmbedder.name ? TextEmbedder.dimension : nil) else {
            throw ProtocolError(.badRequest, "'dimension' is required (or \"embedder\": \"minilm\", which implies 384)")
        }
        var metric = Metric.cosine
        if let m = o["metric"] {
            guard let s = m as? String, let parsed = Metric(rawValue: s.lowercased()) else {
                throw ProtocolError(.badRequest, "'metric' must be one of cosine, dot, l2")
            }
            metric = parsed
        }
        var schema = CollectionSchema.perfume
        if let s = o["schema"] {
            if let named = s as? String {
                switch named {
                case "perfume": schema = .perfume
                case "material": schema = .material
                default: throw ProtocolError(.badRequest, "unknown schema '\(named)' (known: perfume, material, or an object)")
                }
            } else {
                do { schema = try JSONDecoder().decode(CollectionSchema.self, from: JSONSerialization.data(withJSONObject: s)) }
                catch { throw ProtocolError(.badSchema, "schema must be {\"fields\": [{\"name\": …, \"type\": string|int|float|set|tiered_set|text}]}") }
            }
        }
        var hnsw = HNSWParameters()
        if let m = try int("m") { hnsw.m = m }
        if let e = try int("ef_construction") { hnsw.efConstruction = e }
        if let e = try int("ef_search") { hnsw.efSearch = e }
        if let s = try int("seed") { hnsw.seed = UInt64(s) }   // int() refuses negatives
        return CollectionConfig(name: name, dimension: dimension, metric: metric, schema: schema, hnsw: hnsw,
                                embedder: embedder, embedFields: o["embed_fields"] as? [String])
    }
}

/// Keyword options of COUNT and SEARCH.
struct SearchOptions {
    var text: String?
    var vector: [Float]?
    var filter: String?
    var k = 10
    var ef: Int?
    var exact = false
    var explain = false
    var mode: String?
    var raw = false

    init(_ args: ArraySlice<Token>, allowed: Set<String>) throws {
        var it = args.makeIterator()
        while let t = it.next() {
            if case .json = t { throw ProtocolError(.syntax, "unexpected JSON; only VECTOR takes a JSON array") }
            let key = t.text.uppercased()
            guard allowed.contains(key) else {
                throw ProtocolError(.syntax, "unexpected '\(t.text)' (expected one of \(allowed.sorted().joined(separator: ", ")))")
            }
            func value() throws -> Token {
                guard let v = it.next() else { throw ProtocolError(.syntax, "\(key) needs a value") }
                return v
            }
            func number() throws -> Int {
                let v = try value()
                guard let n = Int(v.text), n > 0 else { throw ProtocolError(.syntax, "\(key) needs a positive integer, got '\(v.text)'") }
                return n
            }
            switch key {
            case "TEXT": text = try value().text
            case "FILTER": filter = try value().text
            case "K": k = try number()
            case "EF": ef = try number()
            case "EXACT": exact = true
            case "EXPLAIN": explain = true
            case "MODE": mode = try value().text.lowercased()
            case "RAW": raw = true
            case "VECTOR":
                guard case .json(let j) = try value() else {
                    throw ProtocolError(.syntax, "VECTOR needs a JSON array of numbers, last on the line")
                }
                vector = try parseNumberArray(j)
            default: break
            }
        }
    }
}

/// Resident memory of this process, from /proc (0 where there is no /proc).
func residentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kb * 1024
}

/// A JSON array of numbers, parsed in place with strtof (JSONSerialization, or a String per
/// number, cost more than the search itself: protocol-bench's "command layer" line).
func parseNumberArray(_ text: String) throws -> [Float] {
    func bad(_ why: String) -> ProtocolError { ProtocolError(.syntax, "VECTOR needs a JSON array of finite numbers, last on the line (\(why))") }
    return try text.withCString { start -> [Float] in
        var p = start
        func skipSpace() { while p.pointee == 0x20 || p.pointee == 0x09 { p += 1 } }
        skipSpace()
        guard p.pointee == CChar(UInt8(ascii: "[")) else { throw bad("no '['") }
        p += 1
        var out: [Float] = []
        out.reserveCapacity(strlen(p) / 8)
        skipSpace()
        if p.pointee == CChar(UInt8(ascii: "]")) {
            p += 1
        } else {
            while true {
                skipSpace()
                // strtof also reads hex, "nan" and "inf": accept only what starts like a JSON number.
                let c = UInt8(bitPattern: p.pointee)
                guard c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) else {
                    throw bad("'\(String(cString: p).prefix(20))' is not a number")
                }
                var end: UnsafeMutablePointer<CChar>?
                let f = strtof(p, &end)
                guard let end, end != UnsafeMutablePointer(mutating: p), f.isFinite,
                      !UnsafeBufferPointer(start: p, count: end - UnsafeMutablePointer(mutating: p)).contains(where: { $0 == 0x78 || $0 == 0x58 })   // no hex
                else { throw bad("'\(String(cString: p).prefix(20))' is not a finite number") }
                out.append(f)
                p = UnsafePointer(end)
                skipSpace()
                if p.pointee == CChar(UInt8(ascii: ",")) { p += 1; continue }
                if p.pointee == CChar(UInt8(ascii: "]")) { p += 1; break }
                throw bad("expected ',' or ']'")
            }
        }
        skipSpace()
        guard p.pointee == 0 else { throw bad("text after ']'") }
        return out
    }
}

/// A JSON string literal.
func jsonString(_ s: String) -> String { JSONWriter.quoted(s) }
