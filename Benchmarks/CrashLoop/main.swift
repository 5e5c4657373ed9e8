// Crash-loop benchmark (issue #17): rounds of `kill -9` against a real `fragrancedb serve`
// while writers upsert, update and delete over TCP and HTTP, and some rounds during start-up
// (while the server replays its log). After every restart each record an operation of the
// last round touched is checked (content by GET, vector by an exact search for it), and at
// the end every record ever acknowledged. An acknowledged write must be there as written
// (or as a later write in flight at the kill left it); an acknowledged delete must stay gone.
//
//   swift build -c release --product crash-loop --product fragrancedb
//   .build/release/crash-loop --rounds 100 --server .build/release/fragrancedb
//
// Loopback only; exits 1 when anything acknowledged was lost or came back.
import BenchSupport
import Foundation

struct Options {
    var rounds = 100
    var seed: UInt64 = 1
    var server = ".build/release/fragrancedb"
    var modelDir = ProcessInfo.processInfo.environment["FRAGRANCEDB_MODEL_DIR"] ?? "models/all-MiniLM-L6-v2"
    var writers = 4
    var startupEvery = 5
    var maxRoundMillis = 1500

    init(_ args: [String]) {
        var it = args.dropFirst().makeIterator()
        while let a = it.next() {
            func value() -> String {
                guard let v = it.next() else { fatalError("\(a) needs a value") }
                return v
            }
            switch a {
            case "--rounds": rounds = Int(value()) ?? rounds
            case "--seed": seed = UInt64(value()) ?? seed
            case "--server": server = value()
            case "--model-dir": modelDir = value()
            case "--writers": writers = max(1, Int(value()) ?? writers)
            case "--startup-every": startupEvery = max(2, Int(value()) ?? startupEvery)
            case "--max-round-ms": maxRoundMillis = max(50, Int(value()) ?? maxRoundMillis)
            default: fatalError("unknown option \(a) (--rounds N --seed S --server PATH --model-dir DIR --writers N --startup-every N --max-round-ms N)")
            }
        }
    }
}

/// What a record should be: gone, or at a version (its content and vector follow from it).
enum State: Equatable { case absent, present(Int) }

/// A record's content and vector, derived from its id and version alone.
func vector(_ id: String, _ version: Int) -> [Float] {
    var h: UInt64 = 1469598103934665603 ^ UInt64(version)
    for b in id.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
    return (0..<8).map { i in Float(Int((h >> UInt64(i * 7)) & 0x7F) - 64) / 64 + (i == 0 ? 1.5 : 0) }
}
func recordJSON(_ id: String, _ version: Int) -> String {
    let v = vector(id, version).map { String($0) }.joined(separator: ",")
    return #"{"id": "\#(id)", "vector": [\#(v)], "version": \#(version), "tags": ["t\#(version % 5)"], "about": "\#(id) at \#(version)"}"#
}

/// One writer's records (no other writer touches them, so operations on a record are in
/// order): the state the last acknowledged operation left, and the one still in flight.
final class Writer: @unchecked Sendable {
    let number: Int, useHTTP: Bool
    var rng: Rng
    var acked: [String: State] = [:]
    var inFlight: [String: State] = [:]
    var touched: Set<String> = []
    var next = 0
    var acknowledged = (upserts: 0, deletes: 0)

    init(number: Int, seed: UInt64, useHTTP: Bool) {
        self.number = number
        self.useHTTP = useHTTP
        rng = Rng(s: seed &+ UInt64(number) &* 0x1000_0001)
    }

    /// Writes until the connection fails (the server was killed).
    func run(tcpPort: Int, httpPort: Int) {
        guard let conn = Conn(port: useHTTP ? httpPort : tcpPort) else { return }
        var present = acked.compactMap { $0.value == .absent ? nil : $0.key }.sorted()
        while true {
            var ops: [(String, State)] = []
            let delete = !present.isEmpty && rng.chance(0.3)
            if delete {
                for _ in 0..<(1 + rng.below(3)) {
                    let i = rng.below(present.count)
                    ops.append((present[i], .absent))
                    present.swapAt(i, present.count - 1)
                    present.removeLast()
                    if present.isEmpty { break }
                }
            } else {
                for _ in 0..<(1 + rng.below(20)) {
                    if !present.isEmpty && rng.chance(0.3) {
                        let id = rng.pick(present)
                        guard !ops.contains(where: { $0.0 == id }), case .present(let v) = acked[id] ?? .absent else { continue }
                        ops.append((id, .present(v + 1)))
                    } else {
                        let id = "w\(number)-\(next)"
                        next += 1
                        ops.append((id, .present(0)))
                    }
                }
            }
            for (id, s) in ops { inFlight[id] = s; touched.insert(id) }
            guard send(ops, conn) else { return }
            for (id, s) in ops {
                acked[id] = s
                inFlight[id] = nil
                if case .present = s { acknowledged.upserts += 1; if !present.contains(id) { present.append(id) } } else { acknowledged.deletes += 1 }
            }
        }
    }

