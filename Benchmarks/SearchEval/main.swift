// Search quality and hybrid latency over the bundled catalogue (issue #8).
//   swift build -c release --product search-eval
//   .build/release/search-eval --data DIR [--model-dir D] [--queries Benchmarks/SearchEval/queries.jsonl] [--rounds 3]
// DIR holds the `perfumes` collection (e.g. `fragrancedb import --bundled perfumes --data DIR`).
// Judgments: a perfume's grade for a query is 2 when it meets every criterion of the query
// (filters over the catalogue's facts, see make_queries.py), 1 when it meets at least half of
// two or more, 0 otherwise or when it meets an `exclude`. nDCG@10 uses gain 2^grade − 1 and
// the ideal order over the whole catalogue; recall@50 is the share of grade-2 perfumes in the
// top 50, out of min(50, their number).
import Embedding
import Foundation
import FragranceStore
import Perfumery
import RAG

var data = "data", model = "models/all-MiniLM-L6-v2", queriesPath = "Benchmarks/SearchEval/queries.jsonl", rounds = 3
var it = CommandLine.arguments.dropFirst().makeIterator()
while let a = it.next() {
    switch a {
    case "--data": data = it.next() ?? data
    case "--model-dir": model = it.next() ?? model
    case "--queries": queriesPath = it.next() ?? queriesPath
    case "--rounds": rounds = Int(it.next() ?? "") ?? rounds
    default: print("unknown argument \(a)"); exit(64)
    }
}

struct EvalQuery {
    var id: String, lang: String, text: String, twin: String?
    var criteria: [String], exclude: [String]
}
let queries: [EvalQuery] = try String(contentsOfFile: queriesPath, encoding: .utf8).split(separator: "\n").map { line in
    let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    return EvalQuery(id: o["id"] as! String, lang: o["lang"] as! String, text: o["text"] as! String, twin: o["twin"] as? String,
                     criteria: o["criteria"] as! [String], exclude: o["exclude"] as? [String] ?? [])
}

TextEmbedder.setMathThreads(1)
var options = Database.Options.perfumery
options.models = ModelRegistry(directory: URL(fileURLWithPath: model))
let db = try Database(directory: URL(fileURLWithPath: data), options: options)
defer { try? db.close() }
let c = try db.collection("perfumes")
let search = PerfumeSearch(lexicon: try Lexicon.bundled(vocabulary: try Vocabulary.bundled()))
print("\(queries.count) queries (\(queries.filter { $0.lang == "ko" }.count) Korean) over \(c.count) perfumes")

// Latency first, k = 10, in process, one query at a time: round 1 of the first setting embeds
// every query; later rounds and settings hit the query-embedding cache.
_ = try search.search(PerfumeSearch.Query(text: "warm-up: loads the model once", k: 1), in: c)
for (label, understand, shaped) in [("hybrid + understanding", true, false), ("hybrid + understanding + prior + collapse (served)", true, true),
                                    ("hybrid, every word to BM25 (no understanding)", false, false)] {
    print("\(label), k=10:")
    for round in 1...rounds + 1 {
        // The last round clears the query-embedding cache: every query is embedded again, with
        // the filters, the FTS pages and the graph already warm (a steady server's new queries).
        if round == rounds + 1 { options.models?.clearQueryCache() }
        var ms: [Double] = []
        for q in queries {
            var query = PerfumeSearch.Query(text: q.text, k: 10, mode: .hybrid)
            query.understand = understand
            query.qualityPrior = shaped ? PerfumeSearch.Query.defaultPrior : 0
            query.collapse = shaped
            let t = DispatchTime.now().uptimeNanoseconds
            _ = try search.search(query, in: c)
            ms.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
        }
        print(String(format: "round %d\(round == rounds + 1 ? " (embeddings recomputed)" : ""): p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms", round,
                     percentile(ms, 0.5), percentile(ms, 0.95), percentile(ms, 0.99), ms.max() ?? 0))
    }
}

