import Perfumery
import TestSupport
// Index benchmark: build time, memory per vector, and recall@10 vs QPS (single thread) over ef,
// unfiltered and at 50/10/1/0.1% selectivity and with anti-correlated filters, each beside
// exact search in the same run; then the planner's exact-vs-graph crossover.
//
//   swift run -c release index-bench [--n 100000] [--dim 384] [--queries 200] [--data DIR] [--duplicates 0.9]
//
// --duplicates F adds a section: graphs where a share F of the vectors are copies (of one
// vector, and of random others), built with identical vectors sharing a node and without
// (hnswlib's way), with recall that counts ties.
import Foundation
import FragranceStore
import HNSW

/// print + flush, so progress lines reach a log file as they happen.
func say(_ s: String) {
    print(s)
    fflush(nil)
}

struct Args {
    var n = 100_000, dim = 384, queries = 200, clusters = 64, efConstruction = 200
    var duplicates = 0.0
    var data = FileManager.default.temporaryDirectory.appendingPathComponent("fdb-index-bench").path
    init() {
        var it = CommandLine.arguments.dropFirst().makeIterator()
        while let a = it.next() {
            switch a {
            case "--n": n = Int(it.next()!)!
            case "--dim": dim = Int(it.next()!)!
            case "--queries": queries = Int(it.next()!)!
            case "--data": data = it.next()!
            case "--ef-construction": efConstruction = Int(it.next()!)!
            case "--duplicates": duplicates = Double(it.next()!)!
            default: fatalError("unknown argument \(a)")
            }
        }
    }
}

typealias Rng = SplitMix
extension SplitMix { init(s: UInt64) { self.init(s) } }

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

func rssMiB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
    return Double(line.split(separator: " ")[1])! / 1024
}

let args = Args()
let families = ["floral", "woody", "citrus", "oriental", "fougere", "chypre", "gourmand", "aquatic"]
say("index-bench: n=\(args.n) dim=\(args.dim) clusters=\(args.clusters) queries=\(args.queries)")
say("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, load average \((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?")")

// Data: clustered vectors (like text embeddings); family follows the cluster, so a family
// filter far from the query's cluster is anti-correlated; rating is uniform with 3 decimals.
var rng = Rng(s: 12345)
let centres = (0..<args.clusters).map { _ in (0..<args.dim).map { _ in rng.gaussian() } }
@MainActor func sample(_ c: Int, spread: Float) -> [Float] { centres[c].map { $0 + spread * rng.gaussian() } }
var records: [Record] = []
records.reserveCapacity(args.n)
for i in 0..<args.n {
    let c = Int(rng.next() % UInt64(args.clusters))
    var r = Record(id: "p\(i)", vector: sample(c, spread: 0.9))
    r.attributes["family"] = .string(families[c % families.count])
    r.attributes["rating"] = .float(Double(1000 + Int(rng.next() % 4000)) / 1000)
    r.attributes["year"] = .int(Int64(1925 + Int(rng.next() % 100)))
    r.attributes["seasons"] = .strings(["spring", "summer", "fall", "winter"].filter { _ in rng.next() % 5 < 2 })
    r.attributes["intensity"] = .string(["light", "moderate", "strong"][Int(rng.next() % 3)])
    r.attributes["brand"] = .string("Brand \(rng.next() % 500)")
    r.attributes["accords"] = .strings((0..<4).map { _ in "accord\(rng.next() % 40)" })
    r.attributes["notes"] = .tiered(["top": ["note\(rng.next() % 300)"], "heart": ["note\(rng.next() % 300)"], "base": ["note\(rng.next() % 300)"]])
    records.append(r)
}
let queryClusters = (0..<args.queries).map { _ in Int(rng.next() % UInt64(args.clusters)) }
let queries = queryClusters.map { sample($0, spread: 0.9) }

