// Recipes per second and latency of the composer path (retrieval + composition + validation),
// release build, against a data directory holding the perfume catalogue; and over the grid the
// share of recipes that are compliant, declare their allergens and have at least 40% aroma
// chemicals, beside the same composer without its compliance repair (the baseline).
//   swift build -c release --product recipe-bench
//   .build/release/recipe-bench --data DIR [--model-dir D] [--rounds 3] [--llm http://127.0.0.1:11435 [--llm-requests 8]]
import Embedding
import Foundation
import FragranceStore
import Perfumery
import RAG

var data = "data", model = "models/all-MiniLM-L6-v2", rounds = 3
var llmURL: String?, llmRequests = 8
var it = CommandLine.arguments.dropFirst().makeIterator()
while let a = it.next() {
    switch a {
    case "--data": data = it.next() ?? data
    case "--model-dir": model = it.next() ?? model
    case "--rounds": rounds = Int(it.next() ?? "") ?? rounds
    case "--llm": llmURL = it.next()
    case "--llm-requests": llmRequests = Int(it.next() ?? "") ?? llmRequests
    default: print("unknown argument \(a)"); exit(64)
    }
}
TextEmbedder.setMathThreads(1)
var options = Database.Options.perfumery
options.models = ModelRegistry(directory: URL(fileURLWithPath: model))
let db = try Database(directory: URL(fileURLWithPath: data), options: options)
defer { try? db.close() }
let generator = try RecipeGenerator(database: db)
let t0 = Date()
_ = try generator.catalog()
print(String(format: "materials catalogue: %d materials in %.2f s (once per process); palette: %d materials, %d accords", try generator.catalog().count,
             Date().timeIntervalSince(t0), generator.palette.materials.count, generator.palette.accords.count))

var requests: [RecipeRequest] = []
for family in ["floral", "citrus", "woody", "oriental", "gourmand", "aromatic", "chypre", "fougere"] {
    for season in ["spring", "summer", "fall", "winter"] {
        for (i, intensity) in ["light", "moderate", "strong"].enumerated() {
            requests.append(RecipeRequest(family: family, mood: ["romantic", "fresh", "bold"][i], intensity: intensity,
                                          gender: ["feminine", "masculine", "unisex"][(i + season.count) % 3], season: season))
        }
    }
}
for (i, product) in ["body_lotion", "shower_gel", "candle", "face_cream", "lip_balm", "deodorant"].enumerated() {
    requests.append(RecipeRequest(family: ["floral", "citrus", "woody", "gourmand", "fresh", "aromatic"][i], season: "summer", product: ProductType(word: product)))
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
    print(String(format: "round %d (%@): %d recipes, %.1f recipes/s, p50 %.1f ms, p95 %.1f ms, max %.1f ms, invalid %d", round,
                 round == 1 ? "query embeddings computed" : "query embeddings cached", requests.count, Double(requests.count) / secs,
                 percentile(ms, 0.5), percentile(ms, 0.95), ms.max() ?? 0, invalid))
}

// Quality over the grid: with the compliance repair (as served) and without it (baseline).
for repair in [true, false] {
    var compliant = 0, declared = 0, aroma = 0, counted = 0, sized = 0, lead = 0
    var chem: [Double] = [], counts: [Double] = []
    for r in requests {
        let result = try generator.generate(r, repair: repair)
        let v = result.validation
        if v.compliance.compliant { compliant += 1 }
        // Declared: every ingredient that is itself a listed allergen above the threshold is on the label.
        let listed = Dictionary(generator.complianceData.allergens.flatMap { a in a.cas.map { ($0, a.name) } }, uniquingKeysWith: { a, _ in a })
        let onLabel = Set(v.allergens.map(\.name))
        let threshold = result.recipe.product.labelThreshold
        if result.recipe.ingredients.allSatisfy({ i in
            guard let cas = i.cas, let name = listed[cas], i.percent * result.recipe.fragrancePercent / 100 > threshold else { return true }
            return onLabel.contains(name)
        }) { declared += 1 }
        if v.composition.aromaChemicalsPercent >= 40 { aroma += 1 }
        if (15...40).contains(v.composition.ingredients) { sized += 1 }
        if let f = r.family, let lead0 = generator.palette.familyAccords(f).first?.name, result.recipe.accords.contains(where: { $0.name == lead0 }) { lead += 1 }
        chem.append(v.composition.aromaChemicalsPercent)
        counts.append(Double(v.composition.ingredients))
        counted += 1
    }
    func share(_ n: Int) -> Double { 100 * Double(n) / Double(counted) }
    print(String(format: "%@: %d recipes: compliant %.0f%%, allergens declared %.0f%%, >= 40%% aroma chemicals %.0f%% (median %.0f%%), 15-40 ingredients %.0f%% (median %.0f), family accord present %.0f%%",
                 repair ? "with compliance repair" : "baseline (no repair)", counted, share(compliant), share(declared), share(aroma),
                 percentile(chem, 0.5), share(sized), percentile(counts, 0.5), share(lead)))
}

// With a local LLM (tools/llm-shim start): the same pipeline, the LLM writing, the composer as fallback.
if let llmURL {
    var s = LLMClient.Settings(baseURL: llmURL, model: "smollm2:135m")
    s.timeoutSeconds = 180
    s.maxTokens = 300
    var b = CircuitBreaker.Settings()
    b.failureThreshold = 1_000   // measure every call, never skip
    let withLLM = try RecipeGenerator(database: db, llm: LLMRecipes(client: LLMClient(settings: s), breaker: CircuitBreaker(settings: b)))
    var ms: [Double] = []
    var byLLM = 0, invalid = 0
    let start = Date()
    for r in requests.prefix(llmRequests) {
        let t = DispatchTime.now().uptimeNanoseconds
        let result = try await withLLM.refineWithLLM(r, base: try withLLM.generate(r))
        ms.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
        if result.recipe.generator.hasPrefix("llm:") { byLLM += 1 }
        if !result.validation.valid { invalid += 1 }
    }
    let secs = Date().timeIntervalSince(start)
    print(String(format: "with the local LLM (%@): %d recipes, %.2f recipes/s, p50 %.0f ms, p95 %.0f ms; written by the LLM %d, composer fallback %d, invalid %d",
                 llmURL, ms.count, Double(ms.count) / secs, percentile(ms, 0.5), percentile(ms, 0.95), byLLM, ms.count - byLLM, invalid))
}