// Judgments.
var grades: [String: [String: Int]] = [:]
for q in queries {
    var met: [String: Int] = [:]
    for f in q.criteria { for id in try c.ids(matching: f) { met[id, default: 0] += 1 } }
    var excluded = Set<String>()
    for f in q.exclude { excluded.formUnion(try c.ids(matching: f)) }
    var g: [String: Int] = [:]
    for (id, n) in met where !excluded.contains(id) {
        if n == q.criteria.count { g[id] = 2 } else if q.criteria.count >= 2 && 2 * n >= q.criteria.count { g[id] = 1 }
    }
    grades[q.id] = g
}

func ndcg(_ ids: [String], _ g: [String: Int], at k: Int = 10) -> Double {
    func gain(_ grade: Int) -> Double { pow(2, Double(grade)) - 1 }
    let dcg = ids.prefix(k).enumerated().reduce(0.0) { $0 + gain(g[$1.element] ?? 0) / log2(Double($1.offset) + 2) }
    let ideal = g.values.sorted(by: >).prefix(k).enumerated().reduce(0.0) { $0 + gain($1.element) / log2(Double($1.offset) + 2) }
    return ideal > 0 ? dcg / ideal : 0
}
func recall(_ ids: [String], _ g: [String: Int], at k: Int = 50) -> Double? {
    let relevant = g.filter { $0.value == 2 }.count
    guard relevant > 0 else { return nil }
    return Double(ids.prefix(k).filter { g[$0] == 2 }.count) / Double(min(k, relevant))
}
func meanOf(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }
func percentile(_ xs: [Double], _ p: Double) -> Double { let s = xs.sorted(); return s[min(s.count - 1, Int(Double(s.count) * p))] }

struct Setting { var name: String; var mode: PerfumeSearch.Mode; var understand: Bool; var prior = 0.0; var collapse = false }
let settings = [
    Setting(name: "vector only", mode: .similarity, understand: false),
    Setting(name: "keyword only (BM25)", mode: .keyword, understand: false),
    Setting(name: "hybrid (RRF k=60)", mode: .hybrid, understand: false),
    Setting(name: "vector + understanding", mode: .similarity, understand: true),
    Setting(name: "hybrid + understanding", mode: .hybrid, understand: true),
    Setting(name: "hybrid + understanding + quality prior 0.3", mode: .hybrid, understand: true, prior: 0.3),
    Setting(name: "hybrid + understanding + collapse", mode: .hybrid, understand: true, collapse: true),
    Setting(name: "hybrid + understanding + prior + collapse (served)", mode: .hybrid, understand: true, prior: 0.3, collapse: true),
]
print("\n| setting | nDCG@10 all | nDCG@10 en | nDCG@10 ko | recall@50 all | recall@50 en | recall@50 ko | ko − en twin nDCG |")
print("|---|---|---|---|---|---|---|---|")
var perQuery: [String: [String: Double]] = [:]
for s in settings {
    var n: [String: Double] = [:], r: [String: Double] = [:]
    for q in queries {
        // As a user asks: k = 10 for nDCG@10, k = 50 for recall@50 (the arms adapt to k).
        func ids(_ k: Int) -> [String] {
            var query = PerfumeSearch.Query(text: q.text, k: k, mode: s.mode)
            query.understand = s.understand
            query.qualityPrior = s.prior
            query.collapse = s.collapse
            return (try? search.search(query, in: c).hits.map(\.id)) ?? []   // keyword-only: no word in the index → nothing
        }
        n[q.id] = ndcg(ids(10), grades[q.id]!)
        r[q.id] = recall(ids(50), grades[q.id]!)
    }
    perQuery[s.name] = n
    func m(_ lang: String?, _ d: [String: Double]) -> Double { meanOf(queries.filter { lang == nil || $0.lang == lang }.compactMap { d[$0.id] }) }
    let twins = queries.filter { $0.lang == "ko" }.compactMap { k -> Double? in
        guard let t = k.twin, let a = n[k.id], let b = n[t] else { return nil }
        return a - b
    }
    print(String(format: "| %@ | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %+.3f |", s.name, m(nil, n), m("en", n), m("ko", n),
                 m(nil, r), m("en", r), m("ko", r), meanOf(twins)))
}