// The same data for Benchmarks/hnswlib_baseline.py: raw little-endian f32 files.
if let dir = ProcessInfo.processInfo.environment["BENCH_EXPORT"] {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    func dump(_ rows: [[Float]], _ name: String) throws {
        var flat: [Float] = []
        flat.reserveCapacity(rows.count * args.dim)
        rows.forEach { flat += $0 }
        try flat.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: "\(dir)/\(name)")) }
    }
    try dump(records.map { $0.vector! }, "vectors.f32")
    try dump(queries, "queries.f32")
    let ratings = records.map { r -> Float in if case .float(let d) = r.attributes["rating"] { return Float(d) } else { return 0 } }
    try dump([ratings], "rating.f32")
    let fam = records.map { r -> Float in if case .string(let f) = r.attributes["family"] { return Float(families.firstIndex(of: f)!) } else { return -1 } }
    try dump([fam], "family.f32")
    try dump([queryClusters.map { Float($0) }], "query_clusters.f32")
    say("exported to \(dir)")
}

try? FileManager.default.removeItem(atPath: args.data)
var options = Database.Options()
options.durability = .normal
options.checkpointEvery = .max
let db = try Database(directory: URL(fileURLWithPath: args.data), options: options)
var benchConfig = CollectionConfig(name: "bench", dimension: args.dim, schema: .perfume)
benchConfig.hnsw.efConstruction = args.efConstruction
let c = try db.createCollection(benchConfig)
let rss0 = rssMiB()
let buildTime = try seconds {
    for start in stride(from: 0, to: records.count, by: 1000) {
        try c.upsert(Array(records[start..<min(start + 1000, records.count)]))
    }
}
// The graph alone, same vectors, same parameters: one by one (hnswlib's order) against the batch
// path the store takes (batches of 1,000, graph searches on every core), with float distances
// and with the int8 codes the index builds with on CPUs with VNNI.
let graphVectors = records.map { $0.vector! }
let cores = ProcessInfo.processInfo.activeProcessorCount
// BENCH_GRAPH=codes builds only the graph the store builds (A/B runs of construction changes).
let graphRuns = ProcessInfo.processInfo.environment["BENCH_GRAPH"] == "codes" ? [(cores, true)] : [(1, false), (cores, false), (cores, true)]
for (threads, codes) in graphRuns {
    let g = HNSWIndex(dimension: args.dim, metric: .cosine, parameters: c.config.hnsw, buildWithCodes: codes)
    if codes && !g.buildsWithCodes { say("graph only, int8 codes: this CPU has no AVX-512 VNNI"); continue }
    let t = try seconds {
        for start in stride(from: 0, to: graphVectors.count, by: 1000) {
            let batch = (start..<min(start + 1000, graphVectors.count)).map { (graphVectors[$0], UInt32($0)) }
            if threads == 1 { for (v, l) in batch { g.insert(v, label: l) } } else { g.insert(batch: batch, threads: threads) }
        }
    }
    var hit64 = 0, hit128 = 0
    for q in queries {
        let truth = Set(g.exactSearch(q, k: 10).hits.map(\.label))
        hit64 += g.search(q, k: 10, ef: 64).hits.filter { truth.contains($0.label) }.count
        hit128 += g.search(q, k: 10, ef: 128).hits.filter { truth.contains($0.label) }.count
    }
    let how = threads == 1 ? "one by one, float" : "batches of 1,000 on \(threads) threads, \(codes ? "int8 codes" : "float")"
    say(String(format: "graph only, %@: %.1f s, %.0f vectors/s; recall@10 over %d queries at ef 64 %.3f, ef 128 %.3f",
               how as NSString, t, Double(graphVectors.count) / t, queries.count,
               Double(hit64) / Double(10 * queries.count), Double(hit128) / Double(10 * queries.count)))
}
if args.duplicates > 0 {
    // Catalogues hold many identical vectors (editions, sizes, one text for several records).
    let distinct = max(1, Int(Double(graphVectors.count) * (1 - args.duplicates)))
    var pick = Rng(s: 99)
    let sets: [(String, [[Float]])] = [
        ("copies of one vector", graphVectors.indices.map { $0 < distinct ? graphVectors[$0] : graphVectors[0] }),
        ("copies of random others", graphVectors.indices.map { $0 < distinct ? graphVectors[$0] : graphVectors[Int(pick.next() % UInt64(distinct))] }),
    ]
    say("")
    for (name, vectors) in sets {
        // Queries near the data and some equal to a duplicated vector.
        let probes = queries + (0..<20).map { vectors[distinct + $0 * (vectors.count - distinct) / 20] }
        for shares in [false, true] {
            let g = HNSWIndex(dimension: args.dim, metric: .cosine, parameters: c.config.hnsw)
            g.sharesIdenticalVectors = shares
            let t = seconds {
                for start in stride(from: 0, to: vectors.count, by: 1000) {
                    g.insert(batch: (start..<min(start + 1000, vectors.count)).map { (vectors[$0], UInt32($0)) }, threads: cores)
                }
            }
            // A hit is right when it is no farther than the exact 10th: among equal distances
            // which ten come back is arbitrary.
            var right = 0, total = 0
            let q0 = DispatchTime.now().uptimeNanoseconds
            var graphHits: [[HNSWHit]] = []
            for q in probes { graphHits.append(g.search(q, k: 10, ef: 128).hits) }
            let qps = Double(probes.count) / (Double(DispatchTime.now().uptimeNanoseconds - q0) / 1e9)
            for (q, got) in zip(probes, graphHits) {
                let exact = g.exactSearch(q, k: 10).hits
                guard let kth = exact.last?.distance else { continue }
                right += got.filter { $0.distance <= kth + 1e-6 }.count
                total += exact.count
            }
            say(String(format: "duplicates %.0f%%, %@, %@: build %.1f s, %d graph nodes; recall@10 at ef 128 %.3f (%d queries, %.0f QPS)",
                       args.duplicates * 100, name as NSString, (shares ? "identical vectors share a node" : "one node per record (hnswlib)") as NSString,
                       t, g.liveNodes, Double(right) / Double(max(total, 1)), probes.count, qps))
        }
    }
}
let stats = c.stats
say(String(format: "build: %.1f s for %d records through the store (SQLite + attributes + HNSW M=16 efC=%d): %.0f records/s",
             buildTime, args.n, args.efConstruction, Double(args.n) / buildTime))
