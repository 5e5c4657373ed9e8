// Protocol fuzzer (issue #17): starts a real `fragrancedb serve` on loopback, sends seeded,
// grammar-aware requests over the line protocol and HTTP (every command and route, mutated
// arguments, JSON, filters, binary noise), and reports crashes (the server process died),
// hangs (a request unanswered past the deadline) and the server's RSS. Exits 1 on any crash
// or hang, or when RSS grows past --max-rss-growth-mib.
//
//   swift build -c release --product fuzz --product fragrancedb
//   .build/release/fuzz --requests 10000000 --connections 4 --server .build/release/fragrancedb
//
// Each connection sends one request at a time and waits for its reply; --max-seconds stops
// the run early (the summary says how many requests were sent).
//
// Traffic goes to 127.0.0.1 only, and the run stops by itself after --requests.
import BenchSupport
import Foundation

struct Options {
    var requests = 50_000
    var seed: UInt64 = 1
    var server = ".build/release/fragrancedb"
    var modelDir = ProcessInfo.processInfo.environment["FRAGRANCEDB_MODEL_DIR"] ?? "models/all-MiniLM-L6-v2"
    var deadline = 10.0
    var maxRSSGrowthMiB = 512
    var httpShare = 0.35
    var connections = 1
    var maxSeconds = Double.infinity

    init(_ args: [String]) {
        var it = args.dropFirst().makeIterator()
        while let a = it.next() {
            func value() -> String {
                guard let v = it.next() else { fatalError("\(a) needs a value") }
                return v
            }
            switch a {
            case "--requests": requests = Int(value()) ?? requests
            case "--seed": seed = UInt64(value()) ?? seed
            case "--server": server = value()
            case "--model-dir": modelDir = value()
            case "--deadline": deadline = Double(value()) ?? deadline
            case "--max-rss-growth-mib": maxRSSGrowthMiB = Int(value()) ?? maxRSSGrowthMiB
            case "--http-share": httpShare = Double(value()) ?? httpShare
            case "--connections": connections = max(1, Int(value()) ?? connections)
            case "--max-seconds": maxSeconds = Double(value()) ?? maxSeconds
            default: fatalError("unknown option \(a) (--requests N --seed S --server PATH --model-dir DIR --deadline S --max-rss-growth-mib N --http-share F --connections N --max-seconds S)")
            }
        }
    }
}

// MARK: - Request grammar

struct Grammar {
    var rng: Rng
    let ids = (0..<300).map { "r\($0)" }

    mutating func number() -> String {
        rng.pick(["0", "1", "-1", "7", "64", "1000", "1001", "4096", "99999999999999999999", "-9223372036854775809", "1e309", "1.5", "-0", "1e-400",
                  "0.25", "3", "NaN", "true", "\"5\"", String(rng.below(100_000))])
    }

    mutating func string() -> String {
        rng.pick(["floral", "woody", "spring", "rose", "vanilla", "", " ", "x\\u0000y", "\\u0007", "é", "🌸", "장미", "'", "\\\"", "a\\nb",
                  String(repeating: "z", count: rng.below(3000)), "notes.top", "%", "*", "OR", "NEAR"])
    }

    mutating func vector(_ dim: Int = 8) -> String {
        let n = rng.chance(0.9) ? dim : rng.below(20)
        return "[" + (0..<n).map { _ in rng.chance(0.97) ? String(format: "%.3f", Double(rng.below(2000)) / 1000 - 1) : number() }.joined(separator: ",") + "]"
    }

    mutating func json(depth: Int = 0) -> String {
        switch rng.below(depth > 3 ? 3 : 6) {
        case 0: return number()
        case 1: return "\"\(string())\""
        case 2: return rng.pick(["null", "true", "false"])
        case 3: return "[" + (0..<rng.below(4)).map { _ in json(depth: depth + 1) }.joined(separator: ",") + "]"
        default: return "{" + (0..<rng.below(4)).map { _ in "\"\(rng.pick(["id", "vector", "family", "seasons", "notes", "year", "rating", "about", "x"]))\": \(json(depth: depth + 1))" }.joined(separator: ",") + "}"
        }
    }

