// Recipes per second and latency of the composer path (retrieval + composition + validation),
// release build, against a data directory holding the perfume catalogue.
//   swift build -c release --product recipe-bench
//   .build/release/recipe-bench --data DIR [--model-dir D] [--rounds 3]
import Embedding
import Foundation
import FragranceStore
import Perfumery
import RAG

var data = "data", model = "models/all-MiniLM-L6-v2", rounds = 3
var it = CommandLine.arguments.dropFirst().makeIterator()
while let a = it.next() {
    switch a {
    case "--data": data = it.next() ?? data
    case "--model-dir": model = it.next() ?? model
    case "--rounds": rounds = Int(it.next() ?? "") ?? rounds
    default: print("unknown argument \(a)"); exit(64)
    }
}
TextEmbedder.setMathThreads(1)
var options = Database.Options()
options.models = ModelRegistry(directory: URL(fileURLWithPath: model))
let db = try Database(directory: URL(fileURLWithPath: data), options: options)
defer { try? db.close() }
let generator = try RecipeGenerator(database: db)
let t0 = Date()
_ = try generator.catalog()
print(String(format: "materials catalogue: %d materials in %.2f s (once per process)", try generator.catalog().catalog.count, Date().timeIntervalSince(t0)))

var requests: [RecipeRequest] = []
for family in ["floral", "citrus", "woody", "oriental", "gourmand", "aromatic", "chypre", "fougere"] {
    for season in ["spring", "summer", "fall", "winter"] {
        for (i, intensity) in ["light", "moderate", "strong"].enumerated() {
            requests.append(RecipeRequest(family: family, mood: ["romantic", "fresh", "bold"][i], intensity: intensity,
                                          gender: ["feminine", "masculine", "unisex"][(i + season.count) % 3], season: season))
        }
    }
}
func percentile(_ xs: [Double], _ p: Double) -> Double { let s = xs.sorted(); return s[min(s.count - 1, Int(Double(s.count) * p))] }
for round in 1...rounds {
    var ms: [Double] = []
    var invalid = 0
    let start = Date()
    for r in requests {
        let t = DispatchTime.now().uptimeNanoseconds
        let result = try generator.generate(r)
        ms.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
        if !result.validation.valid { invalid += 1 }
    }
    let secs = Date().timeIntervalSince(start)
    print(String(format: "round %d (%@): %d recipes, %.0f recipes/s, p50 %.1f ms, p95 %.1f ms, max %.1f ms, invalid %d", round,
                 round == 1 ? "query embeddings computed" : "query embeddings cached", requests.count, Double(requests.count) / secs,
                 percentile(ms, 0.5), percentile(ms, 0.95), ms.max() ?? 0, invalid))
}