say(String(format: "memory: index %.0f bytes/vector (vectors %d + links), process RSS +%.0f MiB",
             Double(stats.indexBytes) / Double(args.n), args.dim * 4, rssMiB() - rss0))
let saveTime = try seconds { try c.checkpoint() }
let reopenTime = try seconds { _ = try Database(directory: URL(fileURLWithPath: args.data), options: options) }
say(String(format: "index file save %.2f s; reopen (load index + attributes) %.2f s", saveTime, reopenTime))

@MainActor func run(_ filter: ((Int) -> String)?, ef: Int?, planner: QueryPlanner, exact: Bool = false) throws -> (qps: Double, results: [[String]], paths: Set<String>, dist: Double) {
    var results: [[String]] = []
    var paths = Set<String>()
    var dist = 0
    let t = try seconds {
        for (i, q) in queries.enumerated() {
            let r = try c.search(SearchRequest(vector: q, k: 10, ef: ef, filter: filter?(queryClusters[i]), exact: exact), planner: planner)
            results.append(r.hits.map(\.id))
            paths.insert(r.plan.path.rawValue)
            dist += r.plan.distanceComputations
        }
    }
    return (Double(queries.count) / t, results, paths, Double(dist) / Double(queries.count))
}

func recall(_ got: [[String]], _ truth: [[String]]) -> Double {
    var total = 0.0, n = 0
    for (g, t) in zip(got, truth) where !t.isEmpty {
        total += Double(Set(g).intersection(t).count) / Double(t.count)
        n += 1
    }
    return n == 0 ? 1 : total / Double(n)
}

var graph = QueryPlanner()
graph.graphCostFactor = 0
graph.alwaysExactBelow = 0
graph.guardsFilteredSearch = false   // the raw filtered graph search, to compare and calibrate

