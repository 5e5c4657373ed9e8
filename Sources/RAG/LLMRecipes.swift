import Foundation
import FragranceStore
import Perfumery

/// Recipes written by an LLM from the retrieved context, held to the same validator as the
/// composer's: the reply must be JSON in the recipe's shape using only the offered materials;
/// a wrong one gets one repair round; a dead, slow or wrong backend falls back to the composer
/// (and counts against the circuit breaker, which skips the backend while open).
public struct LLMRecipes: Sendable {
    public let client: LLMClient
    public let breaker: CircuitBreaker

    public init(client: LLMClient, breaker: CircuitBreaker) {
        self.client = client
        self.breaker = breaker
    }

    /// The JSON shape asked of the model (Ollama's `format`).
    nonisolated(unsafe) static let schema: [String: Any] = [   // a constant, never mutated
        "type": "object", "required": ["name", "concentration", "top", "heart", "base"],
        "properties": [
            "name": ["type": "string"],
            "concentration": ["type": "string", "enum": ["EdC", "EdT", "EdP", "Parfum"]],
            "top": ["$ref": "#/$defs/tier"], "heart": ["$ref": "#/$defs/tier"], "base": ["$ref": "#/$defs/tier"],
        ] as [String: Any],
        "$defs": ["tier": ["type": "array", "items": ["type": "object", "required": ["material_id", "percent"],
                                                      "properties": ["material_id": ["type": "string"], "percent": ["type": "number"]]]]],
    ]

    func prompt(_ request: RecipeRequest, context: [RetrievedPerfume], offered: [MaterialFacts], concentration: Recipe.Concentration) -> [LLMClient.Message] {
        var user = "Request: \(request.queryText)"
        if let i = request.intensity { user += ", intensity \(i)" }
        user += ".\nConcentration: \(concentration.rawValue) (\(Int(concentration.percent))% concentrate).\nPerfumes like it (notes):\n"
        for p in context.prefix(8) {
            user += "- \(p.id): " + ["top", "heart", "base", "unspecified"].compactMap { t in p.notes[t].map { "\(t): \($0.prefix(5).joined(separator: ", "))" } }.joined(separator: "; ") + "\n"
        }
        user += "Materials you may use (id | name | family | max % of the concentrate):\n"
        for m in offered {
            let cap = m.maxPercentOfConcentrate(at: concentration).map { String(format: "%.2f", $0) } ?? "any"
            user += "\(m.id) | \(m.name) | \(m.family ?? "-") | \(cap)\n"
        }
        user += "Answer with JSON only: {\"name\", \"concentration\", \"top\": [{\"material_id\", \"percent\"}], \"heart\": [...], \"base\": [...]}. Percents are of the concentrate and sum to 100."
        return [LLMClient.Message("system", "You are a perfumer. You write perfume formulas as JSON, using only the materials offered, within their limits."),
                LLMClient.Message("user", user)]
    }

    /// The recipe in a reply (code fences and chatter around the JSON are tolerated).
    static func parse(_ text: String, catalog: MaterialCatalog, fallbackConcentration: Recipe.Concentration) throws -> Recipe {
        guard let start = text.firstIndex(of: "{"), let end = text.lastIndex(of: "}"), start < end,
              let o = try? JSONSerialization.jsonObject(with: Data(text[start...end].utf8)) as? [String: Any] else {
            throw LLMClient.LLMError.malformed("no JSON object in the reply")
        }
        let c = (o["concentration"] as? String).flatMap { s in Recipe.Concentration.allCases.first { $0.rawValue.lowercased() == s.lowercased() } }
            ?? fallbackConcentration
        func tier(_ k: String) throws -> [Recipe.Ingredient] {
            guard let list = o[k] as? [Any] else { throw LLMClient.LLMError.malformed("'\(k)' is not a list") }
            return try list.map { item in
                guard let d = item as? [String: Any], let pct = (d["percent"] as? NSNumber)?.doubleValue else {
                    throw LLMClient.LLMError.malformed("an ingredient of '\(k)' lacks material_id or percent")
                }
                let id = d["material_id"] as? String ?? ""
                let m = catalog.find(id: id, name: d["name"] as? String)
                return Recipe.Ingredient(materialId: m?.id ?? id, name: m?.name ?? (d["name"] as? String ?? id), percent: pct)
            }
        }
        return Recipe(name: o["name"] as? String ?? "LLM composition", concentration: c, top: try tier("top"), heart: try tier("heart"),
                      base: try tier("base"), generator: "llm")
    }
}