    /// True once the server acknowledged all of `ops`.
    private func send(_ ops: [(String, State)], _ conn: Conn) -> Bool {
        let deletes = ops.filter { $0.1 == .absent }.map(\.0)
        let upserts = ops.compactMap { op -> String? in if case .present(let v) = op.1 { return recordJSON(op.0, v) } else { return nil } }
        if useHTTP {
            if !upserts.isEmpty {
                guard let r = conn.http("POST", "/api/v1/collections/cl/records", json: "[" + upserts.joined(separator: ",") + "]"), r.status == 200 else { return false }
            }
            for id in deletes {
                guard let r = conn.http("DELETE", "/api/v1/collections/cl/records/\(id)"), r.status == 200 || r.status == 204 else { return false }
            }
            return true
        }
        if !upserts.isEmpty {
            guard conn.call("UPSERT cl [" + upserts.joined(separator: ",") + "]")?.first?.hasPrefix("+OK inserted=") == true else { return false }
        }
        if !deletes.isEmpty {
            guard conn.call("DEL cl " + deletes.joined(separator: " "))?.first?.hasPrefix("+OK deleted=") == true else { return false }
        }
        return true
    }
}

struct Tally {
    var checked = 0, lost = 0, resurrected = 0, wrong = 0, vectorsChecked = 0
}

/// What the server holds for `id`: nil when it could not be asked.
func observe(_ id: String, _ c: Conn) -> (state: State, problem: String?)? {
    guard let reply = c.call("GET cl \(id)") else { return nil }
    if reply == ["*0"] || reply.first?.hasPrefix("-ERR NOT_FOUND") == true { return (.absent, nil) }
    guard reply.count == 2, let obj = try? JSONSerialization.jsonObject(with: Data(reply[1].utf8)) as? [String: Any],
          let version = obj["version"] as? Int else { return (.absent, "unreadable reply \(reply)") }
    let about = obj["about"] as? String, tags = obj["tags"] as? [String]
    if about != "\(id) at \(version)" || tags != ["t\(version % 5)"] { return (.present(version), "content \(reply[1])") }
    // The vector: an exact search for it finds this record at distance 0.
    let q = vector(id, version).map { String($0) }.joined(separator: ",")
    guard let hits = c.call("SEARCH cl K 1 EXACT VECTOR [\(q)]") else { return nil }
    guard hits.count == 2, hits[1].contains("\"id\":\"\(id)\""),
          let hit = try? JSONSerialization.jsonObject(with: Data(hits[1].utf8)) as? [String: Any],
          let d = (hit["distance"] as? NSNumber)?.doubleValue, abs(d) < 1e-5 else {
        return (.present(version), "vector: nearest is \(hits.dropFirst().first ?? "nothing")")
    }
    return (.present(version), nil)
}

/// Checks `ids` against the writers' ledgers; settles what was in flight to what is stored.
func verify(_ ids: [(Writer, String)], _ c: Conn, _ tally: inout Tally) -> Bool {
    for (w, id) in ids {
        guard let (got, problem) = observe(id, c) else { return false }
        let want = w.acked[id] ?? .absent, maybe = w.inFlight[id]
        tally.checked += 1
        if case .present = got { tally.vectorsChecked += 1 }
        if let problem {
            tally.wrong += 1
            say("crash-loop: \(id) is wrong: \(problem)")
        } else if got != want && got != maybe {
            if got == .absent { tally.lost += 1 } else if want == .absent { tally.resurrected += 1 } else { tally.wrong += 1 }
            say("crash-loop: \(id) is \(got), acknowledged \(want)\(maybe.map { ", in flight \($0)" } ?? "")")
        }
        // Whatever the server recovered is now the record's fate.
        if maybe != nil { w.acked[id] = got; w.inFlight[id] = nil }
    }
    return true
}

let options = Options(CommandLine.arguments)
let work = FileManager.default.temporaryDirectory.appendingPathComponent("fdb-crash-loop-\(getpid())")
let data = work.appendingPathComponent("data"), config = work.appendingPathComponent("config")
try FileManager.default.createDirectory(at: config, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: work) }