    mutating func record() -> String {
        var fields = ["\"id\": \"\(rng.pick(ids))\"", "\"vector\": \(vector())"]
        if rng.chance(0.7) { fields.append("\"family\": \"\(rng.pick(["floral", "woody", "citrus", "amber"]))\"") }
        if rng.chance(0.5) { fields.append("\"seasons\": [\"\(rng.pick(["spring", "summer", "fall", "winter"]))\"]") }
        if rng.chance(0.4) { fields.append("\"notes\": {\"top\": [\"\(rng.pick(["rose", "bergamot"]))\"], \"base\": [\"musk\"]}") }
        if rng.chance(0.5) { fields.append("\"year\": \(rng.chance(0.9) ? String(1900 + rng.below(130)) : number())") }
        if rng.chance(0.5) { fields.append("\"rating\": \(rng.chance(0.9) ? String(Double(rng.below(50)) / 10) : number())") }
        if rng.chance(0.3) { fields.append("\"about\": \"\(string())\"") }
        if rng.chance(0.1) { fields.append("\"\(rng.pick(["x", "id", "vector", "year"]))\": \(json())") }
        return "{" + fields.shuffled(using: &rng).joined(separator: ", ") + "}"
    }

    mutating func filter() -> String {
        let atoms = ["family = 'floral'", "year >= 2000", "year BETWEEN 1990 AND 2010", "rating > 4", "seasons CONTAINS 'spring'",
                     "seasons CONTAINS ANY ('spring', 'summer')", "notes.top CONTAINS 'rose'", "family IN ('woody', 'amber')", "x = 1",
                     "year >= \(number())", "family = '\(string())'", "((((", "NOT", "rating != 3.5"]
        var f = rng.pick(atoms)
        for _ in 0..<rng.below(3) { f += rng.pick([" AND ", " OR ", " AND NOT "]) + rng.pick(atoms) }
        return f.replacingOccurrences(of: "\"", with: "'")
    }

    mutating func tcpLine() -> String {
        let c = rng.chance(0.9) ? "fz" : rng.pick(["nope", "FZ", "tmp\(rng.below(3))", "a__b", "", "💥"])
        let opts = { (g: inout Grammar) -> String in
            var o = ""
            if g.rng.chance(0.4) { o += " K \(g.rng.chance(0.8) ? String(1 + g.rng.below(50)) : g.number())" }
            if g.rng.chance(0.2) { o += " EF \(g.rng.chance(0.8) ? String(1 + g.rng.below(200)) : g.number())" }
            if g.rng.chance(0.3) { o += " FILTER \"\(g.filter())\"" }
            if g.rng.chance(0.1) { o += " EXACT" }
            if g.rng.chance(0.2) { o += " EXPLAIN" }
            return o
        }
        switch rng.below(20) {
        case 0: return rng.pick(["PING", "HELP", "HELP SEARCH", "INFO", "COLLECTIONS", "HELLO", "HELP nope", "ping", "NOPE x"])
        case 1: return "AUTH \(string())"
        case 2: return "COUNT \(c)" + (rng.chance(0.6) ? " FILTER \"\(filter())\"" : "")
        case 3, 4: return "GET \(c) \(rng.pick(ids))"
        case 5: return "EXISTS \(c) " + (0..<1 + rng.below(5)).map { _ in rng.pick(ids) }.joined(separator: " ")
        case 6: return "DEL \(c) " + (0..<1 + rng.below(3)).map { _ in rng.pick(ids) }.joined(separator: " ")
        case 7, 8: return "UPSERT \(c) " + (rng.chance(0.5) ? record() : "[" + (0..<1 + rng.below(20)).map { _ in record() }.joined(separator: ",") + "]")
        case 9, 10, 11: return "SEARCH \(c)\(opts(&self)) VECTOR \(vector())"
        case 12: return "SEARCH \(c) TEXT \"\(string())\"\(opts(&self))"
        case 13: return "QUERY \(c) \"\(rng.pick(["fresh spring florals", "rose 향수", "like r1", "woody not sweet after 2000", string()]))\"" +
            (rng.chance(0.3) ? " MODE \(rng.pick(["similarity", "keyword", "hybrid", "x"]))" : "") + (rng.chance(0.2) ? " RAW" : "") + (rng.chance(0.3) ? " K \(number())" : "")
        case 14: return "CREATE tmp\(rng.below(3)) " + (rng.chance(0.5) ? "{\"dimension\": \(number()), \"metric\": \"\(rng.pick(["cosine", "l2", "dot", "x"]))\", \"m\": \(number()), \"seed\": \(number())}" : json())
        case 15: return "DROP tmp\(rng.below(3))"
        case 16: return "GENERATE " + (rng.chance(0.5) ? "{\"fragrance_family\": \"\(rng.pick(["floral", "woody", "x"]))\", \"intensity\": \"\(rng.pick(["light", "strong", string()]))\"}" : json())
        case 17: return rng.chance(0.002) ? "SNAPSHOT fz" : "RESTORE \(rng.pick(["../etc/passwd", "x.fdbz", "", "snapshots/../../a"]))"
        case 18:
            // Replication: what replicas ask (with short waits) and REPLICAOF's refusals; never a
            // REPLICAOF that would make the fuzzed server a replica of some port.
            return rng.pick(["REPLSTATE", "DIGEST \(c)", "WAIT \(rng.below(3)) \(rng.below(20))", "WAIT \(number()) \(number())",
                             "REPLLOG \(string().replacingOccurrences(of: " ", with: "")) \(number())", "REPLLOG x \(rng.below(5)) WAIT \(rng.below(30)) COUNT \(number())",
                             "REPLPAGE \(c) \(number()) COUNT \(number())", "REPLPAGE \(c) -1", "REPLICAOF 127.0.0.1 \(rng.pick(["0", "70000", "x", "-1"]))",
                             "REPLICAOF \(string())", "REPLICAOF NO", "REPLLOG"])
        default: return json()
        }
    }

