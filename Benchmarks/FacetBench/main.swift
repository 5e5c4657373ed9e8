import FragranceStore
import HNSW
import Foundation
import TestSupport

// Facets and browse pages at catalogue scale (issue #19): value counts of five fields under a
// filter, and the first page of a browse ordered by rating, from the attribute mirror — beside
// a baseline that counts the same records by walking them in memory (what an application does
// with its own copy). Release builds only: swift run -c release facet-bench --n 1000000

var n = 47_000
var repeats = 20
var it = CommandLine.arguments.dropFirst().makeIterator()
while let a = it.next() {
    switch a {
    case "--n": n = Int(it.next()!)!
    case "--repeats": repeats = Int(it.next()!)!
    default: fatalError("usage: facet-bench [--n N] [--repeats R]")
    }
}

func ms(_ body: () throws -> Void) rethrows -> Double {
    let t = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

let families = ["floral", "woody", "citrus", "oriental", "gourmand", "aromatic", "chypre", "fougere", "fresh", "leather"]
let accords = (0..<40).map { "accord\($0)" }
let seasons = ["spring", "summer", "fall", "winter"]
var rng = SplitMix(seed: 19)
var records: [Record] = []
records.reserveCapacity(n)
for i in 0..<n {
    var a: [String: AttributeValue] = [:]
    a["family"] = .string(families[Int(rng.next() % 10)])
    a["accords"] = .strings((0..<5).map { _ in accords[Int(rng.next() % 40)] })
    a["seasons"] = .strings(seasons.filter { _ in rng.next() % 2 == 0 })
    if i % 20 != 0 { a["year"] = .int(1920 + Int64(rng.next() % 105)) }
    a["rating"] = .float(Double(rng.next() % 500) / 100)
    records.append(Record(id: "p\(i)", vector: [Float(rng.next() % 1000) / 1000, Float(rng.next() % 1000) / 1000], attributes: a))
}

let dir = FileManager.default.temporaryDirectory.appendingPathComponent("facet-bench-\(getpid())")
defer { try? FileManager.default.removeItem(at: dir) }
let db = try Database(directory: dir)
var config = CollectionConfig(name: "p", dimension: 2, schema: CollectionSchema(fields: [
    FieldSchema("family", .string), FieldSchema("accords", .set), FieldSchema("seasons", .set), FieldSchema("year", .int), FieldSchema("rating", .float),
]))
config.hnsw.m = 4
config.hnsw.efConstruction = 16   // the graph is not what is measured here
let c = try db.createCollection(config)
let load = try ms { for s in stride(from: 0, to: n, by: 10_000) { try c.upsert(Array(records[s..<min(s + 10_000, n)])) } }
print("facet-bench: \(n) records loaded in \(Int(load)) ms (\(ProcessInfo.processInfo.activeProcessorCount) cores)")

let requests = [FacetRequest(field: "family"), FacetRequest(field: "accords"), FacetRequest(field: "seasons"),
                FacetRequest(field: "year", interval: 10), FacetRequest(field: "rating", interval: 0.5)]

/// The baseline: walk every record, test the filter, count values.
@MainActor func baseline(spring: Bool) -> Int {
    var counts: [String: [String: Int]] = [:]
    var total = 0
    for r in records {
        if spring, case .strings(let s)? = r.attributes["seasons"], !s.contains("spring") { continue }
        total += 1
        for (k, v) in r.attributes {
            switch v {
            case .string(let s): counts[k, default: [:]][s, default: 0] += 1
            case .strings(let l): for s in Set(l) { counts[k, default: [:]][s, default: 0] += 1 }
            case .int(let y): counts[k, default: [:]][String(y / 10 * 10), default: 0] += 1
            case .float(let d): counts[k, default: [:]][String((d * 2).rounded(.down) / 2), default: 0] += 1
            default: break
            }
        }
    }
    return total
}

print("case                                   | fragrancedb ms | baseline ms (walk the records)")
for (name, filter) in [("5 facets, no filter", nil as String?), ("5 facets, seasons CONTAINS 'spring'", "seasons CONTAINS 'spring'")] {
    var ours: [Double] = [], theirs: [Double] = []
    var total = 0
    for _ in 0..<repeats { ours.append(try ms { total = try c.facets(requests, filter: filter).total }) }
    var check = 0
    for _ in 0..<max(3, repeats / 5) { theirs.append(ms { check = baseline(spring: filter != nil) }) }
    precondition(total == check, "counts disagree: \(total) vs \(check)")
    print(name.padding(toLength: 38, withPad: " ", startingAt: 0) + String(format: " | %14.2f | %10.2f", median(ours), median(theirs)))
}
var page: [Double] = []
for _ in 0..<repeats { page.append(try ms { _ = try c.browse(filter: "family = 'floral'", order: BrowseOrder(parsing: "rating:desc"), limit: 20) }) }
var sorted: [Double] = []
for _ in 0..<max(3, repeats / 5) {
    sorted.append(ms {
        _ = records.filter { $0.attributes["family"] == .string("floral") }
            .sorted { a, b in if case .float(let x)? = a.attributes["rating"], case .float(let y)? = b.attributes["rating"] { return x > y } else { return false } }
            .prefix(20)
    })
}
print("browse family=floral by rating, 20".padding(toLength: 38, withPad: " ", startingAt: 0) + String(format: " | %14.2f | %10.2f", median(page), median(sorted)))
try db.close()
