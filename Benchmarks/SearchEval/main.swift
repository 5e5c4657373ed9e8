// Search quality and hybrid latency over the bundled catalogue (issue #8).
//   swift build -c release --product search-eval
//   .build/release/search-eval --data DIR [--model-dir D] [--queries Benchmarks/SearchEval/queries.jsonl]
//       [--people Benchmarks/SearchEval/people.jsonl] [--rounds 3]
// DIR holds the `perfumes` collection (e.g. `fragrancedb import --bundled perfumes --data DIR`).
// Judgments: a perfume's grade for a query is 2 when it meets every criterion of the query
// (filters over the catalogue's facts, see make_queries.py), 1 when it meets at least half of
// two or more, 0 otherwise or when it meets an `exclude`. nDCG@10 uses gain 2^grade − 1 and
// the ideal order over the whole catalogue; recall@50 is the share of grade-2 perfumes in the
// top 50, out of min(50, their number).
// The people set (issue #22, make_people.py) is graded the same way from its own facts, and then
// as a person reads a result list: a relevant perfume rated by at least 100 people gains a grade
// (well known), one with no notes at all is held to grade 1 (nothing says what it smells of),
// and a near-duplicate of a hit above it (the same name, letters and digits only, and the same
// notes) gains nothing, in the ideal order too.
import Embedding
import Foundation
import FragranceStore
import Perfumery
import RAG

var data = "data", model = "models/all-MiniLM-L6-v2", queriesPath = "Benchmarks/SearchEval/queries.jsonl", rounds = 3
var peoplePath = "Benchmarks/SearchEval/people.jsonl", peopleOnly = false, showDev = false
var it = CommandLine.arguments.dropFirst().makeIterator()
while let a = it.next() {
    switch a {
    case "--data": data = it.next() ?? data
    case "--model-dir": model = it.next() ?? model
    case "--queries": queriesPath = it.next() ?? queriesPath
    case "--people": peoplePath = it.next() ?? peoplePath
    // Only the people set's quality table, and the dev queries' top hits (for building; never the test split).
    case "--people-only": peopleOnly = true
    case "--show-dev": showDev = true
    case "--rounds": rounds = Int(it.next() ?? "") ?? rounds
    default: print("unknown argument \(a)"); exit(64)
    }
}

struct EvalQuery {
    var id: String, lang: String, text: String, twin: String?
    var criteria: [String], exclude: [String]
    var split: String?
}
func load(_ path: String) throws -> [EvalQuery] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
        let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        return EvalQuery(id: o["id"] as! String, lang: o["lang"] as! String, text: o["text"] as! String, twin: o["twin"] as? String,
                         criteria: (o["criteria"] ?? o["topic"]) as! [String], exclude: (o["exclude"] ?? o["avoid"]) as? [String] ?? [],
                         split: o["split"] as? String)
    }
}
let queries = try load(queriesPath)
let people = try load(peoplePath)

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
let timed: [(String, Bool, Bool, Double?)] = [("hybrid + understanding", true, false, nil), ("hybrid + understanding + prior + collapse (served)", true, true, nil),
             ("served + diversity (MMR λ 0.7)", true, true, 0.7), ("hybrid, every word to BM25 (no understanding)", false, false, nil)]
for (label, understand, shaped, diversity) in peopleOnly ? [] : timed {
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
            query.diversity = diversity
            let t = DispatchTime.now().uptimeNanoseconds
            _ = try search.search(query, in: c)
            ms.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
        }
        print(String(format: "round %d\(round == rounds + 1 ? " (embeddings recomputed)" : ""): p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms", round,
                     percentile(ms, 0.5), percentile(ms, 0.95), percentile(ms, 0.99), ms.max() ?? 0))
    }
}

// Judgments: id -> grade, for the ids with a grade above 0.
func judge(_ q: EvalQuery) throws -> [String: Int] {
    var met: [String: Int] = [:]
    for f in q.criteria { for id in try c.ids(matching: f) { met[id, default: 0] += 1 } }
    var excluded = Set<String>()
    for f in q.exclude { excluded.formUnion(try c.ids(matching: f)) }
    var g: [String: Int] = [:]
    for (id, n) in met where !excluded.contains(id) {
        if n == q.criteria.count { g[id] = 2 } else if q.criteria.count >= 2 && 2 * n >= q.criteria.count { g[id] = 1 }
    }
    return g
}
var grades: [String: [String: Int]] = [:]
for q in queries { grades[q.id] = try judge(q) }