    /// A valid-looking request, then sometimes mutated bytewise.
    mutating func mutate(_ text: String) -> [UInt8] {
        var b = Array(text.utf8)
        guard rng.chance(0.35) else { return b }
        for _ in 0..<1 + rng.below(4) {
            switch rng.below(7) {
            case 0 where !b.isEmpty: b[rng.below(b.count)] = UInt8(rng.below(256))
            case 1: b.insert(rng.pick([0, 0x0D, 0x7F, 0xFF, 0xC3, 0x22, 0x27, 0x5C, 0x7B, 0x5B, 0x2C]), at: rng.below(b.count + 1))
            case 2 where b.count > 2:
                let i = rng.below(b.count), n = rng.below(min(20, b.count - i) + 1)
                b.removeSubrange(i..<(i + n))
            case 3: b = Array(b.prefix(rng.below(b.count + 1)))
            case 4:
                let depth = rng.pick([10, 63, 64, 65, 1000, 100_000])
                b += Array((String(repeating: "[", count: depth) + String(repeating: "]", count: rng.chance(0.5) ? depth : 0)).utf8)
            case 5: b += (0..<rng.below(64)).map { _ in UInt8(rng.below(256)) }
            default: b = b.map { $0 == 0x20 && rng.chance(0.2) ? 0x09 : $0 }
            }
        }
        return b
    }

