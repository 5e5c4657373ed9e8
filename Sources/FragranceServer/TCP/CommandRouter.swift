import FragranceCore
import FragranceProtocol
import FragranceStore
import Foundation
import Perfumery
import RAG

/// The line protocol's side of the service (schemas/protocol.md): one handler per command of
/// `CommandTable`, each decoding its words, calling one `FragranceService` method and writing
/// the typed result as reply lines. Runs off the event loops (the service blocks).
public struct CommandRouter: Sendable {
    /// One connection's state. Only the connection's own pool task touches it (one at a time).
    public final class Session: @unchecked Sendable {
        public var principal: Principal?
        /// The client's address, for the failed-authentication throttle.
        public var address: String
        /// Failed AUTH/HELLO attempts on this connection (the server closes it after a few).
        public var authFailures = 0
        /// Its id in `ServerActivity` (CLIENT LIST), while connected.
        public var clientId: Int?
        public init(principal: Principal? = nil, address: String = "local") {
            self.principal = principal
            self.address = address
        }
    }

    public let service: FragranceService
    var metrics: ServerMetrics? { service.metrics }

    public init(service: FragranceService) { self.service = service }

    /// A router over its own service (embedded use, tests, benchmarks): no authentication.
    public init(database: Database, limits: FragranceService.Limits = .init()) throws {
        self.init(service: try FragranceService(database: database, limits: limits))
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
        let nanoseconds = DispatchTime.now().uptimeNanoseconds - start
        let ok = if case .error = reply { false } else { true }
        metrics?.tcpCommand(commandName, ok: ok, nanoseconds: nanoseconds)
        let name = commandName
        service.activity.record(name, ok: ok, microseconds: nanoseconds / 1000, words: Self.words(line, command: name),
                                client: session.address, surface: "tcp", clientId: session.clientId)
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
            guard CommandTable.byName[upper] != nil, let run = Self.commands[upper] else {
                return (.error(.unknownCommand, "unknown command '\(name)'; try HELP"), false)
            }
            commandName = upper
            try service.authorize(upper, session.principal, how: "send AUTH <token> first")
            if upper == "REPLLOG" { return (try replicationLog(tokens.dropFirst(), from: session.address), false) }
            return (try run(self, tokens.dropFirst()), false)
        } catch {
            let e = service.failure(error)
            return (.error(e.code, e.message), false)
        }
    }

    /// A request's words for the slow log; tokens never (AUTH, HELLO).
    static func words(_ line: String, command: String) -> [String] {
        guard command != "AUTH", command != "HELLO" else { return [command, "(token not logged)"] }
        return (try? LineTokenizer.tokenize(line).map(\.text)) ?? [String(line.prefix(256))]
    }

    /// AUTH <token> | HELLO [token]: sets the connection's role; HELLO also says what the server is.
    private func authenticate(_ verb: String, _ args: ArraySlice<Token>, _ session: Session) throws -> Reply {
        let access = service.access
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
            if let id = session.clientId { service.activity.authenticated(id, role: "\(p.role)") }
        } else if verb == "AUTH" {
            throw ProtocolError(.syntax, "AUTH needs a token: AUTH <api key or JWT>")
        }
        let open = access?.isOpen ?? true
        let role = session.principal?.role ?? (open ? .admin : nil)
        if verb == "AUTH" { return .ok("authenticated as \(session.principal?.name ?? "?") role=\(role.map(String.init(describing:)) ?? "none")") }
        struct Hello: Encodable {
            var server = "fragrancedb", version = FragranceVersion.current, `protocol` = 1, auth: String
            @Nullable var role: String?
            var commands: [String]
        }
        return .lines([ReplyJSON.text(Hello(auth: open ? "open" : "required", role: role.map(String.init(describing:)),
                                            commands: CommandTable.all.map(\.name)))])
    }

    /// What each command of `CommandTable` runs (AUTH, HELLO and QUIT are handled before, as
    /// they touch the connection, not the store). `TCP/Commands+*.swift` hold the bodies.
    typealias Handler = @Sendable (CommandRouter, ArraySlice<Token>) throws -> Reply
    static let commands: [String: Handler] = [
        "PING": { _, _ in .ok("PONG") },
        "HELP": { _, args in
            if let name = args.first?.text.uppercased() {
                guard let spec = CommandTable.byName[name] else { throw ProtocolError(.unknownCommand, "no command '\(name)'") }
                return .lines([jsonString(spec.help)])
            }
            return .lines(CommandTable.all.map { jsonString($0.help) })
        },
        "INFO": { r, args in
            guard args.count <= 1 else { throw ProtocolError(.syntax, "INFO takes at most one section") }
            return .lines([ReplyJSON.text(try r.service.info(section: args.first?.text))])
        },
        "SLOWLOG": { r, args in
            switch args.first?.text.uppercased() {
            case "GET":
                var count = 10
                if let n = args.dropFirst().first?.text {
                    guard let c = Int(n) else { throw ProtocolError(.syntax, "SLOWLOG GET takes a count, got '\(n)'") }
                    count = c
                }
                return .lines([ReplyJSON.text(try r.service.slowlog(count: count))])
            case "LEN": return .ok(String(try r.service.slowlog(count: 0).length))
            case "RESET": return .ok("reset=\(r.service.slowlogReset().reset)")
            default: throw ProtocolError(.syntax, "SLOWLOG GET [count] | LEN | RESET")
            }
        },
        "CLIENT": { r, args in
            guard args.count == 1, args.first?.text.uppercased() == "LIST" else { throw ProtocolError(.syntax, "CLIENT LIST") }
            return .lines(r.service.clientList().clients.map(ReplyJSON.text))
        },
        "COLLECTIONS": { r, _ in .lines(try r.service.collections().collections.map(ReplyJSON.text)) },
        "DESCRIBE": { r, args in .lines([ReplyJSON.text(try r.service.describe(try r.name(args)))]) },
        "CREATE": { r, args in try r.create(args) },
        "ALTER": { r, args in try r.alter(args) },
        "DROP": { r, args in
            let name = try r.name(args)
            _ = try r.service.dropCollection(name)
            return .ok("dropped \(name)")
        },
        "UPSERT": { r, args in try r.upsert(args) },
        "GET": { r, args in
            guard let id = args.dropFirst().first?.text else { throw ProtocolError(.syntax, "GET needs a record id") }
            return .lines([ReplyJSON.text(RecordBody(record: try r.service.get(try r.name(args), id: id)))])
        },
        "EXISTS": { r, args in
            let ids = args.dropFirst().map(\.text)
            guard !ids.isEmpty else { throw ProtocolError(.syntax, "EXISTS needs at least one id") }
            return .lines(try r.service.exists(try r.name(args), ids).map(jsonString))
        },
        "DEL": { r, args in
            let ids = args.dropFirst().map(\.text)
            guard !ids.isEmpty else { throw ProtocolError(.syntax, "DEL needs at least one id") }
            return .ok("deleted=\(try r.service.delete(try r.name(args), ids).deleted)")
        },
        "COUNT": { r, args in
            let name = try r.name(args)
            let o = try SearchOptions(args.dropFirst(), allowed: ["FILTER"])
            return .ok(String(try r.service.count(name, filter: FilterInput(text: o.filter)).count))
        },
        "SEARCH": { r, args in try r.search(args) },
        "MSEARCH": { r, args in try r.multiSearch(args) },
        "QUERY": { r, args in try r.query(args) },
        "SCROLL": { r, args in try r.scroll(args) },
        "FACETS": { r, args in try r.facets(args) },
        "GENERATE": { r, args in try r.generate(args) },
        "VALIDATE": { r, args in
            let o = try r.jsonObject(args, "VALIDATE needs a recipe object, e.g. VALIDATE {\"concentration\": \"EdP\", \"top\": [{\"name\": \"bergamot\", \"percent\": 20}], …}")
            return .lines([ReplyJSON.text(try r.service.validate(try RecipeJSON.recipe(o)))])
        },
        "SUBSTITUTES": { r, args in
            let o = try r.jsonObject(args, "SUBSTITUTES needs a JSON object, e.g. SUBSTITUTES {\"material\": \"Coumarin\", \"product\": \"body_lotion\"}")
            return .lines([ReplyJSON.text(try r.service.substitutes(try RecipeJSON.substitutes(o)))])
        },
        "BREAKER": { r, _ in .lines([ReplyJSON.text(r.service.breakerStatus())]) },
        "SNAPSHOT": { r, args in .ok(try r.service.snapshot(try r.name(args)).file) },
        "RESTORE": { r, args in
            guard let file = args.first?.text, !file.isEmpty else { throw ProtocolError(.syntax, "RESTORE needs a snapshot file name") }
            var target: String?
            if args.count >= 2 {
                guard args.count == 3, args.dropFirst().first?.text.uppercased() == "AS" else { throw ProtocolError(.syntax, "expected AS <name>") }
                target = args.dropFirst(2).first?.text
            }
            let restored = try r.service.restore(file: file, as: target)
            return .ok("restored \(restored.restored) records=\(restored.records)")
        },
        "REPLICAOF": { r, args in
            let words = args.map { $0.text.uppercased() }
            if words == ["NO", "ONE"] { return .ok(try r.service.replicaOf(nil).message) }
            guard args.count == 2, let host = args.first?.text, let port = Int(args.dropFirst().first!.text) else {
                throw ProtocolError(.syntax, "REPLICAOF <host> <port> | NO ONE")
            }
            return .ok(try r.service.replicaOf((host, port)).message)
        },
        "WAIT": { r, args in
            guard args.count == 2, let n = Int(args.first!.text), let ms = Int(args.dropFirst().first!.text) else {
                throw ProtocolError(.syntax, "WAIT <replicas> <timeout_ms>")
            }
            let w = try r.service.waitForReplicas(n, timeoutMs: ms)
            return .ok("replicas=\(w.replicas) seq=\(w.seq)")
        },
        "DIGEST": { r, args in .lines([ReplyJSON.text(try r.service.digest(try r.name(args)))]) },
        "REPLSTATE": { r, _ in .lines([ReplyJSON.text(try r.service.replicationState())]) },
        "REPLLOG": { r, args in try r.replicationLog(args, from: "local") },
        "REPLPAGE": { r, args in
            let name = try r.name(args)
            guard let after = args.dropFirst().first.flatMap({ Int64($0.text) }) else { throw ProtocolError(.syntax, "REPLPAGE <collection> <after_row> [COUNT n]") }
            var count = 500
            if args.count > 2 {
                guard args.count == 4, args.dropFirst(2).first!.text.uppercased() == "COUNT", let n = Int(args.dropFirst(3).first!.text) else {
                    throw ProtocolError(.syntax, "REPLPAGE <collection> <after_row> [COUNT n]")
                }
                count = n
            }
            let page = try r.service.replicationPage(name, afterRow: after, count: count)
            return .lines(page.recordLines + [page.tailLine])
        },
        "RELOAD": { r, _ in
            let outcome = waitBlocking { () -> Result<ReloadReply, Error> in
                do { return .success(try await r.service.reload()) } catch { return .failure(error) }
            }
            return .ok(try outcome.get().reloaded)
        },
    ]

    /// REPLLOG <history> <after_seq> [COUNT n] [WAIT ms] [NODE id] [PORT n]: the header line, then one line per entry.
    func replicationLog(_ args: ArraySlice<Token>, from address: String) throws -> Reply {
        let usage = "REPLLOG <history> <after_seq> [COUNT n] [WAIT ms] [NODE id] [PORT n]"
        guard args.count >= 2, let after = Int64(args.dropFirst().first!.text) else { throw ProtocolError(.syntax, usage) }
        var options: [String: String] = [:]
        var rest = args.dropFirst(2)
        while let key = rest.first?.text.uppercased() {
            guard ["COUNT", "WAIT", "NODE", "PORT"].contains(key), let value = rest.dropFirst().first?.text else { throw ProtocolError(.syntax, usage) }
            options[key] = value
            rest = rest.dropFirst(2)
        }
        func int(_ key: String, _ fallback: Int) throws -> Int {
            guard let v = options[key] else { return fallback }
            guard let n = Int(v) else { throw ProtocolError(.syntax, "\(key) takes an integer, got '\(v)'") }
            return n
        }
        let reply = try service.replicationLog(history: args.first!.text, after: after, count: try int("COUNT", 1000), waitMs: try int("WAIT", 0),
                                               node: options["NODE"], address: options["PORT"].map { "\(address):\($0)" } ?? address)
        return .lines(reply.lines)
    }

    // MARK: Decoding helpers

    func name(_ args: ArraySlice<Token>) throws -> String {
        guard let t = args.first, case .word(let n) = t else { throw ProtocolError(.syntax, "expected a collection name") }
        return n
    }

    func jsonObject(_ args: ArraySlice<Token>, _ usage: String) throws -> [String: Any] {
        guard let t = args.first, case .json(let text) = t else { throw ProtocolError(.syntax, usage) }
        guard let o = try StrictJSON.parse(Data(text.utf8)) as? [String: Any] else { throw ProtocolError(.badJSON, "expected a JSON object") }
        return o
    }
}

/// A JSON string literal.
func jsonString(_ s: String) -> String { JSONWriter.quoted(s) }
