import Perfumery
import TestSupport
// Line protocol throughput: searches/s and p50/p99 latency over TCP with 1, 8 and 64
// connections (each pipelining 8 requests at a time) against an in-process server on
// 127.0.0.1, beside the same searches called in-process, so the protocol's cost shows as a
// ratio.   swift run -c release protocol-bench [--n 100000] [--dim 384] [--requests 4000]
import FragranceClient
import FragranceProtocol
import FragranceServer
import FragranceStore
import Foundation

func say(_ s: String) { print(s); fflush(nil) }
func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

var n = 100_000, dim = 384, requests = 4000
var it = CommandLine.arguments.dropFirst().makeIterator()
while let a = it.next() {
    switch a {
    case "--n": n = Int(it.next()!)!
    case "--dim": dim = Int(it.next()!)!
    case "--requests": requests = Int(it.next()!)!
    default: fatalError("unknown argument \(a)")
    }
}

typealias Rng = SplitMix
extension SplitMix { init(s: UInt64) { self.init(s) } }

let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fdb-protocol-bench")
try? FileManager.default.removeItem(at: dir)
var options = Database.Options()
options.durability = .normal
let db = try Database(directory: dir, options: options)
let c = try db.createCollection(CollectionConfig(name: "bench", dimension: dim, schema: .perfume))
var rng = Rng(s: 1)
let centres = (0..<64).map { _ in (0..<dim).map { _ in rng.gaussian() } }
say("protocol-bench: building \(n) × \(dim) …")
let t0 = now()
for start in stride(from: 0, to: n, by: 1000) {
    try c.upsert((start..<min(start + 1000, n)).map { i in
        Record(id: "p\(i)", vector: centres[i % 64].map { $0 + 0.9 * rng.gaussian() },
               attributes: ["family": .string(["floral", "woody", "citrus", "oriental"][i % 4]), "rating": .float(Double(i % 400) / 100 + 1)])
    })
}
say(String(format: "built in %.1f s; load average %@", Double(now() - t0) / 1e9,
           (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"))
let queries = (0..<256).map { q in centres[q % 64].map { $0 + 0.9 * rng.gaussian() } }
let filter = "family = 'woody' AND rating >= 3"

func percentile(_ xs: [UInt64], _ p: Double) -> Double {
    let s = xs.sorted()
    return Double(s[min(s.count - 1, Int(Double(s.count) * p))]) / 1e6
}

var results: [(String, Double, Double, Double)] = []
for (label, f) in [("unfiltered", nil as String?), ("filtered 12.5%", filter)] {
    var lat: [UInt64] = []
    let start = now()
    for i in 0..<requests {
        let t = now()
        _ = try c.search(SearchRequest(vector: queries[i % queries.count], k: 10, filter: f))
        lat.append(now() - t)
    }
    let qps = Double(requests) / (Double(now() - start) / 1e9)
    results.append(("in-process \(label), 1 thread", qps, percentile(lat, 0.5), percentile(lat, 0.99)))
    say(String(format: "in-process %@: %.0f searches/s, p50 %.3f ms, p99 %.3f ms", label, qps, percentile(lat, 0.5), percentile(lat, 0.99)))
}

var config = LineServer.Configuration()
config.port = 0
let server = LineServer(router: try CommandRouter(database: db), configuration: config)
let port = try server.start()

func vectorText(_ v: [Float]) -> String { "[" + v.map { String($0) }.joined(separator: ",") + "]" }
let lines = queries.map { "SEARCH bench K 10 VECTOR \(vectorText($0))" }
let filteredLines = queries.map { "SEARCH bench K 10 FILTER \"\(filter)\" VECTOR \(vectorText($0))" }
// The binary vector form (issue #23): the same queries as "b64:" + base64 of float32.
let binaryLines = queries.map { "SEARCH bench K 10 VECTOR \(BinaryVector.encode($0))" }

// The command layer alone (tokenise, parse the VECTOR text, search, format hits), no sockets.
let router = try CommandRouter(database: db)
for (label, batch) in [("unfiltered", lines), ("unfiltered, binary vectors", binaryLines), ("filtered 12.5%", filteredLines)] {
    var lat: [UInt64] = []
    let start = now()
    for i in 0..<requests {
        let t = now()
        _ = router.handle(line: batch[i % batch.count])
        lat.append(now() - t)
    }
    let qps = Double(requests) / (Double(now() - start) / 1e9)
    results.append(("command layer \(label), 1 thread", qps, percentile(lat, 0.5), percentile(lat, 0.99)))
    say(String(format: "command layer %@: %.0f requests/s, p50 %.3f ms, p99 %.3f ms", label, qps, percentile(lat, 0.5), percentile(lat, 0.99)))
}

/// `connections` clients, each sending `perConnection` searches `size` at a time through `send`
/// (which returns how many it answered); the searches per second and each request's latency.
@MainActor func fanOut(_ connections: Int, size: Int, _ send: @escaping @Sendable (FragranceClient, _ client: Int, _ sent: Int) async throws -> Int)
    async throws -> (qps: Double, latencies: [UInt64]) {
    let perConnection = max(requests / connections, size)
    let start = now()
    let latencies = try await withThrowingTaskGroup(of: [UInt64].self) { group in
        for cIndex in 0..<connections {
            group.addTask {
                let client = FragranceClient(host: "127.0.0.1", port: port, connections: 1, timeout: .seconds(120))
                var lat: [UInt64] = []
                var sent = 0
                while sent < perConnection {
                    let t = now()
                    sent += try await send(client, cIndex, sent)
                    lat.append(now() - t)
                }
                await client.close()
                return lat
            }
        }
        var all: [UInt64] = []
        for try await l in group { all += l }
        return all
    }
    return (Double(latencies.count * size) / (Double(now() - start) / 1e9), latencies)
}
@MainActor func report(_ name: String, _ run: (qps: Double, latencies: [UInt64]), per what: String) {
    results.append((name, run.qps, percentile(run.latencies, 0.5), percentile(run.latencies, 0.99)))
    say(String(format: "%@: %.0f searches/s, p50 %.3f ms, p99 %.3f ms (latency of each %@)", name, run.qps,
               percentile(run.latencies, 0.5), percentile(run.latencies, 0.99), what))
}

for (label, batch) in [("unfiltered", lines), ("unfiltered, binary vectors", binaryLines), ("filtered 12.5%", filteredLines)] {
    for connections in [1, 8, 64] {
        let run = try await fanOut(connections, size: 8) { client, cIndex, sent in
            let chunk = (0..<8).map { batch[(cIndex * 31 + sent + $0) % batch.count] }
            let replies = try await client.pipeline(chunk)
            precondition(replies.allSatisfy { if case .lines(let r) = $0 { return r.count == 10 } else { return false } })
            return chunk.count
        }
        report("TCP \(label), \(connections) connection\(connections == 1 ? "" : "s") × pipeline 8", run, per: "pipelined batch of 8")
    }
}
// MSEARCH: 64 queries per request in the binary form, answered over both cores.
for connections in [1, 2] {
    let run = try await fanOut(connections, size: 64) { client, cIndex, sent in
        let chunk = (0..<64).map { queries[(cIndex * 31 + sent + $0) % queries.count] }
        let hits = try await client.multiSearch("bench", vectors: chunk, k: 10)
        precondition(hits.count == 64 && hits.allSatisfy { $0.count == 10 })
        return chunk.count
    }
    report("TCP MSEARCH × 64 binary, \(connections) connection\(connections == 1 ? "" : "s")", run, per: "request of 64")
}
server.stop()
try db.close()
say("\nsummary (TCP / in-process searches/s):")
for r in results { say(String(format: "  %-55@ %8.0f/s  p50 %7.3f ms  p99 %7.3f ms", r.0 as NSString, r.1, r.2, r.3)) }