    mutating func httpRequest() -> (method: String, path: String, body: [UInt8]?, headers: [String]) {
        let c = rng.chance(0.9) ? "fz" : rng.pick(["nope", "FZ", "%2e%2e", "a%00b", "tmp1"])
        let id = rng.chance(0.9) ? rng.pick(ids) : rng.pick(["%00", "..", "a%0d%0ab", String(repeating: "q", count: 600)])
        let search = { (g: inout Grammar) -> String in
            var f = [g.rng.chance(0.7) ? "\"vector\": \(g.vector())" : "\"text\": \"\(g.string())\""]
            if g.rng.chance(0.5) { f.append("\"k\": \(g.number())") }
            if g.rng.chance(0.3) { f.append("\"filter\": \"\(g.filter())\"") }
            if g.rng.chance(0.2) { f.append("\"explain\": \(g.rng.pick(["true", "1", "null"]))") }
            return "{" + f.joined(separator: ", ") + "}"
        }
        let seed = { (g: inout Grammar) -> String in
            "{\"query\": \"\(g.string())\", \"top_k\": \(g.number()), \"collection\": \"fz\"" + (g.rng.chance(0.4) ? ", \"filters\": \(g.json())" : "") + "}"
        }
        switch rng.below(16) {
        case 0: return ("GET", rng.pick(["/health", "/ready", "/metrics", "/openapi.json", "/api/v1/info", "/api/v1/circuit-breaker/status", "/nope", "/%ff", "/api/v1/collections?x=1"]), nil, [])
        case 1: return (rng.pick(["GET", "HEAD", "PUT", "PATCH", "OPTIONS", "BREW"]), "/api/v1/collections", nil, [])
        case 2: return ("GET", "/api/v1/collections/\(c)", nil, [])
        case 3: return ("POST", "/api/v1/collections", Array("{\"name\": \"tmp\(rng.below(3))\", \"dimension\": \(number()), \"seed\": \(number())}".utf8), [])
        case 4: return ("DELETE", "/api/v1/collections/tmp\(rng.below(3))", nil, [])
        case 5, 6:
            let ndjson = rng.chance(0.3)
            let body = ndjson ? (0..<1 + rng.below(10)).map { _ in record() }.joined(separator: "\n") : "[" + (0..<1 + rng.below(10)).map { _ in record() }.joined(separator: ",") + "]"
            return ("POST", "/api/v1/collections/\(c)/records", Array(body.utf8), ndjson ? ["Content-Type: application/x-ndjson"] : [])
        case 7: return ("GET", "/api/v1/collections/\(c)/records/\(id)", nil, [])
        case 8: return ("DELETE", "/api/v1/collections/\(c)/records/\(id)", nil, [])
        case 9: return ("POST", "/api/v1/collections/\(c)/count", Array("{\"filter\": \"\(filter())\"}".utf8), [])
        case 10, 11: return ("POST", "/api/v1/collections/\(c)/search", Array(search(&self).utf8), [])
        case 12: return ("POST", rng.pick(["/api/v1/search/semantic", "/api/v1/search/hybrid"]), Array(seed(&self).utf8), [])
        case 13: return ("POST", "/api/v1/generate/recipe", Array(json().utf8), [])
        case 14: return ("POST", "/api/v1/recipes/validate", Array(json().utf8), [])
        default: return ("POST", rng.pick(["/api/v1/collections/fz/search", "/api/v1/collections"]), (0..<rng.below(200)).map { _ in UInt8(rng.below(256)) }, [])
        }
    }
}

// MARK: - The run

nonisolated(unsafe) let options = Options(CommandLine.arguments)
let work = FileManager.default.temporaryDirectory.appendingPathComponent("fdb-fuzz-\(getpid())")
try FileManager.default.createDirectory(at: work.appendingPathComponent("config"), withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: work) }
nonisolated(unsafe) let server = try ServerProcess(binary: options.server, data: work.appendingPathComponent("data"),
                               configDir: work.appendingPathComponent("config"), modelDir: options.modelDir)
defer { server.stop() }
let tcpPort = server.tcpPort, httpPort = server.httpPort

func connectTCP(wait: Double = 0) -> Conn? { server.connect(within: wait) }