// The people set's reading of a list: well known +1, no notes at most 1, duplicates 0.
let wellKnown = Set(try c.ids(matching: "votes >= 100"))
var topical: [String: [String: Int]] = [:], peopleGrades: [String: [String: Int]] = [:]
var sameAs: [String: String] = [:]   // graded id -> its duplicate key
for q in people {
    let g = try judge(q)
    if g.isEmpty { print("people query \(q.id) has no relevant perfume"); exit(1) }
    topical[q.id] = g
    let ids = Array(g.keys)
    var out: [String: Int] = [:]
    for (id, r) in zip(ids, try c.records(ids)) {
        guard let r else { continue }
        var grade = g[id]! + (wellKnown.contains(id) ? 1 : 0)
        var notes: [String] = []
        if case .tiered(let t)? = r.attributes["notes"] { notes = Set(t.values.flatMap { $0 }.map { $0.lowercased() }).sorted() }
        if notes.isEmpty { grade = min(grade, 1) }
        out[id] = grade
        if sameAs[id] == nil, case .string(let name)? = r.attributes["name"] {
            sameAs[id] = String(name.lowercased().filter { $0.isLetter || $0.isNumber }) + "|" + notes.joined(separator: ",")
        }
    }
    peopleGrades[q.id] = out
}

func ndcg(_ ids: [String], _ g: [String: Int], at k: Int = 10, distinct sameAs: [String: String]? = nil) -> Double {
    func gain(_ grade: Int) -> Double { pow(2, Double(grade)) - 1 }
    var seen = Set<String>()
    func fresh(_ id: String) -> Bool { sameAs?[id].map { seen.insert($0).inserted } ?? true }
    let dcg = ids.prefix(k).enumerated().reduce(0.0) { $0 + (fresh($1.element) ? gain(g[$1.element] ?? 0) : 0) / log2(Double($1.offset) + 2) }
    // The ideal list: the best grade of each distinct perfume.
    var best: [String: Int] = [:]
    for (id, grade) in g { let key = sameAs?[id] ?? id; best[key] = max(best[key] ?? 0, grade) }
    let ideal = best.values.sorted(by: >).prefix(k).enumerated().reduce(0.0) { $0 + gain($1.element) / log2(Double($1.offset) + 2) }
    return ideal > 0 ? dcg / ideal : 0
}
func recall(_ ids: [String], _ g: [String: Int], at k: Int = 50) -> Double? {
    let relevant = g.filter { $0.value == 2 }.count
    guard relevant > 0 else { return nil }
    return Double(ids.prefix(k).filter { g[$0] == 2 }.count) / Double(min(k, relevant))
}
func meanOf(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }
func percentile(_ xs: [Double], _ p: Double) -> Double { let s = xs.sorted(); return s[min(s.count - 1, Int(Double(s.count) * p))] }

struct Setting { var name: String; var mode: PerfumeSearch.Mode; var understand: Bool; var prior = 0.0; var collapse = false; var diversity: Double? = nil; var popularity = true }
let settings = [
    Setting(name: "vector only", mode: .similarity, understand: false),
    Setting(name: "keyword only (BM25)", mode: .keyword, understand: false),
    Setting(name: "hybrid (RRF k=60)", mode: .hybrid, understand: false),
    Setting(name: "vector + understanding", mode: .similarity, understand: true),
    Setting(name: "hybrid + understanding", mode: .hybrid, understand: true),
    Setting(name: "hybrid + understanding + quality prior 0.3", mode: .hybrid, understand: true, prior: 0.3),
    Setting(name: "hybrid + understanding + quality prior 1 (default)", mode: .hybrid, understand: true, prior: 1),
    Setting(name: "hybrid + understanding + collapse", mode: .hybrid, understand: true, collapse: true),
    Setting(name: "hybrid + understanding + prior 0.3 + collapse", mode: .hybrid, understand: true, prior: 0.3, collapse: true),
    Setting(name: "hybrid + understanding + prior 1 + collapse, no popularity arm", mode: .hybrid, understand: true, prior: 1, collapse: true, popularity: false),
    Setting(name: "hybrid + understanding + prior 1 + collapse (served)", mode: .hybrid, understand: true, prior: 1, collapse: true),
    Setting(name: "served + diversity (MMR λ 0.7)", mode: .hybrid, understand: true, prior: 1, collapse: true, diversity: 0.7),
    Setting(name: "served + diversity (MMR λ 0.5)", mode: .hybrid, understand: true, prior: 1, collapse: true, diversity: 0.5),
] + (ProcessInfo.processInfo.environment["FDB_GRID"] ?? "").split(separator: ",").map { w in
    Setting(name: "grid prior \(w) + collapse", mode: .hybrid, understand: true, prior: Double(w)!, collapse: true)
}
func run(_ s: Setting, _ text: String, _ k: Int) -> [HybridHit] {
    var query = PerfumeSearch.Query(text: text, k: k, mode: s.mode)
    query.understand = s.understand
    query.qualityPrior = s.prior
    query.collapse = s.collapse
    query.diversity = s.diversity
    query.popularity = s.popularity
    return (try? search.search(query, in: c).hits) ?? []   // keyword-only: no word in the index → nothing
}