var rng = Rng(s: options.seed)
let writers = (0..<options.writers).map { Writer(number: $0, seed: options.seed, useHTTP: $0 == 0) }
var tally = Tally()
var kills = (writing: 0, startup: 0)
let t0 = Date()
var created = false

for round in 0..<options.rounds {
    if round > 0 && round % 10 == 0 {
        let ops = writers.reduce(0) { $0 + $1.acknowledged.upserts + $1.acknowledged.deletes }
        say("crash-loop: \(round) rounds: \(ops) acknowledged operations, \(tally.lost) lost, \(tally.resurrected) resurrected, \(tally.wrong) wrong")
    }
    let server = try ServerProcess(binary: options.server, data: data, configDir: config, modelDir: options.modelDir)
    if created && round % options.startupEvery == options.startupEvery - 1 {
        // Killed while it opens the data directory and replays the log.
        usleep(UInt32(rng.below(400_000)))
        server.kill9()
        kills.startup += 1
        continue
    }
    guard let c = server.connect(within: 120) else {
        say("crash-loop: round \(round): the server did not start (exit \(server.isRunning ? -1 : server.process.terminationStatus))")
        exit(1)
    }
    if !created {
        let reply = c.call(#"CREATE cl {"dimension": 8, "schema": {"fields": [{"name": "version", "type": "int"}, {"name": "tags", "type": "set"}, {"name": "about", "type": "text"}]}}"#)
        guard reply?.first == "+OK created cl" else { say("crash-loop: CREATE failed: \(reply ?? [])"); exit(1) }
        created = true
    }
    // Everything the last rounds touched, and a sample of the rest.
    var ids: [(Writer, String)] = []
    for w in writers {
        ids += w.touched.sorted().map { (w, $0) }
        let others = w.acked.keys.filter { !w.touched.contains($0) }.sorted()
        for _ in 0..<min(50, others.count) { ids.append((w, rng.pick(others))) }
        w.touched = []
    }
    guard verify(ids, c, &tally) else { say("crash-loop: round \(round): the server stopped answering while being checked"); exit(1) }

    // Concurrent writers, then kill -9 at a random moment.
    let group = DispatchGroup()
    let (tcpPort, httpPort) = (server.tcpPort, server.httpPort)
    for w in writers {
        group.enter()
        Thread.detachNewThread { w.run(tcpPort: tcpPort, httpPort: httpPort); group.leave() }
    }
    usleep(UInt32(50_000 + rng.below(options.maxRoundMillis * 1000)))
    server.kill9()
    kills.writing += 1
    guard group.wait(timeout: .now() + 60) == .success else { say("crash-loop: a writer did not notice the kill"); exit(1) }
}

// The end: every record ever written, content and vector.
let final = try ServerProcess(binary: options.server, data: data, configDir: config, modelDir: options.modelDir)
guard let c = final.connect(within: 120) else { say("crash-loop: the server did not start for the final check"); exit(1) }
var all: [(Writer, String)] = []
for w in writers { all += Set(w.acked.keys).union(w.inFlight.keys).sorted().map { (w, $0) } }
var finalTally = Tally()
guard verify(all, c, &finalTally) else { say("crash-loop: the server stopped answering in the final check"); exit(1) }
let count = c.call("COUNT cl")?.first ?? "?"
final.stop()

let upserts = writers.reduce(0) { $0 + $1.acknowledged.upserts }, deletes = writers.reduce(0) { $0 + $1.acknowledged.deletes }
let expectPresent = writers.reduce(0) { $0 + $1.acked.values.filter { $0 != .absent }.count }
let bad = tally.lost + tally.resurrected + tally.wrong + finalTally.lost + finalTally.resurrected + finalTally.wrong
say(String(format: "crash-loop: %d rounds (%d kills while writing, %d during start-up) in %.0f s, seed %llu, %d writers (1 over HTTP)",
           options.rounds, kills.writing, kills.startup, Date().timeIntervalSince(t0), options.seed, options.writers))
say("crash-loop: acknowledged \(upserts) upserts and \(deletes) deletes; checked \(tally.checked) records after restarts and all \(finalTally.checked) at the end (\(finalTally.vectorsChecked) vectors)")
say("crash-loop: lost \(tally.lost + finalTally.lost), resurrected \(tally.resurrected + finalTally.resurrected), wrong \(tally.wrong + finalTally.wrong); COUNT \(count), expected +OK \(expectPresent)")
try? FileManager.default.removeItem(at: work)   // exit skips the defer above
exit(bad == 0 && count == "+OK \(expectPresent)" ? 0 : 1)