guard let setup = connectTCP(wait: 60) else { say("fuzz: the server did not start"); exit(1) }
func call(_ c: Conn, _ line: String) -> String? { c.call(line)?.first }
_ = call(setup, #"CREATE fz {"dimension": 8, "schema": {"fields": [{"name": "family", "type": "string"}, {"name": "seasons", "type": "set"}, {"name": "notes", "type": "tiered_set", "tiers": ["top", "heart", "base"]}, {"name": "year", "type": "int"}, {"name": "rating", "type": "float"}, {"name": "about", "type": "text"}]}}"#)
var seeding = Grammar(rng: Rng(s: options.seed))
for _ in 0..<20 { _ = call(setup, "UPSERT fz [" + (0..<20).map { _ in seeding.record() }.joined(separator: ",") + "]") }
let canary = #"{"family":"floral","id":"canary","vector":[1,0,0,0,0,0,0,0]}"#
_ = call(setup, "UPSERT fz \(canary)")

/// What all connections share: the request budget, the counts, one lock.
final class Totals: @unchecked Sendable {
    let lock = NSLock()
    var claimed = 0, tcp = 0, http = 0, hangs = 0, crashes = 0
    var stopped = false
    func claim(_ limit: Int) -> Bool {
        lock.withLock {
            guard !stopped, claimed < limit else { return false }
            claimed += 1
            return true
        }
    }
    func add(_ body: (Totals) -> Void) { lock.withLock { body(self) } }
}

/// One connection pair (TCP and HTTP) sending requests one at a time, each waited for.
final class Worker: @unchecked Sendable {
    var grammar: Grammar
    var tcp: Conn?
    var http: Conn?
    var recent: [String] = []
    let totals: Totals
    let server: ServerProcess

    init(seed: UInt64, totals: Totals, server: ServerProcess) {
        grammar = Grammar(rng: Rng(s: seed))
        self.totals = totals
        self.server = server
    }

    func report(_ kind: String, _ request: String) {
        totals.add { t in
            say("fuzz: \(kind) after \(t.tcp + t.http) requests; this connection's last requests:")
            for r in recent.suffix(10) { say("  \(r.prefix(300))") }
            say("  >> \(request.prefix(600))")
        }
    }

    /// False (and everyone stops) when the server is gone.
    func checkAlive(_ request: String) -> Bool {
        if server.isRunning { return true }
        totals.add { $0.crashes += 1; $0.stopped = true }
        report("CRASH (server exited with status \(server.process.terminationStatus))", request)
        return false
    }

    func hang(_ kind: String, _ request: String) {
        totals.add { $0.hangs += 1 }
        report(kind, request)
    }

    func remember(_ text: String) {
        recent.append(text)
        if recent.count > 50 { recent.removeFirst(25) }
    }

    func run() {
        tcp = server.connect(within: 5)
        while totals.claim(options.requests) {
            if grammar.rng.chance(options.httpShare) { guard httpRequest() else { return } } else { guard tcpRequest() else { return } }
        }
    }

    private func httpRequest() -> Bool {
        let deadline = Date().addingTimeInterval(options.deadline)
        let r = grammar.httpRequest()
        var head = "\(r.method) \(r.path) HTTP/1.1\r\nHost: 127.0.0.1\r\n" + r.headers.map { $0 + "\r\n" }.joined()
        if let body = r.body { head += (r.headers.isEmpty ? "Content-Type: application/json\r\n" : "") + "Content-Length: \(body.count)\r\n" }
        let request = Array((head + "\r\n").utf8) + (r.body ?? [])
        let text = "HTTP " + String(decoding: request.prefix(400), as: UTF8.self)
        remember(text)
        totals.add { $0.http += 1 }
        if http == nil { http = Conn(port: server.httpPort) }
        guard let h = http else { return checkAlive(text) }
        guard h.send(request, until: deadline) else { http = nil; return checkAlive(text) }
        let read: Conn.Read
        if r.method == "HEAD" {
            read = h.line(until: deadline).1
            http = nil   // no body follows; start afresh
        } else {
            let (reply, r) = h.httpReply(until: deadline)
            read = reply.map { $0.closes ? .closed : .data } ?? r
        }
        switch read {
        case .data: return true
        case .closed: http = nil; return checkAlive(text)
        case .timeout:
            hang("HANG (no HTTP reply in \(options.deadline) s)", text)
            http = nil
            return checkAlive(text)
        }
    }

    private func tcpRequest() -> Bool {
        let deadline = Date().addingTimeInterval(options.deadline)
        var bytes = grammar.mutate(grammar.tcpLine())
        // One request line: a mutated LF would make two, whose replies the count below would miss.
        bytes = bytes.map { $0 == 0x0A ? 0x20 : $0 } + [0x0D, 0x0A]
        let text = "TCP " + String(decoding: bytes.prefix(400), as: UTF8.self)
        remember(text)
        totals.add { $0.tcp += 1 }
        guard let conn = tcp ?? server.connect(within: 5) else { return checkAlive(text) }
        tcp = conn
        guard conn.send(bytes, until: deadline) else {
            tcp = nil
            return checkAlive(text)
        }
        // Blank lines are ignored by the server (protocol.md): nothing to wait for.
        if bytes.dropLast(2).allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return true }
        let (status, read) = conn.line(until: deadline)
        if let status, status.hasPrefix("*"), let n = Int(status.dropFirst()) {
            for _ in 0..<n where conn.line(until: deadline).0 == nil { hang("HANG (reply block cut short)", text); tcp = nil; break }
        } else if status == nil {
            if read == .timeout { hang("HANG (no TCP reply in \(options.deadline) s)", text) }
            tcp = nil
            return checkAlive(text)
        } else if status?.hasPrefix("+OK bye") == true || status?.contains("closing") == true {
            tcp = nil
        }
        return true
    }
}