// The people set: nDCG@10 as a person reads the list (well known, described, distinct), and
// from the topic alone (every relevant record counts, duplicates too), per language and split.
print("\npeople set: \(people.count) queries (\(people.filter { $0.lang == "ko" }.count) Korean), dev and test halves")
// Variety: distinct houses in the top ten, and how alike the hits' accords are (mean pairwise Jaccard).
func variety(_ ids: [String]) -> (houses: Double, sameAccords: Double) {
    let records = ((try? c.records(ids)) ?? []).compactMap { $0 }
    let houses = Set(records.map { r -> String in if case .string(let b)? = r.attributes["brand"] { return b.lowercased() }; return "?" + r.id })
    let accords = records.map { r -> Set<String> in if case .strings(let a)? = r.attributes["accords"] { return Set(a) }; return [] }
    var sum = 0.0, pairs = 0
    for i in accords.indices { for j in accords.indices where j > i && !(accords[i].isEmpty && accords[j].isEmpty) {
        sum += Double(accords[i].intersection(accords[j]).count) / Double(accords[i].union(accords[j]).count); pairs += 1
    } }
    return (Double(houses.count), pairs > 0 ? sum / Double(pairs) : 0)
}
print("\n| setting | nDCG@10 en | nDCG@10 ko | dev en | dev ko | test en | test ko | topic only en | topic only ko | houses in 10 | accord overlap |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for s in settings {
    var n: [String: Double] = [:], t: [String: Double] = [:]
    var houses: [Double] = [], overlap: [Double] = []
    for q in people {
        let hits = run(s, q.text, 10).map(\.id)
        let v = variety(hits)
        houses.append(v.houses)
        overlap.append(v.sameAccords)
        n[q.id] = ndcg(hits, peopleGrades[q.id]!, distinct: sameAs)
        t[q.id] = ndcg(hits, topical[q.id]!)
        if showDev, q.split == "dev", s.name == settings.last!.name {
            print(String(format: "%@ %.3f %@", q.id, n[q.id]!, q.text))
            let parsed = search.parser(for: c).parse(q.text)
            print("   understood: " + parsed.terms.map { "\($0.role.rawValue) \($0.name)" }.joined(separator: "; ") + " | unknown: \(parsed.unknownWords) | embed: \(parsed.embedText)")
            for id in hits { print("   \(peopleGrades[q.id]![id] ?? 0) \(id) \(sameAs[id] ?? "")") }
        }
    }
    func m(_ lang: String, _ split: String?, _ d: [String: Double]) -> Double {
        meanOf(people.filter { $0.lang == lang && (split == nil || $0.split == split) }.compactMap { d[$0.id] })
    }
    print(String(format: "| %@ | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f | %.2f |", s.name, m("en", nil, n), m("ko", nil, n),
                 m("en", "dev", n), m("ko", "dev", n), m("en", "test", n), m("ko", "test", n), m("en", nil, t), m("ko", nil, t),
                 meanOf(houses), meanOf(overlap)))
}
if peopleOnly { exit(0) }

print("\n| setting | nDCG@10 all | nDCG@10 en | nDCG@10 ko | recall@50 all | recall@50 en | recall@50 ko | ko − en twin nDCG |")
print("|---|---|---|---|---|---|---|---|")
var perQuery: [String: [String: Double]] = [:]
for s in settings {
    var n: [String: Double] = [:], r: [String: Double] = [:]
    for q in queries {
        // As a user asks: k = 10 for nDCG@10, k = 50 for recall@50 (the arms adapt to k).
        func ids(_ k: Int) -> [String] { run(s, q.text, k).map(\.id) }
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