let cases: [(String, ((Int) -> String)?)] = [
    // family follows the cluster, so four families far from the query's make a 50% filter
    // that holds none of its neighbours.
    ("unfiltered", nil),
    ("50%", { _ in "rating >= 3.0" }),
    ("10%", { _ in "rating >= 4.6" }),
    ("1%", { _ in "rating >= 4.96" }),
    ("0.1%", { _ in "rating >= 4.996" }),
    ("anti-corr 50%", { c in "family IN (\((1...4).map { "'\(families[(c + $0) % 8])'" }.joined(separator: ", ")))" }),
    ("anti-corr 12.5%", { c in "family = '\(families[(c + 4) % 8])'" }),
    ("anti-corr 1%", { c in "family = '\(families[(c + 4) % 8])' AND rating >= 4.68" }),
]
say("\nrecall@10 and QPS, single thread, \(args.queries) queries (exact = brute force over the allowed records)")
say("case               | path                  | ef   | recall@10 | QPS      | dist/query")
let only = ProcessInfo.processInfo.environment["BENCH_ONLY"]
for (name, filter) in cases where only == nil || only == name {
    let exact = try run(filter, ef: nil, planner: QueryPlanner(), exact: true)
    let sel = try c.count(filter: filter?(0))
    if let filter {
        // Cold: a unique text per call (a trailing space is enough to miss the cache).
        let t = try seconds { for i in 0..<queries.count { _ = try c.count(filter: filter(queryClusters[i]) + String(repeating: " ", count: i + 1)) } }
        let tc = try seconds { for i in 0..<queries.count { _ = try c.count(filter: filter(queryClusters[i])) } }
        say(String(format: "%@: filter parse + evaluation %.1f µs per query cold, %.1f µs from the filter cache", name, t / Double(queries.count) * 1e6, tc / Double(queries.count) * 1e6))
    }
    say(String(format: "%-18@ | %-21@ | %-4@ | %9.3f | %8.0f | %8.0f   (%d allowed)", name as NSString, "exact" as NSString, "-" as NSString, 1.0, exact.qps, exact.dist, sel))
    for ef in [10, 16, 32, 64, 128, 256] {
        let g = try run(filter, ef: ef, planner: graph)
        say(String(format: "%-18@ | %-21@ | %-4d | %9.3f | %8.0f | %8.0f", name as NSString, g.paths.sorted().joined(separator: "+") as NSString, ef, recall(g.results, exact.results), g.qps, g.dist))
    }
    var cold = QueryPlanner()
    cold.usesFilterCache = false
    let uncached = try run(filter, ef: nil, planner: cold)
    say(String(format: "%-18@ | %-21@ | %-4d | %9.3f | %8.0f | %8.0f", name as NSString, ("planner,uncached:" + uncached.paths.sorted().joined(separator: "+")) as NSString, c.config.hnsw.efSearch, recall(uncached.results, exact.results), uncached.qps, uncached.dist))
    let auto = try run(filter, ef: nil, planner: QueryPlanner())
    say(String(format: "%-18@ | %-21@ | %-4d | %9.3f | %8.0f | %8.0f", name as NSString, ("planner:" + auto.paths.sorted().joined(separator: "+")) as NSString, c.config.hnsw.efSearch, recall(auto.results, exact.results), auto.qps, auto.dist))
}

// Planner calibration: time both paths at ef=64 across selectivities.
if only != nil { exit(0) }
let ef0 = c.config.hnsw.efSearch
say("\nplanner crossover at the default ef \(ef0): exact scan vs filtered graph (QPS)")
say("allowed  | exact QPS | graph QPS | graph dist/query | graph/exact speed | c²/(ef·n)")
for t in [4.99, 4.95, 4.9, 4.8, 4.6, 4.4, 4.2, 4.0, 3.5, 3.0] {
    let f: (Int) -> String = { _ in "rating >= \(t)" }
    let allowed = try c.count(filter: f(0))
    let e = try run(f, ef: ef0, planner: QueryPlanner(), exact: true)
    let g = try run(f, ef: ef0, planner: graph)
    say(String(format: "%8d | %9.0f | %9.0f | %16.0f | %16.2f | %.2f", allowed, e.qps, g.qps, g.dist, g.qps / e.qps,
                 Double(allowed) * Double(allowed) / (Double(ef0) * Double(args.n))))
}
try db.close()