let startRSS = rss(server.pid)
var maxRSS = startRSS
let totals = Totals()
let t0 = Date()
let group = DispatchGroup()
for w in 0..<options.connections {
    let worker = Worker(seed: options.seed &+ UInt64(w) &* 0x9E37_79B9, totals: totals, server: server)
    group.enter()
    Thread.detachNewThread { worker.run(); group.leave() }
}
var lastReport = 0
while group.wait(timeout: .now() + 2) == .timedOut {
    maxRSS = max(maxRSS, rss(server.pid))
    let done = totals.lock.withLock { totals.tcp + totals.http }
    if Date().timeIntervalSince(t0) > options.maxSeconds { totals.add { $0.stopped = true } }
    if done - lastReport >= 250_000 {
        lastReport = done
        say(String(format: "fuzz: %d requests, %.0f/s, %d hangs, RSS %d MiB", done, Double(done) / Date().timeIntervalSince(t0), totals.hangs, rss(server.pid) >> 20))
    }
}
let crashes = totals.crashes, hangs = totals.hangs
let sent = (tcp: totals.tcp, http: totals.http)

// The server still answers and the canary record is intact.
var intact = false
if crashes == 0, let c = connectTCP(wait: 5) {
    _ = call(c, "PING")
    let deadline = Date().addingTimeInterval(30)
    _ = c.send(Array("GET fz canary\r\n".utf8), until: deadline)
    let head = c.line(until: deadline).0
    let body = head == "*1" ? c.line(until: deadline).0 : nil
    // Compared as JSON: the server writes fields in schema order, not as they were sent.
    func parsed(_ s: String?) -> NSDictionary? {
        s.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? NSDictionary }
    }
    if let got = parsed(body), let want = parsed(canary) {
        intact = ["id", "family"].allSatisfy { (got[$0] as? NSObject) == (want[$0] as? NSObject) }
    }
    // GET leaves the vector out: the canary must still be its own nearest neighbour.
    _ = c.send(Array("SEARCH fz K 1 EXACT VECTOR [1,0,0,0,0,0,0,0]\r\n".utf8), until: deadline)
    let hit = c.line(until: deadline).0 == "*1" ? c.line(until: deadline).0 ?? "" : ""
    if !hit.contains("canary") { intact = false; say("fuzz: the canary's vector is not found: \(hit)") }
    if !intact { say("fuzz: GET fz canary answered \(head ?? "nothing") \(body ?? "")") }
}
let endRSS = crashes == 0 ? rss(server.pid) : 0
maxRSS = max(maxRSS, endRSS)
let seconds = Date().timeIntervalSince(t0)
let growth = (maxRSS - startRSS) >> 20
say(String(format: "fuzz: %d requests (tcp %d, http %d) over %d connections in %.1f s (%.0f/s), seed %llu: %d crashes, %d hangs; server RSS %d MiB after set-up, max %d, end %d (growth %d MiB, limit %d); canary %@",
             sent.tcp + sent.http, sent.tcp, sent.http, options.connections, seconds, Double(sent.tcp + sent.http) / seconds, options.seed, crashes, hangs,
             startRSS >> 20, maxRSS >> 20, endRSS >> 20, growth, options.maxRSSGrowthMiB, intact ? "intact" : "LOST"))
server.stop()   // exit skips the defers above
try? FileManager.default.removeItem(at: work)
exit(crashes == 0 && hangs == 0 && intact && growth <= options.maxRSSGrowthMiB ? 0 : 1)
